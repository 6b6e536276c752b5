"""RTMP chunk stream: a streaming parser for what the server sends, and the
encoder for what the client sends.

The parser is the viewer's hot path (DESIGN section 9): it reads chunk
headers in place from the caller's buffer and skips payloads by offset.
Between reads it carries only a partial chunk header (at most 17 bytes)
and a count of payload bytes still to skip; it builds no per-message
objects. Payload bytes are copied only for the few messages that need
decoding: protocol control and command messages (small and rare), and the
first two bytes of audio/video messages until the first real frames are
seen (to tell codec configuration from frames).

It is a plain object the viewer protocol owns and feeds (as aiohttp's
protocols feed their parsers): `feed_buffer`/`feed_data` return what they
found, the decoded messages and first frames, and the protocol acts on
them. It acts on nothing itself except what the chunk layer needs (Set
Chunk Size, Abort), so it is tested without sockets.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import NamedTuple

from streamperf.viewers.formats.flv_media import AUDIO, HEAD_BYTES, VIDEO, FirstFrame, FirstFrames

# message types (audio and video are FLV's tag types: viewers/formats/flv_media.py)
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
DATA_AMF3, SHARED_OBJECT_AMF3, COMMAND_AMF3 = 15, 16, 17
DATA_AMF0, SHARED_OBJECT_AMF0, COMMAND_AMF0, AGGREGATE = 18, 19, 20, 22

KNOWN_TYPES = frozenset(
    (
        SET_CHUNK_SIZE,
        ABORT,
        ACK,
        USER_CONTROL,
        WINDOW_ACK_SIZE,
        SET_PEER_BANDWIDTH,
        AUDIO,
        VIDEO,
        DATA_AMF3,
        SHARED_OBJECT_AMF3,
        COMMAND_AMF3,
        DATA_AMF0,
        SHARED_OBJECT_AMF0,
        COMMAND_AMF0,
        AGGREGATE,
    )
)
# Decoded in full; everything else (media, metadata, shared objects) is skipped.
COLLECTED_TYPES = frozenset(
    (
        SET_CHUNK_SIZE,
        ABORT,
        ACK,
        USER_CONTROL,
        WINDOW_ACK_SIZE,
        SET_PEER_BANDWIDTH,
        COMMAND_AMF3,
        COMMAND_AMF0,
    )
)
# message type -> 0 unknown, 1 audio/video, 2 decoded, 3 skipped (a tuple index is
# the cheapest lookup in the hot loop)
_KIND = tuple(
    0 if t not in KNOWN_TYPES else 1 if t in (AUDIO, VIDEO) else 2 if t in COLLECTED_TYPES else 3
    for t in range(256)
)
MAX_COLLECTED = 1 << 20  # a command larger than this is garbage, not a command
#: commands being collected at once, over all chunk streams, in bytes announced: a
#: server interleaving 1 MiB commands on 65,536 chunk streams would hold 64 GiB
MAX_COLLECTING = 4 << 20
MAX_HIGH_STREAMS = 64  # chunk stream ids of 64 and more in use (servers use 2..10)
MAX_HEADER = 3 + 11 + 4  # basic header (3) + type-0 message header (11) + extended ts (4)
DEFAULT_CHUNK_SIZE = 128

_HDR7 = struct.Struct(">BHBHB").unpack_from  # ts (hi byte, lo 16), length (same), type
_HDR3 = struct.Struct(">BH").unpack_from  # ts (hi byte, lo 16)
_U32 = struct.Struct(">I").unpack_from  # extended timestamp

# Per chunk stream state, a list indexed by these positions (a list is the
# cheapest mutable record in CPython; `parse` uses the numbers as literals):
_TS, _DELTA, _LEN, _TYPE, _MSID, _EXT, _REM, _ACC, _WANT = range(9)


class RtmpProtocolError(Exception):
    """The byte stream is not valid RTMP (or not something we can follow)."""


class ParserState(enum.Enum):
    """Where the parser stands between two reads."""

    #: at a chunk boundary; `carry` may hold the start of the next header
    READ_HEADER = "read_header"
    #: inside a chunk's payload, `pending` bytes of it still to come
    READ_PAYLOAD = "read_payload"
    #: raised RtmpProtocolError: the chunk stream cannot be followed any further
    FAILED = "failed"


READ_HEADER, READ_PAYLOAD, FAILED = ParserState  # `is` against a global in the hot loop


class Message(NamedTuple):
    """A complete control or command message (types in COLLECTED_TYPES but 1 and 2)."""

    mtype: int
    msid: int
    ts: int
    payload: bytes


Found = Message | FirstFrame
_NOTHING: tuple[Found, ...] = ()  # what a read of media only returns: no allocation


def _new_state() -> list:  # type: ignore[type-arg]
    # ts, delta, length, type, msid, ext (-1: none), remaining, acc, want
    return [0, 0, 0, 0, 0, -1, 0, None, 0]


class ChunkParser:
    """Streaming parser of a server-to-client RTMP chunk stream (after the handshake).

    Feed it with `feed_buffer(buf, end)` on a buffer whose first
    `len(self.carry)` bytes are the carried partial header (what the viewer
    does, copying `carry` into its shared read buffer), or with
    `feed_data(data)`, which does that copying itself. Both return the
    messages and first frames completed by these bytes, in stream order.
    """

    # one per viewer: slots keep it to its fields (no __dict__) and speed their reads
    __slots__ = ("_cur", "_firsts", "_found", "_high", "_low", "carry", "chunk_size",
                 "media_ts_ms", "messages", "pending", "state")

    def __init__(self) -> None:
        self.state = READ_HEADER
        self.chunk_size = DEFAULT_CHUNK_SIZE
        #: newest audio/video timestamp (ms), -1 before the first media message
        self.media_ts_ms = -1
        #: messages completed so far (all types)
        self.messages = 0
        #: bytes of an incomplete chunk header to put in front of the next read
        self.carry = b""
        # chunk stream states: a list for ids < 64 (nginx uses 2..8), a dict above
        self._low: list[list | None] = [None] * 64  # type: ignore[type-arg]
        self._high: dict[int, list] = {}  # type: ignore[type-arg]
        #: in READ_PAYLOAD: payload bytes of the current chunk still to come
        self.pending = 0
        self._cur: list | None = None  # type: ignore[type-arg]  # its chunk stream
        # first frames; its `peek`: media types whose first payload bytes we still look at
        self._firsts = FirstFrames()
        self._found: list[Found] | None = None  # completed by the current feed

    @property
    def first_video_ts(self) -> int:
        """ts (ms) of the first video frame, -1 until seen."""
        return self._firsts.video_ts

    @property
    def first_audio_ts(self) -> int:
        """ts (ms) of the first audio frame, -1 until seen."""
        return self._firsts.audio_ts

    # --- driving ----------------------------------------------------------
    def feed_data(self, data: bytes | bytearray | memoryview) -> Sequence[Found]:
        """Parse `data` (convenience path: copies; the viewer uses `feed_buffer`)."""
        buf = bytearray(self.carry)
        buf += data
        return self.feed_buffer(buf, len(buf))

    def at_message_boundary(self) -> bool:
        """True when no message is partly received (so an end of stream here is clean)."""
        if self.state is not READ_HEADER or self.carry:
            return False
        return all(st[_REM] == 0 for st in self._all_states())

    def _all_states(self) -> list[list]:  # type: ignore[type-arg]
        return [st for st in self._low if st is not None] + list(self._high.values())

    def feed_buffer(self, buf: bytearray, end: int) -> Sequence[Found]:
        """Parse buf[0:end]: carried partial header first, then newly read bytes.

        Returns the messages and first frames completed, in stream order (an
        empty tuple for media only). Leaves an incomplete trailing header in
        `self.carry`. Raises RtmpProtocolError on a stream that is not valid
        RTMP, and from then on (state FAILED) on every feed: what was found
        in the failing feed is dropped with the connection.

        This is the hot loop: locals only, literal list indices (see _TS...
        for their meaning), struct for multi-byte fields, and the branches
        ordered for what nginx-rtmp sends most: type-1 headers (a new message
        with a ts delta) and type-3 continuation chunks.
        """
        pos = 0
        chunk = self.chunk_size
        media_ts = self.media_ts_ms
        nmsg = self.messages
        peek = self._firsts.peek
        low = self._low
        hdr7 = _HDR7
        u32 = _U32
        skip = 0  # payload bytes of a chunk that run past `end`
        state = self.state
        try:
            if state is not READ_HEADER:
                if state is FAILED:
                    raise RtmpProtocolError("fed again after a protocol error")
                # READ_PAYLOAD: the rest of a chunk payload begun in an earlier read
                pending = self.pending
                st = self._cur
                assert st is not None
                acc = st[7]
                if acc is not None:
                    self._collect(st, buf, 0, pending if pending < end else end)
                if end < pending:  # the whole read is payload (nothing can be found)
                    self.pending = pending - end
                    return _NOTHING
                pos = pending
                self.pending = 0
                self.state = READ_HEADER
                if not st[6]:
                    nmsg += 1
                    if acc is not None:
                        self.media_ts_ms = media_ts
                        self.messages = nmsg
                        self._complete(st)
                        chunk = self.chunk_size
                        peek = self._firsts.peek
            while pos < end:
                b0 = buf[pos]
                csid = b0 & 0x3F
                if csid > 1:
                    st = low[csid]
                    h = pos + 1
                else:  # 2- and 3-byte basic headers: chunk stream ids >= 64
                    if csid == 0:
                        if end - pos < 2:
                            break
                        csid = 64 + buf[pos + 1]
                        h = pos + 2
                    else:
                        if end - pos < 3:
                            break
                        csid = 64 + buf[pos + 1] + (buf[pos + 2] << 8)
                        h = pos + 3
                    st = self._high.get(csid)
                fmt = b0 >> 6
                if fmt == 1:  # new message: ts delta, length, type
                    if end - h < 7:
                        break
                    th, tl, lh, ll, mtype = hdr7(buf, h)
                    h += 7
                    t = (th << 16) | tl if th else tl
                    mlen = (lh << 16) | ll if lh else ll
                    if t == 0xFFFFFF:
                        if end - h < 4:
                            break
                        t = ext = u32(buf, h)[0]
                        h += 4
                    else:
                        ext = -1
                    if st is None:
                        raise RtmpProtocolError(f"type-1 chunk starts chunk stream {csid}")
                    if st[6]:
                        self._inside_message(1, csid, st)
                    if mtype != st[3]:
                        if not _KIND[mtype]:
                            raise RtmpProtocolError(f"unknown message type {mtype} on csid {csid}")
                        st[3] = mtype
                    ts = st[0] + t
                    st[1] = t
                    st[2] = mlen
                    st[5] = ext
                elif fmt == 3:  # continuation, or a new message like the last one
                    if st is None:
                        raise RtmpProtocolError(f"type-3 chunk starts chunk stream {csid}")
                    ext = st[5]
                    if ext >= 0:
                        # nginx-rtmp (play_time_fix) repeats the extended ts on
                        # type-3 chunks, as the revised spec says; some servers
                        # do not, so take the 4 bytes only if they match.
                        if end - h < 4:
                            break
                        if u32(buf, h)[0] == ext:
                            h += 4
                    rem = st[6]
                    if rem:
                        n = rem if rem < chunk else chunk
                        st[6] = rem - n
                        acc = st[7]
                        if acc is not None:
                            self._collect(st, buf, h, n if n < end - h else end - h)
                        if end - h < n:
                            skip = n - (end - h)
                            self._cur = st
                            pos = end
                            break
                        pos = h + n
                        if rem == n:
                            nmsg += 1
                            if acc is not None:
                                self.media_ts_ms = media_ts
                                self.messages = nmsg
                                self._complete(st)
                                chunk = self.chunk_size
                                peek = self._firsts.peek
                        continue
                    mlen = st[2]
                    mtype = st[3]
                    ts = st[0] + st[1]
                elif fmt == 2:  # new message: ts delta only
                    if end - h < 3:
                        break
                    th, tl = _HDR3(buf, h)
                    h += 3
                    t = (th << 16) | tl if th else tl
                    if t == 0xFFFFFF:
                        if end - h < 4:
                            break
                        t = ext = u32(buf, h)[0]
                        h += 4
                    else:
                        ext = -1
                    if st is None:
                        raise RtmpProtocolError(f"type-2 chunk starts chunk stream {csid}")
                    if st[6]:
                        self._inside_message(2, csid, st)
                    mlen = st[2]
                    mtype = st[3]
                    ts = st[0] + t
                    st[1] = t
                    st[5] = ext
                else:  # type 0: absolute ts, length, type, message stream id
                    if end - h < 11:
                        break
                    th, tl, lh, ll, mtype = hdr7(buf, h)
                    msid = int.from_bytes(buf[h + 7 : h + 11], "little")
                    h += 11
                    t = (th << 16) | tl if th else tl
                    mlen = (lh << 16) | ll if lh else ll
                    if t == 0xFFFFFF:
                        if end - h < 4:
                            break
                        t = ext = u32(buf, h)[0]
                        h += 4
                    else:
                        ext = -1
                    if not _KIND[mtype]:
                        raise RtmpProtocolError(f"unknown message type {mtype} on csid {csid}")
                    if st is None:
                        st = self._new_state(csid)
                    elif st[6]:
                        self._inside_message(0, csid, st)
                    ts = t
                    # spec: a later type-3 new message reuses this field as its delta
                    st[1] = t
                    st[2] = mlen
                    st[3] = mtype
                    st[4] = msid
                    st[5] = ext
                # --- a new message starts here -----------------------------
                if ts > 0xFFFFFFFF:
                    ts -= 0x100000000
                st[0] = ts
                n = mlen if mlen < chunk else chunk
                st[6] = mlen - n
                if _KIND[mtype] == 1:  # audio/video
                    media_ts = ts
                    if not peek or mtype not in peek:  # steady state: skip the payload
                        if end - h < n:
                            skip = n - (end - h)
                            self._cur = st
                            pos = end
                            break
                        pos = h + n
                        if mlen == n:
                            nmsg += 1
                        continue
                    acc = st[7] = bytearray()
                    st[8] = HEAD_BYTES
                elif _KIND[mtype] == 2:  # control/command: decode it
                    if mlen > MAX_COLLECTED:
                        raise RtmpProtocolError(f"{mlen}-byte message of type {mtype}")
                    self._check_collecting(mlen)
                    acc = st[7] = bytearray()
                    st[8] = mlen
                else:
                    acc = None
                if acc is not None:
                    self._collect(st, buf, h, n if n < end - h else end - h)
                if end - h < n:
                    skip = n - (end - h)
                    self._cur = st
                    pos = end
                    break
                pos = h + n
                if mlen == n:
                    nmsg += 1
                    if acc is not None:
                        self.media_ts_ms = media_ts
                        self.messages = nmsg
                        self._complete(st)
                        chunk = self.chunk_size
                        peek = self._firsts.peek
        except RtmpProtocolError:
            self.state = FAILED
            self._found = None
            raise
        finally:
            self.media_ts_ms = media_ts
            self.messages = nmsg
        if skip:
            self.pending = skip
            self.state = READ_PAYLOAD
        self.carry = bytes(buf[pos:end]) if pos < end else b""
        found = self._found
        if found is None:
            return _NOTHING
        self._found = None
        return found

    def _new_state(self, csid: int) -> list:  # type: ignore[type-arg]
        st = _new_state()
        if csid < 64:
            self._low[csid] = st
        else:
            if len(self._high) >= MAX_HIGH_STREAMS:
                raise RtmpProtocolError(f"over {MAX_HIGH_STREAMS} chunk streams of id 64 and "
                                        f"more (a new one: {csid})")
            self._high[csid] = st
        return st

    def _check_collecting(self, mlen: int) -> None:
        """A new command of `mlen` bytes starts: the commands being collected, all chunk
        streams together, stay under MAX_COLLECTING (the rare path: commands only)."""
        due = sum(st[_WANT] for st in self._all_states() if st[_ACC] is not None)
        if due + mlen > MAX_COLLECTING:
            raise RtmpProtocolError(f"commands of {due + mlen} bytes collected at once, over "
                                    f"{MAX_COLLECTING}: interleaved on many chunk streams")

    @staticmethod
    def _inside_message(fmt: int, csid: int, st: list) -> None:  # type: ignore[type-arg]
        raise RtmpProtocolError(
            f"type-{fmt} header on chunk stream {csid} inside a message "
            f"({st[_REM]} bytes still due)"
        )

    # --- the rare paths -----------------------------------------------------
    @staticmethod
    def _collect(st: list, buf: bytearray, pos: int, n: int) -> None:  # type: ignore[type-arg]
        want = st[_WANT]
        if want and n > 0:
            take = want if want < n else n
            st[_ACC] += buf[pos : pos + take]
            st[_WANT] = want - take

    def _complete(self, st: list) -> None:  # type: ignore[type-arg]
        payload = bytes(st[_ACC])
        st[_ACC] = None
        mtype = st[_TYPE]
        if mtype == VIDEO or mtype == AUDIO:
            first = self._firsts.check(mtype, st[_TS], payload, st[_LEN])
            if first is not None:
                self._add(first)
            return
        if mtype == SET_CHUNK_SIZE:
            if len(payload) < 4:
                raise RtmpProtocolError(f"Set Chunk Size message of {len(payload)} bytes")
            size = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if size < 1:
                raise RtmpProtocolError("Set Chunk Size 0")
            self.chunk_size = size
            return
        if mtype == ABORT:
            if len(payload) >= 4:
                aborted = int.from_bytes(payload[:4], "big")
                other = self._low[aborted] if aborted < 64 else self._high.get(aborted)
                if other is not None and other is not st:
                    other[_REM] = 0
                    other[_ACC] = None
            return
        self._add(Message(mtype, st[_MSID], st[_TS], payload))

    def _add(self, item: Found) -> None:
        if self._found is None:
            self._found = [item]
        else:
            self._found.append(item)
