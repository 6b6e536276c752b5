"""The LL-HLS media playlist as the low-latency viewer reads it: parts, preload hint,
server controls, delta updates, rendition reports, and hostile figures refused."""

from __future__ import annotations

import pytest

from streamperf.viewers.hls.playlist import PlaylistError
from streamperf.viewers.llhls.counters import RequestCounts
from streamperf.viewers.llhls.playlist import parse_ll_playlist, parse_ll_playlist_memo, start_part
from streamperf.viewers.llhls.rows import BLOCKED, LLHLS, PLAYLIST, WAIT

URL = "http://127.0.0.1:8080/llhls/s/index.m3u8"

# The shape of RFC 8216bis's example (B.1): two whole segments with parts, one in progress.
LIVE = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=12.0
#EXT-X-PART-INF:PART-TARGET=0.333
#EXT-X-MEDIA-SEQUENCE:266
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T20:00:00.000Z
#EXT-X-PART:DURATION=0.333,URI="266.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.333,URI="266.1.m4s"
#EXT-X-PART:DURATION=0.334,URI="266.2.m4s"
#EXT-X-PART:DURATION=0.333,URI="266.3.m4s"
#EXT-X-PART:DURATION=0.333,URI="266.4.m4s"
#EXT-X-PART:DURATION=0.334,URI="266.5.m4s"
#EXTINF:2.0,
266.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T20:00:02.000Z
#EXT-X-PART:DURATION=0.333,URI="267.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.333,URI="267.1.m4s",GAP=YES
#EXT-X-PART:DURATION=0.334,URI="267.2.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="267.3.m4s"
#EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=267,LAST-PART=1
"""


def test_parts_of_whole_segments_and_of_the_one_in_progress():
    pl = parse_ll_playlist(LIVE, URL)
    assert pl.low_latency and pl.part_target == 0.333
    assert (pl.part_hold_back, pl.can_skip_until) == (1.0, 12.0)
    assert pl.map_uri == "http://127.0.0.1:8080/llhls/s/init.mp4"
    assert [s.msn for s in pl.segments] == [266]
    assert len(pl.segments[0].parts) == 6 and pl.next_msn == 267
    assert [p.key for p in pl.tail] == [(267, 0), (267, 1), (267, 2)]
    assert pl.tail[1].gap and pl.tail[0].independent and not pl.tail[2].independent
    assert pl.last_part() == (267, 2)
    assert pl.preload is not None and pl.preload.uri.endswith("/s/267.3.m4s")
    assert pl.reports[0].uri == "http://127.0.0.1:8080/llhls/480p/index.m3u8"
    assert (pl.reports[0].last_msn, pl.reports[0].last_part) == (267, 1)
    # Dates: a part's is its segment's plus the parts before it.
    assert pl.date_of(pl.tail[2]) - pl.date_of(pl.tail[0]) == pytest.approx(0.666)
    assert pl.date_of(pl.segments[0].parts[0]) + 2.0 == pl.date_of(pl.tail[0])


def test_blocking_reload_is_answered_by_a_playlist_holding_that_part():
    pl = parse_ll_playlist(LIVE, URL)
    assert pl.holds(267, 2) and pl.holds(266, 5) and pl.holds(266, None)
    assert not pl.holds(267, 3) and not pl.holds(267, None) and not pl.holds(268, 0)


def test_start_is_part_hold_back_from_the_edge_loaded_from_a_key_frame():
    pl = parse_ll_playlist(LIVE, URL)
    # 1.0 s back from the edge is 267.0 (with the gap part): independent, both at once.
    load, play = start_part(pl)
    assert load.key == play.key == (267, 0)
    # 1.5 s back is 266.4: loaded from the key frame of 266.0, played from 266.4.
    load, play = start_part(pl, hold_back=1.5)
    assert (load.key, play.key) == ((266, 0), (266, 4))
    assert start_part(pl, hold_back=10.0) is None


def test_delta_update_numbers_segments_after_the_skipped_ones():
    text = LIVE.replace("#EXT-X-MAP:URI=\"init.mp4\"\n",
                        "#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n")
    pl = parse_ll_playlist(text, URL)
    assert pl.skipped == 3 and pl.segments[0].msn == 269 and pl.next_msn == 270


def test_byterange_parts_follow_each_other():
    text = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-PART:DURATION=0.5,URI="seg1.ts",BYTERANGE=1000@0,INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="seg1.ts",BYTERANGE=1200
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg1.ts",BYTERANGE-START=2200
"""
    pl = parse_ll_playlist(text, URL)
    assert [(p.byterange.start, p.byterange.length) for p in pl.tail] == [(0, 1000), (1000, 1200)]
    assert pl.preload.byterange.start == 2200 and pl.preload.byterange.length is None
    assert pl.preload.byterange.header() == b"Range: bytes=2200-\r\n"
    assert pl.tail[1].byterange.header() == b"Range: bytes=1000-2199\r\n"


@pytest.mark.parametrize("bad", [
    "#EXT-X-PART-INF:PART-TARGET=nan", "#EXT-X-PART-INF:PART-TARGET=-1",
    "#EXT-X-PART:DURATION=inf,URI=\"a.m4s\"", "#EXT-X-PART:URI=\"a.m4s\"",
    "#EXT-X-MEDIA-SEQUENCE:99999999999999999999999", "#EXT-X-MEDIA-SEQUENCE:-3",
    "#EXT-X-PART:DURATION=0.3,URI=\"a\",BYTERANGE=x@y", "#EXT-X-SKIP:SKIPPED-SEGMENTS=1e9",
])
def test_hostile_figures_are_one_line_errors(bad):
    text = LIVE.replace("#EXT-X-VERSION:9", bad)
    with pytest.raises(PlaylistError) as e:
        parse_ll_playlist(text, URL)
    assert "\n" not in str(e.value) and URL in str(e.value)


def test_a_master_or_garbage_is_refused():
    with pytest.raises(PlaylistError):
        parse_ll_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", URL)
    with pytest.raises(PlaylistError):
        parse_ll_playlist("\x00\xff garbage", URL)


def test_the_same_text_from_the_same_url_is_parsed_once_and_failures_are_not_kept():
    a = parse_ll_playlist_memo(LIVE, URL)
    assert parse_ll_playlist_memo(LIVE, URL) is a  # the viewers share it: never modified
    assert parse_ll_playlist_memo(LIVE, URL.replace("/s/", "/t/")) is not a  # base of URIs
    newer = parse_ll_playlist_memo(LIVE.replace('"267.3.m4s"', '"267.4.m4s"'), URL)
    assert newer is not a and newer.preload is not None and newer.preload.uri.endswith("267.4.m4s")
    for _ in range(2):
        with pytest.raises(PlaylistError):
            parse_ll_playlist_memo("\x00\xff garbage", URL)


def test_counts_become_one_row_per_name_that_moved_per_window():
    c = RequestCounts()
    for _ in range(3):
        c.add(PLAYLIST)
        c.add(BLOCKED)
    c.waited(0.3104)
    c.waited(-1.0)  # a clock step: never a negative wait
    rows = c.take()
    assert (LLHLS, PLAYLIST, 3.0, "") in rows and (LLHLS, BLOCKED, 3.0, "") in rows
    assert (LLHLS, WAIT, 2.0, "310,0") in rows and len(rows) == 3
    assert c.take() == [] and c.totals[PLAYLIST] == 3
