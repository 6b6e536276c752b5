"""m3u8 parsing: real nginx-rtmp playlists and hand-written master/media playlists.

tests/data/nginx_live*.m3u8 are what nginx-rtmp served for a live stream
(tests/data/record_hls.py made them): 2 s fragments, 10 s window, segment
names from the ingest clock, a DISCONTINUITY tag on the stream's first
segment and no PROGRAM-DATE-TIME.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamperf.viewers.hls.playlist import (
    MasterPlaylist,
    MediaPlaylist,
    PlaylistError,
    choose_variant,
    is_master,
    live_start_index,
    parse_attributes,
    parse_date_time,
    parse_master_playlist,
    parse_media_playlist,
    parse_playlist,
)

DATA = Path(__file__).resolve().parents[1] / "data"
URL = "http://127.0.0.1:8080/hls/test.m3u8"


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- real nginx-rtmp playlists -------------------------------------------------------


def test_nginx_live_playlist() -> None:
    pl = parse_playlist((DATA / "nginx_live.m3u8").read_text(), URL)
    assert isinstance(pl, MediaPlaylist)
    assert pl.target_duration == 2 and pl.media_sequence == 0 and pl.version == 3
    assert not pl.ended and pl.playlist_type is None
    assert [s.sequence for s in pl.segments] == [0, 1, 2, 3, 4] and pl.last_sequence == 4
    assert all(s.duration == 2.0 for s in pl.segments) and pl.duration == 10.0
    # relative names resolve next to the playlist; names carry the ingest clock (ms)
    for s in pl.segments:
        assert s.uri.startswith("http://127.0.0.1:8080/hls/test-") and s.uri.endswith(".ts")
    stamps = [int(s.uri.rsplit("-", 1)[1][:-3]) for s in pl.segments]
    assert all(1900 < b - a < 2100 for a, b in itertools.pairwise(stamps))
    # nginx marks the first segment of a stream as a discontinuity, without a sequence tag
    assert [s.discontinuity for s in pl.segments] == [True, False, False, False, False]
    assert pl.discontinuity_sequence == 0
    assert {s.discontinuity_sequence for s in pl.segments} == {1}
    assert all(s.program_date_time is None for s in pl.segments)
    # a live viewer starts 3 target durations (3 segments) from the end
    assert live_start_index(pl) == 2


def test_nginx_early_playlist_starts_at_its_first_segment() -> None:
    pl = parse_media_playlist((DATA / "nginx_live_early.m3u8").read_text(), URL)
    assert len(pl.segments) == 2
    assert live_start_index(pl) == 0  # shorter than 3 target durations


# --- hand-written media playlists ----------------------------------------------------

MEDIA = """\ufeff#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:1200
#EXT-X-DISCONTINUITY-SEQUENCE:7
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-KEY:METHOD=NONE
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXTINF:4.000,live
seg1200.ts
#EXTINF:3.5,
/abs/seg1201.ts

#EXT-X-DISCONTINUITY
#EXTINF:4,
https://cdn.example.com/other/seg1202.ts
#EXTINF:4.0,
seg1203.ts
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T13:00:00+01:00
#EXT-X-DISCONTINUITY
#EXTINF:2.5,
seg1204.ts?token=a%20b
#EXTINF:4.0,
seg1205.ts
#EXT-X-ENDLIST
"""


def test_media_playlist_tags() -> None:
    pl = parse_media_playlist(MEDIA.replace("\n", "\r\n"), "https://h.example/live/v1/index.m3u8")
    assert pl.target_duration == 4 and pl.version == 6 and pl.playlist_type == "EVENT"
    assert pl.ended and pl.media_sequence == 1200 and pl.last_sequence == 1205
    assert pl.discontinuity_sequence == 7
    segs = pl.segments
    assert [s.sequence for s in segs] == list(range(1200, 1206))
    assert [s.duration for s in segs] == [4.0, 3.5, 4.0, 4.0, 2.5, 4.0]
    assert [s.uri for s in segs] == [
        "https://h.example/live/v1/seg1200.ts",
        "https://h.example/abs/seg1201.ts",
        "https://cdn.example.com/other/seg1202.ts",
        "https://h.example/live/v1/seg1203.ts",
        "https://h.example/live/v1/seg1204.ts?token=a%20b",
        "https://h.example/live/v1/seg1205.ts",
    ]
    assert [s.discontinuity for s in segs] == [False, False, True, False, True, False]
    assert [s.discontinuity_sequence for s in segs] == [7, 7, 8, 8, 9, 9]
    # PDT: given, extrapolated by EXTINF, lost at a discontinuity without one,
    # given again (PDT before the DISCONTINUITY tag still belongs to that segment)
    t0 = _unix("2024-05-01T12:00:00")
    t1 = _unix("2024-05-01T12:00:00")  # 13:00+01:00
    assert [s.program_date_time for s in segs] == [t0, t0 + 4.0, None, None, t1, t1 + 2.5]


def test_live_start_index_adds_up_durations() -> None:
    pl = parse_media_playlist(MEDIA.replace("#EXT-X-ENDLIST\n", ""), URL)
    # from the end: 4.0 + 2.5 + 4.0 = 10.5 < 12, + 4.0 = 14.5 >= 12 -> index 2
    assert live_start_index(pl) == 2
    assert live_start_index(pl, hold_back=6.0) == 4
    assert live_start_index(pl, hold_back=0.1) == 5
    assert live_start_index(parse_media_playlist(MEDIA, URL)) == 0  # ENDLIST: from the top


def test_empty_live_playlist() -> None:
    pl = parse_media_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:9\n", URL)
    assert pl.segments == [] and pl.last_sequence == 8 and live_start_index(pl) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an m3u8"),
        ("<html>404</html>", "not an m3u8"),
        ("#EXTM3U\n#EXTINF:2,\na.ts\n", "without #EXT-X-TARGETDURATION"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:0\n", "must be a finite positive"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n", "without #EXTINF"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:two\n", "bad #EXT-X-TARGETDURATION"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:x,\na.ts\n", "bad #EXTINF"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:soon\n", "PROGRAM-DATE"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", "master playlist where"),
    ],
)
def test_bad_media_playlists(text: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_media_playlist(text, URL)


HOSTILE_HEAD = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#EXTM3U\n#EXT-X-TARGETDURATION:nan\n", "TARGETDURATION must be a finite positive"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:inf\n", "TARGETDURATION must be a finite positive"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:-2\n", "TARGETDURATION must be a finite positive"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:1e307\n", "at most a day"),  # issue 24
        (HOSTILE_HEAD + "#EXTINF:1e307,\na.ts\n", "at most a day"),
        (HOSTILE_HEAD + "#EXTINF:NaN,\na.ts\n", "EXTINF must be a finite positive"),
        (HOSTILE_HEAD + "#EXTINF:-Infinity,\na.ts\n", "EXTINF must be a finite positive"),
        (HOSTILE_HEAD + "#EXTINF:0,\na.ts\n", "EXTINF must be a finite positive"),
        (HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:inf\n", "MEDIA-SEQUENCE must be a whole"),
        (HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:nan\n", "MEDIA-SEQUENCE must be a whole"),
        (HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:2.5\n", "MEDIA-SEQUENCE must be a whole"),
        (HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:-1\n", "MEDIA-SEQUENCE out of range"),
        (HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:1e300\n", "MEDIA-SEQUENCE out of range"),
        (HOSTILE_HEAD + f"#EXT-X-MEDIA-SEQUENCE:{2**64}\n", "MEDIA-SEQUENCE out of range"),
        (HOSTILE_HEAD + "#EXT-X-DISCONTINUITY-SEQUENCE:inf\n", "DISCONTINUITY-SEQUENCE"),
        (HOSTILE_HEAD + "#EXT-X-VERSION:nan\n", "VERSION must be a whole"),
    ],
)
def test_non_finite_or_negative_numbers_are_playlist_errors(text: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_media_playlist(text, URL)


def test_whole_numbers_in_any_spelling_parse() -> None:
    text = HOSTILE_HEAD + f"#EXT-X-MEDIA-SEQUENCE:{2**64 - 1}\n#EXT-X-VERSION:3.0\n"
    pl = parse_media_playlist(text, URL)
    assert pl.media_sequence == 2**64 - 1 and pl.version == 3
    seven = parse_media_playlist(HOSTILE_HEAD + "#EXT-X-MEDIA-SEQUENCE:7.0\n", URL)
    assert seven.media_sequence == 7


def test_program_date_time_forms() -> None:
    want = _unix("2024-05-01T12:00:00.250")
    assert parse_date_time("2024-05-01T12:00:00.250Z") == want
    assert parse_date_time("2024-05-01T14:00:00.250+02:00") == want
    assert parse_date_time("2024-05-01T12:00:00.250") == want  # no zone: UTC


# --- master playlists -------------------------------------------------------------------

MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,\
CODECS="avc1.4d401e,mp4a.40.2"
low/index.m3u8
#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=5000000,RESOLUTION=1920x1080
https://other.example/hi/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2560000,RESOLUTION=1280x720,FRAME-RATE=29.970
/mid/index.m3u8
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="en",URI="audio.m3u8"
"""


def test_master_playlist() -> None:
    assert is_master(MASTER)
    pl = parse_playlist(MASTER, "http://h.example/live/master.m3u8")
    assert isinstance(pl, MasterPlaylist)
    low, hi, mid = pl.variants
    assert low.uri == "http://h.example/live/low/index.m3u8"
    assert (low.bandwidth, low.average_bandwidth, low.resolution) == (1280000, 1000000, (640, 360))
    assert low.codecs == "avc1.4d401e,mp4a.40.2"
    assert hi.uri == "https://other.example/hi/index.m3u8" and hi.resolution == (1920, 1080)
    assert hi.average_bandwidth is None and hi.codecs is None
    assert mid.uri == "http://h.example/mid/index.m3u8" and mid.bandwidth == 2560000
    assert choose_variant(pl.variants, "highest") is hi
    assert choose_variant(pl.variants, "lowest") is low
    rng = random.Random(1)
    picked = {choose_variant(pl.variants, "random", rng).uri for _ in range(50)}
    assert picked == {v.uri for v in pl.variants}
    with pytest.raises(ValueError, match="unknown variant choice 'best'"):
        choose_variant(pl.variants, "best")


def test_bad_master_playlists() -> None:
    with pytest.raises(PlaylistError, match="without BANDWIDTH"):
        parse_master_playlist("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n", URL)
    with pytest.raises(PlaylistError, match="without variants"):
        parse_master_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", URL)
    with pytest.raises(PlaylistError, match="no variants"):
        choose_variant([], "highest")


def test_attributes() -> None:
    assert parse_attributes('BANDWIDTH=1,CODECS="a,b",RESOLUTION=2x3, NAME="x y"') == {
        "BANDWIDTH": "1",
        "CODECS": "a,b",
        "RESOLUTION": "2x3",
        "NAME": "x y",
    }
    assert parse_attributes("") == {}
