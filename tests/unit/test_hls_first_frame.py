"""An HLS viewer's first frame is its first segment whole, as a player's is.

hls.js (and a native player) appends whole segments, so nothing shows before the
first one is in: the viewer's `first_video` row, and the media time the shard
samples, wait for it. A real recording of nginx-rtmp's first segment head
(tests/data), padded and sent in two parts a second apart, over loopback.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp import web

from streamperf.viewers.base import FIRST_AUDIO, FIRST_VIDEO
from streamperf.viewers.hls.viewer import HlsViewer
from tests.support.loopback_servers import serving

DATA = Path(__file__).resolve().parents[1] / "data"
TS_HEAD = (DATA / "nginx_first_segment_head.ts").read_bytes()
PACKETS = 200  # null TS packets after the head: the segment's rest
BODY = TS_HEAD + (b"\x47\x1f\xff\x10" + b"\xff" * 184) * PACKETS
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nseg0.ts\n"
PAUSE_S = 1.0


def test_first_video_waits_for_the_first_segment_whole() -> None:
    seen: list[tuple[float, str]] = []
    sampled: list[tuple[float, int]] = []
    sent_all: list[float] = []

    async def segment(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await resp.prepare(request)
        await resp.write(BODY[:len(TS_HEAD)])  # the head: PTS known, the frame not whole
        await asyncio.sleep(PAUSE_S)
        sent_all.append(time.time())
        await resp.write(BODY[len(TS_HEAD):])
        return resp

    async def playlist(request: web.Request) -> web.Response:
        return web.Response(text=PLAYLIST)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/live.m3u8", playlist)
        app.router.add_get("/seg0.ts", segment)
        async with serving(app) as base:
            v = HlsViewer(f"{base}/live.m3u8", lambda e, n, val, d: seen.append((time.time(), e)))
            task = asyncio.ensure_future(v.run(2.5))
            while not task.done():
                sampled.append((time.time(), v.media_ts_ms))
                await asyncio.sleep(0.1)
            await task

    asyncio.run(main())
    firsts = {e: t for t, e in seen if e in (FIRST_VIDEO, FIRST_AUDIO)}
    assert set(firsts) == {FIRST_VIDEO, FIRST_AUDIO}, seen
    assert sent_all and firsts[FIRST_VIDEO] >= sent_all[0], (firsts, sent_all)
    # while the head sat there, the shard's sampler saw no media yet: nothing played
    waiting = [ts for t, ts in sampled if t < sent_all[0] - 0.2]
    assert waiting and all(ts == -1 for ts in waiting), sampled
    assert sampled[-1][1] >= 0, sampled
