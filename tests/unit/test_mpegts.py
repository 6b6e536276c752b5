"""First-PTS scanning on the first 8 KiB of real nginx-rtmp HLS segments.

tests/data/nginx_*_head.ts were cut from segments nginx-rtmp wrote
(tests/data/record_hls.py): the first segment of a stream, a later one,
and the two around a 33-bit PTS wrap (publisher timestamps near 95443 s).
Expected values are ffprobe's (`-show_packets`), checked again below when
ffprobe is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from streamperf.viewers.formats.mpegts import PACKET, PTS_HZ, PTS_WRAP, TsScanner, scan, unwrap_pts

DATA = Path(__file__).resolve().parents[1] / "data"

# file: (first PTS in file order, first video PTS, first audio PTS), 90 kHz
EXPECTED = {
    # FLV ts 0 + hls_muxdelay 0.7 s = 63000; video starts 23 ms later in the clip
    "nginx_first_segment_head.ts": (63000, 65070, 63000),
    "nginx_segment_head.ts": (602167, 605070, 602167),
    "nginx_wrap_before_head.ts": (8589842444, 8589845070, 8589842444),
    "nginx_wrap_after_head.ts": (87575, 90478, 87575),
}


def head(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_first_pts_of_real_segments(name: str) -> None:
    data = head(name)
    assert len(data) == 8192
    s = scan(data)
    assert (s.first_pts, s.video_pts, s.audio_pts) == EXPECTED[name]
    assert s.has_video and s.has_audio and s.done


def ffprobe_first_pts(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts,pos",
         "-show_entries", "stream=index,codec_type", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    info = json.loads(out)
    kinds = {s["index"]: s["codec_type"] for s in info["streams"]}
    packets = sorted(
        (int(p["pos"]), int(p["pts"]) % PTS_WRAP, kinds[p["stream_index"]])
        for p in info["packets"]
        if "pos" in p and "pts" in p
    )
    video = next(pts for _, pts, kind in packets if kind == "video")
    audio = next(pts for _, pts, kind in packets if kind == "audio")
    return packets[0][1], video, audio


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (apt-get install ffmpeg)")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ffprobe_agrees(name: str) -> None:
    # ffprobe unwraps across the wrap (negative PTS), so compare modulo 2**33
    assert ffprobe_first_pts(DATA / name) == EXPECTED[name]


@pytest.mark.parametrize("piece", [1, 7, 100, 187, 188, 189, 1000])
def test_fed_in_pieces(piece: int) -> None:
    data = head("nginx_segment_head.ts")
    s = TsScanner(want_both=True)
    for i in range(0, len(data), piece):
        if s.feed(data[i : i + piece]):
            break
    assert (s.first_pts, s.video_pts, s.audio_pts) == EXPECTED["nginx_segment_head.ts"]


def test_stops_at_the_first_pts() -> None:
    # PAT, PMT, then audio PES in packet 2: three packets suffice
    s = TsScanner()
    assert s.feed(head("nginx_segment_head.ts"))
    assert s.packets == 3 and s.first_pts == 602167 and s.video_pts is None
    # wanting both goes on to the video PES (packet 6, at byte 1128)
    s = TsScanner(want_both=True)
    assert s.feed(head("nginx_segment_head.ts")) and s.packets == 1128 // PACKET + 1


def test_without_pat_pmt_stream_ids_decide() -> None:
    s = scan(head("nginx_segment_head.ts")[2 * PACKET :])
    assert (s.first_pts, s.video_pts, s.audio_pts) == EXPECTED["nginx_segment_head.ts"]
    assert s.has_video is None and s.has_audio is None


def test_resyncs_after_garbage() -> None:
    data = head("nginx_first_segment_head.ts")
    s = scan(b"\x47garbage\x00" * 5 + data)
    assert (s.first_pts, s.video_pts, s.audio_pts) == EXPECTED["nginx_first_segment_head.ts"]


def test_not_ts_finds_nothing() -> None:
    s = scan(b"#EXTM3U\n" * 200)
    assert s.first_pts is None and not s.done


def test_truncated_before_any_pes() -> None:
    s = TsScanner()
    assert not s.feed(head("nginx_first_segment_head.ts")[: 2 * PACKET + 10])
    assert s.first_pts is None and s.has_video and s.has_audio


def test_unwrap_across_the_wrap() -> None:
    before = EXPECTED["nginx_wrap_before_head.ts"][0]
    after = EXPECTED["nginx_wrap_after_head.ts"][0]
    assert after < before  # it wrapped
    unwrapped = unwrap_pts(after, before)
    assert unwrapped == after + PTS_WRAP
    assert (unwrapped - before) / PTS_HZ == pytest.approx(2.0, abs=0.05)  # one 2 s segment
    assert unwrap_pts(before, unwrapped) == before  # and back
    assert unwrap_pts(123, 456) == 123
