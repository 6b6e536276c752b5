"""One judge: the run, `streamperf summary` and `streamperf report` give one verdict.

Run directories are written by a real LoadRun's conclusion (summary.json,
report.html) over event logs made here, so the CLI is checked against exactly
what a run leaves behind.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from streamperf import cli
from streamperf.load.fans import plan_fans
from streamperf.load.outcome import RunOutcome
from streamperf.load.run import LoadRun
from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.seed_log import load_any
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.judge import (
    FAIL,
    INTERRUPTED,
    INVALID,
    PASS,
    Basis,
    Rule,
    Verdict,
    analyse_for,
    judge,
    log_basis,
    rules,
)
from streamperf.results.judging.sla import default_grace_s
from streamperf.results.report.terminal import run_summary_lines
from streamperf.settings import RunSettings
from tests.support.report_logs import seed_rows
from tests.support.timelines import Timeline

USERS, RAMP_S, DURATION_S = 4, 0.1, 20.0
SETTINGS = RunSettings(users=USERS, ramp_s=RAMP_S, duration_s=DURATION_S)
GRACE_S = default_grace_s(USERS, RAMP_S, DURATION_S)  # 10.3 s


def clean_rows(api: bool = True) -> list[Event]:
    """4 viewers on time, except fan3 which lags 4.8 s during the ramp, then catches up."""
    tl = Timeline()
    tl.rows[0] = tl.rows[0]._replace(t=99.0)  # seconds count from the log's first row
    tl.rows.insert(0, Event(99.0, "h", "", ev.RUN_START, "r", 0, "0.1.0",
                            json.dumps(SETTINGS.redacted())))
    for i in range(3):
        tl.viewer(f"fan{i}", play_at=100 + i * RAMP_S, seconds=20)
    tl.track("fan3", 100.3, [0.2] * 5 + [float(s) for s in range(6, 21)])
    return [r for r in tl.rows if api or r.event != ev.API]


def conclude(run_dir: Path, rows: list[Event], sla: list[Rule] | None = None,
             interrupted: bool = False) -> RunOutcome:
    """What LoadRun.execute leaves behind once its viewers are done."""
    run_dir.mkdir()
    end = Event(125.0, "h", "", ev.RUN_END, "interrupted" if interrupted else "done")
    with EventWriter(run_dir / "events.csv") as w:
        w.write_many([*rows, end])
    run = LoadRun(SETTINGS, SimpleNamespace(), run_dir,  # type: ignore[arg-type]
                  name=run_dir.name, rules=sla, grace_s=GRACE_S,
                  fans=plan_fans(USERS, 0, 0, random.Random(1)))
    return run._conclude(interrupted=interrupted)


def seed_log(path: Path, api: bool = True) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(r for r in seed_rows()
                                if api or r[2] not in ("ApiRequest", "ApiError"))
    return path


def said(text: str) -> tuple[str, list[str]]:
    """(word, breaches) as `summary`, `report` or the run's own table print them."""
    first = text.splitlines()[0]
    word = (first.split(": ", 1)[1] if first.startswith("streamperf ")
            else first.split("  (", 1)[1]).split(" ")[0].rstrip(",")
    return word, [line[4:] for line in text.splitlines() if line.startswith("  ! ")]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunOutcome]:
    base = tmp_path_factory.mktemp("runs")
    died = Event(110.0, "h", "", ev.PUBLISHER_EXIT, "", 1.0, "", "killed")
    return {
        "passing": conclude(base / "passing", clean_rows()),
        "sla": conclude(base / "sla", clean_rows(),
                        rules(("--sla", ["p95(startup_s) < 0.2"]))),
        "marker": conclude(base / "marker", clean_rows(),
                           rules(("marker", ["max(startup_s) < 300ms"]))),
        "invalid": conclude(base / "invalid", [*clean_rows(), died]),
        "interrupted": conclude(base / "interrupted", clean_rows(), interrupted=True),
    }


EXPECTED = {"passing": (PASS, 0), "sla": (FAIL, 1), "marker": (FAIL, 1),
            "invalid": (INVALID, 3), "interrupted": (INTERRUPTED, 3)}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_summary_and_report_print_the_runs_own_verdict(runs, case, capsys, tmp_path):
    outcome = runs[case]
    word, code = EXPECTED[case]
    assert outcome.verdict.word == word
    own = said(run_summary_lines(outcome.summary))  # what the pytest run printed
    assert own == (word, [str(b) for b in outcome.breaches])
    assert [f"SLA breached: {b}" for b in own[1]] == [
        line for line in outcome.message().splitlines() if line.startswith("SLA breached")]

    got, out = run_cli(capsys, "summary", str(outcome.run_dir))
    assert (got, said(out)) == (code, own), out
    got, out = run_cli(capsys, "report", str(outcome.run_dir), "-o", str(tmp_path / "r.html"))
    assert (got, said(out)) == (code, own), out
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f'<span class="sp-verdict sp-{word.lower()}">{word}</span>' in page


def test_a_lag_during_the_ramp_is_judged_after_the_grace_window_as_the_run_was(runs):
    # Without the recorded grace window fan3's catch-up would fail max(lagged) == 0.
    outcome = runs["passing"]
    assert outcome.verdict.word == PASS
    ungraced = Basis(planned=USERS, grace_s=0.0)
    assert judge(outcome.analysis, ungraced).word == FAIL
    assert outcome.summary["judged_against"]["grace_s"] == GRACE_S


def test_summary_json_records_what_the_run_was_judged_against(runs):
    record = runs["marker"].summary["judged_against"]
    sources = {t["expr"]: t["source"] for t in record["thresholds"]}
    assert sources["max(startup_s) < 300ms"] == "marker"
    assert sources["p95(startup_s) <= 5"] == "default"
    assert (record["grace_s"], record["lag_threshold_s"], record["planned"]) == (
        GRACE_S, 3.0, USERS)
    assert runs["invalid"].summary["judged_against"]["invalid"].startswith("publisher died")
    assert runs["interrupted"].summary["judged_against"]["interrupted"] is True
    assert Basis.from_json(record).to_json() == record


def test_sla_on_summary_rejudges_on_purpose_and_says_so(runs, capsys, tmp_path):
    run_dir = str(runs["passing"].run_dir)
    code, out = run_cli(capsys, "summary", run_dir, "--sla", "p95(startup_s) < 0.2")
    assert code == 1 and said(out)[0] == FAIL
    assert "re-judged with --sla 'p95(startup_s) < 0.2' (the run's own verdict: PASS)" in out
    code, out = run_cli(capsys, "report", run_dir, "-o", str(tmp_path / "r.html"),
                        "--sla", "p95(startup_s) off")
    assert code == 0 and "re-judged with --sla 'p95(startup_s) off'" in out
    # The run's own record is left as it was.
    code, out = run_cli(capsys, "summary", run_dir)
    assert code == 0 and "re-judged" not in out


def test_a_bad_sla_on_summary_is_one_line(runs, capsys):
    code = cli.main(["summary", str(runs["passing"].run_dir), "--sla", "p95(startup_x) < 1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown metric 'startup_x'" in err


def test_a_seed_log_gets_one_verdict_from_summary_and_report(tmp_path, capsys):
    log = seed_log(tmp_path / "lastrun.csv")
    df = load_any(log)
    verdict = judge(analyse_for(df, log_basis(df)), log_basis(df))
    # testfanB's critical API error: no media for it, 1 of 11 calls failed.
    assert verdict.word == FAIL
    assert {b.check for b in verdict.breaches} >= {"min(got_media) >= 1",
                                                   "rate(api_errors) <= 1%"}
    own = (FAIL, [str(b) for b in verdict.breaches])
    code, out = run_cli(capsys, "summary", str(log))
    assert (code, said(out)) == (1, own), out
    code, out = run_cli(capsys, "report", str(log), "-o", str(tmp_path / "r.html"))
    assert (code, said(out)) == (1, own), out


# --- no data is not a breach -------------------------------------------------------------


def test_a_default_threshold_without_data_is_not_applicable(tmp_path):
    outcome = conclude(tmp_path / "urls", clean_rows(api=False))  # stream URLs, no API
    assert outcome.verdict.word == PASS, outcome.message()
    assert outcome.verdict.not_applicable == ("rate(api_errors) <= 1%: no data: no API calls",)
    check = next(c for c in outcome.summary["sla"] if c["threshold"] == "rate(api_errors) <= 1%")
    assert (check["applicable"], check["passed"], check["measured"]) == (False, True, None)
    assert "n/a rate(api_errors) <= 1%: no data: no API calls" in run_summary_lines(
        outcome.summary)


@pytest.mark.parametrize("source", ["pyproject", "--sla", "marker"])
def test_a_threshold_set_explicitly_without_data_fails_saying_there_was_none(tmp_path, source):
    outcome = conclude(tmp_path / "urls", clean_rows(api=False),
                       rules((source, ["rate(api_errors) <= 1%"])))
    assert outcome.verdict.word == FAIL and not outcome.verdict.not_applicable
    assert [str(b) for b in outcome.breaches] == [
        "rate(api_errors) <= 1%: measured no data, limit <= 1%; worst: no data: no API calls"]


def test_a_seed_log_without_api_rows_is_not_failed_for_its_api(tmp_path, capsys):
    log = seed_log(tmp_path / "noapi.csv", api=False)
    code, out = run_cli(capsys, "summary", str(log))
    assert "n/a rate(api_errors) <= 1%: no data: no API calls" in out
    assert not any("api_errors" in b for b in said(out)[1])
    assert code == 1  # still: testfanC lagged 4 s


# --- the judge itself ----------------------------------------------------------------------


def test_rules_keep_where_each_threshold_came_from_later_layers_winning():
    rs = rules(("pyproject", ["p95(startup_s) < 3", "p99(latency_s) < 5"]),
               ("--sla", ["p95(startup_s) < 4", "count(errors) off"]),
               ("marker", ["p99(latency_s) < 6"]))
    by = {r.threshold.key: r for r in rs}
    assert by["p95", "startup_s"] == Rule("p95(startup_s) < 4", "--sla")
    assert by["p99", "latency_s"] == Rule("p99(latency_s) < 6", "marker")
    assert by["min", "got_media"] == Rule("min(got_media) >= 1", "default")
    assert ("count", "errors") not in by
    # An override keeps the position of the check it replaces.
    assert [r.expr for r in rs][:2] == ["min(got_media) >= 1", "p95(startup_s) < 4"]


def test_one_word_interrupted_over_invalid_over_fail():
    tl = Timeline()
    tl.viewer("fan0", play_at=1, seconds=5, startup=9)  # breaks p95(startup_s) <= 5
    a = analyse(tl.frame(), 3.0)
    assert judge(a, Basis()).word == FAIL
    assert judge(a, Basis(invalid="publisher died")).word == INVALID
    both = judge(a, Basis(invalid="publisher died", interrupted=True))
    assert both.word == INTERRUPTED and both.breaches  # breaches still listed
    assert [judge(a, Basis(**kw)).exit_code for kw in (
        {}, {"invalid": "x"}, {"interrupted": True})] == [1, 3, 3]
    assert Verdict.from_json(both.to_json()).to_json() == both.to_json()


def test_judging_an_analysis_made_with_another_lag_threshold_is_refused():
    a = analyse(Timeline().frame(), 5.0)
    with pytest.raises(ValueError, match="lag threshold 5 s, judged with 3 s"):
        judge(a, Basis())


def test_cli_takes_the_runs_own_options_with_their_parsing(runs, capsys):
    """--lag-threshold and --sla are settings.OPTIONS in pytest and in the CLI alike:
    '5s' is a duration there as here, and a bad value is the same one-line error."""
    run = str(runs["passing"].run_dir)
    code, out = run_cli(capsys, "summary", run, "--lag-threshold", "5s")
    assert code == 0 and "re-judged with --lag-threshold 5" in out
    assert cli.main(["summary", run, "--lag-threshold", "soon"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("streamperf: --lag-threshold soon: not a duration: 'soon' "
                           "(use e.g. 500ms, 2s, 1m)")
    assert cli.main(["live", run, "--lag-threshold", "0"]) == 2
    assert "--lag-threshold 0: '0' must be more than zero" in capsys.readouterr().err


def test_hosts_prepare_checks_host_options_as_a_run_does(capsys, tmp_path):
    assert cli.main(["hosts", "prepare", "--sshhosts", "root@h:0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "streamperf hosts prepare: --sshhosts root@h:0: bad port '0' in host spec 'root@h:0'")
    assert cli.main(["hosts", "prepare", "h1", "--sshkeyfile", str(tmp_path / "none")]) == 2
    assert "--sshkeyfile" in capsys.readouterr().err
