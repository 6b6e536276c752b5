"""What the LL-HLS viewers asked their origin for, as the analysis, the judge and the
report show it; and nothing of it for a run without LL-HLS viewers.

The logs are tests/support/llhls_log.py's, written by the event log's writer and read
back as a run's conclusion reads them; their figures are worked out there.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from streamperf.results.analysis import origin_load
from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.judge import FAIL, PASS, Basis, judge, rules
from streamperf.results.judging.metrics import LLHLS_METRICS
from streamperf.results.judging.sla import DEFAULT_SLA, parse
from streamperf.results.report import html as report
from streamperf.results.report.artifacts import write_artifacts
from streamperf.results.report.charts import charts, fig_origin_load
from streamperf.results.report.terminal import metrics_table, summary_table
from tests.support.ladder_log import write_ladder_log
from tests.support.llhls_log import T0, write_llhls_log

LLHLS_DEFAULTS = [t for t in DEFAULT_SLA if parse(t).metric in LLHLS_METRICS]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    log = read_log(write_llhls_log(tmp_path_factory.mktemp("llhls") / "events.csv"))
    return analyse(log), log.frame


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    log = read_log(write_llhls_log(tmp_path_factory.mktemp("storm") / "events.csv", storm=True))
    return analyse(log), log.frame


def _plain(tmp_path):
    log = read_log(write_ladder_log(tmp_path / "events.csv", ladder=False))
    return analyse(log), log.frame


# --- the analysis --------------------------------------------------------------------


def test_each_viewers_requests_per_second_by_kind_are_those_worked_out_by_hand(healthy):
    a, _ = healthy
    v = a.origin.viewers.set_index("viewer")
    assert v.index.tolist() == ["ll1", "ll2"]  # hls1 made no LL-HLS request
    assert v["seconds"].tolist() == pytest.approx([10.0, 10.0])  # first window from play
    assert v[["playlist", "part", "preload", "segment", "init"]].to_numpy().tolist() == [
        [30, 2, 30, 0, 1], [30, 30, 0, 0, 0]]
    assert v["requests"].tolist() == [63, 60]
    assert v["playlist_rps"].tolist() == pytest.approx([3.0, 3.0])
    assert v["part_rps"].tolist() == pytest.approx([0.2, 3.0])
    assert v["preload_rps"].tolist() == pytest.approx([3.0, 0.0])
    assert v["init_rps"].tolist() == pytest.approx([0.1, 0.0])
    assert v["requests_rps"].tolist() == pytest.approx([6.3, 6.0])
    assert v["blocked"].tolist() == [30, 30] and v["early"].tolist() == [0, 1]
    assert v["early_ratio"].tolist() == pytest.approx([0.0, 1 / 30])
    assert v["waits"].tolist() == [30, 30]
    assert v["block_wait_p50_s"].tolist() == pytest.approx([0.33, 0.35])
    assert v["block_wait_p95_s"].tolist() == pytest.approx([0.36, 0.40])


def test_the_runs_origin_load_in_all_per_viewer_and_second_by_second(healthy):
    a, _ = healthy
    o = a.origin
    assert o.span_s == pytest.approx(10.0)  # T0 + 1 (play) to T0 + 11 (last sample)
    assert o.totals == {"playlist": 60, "part": 32, "preload": 30, "segment": 0, "init": 1,
                        "all": 123}
    assert o.rps() == pytest.approx({"playlist": 6.0, "part": 3.2, "preload": 3.0,
                                     "segment": 0.0, "init": 0.1, "all": 12.3})
    assert o.per_viewer_rps() == pytest.approx({"playlist": 3.0, "part": 1.6, "preload": 1.5,
                                                "segment": 0.0, "init": 0.05, "all": 6.15})
    assert o.peak_rps()["all"] == 15.0
    # A row at T0 + k counts in second k: the first windows (second 2) hold the start.
    per = o.over_time
    assert per.index.tolist() == list(range(2, 12))
    assert per.loc[2].tolist() == [6, 5, 3, 0, 1] and per.loc[3].tolist() == [6, 3, 3, 0, 0]
    assert per.sum(axis=1).tolist() == [15] + [12] * 9
    # 10 each of 300 330 360 340 350 400 ms: the middle two 340 and 350, the top 400
    assert o.block_wait_s(0.5) == pytest.approx(0.345)
    assert o.block_wait_s(0.95) == pytest.approx(0.400)
    assert (o.blocked, o.early) == (60, 1) and o.early_ratio == pytest.approx(1 / 60)


def test_the_summary_gains_the_headline_figures_and_they_survive_json(healthy):
    a, _ = healthy
    s = json.loads(json.dumps(a.summary()))  # as summary.json holds them
    assert s["llhls_viewers"] == 2
    assert s["llhls_rps"] == pytest.approx(12.3)
    assert s["llhls_peak_rps"] == 15.0
    assert s["llhls_rps_per_viewer"] == pytest.approx(6.15)
    assert s["llhls_rps_by_kind"] == {"playlist": 6.0, "part": 3.2, "preload": 3.0,
                                      "segment": 0.0, "init": 0.1}
    assert s["llhls_rps_per_viewer_by_kind"]["part"] == pytest.approx(1.6)
    assert s["llhls_block_wait_p50_s"] == pytest.approx(0.345)
    assert s["llhls_block_wait_p95_s"] == pytest.approx(0.4)
    assert (s["llhls_blocked"], s["llhls_early"]) == (60, 1)
    assert s["llhls_early_ratio"] == pytest.approx(1 / 60)
    # The terminal's two lines, from the record as `streamperf summary` reads it back.
    lines = metrics_table("ll", s, 3.0, judge(a, Basis())).splitlines()
    assert [" ".join(line.split()) for line in lines if "LL-HLS" in line] == [
        "LL-HLS requests/s (per viewer) 12.30 (6.15), peak 15.00: playlist 6.00, part 3.20, "
        "preload 3.00, init 0.100",
        "LL-HLS block wait p50 / p95 0.345 s / 0.400 s, 1 of 60 answered early"]


def test_read_events_and_read_log_give_the_same_origin_load(tmp_path):
    path = write_llhls_log(tmp_path / "events.csv")
    slow, fast = analyse(read_events(path)).origin, analyse(read_log(path)).origin
    pd.testing.assert_frame_equal(slow.viewers, fast.viewers)
    pd.testing.assert_frame_equal(slow.over_time, fast.over_time)
    assert slow.waits["wait_s"].tolist() == fast.waits["wait_s"].tolist()


def test_a_viewer_without_play_or_bytes_rows_counts_a_window_a_row_and_a_gap_as_one(tmp_path):
    # Rows at 5, 6, 7 and, after a reconnect's gap, 20: four windows, the first one whole.
    rows = [Event(T0, "g", "", ev.RUN_START, "r")]
    rows += [Event(T0 + t, "g", "lone", ev.LLHLS, "playlist", 4.0) for t in (5, 6, 7, 20)]
    with EventWriter(tmp_path / "events.csv") as w:
        w.write_many(rows)
    o = analyse(read_log(tmp_path / "events.csv")).origin
    assert o.viewers["seconds"].tolist() == [4.0]
    assert o.viewers["playlist_rps"].tolist() == [4.0]
    assert o.span_s == pytest.approx(16.0)  # from 4 (its first window's start) to 20
    assert np.isnan(o.viewers["early_ratio"].iloc[0])  # no blocking reload: no ratio
    assert o.early_ratio is None and o.block_wait_s(0.95) is None


def test_a_viewer_that_stopped_in_its_first_second_is_held_to_one_window(tmp_path):
    rows = [Event(T0, "g", "", ev.RUN_START, "r"), Event(T0 + 1, "g", "quick", ev.PLAY, "llhls"),
            Event(T0 + 1.1, "g", "quick", ev.SAMPLE_BYTES, "", 100.0),
            Event(T0 + 1.1, "g", "quick", ev.LLHLS, "playlist", 2.0)]
    with EventWriter(tmp_path / "events.csv") as w:
        w.write_many(rows)
    v = analyse(read_log(tmp_path / "events.csv")).origin.viewers
    assert v["seconds"].tolist() == pytest.approx([0.1])
    assert v["playlist_rps"].tolist() == pytest.approx([2.0])  # not 20 a second


# --- hostile rows ------------------------------------------------------------------------


def test_garbled_wait_details_are_read_leniently():
    cut = "330," * 74 + "3400"  # 300 characters: "34000" cut short by the writer
    assert len(cut) == ev.DETAIL_CHARS
    frame = pd.DataFrame({
        "viewer": ["a", "a", "b", "b", "c"], "t": [1.0, 2.0, 1.0, 2.0, 3.0],
        "detail": ["330,abc,,nan,-5,inf,-inf,1e400, 12 ,0x1f,340;350,1e2", "", cut,
                   "\u00a0,\t,--1,+7", ",,,"]})
    waits = origin_load.parse_waits(frame)
    assert waits[waits["viewer"] == "a"]["wait_s"].tolist() == pytest.approx(
        [0.33, 0.012])  # plain numbers of ms only: no sign but +, no exponent
    assert waits[waits["viewer"] == "b"]["wait_s"].tolist() == pytest.approx(
        [0.33] * 74 + [0.007])  # the cut number left out
    assert set(waits["viewer"]) == {"a", "b"}
    assert waits[waits["viewer"] == "a"]["t"].tolist() == [1.0, 1.0]


def test_hostile_llhls_rows_in_a_log_cost_nothing_but_themselves(tmp_path, healthy):
    hostile = [Event(T0 + 5, "gen1", "ll2", ev.LLHLS, "wait", 3, "", "abc,\u202e,-1,,"),
               Event(T0 + 5, "gen1", "ll2", ev.LLHLS, "wait", 75, "", "340," * 74 + "34000,"),
               Event(T0 + 5, "gen1", "ll2", ev.LLHLS, "playlist", -7.0),
               Event(T0 + 5, "gen1", "ll2", ev.LLHLS, "bogus", 99.0),
               Event(T0 + 5, "gen1", "ll1", ev.LLHLS, "segment", 1e300),
               Event(T0 + 5, "gen1", "ll2", ev.LLHLS, "", 5.0, "", "<script>")]
    path = write_llhls_log(tmp_path / "events.csv", extra=hostile)
    a = analyse(read_log(path))
    v = a.origin.viewers.set_index("viewer")
    assert v.loc["ll2", "waits"] == 30 + 74  # cut at 300 characters: "34000" to "3400"
    assert a.origin.waits["wait_s"].max() == pytest.approx(0.4)  # not 3.4 s
    assert v.loc["ll2", "playlist"] == 30  # a negative count is none
    assert v.loc["ll2", "requests"] == 60  # an unknown name is no request
    assert v.loc["ll1", "segment"] == origin_load.MAX_COUNT  # a huge count is held to it
    json.dumps(a.summary())
    report.render_report(a, read_log(path).frame, "hostile", judge(a, Basis()))


# --- the SLA -------------------------------------------------------------------------


def test_a_healthy_llhls_run_holds_every_llhls_default(healthy):
    a, _ = healthy
    verdict = judge(a, Basis())
    assert verdict.word == PASS, verdict.breaches
    checks = {c.threshold.text: c for c in verdict.checks}
    assert [checks[t].measured for t in LLHLS_DEFAULTS] == pytest.approx(
        [0.4, 3.0, 6.3, 1 / 30])  # p95 wait, the most playlist/s, requests/s, early ratio
    assert all(checks[t].passed for t in LLHLS_DEFAULTS)


def test_a_reload_storm_fails_the_default_sla_naming_the_early_ratio(storm):
    a, _ = storm
    verdict = judge(a, Basis())
    assert verdict.word == FAIL
    by_check = {b.check: b for b in verdict.breaches}
    early = by_check["max(llhls_early_ratio) < 0.25"]
    assert (early.measured, early.limit, early.worst) == ("0.5758", "< 0.25", "ll1 (0.5758)")
    assert "reload_storm" in by_check["count(errors) == 0"].worst
    # Paced once a part target, the storm is within the request bounds: 3.3 playlist/s.
    assert set(by_check) == {"max(llhls_early_ratio) < 0.25", "count(errors) == 0"}
    assert "max(llhls_early_ratio) < 0.25" in summary_table("storm", a, verdict)


def test_a_plain_run_has_no_llhls_figure_breach_or_listed_not_applicable(tmp_path):
    a, _ = _plain(tmp_path)
    assert a.origin is None
    assert not [k for k in a.summary() if k.startswith("llhls")]
    verdict = judge(a, Basis())  # the log's plain stream breaches min(bitrate_ratio) only
    assert [b.check for b in verdict.breaches] == ["min(bitrate_ratio) >= 0.9"]
    assert not any("llhls" in n or "rps" in n for n in verdict.not_applicable)
    absent = [c for c in verdict.checks if c.threshold.metric in LLHLS_METRICS]
    assert len(absent) == 4 and all(c.absent and c.measured is None for c in absent)
    assert "LL-HLS" not in summary_table("plain", a, verdict)


def test_an_llhls_threshold_you_set_fails_a_plain_run_saying_there_were_none(tmp_path):
    a, df = _plain(tmp_path)
    basis = Basis(rules=tuple(rules(("--sla", ["p95(llhls_block_wait_s) < 1s"]))))
    verdict = judge(a, basis)
    assert verdict.word == FAIL
    (breach,) = [b for b in verdict.breaches if b.check == "p95(llhls_block_wait_s) < 1s"]
    assert breach.worst == "no data: no LL-HLS viewers (no llhls rows)"
    page = report.render_report(a, df, "plain", verdict, charts=[])
    assert 'data-tile="origin" data-state="breached"' in page


def test_rps_limits_take_an_rps_unit_and_refuse_others():
    assert parse("max(playlist_rps_per_viewer) <= 6rps").limit == 6.0
    with pytest.raises(ValueError, match="requests per second"):
        parse("max(playlist_rps_per_viewer) <= 6 s")


# --- the report ------------------------------------------------------------------------


def _cells(page: str, after: str) -> list[list[str]]:
    block = page.split(after, 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", block)][1:]


def test_the_report_has_the_origin_load_section_chart_and_tile_a_plain_run_none(tmp_path):
    pages = {}
    for kind in ("llhls", "plain"):
        run_dir = tmp_path / kind
        path = run_dir / "events.csv"
        log = read_log(write_llhls_log(path) if kind == "llhls"
                       else write_ladder_log(path, ladder=False))
        a = analyse(log)
        fragment = write_artifacts(run_dir, kind, a, log.frame, judge(a, Basis()), {}, {})
        pages[kind] = ((run_dir / "report.html").read_text(encoding="utf-8"), fragment)
    page, fragment = pages["llhls"]
    for text in (page, fragment):
        assert "<h2>Origin load (LL-HLS)</h2>" in text and 'data-chart="origin_load"' in text
        assert 'data-tile="origin" data-state="held"' in text
    assert (tmp_path / "llhls" / "charts" / "origin_load.png").exists()
    assert _cells(page, '<div class="sp-origin">') == [
        ["playlist", "60", "6.00", "6.00", "3.00", "3.00"],
        ["part", "32", "3.20", "5.00", "1.60", "3.00"],
        ["preload", "30", "3.00", "3.00", "1.50", "3.00"],
        ["segment", "0", "0.00", "0.00", "0.00", "0.00"],
        ["init", "1", "0.10", "1.00", "0.05", "0.10"],
        ["all", "123", "12.30", "15.00", "6.15", "6.30"]]
    totals = dict(_cells(page.split('<div class="sp-origin">', 1)[1], "</table>"))
    assert totals["LL-HLS viewers"] == "2"
    assert totals["blocking reloads answered early (the origin did not block)"] == (
        "1 of 60 (1.7%)")
    assert totals["blocking reload wait p50 / p95"] == "0.345 s / 0.400 s"
    plain, plain_fragment = pages["plain"]
    for text in (plain, plain_fragment):
        assert "Origin load" not in text and 'data-chart="origin_load"' not in text
        assert 'data-tile="origin"' not in text and "llhls" not in text.lower()
    assert not (tmp_path / "plain" / "charts" / "origin_load.png").exists()


def test_the_chart_stacks_the_requests_per_second_of_each_kind_asked_for(healthy):
    a, df = healthy
    title, fig = fig_origin_load(a, df, {})
    assert title == "LL-HLS origin load: requests per second by kind, 2 viewers"
    ax = fig.axes[0]
    assert [c.get_gid() for c in ax.collections] == [
        "requests:playlist", "requests:part", "requests:preload", "requests:init"]  # no segment
    top = ax.collections[-1]  # init, on top: 15 in second 2, 12 after
    xy = np.concatenate([p.vertices for p in top.get_paths()])
    assert xy[(xy[:, 0] >= 2) & (xy[:, 0] <= 3), 1].max() == pytest.approx(15.0)
    assert xy[(xy[:, 0] > 3.5), 1].max() == pytest.approx(12.0)
    assert "origin_load" in [c.name for c in charts(a, df)]


def test_a_long_run_draws_buckets_of_seconds_as_their_mean(tmp_path):
    rows = [Event(T0, "g", "", ev.RUN_START, "r")]
    rows += [Event(T0 + t, "g", "v", ev.LLHLS, "playlist", float(t % 2 * 4))
             for t in range(1, 1301)]
    with EventWriter(tmp_path / "events.csv") as w:
        w.write_many(rows)
    a = analyse(read_log(tmp_path / "events.csv"))
    title, fig = fig_origin_load(a, pd.DataFrame(), {})
    assert title.endswith("(mean of each 3 s)")
    xy = np.concatenate([p.vertices for p in fig.axes[0].collections[0].get_paths()])
    assert xy[:, 1].max() == pytest.approx(8 / 3)  # 4, 0, 4 in a bucket: 2.67 a second
