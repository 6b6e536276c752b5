"""The LL-HLS origin's HTTP side (llhls/routes.py) over real HTTP, on a store fed real
fragments of its ffmpeg pull as the test goes: blocking reloads, 400s, 503, delta
updates, the preload hint held and served, 404s, storm mode, headers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from streamperf.media.publisher import default_cache_dir, synthetic_clip
from streamperf.media.server import MediaServer
from streamperf.platforms.reference.llhls import routes
from streamperf.platforms.reference.llhls.fragments import Fmp4Reader, Fragment, InitSection
from streamperf.platforms.reference.llhls.origin import Origin
from streamperf.platforms.reference.llhls.store import StreamStore
from tests.support.llhls_media import pulled_fmp4

STREAM = "s_source"


@pytest.fixture(scope="module")
def parsed() -> tuple[InitSection, list[Fragment]]:
    out = Fmp4Reader().feed(pulled_fmp4(synthetic_clip(default_cache_dir())))
    return out[0], out[1:]  # type: ignore[return-value]


class Live:
    """An origin app with one stream whose fragments the test adds."""

    def __init__(self, parsed: tuple[InitSection, list[Fragment]], tmp: Path,
                 storm: bool = False) -> None:
        init, self.fragments = parsed
        # a real MediaServer, never started: the routes only ask the origin for stores
        self.origin = Origin(MediaServer(tmp), tmp, storm=storm)
        self.store = self.origin.streams[STREAM] = StreamStore(STREAM)
        self.store.add_init(init)
        self.next = 0
        self.app = web.Application()
        routes.mount(self.app, self.origin)

    def add(self, count: int = 1) -> None:
        for _ in range(count):
            f = self.fragments[self.next]
            # at the pace of real time (a burst is held back, store.py)
            self.store.add_fragment(f, 1_800_000_000.0 + f.end_s)
            self.next += 1

    def later(self, delay_s: float, count: int = 1) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay_s, self.add, count)


Get = Callable[..., Awaitable[tuple[int, Any, dict[str, str], float]]]


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_a_blocking_reload_is_answered_when_its_part_arrives(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(14)  # segments 0, 1 whole; segment 2 part 0 and 1
        assert live.store.newest == (2, 1)
        async with _serve(live) as get:
            live.later(0.3)
            status, body, headers, waited = await get("index.m3u8", _HLS_msn="2", _HLS_part="2")
            assert status == 200 and 0.25 < waited < 0.5
            assert b'URI="2.2.m4s"' in body
            assert headers["Content-Type"].startswith(routes.PLAYLIST_TYPE)
            assert headers["Access-Control-Allow-Origin"] == "*"
            assert headers["Cache-Control"] == routes.CACHE_BLOCKING
            # a part already there: at once; the segment whole (no _HLS_part): when it is
            status, _, _, waited = await get("index.m3u8", _HLS_msn="2", _HLS_part="0")
            assert status == 200 and waited < 0.1
            live.later(0.2, 3)  # parts 3-5: segment 2 is a GOP, still in progress
            live.later(0.4, 1)  # segment 3 opens: 2 is whole
            status, body, _, waited = await get("index.m3u8", _HLS_msn="2")
            assert status == 200 and 0.35 < waited < 0.6 and b"\n2.m4s\n" in body

    run(go())


def test_what_is_not_a_blocking_reload_is_400(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(14)  # the last whole segment is 1
        async with _serve(live) as get:
            assert (await get("index.m3u8", _HLS_msn="4"))[0] == 400  # 1 + 2 < 4
            assert (await get("index.m3u8", _HLS_part="1"))[0] == 400
            assert (await get("index.m3u8", _HLS_msn="x"))[0] == 400
            assert (await get("index.m3u8", _HLS_msn="2", _HLS_part="-1"))[0] == 400
            status, _, headers, _ = await get("index.m3u8")
            assert status == 200 and headers["Cache-Control"] == routes.CACHE_PLAIN

    run(go())


def test_a_part_that_does_not_come_is_503_after_three_target_durations(
        parsed, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(routes, "BLOCK_TARGETS", 0.15)  # 0.3 s at 2 s segments

    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(14)
        async with _serve(live) as get:
            status, _, headers, waited = await get("index.m3u8", _HLS_msn="3", _HLS_part="0")
            assert status == 503 and 0.25 < waited < 0.5
            assert headers["Access-Control-Allow-Origin"] == "*"

    run(go())


def test_the_preload_hint_is_held_and_served_and_others_ahead_or_gone_are_404(
        parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(14)
        async with _serve(live) as get:
            _, body, _, _ = await get("index.m3u8")
            assert body.decode().rstrip().endswith('URI="2.2.m4s"')
            assert (await get("2.3.m4s"))[0] == 404  # further ahead than the hint
            live.later(0.3)
            status, data, headers, waited = await get("2.2.m4s")
            assert status == 200 and 0.25 < waited < 0.5
            assert data == live.fragments[14].data
            assert headers["Content-Type"] == routes.MEDIA_TYPE
            assert headers["Cache-Control"] == routes.CACHE_MEDIA
            status, data, _, _ = await get("1.m4s")
            assert status == 200 and data == b"".join(f.data for f in live.fragments[6:12])
            assert (await get("2.m4s"))[0] == 404  # in progress: not whole yet
            status, data, _, _ = await get("init-0.mp4")
            assert status == 200 and data[4:8] == b"ftyp"
            assert (await get("init.mp4"))[1] == data
            assert (await get("init-1.mp4"))[0] == 404
            live.add(len(live.fragments) - live.next)  # 28 s: segment 0 left the 24 s window
            assert (await get("0.0.m4s"))[0] == 404 and (await get("0.m4s"))[0] == 404
            assert (await get("nothing.txt"))[0] == 404

    run(go())


def test_a_delta_update_is_answered_to_skip_yes(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(80)
        async with _serve(live) as get:
            _, body, _, _ = await get("index.m3u8", _HLS_skip="YES")
            assert b"#EXT-X-SKIP:SKIPPED-SEGMENTS=" in body
            _, full, _, _ = await get("index.m3u8")
            assert b"#EXT-X-SKIP" not in full and len(body) < len(full)

    run(go())


def test_storm_mode_answers_a_blocking_reload_at_once(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path, storm=True)
        live.add(14)
        async with _serve(live) as get:
            status, body, _, waited = await get("index.m3u8", _HLS_msn="2", _HLS_part="5")
            assert status == 200 and waited < 0.1
            assert b'URI="2.5.m4s"' not in body and b"CAN-BLOCK-RELOAD=YES" in body
            assert (await get("index.m3u8", _HLS_msn="9"))[0] == 200  # nor checked

    run(go())


def test_an_unknown_stream_is_404(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        async with _serve(live, stream="other") as get:
            status, _, headers, _ = await get("index.m3u8")
            assert status == 404 and headers["Access-Control-Allow-Origin"] == "*"

    run(go())


def test_thousands_of_held_reloads_wake_once_for_their_part(parsed, tmp_path) -> None:
    async def go() -> None:
        live = Live(parsed, tmp_path)
        live.add(14)
        store = live.store
        checks = 0

        def wanted() -> bool:
            nonlocal checks
            checks += 1
            return store.reached(2, 4)

        waiters = [asyncio.ensure_future(store.wait_until(wanted, 5)) for _ in range(5000)]
        await asyncio.sleep(0.05)
        live.add(1)  # part 2: not yet
        await asyncio.sleep(0.05)
        live.add(2)  # parts 3 and 4, one after the other
        assert all(await asyncio.gather(*waiters))
        assert checks <= 5000 * 4  # the first look and one per new part, no polling

    run(go())


class _serve:
    """The live app on a loopback port; yields get(path, **query)."""

    def __init__(self, live: Live, stream: str = STREAM) -> None:
        self.live, self.stream = live, stream

    async def __aenter__(self) -> Get:
        self.server = TestServer(self.live.app, host="127.0.0.1")
        await self.server.start_server()
        self.session = aiohttp.ClientSession()

        async def get(path: str, **query: str) -> tuple[int, Any, dict[str, str], float]:
            t0 = time.monotonic()
            url = self.server.make_url(f"/llhls/{self.stream}/{path}")
            async with self.session.get(url, params=query) as r:
                body = await r.read()
                return r.status, body, dict(r.headers), time.monotonic() - t0

        return get

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.server.close()
