"""What an HLS viewer does with the bytes of each answer: the response sinks it
hands the HTTP client (viewers/http/connection.py ResponseSink), and the shared parse
of the playlists they keep.

A playlist answer is kept (up to MAX_PLAYLIST bytes) and parsed once per text for
all viewers of a process; a segment's head is scanned for its first PTS (the
media clock) and the rest of it only counted, most of it discarded unread by
the kernel. The sinks write the viewer's byte count and current-segment clock
in place (no call into the viewer per read): `FetchingViewer` names what they touch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from streamperf.viewers.abr.abandon import ABANDON_SLOTS, AbandonCheck
from streamperf.viewers.abr.policy import AbrPolicy
from streamperf.viewers.abr.rendition import Rendition
from streamperf.viewers.formats.mpegts import TsScanner
from streamperf.viewers.hls.playlist import MasterPlaylist, MediaPlaylist, Segment, parse_playlist
from streamperf.viewers.http.connection import BAD, GetError, ResponseSink
from streamperf.viewers.parse_memo import ParseMemo

HEAD_LIMIT = 16384  # bytes of a segment searched for its first PTS
FIRST_LIMIT = 1 << 20  # ... and for the first video + audio PES of the first segment
MAX_PLAYLIST = 1 << 20  # bytes; a bigger answer is not read (wrong URL, a video file)
SCAN_PIECE = 4096  # bytes handed to the TS scanner at a time (it copies what it is given)
SCAN_READ = 8192  # bytes read at a time from a segment until its head is scanned; the rest
# is discarded unread (viewers/http, MSG_TRUNC): the first PTS is in its first packets


class FetchingViewer(Protocol):
    """What the sinks read and write of the viewer they fetch for (HlsViewer is one)."""

    #: the viewer's byte count: playlist and segment bodies
    bytes_received: int
    playing: bool
    #: the first segment's FIRST_VIDEO / FIRST_AUDIO still to find (a longer scan)
    _want_first: bool
    #: the last segment's rate, for a segment without Content-Length
    _bytes_per_s: float
    #: the current segment: its length (or estimate), duration, bytes_received at its start
    _seg_len: int
    _seg_dur_ms: int
    _seg_base: int

    def _head_done(self, seg: Segment, scanner: TsScanner) -> None:
        """The segment's head is scanned: its first PTS (or none) sets the media clock."""
        ...


def _parse_body(body: bytes, url: str) -> MediaPlaylist | MasterPlaylist:
    return parse_playlist(body.decode("utf-8", "replace"), url)


#: parse_playlist once per playlist text for all viewers (each loads it every target
#: duration; viewers/parse_memo.py), a long one too (up to MAX_PLAYLIST)
parse_playlist_memo: ParseMemo[bytes, MediaPlaylist | MasterPlaylist] = ParseMemo(_parse_body)


class PlaylistBody(ResponseSink):
    """Keeps a playlist answer; more than MAX_PLAYLIST bytes is not a playlist.

    Content-Length alone does not bound it: a chunked (or length-less) answer
    is counted as it comes and dropped once past the cap.
    """

    __slots__ = ("chunks", "size", "url", "viewer")

    def __init__(self, viewer: FetchingViewer, url: str) -> None:
        self.viewer = viewer
        self.url = url
        self.chunks: list[bytes] = []
        self.size = 0

    def head(self, status: int, length: int | None) -> None:
        if (length or 0) > MAX_PLAYLIST:
            raise GetError(BAD, f"{length} bytes, not a playlist")

    def data(self, buf: bytearray, start: int, end: int) -> None:
        n = end - start
        self.size += n
        self.viewer.bytes_received += n
        if self.size > MAX_PLAYLIST:
            raise GetError(BAD, f"more than {MAX_PLAYLIST} bytes, not a playlist")
        self.chunks.append(bytes(buf[start:end]))


class SegmentBody(ResponseSink):
    """A segment: the media clock from its head, then only the byte count."""

    __slots__ = ("limit", "ok", "scanner", "scanning", "seg", "viewer")
    read_size = SCAN_READ

    def __init__(self, viewer: FetchingViewer, seg: Segment) -> None:
        self.viewer = viewer
        self.seg = seg
        self.ok = False
        self.scanning = True
        self.scanner = TsScanner(want_both=viewer._want_first)
        self.limit = FIRST_LIMIT if viewer._want_first else HEAD_LIMIT

    def head(self, status: int, length: int | None) -> None:
        if status != 200:
            self.scanning = False  # an error page: not counted
            return
        self.ok = True
        v = self.viewer
        seg = self.seg
        v.playing = True
        v._seg_len = length or int(v._bytes_per_s * seg.duration) or 1
        v._seg_dur_ms = int(seg.duration * 1000)
        v._seg_base = v.bytes_received

    def data(self, buf: bytearray, start: int, end: int) -> None:
        v = self.viewer
        v.bytes_received += end - start
        scanner = self.scanner
        for pos in range(start, end, SCAN_PIECE):
            if scanner.feed(bytes(buf[pos : min(end, pos + SCAN_PIECE)])):
                break
            if scanner.scanned >= self.limit:
                break
        else:
            return
        self.head_done()

    def head_done(self) -> None:
        if self.scanning:
            self.scanning = False
            self.viewer._head_done(self.seg, self.scanner)

    def skipped(self, n: int) -> None:
        if self.ok:
            self.viewer.bytes_received += n


class AbrSegmentBody(AbandonCheck, SegmentBody):
    """A segment of a ladder above its lowest rung: its head timed (for the throughput
    estimate), and watched for an emergency switch (viewers/abr/abandon.py)."""

    __slots__ = ABANDON_SLOTS

    def __init__(self, viewer: FetchingViewer, seg: Segment, policy: AbrPolicy,
                 rendition: Rendition, clock: Callable[[], float]) -> None:  # fmt: skip
        super().__init__(viewer, seg)
        self._arm(policy, rendition, clock)

    def head(self, status: int, length: int | None) -> None:
        self._timed(length)
        super().head(status, length)

    def _segment_bytes(self) -> int:
        return self.viewer.bytes_received - self.viewer._seg_base

    def _segment_s(self) -> float:
        return self.seg.duration


__all__ = [
    "MAX_PLAYLIST",
    "AbrSegmentBody",
    "FetchingViewer",
    "PlaylistBody",
    "SegmentBody",
    "parse_playlist_memo",
]
