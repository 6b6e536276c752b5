"""A ladder as the viewers read it (master playlists with audio groups), the CMCD keys
they send, and the rendition figures the analysis takes from their rows."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from streamperf.results.analysis import renditions
from streamperf.results.eventlog import schema as ev
from streamperf.viewers import cmcd
from streamperf.viewers.abr import make_abr
from streamperf.viewers.hls.ladder import open_ladder, renditions_of
from streamperf.viewers.hls.playlist import PlaylistError, parse_master_playlist

BASE = "http://127.0.0.1:8080/live/master.m3u8"
# As ffmpeg 5.1's hls muxer writes a var_stream_map ladder with a separate audio group.
MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio_0",DEFAULT=YES,URI="a/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=2640000,AVERAGE-BANDWIDTH=2400000,RESOLUTION=1280x720,\
CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000,AUDIO="aud"
v0/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1210000,AVERAGE-BANDWIDTH=1100000,RESOLUTION=854x480,AUDIO="aud"
v1/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=385000,RESOLUTION=426x240,AUDIO="aud"
v2/index.m3u8
"""


def test_master_with_an_audio_group_gives_renditions_and_the_audio_track() -> None:
    master = parse_master_playlist(MASTER, BASE)
    rs = renditions_of(master)
    assert [(r.name, r.bandwidth, r.average_bandwidth, r.fps) for r in rs] == [
        ("720p", 2_640_000, 2_400_000, 30.0), ("480p", 1_210_000, 1_100_000, None),
        ("240p", 385_000, None, None)]
    policy, start, audio = open_ladder(master, "hlsjs")
    assert policy.mode == "hlsjs"
    assert start.name == "720p" and start.key == "http://127.0.0.1:8080/live/v0/index.m3u8"
    assert audio == "http://127.0.0.1:8080/live/a/index.m3u8"
    muxed = parse_master_playlist(MASTER.replace(',URI="a/index.m3u8"', ""), BASE)
    assert open_ladder(muxed, "lowest")[2] is None  # audio in the variants' own segments


@pytest.mark.parametrize("bad", ["0", "nan", "-5", "1e400", "99999999999999999999999"])
def test_a_bandwidth_a_player_cannot_divide_by_is_a_playlist_error(bad: str) -> None:
    text = f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH={bad}\nv.m3u8\n"
    with pytest.raises(PlaylistError, match="BANDWIDTH"):
        parse_master_playlist(text, BASE)


def test_two_rungs_of_one_height_get_distinct_names() -> None:
    text = ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360\na.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360\nb.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=200000\nc.m3u8\n")
    names = [r.name for r in renditions_of(parse_master_playlist(text, BASE))]
    assert names == ["360p", "360p-2", "200k"]
    assert make_abr("360p-2", renditions_of(parse_master_playlist(text, BASE))).start().key \
        .endswith("/b.m3u8")


def test_cmcd_payload_query_and_headers() -> None:
    keys = {"sid": "fan-1", "cid": "/live/x.m3u8", "ot": "v", "sf": "h", "st": "l",
            "su": True, "br": 1100, "bl": 4000, "mtp": 1800, "d": 2000, "tb": None}
    assert cmcd.payload(keys) == ('bl=4000,br=1100,cid="/live/x.m3u8",d=2000,mtp=1800,ot=v,'
                                  'sf=h,sid="fan-1",st=l,su')
    url = cmcd.with_query("http://h/seg.ts?x=1", keys)
    assert url.startswith("http://h/seg.ts?x=1&CMCD=")
    assert parse_qs(urlsplit(url).query)["CMCD"] == [cmcd.payload(keys)]
    assert cmcd.headers(keys).decode().split("\r\n") == [
        "CMCD-Object: br=1100,d=2000,ot=v", "CMCD-Request: bl=4000,mtp=1800,su",
        'CMCD-Session: cid="/live/x.m3u8",sf=h,sid="fan-1",st=l', ""]
    assert 'sid="a\\"b"' in cmcd.payload({"sid": 'a"b'})  # quotes escaped
    assert cmcd.rounded_ms(4.04) == 4000 and cmcd.rounded_ms(4.06) == 4100


def _rows(*rows: tuple[float, str, str, float, dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([{"t": t, "host": "h", "viewer": v, "event": ev.RENDITION, "name": name,
                          "value": kbps, "status": "", "detail": json.dumps(d)}
                         for t, v, name, kbps, d in rows])


def test_rendition_spans_switches_and_time_weighted_played_bitrate() -> None:
    rows = _rows((100.0, "a", "720p", 2640, {"why": "start", "avg_kbps": 2400}),
                 (105.0, "a", "480p", 1210, {"why": "down", "avg_kbps": 1100}),
                 (100.0, "b", "240p", 385, {"why": "start"}),
                 (102.0, "b", "480p", 1210, {"why": "up", "avg_kbps": 1100}),
                 (104.0, "b", "240p", 385, {"why": "emergency"}))
    end = pd.Series({"a": 120.0, "b": 110.0})
    spans = renditions.rendition_spans(rows, end, {"240p": 340.0})
    assert spans[spans["viewer"] == "a"]["seconds"].tolist() == [5.0, 15.0]
    per = renditions.per_viewer(spans, pd.Index(["a", "b", "rtmp-fan"]))
    assert per.loc["a", "played_kbps"] == pytest.approx((5 * 2400 + 15 * 1100) / 20)
    # the source's own figure for 240p wins over the declared BANDWIDTH
    assert per.loc["b", "played_kbps"] == pytest.approx((2 * 340 + 2 * 1100 + 6 * 340) / 10)
    assert (per.loc["b", "switches_up"], per.loc["b", "switches_down"]) == (1, 1)
    assert per.loc["a", "rendition"] == "480p" and per.loc["a", "start_rendition"] == "720p"
    assert per.loc["rtmp-fan", "rendition"] == "" and pd.isna(per.loc["rtmp-fan", "played_kbps"])
    shares = renditions.shares(spans)
    assert list(shares) == ["720p", "480p", "240p"]
    assert shares["480p"] == pytest.approx(17 / 30, abs=1e-4)
    counts = renditions.over_time(spans, 100.0, 20)
    assert counts.loc[1].to_dict() == {"720p": 1, "480p": 0, "240p": 1}
    assert counts.loc[3].to_dict() == {"720p": 1, "480p": 1, "240p": 0}
    assert counts.loc[12].to_dict() == {"720p": 0, "480p": 1, "240p": 0}


def test_garbage_in_rendition_rows_leaves_figures_empty_not_broken() -> None:
    rows = _rows((1.0, "a", "x", float("nan"), {}))
    rows.loc[0, "detail"] = "{not json"
    spans = renditions.rendition_spans(rows, pd.Series({"a": 5.0}), {})
    per = renditions.per_viewer(spans, pd.Index(["a"]))
    assert pd.isna(per.loc["a", "played_kbps"]) and per.loc["a", "rendition"] == "x"


def test_a_ladder_viewers_ratio_is_held_to_what_it_received_by_media_seconds() -> None:
    rows = _rows((100.0, "a", "720p", 2640, {"why": "start"}),
                 (110.0, "a", "480p", 1210, {"why": "down"}))
    rate = [{"t": 120.0, "host": "h", "viewer": "a", "event": ev.RENDITION_RATE, "name": n,
             "value": 0.0, "status": "", "detail": json.dumps({"bytes": b, "media_s": s})}
            for n, b, s in (("720p", 3_000_000, 10.0), ("480p", 1_375_000, 10.0))]
    fans = pd.concat([rows, pd.DataFrame(rate)], ignore_index=True)
    out = pd.DataFrame({"mean_kbps": [1800.0], "bitrate_ratio": [float("nan")]},
                       index=pd.Index(["a"]))
    joined, _spans = renditions.joined(out, fans, pd.Series({"a": 120.0}), fans[:0])
    # received: 720p 2400 kbps, 480p 1100 kbps; 10 media seconds each -> 1750 kbps
    assert joined.loc["a", "bitrate_ratio"] == pytest.approx(1800 / 1750)
    assert joined.loc["a", "played_kbps"] == pytest.approx(1750)  # 10 s held of each


def test_latency_basis_names_the_clock_each_protocol_carries() -> None:
    from streamperf.results.analysis.figures import latency_basis

    def row(viewer: str, event: str, name: str = "", value: float = 0.0) -> dict[str, object]:
        return {"t": 1.0, "host": "h", "viewer": viewer, "event": event, "name": name,
                "value": value, "status": "", "detail": ""}

    rows = [row("d", ev.PLAY, "dash"), row("d", ev.SAMPLE_CAPTURE_T, value=1.0)]
    assert latency_basis(pd.DataFrame(rows)) == "availability start time"
    rows += [row("h", ev.PLAY, "hls"), row("h", ev.SAMPLE_CAPTURE_T, value=1.0)]
    assert latency_basis(pd.DataFrame(rows)) == "program date time and availability start time"


def test_the_default_abr_is_each_protocols_player() -> None:
    from streamperf.viewers import ViewerFactory

    make = ViewerFactory()  # what a run gets without --abr
    assert make("hls", "http://127.0.0.1/m.m3u8", lambda *a: None, "fan1").abr == "hlsjs"
    assert make("dash", "http://127.0.0.1/l.mpd", lambda *a: None).abr == "dashjs"
    assert ViewerFactory(abr="lowest")("hls", "http://127.0.0.1/m.m3u8",
                                       lambda *a: None).abr == "lowest"
