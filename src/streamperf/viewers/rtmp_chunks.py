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
"""

from __future__ import annotations

# message types
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO = 8, 9
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
MAX_COLLECTED = 1 << 20  # a command larger than this is garbage, not a command
MAX_HEADER = 3 + 11 + 4  # basic header (3) + type-0 message header (11) + extended ts (4)
DEFAULT_CHUNK_SIZE = 128

# Per chunk stream state, a list indexed by these positions (a list is the
# cheapest mutable record in CPython's hot loop; see _parse_from):
_TS, _DELTA, _LEN, _TYPE, _MSID, _EXT, _REM, _ACC, _WANT = range(9)


class RtmpProtocolError(Exception):
    """The byte stream is not valid RTMP (or not something we can follow)."""


def _new_state() -> list:  # type: ignore[type-arg]
    # ts, delta, length, type, msid, ext (-1: none), remaining, acc, want
    return [0, 0, 0, 0, 0, -1, 0, None, 0]


def is_video_frame(b0: int, b1: int, length: int) -> bool:
    """True for a video message that carries a picture (not codec config)."""
    if b0 & 0x80:  # enhanced RTMP: low nibble is the packet type
        return (b0 & 0x0F) in (1, 3)  # CodedFrames, CodedFramesX
    if (b0 & 0x0F) == 7:  # AVC: byte 1 is AVCPacketType, 1 = NALUs
        return length >= 2 and b1 == 1
    return length >= 1


def is_audio_frame(b0: int, b1: int, length: int) -> bool:
    """True for an audio message that carries sound (not an AAC sequence header)."""
    if (b0 >> 4) == 10:  # AAC: byte 1 is AACPacketType, 1 = raw
        return length >= 2 and b1 == 1
    return length >= 1


class ChunkParser:
    """Streaming parser of a server-to-client RTMP chunk stream (after the handshake).

    Subclasses override `on_message` (decoded control/command messages) and
    `on_first_frame`. Drive it either with `parse(buf, end)` on a buffer
    whose first `len(self.carry)` bytes are the carried partial header
    (what the viewer does, copying `carry` into its shared read buffer), or
    with `feed(data)` which does that copying itself.
    """

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        #: newest audio/video timestamp (ms), -1 before the first media message
        self.media_ts_ms = -1
        #: messages completed so far (all types)
        self.messages = 0
        #: ts (ms) of the first audio/video frame, -1 until seen
        self.first_video_ts = -1
        self.first_audio_ts = -1
        #: bytes of an incomplete chunk header to put in front of the next read
        self.carry = b""
        self._states: dict[int, list] = {}  # type: ignore[type-arg]
        self._skip = 0  # payload bytes of the current chunk still to come
        self._cur: list | None = None  # type: ignore[type-arg]  # its chunk stream
        # media types whose first two payload bytes we still look at
        self._peek: tuple[int, ...] = (AUDIO, VIDEO)

    # --- hooks ------------------------------------------------------------
    def on_message(self, mtype: int, msid: int, ts: int, payload: bytes) -> None:
        """A complete control or command message (types in COLLECTED_TYPES but 1 and 2)."""

    def on_first_frame(self, video: bool, ts: int) -> None:
        """The first video (or audio) frame has been received completely."""

    # --- driving ----------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parse `data` (convenience path: copies; the viewer uses `parse`)."""
        buf = bytearray(self.carry)
        buf += data
        self.parse(buf, len(buf))

    def at_message_boundary(self) -> bool:
        """True when no message is partly received (so an end of stream here is clean)."""
        if self.carry or self._skip:
            return False
        return all(st[_REM] == 0 for st in self._states.values())

    def parse(self, buf: bytearray, end: int) -> None:
        """Parse buf[0:end]: carried partial header first, then newly read bytes.

        Raises RtmpProtocolError on a stream that is not valid RTMP. Leaves an
        incomplete trailing header in `self.carry`.
        """
        pos = 0
        skip = self._skip
        if skip:
            # Rest of a chunk payload begun in an earlier read.
            st = self._cur
            assert st is not None
            avail = end
            if st[_ACC] is not None:
                self._collect(st, buf, 0, min(skip, avail))
            if avail < skip:
                self._skip = skip - avail
                return
            pos = skip
            self._skip = 0
            if not st[_REM]:
                self.messages += 1
                if st[_ACC] is not None:
                    self._complete(st)
        self._parse_from(buf, pos, end)

    # --- the hot loop -----------------------------------------------------
    def _parse_from(self, buf: bytearray, pos: int, end: int) -> None:
        states = self._states
        chunk = self.chunk_size
        media_ts = self.media_ts_ms
        nmsg = self.messages
        peek = self._peek
        try:
            while pos < end:
                avail = end - pos
                b0 = buf[pos]
                fmt = b0 >> 6
                csid = b0 & 0x3F
                h = pos + 1
                if csid < 2:
                    if csid == 0:
                        if avail < 2:
                            break
                        csid = 64 + buf[h]
                        h += 1
                    else:
                        if avail < 3:
                            break
                        csid = 64 + buf[h] + (buf[h + 1] << 8)
                        h += 2
                st = states.get(csid)
                if fmt == 3:
                    if st is None:
                        raise RtmpProtocolError(f"type-3 chunk starts chunk stream {csid}")
                    ext = st[_EXT]
                    if ext >= 0:
                        # nginx-rtmp (play_time_fix) repeats the extended ts on
                        # type-3 chunks, as the revised spec says; some servers
                        # do not, so take the 4 bytes only if they match.
                        if end - h < 4:
                            break
                        if (
                            (buf[h] << 24) | (buf[h + 1] << 16) | (buf[h + 2] << 8) | buf[h + 3]
                        ) == ext:
                            h += 4
                    rem = st[_REM]
                    if rem:  # continuation of the message in progress
                        n = rem if rem < chunk else chunk
                        st[_REM] = rem - n
                        pos = h
                        if st[_ACC] is not None:
                            self._collect(st, buf, pos, n if n < end - pos else end - pos)
                        if end - pos < n:
                            self._skip = n - (end - pos)
                            self._cur = st
                            pos = end
                            break
                        pos += n
                        if rem == n:
                            nmsg += 1
                            if st[_ACC] is not None:
                                self.media_ts_ms = media_ts
                                self.messages = nmsg
                                self._complete(st)
                                chunk = self.chunk_size
                                peek = self._peek
                        continue
                    # a new message with the previous header's length/type/delta
                    mlen = st[_LEN]
                    mtype = st[_TYPE]
                    ts = st[_TS] + st[_DELTA]
                else:
                    if fmt == 0:
                        if end - h < 11:
                            break
                        t = (buf[h] << 16) | (buf[h + 1] << 8) | buf[h + 2]
                        mlen = (buf[h + 3] << 16) | (buf[h + 4] << 8) | buf[h + 5]
                        mtype = buf[h + 6]
                        msid = int.from_bytes(buf[h + 7 : h + 11], "little")  # type 0 is rare
                        h += 11
                    elif st is None:
                        raise RtmpProtocolError(f"type-{fmt} chunk starts chunk stream {csid}")
                    elif fmt == 1:
                        if end - h < 7:
                            break
                        t = (buf[h] << 16) | (buf[h + 1] << 8) | buf[h + 2]
                        mlen = (buf[h + 3] << 16) | (buf[h + 4] << 8) | buf[h + 5]
                        mtype = buf[h + 6]
                        h += 7
                    else:
                        if end - h < 3:
                            break
                        t = (buf[h] << 16) | (buf[h + 1] << 8) | buf[h + 2]
                        mlen = st[_LEN]
                        mtype = st[_TYPE]
                        h += 3
                    if t == 0xFFFFFF:
                        if end - h < 4:
                            break
                        t = (buf[h] << 24) | (buf[h + 1] << 16) | (buf[h + 2] << 8) | buf[h + 3]
                        h += 4
                        ext = t
                    else:
                        ext = -1
                    # the header is complete: only now touch the state
                    if st is None:
                        st = states[csid] = _new_state()
                    elif st[_REM]:
                        raise RtmpProtocolError(
                            f"type-{fmt} header on chunk stream {csid} inside a message "
                            f"({st[_REM]} bytes still due)"
                        )
                    if mtype not in KNOWN_TYPES:
                        raise RtmpProtocolError(f"unknown message type {mtype} on csid {csid}")
                    if fmt == 0:
                        ts = t
                        st[_MSID] = msid
                    else:
                        ts = st[_TS] + t
                    # spec: a later type-3 new message reuses this field as its delta
                    st[_DELTA] = t
                    st[_LEN] = mlen
                    st[_TYPE] = mtype
                    st[_EXT] = ext
                # --- a new message starts here ---------------------------
                ts &= 0xFFFFFFFF
                st[_TS] = ts
                if mtype == VIDEO or mtype == AUDIO:
                    media_ts = ts
                    if peek and mtype in peek:
                        st[_ACC] = bytearray()
                        st[_WANT] = 2
                elif mtype in COLLECTED_TYPES:
                    if mlen > MAX_COLLECTED:
                        raise RtmpProtocolError(f"{mlen}-byte message of type {mtype}")
                    st[_ACC] = bytearray()
                    st[_WANT] = mlen
                n = mlen if mlen < chunk else chunk
                st[_REM] = mlen - n
                pos = h
                if st[_ACC] is not None:
                    self._collect(st, buf, pos, n if n < end - pos else end - pos)
                if end - pos < n:
                    self._skip = n - (end - pos)
                    self._cur = st
                    pos = end
                    break
                pos += n
                if mlen == n:
                    nmsg += 1
                    if st[_ACC] is not None:
                        self.media_ts_ms = media_ts
                        self.messages = nmsg
                        self._complete(st)
                        chunk = self.chunk_size
                        peek = self._peek
        finally:
            self.media_ts_ms = media_ts
            self.messages = nmsg
        self.carry = bytes(buf[pos:end]) if pos < end else b""

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
            self._first_frame_check(mtype, st[_TS], payload, st[_LEN])
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
                other = self._states.get(int.from_bytes(payload[:4], "big"))
                if other is not None and other is not st:
                    other[_REM] = 0
                    other[_ACC] = None
            return
        self.on_message(mtype, st[_MSID], st[_TS], payload)

    def _first_frame_check(self, mtype: int, ts: int, head: bytes, length: int) -> None:
        b0 = head[0] if head else 0
        b1 = head[1] if len(head) > 1 else 0
        if mtype == VIDEO:
            if self.first_video_ts < 0 and is_video_frame(b0, b1, length):
                self.first_video_ts = ts
                self._peek = tuple(t for t in self._peek if t != VIDEO)
                self.on_first_frame(True, ts)
        elif self.first_audio_ts < 0 and is_audio_frame(b0, b1, length):
            self.first_audio_ts = ts
            self._peek = tuple(t for t in self._peek if t != AUDIO)
            self.on_first_frame(False, ts)


def encode_message(
    csid: int, mtype: int, msid: int, payload: bytes, chunk_size: int, ts: int = 0
) -> bytes:
    """One message as chunks: a type-0 header, then type-3 headers every chunk_size bytes."""
    if not 2 <= csid <= 63:
        raise ValueError("client messages use one-byte chunk stream ids 2..63")
    ext = ts >= 0xFFFFFF
    header = bytearray((csid,))
    header += min(ts, 0xFFFFFF).to_bytes(3, "big")
    header += len(payload).to_bytes(3, "big")
    header.append(mtype)
    header += msid.to_bytes(4, "little")
    ext_bytes = ts.to_bytes(4, "big") if ext else b""
    header += ext_bytes
    out = bytearray(header)
    out += payload[:chunk_size]
    for off in range(chunk_size, len(payload), chunk_size):
        out.append(0xC0 | csid)
        out += ext_bytes
        out += payload[off : off + chunk_size]
    return bytes(out)
