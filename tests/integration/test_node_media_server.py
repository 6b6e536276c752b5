"""RTMP and HTTP-FLV viewers against node-media-server, a server whose config we did not write.

ffmpeg publishes the cached synthetic clip over RTMP; the RTMP viewer and
the HTTP-FLV viewer each play it for ~10 s and must get it at full rate.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from streamperf.media.publisher import Publisher
from streamperf.results.eventlog.schema import FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR
from streamperf.viewers import ViewerFactory
from tests.support.node_media_server import NodeMediaServer
from tests.support.viewer_events import Events

from .conftest import STREAM

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

PLAY_S = 11.0


@pytest.mark.parametrize("protocol", ["rtmp", "flv"])
def test_viewer_plays_node_media_server_at_full_rate(
    nms_stream: tuple[NodeMediaServer, Publisher], source_kbps: float, protocol: str
) -> None:
    nms, pub = nms_stream
    urls = nms.urls(STREAM)
    url = urls.rtmp if protocol == "rtmp" else urls.flv
    events = Events()
    samples: list[tuple[float, int, int]] = []  # wall, bytes, media ts

    async def main() -> tuple[float, float | None]:
        factory = ViewerFactory()
        v = factory(protocol, url, events)
        asked = time.time()
        task = asyncio.ensure_future(v.run(PLAY_S))
        for _ in range(int(PLAY_S) - 1):
            await asyncio.sleep(1.0)
            samples.append((time.time(), v.bytes_received, v.media_ts_ms))
        await task
        await factory.aclose()
        return asked, getattr(v, "first_video_wall", None)

    asked, first_video_wall = asyncio.run(main())
    assert not events.of(VIEWER_ERROR), events
    assert len(events.of(FIRST_VIDEO)) == 1 and len(events.of(FIRST_AUDIO)) == 1
    assert first_video_wall is not None and 0 < first_video_wall - asked < 3.0
    # from 2 s on: bytes and media time move with the source
    (w0, b0, ts0), (w1, b1, ts1) = samples[1], samples[-1]
    kbps = (b1 - b0) * 8 / 1000 / (w1 - w0)
    assert kbps == pytest.approx(source_kbps, rel=0.06), (protocol, kbps, source_kbps)
    assert (ts1 - ts0) / 1000 == pytest.approx(w1 - w0, abs=0.5)
    # NMS passes the publisher's timestamps through (no per-player rebase), so
    # latency = now - (T0 + ts) is measurable and small, as with nginx-rtmp
    assert pub.t0 is not None
    latency = w1 - (pub.t0 + ts1 / 1000)
    assert -0.5 < latency < 2.0, latency


def test_flv_viewer_of_a_stream_nobody_publishes_gets_no_media_and_no_exception(
    node_media_server: NodeMediaServer,
) -> None:
    events = Events()
    v = ViewerFactory()("flv", node_media_server.urls("nobody").flv, events)
    asyncio.run(v.run(2.0))
    # NMS answers 200 and waits for a publisher: the viewer plays nothing and ends cleanly
    assert not events.of(FIRST_VIDEO) and v.media_ts_ms == -1
    assert not events.of(VIEWER_ERROR), events
