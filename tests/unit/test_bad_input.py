"""Every bad input is a clean error: one line, a non-zero exit, no traceback, no
hang, bounded memory (issue 13, item 4). Table-driven; docs/reliability.md
("Bad input") lists the tables.

The bulk runs in-process (`cli.main`, `serve`, the option parsers) for speed;
four run `python -m streamperf.cli` in a subprocess with a time and an
address-space limit, as a user sees it: exit status, one line, no Traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamperf import cli
from streamperf.cli import live as cli_live
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.sla import SlaError
from streamperf.results.judging.sla import parse as parse_sla
from streamperf.settings import SettingsError, parse_options

#: Each in-process case must end within this (the bugs took 36 s and over 60 s).
BOUND_S = 10.0
#: Address space of a subprocess case: a report needs well under 1.5 GB; the seed
#: log with a 3,000,000 s gap took 3.4 GB.
MEMORY_LIMIT = 1536 << 20
HEADER = ",".join(ev.COLUMNS) + "\n"


def good_log(path: Path, end: bool = True) -> Path:
    """A small run written by the real writer: a viewer with media, an API call,
    host samples."""
    with EventWriter(path) as w:
        w.write_many([
            Event(100.0, "h", "", ev.RUN_START, "r", 0, "", json.dumps({"users": 1})),
            Event(100.2, "h", "fan0", ev.API, "POST /api/v1/sign_in", 0.1, "200"),
            Event(100.5, "h", "fan0", ev.PLAY, "rtmp", 0, "", "rtmp://127.0.0.1/live/x"),
            Event(101.0, "h", "fan0", ev.FIRST_VIDEO, "", 0.0),
            *[Event(101.0 + k, "h", "fan0", ev.SAMPLE_BYTES, "1", 125_000) for k in range(5)],
            *[Event(101.0 + k, "h", "fan0", ev.SAMPLE_MEDIA_TS, "", k) for k in range(5)],
            Event(102.0, "h", "", ev.HOST_SAMPLE, "cpu_pct", 5.0),
        ])
        if end:
            w.write(Event(106.0, "h", "", ev.RUN_END, "done"))
    return path


def _csv_line(*fields: object) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(fields)
    return buf.getvalue()


def _seed(*rows: str) -> bytes:
    return "".join(r + "\n" for r in rows).encode()


SEED_START = "fan1,0,StartTestOnMachine,m1"
TEN_MB = 10 << 20

# name -> (file bytes, what the one line says); every one is refused by both
# `streamperf summary` and `streamperf report`, exit 2.
BAD_LOGS: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "empty (no rows)"),
    "header only": (HEADER.encode(), "no rows (a header only)"),
    "NUL byte": ((HEADER + "100,h,\0,run_start,r,0,,{}\n").encode(), "line 2: a NUL byte"),
    "text in t": ((HEADER + "abc,h,,run_start,r,0,,{}\n").encode(),
                  "line 2: t 'abc' is not a finite number"),
    "empty t": ((HEADER + ",h,,run_start,r,0,,{}\n").encode(), "line 2: t"),
    "inf t": ((HEADER + "inf,h,,run_start,r,0,,{}\n").encode(), "line 2: t 'inf'"),
    "zzz in value": ((HEADER + "100,h,fan0,bytes,,zzz,,\n").encode(),
                     "line 2: value 'zzz' is not a finite number"),
    "nan in value": ((HEADER + "100,h,fan0,play,rtmp,0,,u\n101,h,fan0,bytes,,nan,,\n").encode(),
                     "line 3: value 'nan' is not a finite number"),
    "inf host sample": ((HEADER + "100,h,,host,cpu_pct,inf,,\n").encode(),
                        "line 2: value 'inf' is not a finite number"),
    "huge value": ((HEADER + "100,h,,host,cpu_pct," + "9" * 400 + ",,\n").encode(),
                   "line 2: value '999"),
    "10 MB line": ((HEADER + "100,h,fan0,bytes,,1,," + "x" * TEN_MB + "\n").encode(),
                   "line 2: 10485"),
    "10 MB first line": (b"x" * TEN_MB + b"\n", "field larger than field limit"),
    "extra fields, first row": ((HEADER + "100,h,fan0,bytes,,1,,,x,y\n").encode(),
                                "a row has more fields than the header"),
    "extra fields, later row": ((HEADER + "100,h,fan0,play,rtmp,0,,u\n"
                                 "101,h,fan0,bytes,,1,,,x,y\n").encode(),
                                "Expected 8 fields in line 3, saw 10"),
    "garbage": (b"lorem ipsum\x01\x02 dolor\nsit amet\n",
                "neither a streamperf event log nor a seed tool log"),
    "wrong columns": (b"a,b,c\n1,2,3\n", "neither a streamperf event log nor a seed tool log"),
    "non-UTF-8": (HEADER.encode() + b"100,h\xff\xfe,,run_start,r,0,,{}\n",
                  "not UTF-8 text (byte 0xff"),
    "logged lag threshold NaN": (
        (HEADER + _csv_line(100, "h", "", "run_start", "r", 0, "",
                            '{"users": 1, "lag_threshold_s": NaN}')
         + "101,h,fan0,play,rtmp,0,,u\n").encode(), "lag threshold (nan)"),
    "seed: seconds jump to 3,000,000": (
        _seed(SEED_START, "fan1,1,StreamProgressKiloBytes,10",
              "fan1,3000000,StreamProgressKiloBytes,20"),
        "line 3: seconds '3000000' is out of range (must be from 0 to 86400)"),
    "seed: seconds 1e12": (_seed(SEED_START, "fan1,1e12,StreamProgressKiloBytes,20"),
                           "line 2: seconds '1e12' is out of range"),
    "seed: seconds inf": (_seed(SEED_START, "fan1,inf,StreamProgressKiloBytes,20"),
                          "line 2: seconds 'inf' is out of range"),
    "seed: seconds nan": (_seed(SEED_START, "fan1,nan,StreamProgressSeconds,20"),
                          "line 2: seconds 'nan' is out of range"),
    "seed: negative seconds": (_seed(SEED_START, "fan1,-5,StreamProgressSeconds,20"),
                               "line 2: seconds '-5' is out of range"),
    "seed: KiB inf": (_seed(SEED_START, "fan1,1,StreamProgressKiloBytes,inf"),
                      "line 2: StreamProgressKiloBytes 'inf' is out of range"),
    "seed: KiB 1e300": (_seed(SEED_START, "fan1,1,StreamProgressKiloBytes,1e300"),
                        "line 2: StreamProgressKiloBytes '1e300' is out of range"),
    "seed: CPU zzz": (_seed("m1,0,CPUUsage,zzz"), "line 1: CPUUsage 'zzz' is not a number"),
    "seed: gaps over the row budget": (
        _seed(*[row for k in range(30) for row in (
            f"f{k},0,StartTestOnMachine,m1", f"f{k},0,StreamProgressSeconds,0",
            f"f{k},86000,StreamProgressSeconds,1")]),
        "gaps no seed run had"),
    "seed: 10 MB field": (_seed(SEED_START, "fan1,1,StreamProgressKiloBytes," + "1" * TEN_MB),
                          "field larger than field limit"),
}


def _one_line_error(capsys: pytest.CaptureFixture[str], fragment: str) -> str:
    out, err = capsys.readouterr()
    assert out == "", out[:500]
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("streamperf: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0][:500]
    return lines[0]


def _timed_main(argv: list[str]) -> int:
    start = time.monotonic()
    rc = cli.main(argv)
    took = time.monotonic() - start
    assert took < BOUND_S, f"{argv[0]} took {took:.1f} s"
    return rc


@pytest.mark.parametrize("command", ["summary", "report"])
@pytest.mark.parametrize("case", sorted(BAD_LOGS))
def test_bad_log_is_one_line_and_exit_2(case: str, command: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, fragment = BAD_LOGS[case]
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    assert _timed_main([command, str(path)]) == 2
    _one_line_error(capsys, fragment)
    assert not (tmp_path / "events.html").exists()  # no half-made report


# summary.json of a run directory that is not a run summary -> refused, naming it.
BAD_SUMMARIES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{not json", "not a run summary (Expecting property name"),
    "truncated": (b'{"name": "r", "verdict": {"wo', "not a run summary (Unterminated"),
    "non-UTF-8": (b'{"name": "\xff"}', "not a run summary ('utf-8' codec"),
    "a list": (b"[1, 2]", "not a run summary (a JSON list, not an object)"),
    "a string": (b'"x"', "not a run summary (a JSON str"),
    "settings a list": (b'{"settings": [1]}', "'settings' is a JSON list"),
    "verdict a number": (b'{"verdict": 5}', "'verdict' is a JSON int"),
    "sla a string": (b'{"sla": "x"}', "'sla' is a JSON str"),
    "sla rows not objects": (b'{"sla": [1]}', "not a streamperf record"),
    "sla threshold 1e999": (b'{"sla": [{"threshold": "p95(startup_s) > 1e999"}]}',
                            "out of range"),
    "thresholds a string": (b'{"judged_against": {"thresholds": "x"}}',
                            "not a streamperf judgement record"),
    "lag threshold NaN": (b'{"judged_against": {"thresholds": [], "lag_threshold_s": NaN}}',
                          "lag_threshold_s nan is not a positive finite number"),
    "source kbps -Infinity": (
        b'{"judged_against": {"thresholds": [], "source_kbps": -Infinity}}',
        "source_kbps -inf is not a positive finite number"),
    "grace Infinity": (b'{"judged_against": {"thresholds": [], "grace_s": Infinity}}',
                       "grace_s inf is not a non-negative finite number"),
}


@pytest.mark.parametrize("command", ["summary", "report"])
@pytest.mark.parametrize("case", sorted(BAD_SUMMARIES))
def test_malformed_summary_json_is_one_line_and_exit_2(
        case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, fragment = BAD_SUMMARIES[case]
    good_log(tmp_path / "events.csv")
    (tmp_path / "summary.json").write_bytes(data)
    assert _timed_main([command, str(tmp_path)]) == 2
    line = _one_line_error(capsys, fragment)
    assert "summary.json" in line
    assert not (tmp_path / "report.html").exists()


def test_the_good_log_of_these_tables_is_judged(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The tables' good log passes as it is: their failures come from the damage."""
    good_log(tmp_path / "events.csv")
    assert cli.main(["summary", str(tmp_path)]) in (0, 1)
    out, err = capsys.readouterr()
    assert ("PASS" in out or "FAIL" in out) and err == "", out + err
    assert cli.main(["report", str(tmp_path)]) in (0, 1)
    assert (tmp_path / "report.html").stat().st_size > 10_000


#: endpoint and host names matplotlib would read as mathtext (one report draws them all)
MATHTEXT_NAMES = ["$\\frac$", "$x^$", "a_{b", "$$", "\\$", "$\\sqrt{$"]


def test_mathtext_in_endpoint_and_host_names_is_drawn_as_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = good_log(tmp_path / "events.csv")
    with EventWriter(path) as w:
        for k, name in enumerate(MATHTEXT_NAMES):
            w.write(Event(100.3 + k / 100, name, "fan0", ev.API, name, 0.2, "200"))
            w.write(Event(104.0, name, "", ev.HOST_SAMPLE, "cpu_pct", 7.0))
    assert _timed_main(["report", str(path), "-o", str(tmp_path / "r.html")]) in (0, 1)
    html = (tmp_path / "r.html").read_text()
    assert "Traceback" not in capsys.readouterr().err
    assert html.count("data:image/png;base64,") >= 3  # the charts were drawn
    assert "$\\frac$" in html  # the name, as written, in the endpoint table


@pytest.mark.parametrize("how", ["x.html", "-o"])
def test_report_never_overwrites_the_log_it_reads(how: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    log = good_log(tmp_path / ("x.html" if how == "x.html" else "events.csv"))
    before = log.read_bytes()
    argv = ["report", str(log)] + (["-o", str(log)] if how == "-o" else [])
    assert cli.main(argv) == 2
    _one_line_error(capsys, "is the log being read: not overwritten")
    assert log.read_bytes() == before


# CLI options of summary/report/live: refused, one line, exit 2.
BAD_CLI_OPTIONS: list[tuple[list[str], str]] = [
    *[(["summary", "{log}", f"--source-kbps={v}"], f"--source-kbps {v}: must be a bitrate")
      for v in ("-1", "0", "nan", "inf", "-inf", "1e999")],
    (["summary", "{log}", "--source-kbps", "fast"], "--source-kbps fast: not a number"),
    *[(["report", "{log}", f"--source-kbps={v}"], f"--source-kbps {v}: must be a bitrate")
      for v in ("-1", "nan")],
    *[([cmd, "{log}", f"--lag-threshold={v}"], f"--lag-threshold {v[:20]}")
      for cmd in ("summary", "report", "live") for v in ("nan", "inf", "0", "-1", "9" * 400)],
    *[(["live", "{log}", f"--interval={v}"], f"--interval {v[:20]}")
      for v in ("0", "-1", "nan", "inf", "9" * 400)],
    (["summary", "{log}", "--sla", "p95(startup_s) > 1e999"], "out of range"),
    (["report", "{log}", "--sla", "p95(startup_s) < 1e306 h"], "out of range"),
    (["summary", "{log}", "--sla", "max(lagged) == 0 after 1e999s"], "unexpected 'after 1e999s'"),
    (["summary", "{log}", "--sla", "max(lagged) == 0 after " + "9" * 400], "out of range"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_CLI_OPTIONS,
                         ids=[" ".join(a[:1] + a[2:])[:40] for a, _ in BAD_CLI_OPTIONS])
def test_bad_cli_option_is_one_line_and_exit_2(argv: list[str], fragment: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    log = str(good_log(tmp_path / "events.csv"))
    assert _timed_main([log if a == "{log}" else a for a in argv]) == 2
    _one_line_error(capsys, fragment)


# --- live ---------------------------------------------------------------------------------

def _old(path: Path) -> Path:
    """As a log left from an earlier run: not written to for an hour."""
    t = time.time() - 3600
    os.utime(path, (t, t))
    return path


BAD_LIVE: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "no event log rows"),
    "header only": (HEADER.encode(), "no event log rows"),
    "garbage": (b"lorem ipsum\x01\x02\nsit amet\n", "neither a streamperf event log"),
    "seed log": (_seed(SEED_START, "fan1,1,StreamProgressKiloBytes,10"),
                 "a seed tool log; live follows streamperf event logs"),
    "10 MB line": ((HEADER + "100,h,fan0,bytes,,1,," + "x" * TEN_MB + "\n").encode(),
                   "no event log rows"),
    "10 MB first line": (b"y" * TEN_MB, "field larger than field limit"),
    "only unreadable rows": ((HEADER + "abc,h,,x,,1,,\n1,2,3\n").encode(), "no event log rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_LIVE))
def test_live_on_a_bad_log_ends_with_one_line(case: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data, fragment = BAD_LIVE[case]
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    assert _timed_main(["live", str(_old(path))]) == 2
    _one_line_error(capsys, fragment)


def test_live_on_a_log_without_run_end_prints_what_it_has_and_exits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _old(good_log(tmp_path / "events.csv", end=False))
    assert _timed_main(["live", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1/1 sessions established" in out and "[running]" in out


@pytest.mark.parametrize("now", [False, True], ids=["old rows", "rows of now"])
def test_live_on_a_log_still_being_written_waits_until_it_goes_quiet(
        now: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh log without run_end: followed while it grows, ended once quiet for
    STALE_S (old rows) or QUIET_S (a run of now), not a silent wait for a run_end
    that will never come."""
    monkeypatch.setattr(cli_live, "STALE_S", 0.6 if now else 1.0)
    monkeypatch.setattr(cli_live, "QUIET_S", 1.0 if now else 0.6)
    path = tmp_path / "events.csv"
    with EventWriter(path) as w:
        t0 = time.time() if now else 100.0
        w.write(Event(t0, "h", "", ev.RUN_START, "r", 0, "", "{}"))
        w.write(Event(t0 + 0.5, "h", "fan0", ev.PLAY, "rtmp", 0, "", "u"))
    start = time.monotonic()
    assert cli.main(["live", str(path), "--interval", "200ms"]) == 0
    assert 0.8 < time.monotonic() - start < BOUND_S
    assert "playing 1" in capsys.readouterr().out


def test_live_skips_an_overlong_line_and_reads_on(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.csv"
    good_log(path)
    text = path.read_text()
    head, _, rest = text.partition("\n")
    path.write_text(head + "\n" + "1,h,fan9,bytes,,1,," + "x" * (5 << 20) + "\n" + rest)
    assert _timed_main(["live", str(_old(path))]) == 0
    out = capsys.readouterr().out
    assert "[ended: done]" in out and "1/1 sessions" in out


# --- run options --------------------------------------------------------------------------

BAD_RUN_OPTIONS: list[tuple[str, str, str]] = [
    ("users", "99999999999999999999", "is out of range (must be between 1 and 1000000)"),
    ("users", "1" * 5000, "not an integer"),
    ("duration_s", "9" * 400, "longer than 7 days"),
    ("duration_s", "9" * 400 + "s", "longer than 7 days"),
    ("duration_s", "8d", "not a duration"),
    ("ramp_s", "9" * 400 + "ms", "longer than 7 days"),
    ("timeout_s", "1e999", "not a duration"),
    ("calibration_s", "nan", "not a duration"),
    ("sleep_between_steps", "9" * 400, "not a duration or 'seed'"),
    ("lag_threshold_s", "nan", "not a duration"),
    ("lag_threshold_s", "inf", "not a duration"),
    ("lag_threshold_s", "0", "must be more than zero"),
    ("lag_threshold_s", "9" * 400, "longer than 7 days"),
    ("source_kbps", "-1", "must be a bitrate in kbps, more than zero"),
    ("source_kbps", "0", "must be a bitrate in kbps, more than zero"),
    ("source_kbps", "nan", "must be a bitrate in kbps, more than zero"),
    ("source_kbps", "inf", "must be a bitrate in kbps, more than zero"),
    ("procs", "99999999999", "is out of range (must be between 1 and 1024)"),
    ("procs_per_host", "0", "is out of range"),
    ("media_port", "99999999999999999999", "is out of range (must be between 1 and 65535)"),
    ("api_url", "not-a-url", "use an http:// or https:// URL"),
    ("platform_host", "::1", "use an IPv4 address"),
    ("platform_host", "bogus.invalid", "use an IPv4 address of this machine"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_RUN_OPTIONS,
                         ids=[f"{f}={v[:24]}" for f, v, _ in BAD_RUN_OPTIONS])
def test_bad_run_option_names_option_and_value(field: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as exc:
        parse_options({field: value}, environ={}, fields=[field])
    message = str(exc.value)
    assert "\n" not in message and len(message) < 300, message[:400]
    assert fragment in message


BAD_SLA = [
    ("p95(startup_s) > 1e999", "number '1e999' is out of range"),
    ("p95(startup_s) < " + "9" * 400, "is out of range"),
    ("p95(startup_s) < 1e306 h", "1e306 h is out of range"),
    ("mean(mean_kbps) > 1e308 Mbps", "1e308 Mbps is out of range"),
    ("max(lagged) == 0 after 1e999s", "unexpected 'after 1e999s'"),
    ("max(lagged) == 0 after " + "9" * 400 + "h", "is out of range"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_SLA, ids=[t[:30] for t, _ in BAD_SLA])
def test_sla_number_too_large_for_a_float_is_refused_up_front(text: str, fragment: str) -> None:
    with pytest.raises(SlaError) as exc:
        parse_sla(text)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


# --- the bundled platform's command -------------------------------------------------------

BAD_SERVE: list[tuple[list[str], str]] = [
    (["--host", "bogus.invalid"], "argument --host: 'bogus.invalid': use an IPv4 address"),
    (["--host", "::1"], "'::1': use an IPv4 address: the bundled platform listens on IPv4"),
    (["--host", ""], "argument --host"),
    (["--ready-delay", "nan"], "argument --ready-delay: 'nan': not a duration"),
    (["--ready-delay", "-1"], "argument --ready-delay: '-1': not a duration"),
    (["--ready-delay", "9" * 400], "longer than 7 days"),
    (["--port", "0"], "argument --port: '0': 0 is out of range"),
    (["--port", "70000"], "argument --port: '70000'"),
    (["--media-port", "x"], "argument --media-port: 'x': not an integer"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_SERVE,
                         ids=[" ".join(a)[:30] for a, _ in BAD_SERVE])
def test_platform_serve_bad_option_is_one_line(argv: list[str], fragment: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from streamperf.platforms.reference.server import serve

    with pytest.raises(SystemExit) as exc:
        serve(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and fragment in err, err


def test_platform_serve_on_an_address_not_of_this_machine_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streamperf.platforms.reference.server import serve

    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    assert serve(["--host", "192.0.2.7", "--allow-exposed", "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and "192.0.2.7" in err, err


def test_platform_serve_removes_the_work_dir_it_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24: without --workdir, `platform serve` left its temporary directory, whose
    SQLite file holds the stream keys. The same `finally` runs after Ctrl-C."""
    import tempfile

    from streamperf.platforms.reference.server import serve

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert serve(["--host", "192.0.2.7", "--allow-exposed"]) == 1  # fails after making it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("streamperf-")] == []


# --- end to end: what the user sees -------------------------------------------------------

def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


E2E = {
    "report, NUL byte": (["report", "{file}"], "NUL byte", b"NUL byte"),
    "summary, seed seconds jump to 3,000,000": (
        ["summary", "{file}"], "seed: seconds jump to 3,000,000", b"out of range"),
    "live, empty file": (["live", "{file}"], "empty file", b"no event log rows"),
    "platform serve --host ::1": (["platform", "serve", "--host", "::1"], "", b"IPv4"),
}


@pytest.mark.parametrize("case", sorted(E2E))
def test_cli_end_to_end_one_line_no_traceback(case: str, tmp_path: Path) -> None:
    argv, log, fragment = E2E[case]
    path = tmp_path / "events.csv"
    if log:
        path.write_bytes(BAD_LOGS[log][0])
        _old(path)
    proc = subprocess.run(
        [sys.executable, "-m", "streamperf.cli", *[str(path) if a == "{file}" else a
                                                   for a in argv]],
        capture_output=True, timeout=60, preexec_fn=_limit_memory, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert b"Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.splitlines()) == 1 and fragment in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout == b""
