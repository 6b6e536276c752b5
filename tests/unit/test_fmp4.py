"""formats/fmp4.py on real fMP4 from ffmpeg's DASH muxer, and on hand-broken copies."""

from __future__ import annotations

import itertools
import re
import struct
import time
from pathlib import Path

import pytest

from streamperf.viewers.formats.fmp4 import (
    AUDIO,
    VIDEO,
    BoxError,
    FragmentScanner,
    read_init,
)
from tests.support.dash_media import DashRecording, record_dash


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> DashRecording:
    return record_dash(tmp_path_factory.mktemp("fmp4"), timeline=True)


def scan(data: bytes, piece: int = 97) -> FragmentScanner:
    s = FragmentScanner()
    for pos in range(0, len(data), piece):
        if s.feed(data[pos : pos + piece]):
            break
    s.finish()  # the body ended
    return s


def box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + typ + payload


def test_an_init_segment_gives_each_tracks_timescale_and_handler(rec: DashRecording) -> None:
    video, audio = read_init(rec.init("0")), read_init(rec.init("1"))
    assert [(t.handler, t.timescale) for t in video.tracks] == [(VIDEO, 15360)]
    assert [(t.handler, t.timescale) for t in audio.tracks] == [(AUDIO, 44100)]
    assert video.track(None) is video.tracks[0] and video.track(99) is video.tracks[0]


@pytest.mark.parametrize("rep", ["0", "1"])
def test_each_segment_head_gives_its_decode_time_back_to_back(rec: DashRecording,
                                                              rep: str) -> None:
    timescale = read_init(rec.init(rep)).tracks[0].timescale
    times = []
    for path in rec.segments(rep):
        s = scan(path.read_bytes())
        assert s.error is None and s.decode_time is not None, path
        assert s.mdat_size > 0 and s.track_id == 1
        assert s.scanned < 4096  # the head only: the first moof is near the start
        times.append(s.decode_time / timescale)
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert len(steps) >= 3 and all(1.9 < step < 2.1 for step in steps), times


def test_tfdt_is_read_in_both_versions(rec: DashRecording) -> None:
    data = rec.segments("0")[1].read_bytes()
    i = data.index(b"tfdt") - 4
    assert data[i + 8] == 1  # ffmpeg writes version 1: 64 bits
    real = struct.unpack_from(">Q", data, i + 12)[0]
    assert scan(data).decode_time == real > 0
    tfdt0 = box(b"tfdt", b"\x00\x00\x00\x00" + struct.pack(">I", 12345))
    moof = data.index(b"moof") - 4
    traf = data.index(b"traf") - 4
    shrunk = bytearray(data[:i] + tfdt0 + data[i + 20 :])
    for at in (moof, traf):  # the containers shrink by the 4 bytes
        struct.pack_into(">I", shrunk, at, struct.unpack_from(">I", shrunk, at)[0] - 4)
    assert scan(bytes(shrunk)).decode_time == 12345


def broken(rec: DashRecording, at: str, size: int, large: int | None = None) -> bytes:
    """The second video segment with box `at`'s size field set to `size` (and a
    largesize inserted after it)."""
    data = rec.segments("0")[1].read_bytes()
    i = data.index(at.encode()) - 4
    head = struct.pack(">I", size) + at.encode()
    if large is not None:
        head += struct.pack(">Q", large)
    return data[:i] + head + data[i + 8 :]


@pytest.mark.parametrize(("at", "size", "large", "why"), [
    ("moof", 0, None, "size 0 .* before the mdat"),
    ("moof", 1, 8, "largesize 8 is smaller than its header"),
    ("moof", 4, None, "size 4 is smaller than its header"),
    ("moof", 50_000_000, None, "moof of 50000000 bytes, over the 16384"),
    ("traf", 100_000, None, "traf box of 100000 bytes runs past its parent"),
    ("tfdt", 12, None, "not an ISO-BMFF box"),  # what follows the cut tfdt is no box
], ids=["size0", "largesize-too-small", "size-under-header", "past-the-scan", "past-parent",
        "short-tfdt"])
def test_hostile_sizes_end_the_scan_with_a_clear_error(rec, at, size, large, why) -> None:
    began = time.perf_counter()
    s = scan(broken(rec, at, size, large))
    assert s.done and s.error is not None and s.decode_time is None
    assert pytest.approx(0, abs=0.05) == time.perf_counter() - began


    assert re.search(why, s.error), s.error


def test_garbage_and_empty_floods_are_refused_quickly() -> None:
    assert "not an ISO-BMFF box" in (scan(b"\x00\x00\x01\x00\x01\x02\x03\x04" * 10).error or "")
    # "<htm" read as a size: a box of 1 GB, skipped, and the body ends without a moof
    assert "no moof with a tfdt in the first 220 bytes" in (
        scan(b"<html>not found</html>" * 10).error or "")
    flood = box(b"moof", box(b"free", b"") * 5000)  # 40 KB: over what a scan holds
    assert "over the 16384 a scan holds" in (scan(flood, 4096).error or "")
    with pytest.raises(BoxError, match="more than 4096 boxes"):
        read_init(box(b"moov", box(b"free", b"") * 5000))
    mdat_first = box(b"mdat", b"\x00" * 64)
    assert "mdat before any moof" in (scan(mdat_first).error or "")


def test_a_trun_claiming_billions_of_samples_is_not_walked() -> None:
    # the scanner reads the tfdt and leaves the trun unread, whatever it claims
    trun = box(b"trun", struct.pack(">II", 0x000100, 2**32 - 1) + b"\x00" * 8)
    tfdt = box(b"tfdt", struct.pack(">II", 0, 5))
    moof = box(b"moof", box(b"traf", tfdt + trun))
    began = time.perf_counter()
    s = scan(moof + box(b"mdat", b""))
    assert s.error is None and s.decode_time == 5
    assert time.perf_counter() - began < 0.05


def test_nesting_and_missing_boxes_in_an_init_segment_are_errors(rec: DashRecording) -> None:
    nest = b"x"
    for _ in range(20):
        nest = box(b"trak", nest if nest != b"x" else b"")
    with pytest.raises(BoxError, match="no mdhd timescale"):
        read_init(box(b"ftyp", b"isom") + box(b"moov", nest))
    with pytest.raises(BoxError, match="no moov box"):
        read_init(box(b"ftyp", b"isom"))
    with pytest.raises(BoxError, match="runs past its parent"):
        data = bytearray(rec.init("0"))
        at = data.index(b"trak") - 4
        struct.pack_into(">I", data, at, 100_000)
        read_init(bytes(data))
    with pytest.raises(BoxError, match="not an ISO-BMFF box"):
        read_init(b"\x00\x00\x00\x10\x00\x01\x02\x03" + b"\x00" * 8)


def test_a_media_segment_skips_boxes_it_does_not_need(rec: DashRecording, tmp_path: Path) -> None:
    data = rec.segments("1")[2].read_bytes()
    padded = box(b"free", b"\x00" * 10_000) + data  # skipped unread, not held
    s = scan(padded, 1000)
    assert s.error is None and s.decode_time == scan(data).decode_time
