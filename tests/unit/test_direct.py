"""Any stream by URL: protocols from URLs, the direct adapter, the options, and the
figures a run without a publisher can and cannot give."""

from __future__ import annotations

import pytest

from streamperf.load.fans import plan_fans
from streamperf.platforms.direct import DirectPlatform
from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.report.terminal import metrics_table
from streamperf.settings import SettingsError, build_settings
from streamperf.viewers import protocol_of_url
from tests.support.timelines import Timeline


@pytest.mark.parametrize(("url", "protocol"), [
    ("rtmp://10.0.0.1:1935/live/key", "rtmp"),
    ("rtmp://edge.example.com/app/stream?token=x", "rtmp"),
    ("https://cdn.example.com/live/index.M3U8?sig=1", "hls"),
    ("http://127.0.0.1:8080/hls/key.m3u8", "hls"),
    ("http://127.0.0.1:8000/live/key.flv", "flv"),
    ("http://127.0.0.1:8000/dash/live.MPD?t=1", "dash"),
])
def test_the_protocol_comes_from_the_url(url, protocol):
    assert protocol_of_url(url) == protocol


@pytest.mark.parametrize(("url", "why"), [
    ("https://cdn.example.com/live/index.html", r"must end in .m3u8 \(HLS\), .mpd \(DASH\)"),
    ("ftp://host/x.m3u8", "use rtmp://"),
    ("rtmp:///live/key", "names no host"),
    ("rtmp://host:99999/live/key", "not a URL"),
])
def test_an_unplayable_url_is_refused_saying_why(url, why):
    with pytest.raises(ValueError, match=why):
        protocol_of_url(url)


def test_viewers_spread_round_robin_over_the_play_urls_with_no_api_calls():
    urls = ("rtmp://a/live/k", "http://b/hls/k.m3u8", "rtmp://c/live/k")
    direct = DirectPlatform(urls)
    calls: list[object] = []
    live = direct.go_live(calls.append)
    assert live.ingest_url is None and live.stream_id == "k"
    plays = [direct.fan_journey(f, live, calls.append) for f in plan_fans(7, 0, 0)]
    assert [p.playback_url for p in plays] == [urls[i % 3] for i in range(7)]
    assert [p.protocol for p in plays][:3] == ["rtmp", "hls", "rtmp"]
    assert calls == []
    assert DirectPlatform(urls[:1], "rtmp://a/live/k").go_live(calls.append).ingest_url


@pytest.mark.parametrize(("values", "message"), [
    ({"play_urls": ["http://x/y.mp4"]}, "--play-url http://x/y.mp4: an http(s) URL must end"),
    ({"ingest_url": "rtmp://x/live/k"}, "--ingest-url needs --play-url"),
    ({"ingest_url": "http://x/live/k", "play_urls": ["rtmp://x/live/k"]},
     "--ingest-url http://x/live/k: use an rtmp:// (or rtmps://) URL"),
    ({"play_urls": ["rtmp://x/live/k"], "protocol": "hls"}, "--protocol does not go with"),
    ({"play_urls": ["rtmp://x/live/k"], "api_url": "http://api"}, "--apiurl does not go with"),
    ({"play_urls": ["rtmp://x/live/k"], "source_kbps": "nan"}, "--source-kbps nan: must be"),
    ({"source_kbps": "1000"}, "--source-kbps is for streams streamperf does not publish"),
    ({"platform": "no_such_module_here:Thing"}, "--platform no_such_module_here:Thing: cannot"),
    ({"platform": "streamperf.platforms.direct:protocol_of_url"}, "is not a class"),
    ({"platform": "collections:OrderedDict"}, "is not a platform adapter: it lacks go_live"),
    ({"platform": "nosuchname"}, "no streamperf.platforms entry point of that name"),
])
def test_bad_direct_and_adapter_options_are_one_line_errors(values, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_settings(values, environ={})


def test_play_urls_repeat_and_the_bundled_platform_is_not_used():
    s = build_settings({"play_urls": ["rtmp://a/live/k", "rtmp://b/live/k"],
                        "source_kbps": "1100"}, environ={})
    assert s.play_urls == ("rtmp://a/live/k", "rtmp://b/live/k")
    assert s.source_kbps == 1100.0 and not s.uses_bundled_platform
    adapter = build_settings({"platform": "streamperf.platforms.direct:DirectPlatform"}, environ={})
    assert adapter.platform and not adapter.uses_bundled_platform


def no_publisher(measure: bool = True) -> Timeline:
    """Two viewers of a stream nobody told us about: no publish_start, source measured."""
    tl = Timeline()
    tl.rows = [Event(0.0, "h", "", ev.SOURCE, "bitrate_kbps", 0.0, "measured")] if measure \
        else []
    tl.viewer("fan0", play_at=1, seconds=10)
    tl.viewer("fan1", play_at=1, seconds=10, rate=0.8)
    return tl


def test_without_a_publish_clock_latency_is_not_measurable_never_zero():
    a = analyse(no_publisher().frame())
    s = a.summary()
    assert s["latency_basis"] == "not measurable"
    assert s["latency_p50_s"] is None and s["latency_p95_s"] is None
    assert a.viewers["latency_s"].isna().all()
    table = metrics_table("run", s, 3.0, _verdict())
    assert "not measurable" in table and "0.000 s /" not in table


def test_latency_from_program_date_time_when_the_stream_carries_it():
    tl = no_publisher()
    # fan0's media was captured 4.5 s before each sample arrived
    for row in [r for r in tl.rows if r.viewer == "fan0" and r.event == ev.SAMPLE_MEDIA_TS]:
        tl.add(row.t, "fan0", ev.SAMPLE_CAPTURE_T, "", row.t - 4.5)
    a = analyse(tl.frame())
    s = a.summary()
    assert s["latency_basis"] == "program date time"
    assert s["latency_p50_s"] == pytest.approx(4.5)
    assert a.viewers.set_index("viewer")["latency_s"].isna().tolist() == [False, True]


def test_an_unknown_source_bitrate_is_measured_from_the_viewers_and_labelled():
    s = analyse(no_publisher().frame()).summary()
    # the median of 1000 and 800 kbps
    assert s["source_kbps"] == pytest.approx(900, rel=0.02)
    assert s["source_kbps_basis"] == "measured"
    assert s["min_bitrate_ratio"] == pytest.approx(800 / 900, rel=0.02)
    assert "(measured)" in metrics_table("run", s, 3.0, _verdict())
    # a log that does not ask for it (an old run, a seed log) keeps it unknown
    assert analyse(no_publisher(measure=False).frame()).summary()["source_kbps"] is None


def _verdict():
    from streamperf.results.judging.judge import Verdict

    return Verdict("PASS")


@pytest.mark.parametrize("given", ["/tmp/streamperf-would-write-here.flv", "file:///etc/x",
                                   "-y out.flv", "http://h/live/k"])
def test_a_platforms_ingest_url_that_is_not_rtmp_is_refused_before_ffmpeg(tmp_path, given):
    """Whatever an adapter answers, ffmpeg is never told to write a local file."""
    from streamperf.load.broadcast import Broadcast

    platform = DirectPlatform(("rtmp://127.0.0.1:1/live/k",), ingest_url=given)
    with pytest.raises(ValueError, match="the platform's ingest URL") as e:
        Broadcast(platform, tmp_path / "clip.flv", tmp_path).start()
    assert "rtmp://" in str(e.value) and "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())  # nothing probed, nothing started, nothing written
