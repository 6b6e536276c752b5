"""RtmpViewer over real loopback sockets against a server that replays the
bytes nginx-rtmp once sent (tests/data/*.bin), on stock asyncio and uvloop.

The replay server ignores what the viewer says (the recording already holds
nginx's answers to the same connect/createStream/play sequence) but keeps
it, so the tests can check the viewer's side of the conversation too.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from streamperf.results.eventlog.schema import FIRST_AUDIO, FIRST_VIDEO, VIEWER_ERROR
from streamperf.viewers.read_batching import lowat_bytes
from streamperf.viewers.rtmp import amf
from streamperf.viewers.rtmp.chunks import (
    ACK,
    COMMAND_AMF0,
    USER_CONTROL,
    ChunkParser,
    Message,
)
from streamperf.viewers.rtmp.encode import encode_message
from streamperf.viewers.rtmp.viewer import RtmpViewer, parse_rtmp_url
from tests.support.replay import RtmpReplay
from tests.support.viewer_events import Events

DATA = Path(__file__).resolve().parents[1] / "data"
HANDSHAKE = 1 + 1536 + 1536
RECORDING = (DATA / "nginx_play_c4096.bin").read_bytes()
EXT_RECORDING = (DATA / "nginx_play_extts_c1000.bin").read_bytes()

def client_messages(sent: bytes) -> list[Message]:
    """Decode what the viewer sent after C0+C1+C2."""
    return [m for m in ChunkParser().feed_data(sent[HANDSHAKE:]) if isinstance(m, Message)]


def last_media_ts(stream: bytes) -> tuple[int, int]:
    """(newest media ts, messages) by our parser; the parser tests check it against a reference."""
    p = ChunkParser()
    p.feed_data(stream[HANDSHAKE:])
    return p.media_ts_ms, p.messages


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("recording", [RECORDING, EXT_RECORDING], ids=["c4096", "extts"])
def test_plays_a_recorded_nginx_session(run_loop: Callable[..., object], recording: bytes) -> None:
    events = Events()

    async def main() -> RtmpViewer:
        async with RtmpReplay(lambda i: [recording]) as srv:
            v = RtmpViewer(srv.url("rec?token=a/b"), events)
            await v.run(1.0)
            assert v.playing is False
            sent = bytes(srv.received[0])
        assert sent[0] == 3 and sent[1537 : 1537 + 1536] == recording[1 : 1 + 1536]  # C2 = S1
        cmds = [amf.decode(m[3]) for m in client_messages(sent) if m[0] == COMMAND_AMF0]
        assert [c[0] for c in cmds] == ["connect", "createStream", "play"]
        assert cmds[0][2]["app"] == "live"
        assert cmds[0][2]["tcUrl"] == f"rtmp://127.0.0.1:{srv.port}/live"
        assert cmds[2][2:4] == [None, "rec?token=a/b"]
        return v

    v = run_loop(main())
    assert isinstance(v, RtmpViewer)
    assert not events.of(VIEWER_ERROR), events
    assert v.bytes_received == len(recording)
    assert (v.media_ts_ms, v.parser.messages) == last_media_ts(recording)
    first_v, first_a = (2.0, 0.671) if recording is RECORDING else (16777.933, 16777.977)
    assert events.of(FIRST_VIDEO) == [(FIRST_VIDEO, "", first_v, "")]
    assert events.of(FIRST_AUDIO) == [(FIRST_AUDIO, "", first_a, "")]
    assert v.play_requested_wall is not None and v.first_video_wall is not None
    assert 0 <= v.first_video_wall - v.play_requested_wall < 1.0
    assert v.stream_id == 1


def test_many_viewers_share_one_read_buffer_without_crosstalk(
    run_loop: Callable[..., object],
) -> None:
    # Different recordings cut at different places, delivered in odd pieces:
    # any mix-up through the shared buffer changes someone's figures.
    rng = random.Random(7)
    streams = []
    for i in range(40):
        rec = RECORDING if i % 2 else EXT_RECORDING
        streams.append(rec[: len(rec) - rng.randrange(0, 50000)])

    def script(i: int) -> list[bytes | float | None]:
        data, out, pos = streams[i], [], 0
        r = random.Random(i)
        while pos < len(data):
            n = r.choice((1, 13, 700, 5000, 40000))
            out += [data[pos : pos + n], 0.001]
            pos += n
        return out

    async def main() -> list[RtmpViewer]:
        async with RtmpReplay(script) as srv:
            viewers = [RtmpViewer(srv.url(), lambda *a: None) for _ in streams]
            # connect one by one so connection i gets script(i)
            tasks = []
            for v in viewers:
                tasks.append(asyncio.ensure_future(v.run(1.5)))
                while len(srv.received) < len(tasks):
                    await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
        return viewers

    viewers = run_loop(main())
    assert isinstance(viewers, list)
    for v, data in zip(viewers, streams, strict=True):
        assert v.error is None
        assert v.bytes_received == len(data)
        assert (v.media_ts_ms, v.parser.messages) == last_media_ts(data)


def first_boundary_after(body: bytes, offset: int) -> int:
    """Smallest stream offset >= `offset` that lies between two messages."""
    p = ChunkParser()
    p.feed_data(body[:offset])
    for n in range(offset, len(body)):
        if p.at_message_boundary():
            return n
        p.feed_data(body[n : n + 1])
    raise AssertionError("no message boundary")


def test_answers_ping_and_acknowledges_every_window(run_loop: Callable[..., object]) -> None:
    head, body = bytearray(RECORDING[:HANDSHAKE]), bytearray(RECORDING[HANDSHAKE:])
    # The recording's first message is Window Ack Size 5000000; make it 50000.
    assert body[:12] == bytes.fromhex("020000000000040500000000")
    body[12:16] = (50000).to_bytes(4, "big")
    # and slip a PingRequest in between two messages a few kB in
    ping = encode_message(2, USER_CONTROL, 0, bytes.fromhex("0006" + "12345678"), 4096)
    at = first_boundary_after(bytes(body), 5000)
    served = bytes(head + body[:at] + ping + body[at:])

    async def main() -> tuple[RtmpViewer, bytes]:
        async with RtmpReplay(lambda i: [served]) as srv:
            v = RtmpViewer(srv.url(), lambda *a: None)
            await v.run(1.0)
            return v, bytes(srv.received[0])

    v, sent = run_loop(main())  # type: ignore[misc]
    assert v.error is None and v.bytes_received == len(served)
    msgs = client_messages(sent)
    pongs = [m[3] for m in msgs if m[0] == USER_CONTROL and m[3][:2] == b"\x00\x07"]
    assert pongs == [bytes.fromhex("0007" + "12345678")]
    # an Acknowledgement (bytes so far) each time another window has come in
    acks = [int.from_bytes(m[3], "big") for m in msgs if m[0] == ACK]
    assert len(acks) >= len(served) // 50000 - 2
    gaps = [b - a for a, b in itertools.pairwise([0, *acks])]
    assert all(50000 <= g <= 50000 + 65536 for g in gaps[1:]) and acks[-1] <= len(served)


def test_truncated_stream_is_a_disconnect(run_loop: Callable[..., object]) -> None:
    events = Events()

    async def main() -> None:
        async with RtmpReplay(lambda i: [RECORDING[:150000], None]) as srv:
            await RtmpViewer(srv.url(), events).run(5.0)

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert len(errors) == 1 and errors[0][1] == "disconnect"
    assert "rtmp://127.0.0.1:" in errors[0][3] and "mid-message" in errors[0][3]


def test_garbage_is_a_protocol_error(run_loop: Callable[..., object]) -> None:
    events = Events()
    garbage = bytes((0xC4,)) + random.Random(1).randbytes(5000)

    async def main() -> None:
        async with RtmpReplay(lambda i: [RECORDING[:HANDSHAKE], garbage]) as srv:
            await RtmpViewer(srv.url(), events).run(5.0)

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert [e[1] for e in errors] == ["protocol"]
    assert "type-3 chunk starts chunk stream 4" in errors[0][3]


def test_play_refused_is_a_protocol_error(run_loop: Callable[..., object]) -> None:
    events = Events()
    status = {"level": "error", "code": "NetStream.Play.StreamNotFound", "description": "no"}
    refusal = encode_message(5, COMMAND_AMF0, 1, amf.encode("onStatus", 0, None, status), 128)

    async def main() -> None:
        async with RtmpReplay(lambda i: [RECORDING[:HANDSHAKE], refusal]) as srv:
            await RtmpViewer(srv.url(), events).run(5.0)

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert [e[1] for e in errors] == ["protocol"]
    assert "NetStream.Play.StreamNotFound" in errors[0][3]


def test_viewer_acts_on_nothing_found_after_it_failed(run_loop: Callable[..., object]) -> None:
    # One read holds a refusal and then a close: the parser returns both, the
    # viewer stops at the first (one error row, the real reason).
    events = Events()
    status = {"level": "error", "code": "NetStream.Play.Failed"}
    both = encode_message(5, COMMAND_AMF0, 1, amf.encode("onStatus", 0, None, status), 128)
    both += encode_message(5, COMMAND_AMF0, 1, amf.encode("close", 0, None), 128)

    async def main() -> None:
        async with RtmpReplay(lambda i: [RECORDING[:HANDSHAKE] + both]) as srv:
            await RtmpViewer(srv.url(), events).run(5.0)

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert [e[1] for e in errors] == ["protocol"] and "Play.Failed" in errors[0][3]


def test_silent_server_is_a_timeout(run_loop: Callable[..., object]) -> None:
    events = Events()

    async def main() -> None:
        async with RtmpReplay(lambda i: [5.0]) as srv:
            await RtmpViewer(srv.url(), events, connect_timeout=0.3).run(5.0)

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert [e[1] for e in errors] == ["timeout"]
    assert "handshake" in errors[0][3]


def test_closed_port_is_a_connect_error(run_loop: Callable[..., object]) -> None:
    events = Events()

    async def main() -> None:
        async with RtmpReplay(lambda i: []) as srv:
            url = srv.url()
        await RtmpViewer(url, events).run(5.0)  # server closed: nothing listens

    run_loop(main())
    errors = events.of(VIEWER_ERROR)
    assert [e[1] for e in errors] == ["connect"]
    assert errors[0][3].startswith("rtmp://127.0.0.1:") and "refused" in errors[0][3].lower()


def test_close_from_another_task_is_not_an_error(run_loop: Callable[..., object]) -> None:
    events = Events()

    async def main() -> float:
        async with RtmpReplay(lambda i: [RECORDING]) as srv:
            v = RtmpViewer(srv.url(), events)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            loop.call_later(0.3, v.close)
            await v.run(30.0)
            return loop.time() - t0

    took = run_loop(main())
    assert isinstance(took, float) and took < 2.0
    assert not events.of(VIEWER_ERROR)


def test_rcvlowat_is_sized_from_the_bitrate(run_loop: Callable[..., object]) -> None:
    assert lowat_bytes(1000, 200) == 25000
    assert lowat_bytes(100_000, 200) == 65536 and lowat_bytes(0.001, 1) == 1

    async def main() -> RtmpViewer:
        async with RtmpReplay(lambda i: [RECORDING]) as srv:
            v = RtmpViewer(srv.url(), lambda *a: None, expected_kbps=1000, rcvlowat_ms=200)
            await v.run(1.0)
            return v

    v = run_loop(main())
    assert isinstance(v, RtmpViewer)
    assert v.rcvlowat_bytes == 25000 and v.read_delay_bound_s == pytest.approx(0.2)
    # the kernel holds back up to lowat bytes at the end of a stream that stops
    assert len(RECORDING) - 25000 <= v.bytes_received <= len(RECORDING)


def test_rcvlowat_from_a_measured_bitrate(run_loop: Callable[..., object]) -> None:
    # ~1 Mbit/s for 2.5 s: the recording's media part paced in 50 ms steps
    body = RECORDING[HANDSHAKE:]
    step = 1_000_000 // 8 // 20

    def script(i: int) -> list[bytes | float | None]:
        out: list[bytes | float | None] = [RECORDING[:HANDSHAKE]]
        for off in range(0, len(body), step):
            out += [body[off : off + step], 0.05]
        return out

    async def main() -> RtmpViewer:
        async with RtmpReplay(script) as srv:
            v = RtmpViewer(srv.url(), lambda *a: None, rcvlowat_ms=100)
            await v.run(2.8)
            return v

    v = run_loop(main())
    assert isinstance(v, RtmpViewer)
    assert v.lowat_kbps is not None and 700 < v.lowat_kbps < 1300
    assert v.rcvlowat_bytes == lowat_bytes(v.lowat_kbps, 100)
    assert v.read_delay_bound_s == pytest.approx(0.1, rel=0.01)


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("rtmp://h/live/s", ("h", 1935, "live", "s", "rtmp://h:1935/live")),
        ("rtmp://h:19350/a/b/s?x=1&y=2", ("h", 19350, "a/b", "s?x=1&y=2", "rtmp://h:19350/a/b")),
    ],
)
def test_parse_rtmp_url(url: str, want: tuple[str, int, str, str, str]) -> None:
    assert parse_rtmp_url(url) == want


def test_a_failure_inside_get_buffer_is_this_viewers_protocol_error() -> None:
    """The event loop would only say "get_buffer failed"; the row names the cause.
    (Before run() there is no read buffer yet: the simplest way to make it fail.)"""
    rows: list[tuple[object, ...]] = []
    v = RtmpViewer("rtmp://127.0.0.1:1/live/x", lambda *a: rows.append(a))
    assert len(v.get_buffer(-1)) > 0  # never an empty buffer: uvloop calls that fatal
    v.buffer_updated(10)
    [(kind, name, _, detail)] = rows
    assert (kind, name, v.error) == ("error", "protocol", "protocol")
    assert "IndexError" in str(detail)
