"""Servers that answer badly, on 127.0.0.1: one misbehaving fan never ends the others.

Real sockets, real aiohttp.web apps and a small asyncio RTMP server, no
mocks: a hostile platform API (non-integer ids, an `rtmpUrl` of `123` or
with port 99999, no HLS URL), hostile HLS origins (`nan`/`inf`
durations and sequence numbers, a tiny target duration, a chunked 40 MiB
playlist) and a hostile RTMP server (createStream answering a NaN,
negative or huge stream id). Fans that get good answers play a real
recording of nginx-rtmp (tests/data/nginx_play_c4096.bin).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streamperf.load.fans import fan_spec
from streamperf.load.shard import ArrivalPlan, Shard
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import JourneyResult
from streamperf.platforms.seed.client import Influencer, PlatformClient
from streamperf.platforms.seed.journey import run_journey
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.viewers import ViewerFactory
from streamperf.viewers.hls.bodies import MAX_PLAYLIST
from streamperf.viewers.hls.viewer import HlsViewer
from streamperf.viewers.http.connection import READ_SIZE
from streamperf.viewers.rtmp import amf
from streamperf.viewers.rtmp.chunks import COMMAND_AMF0
from streamperf.viewers.rtmp.encode import encode_message
from streamperf.viewers.rtmp.viewer import RtmpViewer
from tests.support.loopback_servers import LoopbackServer, serving
from tests.support.replay import RtmpReplay
from tests.support.viewer_events import Events

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDING = (DATA / "nginx_play_c4096.bin").read_bytes()  # nginx's side of a whole session
TS_HEAD = (DATA / "nginx_first_segment_head.ts").read_bytes()  # video + audio PES
HANDSHAKE = 1 + 1536  # C0 + C1

def watch_loop_errors() -> list[dict[str, Any]]:
    """What reaches the running loop's exception handler (a callback that raised)."""
    seen: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: seen.append(ctx))
    return seen


# --- a hostile HLS origin ------------------------------------------------------------------


def media_playlist(target: str, sequence: str = "0", extinf: str = "1.000", n: int = 3) -> str:
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{sequence}"]
    for i in range(n):
        lines += [f"#EXTINF:{extinf},", f"seg{i}.ts"]
    return "\n".join(lines) + "\n"


@dataclass
class HostileOrigin:
    """Playlists by name (`/<name>.m3u8`); `huge` streams 40 MiB chunked, no Content-Length.

    `playlists[name]` is a list: the n-th load of that playlist gets item n
    (the last one from then on), so a playlist can turn bad mid-play.
    """

    playlists: dict[str, list[str]] = field(default_factory=dict)
    loads: dict[str, list[float]] = field(default_factory=dict)  # name -> monotonic times
    huge_sent: list[int] = field(default_factory=list)  # bytes written per `huge` request
    base: str = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}.m3u8"

    async def _playlist(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        times = self.loads.setdefault(name, [])
        times.append(time.monotonic())
        if name == "huge":
            return await self._huge(request)
        texts = self.playlists[name]
        return web.Response(text=texts[min(len(times) - 1, len(texts) - 1)])

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()  # no Content-Length: only counting can stop it
        await resp.prepare(request)
        self.huge_sent.append(0)
        line = b"#" + b"x" * 1023 + b"\n"
        chunk = b"#EXTM3U\n" + line * 64
        try:
            while self.huge_sent[-1] < 40 << 20:
                await resp.write(chunk)
                self.huge_sent[-1] += len(chunk)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the viewer hung up
        return resp

    async def _segment(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=TS_HEAD, content_type="video/mp2t")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[HostileOrigin]:
        app = web.Application()
        app.router.add_get("/{name}.m3u8", self._playlist)
        app.router.add_get("/{name}.ts", self._segment)
        async with serving(app) as self.base:
            yield self


def hls_run(origin: HostileOrigin, name: str, seconds: float, connect_timeout: float = 10.0
            ) -> tuple[HlsViewer, Events, list[dict[str, Any]]]:
    events = Events()

    async def main() -> tuple[HlsViewer, list[dict[str, Any]]]:
        loop_errors = watch_loop_errors()
        async with origin.running():
            v = HlsViewer(origin.url(name), events, connect_timeout=connect_timeout)
            await v.run(seconds)
        return v, loop_errors

    v, loop_errors = asyncio.run(main())
    return v, events, loop_errors


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def too_soon(times: list[float], pace: float, tol: float = 0.02) -> list[float]:
    """Reloads that came faster than `pace`, as the origin saw them. Reloads keep to a
    schedule, so one that a busy machine made late is followed by a shorter gap: that
    catch-up is not a faster pace, so each gap may borrow the previous one's lateness."""
    g = gaps(times)
    return [b for a, b in itertools.pairwise([pace, *g]) if b + max(0.0, a - pace) < pace - tol]


@pytest.mark.parametrize("target", ["nan", "inf", "-1", "0"])
def test_a_non_finite_target_duration_is_a_protocol_error_not_a_reload_storm(target: str) -> None:
    # Before: TARGETDURATION:nan passed the parser and made one viewer fetch the
    # playlist 5,780 times in one second (a NaN wait is no wait).
    origin = HostileOrigin(playlists={"p": [media_playlist(target, n=0)]})
    v, events, loop_errors = hls_run(origin, "p", 2.0)
    loads = origin.loads["p"]
    assert len(loads) <= 3, len(loads)  # setup retries once a second
    assert min(gaps(loads)) >= 0.9, gaps(loads)
    [(name, detail)] = events.errors()
    assert name == "protocol" and "TARGETDURATION" in detail and target in detail, detail
    assert "play time over before the viewer could start" in detail
    assert v.playlist_loads == 0 and not loop_errors


def test_a_playlist_turning_nan_mid_play_is_reloaded_at_the_last_good_pace() -> None:
    good = media_playlist("1")
    origin = HostileOrigin(playlists={"p": [good, good, media_playlist("nan")]})
    v, events, loop_errors = hls_run(origin, "p", 6.0)
    loads = origin.loads["p"]
    assert v.segments_fetched == 3 and v.playlist_loads == 2
    # half a (last good) target duration between loads, then a disconnect after 3 of them
    assert not too_soon(loads, 0.5), gaps(loads)
    assert len(loads) <= 2 + 3 / 0.5 + 1, len(loads)
    [(name, detail)] = events.errors()
    assert name == "disconnect" and "TARGETDURATION" in detail and "nan" in detail, detail
    assert not loop_errors


def test_a_tiny_target_duration_never_reloads_faster_than_the_hls_rules_allow() -> None:
    # 1 ms is finite and positive, but RFC 8216 target durations are whole seconds:
    # reloads stay at least half a second apart (a second after a change).
    origin = HostileOrigin(playlists={"p": [media_playlist("0.001", extinf="0.001")]})
    v, events, loop_errors = hls_run(origin, "p", 3.0)
    loads = origin.loads["p"]
    assert v.segments_fetched == 3 and v.first_video_wall is not None
    assert not too_soon(loads, 0.5), gaps(loads)
    assert 3 <= len(loads) <= 6, len(loads)
    assert events.errors() == [] and not loop_errors


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (media_playlist("1", sequence="inf"), "MEDIA-SEQUENCE"),
        (media_playlist("1", sequence="-3"), "MEDIA-SEQUENCE"),
        (media_playlist("1", extinf="nan"), "EXTINF"),
        (media_playlist("1") + "#EXT-X-DISCONTINUITY-SEQUENCE:1e999\n", "DISCONTINUITY-SEQUENCE"),
    ],
    ids=["sequence-inf", "sequence-negative", "extinf-nan", "discontinuity-sequence-inf"],
)
def test_non_finite_or_negative_playlist_numbers_are_protocol_errors(text: str, why: str) -> None:
    origin = HostileOrigin(playlists={"p": [text]})
    v, events, loop_errors = hls_run(origin, "p", 5.0, connect_timeout=1.0)
    [(name, detail)] = events.errors()  # at connect_timeout, the viewer's setup deadline
    assert name == "protocol" and why in detail and "play time over" not in detail, detail
    assert v.segments_fetched == 0 and len(origin.loads["p"]) <= 2 and not loop_errors


def test_the_playlist_size_cap_holds_without_a_content_length() -> None:
    origin = HostileOrigin()
    v, events, loop_errors = hls_run(origin, "huge", 2.5, connect_timeout=1.5)
    assert 1 <= len(origin.huge_sent) <= 3  # setup retries once a second
    # each answer dropped soon past the cap (loopback socket buffers take a few MiB more)
    assert max(origin.huge_sent) < 16 << 20, origin.huge_sent
    # ... after at most one more read (the loop's buffer; more arrives per read when busy)
    assert v.bytes_received <= len(origin.huge_sent) * (MAX_PLAYLIST + READ_SIZE)
    [(name, detail)] = events.errors()
    assert name == "protocol" and f"more than {MAX_PLAYLIST} bytes" in detail, detail
    assert not loop_errors


# --- a hostile RTMP server -----------------------------------------------------------------


class HostileRtmp(LoopbackServer):
    """Handshakes and accepts connect like nginx-rtmp, then answers createStream `stream_id`."""

    def __init__(self, stream_id: Any) -> None:
        super().__init__()
        self.stream_id = stream_id

    def url(self, name: str = "x") -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        c0c1 = await reader.readexactly(HANDSHAKE)
        s1 = bytes(8) + os.urandom(1528)
        writer.write(b"\x03" + s1 + c0c1[1:])  # S0, S1, S2 (= C1)
        await reader.readexactly(1536)  # C2
        await reader.read(4096)  # set chunk size + connect
        connected = amf.encode("_result", 1.0, {"fmsVer": "FMS/3,0,1,123"},
                               {"level": "status", "code": "NetConnection.Connect.Success"})
        writer.write(encode_message(3, COMMAND_AMF0, 0, connected, 128))
        await reader.read(4096)  # createStream
        answer = amf.encode("_result", 2.0, None, self.stream_id)
        writer.write(encode_message(3, COMMAND_AMF0, 0, answer, 128))
        await writer.drain()
        while await reader.read(4096):  # until the viewer hangs up
            pass


@pytest.mark.parametrize("stream_id", [math.nan, math.inf, -1.0, 2.0**40, 1.5, "one"],
                         ids=["nan", "inf", "negative", "huge", "fraction", "string"])
def test_a_bad_create_stream_id_is_a_protocol_error_for_that_viewer(
    run_loop: Callable[..., Any], stream_id: Any
) -> None:
    events = Events()

    async def main() -> tuple[float, list[dict[str, Any]]]:
        loop_errors = watch_loop_errors()
        async with HostileRtmp(stream_id) as srv:
            t0 = time.monotonic()
            await RtmpViewer(srv.url(), events, connect_timeout=5.0).run(5.0)
            return time.monotonic() - t0, loop_errors

    took, loop_errors = run_loop(main())
    # no exception out of buffer_updated: asyncio would log it and call it a disconnect
    assert not loop_errors, loop_errors
    [(name, detail)] = events.errors()
    assert name == "protocol" and "createStream answered" in detail, detail
    assert took < 1.0  # at once, not at the setup timeout


def test_a_good_create_stream_id_plays_on() -> None:
    # the same server with a sound id: the viewer asks to play (then times out waiting)
    events = Events()

    async def main() -> RtmpViewer:
        async with HostileRtmp(1.0) as srv:
            v = RtmpViewer(srv.url(), events, connect_timeout=0.5)
            await v.run(2.0)
            return v

    v = asyncio.run(main())
    assert v.stream_id == 1
    [(name, detail)] = events.errors()
    assert name == "timeout" and "NetStream.Play.Start" in detail, detail


# --- a hostile platform: a Shard with the real journey -------------------------------------


@dataclass
class HostilePlatform:
    """The platform API on 127.0.0.1: each fan's answers chosen by its user name.

    Any endpoint it does not know answers 200 `{}`, so the journey's optional
    steps pass whatever their order. `join[username]` is that fan's join answer.
    """

    join: dict[str, dict[str, Any]]
    bad_id: set[str]
    base: str = ""
    _ids: dict[int, str] = field(default_factory=dict)

    async def _any(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body = await request.json() if request.can_read_body else {}
        if request.method == "POST" and path in ("/api/v1/fans", "/api/v1/fans/sign_in"):
            username = body["fan"]["email"].split("@")[0]
            if username in self.bad_id:
                return web.json_response({"id": "abc", "token": "t", "username": username})
            fan_id = len(self._ids) + 1
            self._ids[fan_id] = username
            return web.json_response({"id": fan_id, "token": f"t{fan_id}", "username": username})
        if request.method == "POST" and path.startswith("/streams/") and path.endswith("/watchers"):
            answer = {"originIp": "127.0.0.1", "influencerUsername": "star"}
            return web.json_response({**answer, **self.join[self._ids[body["id"]]]})
        return web.json_response({})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[HostilePlatform]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        async with serving(app) as self.base:
            yield self


def rows_of(rows: list[Event], viewer: str, kind: str) -> list[Event]:
    return [r for r in rows if r.viewer == viewer and r.event == kind]


def test_hostile_answers_end_only_their_own_fans_the_rest_play_on() -> None:
    # Before: each of these ended every viewer of the process (gather without isolation;
    # under execnet all of them were logged lost_host).
    good = [f"good{i}" for i in range(4)]
    hostile = {
        "badid": "rtmp",  # sign-up answers id "abc"
        "numurl": "rtmp",  # rtmpUrl 123
        "badport": "rtmp",  # rtmpUrl with port 99999
        "nohls": "hls",  # --protocol hls, the platform gives no HLS URL
        "infseq": "hls",  # #EXT-X-MEDIA-SEQUENCE:inf
        "nansid": "rtmp",  # createStream answers stream id NaN
    }
    # hostile fans spread between good ones, so good fans arrive after each of them
    names = [n for pair in itertools.zip_longest(good, hostile) for n in pair if n]
    rows: list[Event] = []
    origin = HostileOrigin(playlists={"inf": [media_playlist("1", sequence="inf")]})

    async def main() -> list[dict[str, Any]]:
        loop_errors = watch_loop_errors()
        async with (RtmpReplay(lambda i: [RECORDING]) as replay, HostileRtmp(math.nan) as rtmp,
                    origin.running()):
            join = {name: {"rtmpUrl": replay.url(name)} for name in good}
            join |= {"badid": {}, "numurl": {"rtmpUrl": 123},
                     "badport": {"rtmpUrl": "rtmp://127.0.0.1:99999/live/x"},
                     "nohls": {"rtmpUrl": replay.url("nohls")},
                     "infseq": {"hlsUrl": origin.url("inf")}, "nansid": {"rtmpUrl": rtmp.url()}}
            async with HostilePlatform(join, bad_id={"badid"}).running() as platform:
                await play_shard(platform.base, names, hostile, rows)
        return loop_errors

    loop_errors = asyncio.run(main())
    assert not loop_errors, loop_errors
    for name in good:  # played the recording to the end of their time
        assert rows_of(rows, name, ev.FIRST_VIDEO) and rows_of(rows, name, ev.PLAY_END), name
        assert not rows_of(rows, name, ev.VIEWER_ERROR), rows_of(rows, name, ev.VIEWER_ERROR)
        assert sum(r.value for r in rows_of(rows, name, ev.SAMPLE_BYTES)) == len(RECORDING)
    aborts = {r.viewer: r for r in rows if r.event == ev.FAN_ABORT}
    assert set(aborts) == {"badid", "numurl", "badport", "nohls"}
    assert aborts["badid"].name == "sign_up" and "'abc'" in aborts["badid"].detail
    assert aborts["numurl"].name == "playback_url" and "URL 123 " in aborts["numurl"].detail
    assert aborts["badport"].name == "playback_url" and "99999" in aborts["badport"].detail
    assert "out of range" in aborts["badport"].detail
    assert aborts["nohls"].name == "playback_url" and "no hls URL" in aborts["nohls"].detail
    for name in aborts:
        assert not rows_of(rows, name, ev.PLAY)  # an aborted fan never asks to play
    for name, why in (("infseq", "MEDIA-SEQUENCE"), ("nansid", "stream id nan")):
        [error] = rows_of(rows, name, ev.VIEWER_ERROR)
        assert error.name == "protocol" and why in error.detail, error
        assert rows_of(rows, name, ev.PLAY) and rows_of(rows, name, ev.PLAY_END)
        assert not rows_of(rows, name, ev.FIRST_VIDEO)


async def play_shard(api_url: str, names: list[str], protocols: dict[str, str],
                     rows: list[Event]) -> None:
    """A Shard of `names` with the real journey through a PlatformClient at `api_url`."""
    fans = [replace(fan_spec(i, name, new=True), protocol=protocols.get(name, "rtmp"))
            for i, name in enumerate(names)]
    star = Influencer(id=7, email="star@e.com", username="star", token="it")
    shard: Shard | None = None

    def on_call(call: ApiCall) -> None:
        assert shard is not None
        shard.on_api_call(call)

    with PlatformClient(api_url, timeout=5.0, on_call=on_call) as client:

        def journey(spec: FanSpec) -> JourneyResult:
            return run_journey(client, spec, star)

        plan = ArrivalPlan(fans, ramp_s=0.05, duration_s=3.0, start_at=time.time() + 0.2)
        shard = Shard(plan, journey, ViewerFactory(), rows.extend, "here")
        await shard.run()
