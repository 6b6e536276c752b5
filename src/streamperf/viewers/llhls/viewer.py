"""LL-HLS viewer: blocking playlist reloads, parts as they are made, the preload hint
asked for before it exists (RFC 8216bis; docs/llhls.md).

Two loops per viewer, each on its own keep-alive connection as a browser player's
would be: the playlist loop asks for the playlist that holds the next part
(`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` once the server allows delta
updates) and keeps the newest; the media loop fetches the part after the last one
it has, or the preload hint when that is the next one, and whole segments when it
fell behind the parts the playlist lists. It starts on an independent part no
closer to the live edge than PART-HOLD-BACK. An origin that answers blocking
reloads at once (a reload storm) is not followed into a spin: the next reload
waits a part target, and the viewer records it as a platform error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from streamperf.viewers.base import FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR, EventCallback
from streamperf.viewers.formats.fmp4 import AUDIO, BoxError, InitInfo, read_init
from streamperf.viewers.formats.mpegts import PTS_HZ
from streamperf.viewers.hls.playlist import PlaylistError, is_master, parse_master_playlist
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError
from streamperf.viewers.llhls.bodies import OK_STATUS, MediaBody, TextBody
from streamperf.viewers.llhls.counters import RequestCounts, Row
from streamperf.viewers.llhls.playlist import (
    ByteRange,
    LlPlaylist,
    Part,
    parse_ll_playlist_memo,
    start_part,
)
from streamperf.viewers.llhls.rows import BLOCKED, EARLY, INIT, PART, PLAYLIST, PRELOAD

BLOCK_TARGETS = 3.0  # a blocking reload may be held this many target durations
DISCONNECT_TARGETS = 3.0  # the playlist unreachable this long: disconnect
STORM_EARLY, STORM_OF = 5, 10  # early answers among the last reloads: a reload storm
SETUP_RETRY_S = 0.5
RECENT = 64  # media URIs remembered as fetched

Ident = tuple[str, int]  # a part's URI and byte-range start (-1: none)


def _ident(uri: str, br: ByteRange | None) -> Ident:
    return uri, br.start if br is not None else -1


class _Failed(Exception):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(why)
        self.name = name  # the error row's name: connect, timeout, protocol
        self.why = why


class LlhlsViewer:
    """One LL-HLS player (viewers.base.Viewer; the module doc for its choices)."""

    protocol = "llhls"

    def __init__(self, url: str, on_event: EventCallback, connect_timeout: float = 10.0,
                 on_request: Callable[[str], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// playlist URL: {url}")
        self.url = url
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self.on_request = on_request
        self.ssl_context = ssl_context
        self.bytes_received = 0
        self.playing = False
        self.play_requested_wall: float | None = None
        self.first_video_wall: float | None = None
        self.error: str | None = None
        self.media_url: str | None = None
        self.requests = RequestCounts()
        self._answers: collections.deque[bool] = collections.deque(maxlen=STORM_OF)  # early?
        self.storm = False  # a reload storm was reported
        self.parts_fetched = self.segments_fetched = self.rejoins = 0
        self.pl: LlPlaylist | None = None
        self._changed = asyncio.Event()
        self._init: InitInfo | None = None
        self._fmp4 = False
        self._media_ms = -1  # media time (ms) the whole parts reach
        self._anchor: float | None = None  # unix capture time - media time (s), from PDT
        self._play_from: Ident | None = None  # the part playback starts at
        self._shown = False  # its first frame is shown (that part is whole)
        self._recent: collections.deque[Ident] = collections.deque(maxlen=RECENT)
        self._closed = False
        self._cm: asyncio.Timeout | None = None
        self._lists: HttpClient | None = None
        self._media: HttpClient | None = None

    # --- the Viewer API -------------------------------------------------------------
    @property
    def media_ts_ms(self) -> int:
        """Newest media time received (ms), -1 until the part it plays from is whole
        (the parts before it, from the key frame on, are decoded, not shown)."""
        return self._media_ms if self._shown else -1

    @property
    def media_wallclock(self) -> float | None:
        """Unix time the newest received media was captured (PROGRAM-DATE-TIME), or None."""
        a = self._anchor
        return None if a is None or self._media_ms < 0 else a + self._media_ms / 1000

    def window_rows(self) -> list[Row]:
        """This sample window's LLHLS rows (the shard's sampler asks once a second)."""
        return self.requests.take()

    async def run(self, duration: float) -> None:
        self.play_requested_wall = time.time()
        if self._closed:
            return
        self._lists = HttpClient(self.connect_timeout, self.on_request, self.ssl_context)
        self._media = HttpClient(self.connect_timeout, self.on_request, self.ssl_context)
        reloads: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(duration) as cm:
                self._cm = cm
                pl = await self._first_playlist()
                if pl is None:
                    return
                reloads = asyncio.create_task(self._reload_loop())
                await self._media_loop()
        except TimeoutError:
            pass
        finally:
            self._cm = None
            self._closed = True
            self.playing = False
            if reloads is not None:
                reloads.cancel()
                with contextlib.suppress(BaseException):
                    await reloads
            self._lists.close()
            self._media.close()

    def close(self) -> None:
        self._closed = True
        cm = self._cm
        if cm is not None and not cm.expired():
            with contextlib.suppress(RuntimeError):
                cm.reschedule(-1.0)

    # --- start ----------------------------------------------------------------------
    async def _first_playlist(self) -> LlPlaylist | None:
        """The media playlist (a master's first variant), its init section; None after
        a final error."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        url = self.url
        last: _Failed | None = None
        while loop.time() < deadline:
            try:
                text, url = await self._get_text(url, max(0.05, deadline - loop.time()))
                if is_master(text):
                    variants = parse_master_playlist(text, url).variants
                    if not variants:
                        raise _Failed("protocol", f"{url}: a master playlist with no variant")
                    # the top variant; switching renditions is the ABR player's (docs/llhls.md)
                    url = max(variants, key=lambda v: v.bandwidth).uri
                    continue
                pl = parse_ll_playlist_memo(text, url)
                if not pl.low_latency:
                    self._error("protocol", f"{url}: not LL-HLS (no EXT-X-PART-INF with "
                                "CAN-BLOCK-RELOAD=YES); play it with --protocol hls")
                    return None
                self.media_url = url
                self._set(pl)
                return pl
            except PlaylistError as e:
                last = _Failed("protocol", str(e))
            except _Failed as f:
                last = f
                if f.name == "connect":
                    break
            await asyncio.sleep(min(SETUP_RETRY_S, max(0.0, deadline - loop.time())))
        if last is not None:
            self._error(last.name, f"no playlist: {last.why}")
        else:
            self._error("timeout", f"no playlist within {self.connect_timeout:g}s")
        return None

    async def _ensure_init(self, pl: LlPlaylist) -> bool:
        """The init section loaded when the playlist names one (the first playlist of a
        stream not begun may not); False after a final error: no init, no media."""
        if self._init is not None or pl.map_uri is None:
            return True
        try:
            await self._load_init(pl)
        except _Failed as f:
            self._error(f.name, f.why)
            return False
        return True

    async def _load_init(self, pl: LlPlaylist) -> None:
        assert self._media is not None and pl.map_uri is not None
        sink = TextBody(self)
        headers = pl.map_range.header() if pl.map_range is not None else b""
        try:
            resp = await self._media.get(pl.map_uri, self.connect_timeout, sink, 0.0, headers)
        except GetError as e:
            raise _Failed("timeout" if e.kind == "timeout" else "protocol",
                          f"init {pl.map_uri}: {e.why}") from None
        self.requests.add(INIT)
        if resp.status not in OK_STATUS:
            raise _Failed("protocol", f"init {pl.map_uri}: HTTP {resp.status}")
        try:
            self._init = read_init(sink.body())
        except BoxError as e:
            raise _Failed("protocol", f"init {pl.map_uri}: {e}") from None
        self._fmp4 = True

    # --- the playlist loop ----------------------------------------------------------
    async def _reload_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while not self._closed:
            pl = self.pl
            assert pl is not None and pl.part_target is not None
            if pl.ended:
                return
            msn, part = self._wanted(pl)
            query = f"_HLS_msn={msn}&_HLS_part={part}"
            if pl.can_skip_until and pl.can_skip_until >= 6 * pl.target_duration:
                query += "&_HLS_skip=YES"
            url = pl.url.split("?", 1)[0]
            sent = loop.time()
            try:
                text, _ = await self._get_text(
                    f"{url}?{query}", self.connect_timeout + BLOCK_TARGETS * pl.target_duration,
                    blocking=True)
                new = parse_ll_playlist_memo(text, pl.url)
            except (_Failed, PlaylistError) as e:
                why = e.why if isinstance(e, _Failed) else str(e)
                if loop.time() - last_ok > DISCONNECT_TARGETS * pl.target_duration:
                    self._error("disconnect", f"playlist {url} unreachable for "
                                f"{loop.time() - last_ok:.1f}s: {why}")
                    self.close()
                    return
                await asyncio.sleep(pl.part_target)
                continue
            last_ok = now = loop.time()
            self.requests.waited(now - sent)
            # nothing but the skip: keep what we have (the parse is shared: not changed)
            bare_skip = bool(new.skipped) and not new.segments and not new.tail
            early = bare_skip or not new.holds(msn, part)
            self._answers.append(early)
            if early:
                self._early(url, msn, part)
            if not bare_skip and (new.next_msn >= pl.next_msn
                                  or new.media_sequence < pl.media_sequence):
                self._set(new)  # not an older copy (a cache's); or the stream started over
            if early or self.storm:
                # no spin: once a part target from the last ask (for good, once a storm)
                await asyncio.sleep(max(0.0, sent + pl.part_target - loop.time()))

    @staticmethod
    def _wanted(pl: LlPlaylist) -> tuple[int, int]:
        """(msn, part) of the part after the newest listed one."""
        return pl.next_msn, len(pl.tail)

    def _early(self, url: str, msn: int, part: int) -> None:
        self.requests.add(EARLY)
        early = sum(self._answers)
        if early >= STORM_EARLY and not self.storm:
            self.storm = True
            self._error("reload_storm", f"playlist {url}: {early} of the last "
                        f"{len(self._answers)} blocking reloads answered at once, without the "
                        f"part asked for (the last {msn}.{part}); reloading once a part target")

    def _set(self, pl: LlPlaylist) -> None:
        self.pl = pl
        self._changed.set()

    # --- the media loop -------------------------------------------------------------
    async def _media_loop(self) -> None:
        pl = self.pl
        assert pl is not None
        first = await self._start(pl)
        if first is None:
            return
        last: Ident | None = None
        todo: Part | None = first
        while not self._closed:
            pl = self.pl
            assert pl is not None
            if todo is None:
                todo, hinted = self._next(pl, last)
                if todo is None and hinted is None:
                    if pl.ended:
                        return
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                if todo is None:
                    assert hinted is not None and pl.preload is not None
                    if not await self._ensure_init(pl):
                        return
                    hint = pl.preload
                    if await self._fetch(hint.uri, hint.byterange, PRELOAD, None, pl):
                        last = hinted
                    else:
                        self._changed.clear()
                        await self._changed.wait()
                    continue
            if not await self._ensure_init(pl):
                return
            ident = _ident(todo.uri, todo.byterange)
            if todo.gap or ident in self._recent or await self._fetch(
                    todo.uri, todo.byterange, PART, todo, pl):
                last = ident
            todo = None

    async def _start(self, pl: LlPlaylist) -> Part | None:
        """The first part to load (independent), the one to play from noted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while not self._closed:
            pl = self.pl
            assert pl is not None
            start = start_part(pl)
            if start is not None:
                self._play_from = _ident(start[1].uri, start[1].byterange)
                return start[0]
            if loop.time() >= deadline:
                self._error("timeout", f"{pl.url}: no independent part PART-HOLD-BACK "
                            f"behind the live edge within {self.connect_timeout:g}s")
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self._changed.wait()
        return None

    def _next(self, pl: LlPlaylist, last: Ident | None) -> tuple[Part | None, Ident | None]:
        """The listed part after `last`, or (None, the preload hint's ident) when `last`
        is the newest listed part and the hint is the next; (None, None): wait."""
        parts = pl.parts()
        for i, p in enumerate(parts):
            if _ident(p.uri, p.byterange) == last:
                if i + 1 < len(parts):
                    return parts[i + 1], None
                hint = pl.preload
                if hint is not None:
                    h = _ident(hint.uri, hint.byterange)
                    if h not in self._recent:
                        return None, h
                return None, None
        hint = pl.preload
        if hint is not None and _ident(hint.uri, hint.byterange) == last:
            return None, None  # the preloaded part, not listed yet
        return self._behind(pl, last), None

    def _behind(self, pl: LlPlaylist, last: Ident | None) -> Part | None:
        """`last` is no longer listed: we fell behind the parts. Rejoin PART-HOLD-BACK
        from the live edge, and say so."""
        start = start_part(pl)
        if start is None:
            return None
        first = start[0]
        self.rejoins += 1
        self._error("protocol", f"fell behind: part {last[0] if last else '?'} left the "
                    f"playlist; rejoined at part {first.msn}.{first.index}")
        return first

    async def _fetch(self, uri: str, br: ByteRange | None, kind: str, part: Part | None,
                     pl: LlPlaylist) -> bool:
        """Fetch one part (or the hinted one: `part` None); True when it came whole."""
        http = self._media
        assert http is not None
        ident = _ident(uri, br)
        self._recent.append(ident)
        sink = MediaBody(self, self._fmp4)
        tt = pl.part_target or 1.0
        limit = self.connect_timeout + BLOCK_TARGETS * pl.target_duration
        try:
            resp = await http.get(uri, limit, sink, max(1.0, 3 * tt),
                                  br.header() if br is not None else b"")
        except GetError as e:
            self.requests.add(kind)
            self._error("timeout" if e.kind in ("timeout", "stall") else "protocol",
                        f"part {uri}: {e.why}")
            return False
        self.requests.add(kind)
        if resp.status not in OK_STATUS:
            if kind != PRELOAD:  # a hint may be gone by the time it is asked: not an error
                self._error("protocol", f"part {uri}: HTTP {resp.status}")
            else:
                self._recent.remove(ident)
            return False
        self.parts_fetched += 1
        self._part_done(sink, part, ident, uri)
        return True

    def _part_done(self, sink: MediaBody, part: Part | None, ident: Ident, uri: str) -> None:
        pl = self.pl
        assert pl is not None
        if part is None:  # the preloaded part: its duration and date from the newest list
            part = next((p for p in pl.parts() if _ident(p.uri, p.byterange) == ident), None)
        duration = part.duration if part is not None else (pl.part_target or 0.0)
        start = self._start_s(sink)
        if start is None:
            start = max(self._media_ms, 0) / 1000
        end_ms = int((start + duration) * 1000)
        if end_ms > self._media_ms:
            self._media_ms = end_ms
        date = pl.date_of(part) if part is not None else None
        if date is not None:
            self._anchor = date - start
        if ident == self._play_from:
            self._play_from = None
        if not self._shown and self._play_from is None:
            self._shown = self.playing = True
            self.first_video_wall = time.time()
            self.on_event(FIRST_VIDEO, "", start, "")
            if self._init is None or any(t.handler == AUDIO for t in self._init.tracks):
                self.on_event(FIRST_AUDIO, "", start, "")

    def _start_s(self, sink: MediaBody) -> float | None:
        ticks = sink.start_ticks()
        if ticks is None:
            return None
        if not self._fmp4:
            return ticks / PTS_HZ
        init = self._init
        track = init.track(sink.track_id()) if init is not None else None
        if track is None or track.timescale <= 0:
            return None
        return ticks / track.timescale

    # --- requests -------------------------------------------------------------------
    async def _get_text(self, url: str, limit: float, blocking: bool = False) -> tuple[str, str]:
        http = self._lists
        assert http is not None
        sink = TextBody(self)
        try:
            resp = await http.get(url, limit, sink)
        except GetError as e:
            name = {"connect": "connect", "timeout": "timeout"}.get(e.kind, "protocol")
            raise _Failed(name, f"GET {url}: {e.why}") from None
        finally:
            self.requests.add(PLAYLIST)
            if blocking:
                self.requests.add(BLOCKED)
        if resp.status != 200:
            raise _Failed("protocol", f"GET {url}: HTTP {resp.status}")
        return sink.body().decode("utf-8", "replace"), resp.url

    def _error(self, name: str, what: str) -> None:
        if self.error is None:
            self.error = name
        self.on_event(VIEWER_ERROR, name, 0.0, f"{self.url}: {what}")


__all__ = ["LlhlsViewer"]
