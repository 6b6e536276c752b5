"""The analysis gives the figures of the plain pandas analysis it replaced.

The reference (pandas_oracle.py) is the analysis as it was before the
per-second samples became numpy columns (results/eventlog/columnar.py), media sessions
included (reconnects and republishes, as media_sessions.py had them in pandas).
Compared on event logs of real runs (recorded from the integration tests: an
RTMP join storm on nginx-rtmp, and RTMP and HLS viewers behind a bandwidth
cap, with stalls, lag and errors; nginx restarted mid-run with --reconnect
and --republish, and the publisher killed and republished), on the synthetic
report log, on logs of made-up faults, on a stream with a PROGRAM-DATE-TIME
clock and no publish clock, and on a seed tool log; read both ways (the CSV
reader, and a read_events DataFrame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import load_log, read_log
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.seed_log import read_seed
from tests.support import pandas_oracle
from tests.support.report_logs import seed_rows, synthetic_run
from tests.support.timelines import Timeline

REAL_RUNS = sorted((Path(__file__).parent / "data" / "real_runs").glob("*.csv"))
FAULT_RUNS = sorted((Path(__file__).parent / "data" / "fault_runs").glob("*.csv"))
RTOL = 1e-9  # sums and interpolations in another order: the last bits may differ


def assert_same(ref: pandas_oracle.Analysis, got) -> None:
    want, have = ref.summary(), got.summary()
    assert want.keys() == have.keys()
    for key, value in want.items():
        if isinstance(value, float):
            assert have[key] == pytest.approx(value, rel=RTOL, nan_ok=True), key
        else:
            assert have[key] == value, key
    pd.testing.assert_frame_equal(got.viewers, ref.viewers, check_dtype=False, rtol=RTOL)
    pd.testing.assert_frame_equal(got.timeline, ref.timeline, check_dtype=False, rtol=RTOL)
    pd.testing.assert_frame_equal(got.api, ref.api, check_dtype=False, rtol=RTOL)
    pd.testing.assert_frame_equal(got.api_rows, ref.api_rows, check_dtype=False)
    pd.testing.assert_frame_equal(got.stall_starts.reset_index(drop=True),
                                  ref.stall_starts.reset_index(drop=True), check_dtype=False,
                                  rtol=RTOL)
    samples = got.samples.assign(viewer=got.samples["viewer"].astype(str))
    pd.testing.assert_frame_equal(
        samples.reset_index(drop=True),
        ref.samples[["viewer", "t", "drift_s", "latency_s"]].reset_index(drop=True),
        check_dtype=False, rtol=RTOL)
    assert got.source_kbps == ref.source_kbps


def test_real_runs_are_recorded() -> None:
    assert len(REAL_RUNS) == 3


@pytest.mark.parametrize("path", REAL_RUNS, ids=[p.stem for p in REAL_RUNS])
@pytest.mark.parametrize("lag", [3.0, 0.5])
def test_a_real_runs_figures_are_the_reference_analysis_figures(path: Path, lag: float) -> None:
    ref = pandas_oracle.analyse(read_events(path), lag_threshold_s=lag, planned=40)
    assert_same(ref, analyse(read_log(path), lag_threshold_s=lag, planned=40))
    assert_same(ref, analyse(read_events(path), lag_threshold_s=lag, planned=40))


def test_the_real_runs_exercise_stalls_lag_errors_and_hls() -> None:
    figures = [pandas_oracle.analyse(read_events(p)).summary() for p in REAL_RUNS]
    assert sum(f["stalls"] for f in figures) > 10
    assert sum(f["viewers_lagged"] for f in figures) > 0
    assert sum(f["viewer_errors"] for f in figures) > 0
    assert any("hls" in set(read_events(p)["name"]) for p in REAL_RUNS)


def test_the_synthetic_report_logs_figures_are_the_reference_figures() -> None:
    df = synthetic_run().frame()
    assert_same(pandas_oracle.analyse(df), analyse(df))


def test_latency_from_program_date_time_without_a_publish_clock() -> None:
    tl = Timeline()
    tl.viewer("fan0", play_at=10.0, seconds=20, stall_at=5, stall_s=3)
    tl.viewer("fan1", play_at=10.5, seconds=20)
    for r in [r for r in tl.rows if r.event == ev.SAMPLE_MEDIA_TS and r.viewer == "fan0"]:
        tl.add(r.t, "fan0", ev.SAMPLE_CAPTURE_T, "", r.t - 4.5)
    df = tl.frame()
    ref = pandas_oracle.analyse(df)
    assert ref.info["latency_basis"] == "program date time"
    assert ref.viewers["latency_s"].notna().sum() == 1
    assert_same(ref, analyse(df))


def test_a_seed_logs_figures_are_the_reference_figures(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("\n".join(",".join(r) for r in seed_rows()) + "\n")
    ref = pandas_oracle.analyse(read_seed(path), source_kbps_override=1000.0)
    assert_same(ref, analyse(load_log(path), source_kbps_override=1000.0))


def test_an_empty_log_analyses_as_the_reference_does(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(",".join(ev.COLUMNS) + "\n")
    ref = pandas_oracle.analyse(read_events(path))
    got = analyse(read_log(path))
    assert got.summary() == ref.summary()
    assert got.viewers.empty and got.timeline.empty


def test_rows_out_of_time_order_within_a_viewer_are_sorted_as_the_reference_sorts() -> None:
    tl = Timeline(t0=0.0)
    tl.viewer("fan0", play_at=10.0, seconds=12, stall_at=4, stall_s=2)
    tl.viewer("fan1", play_at=10.2, seconds=12, rate=0.9)
    samples = [i for i, r in enumerate(tl.rows) if r.event in (ev.SAMPLE_MEDIA_TS,
                                                                ev.SAMPLE_BYTES)]
    rng = np.random.default_rng(3)
    shuffled = [tl.rows[i] for i in rng.permutation(samples)]
    for i, row in zip(samples, shuffled, strict=True):
        tl.rows[i] = row
    df = tl.frame()
    assert_same(pandas_oracle.analyse(df), analyse(df))


@pytest.mark.parametrize("path", REAL_RUNS, ids=[p.stem for p in REAL_RUNS])
def test_a_real_runs_sla_checks_are_those_of_the_reference_analysis(path: Path) -> None:
    from streamperf.results.judging.judge import Basis, check_records, judge, rules

    basis = Basis(rules=tuple(rules(("--sla", ["p95(drift_s) < 0.5", "max(lagged) < 1",
                                                "p50(latency_s) < 1", "mean(lagged_pct) < 1"]))),
                  grace_s=4.0, lag_threshold_s=1.0, planned=40)
    df = read_events(path)
    want = check_records(judge(pandas_oracle.analyse(df, 1.0, planned=40), basis), basis)
    got = check_records(judge(analyse(read_log(path), 1.0, planned=40), basis), basis)
    assert [r["worst"] for r in got] == [r["worst"] for r in want]
    assert [r["passed"] for r in got] == [r["passed"] for r in want]
    # None: no data (the LL-HLS defaults: these runs have no LL-HLS viewers)
    assert [r["measured"] is None for r in got] == [r["measured"] is None for r in want]
    assert [r["measured"] for r in got if r["measured"] is not None] == pytest.approx(
        [r["measured"] for r in want if r["measured"] is not None], rel=RTOL, nan_ok=True)
    assert any(not r["passed"] for r in got)


@pytest.mark.parametrize("chunk", [1, 37])
def test_the_figures_do_not_depend_on_how_many_rows_a_step_takes(monkeypatch, chunk) -> None:
    from streamperf.results.analysis import timeline

    monkeypatch.setattr(timeline, "CHUNK", chunk)  # many windows of seconds, many chunks
    path = REAL_RUNS[0]
    assert_same(pandas_oracle.analyse(read_events(path)), analyse(read_log(path)))


def test_fault_runs_are_recorded() -> None:
    assert [p.stem for p in FAULT_RUNS] == ["nginx_restart", "publisher_killed"]


@pytest.mark.parametrize("path", FAULT_RUNS, ids=[p.stem for p in FAULT_RUNS])
@pytest.mark.parametrize("lag", [3.0, 0.5])
def test_a_fault_runs_figures_are_the_reference_analysis_figures(path: Path,
                                                                 lag: float) -> None:
    ref = pandas_oracle.analyse(read_events(path), lag_threshold_s=lag, planned=3)
    # The faults are in there: reconnects, a republished publisher, a clock going back.
    assert ref.summary()["publisher_restarts"] == 1
    assert_same(ref, analyse(read_log(path), lag_threshold_s=lag, planned=3))
    assert_same(ref, analyse(read_events(path), lag_threshold_s=lag, planned=3))


def faulty_timeline(seed: int) -> Timeline:
    """Viewers whose media clock breaks every way media_sessions.py knows: reconnects
    (before the first sample, between samples, at a sample's very time, after the
    last), clocks stepping back (a republish) or a little (reordering), new first
    frames after a reconnect or none, and the publisher restarted twice."""
    rng = np.random.default_rng(seed)
    tl = Timeline(t0=85.0)
    tl.add(140.0, "", ev.PUBLISH_START, "rtmp://x/live/s", 139.5, "republish")
    tl.add(170.0, "", ev.PUBLISH_START, "rtmp://x/live/s", 169.0, "republish")
    for i in range(12):
        name = f"fan{i}"
        tl.viewer(name, play_at=100 + i * 0.3, seconds=int(rng.integers(30, 80)),
                  stall_at=int(rng.integers(2, 10)), stall_s=int(rng.integers(0, 4)))
        media = [r for r in tl.rows if r.viewer == name and r.event == ev.SAMPLE_MEDIA_TS]
        times = [r.t for r in media]
        for _ in range(int(rng.integers(0, 4))):  # reconnects, a new first frame or not
            t = float(rng.choice(times)) + float(rng.choice([0.0, -0.5, 0.3, -200.0, 500.0]))
            tl.add(t, name, ev.RECONNECT, "rtmp", 1.0)
            if rng.random() < 0.6:
                first = t + float(rng.choice([0.2, 0.7, 2.5]))
                tl.add(first, name, ev.FIRST_AUDIO, "", float(rng.uniform(0, 60)))
                tl.add(first, name, ev.FIRST_VIDEO, "", float(rng.uniform(0, 60)))
        if rng.random() < 0.5:  # the clock starts again, or steps back a little
            cut = int(rng.integers(1, len(media)))
            drop = float(rng.choice([0.5, 1.0, 30.0, 60.0]))
            for j in range(cut, len(media)):
                r = media[j]
                tl.rows[tl.rows.index(r)] = r._replace(value=r.value - drop)
    return tl


@pytest.mark.parametrize("seed", range(6))
def test_made_up_faults_give_the_reference_figures(seed: int) -> None:
    df = faulty_timeline(seed).frame()
    ref = pandas_oracle.analyse(df, lag_threshold_s=2.0)
    assert_same(ref, analyse(df, lag_threshold_s=2.0))


@pytest.mark.parametrize("chunk", [1, 50])
def test_sessions_do_not_depend_on_how_many_rows_a_batch_takes(monkeypatch, chunk) -> None:
    from streamperf.results.analysis import media_sessions

    monkeypatch.setattr(media_sessions, "CHUNK", chunk)
    df = faulty_timeline(1).frame()
    assert_same(pandas_oracle.analyse(df), analyse(df))
    path = FAULT_RUNS[0]
    assert_same(pandas_oracle.analyse(read_events(path)), analyse(read_log(path)))


def test_media_samples_give_the_stitched_media_of_the_reference() -> None:
    from streamperf.results.analysis.figures import media_samples

    df = faulty_timeline(2).frame()
    ref = pandas_oracle.media_samples(df, pandas_oracle.publish_t0(df),
                                        pandas_oracle.publish_clock(df))
    got = media_samples(df)
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(got.assign(viewer=got["viewer"].astype(str)),
                                  ref.reset_index(drop=True), check_dtype=False, rtol=RTOL)
