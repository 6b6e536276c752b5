"""RtmpViewer against a real nginx-rtmp fed by a real ffmpeg publisher."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from streamperf.media.publisher import Publisher
from streamperf.media.server import MediaServer, free_port
from streamperf.results.eventlog.schema import FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR
from streamperf.viewers.rtmp.viewer import RtmpViewer
from tests.support.loops import RunLoop, run
from tests.support.viewer_events import Events
from tests.support.viewer_runs import seconds_to_end_after_stop

pytestmark = [pytest.mark.integration, pytest.mark.realtime]


def test_plays_at_the_source_rate(
    published_stream: tuple[MediaServer, Publisher], source_kbps: float, run_loop: RunLoop
) -> None:
    server, pub = published_stream
    events = Events()
    samples: list[tuple[float, int, int]] = []  # wall, bytes, media ts

    async def main() -> RtmpViewer:
        v = RtmpViewer(server.rtmp_url("test"), events)
        task = asyncio.ensure_future(v.run(6.5))
        for _ in range(6):
            await asyncio.sleep(1.0)
            samples.append((time.time(), v.bytes_received, v.media_ts_ms))
        await task
        return v

    v = run_loop(main())
    assert isinstance(v, RtmpViewer)
    assert not events.of(VIEWER_ERROR), events
    assert len(events.of(FIRST_VIDEO)) == 1 and len(events.of(FIRST_AUDIO)) == 1
    # startup: video begins at the next key frame, within one 2 s GOP (+ slack)
    assert v.first_video_wall is not None and v.play_requested_wall is not None
    assert 0 < v.first_video_wall - v.play_requested_wall < 3.0
    # from 2 s on (video flowing): bytes and media time move with the source
    (w0, b0, ts0), (w1, b1, ts1) = samples[1], samples[-1]
    kbps = (b1 - b0) * 8 / 1000 / (w1 - w0)
    assert kbps == pytest.approx(source_kbps, rel=0.15)
    assert (ts1 - ts0) / 1000 == pytest.approx(w1 - w0, abs=0.4)
    # nginx passes publisher timestamps through: latency = now - (T0 + ts) is small
    assert pub.t0 is not None
    latency = w1 - (pub.t0 + ts1 / 1000)
    assert -0.3 < latency < 1.5
    # the bitrate estimate sized SO_RCVLOWAT for <= 200 ms of media
    assert v.lowat_kbps == pytest.approx(source_kbps, rel=0.35)
    assert 0 < v.read_delay_bound_s <= 0.2 + 1e-9


def test_unknown_stream_name_waits_without_media(
    published_stream: tuple[MediaServer, Publisher],
) -> None:
    # nginx-rtmp (idle_streams on, the default) answers NetStream.Play.Start for
    # any name and then just sends nothing until someone publishes it.
    server, _ = published_stream
    events = Events()
    seen_playing: list[bool] = []

    async def main() -> RtmpViewer:
        v = RtmpViewer(server.rtmp_url("no-such-stream"), events)
        task = asyncio.ensure_future(v.run(3.0))
        await asyncio.sleep(2.0)
        seen_playing.append(v.playing)
        await task
        return v

    v = run(main())
    assert isinstance(v, RtmpViewer)
    assert seen_playing == [True]
    assert events == []  # no frames, and no error either: the analysis sees no FIRST_VIDEO
    assert v.media_ts_ms == -1 and v.first_video_wall is None
    assert v.bytes_received < 4000  # handshake + connect/play replies only


def test_closed_port_is_a_connect_error() -> None:
    events = Events()
    url = f"rtmp://127.0.0.1:{free_port()}/live/test"
    run(RtmpViewer(url, events).run(3.0))
    assert [(e[0], e[1]) for e in events] == [(VIEWER_ERROR, "connect")]
    assert events[0][3].startswith(url) and "refused" in events[0][3]


def test_server_stopping_mid_play_is_a_disconnect(clip: Path, tmp_path: Path) -> None:
    events = Events()
    with MediaServer(tmp_path / "srv", hls=False) as server:
        pub = Publisher(clip, server.ingest_url("gone"), tmp_path / "pub")
        try:
            pub.start(ready=lambda: server.is_publishing("gone"))

            took = run(seconds_to_end_after_stop(
                lambda: RtmpViewer(server.rtmp_url("gone"), events), 20.0,
                lambda v: v.bytes_received > 50_000 and v.error is None, server.stop))
        finally:
            pub.stop()
    assert isinstance(took, float) and took < 10
    assert [(e[0], e[1]) for e in events if e[0] == VIEWER_ERROR] == [(VIEWER_ERROR, "disconnect")]
    detail = events.of(VIEWER_ERROR)[0][3]
    assert detail.startswith(server.rtmp_url("gone")) and "closed" in detail


def test_fifty_viewers_in_one_loop_all_get_media(
    published_stream: tuple[MediaServer, Publisher], source_kbps: float, run_loop: RunLoop
) -> None:
    server, _ = published_stream
    events: list[Events] = [Events() for _ in range(50)]

    async def main() -> list[RtmpViewer]:
        viewers = [RtmpViewer(server.rtmp_url("test"), ev) for ev in events]
        await asyncio.gather(*(v.run(5.0) for v in viewers))
        return viewers

    viewers = run_loop(main())
    assert isinstance(viewers, list)
    assert all(not ev.of(VIEWER_ERROR) for ev in events)
    assert all(len(ev.of(FIRST_VIDEO)) == 1 for ev in events)
    # every one got at least ~2.5 s of media at the source rate
    assert min(v.bytes_received for v in viewers) > source_kbps * 1000 / 8 * 2.5
    assert max(v.media_ts_ms for v in viewers) - min(v.media_ts_ms for v in viewers) < 1000
