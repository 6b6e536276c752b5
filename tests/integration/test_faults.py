"""Faults a run must survive, each against real parts (nginx-rtmp, ffmpeg, the bundled
platform, a misbehaving API on loopback): the run finishes or stops cleanly, the
verdict says what happened, and every row written is read back.

- nginx stopped, then started again mid-run: viewers record the disconnect, with
  --reconnect play again (backoff), and the gap is stall time; --republish brings
  the publisher back, which died with its server;
- the publisher killed: seen within 5 s, the gap in every viewer's timeline, and
  with --republish the run goes on;
- the platform API answering 5xx, not answering, or dripping its answer: errors
  and timeouts per endpoint, no fan hung;
- SIGTERM mid-run (what CI runners send): children stopped by PID, the log
  flushed, a partial report, exit status 2.

Each test that breaks nginx or ffmpeg has its own session (platform, nginx,
publisher); the figures they print are the ones docs/reliability.md quotes.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from streamperf.load.outcome import RunOutcome
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.results.analysis.figures import media_samples
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.rows import read_events
from streamperf.results.judging.judge import FAIL, INTERRUPTED, PASS
from streamperf.session import StreamperfSession
from streamperf.settings import RunSettings
from tests.support.fault_server import DRIP, ERROR, HANG, Fault, FaultServer
from tests.support.nested_pytest import pytest_process
from tests.support.schedule import at_times

pytestmark = pytest.mark.realtime


def _session(reports: Path, **settings: object) -> StreamperfSession:
    # No test here reads the lone viewer's latency: skip its 5 s.
    return StreamperfSession(RunSettings(report_dir=str(reports), calibration_s=0.0,
                                         **settings))  # type: ignore[arg-type]


def _all_rows_read_back(outcome: RunOutcome) -> int:
    """Rows the writer wrote (summary.json) = rows in the CSV = rows the loader reads."""
    written = outcome.summary["rows_written"]
    with outcome.events_path.open(newline="", encoding="utf-8") as f:
        in_file = sum(1 for _ in csv.reader(f)) - 1  # the header
    assert written > 0 and in_file == written == len(read_events(outcome.events_path))
    return int(written)


def _judged(outcome: RunOutcome, words: tuple[str, ...] = (FAIL,)) -> None:
    """Judged on the viewers' figures: not invalid for the fault itself. (A saturated
    load generator still makes a run invalid: this 2-core machine is shared.)"""
    invalid = outcome.invalid or ""
    assert "publisher died" not in invalid, outcome.message()
    assert outcome.verdict.word in words or invalid.startswith("load generator saturated"), (
        outcome.message())


def _kinds(df, kind: str):  # type: ignore[no-untyped-def]
    return df[df["event"] == kind]


@pytest.fixture
def reconnecting(tmp_path: Path) -> Iterator[StreamperfSession]:
    """Its own platform, nginx and publisher: the tests stop nginx or kill ffmpeg."""
    s = _session(tmp_path / "reports", reconnect=True, republish=True,
                 protocol_mix=(("rtmp", 67), ("hls", 33)))
    yield s
    s.close()


@pytest.mark.busy_ok  # judged with _judged: a busy machine may make it invalid
def test_nginx_restarted_mid_run_viewers_reconnect_and_the_gap_is_stall_time(reconnecting):
    session = reconnecting
    stream = session.stream()
    media = session.platform().media
    marks: dict[str, float] = {}

    def restart_nginx() -> None:
        marks["stop"] = time.time()
        media.stop(grace=0.5)
        time.sleep(2.0)
        media.start()
        marks["up"] = time.time()

    with at_times((5.0, restart_nginx)):
        outcome = session.run_load("nginx-restart", {"users": 3, "ramp_s": 0.1,
                                                     "duration_s": 15.0}, stream)
    df = read_events(outcome.events_path)
    rows = _all_rows_read_back(outcome)
    # The verdict: judged (the publisher came back), failed on the viewers' errors, and
    # the message says what happened.
    _judged(outcome)
    message = outcome.message()
    assert "count(errors) == 0" in message, message
    assert re.search(r"fault: publisher died, seen at \+\d+\.\d s \(exit -?\d+\); "
                     r"republished at", message), message
    assert re.search(r"fault: \d+ reconnects? by 2 viewers", message), message
    viewers = outcome.analysis.viewers.set_index("viewer")
    rtmp = viewers.index[viewers["protocol"] == "rtmp"]
    assert len(rtmp) == 2
    stalls = outcome.analysis.stall_starts
    figures = []
    for name in viewers.index:
        mine = df[df["viewer"] == name]
        stall = float(viewers.loc[name, "stall_s"])
        # Everyone played on to the end, after a stall.
        assert float(_kinds(mine, "bytes")["t"].max()) > marks["up"] + 4, name
        assert stall > 0, name
        if name not in rtmp:
            # HLS retries its playlist for 6 s before it calls it a disconnect: nginx
            # was back sooner, so it rode the gap out on its own connection pool.
            figures.append((name, "hls", 0, None, round(stall, 1)))
            continue
        errors = _kinds(mine, "error")
        reconnects = _kinds(mine, "reconnect")
        # The RTMP viewers noticed, came back after refused attempts, and played again.
        assert "disconnect" in set(errors["name"]) and len(reconnects) >= 1, name
        back = _kinds(mine, "first_video")
        assert len(back) >= 2, name
        lost_t = float(errors["t"].min())
        again_t = float(back["t"].iloc[-1])
        assert marks["stop"] < lost_t < again_t
        gap = again_t - lost_t
        # The player plays on what it holds at the disconnect (nginx's GOP burst can
        # leave it more than the 1 s startup buffer), runs dry, and waits for the new
        # first frame: the stall starts after the loss and covers the rest of the gap
        # (give or take the 1 s rebuffer goal and the 1 s samples).
        theirs = stalls[(stalls["viewer"] == name) & (stalls["t"] > marks["stop"] - 1.0)]
        assert len(theirs) >= 1, (name, stalls)
        dry_t = float(theirs["t"].iloc[0])
        assert lost_t - 1.5 <= dry_t <= lost_t + 4.0, (name, lost_t, dry_t)
        assert again_t - dry_t - 1.5 <= stall <= again_t - dry_t + 3.0, (name, gap, stall)
        figures.append((name, "rtmp", len(reconnects), round(gap, 1), round(stall, 1)))
    assert outcome.summary["metrics"]["publisher_restarts"] == 1
    print(f"\nnginx down {marks['up'] - marks['stop']:.1f} s; viewers "
          f"(name, protocol, reconnects, gap s, stall s): {figures}; rows {rows}; "
          f"{outcome.summary['metrics']['faults']}")


@pytest.mark.busy_ok  # judged with _judged: a busy machine may make it invalid
def test_killed_publisher_is_seen_within_5s_and_republished_the_run_goes_on(reconnecting):
    session = reconnecting
    stream = session.stream()
    killed: dict[str, float] = {}

    def kill() -> None:
        assert stream.publisher is not None and stream.publisher.pid is not None
        killed["t"] = time.time()
        os.kill(stream.publisher.pid, signal.SIGKILL)

    with at_times((4.5, kill)):  # half a tick off the watch: a real detection delay
        outcome = session.run_load("ffmpeg-killed", {"users": 3, "ramp_s": 0.1,
                                                     "duration_s": 15.0}, stream)
    df = read_events(outcome.events_path)
    rows = _all_rows_read_back(outcome)
    died = _kinds(df, "publisher_exit")
    assert len(died) == 1 and died["value"].iloc[0] == -signal.SIGKILL
    detected = float(died["t"].iloc[0]) - killed["t"]
    assert 0 < detected < 5.0
    again = _kinds(df, "publish_start")
    again = again[again["status"] == "republish"]
    assert len(again) == 1
    gap = float(again["t"].iloc[0]) - killed["t"]
    # Whether a gap this short breaks a threshold depends on its length: judged either way.
    _judged(outcome, (PASS, FAIL))
    assert "fault: publisher died" in outcome.message()
    assert (outcome.run_dir / "publisher.log").is_file()
    # Every viewer shows the gap and plays on after it. RTMP viewers keep their
    # connection: their media stands still, then the new ffmpeg's clock starts again
    # (a new media session, stitched on). HLS viewers, segments behind, stall.
    viewers = outcome.analysis.viewers.set_index("viewer")
    # Per sample with the stitched media (Analysis.samples keeps drift and latency only).
    samples = media_samples(read_log(outcome.events_path))
    stalls = outcome.analysis.stall_starts
    figures = []
    for name in viewers.index:
        mine = df[df["viewer"] == name]
        protocol = viewers.loc[name, "protocol"]
        if protocol == "rtmp":
            ts = _kinds(mine, "media_ts")
            ts = ts[ts["t"] > killed["t"]]
            assert (ts["value"].diff() < -1.0).any(), name  # the clock started again
            after = samples[(samples["viewer"] == name) & (samples["t"] > killed["t"] - 1)]
            hole = (after["t"].diff() - after["rel_media"].diff()).max()
            assert hole >= 0.5, (name, hole)  # wall time passing with no media
            shown = f"{hole:.1f} s without media"
        else:
            assert (stalls.loc[stalls["viewer"] == name, "t"] > killed["t"]).any(), name
            shown = f"stalled {viewers.loc[name, 'stall_s']:.1f} s"
        late = _kinds(mine, "bytes")
        late = late[late["t"] > float(again["t"].iloc[0]) + 5]
        assert late["value"].sum() > 100_000, name  # media again after the restart
        figures.append((name, protocol, shown))
    print(f"\npublisher killed: seen after {detected:.2f} s, publishing again after "
          f"{gap:.1f} s; viewers: {figures}; verdict "
          f"{outcome.verdict.word}; rows {rows}")


# --- the platform API misbehaving ---------------------------------------------------

API_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def faulty_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultServer,
                                                                          StreamperfSession]]:
    """The bundled platform behind a proxy that breaks three endpoints; a session
    speaking the seed API to the proxy (--apiurl)."""
    workdir = tmp_path_factory.mktemp("faulty")
    with ReferencePlatform(workdir / "platform") as ref:
        faults = [
            Fault("GET", re.compile(r"/api/v1/influencers/general"), ERROR, every=2),
            Fault("POST", re.compile(r"/api/v1/influencers/relation"), DRIP, seconds=20.0),
            Fault("DELETE", re.compile(r"/streams/\d+/watchers/\d+"), HANG, seconds=30.0),
        ]
        with FaultServer(ref.base_url, faults).running() as proxy:
            s = _session(workdir / "reports", api_url=proxy.url, streams_api_url=proxy.url,
                         streams_api_token=ref.streams_token, token="oauth-faults",
                         timeout_s=API_TIMEOUT_S)
            try:
                yield proxy, s
            finally:
                s.close()


def test_api_errors_timeouts_and_drips_are_counted_per_endpoint_and_no_fan_hangs(faulty_api):
    proxy, session = faulty_api
    stream = session.stream()
    users = 4
    started = time.monotonic()
    outcome = session.run_load("api-faults", {"users": users, "ramp_s": 0.1,
                                              "duration_s": 4.0}, stream)
    took = time.monotonic() - started
    rows = _all_rows_read_back(outcome)
    # Without a deadline on the whole answer each drip would hold its fan for 20 s.
    assert took < 20.0, took
    api = outcome.analysis.api.set_index("endpoint")
    general = api.loc["GET /api/v1/influencers/general"]
    relation = api.loc["POST /api/v1/influencers/relation"]
    leave = api.loc["DELETE /streams/{I}/watchers/{F}"]
    assert general["calls"] == users and general["errors"] == users // 2
    assert general["timeouts"] == 0
    assert relation["calls"] == users // 2 and relation["timeouts"] == users // 2
    assert leave["calls"] == users and leave["timeouts"] == users
    assert relation["p95_s"] < API_TIMEOUT_S + 1.0 and leave["p95_s"] < API_TIMEOUT_S + 1.0
    df = read_events(outcome.events_path)
    statuses = set(df.loc[(df["event"] == "api") & (df["name"].str.contains("general")),
                          "status"])
    assert statuses == {"200", "503"}
    # Every fan carried on to play: the faults hit steps a fan survives.
    viewers = outcome.analysis.viewers
    assert viewers["got_media"].all() and (viewers["api_s"] < 3 * API_TIMEOUT_S + 2).all()
    _judged(outcome)
    assert "rate(api_errors) <= 1%" in outcome.message(), outcome.message()
    assert [f.served for f in proxy.faults] == [users // 2, users // 2, users]
    print(f"\nAPI faults: run took {took:.1f} s; per endpoint:\n"
          f"{api[['calls', 'errors', 'timeouts', 'p95_s']].to_string()}\n"
          f"fan API time max {viewers['api_s'].max():.1f} s; rows {rows}")


# --- SIGTERM ----------------------------------------------------------------------


def _wait_for_rows(run_root: Path, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "pytest ended before its run started"
        for events in run_root.glob("*/events.csv"):
            if ",bytes," in events.read_text(errors="replace"):
                return
        time.sleep(0.2)
    raise AssertionError(f"no viewer rows in {run_root} within {timeout:g}s")


@pytest.mark.own_pytest
@pytest.mark.parametrize(("procs", "sig"), [("1", signal.SIGTERM), ("2", signal.SIGHUP)],
                         ids=["SIGTERM-procs1", "SIGHUP-procs2"])
def test_sigterm_mid_run_stops_children_flushes_and_reports(tmp_path: Path, procs: str,
                                                            sig: signal.Signals):
    """SIGTERM (a CI runner's stop) and SIGHUP (a closed terminal) cut the run short as
    Ctrl-C does."""
    reports = tmp_path / "reports"
    with pytest_process("tests/perf", "-k", "steady_audience", "--users", "3", "--duration",
                        "30s", "--calibration", "0", "--procs", procs, "--report-dir", reports,
                        "-p", "no:xdist", "-q") as proc:
        _wait_for_rows(reports, proc, timeout=60)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert {"nginx", "ffmpeg"} <= names, names
        sent = time.monotonic()
        proc.send_signal(sig)
        text, _ = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - sent
    assert proc.returncode == 2, text[-2000:]
    # Every process it started is gone (nginx, its workers, ffmpeg, viewer processes).
    left = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, left
    run_dir = next(d for d in reports.iterdir() if d.name.endswith("steady_audience"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["verdict"]["word"] == INTERRUPTED
    assert (run_dir / "report.html").stat().st_size > 0
    df = read_events(run_dir / "events.csv")
    assert len(df) == summary["rows_written"]
    end = df[df["event"] == "run_end"]
    assert end["name"].tolist() == ["interrupted"] and end["detail"].tolist() == [sig.name]
    assert "interrupted at +" in " ".join(summary["metrics"]["faults"])
    print(f"\n{sig.name} with --procs {procs}: exit 2 after {stopped_in:.1f} s, "
          f"{len(children)} child processes stopped, rows {len(df)} written and read")


@pytest.mark.own_pytest
def test_sigkill_of_pytest_leaves_no_child_behind(tmp_path: Path):
    """`kill -9` (an OOM kill, a runner killing the job) gives pytest no chance to stop
    anything: its children end by themselves (parent-death signal, media/processes.py),
    nginx with its workers, ffmpeg, the viewer processes."""
    reports = tmp_path / "reports"
    with pytest_process("tests/perf", "-k", "steady_audience", "--users", "3", "--duration",
                        "60s", "--calibration", "0", "--procs", "2", "--report-dir", reports,
                        "-p", "no:xdist", "-q") as proc:
        _wait_for_rows(reports, proc, timeout=60)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert {"nginx", "ffmpeg"} <= names and len(children) >= 5, names  # + 2 viewer procs
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 15
        left = children
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [c for c in left if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, [(c.pid, c.name()) for c in left]
    print(f"\nSIGKILL with --procs 2: {len(children)} child processes "
          f"({', '.join(sorted(names))}) gone by themselves")
