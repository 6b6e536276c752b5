"""Fragmented MP4 as ffmpeg writes it to a pipe, read incrementally: the init section
(ftyp + moov) and then one fragment per moof + mdat.

What the origin needs of a fragment is read from its moof only: the media time
its video track starts at (tfdt, in the mdhd timescale of the moov), its
duration (trun sample durations, else tfhd's or trex's default), and whether
its first video sample is a sync sample (trun first_sample_flags, else the
sample's own flags, else tfhd's or trex's default_sample_flags): an LL-HLS part
that is INDEPENDENT. A stream with no video track is timed by its first track.

`Fmp4Reader.feed(data)` returns what the bytes completed; it has two states,
READ_HEADER (waiting for a box's 8 or 16 header bytes) and READ_BODY (waiting
for the rest of the box), as aiohttp's websocket reader.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

READ_HEADER, READ_BODY = "header", "body"
#: a box larger than this is not a live fragment of ours: a broken stream
MAX_BOX = 64 * 1024 * 1024
#: sample_is_non_sync_sample in ISO/IEC 14496-12 sample flags
NON_SYNC = 0x00010000


class Fmp4Error(ValueError):
    """The bytes are not the fragmented MP4 this reader expects."""


@dataclass(frozen=True)
class Track:
    track_id: int
    timescale: int
    handler: str  # "vide", "soun", ...
    default_duration: int = 0  # trex: what a fragment leaves out
    default_flags: int = 0


@dataclass(frozen=True)
class InitSection:
    """ftyp + moov: what a player needs before any fragment (EXT-X-MAP)."""

    data: bytes
    tracks: dict[int, Track]

    @property
    def timing_track(self) -> Track:
        """The track fragments are timed by: the video track, else the first."""
        if not self.tracks:
            raise Fmp4Error("the moov has no track")
        video = [t for t in self.tracks.values() if t.handler == "vide"]
        return video[0] if video else next(iter(self.tracks.values()))


@dataclass(frozen=True)
class Fragment:
    """One moof + mdat, and what its moof says of the timing track."""

    data: bytes
    start_s: float  # tfdt / timescale
    duration_s: float
    independent: bool  # its first sample is a sync sample
    has_timing_track: bool = True  # False: only other tracks (audio before the video)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass
class _TrackRun:
    """What a traf told of its track: decode time, summed duration, first sample's flags."""

    decode_time: int = 0
    duration: int = 0
    first_flags: int | None = None
    samples: int = 0


def boxes(data: bytes | memoryview, start: int = 0, end: int | None = None
          ) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, box end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Fmp4Error("a box's 64-bit size is cut off")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        if size < header or pos + size > end:
            raise Fmp4Error(f"box {kind!r} of size {size} does not fit at {pos}")
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: str) -> tuple[int, int] | None:
    for k, s, e in boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def parse_init(data: bytes) -> InitSection:
    """The tracks of an init section (ftyp + moov)."""
    moov = _child(data, 0, len(data), "moov")
    if moov is None:
        raise Fmp4Error("no moov in the init section")
    tracks: dict[int, tuple[int, str]] = {}
    defaults: dict[int, tuple[int, int]] = {}
    for kind, s, e in boxes(data, *moov):
        if kind == "trak":
            tkhd = _child(data, s, e, "tkhd")
            mdia = _child(data, s, e, "mdia")
            if tkhd is None or mdia is None:
                raise Fmp4Error("a trak without tkhd or mdia")
            version = data[tkhd[0]]
            (track_id,) = struct.unpack_from(">I", data, tkhd[0] + (20 if version else 12))
            mdhd = _child(data, *mdia, "mdhd")
            hdlr = _child(data, *mdia, "hdlr")
            if mdhd is None or hdlr is None:
                raise Fmp4Error(f"track {track_id} has no mdhd or hdlr")
            version = data[mdhd[0]]
            (timescale,) = struct.unpack_from(">I", data, mdhd[0] + (20 if version else 12))
            handler = data[hdlr[0] + 8:hdlr[0] + 12].decode("latin-1")
            tracks[track_id] = (timescale, handler)
        elif kind == "mvex":
            for k, ts, _te in boxes(data, s, e):
                if k == "trex":  # version/flags, id, description index, duration, size, flags
                    tid, _, duration, _, flags = struct.unpack_from(">5I", data, ts + 4)
                    defaults[tid] = (duration, flags)
    return InitSection(data, {
        tid: Track(tid, scale, handler, *defaults.get(tid, (0, 0)))
        for tid, (scale, handler) in tracks.items()})


def _traf(data: bytes, start: int, end: int, init: InitSection) -> tuple[int, _TrackRun]:
    run = _TrackRun()
    track: Track | None = None
    duration = flags = 0
    for kind, s, _e in boxes(data, start, end):
        if kind == "tfhd":
            tf = int.from_bytes(data[s + 1:s + 4], "big")
            (tid,) = struct.unpack_from(">I", data, s + 4)
            track = init.tracks.get(tid)
            if track is None:
                raise Fmp4Error(f"a traf of track {tid}, which the moov does not have")
            duration, flags = track.default_duration, track.default_flags
            pos = s + 8 + (8 if tf & 0x1 else 0) + (4 if tf & 0x2 else 0)
            if tf & 0x8:
                (duration,) = struct.unpack_from(">I", data, pos)
                pos += 4
            pos += 4 if tf & 0x10 else 0
            if tf & 0x20:
                (flags,) = struct.unpack_from(">I", data, pos)
        elif kind == "tfdt":
            wide = data[s] == 1
            (run.decode_time,) = struct.unpack_from(">Q" if wide else ">I", data, s + 4)
        elif kind == "trun":
            if track is None:
                raise Fmp4Error("a trun before its tfhd")
            _trun(data, s, duration, flags, run)
    if track is None:
        raise Fmp4Error("a traf without tfhd")
    return track.track_id, run


def _trun(data: bytes, s: int, default_duration: int, default_flags: int,
          run: _TrackRun) -> None:
    tr = int.from_bytes(data[s + 1:s + 4], "big")
    (count,) = struct.unpack_from(">I", data, s + 4)
    pos = s + 8 + (4 if tr & 0x1 else 0)
    first_flags = None
    if tr & 0x4:
        (first_flags,) = struct.unpack_from(">I", data, pos)
        pos += 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tr & bit]
    if 0x100 not in fields:
        run.duration += default_duration * count
    for i in range(count):
        for bit in fields:
            (value,) = struct.unpack_from(">I", data, pos)
            pos += 4
            if bit == 0x100:
                run.duration += value
            elif bit == 0x400 and i == 0 and first_flags is None:
                first_flags = value
    if run.samples == 0 and count:
        run.first_flags = default_flags if first_flags is None else first_flags
    run.samples += count


def parse_fragment(data: bytes, init: InitSection) -> Fragment:
    """A fragment (moof + mdat, the moof first) timed by the init's timing track."""
    moof = _child(data, 0, len(data), "moof")
    if moof is None:
        raise Fmp4Error("a fragment without moof")
    runs: dict[int, _TrackRun] = {}
    for kind, s, e in boxes(data, *moof):
        if kind == "traf":
            tid, run = _traf(data, s, e, init)
            runs[tid] = run
    timing = init.timing_track
    found = runs.get(timing.track_id)
    if found is None:  # e.g. audio ahead of the first video frame
        return Fragment(data, 0.0, 0.0, False, has_timing_track=False)
    flags = found.first_flags if found.first_flags is not None else timing.default_flags
    return Fragment(data, found.decode_time / timing.timescale,
                    found.duration / timing.timescale, independent=not flags & NON_SYNC)


@dataclass
class Fmp4Reader:
    """Bytes in (`feed`), the init section and fragments out, in order."""

    init: InitSection | None = None
    state: str = READ_HEADER
    _buf: bytearray = field(default_factory=bytearray)
    _head: list[bytes] = field(default_factory=list)  # boxes of the init, or of a fragment
    _need: int = 8

    def feed(self, data: bytes) -> list[InitSection | Fragment]:
        self._buf += data
        out: list[InitSection | Fragment] = []
        while len(self._buf) >= self._need:
            if self.state == READ_HEADER:
                size, kind = struct.unpack_from(">I4s", self._buf)
                if size == 1:
                    if len(self._buf) < 16:
                        self._need = 16
                        continue
                    (size,) = struct.unpack_from(">Q", self._buf, 8)
                if not 8 <= size <= MAX_BOX:
                    raise Fmp4Error(f"box {kind!r} of size {size}: not a live fMP4 stream")
                self.state, self._need = READ_BODY, size
            else:
                box = bytes(self._buf[:self._need])
                del self._buf[:self._need]
                self.state, self._need = READ_HEADER, 8
                item = self._box(box)
                if item is not None:
                    out.append(item)
        return out

    def _box(self, box: bytes) -> InitSection | Fragment | None:
        kind = box[4:8]
        if self.init is None:
            if kind in (b"ftyp", b"moov"):
                self._head.append(box)
            if kind == b"moov":
                self.init = parse_init(b"".join(self._head))
                self._head = []
                return self.init
            return None
        if kind == b"moof":
            self._head = [box]
        elif kind == b"mdat" and self._head:
            data = b"".join([*self._head, box])
            self._head = []
            return parse_fragment(data, self.init)
        return None
