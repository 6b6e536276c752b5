"""`--ladder` on the bundled platform, all real: the clip encoded into three renditions
(cached), one ffmpeg publishing them as HLS and DASH into the platform's nginx and the
top one to its RTMP ingest, the join answering master playlist and MPD, and the perf
scenarios passing over it.

One stack for the module (platform, nginx, publisher), stopped by PID at its end.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from streamperf.load.broadcast import Broadcast, LiveStream, stream_name
from streamperf.media.ladder_outputs import MASTER, MPD, SEGMENT_S
from streamperf.media.rungs import DEFAULT_LADDER
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.reference.adapter import BundledPlatform
from streamperf.platforms.reference.api import TIME_PATH
from tests.support.nested_pytest import run_dirs, run_perf, summaries

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
NAMES = [r.name for r in DEFAULT_LADDER]
HLS_PTS_OFFSET_S = 0.7  # what the HLS viewer takes off a segment's PTS (as nginx-rtmp's)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory,
           clip: Path) -> Iterator[tuple[BundledPlatform, LiveStream]]:
    """The bundled platform with the default ladder, live (the encode cached after the
    first time ever)."""
    platform = BundledPlatform(tmp_path_factory.mktemp("platform"),
                               ladder=DEFAULT_LADDER).start()
    broadcast = Broadcast(platform, clip, tmp_path_factory.mktemp("publisher"))
    try:
        yield platform, broadcast.start()
    finally:
        broadcast.stop()  # ffmpeg by PID, then the platform: API thread and nginx by PID
        platform.end()


def get(url: str) -> tuple[str, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode(), dict(resp.headers.items())


def url_of(ladder: tuple[BundledPlatform, LiveStream], file: str) -> str:
    platform, live = ladder
    assert live.ingest_url is not None
    return platform.media.ladder_url(stream_name(live.ingest_url), file)


def test_the_join_answers_master_playlist_mpd_and_the_top_rendition_over_rtmp(
        ladder: tuple[BundledPlatform, LiveStream]) -> None:
    platform, live = ladder
    plays = {proto: platform.fan_journey(
        FanSpec(i, f"ladderfan{i}", f"ladderfan{i}@e.com", "pw", True, proto), live.live,
        lambda call: None) for i, proto in enumerate(("hls", "dash", "rtmp"))}
    assert plays["hls"].playback_url == url_of(ladder, MASTER)
    assert plays["dash"].playback_url == url_of(ladder, MPD)
    assert live.ingest_url is not None
    assert plays["rtmp"].playback_url == live.ingest_url.split("?")[0]
    assert platform.media.is_publishing(stream_name(live.ingest_url))  # the top rendition


def test_the_master_playlist_names_each_rendition_for_a_player(
        ladder: tuple[BundledPlatform, LiveStream]) -> None:
    text, headers = get(url_of(ladder, MASTER))
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert headers["Cache-Control"] == "no-cache"
    variants = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", text)
    assert [uri for _, uri in variants] == [f"{n}.m3u8" for n in NAMES]
    attrs = [dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line)) for line, _ in variants]
    assert [a["RESOLUTION"] for a in attrs] == ["1280x720", "854x480", "426x240"]
    assert all(re.fullmatch(r'"avc1\.4d40[0-9a-f]{2},mp4a\.40\.2"', a["CODECS"]) for a in attrs)
    bandwidths = [int(a["BANDWIDTH"]) for a in attrs]
    # the peak TS segment: above each rung's video + audio bitrate, in their order
    for rung, bandwidth, average in zip(DEFAULT_LADDER, bandwidths, attrs, strict=True):
        assert (rung.video_kbps + 96) * 1000 < bandwidth < (rung.video_kbps + 96) * 1300
        assert int(average["AVERAGE-BANDWIDTH"]) <= bandwidth
    assert bandwidths == sorted(bandwidths, reverse=True)


def _media_playlist(ladder: tuple[BundledPlatform, LiveStream],
                    name: str) -> dict[int, tuple[float, float, str]]:
    """media sequence -> (EXTINF, PROGRAM-DATE-TIME as unix time, URI)."""
    text, _ = get(url_of(ladder, f"{name}.m3u8"))
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    found = re.findall(r"#EXTINF:([\d.]+),\n#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(\S+)", text)
    return {seq + i: (float(d), datetime.strptime(pdt, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp(),
                      uri) for i, (d, pdt, uri) in enumerate(found)}


def _first_pts(url: str, tmp_path: Path) -> float:
    segment = tmp_path / url.rsplit("/", 1)[-1]
    with urllib.request.urlopen(url, timeout=5) as resp:
        segment.write_bytes(resp.read())
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-read_intervals", "%+#1", "-of", "csv=p=0",
                          str(segment)], capture_output=True, text=True, timeout=30, check=True)
    return float(out.stdout.split()[0].rstrip(","))


def test_media_playlists_align_and_their_dates_are_the_publish_clock(
        ladder: tuple[BundledPlatform, LiveStream], tmp_path: Path) -> None:
    _, live = ladder
    assert live.t0 is not None
    playlists = {name: _media_playlist(ladder, name) for name in NAMES}
    common = sorted(set.intersection(*(set(p) for p in playlists.values())))
    assert len(common) >= 1, playlists
    for seq in common:  # the same segment in every rendition: length and date
        lengths = {playlists[n][seq][0] for n in NAMES}
        dates = [playlists[n][seq][1] for n in NAMES]
        assert len(lengths) == 1 and max(dates) - min(dates) < 0.002, (seq, playlists)
    seq = common[-1]
    for name in NAMES:  # PTS, less the viewer's 0.7 s, is publish time; PDT says when
        _, pdt, uri = playlists[name][seq]
        media_ts = _first_pts(url_of(ladder, uri), tmp_path) - HLS_PTS_OFFSET_S
        assert round(media_ts / SEGMENT_S) * SEGMENT_S == pytest.approx(media_ts, abs=0.05)
        assert pdt - (live.t0 + media_ts) == pytest.approx(0, abs=0.25), name


def _tfdt(chunk: bytes) -> int:
    """The base media decode time of an fMP4 fragment (its tfdt box)."""
    at = chunk.index(b"tfdt")
    version = chunk[at + 4]
    width = 8 if version == 1 else 4
    return int.from_bytes(chunk[at + 8:at + 8 + width], "big")


def test_the_mpd_is_live_with_aligned_video_representations_and_one_audio(
        ladder: tuple[BundledPlatform, LiveStream]) -> None:
    platform, live = ladder
    assert live.t0 is not None
    text, headers = get(url_of(ladder, MPD))
    assert headers["Content-Type"] == "application/dash+xml"
    assert headers["Cache-Control"] == "no-cache"
    mpd = ET.fromstring(text)
    assert mpd.get("type") == "dynamic"
    start = datetime.fromisoformat(mpd.get("availabilityStartTime", "").replace("Z", "+00:00"))
    assert start.timestamp() - live.t0 == pytest.approx(0, abs=0.25)  # media 0 is T0
    sets = {a.get("contentType"): a for a in mpd.iterfind(".//d:AdaptationSet", NS)}
    video = sets["video"].findall("d:Representation", NS)
    assert [(r.get("width"), r.get("height")) for r in video] == [
        ("1280", "720"), ("854", "480"), ("426", "240")]
    assert len(sets["audio"].findall("d:Representation", NS)) == 1
    grids = []
    for rep in video:
        template = rep.find("d:SegmentTemplate", NS)
        assert template is not None and "$Time$" in template.get("media", "")
        times, t = [], 0
        for s in template.iterfind("d:SegmentTimeline/d:S", NS):
            t = int(s.get("t", t))
            for _ in range(int(s.get("r", 0)) + 1):
                times.append((t, int(s.get("d", 0))))
                t += int(s.get("d", 0))
        grids.append((int(template.get("timescale", 1)), times))
    assert len({scale for scale, _ in grids}) == 1
    scale = grids[0][0]
    common = set.intersection(*(set(times) for _, times in grids))
    assert common, grids  # the same times in every video representation
    newest = max(common)
    assert newest[1] == SEGMENT_S * scale
    for rep in video:  # and each of them has that segment, starting at that time
        with urllib.request.urlopen(url_of(ladder, f"chunk-{rep.get('id')}-{newest[0]}.m4s"),
                                    timeout=5) as resp:
            assert _tfdt(resp.read()) == newest[0]
    timing = mpd.find("d:UTCTiming", NS)
    assert timing is not None and timing.get("value") == platform.reference.base_url + TIME_PATH
    now, _ = get(timing.get("value", ""))
    clock = datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp()
    assert clock == pytest.approx(time.time(), abs=1)


def test_the_source_figures_are_the_renditions(ladder: tuple[BundledPlatform, LiveStream]
                                               ) -> None:
    _, live = ladder
    source = live.source
    assert source is not None
    assert [r.name for r in source.renditions] == NAMES
    for rung, r in zip(DEFAULT_LADDER, source.renditions, strict=True):
        assert r.video_kbps == pytest.approx(rung.video_kbps, rel=0.05)  # CBR
        assert r.audio_kbps == pytest.approx(96, rel=0.1)
        assert r.kbps < r.hls_avg_kbps <= r.hls_peak_kbps  # TS bytes on top
    assert source.bitrate_kbps == source.renditions[0].kbps  # what RTMP viewers get
    assert source.gop_s == SEGMENT_S


def test_the_encode_is_made_once(ladder: tuple[BundledPlatform, LiveStream], clip: Path,
                                 tmp_path: Path) -> None:
    platform, live = ladder
    assert isinstance(live.publisher, type(platform.make_publisher(clip, live.live, tmp_path)))
    first = live.publisher.ladder  # type: ignore[attr-defined]
    mtime = first.path.stat().st_mtime_ns
    began = time.monotonic()
    again = platform.make_publisher(clip, live.live, tmp_path)  # the next run's start
    assert again is not None and again.ladder == first
    assert first.path.stat().st_mtime_ns == mtime and time.monotonic() - began < 2


@pytest.mark.own_pytest
def test_the_perf_scenarios_pass_over_hls_and_dash_on_a_ladder(tmp_path: Path) -> None:
    # 20 s, not 10: with 2 s segments a viewer's byte count over its ~9.5 s of counted
    # windows holds 4 or 5 segments (ratio 0.88 or 1.10 at 2.4 Mbps), also without a ladder
    reports = tmp_path / "reports"
    proc = run_perf(reports, "-k", "join_storm", "--ladder", "default", "--protocol-mix",
                    "hls=50,dash=50", "--users", "10", "--duration", "20s", "--calibration",
                    "0", timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    [summary] = summaries(reports)
    assert summary["verdict"]["word"] == "PASS", json.dumps(summary["verdict"])
    assert summary["metrics"]["viewers_with_media"] == 10, summary["metrics"]
    [run] = run_dirs(reports)
    rows = (run / "events.csv").read_text().splitlines()
    for name in NAMES:  # the source rows, one per rendition
        assert sum(f",source,bitrate_kbps:{name}," in row for row in rows) == 1
    hls = [row for row in rows if ",play,hls," in row]
    dash = [row for row in rows if ",play,dash," in row]
    assert len(hls) == 5 and all(row.endswith("/master.m3u8") for row in hls), hls
    assert len(dash) == 5 and all(row.endswith(".mpd") for row in dash), dash
