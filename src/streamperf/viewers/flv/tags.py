"""FLV tag stream: a streaming parser for what an HTTP-FLV server sends.

An FLV stream is a file header ("FLV", version, flags, header size) and
then, over and over, PreviousTagSize (4 bytes) + a tag header (11 bytes:
type, data size, timestamp with its extended high byte, stream id) + the
tag's data. The parser reads each 15-byte tag prefix in place from the
caller's buffer and skips the data by offset; between reads it keeps only
a partial prefix (under 15 bytes) and a count of data bytes still to skip.
It copies data bytes only for the first audio and video tags until the
first real frames are in (two bytes each, judged by formats/flv_media.py, the same
checks the RTMP chunk parser uses), so the steady state builds no objects.

As with rtmp/chunks.py's ChunkParser, the viewer owns it and feeds it; `feed`
returns the first frames it completed (an empty tuple for plain media) and
raises FlvProtocolError on a stream that is not FLV. The HTTP framing
(chunked or not) stays with the viewer: the parser sees body bytes only.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence

from streamperf.viewers.formats.flv_media import (
    AUDIO,
    HEAD_BYTES,
    SCRIPT_DATA,
    VIDEO,
    FirstFrame,
    FirstFrames,
)

FILE_HEADER = 9  # "FLV" + version + flags + header size (4)
TAG_PREFIX = 4 + 11  # PreviousTagSize + tag header
TAG_HEADER = 11
MAX_FILE_HEADER = 1 << 16  # a header size beyond this is garbage, not FLV

# PreviousTagSize, type, data size (hi byte, lo 16), ts (hi byte, lo 16), ts extended, stream id
_PREFIX = struct.Struct(">IBBHBHBBH").unpack_from


class FlvProtocolError(Exception):
    """The byte stream is not valid FLV (or not something we can follow)."""


class FlvParserState(enum.Enum):
    """Where the parser stands between two reads."""

    #: before the FLV file header is complete
    READ_FILE_HEADER = "read_file_header"
    #: at a tag boundary; `partial` may hold the start of the next tag prefix
    READ_TAG = "read_tag"
    #: inside a tag's data (or the file header's extra bytes), `pending` bytes still to come
    SKIP_DATA = "skip_data"
    #: raised FlvProtocolError: the stream cannot be followed any further
    FAILED = "failed"


READ_FILE_HEADER, READ_TAG, SKIP_DATA, FAILED = FlvParserState
_NOTHING: tuple[FirstFrame, ...] = ()


class FlvTagParser:
    """Streaming parser of an FLV byte stream (an HTTP-FLV response body).

    `feed(buf, start, end)` parses buf[start:end] in place; `feed_data(data)`
    is the convenience path for whole byte strings. Both return the first
    frames completed by these bytes.
    """

    __slots__ = ("_expect_prev", "_firsts", "_head", "_head_len", "_head_ts", "_head_type",
                 "_head_want", "media_ts_ms", "partial", "pending", "state", "tags")

    def __init__(self) -> None:
        self.state = READ_FILE_HEADER
        #: newest audio/video tag timestamp (ms), -1 before the first media tag
        self.media_ts_ms = -1
        #: tags whose header has been read (all types)
        self.tags = 0
        #: bytes of an incomplete file header or tag prefix, put in front of the next feed
        self.partial = b""
        #: in SKIP_DATA: data bytes still to skip
        self.pending = 0
        self._expect_prev = 0  # PreviousTagSize the next prefix must carry
        self._firsts = FirstFrames()
        # a media tag whose first bytes are being collected across reads
        self._head: bytearray | None = None
        self._head_want = 0
        self._head_type = 0
        self._head_ts = 0
        self._head_len = 0

    @property
    def first_video_ts(self) -> int:
        """ts (ms) of the first video frame, -1 until seen."""
        return self._firsts.video_ts

    @property
    def first_audio_ts(self) -> int:
        """ts (ms) of the first audio frame, -1 until seen."""
        return self._firsts.audio_ts

    def at_tag_boundary(self) -> bool:
        """True when no tag is partly received (so an end of stream here is clean).

        The PreviousTagSize that ends a tag may be in (servers write it with the tag).
        """
        return self.state is READ_TAG and len(self.partial) <= 4

    def feed_data(self, data: bytes | bytearray | memoryview) -> Sequence[FirstFrame]:
        """Parse `data` (convenience path: copies)."""
        buf = bytearray(data)
        return self.feed(buf, 0, len(buf))

    def feed(self, buf: bytearray, start: int, end: int) -> Sequence[FirstFrame]:
        """Parse buf[start:end]; returns the first frames these bytes completed.

        Raises FlvProtocolError on a stream that is not FLV, and from then on
        (state FAILED) on every feed.

        The hot loop: one struct unpack per tag, data skipped by offset, the
        first-frame path only while `peek` is not empty.
        """
        found: list[FirstFrame] | None = None
        pos = start
        state = self.state
        try:
            if state is not READ_TAG:
                if state is FAILED:
                    raise FlvProtocolError("fed again after a protocol error")
                if state is READ_FILE_HEADER:
                    pos = self._file_header(buf, pos, end)
                    if self.state is READ_FILE_HEADER:
                        return _NOTHING
                if self.state is SKIP_DATA:
                    pending = self.pending
                    head = self._head
                    if head is not None and self._head_want:
                        take = min(self._head_want, end - pos)
                        head += buf[pos : pos + take]
                        self._head_want -= take
                    if end - pos < pending:
                        self.pending = pending - (end - pos)
                        return _NOTHING
                    pos += pending
                    self.pending = 0
                    self.state = READ_TAG
                    if head is not None:
                        self._head = None
                        first = self._firsts.check(self._head_type, self._head_ts, head,
                                                   self._head_len)
                        if first is not None:
                            found = [first]
            media_ts = self.media_ts_ms
            ntags = self.tags
            expect_prev = self._expect_prev
            peek = self._firsts.peek
            prefix = _PREFIX
            partial = self.partial
            try:
                while pos < end:
                    if partial:
                        need = TAG_PREFIX - len(partial)
                        if end - pos < need:
                            partial += buf[pos:end]
                            pos = end
                            break
                        hbuf: bytes | bytearray = partial + buf[pos : pos + need]
                        hpos = 0
                        pos += need
                        partial = b""
                    elif end - pos < TAG_PREFIX:
                        partial = bytes(buf[pos:end])
                        pos = end
                        break
                    else:
                        hbuf = buf
                        hpos = pos
                        pos += TAG_PREFIX
                    prev, ttype, lh, ll, th, tl, text, _sh, _sl = prefix(hbuf, hpos)
                    if prev != expect_prev:
                        raise FlvProtocolError(
                            f"PreviousTagSize {prev} after tag {ntags}, expected {expect_prev}"
                        )
                    size = (lh << 16) | ll
                    expect_prev = size + TAG_HEADER
                    ttype &= 0x1F  # bit 5: filtered (encrypted); same framing
                    ntags += 1
                    if ttype == VIDEO or ttype == AUDIO:
                        media_ts = (text << 24) | (th << 16) | tl
                        if peek and ttype in peek:
                            n = HEAD_BYTES if size > HEAD_BYTES else size
                            take = n if n < end - pos else end - pos
                            head = bytearray(buf[pos : pos + take])
                            if end - pos < size:  # completed in a later read
                                self._head, self._head_want = head, n - take
                                self._head_type, self._head_ts, self._head_len = (
                                    ttype, media_ts, size)
                                self.pending = size - (end - pos)
                                self.state = SKIP_DATA
                                pos = end
                                break
                            pos += size
                            first = self._firsts.check(ttype, media_ts, head, size)
                            if first is not None:
                                found = [first] if found is None else [*found, first]
                                peek = self._firsts.peek
                            continue
                    elif ttype != SCRIPT_DATA:
                        raise FlvProtocolError(f"unknown tag type {ttype} (tag {ntags})")
                    if end - pos < size:
                        self.pending = size - (end - pos)
                        self.state = SKIP_DATA
                        pos = end
                        break
                    pos += size
            finally:
                self.media_ts_ms = media_ts
                self.tags = ntags
                self._expect_prev = expect_prev
                self.partial = partial
        except FlvProtocolError:
            self.state = FAILED
            raise
        return found if found is not None else _NOTHING

    def _file_header(self, buf: bytearray, pos: int, end: int) -> int:
        """Collect and check the file header; returns where the tag stream starts."""
        have = self.partial
        need = FILE_HEADER - len(have)
        if end - pos < need:
            self.partial = have + bytes(buf[pos:end])
            return end
        head = have + bytes(buf[pos : pos + need])
        self.partial = b""
        pos += need
        if head[:3] != b"FLV":
            raise FlvProtocolError(f"not an FLV stream: starts with {head[:9]!r}")
        if head[3] != 1:
            raise FlvProtocolError(f"FLV version {head[3]}, expected 1")
        offset = int.from_bytes(head[5:9], "big")
        if not FILE_HEADER <= offset <= MAX_FILE_HEADER:
            raise FlvProtocolError(f"FLV header size {offset}")
        extra = offset - FILE_HEADER
        if extra:
            self.pending = extra
            self.state = SKIP_DATA
        else:
            self.state = READ_TAG
        return pos


__all__ = ["FlvParserState", "FlvProtocolError", "FlvTagParser"]
