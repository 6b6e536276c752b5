"""`--ladder`: its parser, its bare form, what it does not go with, and the texts a ladder
publishes by (the master playlist, the muxers' arguments, the source rows' JSON)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import pytest

from streamperf.media.ladder import rung_size
from streamperf.media.ladder_outputs import dash_output, hls_output, master_playlist
from streamperf.media.rungs import DEFAULT_LADDER, Rendition, Rung, ladder_text
from streamperf.option_values import parse_ladder
from streamperf.settings import SettingsError, add_options, build_settings, parse_options
from tests.support import nested_pytest


@pytest.mark.parametrize(("text", "rungs"), [
    ("default", DEFAULT_LADDER),
    ("720p:2400k,480p:1100k,240p:350k", DEFAULT_LADDER),
    # the highest bitrate first, whatever the order given; M and plain kbps; spaces
    ("240p:350k, 720p:2.4M ,480p:1100", DEFAULT_LADDER),
    ("hi:3000k:1080p,lo:500k", (Rung("hi", 3000, 1080), Rung("lo", 500, None))),
    ("src:800kbps", (Rung("src", 800, None),)),
])
def test_a_ladder_is_rungs_top_first(text: str, rungs: tuple[Rung, ...]) -> None:
    assert parse_ladder(text) == rungs
    assert parse_ladder(ladder_text(rungs)) == rungs  # the canonical text reads back


@pytest.mark.parametrize(("text", "reason"), [
    ("", "give 1 to 8 rungs"),
    ("720p", "'720p' is not NAME:BITRATE[:HEIGHTp]"),
    ("720p:2400k:720p:x", "is not NAME:BITRATE[:HEIGHTp]"),
    ("720p:fast", "rung 720p: bitrate 'fast' is not 50k to 50000k"),
    ("a:10k", "bitrate '10k' is not 50k"),
    ("a:99M", "bitrate '99M' is not 50k"),
    ("721p:1000k", "height '721p' is not an even HEIGHTp"),
    ("a:1000k:720", "height '720' is not an even HEIGHTp"),
    ("a:1000k:8640p", "height '8640p' is not an even HEIGHTp"),
    ("master:1000k", "rung name 'master'"),  # master.m3u8 is the ladder's own
    ("a b:1000k", "rung name 'a b'"),
    ("a:1000k,A:500k", "two rungs with the name a"),
    ("a:1000k,b:1M", "two rungs with the bitrate 1000k"),
    (",".join(f"r{i}:{100 + i}k" for i in range(9)), "give 1 to 8 rungs"),
])
def test_a_bad_ladder_says_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_ladder(text)
    assert reason in str(err.value)


def _raw(*argv: str) -> dict[str, object]:
    """The raw values argparse gives the options as the plugin declares them."""
    parser = argparse.ArgumentParser()
    add_options(parser.add_argument)
    parser.add_argument("paths", nargs="*")
    return vars(parser.parse_args(list(argv)))


def test_a_bare_ladder_is_the_default_one() -> None:
    assert parse_options(_raw("--ladder"), {})["ladder"] == DEFAULT_LADDER
    assert parse_options(_raw("--ladder", "--users", "3"), {})["ladder"] == DEFAULT_LADDER
    given = parse_options(_raw("--ladder", "hi:900k", "tests/perf"), {})
    assert given["ladder"] == (Rung("hi", 900),)
    assert "ladder" not in parse_options(_raw("tests/perf"), {})  # not given: no ladder


@pytest.mark.parametrize(("values", "message"), [
    ({"ladder": "default", "bundled_platform": "seed"},
     "--ladder does not go with --bundled-platform seed"),
    ({"ladder": "default", "play_urls": ["http://127.0.0.1:1/live.m3u8"]},
     "--ladder does not go with --play-url"),
    ({"ladder": "default", "api_url": "http://127.0.0.1:1"}, "--ladder does not go with --apiurl"),
    ({"ladder": "720p:fast"}, "--ladder 720p:fast: rung 720p: bitrate 'fast'"),
])
def test_what_a_ladder_does_not_go_with(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        build_settings(values, {})
    assert message in str(err.value)


def test_a_ladder_goes_with_a_videopath_and_any_protocol(tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"\0")
    s = build_settings({"ladder": "default", "video_path": str(video), "protocol": "hls"}, {})
    assert s.ladder == DEFAULT_LADDER and s.uses_bundled_platform
    assert build_settings({}, {}).ladder == ()  # without it: one rendition, as before


@pytest.mark.parametrize(("args", "expected"), [
    (("--ladder", "720p:fast"), "--ladder 720p:fast: rung 720p: bitrate 'fast' is not"),
    (("--ladder", "--bundled-platform", "seed"), "--ladder does not go with --bundled-platform"),
    (("--ladder", "default", "--play-url", "rtmp://127.0.0.1:1/live/x"),
     "--ladder does not go with --play-url"),
])
def test_a_bad_ladder_is_a_usage_error(args: tuple[str, ...], expected: str,
                                       tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    proc = nested_pytest.run_pytest("-q", tmp_path, *args, cwd=tmp_path, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert expected in out and "Traceback" not in out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out


def test_rung_sizes_keep_the_source_aspect_in_even_pixels() -> None:
    wide = Fraction(16, 9)
    assert [rung_size(r, 640, 360, wide) for r in DEFAULT_LADDER] == [
        (1280, 720), (854, 480), (426, 240)]
    assert rung_size(Rung("src", 800), 641, 361, wide) == (640, 360)  # the source's, even
    assert rung_size(Rung("4x3", 800, 480), 640, 480, Fraction(4, 3)) == (640, 480)


RENDITIONS = (
    Rendition("720p", 1280, 720, 2426.5, 95.3, "avc1.4d401f,mp4a.40.2", 30.0, 2711.7, 2615.3,
              "0"),
    Rendition("240p", 426, 240, 354.6, 95.3, "avc1.4d4015,mp4a.40.2", 30.0, 512.9, 499.4, "1"),
)


def test_the_master_playlist_names_bandwidth_resolution_and_codecs() -> None:
    assert master_playlist(RENDITIONS).splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-STREAM-INF:BANDWIDTH=2711700,AVERAGE-BANDWIDTH=2615300,RESOLUTION=1280x720,"
        'FRAME-RATE=30.000,CODECS="avc1.4d401f,mp4a.40.2"',
        "720p.m3u8",
        "#EXT-X-STREAM-INF:BANDWIDTH=512900,AVERAGE-BANDWIDTH=499400,RESOLUTION=426x240,"
        'FRAME-RATE=30.000,CODECS="avc1.4d4015,mp4a.40.2"',
        "240p.m3u8",
    ]


def test_the_muxers_share_the_audio_and_name_the_variants(tmp_path: Path) -> None:
    hls = hls_output(["720p", "240p"], True, tmp_path)
    assert hls[hls.index("-var_stream_map") + 1] == "v:0,a:0,name:720p v:1,a:1,name:240p"
    assert hls[:8] == ["-map", "0:v:0", "-map", "0:a:0", "-map", "0:v:1", "-map", "0:a:0"]
    assert "program_date_time" in hls[hls.index("-hls_flags") + 1]
    silent = hls_output(["720p"], False, tmp_path, live=False)
    assert silent[silent.index("-var_stream_map") + 1] == "v:0,name:720p"
    dash = dash_output(2, True, tmp_path, "http://127.0.0.1:1/time")
    assert dash[dash.index("-adaptation_sets") + 1] == "id=0,streams=v id=1,streams=a"
    assert dash[dash.index("-utc_timing_url") + 1] == "http://127.0.0.1:1/time"
    assert dash[-1] == str(tmp_path / "live.mpd")


def test_a_rendition_fits_in_one_source_row() -> None:
    longest = Rendition("n" * 32, 3840, 2160, 49999.9, 320.0, "avc1.4d4033,mp4a.40.29", 59.94,
                        99999.9, 99999.9, "7")
    assert len(longest.to_json()) < 300  # the event log cuts details there
    assert Rendition.from_json(longest.to_json()) == longest
    assert RENDITIONS[0].kbps == 2521.8
