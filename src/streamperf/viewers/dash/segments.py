"""How a DASH viewer fetches its segments: the ABR choice before a video segment,
the initialization segment once per representation, the media segment (its head
scanned, the rest counted; bodies.py), a late one asked again, a stalled one once
more, one given up for a lower rendition (dash.js's AbandonRequestsRule) asked
again from that rendition, and the CMCD keys on each request (viewers/cmcd.py).

A mixin of DashViewer (viewer.py), which holds the state it reads.
"""

from __future__ import annotations

import asyncio
import time

from streamperf.viewers import cmcd as cmcd_keys
from streamperf.viewers.abr import Rendition
from streamperf.viewers.base import EventCallback
from streamperf.viewers.dash.bodies import AbrMediaBody, MediaBody
from streamperf.viewers.dash.ladder import DashLadder
from streamperf.viewers.dash.mpd import VIDEO, Mpd, Representation
from streamperf.viewers.dash.timeline import SegmentRef
from streamperf.viewers.dash.track import Track
from streamperf.viewers.formats.fmp4 import BoxError, read_init
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import ABANDON, STALL, TIMEOUT, GetError
from streamperf.viewers.http.kept import KeptBody

MAX_INIT = 1 << 20  # bytes; a bigger initialization segment is not read
SEGMENT_RETRIES = 1  # a stalled segment download is asked again once
ABANDON_RETRIES = 2  # ... and one given up for a lower rendition, down to twice
MIN_STALL_S = 1.0  # no data for max(this, segment duration) counts as stalled
LATE_RETRY_S = 0.25  # a segment due but answered 404 is asked again this much later ...
MIN_LATE_S = 1.0  # ... until max(this, its duration) past its availability time
INIT_TRIES = 3  # an initialization segment failing this often: media time from the MPD


class SegmentFetching:
    """The segment requests of a DashViewer."""

    # what DashViewer holds (viewer.py)
    on_event: EventCallback
    connect_timeout: float
    cmcd: str
    session_id: str
    _content_id: str
    mpd: Mpd | None
    clock_offset: float
    ladder: DashLadder | None
    playing: bool
    segment_retries: int
    _http: HttpClient | None
    _lost: str | None
    _reload_now: bool
    _progress_at: float
    _stuck_reported: bool

    def _error(self, name: str, what: str, final: bool = False) -> None:
        raise NotImplementedError

    async def _fetch(self, track: Track, seg: SegmentRef) -> None:
        ladder = self.ladder if track.kind == VIDEO else None
        if ladder is not None and self.mpd is not None:
            now = asyncio.get_running_loop().time()
            rep, seg = ladder.before(now, self.mpd, track.pos, seg)
            track.rep = rep or track.rep
        loop = asyncio.get_running_loop()
        self._progress_at = loop.time()
        self._stuck_reported = False
        stalls = abandons = 0
        while True:
            rep = track.rep
            assert rep is not None
            if rep.template.initialization and rep.id not in track.inits:
                await self._init(track, rep, rep.template.initialization)
            again = await self._fetch_media(track, seg, retry=stalls < SEGMENT_RETRIES)
            if again is None:
                return
            if again == STALL:
                stalls += 1
                self.segment_retries += 1
                continue
            # given up for a lower rendition: the same instant from it
            abandons += 1
            assert ladder is not None and self.mpd is not None
            rep, other = None, None
            if abandons <= ABANDON_RETRIES:
                rep, other = ladder.switched(again, self.mpd, track.pos)
            if rep is None or other is None:
                track.segment_done(False)
                track.segments_skipped += 1
                track.pos = max(track.pos, seg.end)
                track.recent.append(seg.url)
                return
            track.rep, seg = rep, other

    async def _init(self, track: Track, rep: Representation, url: str) -> None:
        http = self._http
        assert http is not None
        sink = KeptBody(self, MAX_INIT, "an initialization segment")
        ask, headers = self._with_cmcd(url, "i", None, track)
        try:
            resp = await http.get(ask, self.connect_timeout, sink, 0.0, headers)
            if resp.status != 200:
                raise BoxError(f"HTTP {resp.status}")
            track.inits[rep.id] = read_init(sink.body())
            return
        except (GetError, BoxError) as e:
            why = e.why if isinstance(e, GetError) else str(e)
        tries = track.init_tries[rep.id] = track.init_tries.get(rep.id, 0) + 1
        if tries >= INIT_TRIES:
            track.inits[rep.id] = None
            why += f"; given up after {tries} tries, media time follows the MPD"
        self._error("protocol", f"initialization segment {url}: {why}")

    async def _fetch_media(self, track: Track, seg: SegmentRef,
                           retry: bool) -> Rendition | str | None:  # fmt: skip
        """Download one segment: None when done with it (in, or skipped, or to be
        asked later), STALL to ask again, or the lower rendition it was given up for."""
        http = self._http
        assert http is not None
        limit = self.connect_timeout + 2 * seg.duration
        ladder = self.ladder if track.kind == VIDEO else None
        policy = ladder.policy if ladder is not None else None
        r = ladder.rendition if ladder is not None else None
        sink: MediaBody
        if policy is not None and r is not None:
            # timed on every rung (dash.js takes the request latency off its estimate;
            # untimed, a download would read as all latency); the abandon rule itself
            # passes the lowest by
            sink = AbrMediaBody(self, track, seg, policy, r, http.loop.time)
        else:
            sink = MediaBody(self, track, seg)
        ask, headers = self._with_cmcd(seg.url, track.kind[0], seg.duration, track)
        sent = http.loop.time()
        ok = again = False
        outcome: Rendition | str | None = None
        try:
            resp = await http.get(ask, limit, sink, max(MIN_STALL_S, seg.duration), headers)
            if resp.status != 200:
                again = self._refused(track, seg, resp.status)
                return None
            sink.head_done()  # a segment shorter than the scanned head
            ok = True
            track.segments_fetched += 1
            track.bytes_per_s = (track.bytes - track.seg_base) / seg.duration
            if ladder is not None:
                now = http.loop.time()
                head = sink.head_at if isinstance(sink, AbrMediaBody) and sink.head_at else now
                ladder.loaded(now, sent, head, track.bytes - track.seg_base, seg)
        except GetError as e:
            if e.kind == ABANDON and isinstance(sink, AbrMediaBody):
                outcome = sink.abandon_to
            elif e.kind == STALL and retry:
                outcome = STALL
            elif e.kind in (STALL, TIMEOUT):
                track.segments_skipped += 1
                self._error("timeout", f"segment {seg.url}: {e.why}, skipped")
            else:
                track.segments_skipped += 1
                got = track.bytes - track.seg_base if sink.ok else 0
                self._lost = f"segment {seg.url} failed after {got} bytes: {e.why}; skipped"
                self._reload_now = True  # an outage shows as the MPD failing (disconnect)
        finally:
            if outcome is not None:
                track.keep_reported()  # what was reported stays; the segment starts over
            else:
                track.segment_done(ok)
                if not again:  # done with it (in, or skipped): on to the next
                    track.pos = max(track.pos, seg.end)
                    track.recent.append(seg.url)
        return outcome

    def _refused(self, track: Track, seg: SegmentRef, status: int) -> bool:
        """A segment answered `status`: True when it is to be asked again shortly (it
        may only be late: just due by the clock), else it is skipped with a row."""
        mpd = self.mpd
        assert mpd is not None
        offset = track.rep.template.availability_offset if track.rep else 0
        due = (mpd.availability_start or 0.0) + seg.end - offset
        server_now = time.time() + self.clock_offset
        if mpd.dynamic and status == 404 and server_now < due + max(MIN_LATE_S, seg.duration):
            track.late_retries += 1
            track.wait_until = asyncio.get_running_loop().time() + LATE_RETRY_S
            return True
        track.segments_skipped += 1
        self._error("protocol", f"segment {seg.url}: HTTP {status}, skipped "
                    f"({track.segments_skipped} so far)")
        return False

    def _with_cmcd(self, url: str, ot: str, duration: float | None,
                   track: Track | None) -> tuple[str, bytes]:  # fmt: skip
        """The URL to ask and the CMCD header lines (none without --cmcd); `track`
        None for the MPD."""
        if not self.cmcd:
            return url, b""
        ladder = self.ladder if track is not None and track.kind == VIDEO else None
        http = self._http
        return cmcd_keys.request(
            self.cmcd, url, sid=self.session_id, cid=self._content_id, ot=ot, sf="d",
            starting=not self.playing, duration=duration,
            policy=ladder.policy if ladder is not None else None,
            rendition=ladder.rendition if ladder is not None else None,
            now=http.loop.time() if http is not None else 0.0)


__all__ = ["MIN_LATE_S", "SegmentFetching"]
