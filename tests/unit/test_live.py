from __future__ import annotations

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.report.live import LiveStats
from streamperf.results.report.terminal import progress_line
from tests.support.ladder_log import T0, ladder_rows


def row(t, viewer, event, value=0.0, status=""):
    return Event(t, "h", viewer, event, "", value, status, "")


def test_progress_counts_playing_lagged_and_errors():
    live = LiveStats(target=3, lag_threshold_s=3.0)
    live.consume([
        row(10.0, "a", ev.PLAY), row(10.0, "b", ev.PLAY),
        row(10.5, "a", ev.FIRST_AUDIO, 0.0), row(10.5, "b", ev.FIRST_AUDIO, 0.0),
        row(10.0, "c", ev.API, 0.2, "timeout"), row(10.0, "a", ev.API, 0.1, "200"),
        row(20.5, "a", ev.SAMPLE_MEDIA_TS, 10.0),  # on time
        row(20.5, "b", ev.SAMPLE_MEDIA_TS, 5.0),  # 5 s behind
        row(20.5, "a", ev.SAMPLE_BYTES, 125000), row(20.5, "b", ev.SAMPLE_BYTES, 62500),
    ])
    p = live.snapshot(now=21.2)
    assert (p.playing, p.with_media, p.lagged) == (2, 2, 1)
    assert p.mean_kbps == 750.0
    assert (p.api_calls, p.api_errors) == (2, 1)
    live.consume([row(21.0, "b", ev.SAMPLE_MEDIA_TS, 10.4), row(22.0, "b", ev.PLAY_END)])
    p = live.snapshot(now=22.5)
    assert (p.playing, p.lagged, p.done) == (1, 0, 1)
    assert "viewers 1/3" in progress_line(p)


def test_live_view_figures_hosts_api_rate_and_run_rows():
    from streamperf.results.report.live import render_view

    live = LiveStats(target=0)
    live.consume([
        Event(100.0, "g1", "", ev.RUN_START, "t[x]", 0, "0.1.0", '{"users": 4, "ramp_s": 0.1'),
        Event(100.0, "g1", "", ev.SOURCE, "bitrate_kbps", 1000.0),
        Event(101.0, "g1", "a", ev.PLAY, "rtmp"), Event(101.0, "g2", "b", ev.PLAY, "rtmp"),
        Event(101.2, "g1", "a", ev.API, "POST /x", 0.1, "200"),
        Event(102.5, "g2", "b", ev.API, "POST /x", 5.0, "timeout"),
        Event(102.0, "g1", "", ev.HOST_SAMPLE, "net_in_bytes", 1e6),
        Event(104.0, "g1", "", ev.HOST_SAMPLE, "net_in_bytes", 2e6),  # 2 s later: 8 Mbit/s
        Event(104.0, "g1", "", ev.HOST_SAMPLE, "cpu_pct", 42.0),
    ])
    assert (live.target, live.run_name, live.started, live.source_kbps) == (4, "t[x]", 100.0,
                                                                             1000.0)
    p = live.snapshot(now=106.0)
    assert (p.api_calls, p.api_errors, p.api_timeouts) == (2, 1, 1)
    assert p.api_per_s == 2 / 5  # two calls in the last 5 complete seconds
    g1, g2 = p.hosts
    assert (g1.host, g1.playing, g1.cpu_pct, g1.net_in_mbps) == ("g1", 1, 42.0, 8.0)
    assert (g2.host, g2.playing, g2.cpu_pct) == ("g2", 1, None)
    assert live.end_reason is None
    live.consume([Event(107.0, "g1", "", ev.RUN_END, "done")])
    view = render_view(live.snapshot(now=107.0), live)
    assert "[ended: done]" in view and "0/4 sessions established" in view
    assert "timeouts 1" in view and "g2" in view


def test_end_of_run_text_from_a_summary_json():
    from streamperf.results.report.terminal import run_summary_lines

    metrics = {"viewers_with_media": 18, "viewers_planned": 20, "startup_p50_s": 0.5,
               "startup_p95_s": 1.25, "viewers_lagged": 2, "max_drift_s": 4.0,
               "stalls": 1, "viewers_with_stalls": 1, "mean_kbps": 990.0,
               "source_kbps": 1065.9, "min_bitrate_ratio": 0.5, "min_media_s": 3.0,
               "viewer_errors": 10, "disconnects": 0, "api_calls": 140, "api_errors": 0,
               "run_dir": "reports/x"}
    text = run_summary_lines({
        "name": "steady", "metrics": metrics, "settings": {"lag_threshold_s": 5.0},
        "verdict": {"word": "FAIL", "breaches": [
            {"check": "count(errors) == 0", "measured": "10", "limit": "== 0"}]},
        "lost_hosts": {"10.0.0.6:22": "worker process exited (connection lost)"}})
    lines = text.splitlines()
    assert lines[0] == "streamperf steady: FAIL (1 breached)"
    assert "  lagged (drift > 5 s)" in text and "18 / 20" in text
    assert "  ! count(errors) == 0: measured 10, limit == 0" in lines
    assert lines[-1] == ("  lost load generators: 10.0.0.6:22 (worker process exited "
                         "(connection lost))")
    assert "INVALID" not in text
    invalid = run_summary_lines({"name": "x", "metrics": metrics, "verdict": {
        "word": "INVALID", "invalid": "publisher died"}})
    # One word: never PASS above an INVALID RUN line.
    assert invalid.splitlines()[0] == "streamperf x: INVALID" and "PASS" not in invalid
    assert "INVALID RUN: publisher died" in invalid


def test_the_progress_line_and_the_live_view_show_the_playing_viewers_rendition_shares():
    """tests/support/ladder_log.py's run: three ladder viewers (hls2 on 480p from 8 s to
    16 s, dash1 on 240p from 10 s) and an RTMP viewer, which holds no rendition."""
    from streamperf.results.report.live import render_view

    rows = ladder_rows()
    live = LiveStats(target=4)

    def at(since_t0: float) -> str:
        live.consume([r for r in rows if live.last_t < r.t <= T0 + since_t0])
        return progress_line(live.snapshot(now=T0 + since_t0))

    assert "renditions 720p 67% 480p 33%  api errors" in at(5.0)
    line = at(12.5)
    assert "renditions 720p 33% 480p 33% 240p 33%" in line
    assert live.snapshot(now=T0 + 12.5).renditions == (
        ("720p", 1 / 3), ("480p", 1 / 3), ("240p", 1 / 3))  # highest bitrate first
    assert "renditions 720p 67% 240p 33%" in at(17.0)
    view = render_view(live.snapshot(now=T0 + 17.0), live)
    assert "Renditions   720p 67% 240p 33%   (of 3 viewers on a ladder)" in view.splitlines()
    assert "renditions" not in at(30.0)  # every viewer done: nobody holds one
    plain = LiveStats(target=4)
    plain.consume([r for r in ladder_rows(ladder=False) if r.t <= T0 + 12.5])
    assert plain.snapshot(now=T0 + 12.5).playing == 4
    assert "renditions" not in progress_line(plain.snapshot(now=T0 + 12.5))
    assert "Renditions" not in render_view(plain.snapshot(now=T0 + 12.5), plain)
