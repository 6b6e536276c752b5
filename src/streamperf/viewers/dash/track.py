"""One adaptation set a DASH viewer plays (its video, its audio): the representation,
where the viewer is in it, and its media clock.

The clock is the HLS viewer's (docs/hls.md, Media time), fed by fMP4 instead of
MPEG-TS: a segment's media time is its first moof's tfdt over the track's mdhd
timescale, put on the MPD timeline (docs/dash.md), plus the segment's duration x
(bytes in / Content-Length) while it downloads. It never goes back.
"""

from __future__ import annotations

import collections
from typing import Protocol

from streamperf.viewers.dash.mpd import Representation
from streamperf.viewers.dash.timeline import SegmentRef
from streamperf.viewers.formats.fmp4 import FragmentScanner, InitInfo

RECENT_URLS = 16  # segment URLs remembered: none is fetched twice
CLOCK_TOLERANCE_S = 2.0  # tfdt this far (or 2 segments) off the MPD's time: the MPD's


class TrackOwner(Protocol):
    """What a track tells its viewer (DashViewer is one)."""

    def _first_media(self, track: Track, ts_s: float) -> None:
        """The track's first media arrived, at media time `ts_s`."""
        ...

    def _error(self, name: str, what: str, final: bool = False) -> None:
        """An error row."""
        ...


class Track:
    """The state of one adaptation set being played; the sink (bodies.py) writes the
    byte counts and calls `head_done`."""

    def __init__(self, owner: TrackOwner, kind: str) -> None:
        self.owner = owner
        self.kind = kind  # "video" | "audio"
        self.rep: Representation | None = None
        #: MPD timeline instant the next segment must end after (the last one's end)
        self.pos = 0.0
        self.positioned = False  # a start position was chosen
        self.done = False  # a static MPD's last segment is in
        #: loop time before which its next segment is not asked (a late one, retried)
        self.wait_until = 0.0
        #: representation id -> its init segment's tracks (None: it could not be had)
        self.inits: dict[str, InitInfo | None] = {}
        self.init_tries: dict[str, int] = {}
        self.recent: collections.deque[str] = collections.deque(maxlen=RECENT_URLS)
        self.segments_fetched = 0
        self.segments_skipped = 0
        self.late_retries = 0
        # written by the sink (bodies.MediaBody) while a segment downloads
        self.bytes = 0
        self.seg_len = 1
        self.seg_base = 0
        self.bytes_per_s = 0.0
        # the clock
        self.floor_ms = -1  # media time reached by completed segments
        self.seg_start_ms = -1  # media time of the current segment's start; -1: none
        self.seg_dur_ms = 0
        self.want_first = True
        #: the first segment's media start (s) until that segment is whole, then None
        self.first_pending: float | None = None
        #: a segment arrived whole: a player has something to show (media_ts_ms before
        #: it is not played yet)
        self.started = False
        self._mismatch_reported = False

    @property
    def media_ts_ms(self) -> int:
        """Newest media time received (ms, MPD timeline); -1 before any."""
        start = self.seg_start_ms
        if start < 0:
            return self.floor_ms
        got = self.bytes - self.seg_base
        dur = self.seg_dur_ms
        t = start + (dur if got >= self.seg_len else dur * got // self.seg_len)
        return t if t > self.floor_ms else self.floor_ms

    def init_info(self) -> InitInfo | None:
        return self.inits.get(self.rep.id) if self.rep is not None else None

    # --- written by the sink ------------------------------------------------
    def head_done(self, seg: SegmentRef, scanner: FragmentScanner) -> None:
        start = seg.start
        info = self.init_info()
        track = info.track(scanner.track_id) if info is not None else None
        if scanner.decode_time is not None and track is not None:
            # the MPD places the segment; tfdt says where its media is on that timeline
            media = seg.start + scanner.decode_time / track.timescale - seg.time / seg.timescale
            if abs(media - seg.start) <= max(CLOCK_TOLERANCE_S, 2 * seg.duration):
                start = media
            elif not self._mismatch_reported:
                self._mismatch_reported = True
                self.owner._error("protocol", f"segment {seg.url}: tfdt says {media:.3f}s, the "
                                  f"MPD {seg.start:.3f}s; media time follows the MPD")
        elif scanner.error and not self._mismatch_reported:
            self._mismatch_reported = True
            self.owner._error("protocol", f"segment {seg.url}: {scanner.error}; media time "
                              "follows the MPD")
        start_ms = int(start * 1000)
        self.seg_start_ms = max(start_ms, 0)
        self.seg_dur_ms = int(seg.duration * 1000)
        if self.want_first:
            self.want_first = False
            self.first_pending = start

    def segment_done(self, complete: bool) -> None:
        start = self.seg_start_ms
        if start < 0:
            return
        t = start + self.seg_dur_ms if complete else self.media_ts_ms
        if t > self.floor_ms:
            self.floor_ms = t
        self.seg_start_ms = -1
        first, self.first_pending = self.first_pending, None
        if first is None:
            return
        if complete:
            # A player appends whole segments: its first frame shows once the first is in.
            self.started = True
            self.owner._first_media(self, first)
        else:
            self.want_first = True  # cut short: the next segment is the first

    def keep_reported(self) -> None:
        """A download starts over (a stall retry): what was reported stays reported."""
        self.floor_ms = max(self.floor_ms, self.media_ts_ms)


__all__ = ["Track", "TrackOwner"]
