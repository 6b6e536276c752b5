"""Whole runs against the bundled platform, real nginx-rtmp and ffmpeg.

These prove the verdict catches what it must: a bandwidth cap below the
stream's bitrate fails naming lag; nginx stopped mid-run fails naming the
disconnects, with the event log kept.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamperf.results.eventlog.rows import read_events
from streamperf.session import StreamperfSession
from streamperf.settings import RunSettings
from tests.support.schedule import at_times

pytestmark = pytest.mark.realtime


def _session(reports: Path, **settings: object) -> StreamperfSession:
    # No test here reads the lone viewer's latency: skip its 5 s.
    return StreamperfSession(RunSettings(report_dir=str(reports), calibration_s=0.0,
                                         **settings))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamperfSession]:
    """One platform, nginx and publisher for the tests that leave them as they were."""
    s = _session(tmp_path_factory.mktemp("reports"))
    yield s
    s.close()


@pytest.fixture
def own_session(tmp_path: Path) -> Iterator[StreamperfSession]:
    """For tests that stop nginx or kill the publisher."""
    s = _session(tmp_path / "reports")
    yield s
    s.close()


def test_small_run_passes_and_logs_everything(session):
    stream = session.stream()
    outcome = session.run_load("small", {"users": 6, "ramp_s": 0.2, "duration_s": 12.0}, stream)
    assert outcome.passed, outcome.message()
    s = outcome.analysis.summary()
    assert s["viewers_with_media"] == 6
    assert s["min_media_s"] >= 10.0
    assert abs(s["mean_kbps"] / s["source_kbps"] - 1) < 0.1
    df = read_events(outcome.events_path)
    # Journey calls of every fan and the influencer's set-up calls are logged.
    api = df[df["event"] == "api"]
    assert (api.groupby("name").size()[["POST /api/v1/fans/sign_in",
                                        "POST /streams/{I}/watchers"]] == 6).all()
    assert (api["viewer"] == "influencer").any()
    assert (outcome.run_dir.parent / "latest").resolve() == outcome.run_dir.resolve()
    assert (outcome.run_dir / "summary.json").is_file()


def test_bandwidth_below_bitrate_fails_naming_lag(session, capped_port):
    stream = session.stream()
    media = session.platform().media
    users = 4
    # Half of what the viewers need together: each gets about half the bitrate.
    capped_port(media.rtmp_port, int(users * stream.source.bitrate_kbps / 2))
    outcome = session.run_load("capped", {"users": users, "ramp_s": 0.1, "duration_s": 20.0},
                               stream)
    assert not outcome.passed
    message = outcome.message()
    assert "max(lagged) == 0: measured 4 after the first" in message, message
    assert "min(bitrate_ratio) >= 0.9: measured 0." in message, message
    # The cap halves what they get together; TCP shares it unevenly between them, so
    # each is over the lag threshold and on average well over it.
    drift = outcome.analysis.viewers["max_drift_s"]
    assert drift.min() > outcome.analysis.lag_threshold_s and drift.mean() > 5.0, drift


def test_nginx_stopped_mid_run_fails_naming_disconnects(own_session):
    session = own_session
    stream = session.stream()
    media = session.platform().media
    with at_times((6.0, media.stop)):
        outcome = session.run_load("nginx-stop", {"users": 5, "ramp_s": 0.1,
                                                  "duration_s": 15.0}, stream)
    assert not outcome.passed
    message = outcome.message()
    assert "count(errors) == 0: measured 5," in message, message
    assert message.count("(1, disconnect: rtmp://127.0.0.1:") == 5, message
    df = read_events(outcome.events_path)
    # Rows from before the stop are all kept: about 5 s of samples for each viewer.
    samples = df[df["event"] == "bytes"].groupby("viewer").size()
    assert len(samples) == 5 and samples.min() >= 4
    assert (df["event"] == "run_end").any()


def test_publisher_death_makes_the_run_invalid_and_keeps_its_log(own_session):
    session = own_session
    stream = session.stream()
    with at_times((4.0, lambda: os.kill(stream.publisher.pid, signal.SIGKILL))):
        outcome = session.run_load("ffmpeg-dies", {"users": 3, "ramp_s": 0.1,
                                                   "duration_s": 10.0}, stream)
    assert outcome.invalid is not None and "publisher died" in outcome.invalid
    assert not outcome.passed
    log = outcome.run_dir / "publisher.log"
    assert log.is_file() and log.stat().st_size > 0
    df = read_events(outcome.events_path)
    exit_rows = df[df["event"] == "publisher_exit"]
    assert len(exit_rows) == 1 and exit_rows["value"].iloc[0] == -signal.SIGKILL
    # Seen within about a second of the kill, not only at the end of the run.
    run_start = df.loc[df["event"] == "run_start", "t"].iloc[0]
    assert exit_rows["t"].iloc[0] - run_start < 8.0


def test_procs_split_viewers_over_processes_into_one_log(session):
    outcome = session.run_load("procs", {"users": 4, "ramp_s": 0.1, "duration_s": 8.0,
                                         "procs": "2"}, session.stream())
    assert outcome.passed, outcome.message()
    hosts = outcome.summary["hosts"]
    assert {h: f["viewers"] for h, f in hosts.items() if "viewers" in f} == {"proc-0": 2,
                                                                            "proc-1": 2}
    # The controller is sampled too (publisher, platform, row writer), under its own name.
    controller = set(hosts) - {"proc-0", "proc-1"}
    assert len(controller) == 1 and "cpu_pct_max" in hosts[controller.pop()]
    df = read_events(outcome.events_path)
    assert (df["event"] == "run_end").sum() == 1  # one log, written by the controller
