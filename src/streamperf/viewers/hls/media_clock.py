"""An HLS viewer's media clock: where on the publisher's timeline the media it has
received reaches, from each segment's first PTS (docs/hls.md, "Media time").

A mixin of HlsViewer: the clock reads the viewer's byte count as a segment's
body arrives (bodies.py writes _seg_len, _seg_base, ...), so a sample between
two segments sees media advance with the bytes, not in steps of a segment.
"""

from __future__ import annotations

import time

from streamperf.viewers.base import FIRST_AUDIO, FIRST_VIDEO, EventCallback
from streamperf.viewers.formats.mpegts import PTS_HZ, TsScanner, unwrap_pts
from streamperf.viewers.hls.playlist import Segment


class MediaClock:
    """The media clock's state and the methods that move it."""

    bytes_received: int
    target_duration: float | None
    discontinuities: int
    first_video_wall: float | None
    on_event: EventCallback

    def _error(self, name: str, what: str, final: bool = False) -> None:
        raise NotImplementedError

    def _init_clock(self, pts_offset_s: float) -> None:
        self._offset_ms = pts_offset_s * 1000
        self._floor_ms = -1  # media time reached by completed segments
        self._seg_start_ms = -1  # media time of the current segment's first PES; -1: none
        self._seg_dur_ms = 0
        self._seg_len = 1  # Content-Length (or estimate) of the current segment
        self._seg_base = 0  # bytes_received when its body began
        self._bytes_per_s = 0.0  # of the last segment, for bodies without Content-Length
        self._ref_pts: int | None = None  # last unwrapped PTS
        self._shift_ms = 0.0  # added to PTS times by discontinuities
        self._pdt_anchor: float | None = None  # PDT - media time, of the newest segment
        self._want_first = True  # FIRST_VIDEO / FIRST_AUDIO still to find
        self._firsts_due = True  # ... or found, and their segment not yet whole
        self._firsts: list[tuple[str, float]] = []
        self._pts_missing_reported = False

    @property
    def media_ts_ms(self) -> int:
        """Newest media time received (ms, publisher timeline); -1 until the first
        segment is whole (a player shows nothing before it has appended one)."""
        return -1 if self._firsts_due else self._received_ms()

    def _received_ms(self) -> int:
        start = self._seg_start_ms
        if start < 0:
            return self._floor_ms
        got = self.bytes_received - self._seg_base
        dur = self._seg_dur_ms
        t = start + (dur if got >= self._seg_len else dur * got // self._seg_len)
        return t if t > self._floor_ms else self._floor_ms

    @property
    def media_wallclock(self) -> float | None:
        """Unix time the newest received media was captured (from PROGRAM-DATE-TIME), or None."""
        anchor = self._pdt_anchor
        ts = self.media_ts_ms
        return None if anchor is None or ts < 0 else anchor + ts / 1000

    def _head_done(self, seg: Segment, scanner: TsScanner) -> None:
        pts = scanner.first_pts
        floor = self._floor_ms
        if pts is None:
            # not MPEG-TS (fMP4?) or no PES early on: carry on by EXTINF
            if not self._pts_missing_reported:
                self._pts_missing_reported = True
                self._error(
                    "protocol",
                    f"segment {seg.uri}: no PES with a PTS in its first "
                    f"{scanner.scanned} bytes; media time follows EXTINF",
                )
            start = float(max(floor, 0))
        else:
            if self._ref_pts is not None:
                pts = unwrap_pts(pts, self._ref_pts)
            self._ref_pts = pts
            start = pts * 1000 / PTS_HZ - self._offset_ms + self._shift_ms
            td_ms = (self.target_duration or seg.duration) * 1000
            if floor >= 0 and (seg.discontinuity or start < floor - 2 * td_ms):
                # a new timeline: continue where the old one ended
                self.discontinuities += 1
                self._shift_ms += floor - start
                start = float(floor)
        self._seg_start_ms = int(start)
        pdt = seg.program_date_time
        self._pdt_anchor = None if pdt is None else pdt - start / 1000
        if self._want_first:
            self._want_first = False  # the first segment only (a non-TS stream: never)
            for kind, event in ((scanner.video_pts, FIRST_VIDEO), (scanner.audio_pts, FIRST_AUDIO)):
                if kind is not None:
                    ts = unwrap_pts(kind, kind if pts is None else pts) * 1000 / PTS_HZ
                    self._firsts.append((event, (ts + self._shift_ms - self._offset_ms) / 1000))

    def _segment_done(self, complete: bool) -> None:
        start = self._seg_start_ms
        if start < 0:
            return
        t = start + self._seg_dur_ms if complete else self._received_ms()
        if t > self._floor_ms:
            self._floor_ms = t
        self._seg_start_ms = -1
        firsts, self._firsts = self._firsts, []
        if not complete:
            self._want_first = self._want_first or bool(firsts)  # the next one is the first
        elif self._firsts_due:
            # hls.js and native players append whole segments: the first frame shows
            # once the first segment is in, not at its first bytes
            self._firsts_due = False
            for event, ts_s in firsts:
                if event == FIRST_VIDEO:
                    self.first_video_wall = time.time()
                self.on_event(event, "", ts_s, "")


__all__ = ["MediaClock"]
