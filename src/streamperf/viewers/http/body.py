"""HTTP/1.1 for a streaming player on a raw socket: the response head, and
the body framings (chunked, Content-Length, until close) that hand body
byte ranges of the read buffer to a parser, in place.

Used by the HTTP-FLV viewer (viewers/flv/viewer.py), which reads a never-ending response
through asyncio.BufferedProtocol and cannot afford a client library's
per-chunk objects. Chunk framing is stripped in the caller's buffer: the
chunks' data is moved together and passed on as one (start, end) range;
only a partial chunk-size line is kept between reads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_HEAD = 64 * 1024  # a response head beyond this is garbage
MAX_SIZE_LINE = 1024  # chunk-size line with extensions

#: what a framing hands each body range to, in place (the FLV tag parser's feed); what it
#: returns (what the parser found in the range) the framing returns to its caller
BodySink = Callable[[bytearray, int, int], Sequence[Any]]
_NOTHING: tuple[Any, ...] = ()


class HttpProtocolError(Exception):
    """The response is not HTTP/1.x we can follow."""


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    #: header names lower-cased; a repeated header keeps its last value
    headers: dict[str, str]

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        """The Content-Length (None: none given, or chunked, which wins)."""
        raw = self.headers.get("content-length")
        if raw is None or self.chunked:
            return None
        if not _digits(raw.strip()):
            raise HttpProtocolError(f"Content-Length {raw!r}")
        return int(raw)


def _digits(text: str) -> bool:
    # str.isdigit() takes "²" (latin-1 0xB2), which int() refuses: ASCII digits only.
    return text.isascii() and text.isdigit()


def parse_response_head(head: bytes) -> ResponseHead:
    """Parse a status line and headers (without the blank line that ends them)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not _digits(parts[1]):
        raise HttpProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpProtocolError(f"bad header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


class BodyFraming:
    """Passes body bytes to `sink` until the body ends (`done`)."""

    def __init__(self, sink: BodySink) -> None:
        self.sink = sink
        #: True once the body is complete (never for a body that runs until close)
        self.done = False

    def feed(self, buf: bytearray, start: int, end: int) -> Sequence[Any]:
        return self.sink(buf, start, end)


class LengthBody(BodyFraming):
    """A body of Content-Length bytes; bytes after it are ignored."""

    def __init__(self, sink: BodySink, length: int) -> None:
        super().__init__(sink)
        self.remaining = length
        self.done = length == 0

    def feed(self, buf: bytearray, start: int, end: int) -> Sequence[Any]:
        n = min(self.remaining, end - start)
        if n <= 0:
            return _NOTHING
        self.remaining -= n
        self.done = not self.remaining
        return self.sink(buf, start, start + n)


class ChunkState(enum.Enum):
    SIZE_LINE = "size_line"  # reading a chunk-size line
    DATA = "data"  # `remaining` data bytes of the chunk still to come
    DATA_END = "data_end"  # the CRLF after a chunk's data
    DONE = "done"  # the last (zero-size) chunk came: trailers and the rest ignored


SIZE_LINE, DATA, DATA_END, DONE = ChunkState


class ChunkedBody(BodyFraming):
    """Transfer-Encoding: chunked, stripped in place.

    Servers often send one chunk per FLV tag (node-media-server does), i.e.
    dozens of chunks a second: rather than call the sink per chunk, the data
    of all chunks in a read is moved together in the buffer (a memmove in C)
    and handed on in one call.
    """

    def __init__(self, sink: BodySink) -> None:
        super().__init__(sink)
        self.state = SIZE_LINE
        self.remaining = 0
        self._line = b""  # partial chunk-size line
        self._crlf = b""  # bytes of the CRLF after data seen so far

    def feed(self, buf: bytearray, start: int, end: int) -> Sequence[Any]:
        pos = w = start  # read and write positions: data moves down over framing
        while pos < end:
            state = self.state
            if state is DATA:
                rem = self.remaining
                n = rem if rem < end - pos else end - pos
                if w != pos:
                    buf[w : w + n] = buf[pos : pos + n]
                w += n
                pos += n
                rem -= n
                self.remaining = rem
                if rem:
                    break
                # the CRLF after the data, and the next size line, mostly in this read
                if end - pos >= 2 and not self._line:
                    if buf[pos] != 13 or buf[pos + 1] != 10:
                        raise HttpProtocolError(
                            f"chunk data not followed by CRLF: {bytes(buf[pos : pos + 2])!r}"
                        )
                    pos += 2
                    self.state = SIZE_LINE
                else:
                    self.state = DATA_END
            elif state is SIZE_LINE:
                nl = buf.find(b"\n", pos, end)
                if nl < 0:
                    self._line += bytes(buf[pos:end])
                    if len(self._line) > MAX_SIZE_LINE:
                        raise HttpProtocolError(f"chunk-size line of {len(self._line)}+ bytes")
                    break
                if self._line:
                    line = self._line + bytes(buf[pos:nl])
                    self._line = b""
                else:
                    line = bytes(buf[pos:nl])
                pos = nl + 1
                size = _chunk_size(line)
                if size == 0:
                    self.state = DONE
                    self.done = True
                    break
                self.remaining = size
                self.state = DATA
            elif state is DATA_END:
                take = min(2 - len(self._crlf), end - pos)
                self._crlf += bytes(buf[pos : pos + take])
                pos += take
                if len(self._crlf) < 2:
                    break
                if self._crlf != b"\r\n":
                    raise HttpProtocolError(f"chunk data not followed by CRLF: {self._crlf!r}")
                self._crlf = b""
                self.state = SIZE_LINE
            else:  # DONE
                break
        return self.sink(buf, start, w) if w > start else _NOTHING


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if not digits or not digits.isalnum():
        raise HttpProtocolError(f"bad chunk size {line[:40]!r}")
    try:
        return int(digits, 16)
    except ValueError:
        raise HttpProtocolError(f"bad chunk size {line[:40]!r}") from None


def body_framing(head: ResponseHead, sink: BodySink) -> BodyFraming:
    """The framing `head` announces for its body."""
    if head.chunked:
        return ChunkedBody(sink)
    length = head.content_length
    if length is not None:
        return LengthBody(sink, length)
    return BodyFraming(sink)
