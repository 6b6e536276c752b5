"""HLS viewer: poll a live playlist, pull each segment once, count.

Each viewer fetches its own playlists and segments over its own keep-alive
connection, with the lean HTTP/1.1 client of viewers/http/client.py (why not
aiohttp: see there; aiohttp stays for the platform code); what it does with
each answer's bytes is in bodies.py. Thousands share one event loop. Every
behaviour choice (live-edge join, reload pacing, 404s, falling behind, media
time) is documented in docs/hls.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from streamperf.viewers import cmcd as cmcd_keys
from streamperf.viewers.abr import RENDITION, AbrPolicy, Rendition, RenditionRates
from streamperf.viewers.abr import rendition_detail as rendition_row
from streamperf.viewers.base import VIEWER_ERROR, EventCallback
from streamperf.viewers.cmcd import CMCD_MODES
from streamperf.viewers.hls.bodies import AbrSegmentBody, PlaylistBody, SegmentBody
from streamperf.viewers.hls.bodies import parse_playlist_memo as parse_playlist
from streamperf.viewers.hls.ladder import follow_audio, open_ladder
from streamperf.viewers.hls.media_clock import MediaClock
from streamperf.viewers.hls.playlist import (
    MasterPlaylist,
    MediaPlaylist,
    PlaylistError,
    Segment,
    live_start_index,
    reload_wait,
)
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import ABANDON, BAD, CONNECT, STALL, TIMEOUT, GetError
from streamperf.viewers.reload_grid import sleep_to_grid

SEGMENT_RETRIES = 1  # a stalled segment download is asked again once
MIN_STALL_S = 1.0  # no data for max(this, EXTINF) mid-segment counts as stalled
SETUP_RETRY_S = 1.0  # playlist retry interval before any target duration is known
HOLD_BACK_TARGETS = 3.0  # join this many target durations behind the live edge
DISCONNECT_TARGETS = 3.0  # playlist unreachable this long -> disconnect
RECENT_URIS = 16
_STATUS = "status"  # a failure kind beside the HTTP client's (CONNECT, ...): not a 200


class _Failed(Exception):
    """One request failed: kind (CONNECT, ..., _STATUS) and a one-line reason."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


class HlsViewer(MediaClock):
    """One HLS player (see viewers.base.Viewer for the contract, the module doc for choices)."""

    protocol = "hls"

    def __init__(
        self,
        url: str,
        on_event: EventCallback,
        abr: str = "hlsjs",
        cmcd: str = "",
        session_id: str = "",
        pts_offset_s: float = 0.7,
        connect_timeout: float = 10.0,
        on_request: Callable[[str], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// playlist URL: {url}")
        if not abr:
            raise ValueError("no ABR mode (hlsjs, dashjs, highest, lowest or a rendition name)")
        self.url = url
        self.on_event = on_event
        #: how a variant of a master playlist is chosen (viewers/abr ABR_MODES, or a name)
        self.abr = abr
        #: the ladder's policy, once a master playlist is read; None for a media playlist
        self.policy: AbrPolicy | None = None
        self.rendition: Rendition | None = None
        self.switches = 0
        self.rates = RenditionRates()  # reported as the viewer stops (a ladder's only)
        self._abandon_to: Rendition | None = None
        self._audio: asyncio.Task[None] | None = None
        if cmcd and cmcd not in CMCD_MODES:
            raise ValueError(f"unknown CMCD mode {cmcd!r} (known: {', '.join(CMCD_MODES)})")
        self.cmcd = cmcd
        self.session_id = session_id or uuid.uuid4().hex
        self._content_id = urlsplit(url).path[-64:]
        self.pts_offset_s = pts_offset_s
        self.connect_timeout = connect_timeout
        #: called with each URL as its request is sent (for tests)
        self.on_request = on_request
        self.ssl_context = ssl_context
        self._http: HttpClient | None = None
        #: segment bodies + playlist bodies received so far
        self.bytes_received = 0
        self.playing = False
        #: time.time() when run() began (the viewer asked to play)
        self.play_requested_wall: float | None = None
        #: time.time() when the first segment with video was whole
        self.first_video_wall: float | None = None
        self.error: str | None = None  # first error name
        #: URL of the media playlist played (the variant's, for a master)
        self.media_url: str | None = None
        self.target_duration: float | None = None
        self.ended = False  # ENDLIST reached
        # counters, for tests and benchmarks
        self.playlist_loads = self.playlist_failures = 0
        self.segments_fetched = self.segments_skipped = self.segment_retries = 0
        self.sequence_jumps = self.discontinuities = 0
        self._init_clock(pts_offset_s)
        self._recent: collections.deque[str] = collections.deque(maxlen=RECENT_URIS)
        self._lost: str | None = None  # segment cut by the network, not yet reported
        self._closed = False
        #: (error name, why) of the newest failed load before play: reported if the
        #: play time ends before connect_timeout does (the viewer never started)
        self._setup_failure: tuple[str, str] | None = None
        self._cm: asyncio.Timeout | None = None

    # --- the Viewer API (media_ts_ms and media_wallclock: MediaClock) ---------
    async def run(self, duration: float) -> None:
        self.play_requested_wall = time.time()
        if self._closed:
            return
        self._http = http = HttpClient(self.connect_timeout, self.on_request, self.ssl_context)
        try:
            async with asyncio.timeout(duration) as cm:
                self._cm = cm
                await self._play()
        except TimeoutError:
            # time is up, or close(); inner timeouts are handled where they occur
            if self._setup_failure is not None and self.error is None:
                name, why = self._setup_failure
                self._error(name, f"{why} (play time over before the viewer could start)")
        finally:
            self._cm = None
            self._closed = True
            self.playing = False
            http.close()
            if self._audio is not None:
                self._audio.cancel()
            if self.policy is not None and len(self.policy.ladder) > 1:
                self.rates.report(self.on_event)

    def close(self) -> None:
        self._closed = True
        cm = self._cm
        if cm is not None and not cm.expired():
            # ends run() at once, from another task (RuntimeError: already leaving)
            with contextlib.suppress(RuntimeError):
                cm.reschedule(-1.0)

    # --- the play loop ------------------------------------------------------
    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        setup_deadline = loop.time() + self.connect_timeout
        url = self.url
        next_seq: int | None = None
        prev_last: int | None = None
        last_ok = loop.time()
        master_done = False
        while not self._closed:
            began = loop.time()
            td = self.target_duration
            try:
                limit = self.connect_timeout if self.playing else max(0.05, setup_deadline - began)
                pl = await self._load(url, limit)
                if isinstance(pl, MasterPlaylist):
                    if master_done:
                        raise _Failed(BAD, f"variant {url} is a master playlist too")
                    url = self._ladder(pl)
                    master_done = True
                    continue
            except _Failed as f:
                self.playlist_failures += 1
                now = loop.time()
                if not self.playing:
                    name = {CONNECT: "connect", TIMEOUT: "timeout"}.get(f.kind, "protocol")
                    where = "" if url == self.url else f" (variant {url})"
                    if f.kind == CONNECT or now >= setup_deadline:
                        why = f"no playlist{where}: {f.why}"
                        if f.kind == TIMEOUT and self._setup_failure is not None:
                            # this try only had what was left of the set-up time: the
                            # answer before it says what the server does
                            name, why = self._setup_failure
                        self._error(name, why, final=True)
                        return
                    self._setup_failure = (name, f"no playlist{where}: {f.why}")
                    await asyncio.sleep(min(SETUP_RETRY_S, setup_deadline - now))
                    continue
                assert td is not None
                if now - last_ok > DISCONNECT_TARGETS * td:
                    lost = f"; {self._lost}" if self._lost else ""
                    self._error(
                        "disconnect",
                        f"playlist {url} unreachable for {now - last_ok:.1f}s: {f.why}{lost}",
                        final=True,
                    )
                    return
                await sleep_to_grid(began + reload_wait(td, changed=False))
                continue
            self.media_url = url
            self.target_duration = td = pl.target_duration
            last_ok = began
            self._setup_failure = None
            if self._lost is not None:
                self._error("protocol", self._lost)
                self._lost = None
            changed = prev_last is None or pl.last_sequence > prev_last
            if next_seq is None:
                if pl.segments:
                    next_seq = pl.segments[self._live_start(pl)].sequence
            else:
                next_seq = self._check_sequence(pl, next_seq)
            prev_last = pl.last_sequence if pl.segments else prev_last
            switched = False
            if next_seq is not None:
                policy = self.policy
                for seg in pl.segments:
                    if seg.sequence < next_seq:
                        continue
                    if policy is not None:
                        r, why = policy.choose(loop.time(), seg.duration)
                        if why:  # the next segment from another variant: load its playlist
                            self._switch(r, why)
                            url, switched = r.key, True
                            break
                    next_seq = seg.sequence + 1
                    if seg.uri in self._recent:
                        continue
                    self._recent.append(seg.uri)
                    down = await self._segment(seg)
                    if down is not None:  # given up: the same segment from a lower variant
                        self._switch(down, "emergency")
                        url, next_seq, switched = down.key, seg.sequence, True
                        break
            if switched:
                continue
            if pl.ended:
                self.ended = True
                return
            now = loop.time()
            if not self.playing and now >= setup_deadline:
                why = "no segment in the playlist" if not pl.segments else "no segment fetched"
                self._error("timeout", f"{why} within {self.connect_timeout:g}s", final=True)
                return
            await sleep_to_grid(began + reload_wait(td, changed))

    def _check_sequence(self, pl: MediaPlaylist, next_seq: int) -> int:
        """The next sequence number to fetch after a reload (jumps, renumbering)."""
        if not pl.segments:
            return next_seq
        if next_seq < pl.media_sequence:
            # the segment we want has left the window: we fell behind
            rejoin = pl.segments[self._live_start(pl)].sequence
            skipped = rejoin - next_seq
            self.sequence_jumps += 1
            self.segments_skipped += skipped
            self._error(
                "protocol",
                f"fell behind: segment #{next_seq} left the playlist "
                f"(#{pl.media_sequence}..#{pl.last_sequence}); rejoined at the live edge, "
                f"{skipped} segment(s) skipped",
            )
            return rejoin
        if pl.last_sequence < next_seq - 1 and not any(s.uri in self._recent for s in pl.segments):
            # numbers went back and nothing is familiar: the server started over
            self.sequence_jumps += 1
            return pl.segments[self._live_start(pl)].sequence
        return next_seq  # includes a stale copy of an older playlist: nothing new

    @staticmethod
    def _live_start(pl: MediaPlaylist) -> int:
        return live_start_index(pl, HOLD_BACK_TARGETS * pl.target_duration)

    # --- requests -------------------------------------------------------------
    async def _load(self, url: str, limit: float) -> MediaPlaylist | MasterPlaylist:
        http = self._http
        assert http is not None
        sink = PlaylistBody(self, url)
        ask, headers = self._with_cmcd(url, "m", None)
        try:
            resp = await http.get(ask, limit, sink, headers=headers)
        except GetError as e:
            raise _Failed(e.kind, f"GET {url}: {e.why}") from None
        if resp.status != 200:
            raise _Failed(_STATUS, f"GET {url}: HTTP {resp.status}")
        final_url = resp.url
        body = b"".join(sink.chunks)
        try:
            pl = parse_playlist(body, final_url)
        except (PlaylistError, ValueError) as e:
            raise _Failed(BAD, str(e)) from None
        except Exception as e:  # whatever the text, a bad playlist is this viewer's error
            why = f"{final_url}: unusable playlist ({type(e).__name__}: {e})"
            raise _Failed(BAD, why) from None
        self.playlist_loads += 1
        return pl

    async def _segment(self, seg: Segment) -> Rendition | None:
        """Fetch a segment; the lower rendition its download was given up for, if it was.

        No progress for one segment duration: asked again on a fresh connection, as
        players do (a connection can sit in TCP back-off long after the network recovered)."""
        self._abandon_to = None
        for attempt in range(1 + SEGMENT_RETRIES):
            if not await self._fetch_segment(seg, retry=attempt < SEGMENT_RETRIES):
                break
            self.segment_retries += 1
        return self._abandon_to

    # --- the ladder ---------------------------------------------------------
    def _ladder(self, master: MasterPlaylist) -> str:
        """Read a master playlist: the ABR policy over its variants, the start
        variant (reported), its audio track; the start variant's playlist URL."""
        try:
            self.policy, r, audio = open_ladder(master, self.abr)
        except ValueError as e:
            raise _Failed(BAD, f"{master.url}: {e}") from None
        self._switch(r, "start")
        if audio is not None and self._audio is None:
            http = HttpClient(self.connect_timeout, self.on_request, self.ssl_context)
            self._audio = asyncio.create_task(follow_audio(self, audio, http))
            self._audio.add_done_callback(lambda _: http.close())
        return r.key

    def _switch(self, r: Rendition, why: str) -> None:
        """Play rendition `r` from the next segment on; a RENDITION row says so (not for
        one variant: a plain stream, judged against its source)."""
        self.switches += why != "start"
        self.rendition, policy = r, self.policy
        if policy is not None and len(policy.ladder) > 1:
            detail = rendition_row(r, why, policy.estimate_bps)
            self.on_event(RENDITION, r.name, r.bandwidth / 1000, detail)

    async def _fetch_segment(self, seg: Segment, retry: bool) -> bool:
        """Download one segment; True when it stalled and should be asked again."""
        http = self._http
        assert http is not None
        limit = self.connect_timeout + 2 * seg.duration
        stall_s = max(MIN_STALL_S, seg.duration)
        policy, r = self.policy, self.rendition
        sink: SegmentBody
        if policy is not None and r is not None and r is not policy.ladder[0]:
            sink = AbrSegmentBody(self, seg, policy, r, http.loop.time)
        else:
            sink = SegmentBody(self, seg)
        ask, headers = self._with_cmcd(seg.uri, "av", seg.duration)
        sent = http.loop.time()
        ok = stalled = False
        try:
            resp = await http.get(ask, limit, sink, stall_s, headers)
            if resp.status != 200:
                self.segments_skipped += 1
                self._error(
                    "protocol",
                    f"segment {seg.uri}: HTTP {resp.status}, skipped "
                    f"({self.segments_skipped} so far)",
                )
                return False
            sink.head_done()  # a segment shorter than the scanned head
            ok = True
            self.segments_fetched += 1
            got = self.bytes_received - self._seg_base
            if seg.duration > 0:
                self._bytes_per_s = got / seg.duration
            if policy is not None and r is not None:
                now = http.loop.time()
                head = getattr(sink, "head_at", None) or now
                policy.loaded(now, r, got, now - sent, head - sent, seg.duration)
                self.rates.add(r.name, got, seg.duration)
        except GetError as e:
            if e.kind == ABANDON and isinstance(sink, AbrSegmentBody):
                self._abandon_to = sink.abandon_to
                stalled = True  # what was reported stays; the segment is asked again
                return False
            if e.kind == STALL and retry:
                stalled = True
            elif e.kind in (STALL, TIMEOUT):
                self.segments_skipped += 1
                self._error("timeout", f"segment {seg.uri}: {e.why}, skipped")
            else:
                self.segments_skipped += 1
                got = self.bytes_received - self._seg_base if sink.ok else 0
                self._lost = f"segment {seg.uri} failed after {got} bytes: {e.why}; skipped"
        finally:
            if stalled:
                # What was reported stays reported: the retry starts the segment over.
                self._floor_ms = max(self._floor_ms, self._received_ms())
            else:
                self._segment_done(ok)
        return stalled

    def _with_cmcd(self, url: str, ot: str, duration: float | None) -> tuple[str, bytes]:
        if not self.cmcd:  # else the URL to ask and header lines with the CMCD keys
            return url, b""
        return cmcd_keys.request(
            self.cmcd, url, sid=self.session_id, cid=self._content_id, ot=ot, sf="h",
            starting=not self.playing, duration=duration, policy=self.policy,
            rendition=self.rendition, now=self._http.loop.time() if self._http else 0.0)

    # --- errors -------------------------------------------------------------
    def _error(self, name: str, what: str, final: bool = False) -> None:
        if self.error is None:
            self.error = name
        self.on_event(VIEWER_ERROR, name, 0.0, f"{self.url}: {what}")
        if final:
            self.playing = False


__all__ = ["HlsViewer"]
