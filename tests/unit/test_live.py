from __future__ import annotations

from streamperf.results import events as ev
from streamperf.results.events import Event
from streamperf.results.live import LiveStats
from streamperf.results.terminal import progress_line


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
