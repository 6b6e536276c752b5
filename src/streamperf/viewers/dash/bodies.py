"""What a DASH viewer does with a media segment's bytes: the response sink it hands
the HTTP client (viewers/http/connection.py ResponseSink).

A segment's head is scanned for its first moof (formats/fmp4.py: tfdt, the
media clock) and the rest only counted, most of it discarded unread by the
kernel (MSG_TRUNC), as hls/bodies.py does for MPEG-TS. The sink writes the
track's byte count and clock in place (no call into the viewer per read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from streamperf.viewers.abr import AbrPolicy, Rendition
from streamperf.viewers.abr.abandon import ABANDON_SLOTS, AbandonCheck
from streamperf.viewers.dash.timeline import SegmentRef
from streamperf.viewers.formats.fmp4 import HEAD_LIMIT, FragmentScanner
from streamperf.viewers.http.connection import ResponseSink

SCAN_READ = 8192  # bytes read at a time until the head is scanned; the rest is discarded


class TrackClock(Protocol):
    """What the sink reads and writes of the track it fetches for (dash/track.py Track)."""

    #: bytes of this track's segments received so far
    bytes: int
    #: the current segment: its length (or estimate), bytes at its start
    seg_len: int
    seg_base: int
    #: the last segment's rate, for a segment without Content-Length
    bytes_per_s: float

    def head_done(self, seg: SegmentRef, scanner: FragmentScanner) -> None:
        """The segment's head is scanned: its tfdt (or none) sets the media clock."""
        ...


class FetchingViewer(Protocol):
    """What the sink writes of the viewer (DashViewer is one)."""

    bytes_received: int  # every body's bytes
    playing: bool


class MediaBody(ResponseSink):
    """A media segment: the clock from its first moof, then only the byte count."""

    __slots__ = ("ok", "scanner", "scanning", "seg", "track", "viewer")
    read_size = SCAN_READ

    def __init__(self, viewer: FetchingViewer, track: TrackClock, seg: SegmentRef) -> None:
        self.viewer = viewer
        self.track = track
        self.seg = seg
        self.ok = False
        self.scanning = True
        self.scanner = FragmentScanner(HEAD_LIMIT)

    def head(self, status: int, length: int | None) -> None:
        if status != 200:
            self.scanning = False  # an error page: not counted
            return
        self.ok = True
        t = self.track
        self.viewer.playing = True
        t.seg_len = length or int(t.bytes_per_s * self.seg.duration) or 1
        t.seg_base = t.bytes

    def data(self, buf: bytearray, start: int, end: int) -> None:
        n = end - start
        self.viewer.bytes_received += n
        self.track.bytes += n
        if self.scanner.feed(memoryview(buf)[start:end]):
            self.head_done()

    def head_done(self) -> None:
        if self.scanning:
            self.scanning = False
            self.scanner.finish()
            self.track.head_done(self.seg, self.scanner)

    def skipped(self, n: int) -> None:
        if self.ok:
            self.viewer.bytes_received += n
            self.track.bytes += n


class AbrMediaBody(AbandonCheck, MediaBody):
    """A video segment of a ladder: its head timed (the request
    latency dash.js takes off its estimate), and watched for dash.js's
    AbandonRequestsRule (viewers/abr/abandon.py)."""

    __slots__ = ABANDON_SLOTS

    def __init__(self, viewer: FetchingViewer, track: TrackClock, seg: SegmentRef,
                 policy: AbrPolicy, rendition: Rendition,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        super().__init__(viewer, track, seg)
        self._arm(policy, rendition, clock)

    def head(self, status: int, length: int | None) -> None:
        self._timed(length)
        super().head(status, length)

    def _segment_bytes(self) -> int:
        return self.track.bytes - self.track.seg_base

    def _segment_s(self) -> float:
        return self.seg.duration


__all__ = ["AbrMediaBody", "FetchingViewer", "MediaBody", "TrackClock"]
