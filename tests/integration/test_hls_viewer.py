"""HlsViewer against a real nginx-rtmp (fed by a real ffmpeg publisher) and a scripted origin.

The scripted origin is a real HTTP server (aiohttp.web on 127.0.0.1) that
writes a live playlist with a 1 s target duration and small MPEG-TS
segments made here (PAT, PMT, audio + video PES with chosen PTS, padding).
It proves deterministically what nginx-rtmp cannot be made to do on cue:
a segment that vanishes (404) or is cut mid-body, a discontinuity with a
timestamp reset, a media-sequence jump, a playlist outage, PROGRAM-DATE-TIME,
ENDLIST, master playlists and a slow segment.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streamperf.media.publisher import Publisher
from streamperf.media.server import MediaServer, free_port
from streamperf.results.eventlog.schema import FIRST_AUDIO, FIRST_VIDEO
from streamperf.viewers.hls.viewer import HlsViewer
from tests.support.loopback_servers import start_app
from tests.support.loops import RunLoop, run
from tests.support.viewer_events import Events
from tests.support.viewer_runs import seconds_to_end_after_stop

pytestmark = [pytest.mark.integration, pytest.mark.realtime]

TD = 2.0  # nginx-rtmp's hls_fragment in streamperf.media.server


def request_log() -> tuple[Callable[[str], None], list[tuple[float, str]]]:
    """An on_request hook that notes (monotonic time, URL) of every request sent."""
    log: list[tuple[float, str]] = []

    def on_request(url: str) -> None:
        log.append((time.monotonic(), url))

    return on_request, log


def check_requests(log: list[tuple[float, str]], td: float) -> None:
    """Each segment fetched once; playlist loads at least td/2 apart."""
    segs = collections.Counter(url for _, url in log if not url.endswith(".m3u8"))
    assert segs and set(segs.values()) == {1}, segs
    loads = [t for t, url in log if url.endswith(".m3u8")]
    gaps = [b - a for a, b in itertools.pairwise(loads)]
    assert min(gaps) >= td / 2 - 0.02, gaps


# --- real nginx-rtmp ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_playlist(published_stream: tuple[MediaServer, Publisher]) -> MediaServer:
    """The live playlist once it lists 3 segments (a join burst's worth): a test run
    first on a fresh stream (alone, or first on its xdist worker) sees what the others do."""
    server, _ = published_stream
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(server.hls_url("test"), timeout=2) as r:
                if r.read().count(b"#EXTINF") >= 3:
                    return server
        except OSError:
            pass
        assert time.monotonic() < deadline, "the live playlist never listed 3 segments"
        time.sleep(0.5)


@pytest.mark.quiet  # a segment's worth of bytes, TD + 0.3 s of media time: tight bounds
def test_plays_the_live_stream(
    published_stream: tuple[MediaServer, Publisher], source_kbps: float, run_loop: RunLoop
) -> None:
    server, pub = published_stream
    events = Events()
    trace, log = request_log()
    samples: list[tuple[float, int, int]] = []  # wall, bytes, media ts
    play_s = 12.0

    async def main() -> HlsViewer:
        # the stream needs 3 target durations of playlist for a normal join
        await asyncio.sleep(max(0.0, (pub.t0 or 0) + 3 * TD + 1 - time.time()))
        v = HlsViewer(server.hls_url("test"), events, on_request=trace)
        task = asyncio.ensure_future(v.run(play_s))
        for _ in range(int(play_s * 4)):
            await asyncio.sleep(0.25)
            samples.append((time.time(), v.bytes_received, v.media_ts_ms))
        await task
        return v

    v = run_loop(main())
    assert not events.errors(), events
    assert len(events.of(FIRST_VIDEO)) == 1 and len(events.of(FIRST_AUDIO)) == 1
    assert v.first_video_wall is not None and v.play_requested_wall is not None
    assert 0 < v.first_video_wall - v.play_requested_wall < 1.0  # playlist + segment head
    # the join segment starts ~3 target durations behind the live edge (publisher clock)
    assert pub.t0 is not None
    behind = v.play_requested_wall - (pub.t0 + events.of(FIRST_VIDEO)[0][2])
    assert 3 * TD - 0.5 < behind < 4 * TD + 1.0, behind
    check_requests(log, TD)
    assert v.segments_fetched == len([u for _, u in log if u.endswith(".ts")])
    assert 3 + play_s / TD - 1.5 <= v.segments_fetched <= 3 + play_s / TD + 1
    assert v.playlist_loads <= play_s / (TD / 2) + 1
    # bytes: the media time received at the source bitrate...
    media_s = (v.media_ts_ms / 1000) - events.of(FIRST_AUDIO)[0][2]
    assert v.bytes_received * 8 / 1000 / media_s == pytest.approx(source_kbps, rel=0.1)
    # ... and over the last 8 s the source rate, give or take one segment
    (w0, b0, m0), (w1, b1, m1) = samples[-33], samples[-1]
    seg_bytes = source_kbps * 1000 / 8 * TD
    assert b1 - b0 == pytest.approx(source_kbps * 1000 / 8 * (w1 - w0), abs=seg_bytes * 1.2)
    # media time keeps up with wall time (segments arrive whole: in TD steps)
    (w0, b0, m0) = samples[-25]  # last 6 s
    assert (m1 - m0) / 1000 == pytest.approx(w1 - w0, abs=TD + 0.3)
    assert all(a[2] <= b[2] for a, b in itertools.pairwise(samples))
    # latency of the newest media received (not of a player's playhead)
    latency = w1 - (pub.t0 + m1 / 1000)
    assert -0.3 < latency < 2 * TD, latency
    assert v.media_wallclock is None  # nginx-rtmp writes no PROGRAM-DATE-TIME
    assert v.discontinuities == 0 and v.sequence_jumps == 0 and v.segments_skipped == 0


def test_thirty_viewers_in_one_loop_all_get_media(
    full_playlist: MediaServer, source_kbps: float
) -> None:
    server = full_playlist
    events = [Events() for _ in range(30)]

    async def main() -> list[HlsViewer]:
        viewers = [HlsViewer(server.hls_url("test"), ev) for ev in events]
        await asyncio.gather(*(v.run(6.0) for v in viewers))
        return viewers

    viewers = run(main(), use_uvloop=True)
    assert all(not ev.errors() for ev in events)
    assert all(len(ev.of(FIRST_VIDEO)) == 1 for ev in events)
    # each got the join burst (3 segments) and at least one more
    fetched = sorted(v.segments_fetched for v in viewers)
    assert fetched[0] >= 4, fetched
    assert min(v.bytes_received for v in viewers) > source_kbps * 1000 / 8 * TD * 3.5
    assert max(v.media_ts_ms for v in viewers) - min(v.media_ts_ms for v in viewers) <= TD * 1000


def test_stream_that_does_not_exist(published_stream: tuple[MediaServer, Publisher]) -> None:
    server, _ = published_stream
    events = Events()
    url = server.hls_url("no-such-stream")
    t0 = time.monotonic()
    run(HlsViewer(url, events, connect_timeout=2.0).run(10.0))
    took = time.monotonic() - t0
    assert 2.0 <= took < 3.5
    [(name, detail)] = events.errors()
    assert name == "protocol" and detail.startswith(url) and "HTTP 404" in detail, detail


def test_closed_port_is_a_connect_error() -> None:
    events = Events()
    url = f"http://127.0.0.1:{free_port()}/hls/test.m3u8"
    t0 = time.monotonic()
    run(HlsViewer(url, events).run(5.0))
    assert time.monotonic() - t0 < 1.0  # no retries against a closed port
    [(name, detail)] = events.errors()
    assert name == "connect" and detail.startswith(url) and "refused" in detail, detail


def test_server_stopping_mid_play_is_a_disconnect(clip: Path, tmp_path: Path) -> None:
    events = Events()
    with MediaServer(tmp_path / "srv") as server:
        pub = Publisher(clip, server.ingest_url("gone"), tmp_path / "pub")
        try:
            pub.start(ready=lambda: server.is_publishing("gone"))
            time.sleep(2 * TD + 1)  # two segments in the playlist

            took = run(seconds_to_end_after_stop(
                lambda: HlsViewer(server.hls_url("gone"), events), 30.0,
                lambda v: v.segments_fetched >= 2 and v.error is None, server.stop))
        finally:
            pub.stop()
    # 3 target durations after the last good playlist load, which was up to TD before the stop
    assert isinstance(took, float) and 2 * TD <= took < 3 * TD + 3
    [(name, detail)] = events.errors()
    assert name == "disconnect" and detail.startswith(server.hls_url("gone"))
    assert "unreachable" in detail and "refused" in detail, detail


# --- a scripted origin -------------------------------------------------------------------


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _packet(pid: int, payload: bytes, pusi: bool, cc: int = 0) -> bytes:
    head = bytes([0x47, (0x40 if pusi else 0) | pid >> 8, pid & 0xFF, 0x10 | cc & 0x0F])
    return head + payload + b"\xff" * (184 - len(payload))


def _section(table: bytes) -> bytes:
    return b"\x00" + table + _crc32_mpeg(table).to_bytes(4, "big")


def _pes(stream_id: int, pts: int) -> bytes:
    pts_bytes = bytes(
        [
            0x21 | (pts >> 29) & 0x0E,
            (pts >> 22) & 0xFF,
            (pts >> 14) & 0xFE | 1,
            (pts >> 7) & 0xFF,
            (pts << 1) & 0xFE | 1,
        ]
    )
    return b"\x00\x00\x01" + bytes([stream_id, 0, 0, 0x80, 0x80, 5]) + pts_bytes


def ts_segment(pts: int, size: int) -> bytes:
    """PAT, PMT (H.264 on 0x100, AAC on 0x101), audio PES at pts, video PES at pts + 23 ms."""
    pat = _section(bytes.fromhex("00b00d0001c10000") + bytes.fromhex("0001f000"))
    streams = bytes.fromhex("1be100f0000fe101f000")  # type 0x1b on 0x100, 0x0f on 0x101
    pmt = _section(bytes.fromhex("02b0170001c10000e100f000") + streams)
    out = [
        _packet(0, pat, True),
        _packet(0x1000, pmt, True),
        _packet(0x101, _pes(0xC0, pts % (1 << 33)), True),
        _packet(0x100, _pes(0xE0, (pts + 2070) % (1 << 33)), True),
    ]
    null = bytes([0x47, 0x1F, 0xFF, 0x10]) + b"\xff" * 184
    out += [null] * max(0, size // 188 - len(out))
    return b"".join(out)


class Origin:
    """A live HLS origin on 127.0.0.1 that adds a segment every `td` seconds.

    Knobs (set by a test while it runs): `pending` (the next segment's
    `disc`, `restart` = publisher timestamps back to 0, `jump` = media
    sequence numbers skip ahead), `missing` (segment names answered 404),
    `cut` (names whose body stops half way), `slow` (names sent in 10
    pieces over 1 s), `playlist_status`, `ended`, `pdt_epoch`.
    """

    def __init__(self, td: float = 1.0, window: int = 5, seg_bytes: int = 20_000) -> None:
        self.td = td
        self.window = window
        self.seg_bytes = seg_bytes
        self.segments: list[dict[str, Any]] = []
        self.next_seq = 0
        self.next_ts = 0.0  # publisher timeline, s
        self.disc_seq = 0
        self.pending: dict[str, Any] = {}
        self.missing: set[str] = set()
        self.cut: set[str] = set()
        self.slow: set[str] = set()
        self.playlist_status = 200
        self.ended = False
        self.pdt_epoch: float | None = None
        self.requests: list[tuple[float, str]] = []
        self.base = ""
        self._runner: web.AppRunner | None = None
        self._producer: asyncio.Task[None] | None = None
        for _ in range(window):
            self.add_segment()

    def add_segment(self, disc: bool = False, restart: bool = False, jump: int = 0) -> None:
        if restart:
            self.next_ts = 0.0
        self.next_seq += jump
        pts = round((self.next_ts + 0.7) * 90_000)
        self.segments.append(
            {
                "seq": self.next_seq,
                "name": f"s{self.next_seq}.ts",
                "dur": self.td,
                "pts": pts,
                "disc": disc,
                "ts": self.next_ts,
            }
        )
        gone = self.segments.pop(0) if len(self.segments) > self.window else None
        if gone is not None and gone["disc"]:
            self.disc_seq += 1
        self.next_seq += 1
        self.next_ts += self.td

    def playlist(self) -> str:
        first = self.segments[0]
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.td:g}",
            f"#EXT-X-MEDIA-SEQUENCE:{first['seq']}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.disc_seq}",
        ]
        for s in self.segments:
            if s["disc"]:
                lines.append("#EXT-X-DISCONTINUITY")
            if self.pdt_epoch is not None:
                pdt = datetime.fromtimestamp(self.pdt_epoch + s["ts"], UTC)
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
            lines += [f"#EXTINF:{s['dur']:.3f},", s["name"]]
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def segment(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.segments if s["name"] == name), None)

    async def _media_playlist(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.path))
        if self.playlist_status != 200:
            return web.Response(status=self.playlist_status, text="gone")
        return web.Response(text=self.playlist(), content_type="application/vnd.apple.mpegurl")

    async def _master(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.path))
        text = (
            "#EXTM3U\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180\nlow/missing.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=1200000,RESOLUTION=640x360\n/live.m3u8\n"
        )
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    async def _segment(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append((time.monotonic(), request.path))
        seg = self.segment(name)
        if seg is None or name in self.missing:
            return web.Response(status=404, text="no such segment")
        body = ts_segment(seg["pts"], self.seg_bytes)
        if name not in self.cut and name not in self.slow:
            return web.Response(body=body, content_type="video/mp2t")
        resp = web.StreamResponse(headers={"Content-Type": "video/mp2t"})
        resp.content_length = len(body)
        await resp.prepare(request)
        if name in self.cut:
            await resp.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-body
            return resp
        step = len(body) // 10 + 1
        for i in range(0, len(body), step):
            await resp.write(body[i : i + step])
            await asyncio.sleep(0.1)
        await resp.write_eof()
        return resp

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/live.m3u8", self._media_playlist)
        app.router.add_get("/master.m3u8", self._master)
        app.router.add_get("/{name}", self._segment)
        self._runner, self.base = await start_app(app)
        self._producer = asyncio.ensure_future(self._produce())
        return self.base

    async def _produce(self) -> None:
        while not self.ended:
            await asyncio.sleep(self.td)
            if not self.ended:
                pending, self.pending = self.pending, {}
                self.add_segment(**pending)

    async def stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    def fetched(self) -> collections.Counter[str]:
        return collections.Counter(p for _, p in self.requests if p.endswith(".ts"))


Scenario = Callable[[Origin, HlsViewer], Awaitable[None]]


def with_origin(
    scenario: Scenario, seconds: float, events: Events, path: str = "/live.m3u8", **kw: Any
) -> tuple[Origin, HlsViewer]:
    """Run a viewer for `seconds` against a fresh Origin while `scenario` drives the origin."""

    async def main() -> tuple[Origin, HlsViewer]:
        origin = Origin()
        base = await origin.start()
        try:
            v = HlsViewer(base + path, events, **kw)
            task = asyncio.ensure_future(v.run(seconds))
            await scenario(origin, v)
            await task
        finally:
            await origin.stop()
        return origin, v

    result: tuple[Origin, HlsViewer] = run(main())
    return result


async def nothing(origin: Origin, v: HlsViewer) -> None:
    return None


def test_origin_steady_state() -> None:
    events = Events()
    origin, v = with_origin(nothing, 4.2, events)
    assert not events.errors(), events
    fetched = origin.fetched()
    assert set(fetched.values()) == {1}
    # joined 3 target durations from the end of a 5-segment playlist: s2, s3, s4 first
    assert sorted(fetched, key=lambda p: int(p[2:-3]))[:3] == ["/s2.ts", "/s3.ts", "/s4.ts"]
    assert 3 + 3 <= v.segments_fetched <= 3 + 5
    # media time = PTS - 0.7 s: FIRST_AUDIO at s2's ts 2.0 s, video 23 ms later
    assert events.of(FIRST_AUDIO)[0][2] == pytest.approx(2.0)
    assert events.of(FIRST_VIDEO)[0][2] == pytest.approx(2.023)
    # all complete: media time is the end of the newest segment, in the publisher timeline
    last = max(int(p[2:-3]) for p in fetched)
    assert v.media_ts_ms == (last + 1) * 1000
    loads = [t for t, p in origin.requests if p.endswith(".m3u8")]
    gaps = [b - a for a, b in itertools.pairwise(loads)]
    assert min(gaps) >= 0.5 - 0.02 and len(loads) <= 4.2 / 0.5 + 1
    assert v.media_wallclock is None


def test_segment_404_is_skipped_and_reported() -> None:
    events = Events()

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        origin.missing.add(f"s{origin.next_seq + 1}.ts")  # the one after next

    origin, v = with_origin(scenario, 4.2, events)
    [(name, detail)] = events.errors()
    gone = f"{origin.base}/s6.ts"
    assert name == "protocol" and f"segment {gone}: HTTP 404, skipped" in detail, detail
    assert v.segments_skipped == 1 and v.error == "protocol"
    fetched = origin.fetched()
    assert set(fetched.values()) == {1} and "/s6.ts" in fetched and "/s7.ts" in fetched
    assert v.media_ts_ms == (max(int(p[2:-3]) for p in fetched) + 1) * 1000


def test_segment_cut_mid_body_is_reported_once_play_goes_on() -> None:
    events = Events()

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        origin.cut.add(f"s{origin.next_seq}.ts")

    origin, v = with_origin(scenario, 4.2, events)
    [(name, detail)] = events.errors()
    assert name == "protocol" and "/s5.ts failed after 9964 bytes" in detail and "skipped" in detail
    assert v.segments_skipped == 1 and "/s7.ts" in origin.fetched()


def test_discontinuity_keeps_media_time_continuous() -> None:
    events = Events()
    seen: list[int] = []

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        origin.pending = {"disc": True, "restart": True}  # a new publisher: ts from 0
        for _ in range(45):
            await asyncio.sleep(0.1)
            seen.append(v.media_ts_ms)

    _origin, v = with_origin(scenario, 4.6, events)
    assert not events.errors(), events
    assert v.discontinuities == 1
    assert all(a <= b for a, b in itertools.pairwise(seen))
    # media time runs on as if nothing happened: s2 starts at 2.0 s, one second per segment
    assert v.media_ts_ms == 2000 + 1000 * v.segments_fetched


def test_media_sequence_jump_rejoins_at_the_live_edge() -> None:
    events = Events()

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        await asyncio.sleep(1.2)
        for _ in range(8):  # numbers jump by 20 and the window moves on past our next one
            origin.add_segment(jump=20 if _ == 0 else 0)

    origin, v = with_origin(scenario, 3.2, events)
    [(name, detail)] = events.errors()
    assert name == "protocol" and "fell behind" in detail and "rejoined at the live edge" in detail
    assert v.sequence_jumps == 1 and v.segments_skipped >= 1
    fetched = origin.fetched()
    assert set(fetched.values()) == {1}
    newest = origin.segments[-1]["seq"]
    assert f"/s{newest}.ts" in fetched  # it caught up with the edge


def test_short_playlist_outage_is_retried_a_long_one_disconnects() -> None:
    events = Events()
    marks: dict[str, float] = {}

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        await asyncio.sleep(1.0)
        origin.playlist_status = 404  # 1.5 target durations: retried silently
        await asyncio.sleep(1.5)
        origin.playlist_status = 200
        await asyncio.sleep(1.5)
        assert not events.errors() and v.playing
        origin.playlist_status = 503  # and now for good
        marks["down"] = time.monotonic()
        while v.playing:
            await asyncio.sleep(0.05)
        marks["gone"] = time.monotonic()

    origin, _v = with_origin(scenario, 15.0, events)
    [(name, detail)] = events.errors()
    assert name == "disconnect" and "unreachable for 3." in detail and "HTTP 503" in detail
    assert 3.0 - 1.0 <= marks["gone"] - marks["down"] <= 3.0 + 1.0  # > 3 TD since the last load
    assert set(origin.fetched().values()) == {1}


def test_program_date_time_gives_media_wallclock() -> None:
    events = Events()
    epoch = 1_700_000_000.0

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        origin.pdt_epoch = epoch

    _origin, v = with_origin(scenario, 2.2, events)
    assert not events.errors()
    assert v.media_wallclock == pytest.approx(epoch + v.media_ts_ms / 1000, abs=0.002)


def test_master_playlist_highest_and_lowest_variant() -> None:
    events = Events()
    origin, v = with_origin(nothing, 2.2, events, path="/master.m3u8", abr="highest")
    assert not events.errors() and v.media_url == origin.base + "/live.m3u8"
    [(_kind, name, kbps, detail)] = events.of("rendition")
    assert (name, kbps, json.loads(detail)) == ("360p", 1200, {"why": "start", "res": "640x360"})
    assert v.segments_fetched >= 3
    events = Events()
    origin, v = with_origin(nothing, 5.0, events, path="/master.m3u8", abr="lowest",
                            connect_timeout=1.0)  # fmt: skip
    [(name, detail)] = events.errors()
    assert name == "protocol" and "variant " + origin.base + "/low/missing.m3u8" in detail
    assert "HTTP 404" in detail


def test_endlist_ends_the_viewer() -> None:
    events = Events()

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        await asyncio.sleep(1.5)
        origin.ended = True

    t0 = time.monotonic()
    origin, v = with_origin(scenario, 20.0, events)
    assert time.monotonic() - t0 < 4.0
    assert not events.errors() and v.ended and not v.playing
    assert f"/s{origin.segments[-1]['seq']}.ts" in origin.fetched()


def test_slow_segment_media_time_moves_with_the_bytes() -> None:
    events = Events()
    seen: list[int] = []

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        origin.slow.add(f"s{origin.next_seq}.ts")  # 10 pieces over 1 s
        while v.segments_fetched < 3:  # the join burst (s2-s4); s5 comes next
            await asyncio.sleep(0.02)
        while v.segments_fetched < 4:
            seen.append(v.media_ts_ms)
            await asyncio.sleep(0.02)

    _origin, _v = with_origin(scenario, 3.5, events)
    assert not events.errors()
    # during s5's download media time passes through values between 5000 and 6000
    inside = sorted({t for t in seen if 5000 < t < 6000})
    assert len(inside) >= 4, seen
    assert all(a <= b for a, b in itertools.pairwise(seen))


def test_close_from_another_task_ends_run() -> None:
    events = Events()

    async def scenario(origin: Origin, v: HlsViewer) -> None:
        await asyncio.sleep(1.0)
        v.close()

    t0 = time.monotonic()
    _, v = with_origin(scenario, 20.0, events)
    assert time.monotonic() - t0 < 1.5
    assert not events.errors() and not v.playing and v.segments_fetched >= 3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HlsViewer("rtmp://127.0.0.1/live/x", Events())
    with pytest.raises(ValueError, match="no ABR mode"):
        HlsViewer("http://127.0.0.1/x.m3u8", Events(), abr="")
    with pytest.raises(ValueError, match="unknown CMCD mode"):
        HlsViewer("http://127.0.0.1/x.m3u8", Events(), cmcd="body")
