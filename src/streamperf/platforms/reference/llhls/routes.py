"""The origin's HTTP side, mounted on the platform's API app (docs/llhls.md):

    GET /llhls/<stream>/master.m3u8          a ladder's master playlist (its rungs)
    GET /llhls/<stream>/index.m3u8[?_HLS_msn=N[&_HLS_part=M]][&_HLS_skip=YES]
    GET /llhls/<stream>/init-<epoch>.mp4     (init.mp4: the current epoch's)
    GET /llhls/<stream>/<msn>.<part>.m4s     a part
    GET /llhls/<stream>/<msn>.m4s            a whole segment (its parts joined)

Blocking reload: held until the playlist holds that part (without _HLS_part:
segment N whole), 503 after three target durations without it; 400 for an msn
more than two past the last whole segment, for _HLS_part without _HLS_msn, or
for a value that is not a number. The preload-hinted part is held until it
exists and then sent whole; a part further ahead, or one gone, is 404.

Errors are answered, not raised: the API's JSON error middleware would drop the
CORS header, and hls.js in a page of another origin would see no status.
"""

from __future__ import annotations

import re

from aiohttp import web

from streamperf.platforms.reference.llhls.origin import MASTER, PLAYLIST, PREFIX, Origin
from streamperf.platforms.reference.llhls.playlist import render
from streamperf.platforms.reference.llhls.store import StreamStore

ORIGIN_KEY = web.AppKey("llhls_origin", Origin)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MEDIA_TYPE = "video/mp4"
BLOCK_TARGETS = 3  # a blocking request is answered 503 after this many target durations
# a blocking answer's URL names one playlist version: a cache may keep it a while;
# a plain reload must not be; parts and segments do not change once written
CACHE_BLOCKING = "public, max-age=6"
CACHE_PLAIN = "no-cache"
CACHE_MEDIA = "public, max-age=60"
_PART = re.compile(r"(\d{1,12})\.(\d{1,6})\.m4s")
_SEGMENT = re.compile(r"(\d{1,12})\.m4s")
_INIT = re.compile(r"init-(\d{1,6})\.mp4")


def mount(app: web.Application, origin: Origin) -> None:
    app[ORIGIN_KEY] = origin
    app.router.add_get(PREFIX + "/{stream}/" + PLAYLIST, playlist)
    app.router.add_get(PREFIX + "/{stream}/" + MASTER, master)
    app.router.add_get(PREFIX + "/{stream}/{file}", media_file)


def _answer(status: int, text: str = "", body: bytes | None = None,
            content_type: str = "text/plain", cache: str = CACHE_PLAIN) -> web.Response:
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": cache}
    if body is not None:
        return web.Response(status=status, body=body, content_type=content_type,
                            headers=headers)
    return web.Response(status=status, text=text, content_type=content_type, headers=headers)


def _store(request: web.Request) -> StreamStore | None:
    return request.app[ORIGIN_KEY].stream(request.match_info["stream"])


def _number(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 12:
        raise ValueError(f"{name}={text!r} is not a number")
    return int(text)


async def playlist(request: web.Request) -> web.Response:
    store = _store(request)
    if store is None:
        return _answer(404, "no such stream")
    try:
        msn, part = _number(request, "_HLS_msn"), _number(request, "_HLS_part")
    except ValueError as e:
        return _answer(400, str(e))
    if part is not None and msn is None:
        return _answer(400, "_HLS_part without _HLS_msn")
    skip = request.query.get("_HLS_skip", "").upper() in ("YES", "V2")
    timeout_s = BLOCK_TARGETS * store.target_duration
    blocking = msn is not None
    if request.app[ORIGIN_KEY].storm:
        pass  # the broken origin: whatever it has, at once
    elif msn is not None:
        if store.newest is not None and msn > store.last_complete_msn + 2:
            return _answer(400, f"_HLS_msn={msn} is more than two segments ahead")
        wanted = msn
        if not await store.wait_until(lambda: store.reached(wanted, part), timeout_s):
            return _answer(503, f"segment {msn} part {part} did not come in {timeout_s} s")
    elif store.newest is None and not await store.wait_until(
            lambda: store.newest is not None, timeout_s):
        return _answer(503, "no media yet")  # published, no part yet: held a while first
    siblings = request.app[ORIGIN_KEY].siblings(store.name)
    return _answer(200, render(store, skip, siblings), content_type=PLAYLIST_TYPE,
                   cache=CACHE_BLOCKING if blocking else CACHE_PLAIN)


async def master(request: web.Request) -> web.Response:
    text = request.app[ORIGIN_KEY].master(request.match_info["stream"])
    if text is None:
        return _answer(404, "no ladder of that stream")
    return _answer(200, text, content_type=PLAYLIST_TYPE)


async def media_file(request: web.Request) -> web.Response:
    store = _store(request)
    if store is None:
        return _answer(404, "no such stream")
    name = request.match_info["file"]
    if (m := _PART.fullmatch(name)) is not None:
        return await _part(store, int(m[1]), int(m[2]))
    if (m := _SEGMENT.fullmatch(name)) is not None:
        segment = store.segment(int(m[1]))
        if segment is None or not segment.complete:
            return _answer(404, "no such segment (or not whole yet)")
        return _answer(200, body=segment.data, content_type=MEDIA_TYPE, cache=CACHE_MEDIA)
    epoch = store.epoch if name == "init.mp4" else None
    if (m := _INIT.fullmatch(name)) is not None:
        epoch = int(m[1])
    init = store.inits.get(epoch) if epoch is not None else None
    if init is None:
        return _answer(404, "no such file")
    return _answer(200, body=init.data, content_type=MEDIA_TYPE, cache=CACHE_MEDIA)


async def _part(store: StreamStore, msn: int, index: int) -> web.Response:
    found = store.part(msn, index)
    if found is None and store.next_part() == (msn, index):
        # the preload hint: held while it is still the part to come
        def here_or_past() -> bool:
            newest = store.newest
            return store.part(msn, index) is not None or (
                newest is not None and newest >= (msn, index)
                and store.next_part() != (msn, index))

        await store.wait_until(here_or_past, BLOCK_TARGETS * store.target_duration)
        found = store.part(msn, index)
    if found is None:
        return _answer(404, "no such part (gone, or not the next one)")
    return _answer(200, body=found.fragment.data, content_type=MEDIA_TYPE, cache=CACHE_MEDIA)
