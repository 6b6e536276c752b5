from __future__ import annotations

from dataclasses import replace

import pytest

from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.judging.sla import DEFAULT_SLA, breaches
from streamperf.results.judging.sla import evaluate as evaluate_sla
from tests.support.timelines import KBPS, Timeline


def evaluate(a):
    """The default SLA's breaches (results/judging/sla.py), as a run without a grace window;
    a check over what the run has none of (LL-HLS: Check.absent) is the judge's not
    applicable, never a breach."""
    return breaches(c for c in evaluate_sla(a, DEFAULT_SLA) if not c.absent)


def by_viewer(a):
    return a.viewers.set_index("viewer")


def test_steady_stream_passes_with_exact_figures():
    tl = Timeline(t0=85.0)
    for i in range(3):
        tl.viewer(f"fan{i}", play_at=100 + i, seconds=60)
    a = analyse(tl.frame(), lag_threshold_s=3.0)
    v = by_viewer(a)
    assert v["startup_s"].tolist() == pytest.approx([0.5] * 3)
    assert v["media_s"].tolist() == pytest.approx([60.0] * 3)
    assert v["watched_s"].tolist() == pytest.approx([60.0] * 3)
    assert v["mean_kbps"].tolist() == pytest.approx([KBPS] * 3)
    assert v["bitrate_ratio"].tolist() == pytest.approx([1.0] * 3)
    assert v["max_drift_s"].max() == pytest.approx(0.0)
    assert a.summary()["viewers_lagged"] == 0
    # Joined at 100+i, media ts 15 arrives at 100.5+i and stays on pace: T0 + 15 = 100.
    assert v["latency_s"].tolist() == pytest.approx([0.5, 1.5, 2.5])
    assert v["stalls"].tolist() == [0, 0, 0]
    p50 = a.timeline["p50_kbps"].dropna().tolist()
    assert p50 and p50 == pytest.approx([KBPS] * len(p50))
    assert evaluate(a) == []


def test_one_four_second_stall_lags_that_viewer_for_its_duration():
    tl = Timeline()
    tl.viewer("ok", play_at=100, seconds=30)
    tl.viewer("stuck", play_at=100, seconds=30, stall_at=10, stall_s=4)
    a = analyse(tl.frame(), lag_threshold_s=3.0)
    v = by_viewer(a)
    # Media frozen for 4 s: drift climbs to 4 s and stays (live media is not caught up).
    assert v.loc["stuck", "max_drift_s"] == pytest.approx(4.0)
    assert v.loc["stuck", "media_s"] == pytest.approx(26.0)
    # Drift exceeds 3 s from the 4th frozen second (t=+14) to the end (t=+30): 17 samples.
    assert v.loc["stuck", "lagged_s"] == 17
    assert v.loc["ok", "lagged_s"] == 0
    assert (v.loc["stuck", "stalls"], v.loc["ok", "stalls"]) == (1, 0)
    assert v.loc["stuck", "stall_s"] == pytest.approx(4.0)
    assert a.summary()["viewers_with_stalls"] == 1
    lagged = a.timeline.set_index("second")["lagged"]
    assert lagged.max() == 1
    breaches = evaluate(a)
    assert breaches[0].check == "max(lagged) == 0"
    assert "stuck (drift 4.0 s, 17 s lagged)" in str(breaches[0])
    assert "measured 1," in str(breaches[0])


def test_slow_start_breaches_p95_startup_naming_the_viewer():
    tl = Timeline()
    for i in range(19):
        tl.viewer(f"fan{i}", play_at=100, seconds=10)
    tl.viewer("slow", play_at=100, seconds=10, startup=8.0)
    a = analyse(tl.frame())
    s = a.summary()
    # 20 values, 19 at 0.5 and one at 8.0: numpy's p95 interpolates 0.5 + 0.05*7.5.
    assert s["startup_p95_s"] == pytest.approx(0.875)
    assert s["startup_p50_s"] == pytest.approx(0.5)
    tl2 = Timeline()
    for i in range(10):
        tl2.viewer(f"fan{i}", play_at=100, seconds=10, startup=6.0 if i < 2 else 0.5)
    breach = [b for b in evaluate(analyse(tl2.frame())) if "startup" in b.check]
    assert breach and "measured 6 s, limit <= 5 s; worst: fan0 (6 s), fan1 (6 s)" in str(breach[0])


def test_slow_delivery_fails_bitrate_and_lag():
    tl = Timeline()
    tl.viewer("half", play_at=100, seconds=20, rate=0.5)
    a = analyse(tl.frame())
    v = by_viewer(a)
    assert v.loc["half", "mean_kbps"] == pytest.approx(KBPS / 2)
    assert v.loc["half", "max_drift_s"] == pytest.approx(10.0)
    checks = {b.check for b in evaluate(a)}
    assert {"max(lagged) == 0", "min(bitrate_ratio) >= 0.9"} <= checks


def test_disconnect_is_counted_and_named():
    tl = Timeline()
    tl.viewer("cut", play_at=100, seconds=5, end=False)
    tl.add(106, "cut", ev.VIEWER_ERROR, "disconnect", 0, "", "rtmp://127.0.0.1:1935/live/x: EOF")
    tl.add(106, "cut", ev.PLAY_END, "rtmp", 6)
    tl.viewer("fine", play_at=100, seconds=5)
    a = analyse(tl.frame())
    v = by_viewer(a)
    assert v.loc["cut", "disconnects"] == 1
    assert v.loc["cut", "first_error"] == "disconnect: rtmp://127.0.0.1:1935/live/x: EOF"
    text = " ".join(str(b) for b in evaluate(a))
    assert "count(errors) == 0: measured 1" in text and "cut (1, disconnect:" in text


def test_aborted_fan_and_missing_fans_count_as_without_media():
    tl = Timeline()
    tl.viewer("fine", play_at=100, seconds=5)
    tl.add(100, "gone", ev.API, "POST /api/v1/fans", 0.1, "500", "boom")
    tl.add(100, "gone", ev.FAN_ABORT, "sign_in", 0, "", "sign_in: POST ... -> 500")
    a = analyse(tl.frame(), planned=3)
    s = a.summary()
    assert (s["viewers_with_media"], s["viewers_aborted"]) == (1, 1)
    assert s["api_error_rate"] == pytest.approx(0.5)
    msgs = [str(b) for b in evaluate(a)]
    assert any(m.startswith("min(got_media) >= 1: measured 0") and "gone (0, sign_in:" in m
               and "(never started)" in m for m in msgs)
    assert any(m.startswith("rate(api_errors) <= 1%: measured 50% (1 of 2)") for m in msgs)


def test_late_join_at_key_frame_has_no_drift():
    # Joins 15 s into the stream: audio at once, video 1.5 s later at the key frame.
    tl = Timeline()
    tl.add(100.0, "late", ev.PLAY, "rtmp", 0.3)
    tl.add(100.1, "late", ev.FIRST_AUDIO, "", 15.0)
    tl.add(101.6, "late", ev.FIRST_VIDEO, "", 16.5)
    for i in range(1, 11):
        tl.add(100.1 + i, "late", ev.SAMPLE_BYTES, "", 125000)
        tl.add(100.1 + i, "late", ev.SAMPLE_MEDIA_TS, "", 15.0 + i)
    a = analyse(tl.frame())
    v = by_viewer(a)
    assert v.loc["late", "startup_s"] == pytest.approx(1.6)
    assert v.loc["late", "max_drift_s"] == pytest.approx(0.0, abs=1e-9)
    assert v.loc["late", "media_s"] == pytest.approx(10.0)


def test_a_run_cut_short_before_any_viewer_still_gives_a_summary_and_report(tmp_path):
    """Ctrl-C during the first second: only header and influencer rows were logged."""
    from streamperf.results.eventlog.rows import read_events
    from streamperf.results.eventlog.schema import Event
    from streamperf.results.eventlog.writer import EventWriter
    from streamperf.results.judging.judge import judge, log_basis
    from streamperf.results.report.artifacts import write_artifacts

    log = tmp_path / "events.csv"
    w = EventWriter(log)
    w.write_many([Event(100.0, "c", "", ev.RUN_START, "cut", 0, "0.1.0", "{}"),
                  Event(100.0, "c", "", ev.PUBLISH_START, "rtmp://x/live/s", 95.0),
                  Event(100.0, "c", "", ev.SOURCE, "bitrate_kbps", 1066.0),
                  Event(100.1, "c", "influencer", ev.API, "GET /api/v1/influencers/{I}",
                        0.002, "200"),
                  Event(101.0, "c", "", ev.RUN_END, "interrupted")])
    w.close()
    df = read_events(log)
    a = analyse(df, 3.0, planned=20)
    s = a.summary()
    assert (s["viewers_planned"], s["viewers_with_media"]) == (20, 0)
    failed = evaluate(a)
    assert any("got_media" in str(b) for b in failed)
    basis = replace(log_basis(df), planned=20)
    verdict = judge(a, basis)
    assert verdict.word == "INTERRUPTED"  # the run_end row says so
    assert any("got_media" in str(b) for b in verdict.breaches)
    fragment = write_artifacts(tmp_path, "cut", a, df, verdict, {}, {})
    assert (tmp_path / "report.html").stat().st_size > 0 and "INTERRUPTED" in fragment
