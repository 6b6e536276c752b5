"""An answer kept whole, up to a cap: a manifest, an initialization segment, a time.

Content-Length alone does not bound it: a chunked (or length-less) answer is
counted as it comes and dropped once past the cap, so a wrong URL (a video
file, an endless stream) costs at most `limit` bytes of memory.
"""

from __future__ import annotations

from typing import Protocol

from streamperf.viewers.http.connection import BAD, GetError, ResponseSink


class CountsBytes(Protocol):
    #: the viewer's byte count, which a kept body adds to
    bytes_received: int


class KeptBody(ResponseSink):
    """Keeps the body (`chunks`); more than `limit` bytes is not what was asked for."""

    __slots__ = ("chunks", "counter", "limit", "size", "what")

    def __init__(self, counter: CountsBytes, limit: int, what: str) -> None:
        self.counter = counter
        self.limit = limit
        self.what = what  # "an MPD", "an initialization segment": for the error
        self.chunks: list[bytes] = []
        self.size = 0

    def head(self, status: int, length: int | None) -> None:
        if (length or 0) > self.limit:
            raise GetError(BAD, f"{length} bytes, not {self.what}")

    def data(self, buf: bytearray, start: int, end: int) -> None:
        n = end - start
        self.size += n
        self.counter.bytes_received += n
        if self.size > self.limit:
            raise GetError(BAD, f"more than {self.limit} bytes, not {self.what}")
        self.chunks.append(bytes(buf[start:end]))

    def body(self) -> bytes:
        return b"".join(self.chunks)


__all__ = ["CountsBytes", "KeptBody"]
