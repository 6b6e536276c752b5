"""FlvViewer against a loopback HTTP server replaying recorded node-media-server responses.

The server is real sockets on 127.0.0.1 sending recorded bytes (or hostile
ones); only the media server behind it is replaced by its recording.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from streamperf.results.eventlog.schema import FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR
from streamperf.viewers import ViewerFactory
from streamperf.viewers.flv.tags import FlvTagParser
from streamperf.viewers.flv.viewer import FlvViewer, parse_http_url
from tests.support.flv_recordings import (
    RECORDINGS,
    dechunk,
    reference_firsts,
    reference_tags,
    split_response,
)
from tests.support.replay import HttpReplay, Step
from tests.support.viewer_events import Events

NMS = RECORDINGS["nms"]


def pieces(data: bytes, size: int, pause: float = 0.0) -> list[Step]:
    out: list[Step] = []
    for i in range(0, len(data), size):
        out.append(data[i : i + size])
        if pause:
            out.append(pause)
    return out


def play(run_loop: Callable[..., object], script: Callable[[str], list[Step]], seconds: float,
         path: str = "/live/rec.flv", **kw: object) -> tuple[FlvViewer, Events, HttpReplay]:
    events = Events()

    async def main() -> tuple[FlvViewer, HttpReplay]:
        async with HttpReplay(script) as srv:
            v = FlvViewer(srv.url(path), events, **kw)  # type: ignore[arg-type]
            await v.run(seconds)
            return v, srv

    v, srv = run_loop(main())  # type: ignore[misc]
    return v, events, srv


def expected(recording: bytes) -> tuple[list[tuple[bool, int]], int]:
    tags = reference_tags(dechunk(split_response(recording)[1]))
    return reference_firsts(tags), [t.ts for t in tags if t.ttype in (8, 9)][-1]


# --- playing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RECORDINGS)
def test_plays_a_recorded_nms_session(run_loop: Callable[..., object], name: str) -> None:
    rec = RECORDINGS[name]
    v, events, srv = play(run_loop, lambda p: [rec], 0.5)
    firsts, last_ts = expected(rec)
    assert not events.of(VIEWER_ERROR), events
    assert [(e[0] == FIRST_VIDEO, e[2]) for e in events] == [(v, ts / 1000) for v, ts in firsts]
    assert v.bytes_received == len(rec)
    assert v.media_ts_ms == last_ts
    assert v.status == 200 and v.first_video_wall is not None and not v.playing
    req = srv.requests[0].decode()
    assert req.startswith("GET /live/rec.flv HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{srv.port}\r\n" in req


def test_small_paced_writes_give_the_same_as_one_write(run_loop: Callable[..., object]) -> None:
    head, body = split_response(NMS)
    # ~300 paced writes: done well inside the window even on a busy machine.
    script = [head + b"\r\n\r\n"[:3], b"\n", *pieces(body[:60_000], 197, 0.0005)]
    v, events, _ = play(run_loop, lambda p: script, 2.0)
    p = FlvTagParser()
    p.feed_data(dechunk(body[:60_000]))
    assert not events.of(VIEWER_ERROR), events
    assert len(events.of(FIRST_VIDEO)) == 1 and len(events.of(FIRST_AUDIO)) == 1
    assert v.media_ts_ms == p.media_ts_ms > 0
    assert v.bytes_received == len(head) + 4 + 60_000


def test_query_string_and_https_port_defaults_are_kept() -> None:
    want = ("http", "h", 80, "/live/k.flv?token=a/b")
    assert parse_http_url("http://h/live/k.flv?token=a/b") == want
    assert parse_http_url("https://h:8443/k.flv")[2] == 8443
    assert parse_http_url("https://h/k.flv")[2] == 443


def test_follows_a_redirect_to_the_stream(run_loop: Callable[..., object]) -> None:
    def script(path: str) -> list[Step]:
        if path == "/edge/rec.flv":
            return [b"HTTP/1.1 302 Found\r\nLocation: /live/rec.flv\r\nContent-Length: 0\r\n\r\n"]
        return [NMS]

    v, events, srv = play(run_loop, script, 0.5, path="/edge/rec.flv")
    assert not events.of(VIEWER_ERROR), events
    assert len(events.of(FIRST_VIDEO)) == 1
    assert [r.split(b" ")[1] for r in srv.requests] == [b"/edge/rec.flv", b"/live/rec.flv"]
    assert v.final_url.endswith("/live/rec.flv")


# --- failures are error rows, never exceptions --------------------------------------------


def only_error(events: Events) -> tuple[str, str]:
    errors = events.of(VIEWER_ERROR)
    assert len(errors) == 1, events
    return errors[0][1], errors[0][3]


def test_http_404_is_a_protocol_error(run_loop: Callable[..., object]) -> None:
    reply = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    v, events, _ = play(run_loop, lambda p: [reply], 2.0)
    name, detail = only_error(events)
    assert (name, v.status) == ("protocol", 404) and "HTTP 404 Not Found" in detail
    assert not events.of(FIRST_VIDEO)


def test_connection_refused_is_a_connect_error(run_loop: Callable[..., object]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        events = Events()
        v = FlvViewer(f"http://127.0.0.1:{port}/live/x.flv", events)
        run_loop(v.run(2.0))
    name, detail = only_error(events)
    assert name == "connect" and "refused" in detail.lower()


def test_server_closing_mid_play_is_a_disconnect(run_loop: Callable[..., object]) -> None:
    cut = len(NMS) // 2
    _v, events, _ = play(run_loop, lambda p: [NMS[:cut], 0.1, None], 3.0)
    name, detail = only_error(events)
    assert name == "disconnect" and "server closed the connection" in detail
    assert len(events.of(FIRST_VIDEO)) == 1


def test_server_ending_the_chunked_body_is_a_disconnect(run_loop: Callable[..., object]) -> None:
    head, body = split_response(NMS)
    # the body up to a chunk boundary, then the last chunk
    end = body.index(b"\r\n", body.index(b"\r\n") + 2) + 2
    _v, events, _ = play(run_loop, lambda p: [head + b"\r\n\r\n" + body[:end] + b"0\r\n\r\n"],
                        3.0)
    name, detail = only_error(events)
    assert name == "disconnect" and "ended the stream" in detail


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<html>not a stream</html>", "not an FLV"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000, "response head over"),
    ],
)
def test_garbage_answers_are_protocol_errors(
    run_loop: Callable[..., object], reply: bytes, why: str
) -> None:
    _v, events, _ = play(run_loop, lambda p: [reply], 2.0)
    name, detail = only_error(events)
    assert name == "protocol" and why in detail


def test_no_answer_is_a_timeout(run_loop: Callable[..., object]) -> None:
    _v, events, _ = play(run_loop, lambda p: [5.0], 3.0, connect_timeout=0.3)
    name, detail = only_error(events)
    assert name == "timeout" and "response head" in detail


def test_redirect_loop_is_a_protocol_error(run_loop: Callable[..., object]) -> None:
    loop_reply = b"HTTP/1.1 302 Found\r\nLocation: /again.flv\r\n\r\n"
    _v, events, srv = play(run_loop, lambda p: [loop_reply], 3.0)
    name, detail = only_error(events)
    assert name == "protocol" and "redirects" in detail and len(srv.requests) == 6


@pytest.mark.parametrize("url", ["ftp://h/x.flv", "http://h:99999/x.flv", "http:///x.flv"])
def test_bad_urls_are_connect_errors_not_exceptions(
    run_loop: Callable[..., object], url: str
) -> None:
    events = Events()
    run_loop(FlvViewer(url, events).run(1.0))
    assert only_error(events)[0] == "connect"


def test_close_from_another_task_ends_run(run_loop: Callable[..., object]) -> None:
    events = Events()

    async def main() -> FlvViewer:
        async with HttpReplay(lambda p: [NMS[:50_000]]) as srv:
            v = FlvViewer(srv.url(), events)
            task = asyncio.ensure_future(v.run(30.0))
            await asyncio.sleep(0.3)
            assert v.playing
            v.close()
            await asyncio.wait_for(task, 2.0)
            return v

    v = run_loop(main())
    assert isinstance(v, FlvViewer) and not v.playing
    assert not events.of(VIEWER_ERROR)


def test_factory_makes_flv_viewers() -> None:
    v = ViewerFactory(expected_kbps=900.0)("flv", "http://127.0.0.1:1/live/k.flv", Events())
    assert isinstance(v, FlvViewer) and v.protocol == "flv" and v.expected_kbps == 900.0
