"""DASH live viewer: read the MPD, pull each available segment of the video
representation its ABR policy chooses (dash/ladder.py) and of one audio one, count.
The HLS viewer's shape (viewers/hls/viewer.py): one task per viewer, one request at a
time over its own keep-alive connection (viewers/http/client.py), a segment's head
scanned (fMP4: dash/bodies.py), the rest discarded unread, the MPD parsed once per
process per text, waits on viewers/reload_grid.py. Segment times: timeline.py;
every behaviour choice: docs/dash.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from streamperf.viewers.base import CLOCK, FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR, EventCallback
from streamperf.viewers.cmcd import CMCD_MODES
from streamperf.viewers.dash.clock import ClockError, server_offset, usable_timing
from streamperf.viewers.dash.ladder import DashLadder
from streamperf.viewers.dash.mpd import AUDIO, VIDEO, Mpd, MpdError, Period, Representation
from streamperf.viewers.dash.mpd import parse_mpd_memo as parse_mpd
from streamperf.viewers.dash.segments import MIN_LATE_S, SegmentFetching
from streamperf.viewers.dash.timeline import (
    EPS,
    SegmentRef,
    find_segment,
    live_edge,
    period_at,
    segment_duration,
    start_position,
    window_start,
)
from streamperf.viewers.dash.track import Track
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import CONNECT, TIMEOUT, GetError
from streamperf.viewers.http.kept import KeptBody
from streamperf.viewers.reload_grid import sleep_to_grid

MAX_MPD = 1 << 20  # bytes; a bigger answer is not read
SETUP_RETRY_S = 1.0  # MPD retry interval before play
MIN_UPDATE_S = 1.0  # minimumUpdatePeriod taken as at least this: never a reload storm
DISCONNECT_SEGMENTS = 3.0  # MPD unreachable for this many segment durations -> disconnect
STUCK_SEGMENTS = 3.0  # no new segment for this many durations -> one `protocol` row


class _Failed(Exception):
    """One MPD load failed: kind (the HTTP client's CONNECT, ..., or "status") and why."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind, self.why = kind, why


class DashViewer(SegmentFetching):
    """One DASH player (see viewers.base.Viewer for the contract, docs/dash.md for choices)."""

    protocol = "dash"

    def __init__(
        self,
        url: str,
        on_event: EventCallback,
        abr: str = "dashjs",
        cmcd: str = "",
        session_id: str = "",
        connect_timeout: float = 10.0,
        on_request: Callable[[str], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s):// MPD URL: {url}")
        self.url = url
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self.on_request, self.ssl_context = on_request, ssl_context  # (on_request: tests)
        self.abr = abr  # viewers/abr ABR_MODES or a representation's name (docs/abr.md)
        if cmcd and cmcd not in CMCD_MODES:
            raise ValueError(f"unknown CMCD mode {cmcd!r} (known: {', '.join(CMCD_MODES)})")
        self.cmcd = cmcd  # CTA-5004 keys on each request (segments.py)
        self.session_id = session_id or uuid.uuid4().hex
        self._content_id = parts.path[-64:]
        self.ladder: DashLadder | None = None  # made when the video set is first seen
        self._http: HttpClient | None = None
        self.bytes_received = 0  # MPD, init and media segment bodies
        self.playing = False
        self.play_requested_wall: float | None = None
        self.first_video_wall: float | None = None
        self.error: str | None = None
        self.mpd: Mpd | None = None
        self.clock_offset = 0.0  # server clock - host clock (s)
        self.ended = False  # a static MPD played to its end
        self.video, self.audio = Track(self, VIDEO), Track(self, AUDIO)
        self.tracks: list[Track] = []
        self.mpd_loads = self.mpd_failures = self.segment_retries = 0
        self.rejoins = 0  # fell behind the time-shift window and rejoined the live edge
        self._lost: str | None = None  # segment cut by the network, not yet reported
        self._progress_at = 0.0  # loop time a segment was last asked
        self._reload_now = self._stuck_reported = self._closed = False
        self._setup_failure: tuple[str, str] | None = None
        self._cm: asyncio.Timeout | None = None

    # --- the Viewer API ---------------------------------------------------
    @property
    def media_ts_ms(self) -> int:
        """Newest media time received (ms, MPD timeline: the video's, else the audio's);
        -1 until its first segment is whole (a player shows nothing before)."""
        main = self.tracks[0] if self.tracks else self.video
        return main.media_ts_ms if main.started else -1

    @property
    def media_wallclock(self) -> float | None:
        """Unix time (host clock) the newest media received was live at the origin:
        availabilityStartTime + its MPD time, less the server's clock offset."""
        mpd = self.mpd
        ts = self.media_ts_ms
        if mpd is None or not mpd.dynamic or mpd.availability_start is None or ts < 0:
            return None
        return mpd.availability_start + ts / 1000 - self.clock_offset

    @property
    def segments_fetched(self) -> int:
        return self.video.segments_fetched + self.audio.segments_fetched

    @property
    def segments_skipped(self) -> int:
        return self.video.segments_skipped + self.audio.segments_skipped

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
            if self._setup_failure is not None and self.error is None:
                name, why = self._setup_failure
                self._error(name, f"{why} (play time over before the viewer could start)")
        finally:
            self._cm, self._closed, self.playing = None, True, False
            http.close()
            if self.ladder is not None:
                self.ladder.stopped()

    def close(self) -> None:
        self._closed = True
        cm = self._cm
        if cm is not None and not cm.expired():
            with contextlib.suppress(RuntimeError):  # already leaving
                cm.reschedule(-1.0)

    # --- the play loop ------------------------------------------------------
    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        setup_deadline = loop.time() + self.connect_timeout
        began = await self._setup(setup_deadline)
        if began is None:
            return
        mpd = self.mpd
        assert mpd is not None
        next_reload = began + _update_wait(mpd)
        last_ok = began
        self._progress_at = loop.time()
        while not self._closed:
            now = loop.time()
            if now >= next_reload or self._reload_now:
                self._reload_now = False
                try:
                    await self._load(self.connect_timeout)
                    last_ok = now
                    next_reload = now + _update_wait(self.mpd)  # type: ignore[arg-type]
                except _Failed as f:
                    self.mpd_failures += 1
                    seg_s = self._segment_s()
                    if loop.time() - last_ok > DISCONNECT_SEGMENTS * seg_s:
                        lost = f"; {self._lost}" if self._lost else ""
                        self._error("disconnect", f"MPD unreachable for "
                                    f"{loop.time() - last_ok:.1f}s: {f.why}{lost}", final=True)
                        return
                    next_reload = now + seg_s / 2
                continue
            pick, wake = self._next(now)
            if pick is not None:
                await self._fetch(*pick)
                continue
            if all(t.done for t in self.tracks):
                self.ended = True
                return
            if not self.playing and now >= setup_deadline:
                self._error("timeout", f"no segment fetched within {self.connect_timeout:g}s",
                            final=True)
                return
            self._check_stuck(now)
            # at least once a segment duration: a timeline that stops growing is noticed
            await sleep_to_grid(min(wake, next_reload, now + self._segment_s()))

    async def _setup(self, deadline: float) -> float | None:
        """The first MPD (retried until `deadline`), the clock, the tracks: the loop time
        the good load began, or None when the viewer ended (a row says why)."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            began = loop.time()
            try:
                mpd = await self._load(max(0.05, deadline - began))
                self._tracks(mpd)
                break
            except _Failed as f:
                self.mpd_failures += 1
                name = {CONNECT: "connect", TIMEOUT: "timeout"}.get(f.kind, "protocol")
                if f.kind == CONNECT or loop.time() >= deadline:
                    if f.kind == TIMEOUT and self._setup_failure is not None:
                        name, why = self._setup_failure  # what the server answered before
                    else:
                        why = f"no MPD: {f.why}"
                    self._error(name, why, final=True)
                    return None
                self._setup_failure = (name, f"no MPD: {f.why}")
                await asyncio.sleep(min(SETUP_RETRY_S, max(0.0, deadline - loop.time())))
        else:
            return None
        self._setup_failure = None
        await self._sync_clock(mpd)
        return began

    def _tracks(self, mpd: Mpd) -> None:
        period = mpd.periods[-1] if mpd.dynamic else mpd.periods[0]
        self.tracks = [t for t in (self.video, self.audio) if period.of_kind(t.kind)]
        if not self.tracks:
            kinds = ", ".join(sorted({a.kind or "?" for a in period.adaptation_sets})) or "none"
            raise _Failed("bad", f"{mpd.url}: no video or audio adaptation set (kinds: {kinds})")

    async def _sync_clock(self, mpd: Mpd) -> None:
        timing = usable_timing(mpd)
        if timing is None:
            schemes = ", ".join(u.scheme for u in mpd.utc_timing) or "none"
            self.on_event(CLOCK, "host", 0.0, f"{self.url}: no usable UTCTiming "
                          f"(schemes: {schemes}); the host's clock")
            return
        assert self._http is not None
        try:
            self.clock_offset = await server_offset(
                self._http, timing, min(self.connect_timeout, 5.0), self, time.time())
        except ClockError as e:
            self.on_event(CLOCK, "host", 0.0, f"{self.url}: UTCTiming failed ({e}); the "
                          "host's clock")
            return
        self.on_event(CLOCK, "utc_timing", self.clock_offset, f"{timing.scheme} {timing.value}")

    def _segment_s(self) -> float:
        reps = [t.rep for t in self.tracks if t.rep is not None]
        return max([MIN_LATE_S, *(segment_duration(r) for r in reps)])

    # --- what to fetch next ---------------------------------------------------
    def _next(self, now: float) -> tuple[tuple[Track, SegmentRef] | None, float]:
        """The next segment to fetch (the earliest due of the tracks), or None and the
        loop time worth looking again."""
        best: tuple[Track, SegmentRef] | None = None
        wake = math.inf
        server_now = time.time() + self.clock_offset
        for track in self.tracks:
            if track.done:
                continue
            if track.wait_until > now:
                wake = min(wake, track.wait_until)
                continue
            seg, wait = self._wanted(track, server_now)
            if seg is None:
                wake = min(wake, now + wait)
            elif best is None or seg.start < best[1].start:
                best = (track, seg)
        return best, wake

    def _wanted(self, track: Track, server_now: float) -> tuple[SegmentRef | None, float]:
        """The track's next segment if it is available now; else None and seconds to wait."""
        mpd = self.mpd
        assert mpd is not None
        for _ in range(len(mpd.periods) + 3):  # each turn moves to a later period or segment
            if not track.positioned:
                rep = self._representation(mpd.periods[-1 if mpd.dynamic else 0], track)
                if rep is None:
                    break
                track.pos = start_position(mpd, rep, server_now)
                track.positioned = True
            period = period_at(mpd, track.pos)
            rep = self._representation(period, track)
            seg = find_segment(period, rep, track.pos) if rep is not None else None
            if rep is None or seg is None:
                later = [p for p in mpd.periods if p.start > period.start]
                if later and (not mpd.dynamic or later[0].start <= server_now - _ast(mpd)):
                    track.pos = later[0].start
                    continue
                if not mpd.dynamic:
                    track.done = True
                return None, math.inf  # the next MPD may list more
            edge = live_edge(mpd, rep, server_now)
            if seg.end > edge + EPS:
                return None, seg.end - edge
            if seg.end < window_start(mpd, server_now):
                self._rejoin(track, rep, seg, server_now)
                continue
            if seg.url in track.recent:  # a server renumbering, or a never-advancing URL
                track.pos = seg.end
                continue
            return seg, 0.0
        return None, math.inf

    def _rejoin(self, track: Track, rep: Representation, seg: SegmentRef, now: float) -> None:
        mpd = self.mpd
        assert mpd is not None
        new = start_position(mpd, rep, now)
        skipped = max(1, round((new - seg.start) / max(seg.duration, EPS)))
        self.rejoins += 1
        track.segments_skipped += skipped
        self._error("protocol", f"fell behind: {track.kind} segment #{seg.number} left the "
                    f"time-shift window; rejoined at the live edge, {skipped} segment(s) skipped")
        track.pos = new

    def _representation(self, period: Period, track: Track) -> Representation | None:
        """The track's representation in `period`: the one it plays if still listed, else
        the choice for its kind (the highest bandwidth)."""
        aset = period.of_kind(track.kind)
        if aset is None or not aset.representations:
            return None
        rep = track.rep
        if rep is not None:
            same = next((r for r in aset.representations if r.id == rep.id), None)
            if same is not None:
                track.rep = same
                return same
        if track.kind == VIDEO:
            if self.ladder is None:
                try:
                    self.ladder = DashLadder(self.abr, aset, self.on_event)
                except ValueError as e:  # --abr names no representation of this MPD
                    self._error("protocol", f"ABR: {e}", final=True)
                    self.close()
                    return None
            track.rep = self.ladder.representation(aset, self.ladder.rendition)
            if track.rep is not None:
                return track.rep
        track.rep = max(aset.representations, key=lambda r: r.bandwidth)
        return track.rep

    def _check_stuck(self, now: float) -> None:
        mpd = self.mpd
        if mpd is None or not mpd.dynamic or self._stuck_reported:
            return
        idle = now - self._progress_at
        if idle > STUCK_SEGMENTS * self._segment_s():
            self._stuck_reported = True
            self._error("protocol", f"no new segment for {idle:.1f}s: the MPD stopped "
                        f"updating or the stream stalled (publishTime {mpd.publish_time})")

    # --- requests -------------------------------------------------------------
    async def _load(self, limit: float) -> Mpd:
        http = self._http
        assert http is not None
        sink = KeptBody(self, MAX_MPD, "an MPD")
        ask, headers = self._with_cmcd(self.url, "m", None, None)
        try:
            resp = await http.get(ask, limit, sink, 0.0, headers)
        except GetError as e:
            raise _Failed(e.kind, f"GET {self.url}: {e.why}") from None
        if resp.status != 200:
            raise _Failed("status", f"GET {self.url}: HTTP {resp.status}")
        try:
            # the URL without CMCD keys (they differ per viewer: the parse is shared)
            mpd = parse_mpd(sink.body(), self.url if resp.url == ask else resp.url)
        except MpdError as e:
            raise _Failed("bad", str(e)) from None
        except Exception as e:  # whatever the bytes, a bad MPD is this viewer's error
            raise _Failed("bad", f"{resp.url}: unusable MPD ({type(e).__name__}: {e})") from None
        self.mpd = mpd
        self.mpd_loads += 1
        if self._lost is not None:
            self._error("protocol", self._lost)
            self._lost = None
        return mpd

    # --- what the tracks report -------------------------------------------
    def _first_media(self, track: Track, ts_s: float) -> None:
        if track.kind == VIDEO:
            self.first_video_wall = time.time()
        self.on_event(FIRST_VIDEO if track.kind == VIDEO else FIRST_AUDIO, "", ts_s, "")

    def _error(self, name: str, what: str, final: bool = False) -> None:
        if self.error is None:
            self.error = name
        self.on_event(VIEWER_ERROR, name, 0.0, f"{self.url}: {what}")
        if final:
            self.playing = False


def _ast(mpd: Mpd) -> float:
    return mpd.availability_start or 0.0


def _update_wait(mpd: Mpd) -> float:
    """Seconds from one MPD load to the next: minimumUpdatePeriod, at least
    MIN_UPDATE_S; never for a static MPD or one without the attribute."""
    mup = mpd.minimum_update_period
    return math.inf if mup is None or not mpd.dynamic else max(MIN_UPDATE_S, mup)


__all__ = ["DashViewer"]
