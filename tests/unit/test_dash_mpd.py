"""dash/mpd.py and dash/timeline.py on MPDs ffmpeg's DASH muxer wrote ($Number$ and
$Time$ forms, live and final), and on hostile ones."""

from __future__ import annotations

import math
import time

import pytest

from streamperf.viewers.dash.mpd import MpdError, parse_mpd, parse_mpd_memo
from streamperf.viewers.dash.timeline import (
    find_segment,
    live_delay,
    newest_segment,
    start_position,
)
from tests.support.dash_media import DashRecording, record_dash

BASE = "http://127.0.0.1:9/live/live.mpd"


@pytest.fixture(scope="module", params=["number", "time"])
def rec(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DashRecording:
    return record_dash(tmp_path_factory.mktemp(request.param), timeline=request.param == "time")


def test_the_live_mpd_is_dynamic_with_its_timing(rec: DashRecording) -> None:
    mpd = parse_mpd(rec.live_mpd, BASE)
    assert mpd.dynamic and mpd.availability_start is not None
    assert abs(mpd.availability_start - time.time()) < 120
    assert mpd.max_segment_duration == 2.0
    (period,) = mpd.periods
    video, audio = period.of_kind("video"), period.of_kind("audio")
    assert video is not None and audio is not None
    (v,), (a,) = video.representations, audio.representations
    assert (v.id, v.bandwidth, v.width, v.height, v.frame_rate) == ("0", 950000, 640, 360, 30.0)
    assert v.codecs == "avc1.4d401e" and a.codecs == "mp4a.40.2" and a.kind == "audio"
    assert v.template.initialization == "http://127.0.0.1:9/live/init-stream0.m4s"
    assert v.template.availability_offset == 0.0  # availabilityTimeComplete="false"
    if v.template.timeline is None:  # $Number$: @duration, a 500 s update period
        assert (v.template.duration, v.template.timescale) == (2_000_000, 1_000_000)
        assert mpd.minimum_update_period == 500
    else:
        assert v.template.timescale == 15360 and mpd.minimum_update_period == 2


def test_the_final_mpd_is_static_and_every_segment_it_names_exists(rec) -> None:
    mpd = parse_mpd(rec.final_mpd, BASE)
    assert not mpd.dynamic and mpd.duration == pytest.approx(8.0, abs=0.2)
    period = mpd.periods[0]
    for kind, rep_id in (("video", "0"), ("audio", "1")):
        aset = period.of_kind(kind)
        assert aset is not None
        rep = aset.representations[0]
        names, pos = [], start_position(mpd, rep, time.time())
        while (seg := find_segment(period, rep, pos)) is not None:
            names.append(seg.url.rsplit("/", 1)[1])
            pos = seg.end
            assert len(names) < 10
        assert names == [p.name for p in rec.segments(rep_id)]


def test_availability_follows_the_clock(rec: DashRecording) -> None:
    mpd = parse_mpd(rec.live_mpd, BASE)
    period = mpd.periods[0]
    rep = period.adaptation_sets[0].representations[0]
    ast = mpd.availability_start
    assert ast is not None
    # at AST + 5 s the segments ending at 2 and 4 s are out, the one ending at 6 s is not
    seg = newest_segment(period, rep, 5.0)
    assert seg is not None and seg.end == pytest.approx(4.0, abs=0.05)
    assert newest_segment(period, rep, 1.9) is None
    # dash.js 4: SPD when > 0, else 4 segment durations
    delay = live_delay(mpd, rep)
    assert delay == (mpd.suggested_presentation_delay or 4 * 2.0)
    start = start_position(mpd, rep, ast + 3.9)  # only the segment ending at 2 s is out
    assert find_segment(period, rep, start).end == pytest.approx(2.0, abs=0.05)  # type: ignore[union-attr]


def test_parses_are_shared_per_url_and_bytes(rec: DashRecording) -> None:
    one = parse_mpd_memo(rec.live_mpd, BASE)
    assert parse_mpd_memo(bytes(rec.live_mpd), BASE) is one
    assert parse_mpd_memo(rec.live_mpd, BASE + "?x") is not one


def timeline_mpd(s: str, extra: str = "", template: str = "") -> bytes:
    template = template or ('<SegmentTemplate timescale="1000" media="c-$Time$.m4s">'
                            f"<SegmentTimeline>{s}</SegmentTimeline></SegmentTemplate>")
    return (f'<?xml version="1.0"?>{extra}<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
            'type="dynamic" availabilityStartTime="2026-01-01T00:00:00Z" '
            'minimumUpdatePeriod="PT2S"><Period start="PT0S"><AdaptationSet contentType="video">'
            f'<Representation id="v" bandwidth="1000">{template}</Representation>'
            "</AdaptationSet></Period></MPD>").encode()


BOMB = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
ENTITY = '<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
HOSTILE = {
    "huge-r": (timeline_mpd('<S t="0" d="2000" r="1000000000000"/>'), "out of range -1..1000000"),
    "zero-d": (timeline_mpd('<S t="0" d="0"/>'), r"S@d: 0 is out of range"),
    "zero-duration": (timeline_mpd("", template='<SegmentTemplate timescale="1000" '
                                   'duration="0" media="c-$Number$.m4s"/>'), "@duration: 0"),
    "tiny-segments": (timeline_mpd('<S t="0" d="1" r="10"/>'), "outside 0.1..3600 s"),
    "nan": (timeline_mpd('<S t="0" d="2000"/>').replace(b'minimumUpdatePeriod="PT2S"',
            b'minimumUpdatePeriod="PTNaNS"'), "not an xs:duration"),
    "nan-offset": (timeline_mpd("", template='<SegmentTemplate duration="2" '
                   'availabilityTimeOffset="NaN" media="c-$Number$.m4s"/>'), "not a finite"),
    "xml-bomb": (timeline_mpd('<S t="0" d="2000"/>', BOMB).replace(b'id="v"', b'id="&lol3;"'),
                 "refused XML"),
    "external-entity": (timeline_mpd('<S t="0" d="2000"/>', ENTITY).replace(b'id="v"',
                        b'id="&ext;"'), "refused XML"),
    "never-advancing": (timeline_mpd("", template='<SegmentTemplate duration="2" '
                        'media="live.m4s"/>'), r"neither \$Number\$ nor \$Time\$"),
    "going-back": (timeline_mpd('<S t="4000" d="2000"/><S t="0" d="2000"/>'), "goes back"),
    "unknown-identifier": (timeline_mpd("", template='<SegmentTemplate duration="2" '
                           'media="c-$Nmber$.m4s"/>'), "unknown identifier"),
    "garbage": (b"\x00\x01\xffGIF89a" * 100, "not XML"),
    "html": (b"<html><body>404</body></html>", r"not an MPD \(root element <html>\)"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_mpd_is_an_mpd_error_saying_why(name: str) -> None:
    body, why = HOSTILE[name]
    began = time.perf_counter()
    with pytest.raises(MpdError, match=why):
        parse_mpd(body, BASE)
    assert time.perf_counter() - began < 0.1


def test_timelines_with_repeats_and_open_ends_are_arithmetic() -> None:
    body = timeline_mpd('<S t="1000" d="2000" r="999999"/><S t="2000001000" d="1000" r="-1"/>')
    mpd = parse_mpd(body, BASE)
    period = mpd.periods[0]
    rep = period.adaptation_sets[0].representations[0]
    seg = find_segment(period, rep, 1_000_000.0)  # in the middle of the million
    assert seg is not None and seg.url.endswith("c-999999000.m4s") and seg.number == 500_000
    assert seg.start < 1_000_000.0 < seg.end
    later = find_segment(period, rep, 3_000_000.0)  # in the open-ended r=-1
    assert later is not None and later.duration == 1.0 and later.number == 1 + 10**6 + 999_999
    assert newest_segment(period, rep, 2_000_002.5).end == pytest.approx(2_000_002.0)  # type: ignore[union-attr]
    assert not math.isnan(start_position(mpd, rep, mpd.availability_start + 5e6))  # type: ignore[operator]
