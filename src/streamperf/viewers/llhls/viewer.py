"""LL-HLS viewer: blocking playlist reloads, parts as they are made, the preload hint
asked for before it exists (RFC 8216bis; docs/llhls.md).

Two loops per viewer, each on its own keep-alive connection as a browser player's
would be: the playlist loop asks for the playlist that holds the next part
(`_HLS_msn`/`_HLS_part`, with `_HLS_skip=YES` once the server allows delta
updates) and keeps the newest; the media loop fetches the part after the last one
it has, or the preload hint when that is the next one, and rejoins when it fell
behind the parts the playlist lists. It starts on an independent part no closer
to the live edge than PART-HOLD-BACK. Of a master playlist it plays the
rendition the ABR policy picks (ladder.py), switching between parts. An origin that answers blocking
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

from streamperf.viewers.base import FIRST_AUDIO, FIRST_VIDEO, EventCallback
from streamperf.viewers.formats.fmp4 import AUDIO, InitInfo
from streamperf.viewers.hls.playlist import PlaylistError, is_master, parse_master_playlist
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError
from streamperf.viewers.llhls.bodies import OK_STATUS, MediaBody
from streamperf.viewers.llhls.counters import RequestCounts, Row, StormWatch
from streamperf.viewers.llhls.fetching import Failed, LlFetcher
from streamperf.viewers.llhls.ladder import LlLadder, report_query, resume_after
from streamperf.viewers.llhls.playlist import (
    ByteRange,
    Ident,
    LlPlaylist,
    Part,
    parse_ll_playlist_memo,
    start_part,
)
from streamperf.viewers.llhls.playlist import ident as part_ident  # the name `ident` is a local
from streamperf.viewers.llhls.rows import EARLY, PART, PRELOAD

BLOCK_TARGETS = 3.0  # a blocking reload may be held this many target durations
DISCONNECT_TARGETS = 3.0  # the playlist unreachable this long: disconnect
SETUP_RETRY_S = 0.5
RECENT = 64  # media URIs remembered as fetched



class LlhlsViewer(LlFetcher):
    """One LL-HLS player (viewers.base.Viewer; the module doc for its choices)."""

    protocol = "llhls"

    def __init__(self, url: str, on_event: EventCallback, connect_timeout: float = 10.0,
                 on_request: Callable[[str], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, abr: str = "hlsjs") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// playlist URL: {url}")
        self.url = url
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self.on_request = on_request
        self.ssl_context = ssl_context
        #: how a rendition of a master playlist is chosen (viewers/abr ABR_MODES, a name)
        self.abr = abr
        self.ladder: LlLadder | None = None  # a master playlist's renditions
        self._variant: str | None = None  # the media playlist followed (a switch sets it)
        self._resume: tuple[int, int] | None = None  # after a switch: the last part had
        self.bytes_received = 0
        self.playing = False
        self.play_requested_wall: float | None = None
        self.first_video_wall: float | None = None
        self.error: str | None = None
        self.media_url: str | None = None
        self.requests = RequestCounts()
        self.storms = StormWatch()
        self.parts_fetched = self.segments_fetched = self.rejoins = 0
        self.pl: LlPlaylist | None = None
        self._changed = asyncio.Event()
        self._init: InitInfo | None = None
        self._init_uri: str | None = None
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
            if self.ladder is not None:
                self.ladder.close()

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
        last: Failed | None = None
        while loop.time() < deadline:
            try:
                text, url = await self._get_text(url, max(0.05, deadline - loop.time()))
                if is_master(text):
                    if self.ladder is not None:
                        raise Failed("protocol", f"variant {url} is a master playlist too")
                    try:  # ValueError: no variant, or --abr names no rendition of it
                        self.ladder = LlLadder(parse_master_playlist(text, url), self.abr,
                                               self.on_event)
                    except ValueError as e:
                        self._error("protocol", f"{url}: {e}")
                        return None
                    url = self.ladder.url
                    continue
                pl = parse_ll_playlist_memo(text, url)
                if not pl.low_latency:
                    self._error("protocol", f"{url}: not LL-HLS (no EXT-X-PART-INF with "
                                "CAN-BLOCK-RELOAD=YES); play it with --protocol hls")
                    return None
                self.media_url = self._variant = url
                self._set(pl)
                return pl
            except PlaylistError as e:
                last = Failed("protocol", str(e))
            except Failed as f:
                last = f
                if f.name == "connect":
                    break
            await asyncio.sleep(min(SETUP_RETRY_S, max(0.0, deadline - loop.time())))
        if last is not None:
            self._error(last.name, f"no playlist: {last.why}")
        else:
            self._error("timeout", f"no playlist within {self.connect_timeout:g}s")
        return None

    # --- the playlist loop ----------------------------------------------------------
    async def _reload_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while not self._closed:
            pl = self.pl
            assert pl is not None and pl.part_target is not None
            if pl.ended:
                return
            url = pl.url.split("?", 1)[0]
            if self._variant is not None and self._variant != url:
                await self._load_variant(pl, self._variant)
                continue
            msn, part = self._wanted(pl)
            query = f"_HLS_msn={msn}&_HLS_part={part}"
            if pl.can_skip_until and pl.can_skip_until >= 6 * pl.target_duration:
                query += "&_HLS_skip=YES"
            sent = loop.time()
            try:
                text, _ = await self._get_text(
                    f"{url}?{query}", self.connect_timeout + BLOCK_TARGETS * pl.target_duration,
                    blocking=True)
                new = parse_ll_playlist_memo(text, pl.url)
            except (Failed, PlaylistError) as e:
                why = e.why if isinstance(e, Failed) else str(e)
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
            if early:
                self.requests.add(EARLY)
            if self.storms.answered(early):
                self._error("reload_storm", f"playlist {url}: {self.storms.describe()} blocking "
                            f"reloads answered at once, without the part asked for (the last "
                            f"{msn}.{part}); reloading once a part target")
            if self._variant == url and not bare_skip and (
                    new.next_msn >= pl.next_msn or new.media_sequence < pl.media_sequence):
                self._set(new)  # not an older copy (a cache's); or the stream started over
            if early or self.storms.seen:
                # no spin: once a part target from the last ask (for good, once a storm)
                await asyncio.sleep(max(0.0, sent + pl.part_target - loop.time()))

    async def _load_variant(self, pl: LlPlaylist, url: str) -> None:
        """The first playlist of the rendition switched to, asked with what its rendition
        report says it has (answered at once); failures wait a part target."""
        try:
            text, _ = await self._get_text(url + report_query(pl, url), self.connect_timeout)
            new = parse_ll_playlist_memo(text, url)
        except (Failed, PlaylistError):
            await asyncio.sleep(pl.part_target or 1.0)
            return
        if self._variant == url and new.low_latency:
            self._set(new)
        else:  # switched again meanwhile, or not LL-HLS: never a request spin
            await asyncio.sleep(pl.part_target or 1.0)

    @staticmethod
    def _wanted(pl: LlPlaylist) -> tuple[int, int]:
        """(msn, part) of the part after the newest listed one."""
        return pl.next_msn, len(pl.tail)

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
                if self.ladder is not None and self._switch(pl, last):
                    todo = None  # the part after `last`, from the other rendition's playlist
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
            ident = todo.ident
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
                self._play_from = start[1].ident
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
        if self._resume is not None:
            return self._resumed(pl, self._resume)
        parts = pl.parts()
        for i, p in enumerate(parts):
            if p.ident == last:
                if i + 1 < len(parts):
                    return parts[i + 1], None
                hint = pl.preload
                if hint is not None:
                    h = hint.ident
                    if h not in self._recent:
                        return None, h
                return None, None
        hint = pl.preload
        if hint is not None and hint.ident == last:
            return None, None  # the preloaded part, not listed yet
        return self._behind(pl, last), None

    def _switch(self, pl: LlPlaylist, last: Ident | None) -> bool:
        """Ask the ABR policy for the next part's rendition (once `last` is listed: its
        msn.part is where the other rendition goes on); True: switched."""
        assert self.ladder is not None
        key = next((p.key for p in pl.parts() if p.ident == last), None)
        if key is None:
            return False
        r = self.ladder.choose(asyncio.get_running_loop().time(), pl.part_target or 1.0)
        if r is None:
            return False
        self._resume, self._variant = key, r.key
        return True

    def _resumed(self, pl: LlPlaylist, key: tuple[int, int]) -> tuple[Part | None, Ident | None]:
        """After a switch: the new rendition's part after `key`, or its preload hint when
        that is the next (resume_after); (None, None) until its playlist is in."""
        if pl.url.split("?", 1)[0] != self._variant:
            return None, None
        part, hinted = resume_after(pl, key)
        if part is None and not hinted:
            return None, None
        self._resume = None
        hint = pl.preload
        return part, (hint.ident if hinted and hint else None)

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
        ident = part_ident(uri, br)
        self._recent.append(ident)
        ladder = self.ladder
        r = ladder.rendition if ladder is not None else None
        sink = MediaBody(self, self._fmp4, http.loop.time if r is not None else None)
        sent = http.loop.time()
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
        if ladder is not None and r is not None:
            now = http.loop.time()
            ladder.loaded(now, r, sink.got, now - sent, (sink.head_at or now) - sent,
                          part.duration if part is not None else tt)
        self._part_done(sink, part, ident, uri)
        return True

    def _part_done(self, sink: MediaBody, part: Part | None, ident: Ident, uri: str) -> None:
        pl = self.pl
        assert pl is not None
        if part is None:  # the preloaded part: its duration and date from the newest list
            part = next((p for p in pl.parts() if p.ident == ident), None)
        duration = part.duration if part is not None else (pl.part_target or 0.0)
        start = sink.start_s(self._init if self._fmp4 else None)
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


__all__ = ["LlhlsViewer"]
