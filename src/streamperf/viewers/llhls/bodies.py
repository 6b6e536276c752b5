"""What an LL-HLS viewer does with the bytes of each answer: the response sinks it
hands the HTTP client (viewers/http/connection.py ResponseSink).

A playlist and an init section are kept whole (they are small); a part or a
segment is scanned at its head for where it starts in media time (fMP4: the
first moof's tfdt, formats/fmp4.py; MPEG-TS: the first PTS, formats/mpegts.py)
and the rest only counted, as the HLS and DASH viewers do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from streamperf.viewers.formats.fmp4 import FragmentScanner, InitInfo
from streamperf.viewers.formats.mpegts import PTS_HZ, TsScanner
from streamperf.viewers.http.connection import BAD, GetError, ResponseSink

MAX_TEXT = 1 << 20  # bytes; a bigger playlist or init section is not one
HEAD_LIMIT = 16384  # bytes of a part searched for its start
SCAN_READ = 8192  # bytes read at a time until the head is scanned; the rest is discarded
OK_STATUS = (200, 206)  # 206: a BYTERANGE part


class Counting(Protocol):
    bytes_received: int


class TextBody(ResponseSink):
    """A whole small answer (playlist, init section); over MAX_TEXT bytes is refused."""

    __slots__ = ("chunks", "size", "viewer")

    def __init__(self, viewer: Counting) -> None:
        self.viewer = viewer
        self.chunks: list[bytes] = []
        self.size = 0

    def head(self, status: int, length: int | None) -> None:
        if (length or 0) > MAX_TEXT:
            raise GetError(BAD, f"{length} bytes, not a playlist or init section")

    def data(self, buf: bytearray, start: int, end: int) -> None:
        n = end - start
        self.size += n
        self.viewer.bytes_received += n
        if self.size > MAX_TEXT:
            raise GetError(BAD, f"more than {MAX_TEXT} bytes, not a playlist or init section")
        self.chunks.append(bytes(buf[start:end]))

    def body(self) -> bytes:
        return b"".join(self.chunks)


class MediaBody(ResponseSink):
    """A part or segment: its first decode time (fMP4) or PTS (TS), then its byte count."""

    __slots__ = ("clock", "got", "head_at", "ok", "scanner", "scanning", "viewer")
    read_size = SCAN_READ

    def __init__(self, viewer: Counting, fmp4: bool,
                 clock: Callable[[], float] | None = None) -> None:
        self.viewer = viewer
        self.clock = clock  # given: when the head came is kept (an ABR viewer's TTFB)
        self.head_at: float | None = None
        self.ok = False
        self.scanning = True
        self.got = 0  # body bytes
        self.scanner: FragmentScanner | TsScanner = (
            FragmentScanner(HEAD_LIMIT) if fmp4 else TsScanner())

    def head(self, status: int, length: int | None) -> None:
        if self.clock is not None:
            self.head_at = self.clock()
        if status not in OK_STATUS:
            self.scanning = False  # an error page: not counted
            return
        self.ok = True

    def data(self, buf: bytearray, start: int, end: int) -> None:
        n = end - start
        self.got += n
        self.viewer.bytes_received += n
        scanner = self.scanner
        if scanner.feed(bytes(buf[start:end])) or scanner.scanned >= HEAD_LIMIT:
            self.scanning = False

    def skipped(self, n: int) -> None:
        if self.ok:
            self.got += n
            self.viewer.bytes_received += n

    def start_ticks(self) -> int | None:
        """fMP4: the first moof's tfdt; TS: the first PTS (90 kHz); None if not found."""
        s = self.scanner
        if isinstance(s, FragmentScanner):
            return s.decode_time
        return s.first_pts

    def track_id(self) -> int | None:
        s = self.scanner
        return s.track_id if isinstance(s, FragmentScanner) else None

    def start_s(self, init: InitInfo | None) -> float | None:
        """Where it starts in media time (s): fMP4 by its track's timescale in `init`, TS
        (`init` None) by the 90 kHz clock; None when not found."""
        ticks = self.start_ticks()
        if ticks is None:
            return None
        if isinstance(self.scanner, TsScanner):
            return ticks / PTS_HZ
        track = init.track(self.track_id()) if init is not None else None
        if track is None or track.timescale <= 0:
            return None
        return ticks / track.timescale


__all__ = ["OK_STATUS", "MediaBody", "TextBody"]
