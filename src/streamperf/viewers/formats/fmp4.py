"""Fragmented MP4 (ISO/IEC 14496-12 ISO-BMFF): what a DASH viewer reads of its bytes.

From an initialization segment (`read_init`, the whole of it: a few hundred
bytes): each track's ID, media timescale (`moov/trak/mdia/mdhd`), handler
(`hdlr`: vide, soun) and default sample duration (`moov/mvex/trex`).
From a media segment, only its head (`FragmentScanner`, fed bytes as they
arrive): the first `moof`'s track, `tfdt` baseMediaDecodeTime (v0: 32 bits,
v1: 64 bits), and the `mdat` length after it (not its `trun`: the MPD gives
each segment's duration). The
rest of the segment is the caller's to count, never to parse.

Sizes come from the network, so each is checked before it is used: a box
smaller than its header, one past its parent or past the bytes a scan may
hold, `size 0` ("to the end of the file") anywhere but on an `mdat`, a
`size 1` largesize below 16, a type that is not four printable characters,
nesting deeper than MAX_DEPTH, more than MAX_BOXES boxes: a BoxError naming
the box, after work bounded by the bytes given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEAD_LIMIT = 16384  # bytes of a media segment a scan holds: its first moof is in them
MAX_DEPTH = 8  # moov/trak/mdia/minf/stbl/... is 5 deep; a deeper nest is hostile
MAX_BOXES = 4096  # boxes one parse walks
VIDEO, AUDIO = "vide", "soun"

_CONTAINERS = frozenset((b"moov", b"trak", b"mdia", b"mvex", b"moof", b"traf"))
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class BoxError(ValueError):
    """Bytes that are not the ISO-BMFF a DASH segment must be."""


@dataclass(frozen=True, slots=True)
class TrackInfo:
    track_id: int
    timescale: int  # mdhd: ticks per second of this track's decode times
    handler: str  # hdlr handler_type: "vide", "soun", ...
    default_duration: int = 0  # trex default_sample_duration (ticks), 0: none


@dataclass(frozen=True, slots=True)
class InitInfo:
    tracks: tuple[TrackInfo, ...]

    def track(self, track_id: int | None) -> TrackInfo | None:
        """The track of that ID; with None (or an unknown ID) the only track, if one."""
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        return self.tracks[0] if len(self.tracks) == 1 else None


def _fourcc(raw: bytes) -> str:
    if len(raw) != 4 or not all(0x20 <= c < 0x7F for c in raw):
        raise BoxError(f"not an ISO-BMFF box (type bytes {raw!r})")
    return raw.decode("ascii")


def box_header(data: bytes | bytearray, pos: int, end: int) -> tuple[bytes, int, int] | None:
    """(type, header length, box size) of the box at `pos`, None if its header is not
    all in data[:end]. Size 0 comes back as 0 ("to the end"), for the caller to judge."""
    if end - pos < 8:
        return None
    size = _U32.unpack_from(data, pos)[0]
    typ = bytes(data[pos + 4 : pos + 8])
    name = _fourcc(typ)
    head = 8
    if size == 1:
        if end - pos < 16:
            return None
        size = _U64.unpack_from(data, pos + 8)[0]
        head = 16
        if size < head:
            raise BoxError(f"{name} box: largesize {size} is smaller than its header")
    elif size and size < 8:
        raise BoxError(f"{name} box: size {size} is smaller than its header")
    if typ == b"uuid":
        head += 16  # the extended type
        if size and size < head:
            raise BoxError(f"uuid box: size {size} is smaller than its header")
    return typ, head, size


def _children(data: bytes | bytearray, start: int, end: int, depth: int,
              budget: list[int]) -> list[tuple[bytes, int, int]]:  # fmt: skip
    """(type, payload start, payload end) of the boxes in data[start:end], all checked."""
    if depth > MAX_DEPTH:
        raise BoxError(f"boxes nested more than {MAX_DEPTH} deep")
    out = []
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise BoxError(f"more than {MAX_BOXES} boxes")
        got = box_header(data, pos, end)
        if got is None:
            raise BoxError(f"{end - pos} stray bytes at the end of a box")
        typ, head, size = got
        if size == 0:
            raise BoxError(f"{typ.decode()} box of size 0 inside another box")
        if pos + size > end:
            raise BoxError(f"{typ.decode()} box of {size} bytes runs past its parent")
        out.append((typ, pos + head, pos + size))
        pos += size
    return out


def _full_box(data: bytes | bytearray, start: int, end: int, need: int, name: str) -> int:
    """The version of a FullBox whose payload (after version and flags) needs `need` bytes."""
    if end - start < 4 + need:
        raise BoxError(f"{name} box of {end - start} bytes is too short")
    return data[start]


def _u32(data: bytes | bytearray, pos: int) -> int:
    return int(_U32.unpack_from(data, pos)[0])


def _u64(data: bytes | bytearray, pos: int) -> int:
    return int(_U64.unpack_from(data, pos)[0])


def read_init(data: bytes | bytearray) -> InitInfo:
    """The tracks of an initialization segment (ftyp + moov). Raises BoxError."""
    budget = [MAX_BOXES]
    top = _children(data, 0, len(data), 0, budget)
    moov = [(s, e) for typ, s, e in top if typ == b"moov"]
    if not moov:
        raise BoxError(f"no moov box in {len(data)} bytes (boxes: "
                       f"{' '.join(t.decode() for t, _, _ in top[:8]) or 'none'})")
    defaults: dict[int, int] = {}
    tracks: list[tuple[int, int, str]] = []
    for typ, s, e in _children(data, *moov[0], 1, budget):
        if typ == b"mvex":
            for t2, s2, e2 in _children(data, s, e, 2, budget):
                if t2 == b"trex":
                    _full_box(data, s2, e2, 20, "trex")
                    defaults[_u32(data, s2 + 4)] = _u32(data, s2 + 12)
        elif typ == b"trak":
            tracks.append(_trak(data, s, e, budget))
    if not tracks:
        raise BoxError("moov has no trak")
    return InitInfo(tuple(TrackInfo(tid, ts, h, defaults.get(tid, 0)) for tid, ts, h in tracks))


def _trak(data: bytes | bytearray, start: int, end: int, budget: list[int]) -> tuple[int, int, str]:
    track_id = timescale = 0
    handler = ""
    for typ, s, e in _children(data, start, end, 2, budget):
        if typ == b"tkhd":
            v1 = _full_box(data, s, e, 20, "tkhd") == 1
            track_id = _u32(data, s + (20 if v1 else 12))
        elif typ == b"mdia":
            for t2, s2, e2 in _children(data, s, e, 3, budget):
                if t2 == b"mdhd":
                    v1 = _full_box(data, s2, e2, 20, "mdhd") == 1
                    timescale = _u32(data, s2 + (20 if v1 else 12))
                elif t2 == b"hdlr":
                    _full_box(data, s2, e2, 8, "hdlr")
                    handler = bytes(data[s2 + 8 : s2 + 12]).decode("latin-1")
    if not timescale:
        raise BoxError(f"track {track_id}: no mdhd timescale (or 0)")
    return track_id, timescale, handler


class FragmentScanner:
    """Feed a media segment's bytes from its start until `feed` returns True.

    Then `decode_time` (tfdt of the first moof's first traf, or None), `track_id`,
    `mdat_size` (the mdat after it, -1: to the end) and `error` (a BoxError's
    text, or None) say what the head held. Holds at most `limit` bytes.
    """

    __slots__ = ("_buf", "_skip", "decode_time", "done", "error", "limit", "mdat_size",
                 "scanned", "track_id")

    def __init__(self, limit: int = HEAD_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skip = 0  # bytes of a box not wanted still to come
        self.scanned = 0
        self.done = False
        self.error: str | None = None
        self.track_id: int | None = None
        self.decode_time: int | None = None
        self.mdat_size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        if self.done:
            return True
        self.scanned += len(data)
        skip = self._skip
        if skip:
            if skip >= len(data):
                self._skip = skip - len(data)
                return self._over_limit()
            data = data[skip:]
            self._skip = 0
        self._buf += data
        try:
            self._walk()
        except BoxError as e:
            self.error = str(e)
            self.done = True
        return self.done or self._over_limit()

    def finish(self) -> None:
        """The body ended: what was not found by now is not there."""
        if not self.done:
            self.done = True
            if self.decode_time is None and self.error is None:
                self.error = f"no moof with a tfdt in the first {self.scanned} bytes"

    def _over_limit(self) -> bool:
        if self.scanned >= self.limit and not self.done:
            self.done = True
            if self.decode_time is None:
                self.error = f"no moof with a tfdt in the first {self.scanned} bytes"
        return self.done

    def _walk(self) -> None:
        buf = self._buf
        while not self.done:
            got = box_header(buf, 0, len(buf))
            if got is None:
                return
            typ, head, size = got
            if typ == b"mdat":
                if self.decode_time is None:
                    raise BoxError("mdat before any moof with a tfdt")
                self.mdat_size = size - head if size else -1
                self.done = True
                return
            if size == 0:
                raise BoxError(f"{typ.decode()} box of size 0 (to the end) before the mdat")
            if typ == b"moof":
                if size > self.limit:
                    raise BoxError(f"moof of {size} bytes, over the {self.limit} a scan holds")
                if len(buf) < size:
                    return
                self._moof(bytes(buf[head:size]))
            if len(buf) >= size:
                del buf[:size]
            else:  # styp, sidx, emsg, prft, free...: not wanted, skipped unread
                self._skip = size - len(buf)
                buf.clear()
                return

    def _moof(self, moof: bytes) -> None:
        budget = [MAX_BOXES]
        for typ, s, e in _children(moof, 0, len(moof), 1, budget):
            if typ == b"traf" and self.decode_time is None:
                self._traf(moof, s, e, budget)
        if self.decode_time is None:
            raise BoxError("moof without a traf holding a tfdt")

    def _traf(self, b: bytes, start: int, end: int, budget: list[int]) -> None:
        # Its trun is not read: the MPD gives the segment's duration, and summing a
        # sample duration per frame in Python was a third of a DASH viewer's time.
        decode_time = None
        for typ, s, e in _children(b, start, end, 2, budget):
            if typ == b"tfhd":
                _full_box(b, s, e, 4, "tfhd")
                self.track_id = _u32(b, s + 4)
            elif typ == b"tfdt":
                v1 = _full_box(b, s, e, 4, "tfdt") == 1
                if v1 and e - s < 12:
                    raise BoxError("tfdt version 1 too short")
                decode_time = _u64(b, s + 4) if v1 else _u32(b, s + 4)
        self.decode_time = decode_time


__all__ = ["AUDIO", "HEAD_LIMIT", "VIDEO", "BoxError", "FragmentScanner", "InitInfo",
           "TrackInfo", "box_header", "read_init"]
