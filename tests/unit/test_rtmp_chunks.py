"""The streaming RTMP chunk parser on its own (no sockets; the viewer that
owns it is tested in test_rtmp_viewer_replay.py), against real nginx-rtmp bytes.

tests/data/*.bin are what nginx-rtmp sent to a player (tests/data/record_rtmp.py
made them): nginx_play_c4096.bin with chunk size 4096, and
nginx_play_extts_c1000.bin with chunk size 1000 and a publisher whose
timestamps start beyond 0xFFFFFF ms, so nginx uses extended timestamps
(also on type-3 continuation chunks). Every check compares the streaming
parser with `reference_parse` below, a naive parser that builds whole
messages and is easy to check by eye.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamperf.viewers.rtmp import amf
from streamperf.viewers.rtmp.chunks import (
    AUDIO,
    COLLECTED_TYPES,
    COMMAND_AMF0,
    FAILED,
    MAX_COLLECTED,
    MAX_COLLECTING,
    MAX_HEADER,
    MAX_HIGH_STREAMS,
    READ_HEADER,
    READ_PAYLOAD,
    VIDEO,
    ChunkParser,
    FirstFrame,
    Message,
    RtmpProtocolError,
)
from streamperf.viewers.rtmp.encode import encode_message

DATA = Path(__file__).resolve().parents[1] / "data"
HANDSHAKE = 1 + 1536 + 1536  # S0 + S1 + S2
RECORDINGS = ["nginx_play_c4096.bin", "nginx_play_extts_c1000.bin"]


# --- the reference --------------------------------------------------------------


@dataclass
class Msg:
    csid: int
    fmt: int
    mtype: int
    ts: int
    msid: int
    length: int
    header_end: int  # stream offset just past the message's first chunk header
    payload: bytearray = field(default_factory=bytearray)
    end: int = -1  # stream offset just past its last payload byte; -1: incomplete


@dataclass
class Reference:
    messages: list[Msg]  # in order of their first chunk, the incomplete last ones too
    ext_headers: int = 0  # chunk headers (any type) carrying an extended timestamp
    ext_type3: int = 0  # of which type-3 continuation chunks
    chunk_sizes: list[int] = field(default_factory=list)

    @property
    def complete(self) -> list[Msg]:
        return sorted((m for m in self.messages if m.end >= 0), key=lambda m: m.end)


def reference_parse(data: bytes) -> Reference:
    """Whole-message RTMP chunk parser. Rules as nginx-rtmp sends them:
    type 0 absolute ts, types 1/2 a delta, a new message by type 3 repeats
    the previous delta, and an extended ts field follows every header of a
    chunk stream whose last type 0/1/2 header had 0xFFFFFF."""
    ref = Reference(messages=[])
    chunk = 128
    last: dict[int, dict[str, int]] = {}  # csid -> ts, delta, length, type, msid, ext
    open_msg: dict[int, Msg] = {}
    pos = 0
    while pos < len(data):
        b0 = data[pos]
        fmt, csid = b0 >> 6, b0 & 63
        p = pos + 1
        if csid == 0:
            csid, p = 64 + data[p], p + 1
        elif csid == 1:
            csid, p = 64 + data[p] + 256 * data[p + 1], p + 2
        hdr = last.setdefault(csid, dict(ts=0, delta=0, length=0, type=0, msid=0, ext=0))
        if fmt < 3:
            field_ts = int.from_bytes(data[p : p + 3], "big")
            p += 3
            if fmt < 2:
                hdr["length"] = int.from_bytes(data[p : p + 3], "big")
                hdr["type"] = data[p + 3]
                p += 4
            if fmt == 0:
                hdr["msid"] = int.from_bytes(data[p : p + 4], "little")
                p += 4
            hdr["ext"] = int(field_ts == 0xFFFFFF)
            if hdr["ext"]:
                field_ts = int.from_bytes(data[p : p + 4], "big")
                p += 4
                ref.ext_headers += 1
            hdr["delta"] = field_ts
            hdr["ts"] = field_ts if fmt == 0 else hdr["ts"] + field_ts
        else:
            if hdr["ext"]:
                p += 4
                ref.ext_headers += 1
                ref.ext_type3 += 1
            if csid not in open_msg:
                hdr["ts"] += hdr["delta"]
        if p > len(data):
            break  # the recording ends inside this header
        msg = open_msg.get(csid)
        if msg is None:
            msg = Msg(csid, fmt, hdr["type"], hdr["ts"], hdr["msid"], hdr["length"], p)
            open_msg[csid] = msg
            ref.messages.append(msg)
        take = min(chunk, msg.length - len(msg.payload))
        msg.payload += data[p : p + take]
        pos = min(p + take, len(data))
        if len(msg.payload) == msg.length:
            msg.end = pos
            del open_msg[csid]
            if msg.mtype == 1:
                chunk = int.from_bytes(msg.payload[:4], "big")
                ref.chunk_sizes.append(chunk)
    return ref


def is_first_video(m: Msg) -> bool:
    return m.mtype == VIDEO and not (m.payload[0] & 0x0F == 7 and m.payload[1] != 1)


def is_first_audio(m: Msg) -> bool:
    return m.mtype == AUDIO and not (m.payload[0] >> 4 == 10 and m.payload[1] != 1)


# --- the parser under test, driven like the viewer drives it ----------------------


class Recorder:
    """A parser and everything its feeds returned, as the viewer would act on it."""

    def __init__(self) -> None:
        self.parser = ChunkParser()
        self.found: list[Message | FirstFrame] = []

    @property
    def got(self) -> list[Message]:
        return [f for f in self.found if isinstance(f, Message)]

    @property
    def firsts(self) -> list[FirstFrame]:
        return [f for f in self.found if isinstance(f, FirstFrame)]

    def feed(self, data: bytes) -> None:
        self.found += self.parser.feed_data(data)

    def read_into_shared(self, buf: bytearray, piece: bytes) -> None:
        """What RtmpViewer.get_buffer + buffer_updated do with one socket read."""
        parser = self.parser
        k = len(parser.carry)
        buf[:k] = parser.carry
        buf[k : k + len(piece)] = piece
        self.found += parser.feed_buffer(buf, k + len(piece))


def splits(n: int, how: str, rng: random.Random) -> list[int]:
    if how == "whole":
        return [n]
    if how == "random":
        sizes = []
        while sum(sizes) < n:
            sizes.append(rng.choice((1, 2, 3, 5, 11, 17, 18, 19, 100, 1000, 4097, 30000)))
        return sizes
    step = int(how)
    return [step] * (n // step + 1)


@pytest.fixture(scope="module", params=RECORDINGS)
def recording(request: pytest.FixtureRequest) -> tuple[str, bytes, Reference]:
    raw = (DATA / request.param).read_bytes()
    assert raw[0] == 3 and len(raw) < 1_000_000
    stream = raw[HANDSHAKE:]
    return request.param, stream, reference_parse(stream)


# --- the recordings are what they claim to be -------------------------------------


def test_recordings_hold_what_the_tests_need(recording: tuple[str, bytes, Reference]) -> None:
    name, _, ref = recording
    types = {m.mtype for m in ref.complete}
    assert {1, 4, 5, 6, 8, 9, 18, 20} <= types
    assert ref.chunk_sizes == [4096 if "c4096" in name else 1000]  # changed from 128
    assert any(len(m.payload) > ref.chunk_sizes[0] for m in ref.complete if m.mtype == VIDEO)
    if "extts" in name:
        assert ref.ext_type3 > 0 and ref.ext_headers > ref.ext_type3
        frames = [m for m in ref.complete if m.mtype in (AUDIO, VIDEO) and m.ts > 0]
        assert all(m.ts > 0xFFFFFF for m in frames)
    else:
        assert ref.ext_headers == 0


# --- streaming parser == reference ----------------------------------------------


@pytest.mark.parametrize("how", ["whole", "1", "7", "random"])
def test_any_split_gives_the_reference_result(
    recording: tuple[str, bytes, Reference], how: str
) -> None:
    name, stream, ref = recording
    complete = ref.complete
    ends = [m.end for m in complete]
    media = [m for m in ref.messages if m.mtype in (AUDIO, VIDEO)]
    media_hdr_ends = [m.header_end for m in media]
    rec = Recorder()
    parser = rec.parser
    buf = bytearray(MAX_HEADER + 65536)
    rng = random.Random(f"{name}-{how}")
    pos = 0
    for size in splits(len(stream), how, rng):
        piece = stream[pos : pos + size]
        if not piece:
            break
        rec.read_into_shared(buf, piece)
        pos += len(piece)
        # After every read: exactly the messages that ended so far, and the
        # newest media ts is that of the last media header fully read.
        assert parser.messages == bisect.bisect_right(ends, pos)
        i = bisect.bisect_right(media_hdr_ends, pos)
        assert parser.media_ts_ms == (media[i - 1].ts if i else -1)
    assert pos == len(stream)

    # what the feeds returned: the decoded control/command messages and the
    # first frames (not the AVC/AAC sequence headers), in stream order
    first_v = next(m for m in complete if is_first_video(m))
    first_a = next(m for m in complete if is_first_audio(m))
    want: list[Message | FirstFrame] = []
    for m in complete:
        if m.mtype in COLLECTED_TYPES - {1, 2}:
            want.append(Message(m.mtype, m.msid, m.ts, bytes(m.payload)))
        elif m is first_v or m is first_a:
            want.append(FirstFrame(m is first_v, m.ts))
    assert rec.found == want
    assert len(rec.firsts) == 2 and len(rec.got) > 5
    assert parser.chunk_size == ref.chunk_sizes[-1]
    assert parser.first_video_ts == first_v.ts
    assert parser.first_audio_ts == first_a.ts
    expected = {
        "nginx_play_c4096.bin": (2000, 671),
        "nginx_play_extts_c1000.bin": (16777933, 16777977),
    }[name]
    assert (first_v.ts, first_a.ts) == expected  # as recorded: keeps the reference honest

    # the recording stops mid-message: the parser knows
    assert parser.at_message_boundary() == all(m.end >= 0 for m in ref.messages)


def test_media_timestamps_are_monotonic_per_type(recording: tuple[str, bytes, Reference]) -> None:
    _, _, ref = recording
    for mtype in (AUDIO, VIDEO):
        ts = [m.ts for m in ref.complete if m.mtype == mtype][1:]  # [0] may be a ts-0 header
        assert ts == sorted(ts) and len(ts) > 20
        # ~23 ms audio frames, ~33 ms video frames: real deltas, not garbage
        assert max(b - a for a, b in itertools.pairwise(ts)) < 200


def test_last_media_ts_equals_reference(recording: tuple[str, bytes, Reference]) -> None:
    name, stream, ref = recording
    parser = ChunkParser()
    parser.feed_data(stream)
    last = [m for m in ref.messages if m.mtype in (AUDIO, VIDEO)][-1]
    assert parser.media_ts_ms == last.ts
    if "extts" in name:
        assert parser.media_ts_ms > 0xFFFFFF
        assert 16_778_000 < parser.media_ts_ms < 16_790_000  # publisher's -output_ts_offset


# --- extended timestamps and chunking from our own encoder -----------------------------


@pytest.mark.parametrize("repeat_ext_on_type3", [True, False])
def test_extended_timestamp_on_long_messages(repeat_ext_on_type3: bool) -> None:
    payload = amf.encode("onStatus", 0, None, {"blob": "x" * 5000})
    ts = 0x1234567  # > 0xFFFFFF
    wire = encode_message(5, COMMAND_AMF0, 1, payload, 128, ts=ts)
    if not repeat_ext_on_type3:  # the old reading of the spec: no ext on type 3
        wire = wire.replace(bytes((0xC5,)) + ts.to_bytes(4, "big"), bytes((0xC5,)))
    # then a type-3 new message: same length, type and ts delta
    wire += bytes((0xC5,)) + (ts.to_bytes(4, "big") if repeat_ext_on_type3 else b"")
    wire += b"\x00" * 0  # (no payload change: an identical second message follows)
    for off in range(0, len(payload), 128):
        if off:
            wire += bytes((0xC5,)) + (ts.to_bytes(4, "big") if repeat_ext_on_type3 else b"")
        wire += payload[off : off + 128]
    for step in (1, 3, 1000, len(wire)):
        rec = Recorder()
        for off in range(0, len(wire), step):
            rec.feed(wire[off : off + step])
        assert [(g.ts, g.payload) for g in rec.found] == [(ts, payload), (2 * ts, payload)]
        assert rec.parser.at_message_boundary()


def test_basic_header_forms() -> None:
    # csid 70 (2-byte form) and csid 400 (3-byte form), each a 1-chunk message
    body = amf.encode("_result", 1, None, 5)
    two = bytes((0x00, 70 - 64)) + (100).to_bytes(3, "big") + len(body).to_bytes(3, "big")
    two += bytes((COMMAND_AMF0,)) + (0).to_bytes(4, "little") + body
    three = bytes((0x01,)) + (400 - 64).to_bytes(2, "little") + (200).to_bytes(3, "big")
    three += len(body).to_bytes(3, "big") + bytes((COMMAND_AMF0,)) + (1).to_bytes(4, "little")
    three += body
    # a type-2 (delta only) header on csid 70, 2-byte form
    again = bytes((0x80, 70 - 64)) + (5).to_bytes(3, "big") + body
    wire = two + three + again
    for step in (1, 2, len(wire)):
        rec = Recorder()
        for off in range(0, len(wire), step):
            rec.feed(wire[off : off + step])
        assert [(g.msid, g.ts) for g in rec.got] == [(0, 100), (1, 200), (0, 105)]


# --- garbage in: a protocol error, never a crash ---------------------------------------


def test_type3_on_unknown_chunk_stream_is_a_protocol_error() -> None:
    with pytest.raises(RtmpProtocolError, match="type-3 chunk starts chunk stream 4"):
        ChunkParser().feed_data(bytes((0xC4,)) + b"\x00" * 10)


def test_unknown_message_type_is_a_protocol_error() -> None:
    wire = bytes((0x03,)) + bytes(3) + (4).to_bytes(3, "big") + bytes((99,)) + bytes(4) + bytes(4)
    with pytest.raises(RtmpProtocolError, match="unknown message type 99"):
        ChunkParser().feed_data(wire)


def test_chunk_size_zero_is_a_protocol_error() -> None:
    with pytest.raises(RtmpProtocolError, match="Chunk Size 0"):
        ChunkParser().feed_data(encode_message(2, 1, 0, bytes(4), 128))


def test_truncated_stream_is_not_at_a_message_boundary() -> None:
    stream = (DATA / RECORDINGS[0]).read_bytes()[HANDSHAKE:]
    ref = reference_parse(stream)
    cut = ref.complete[20].end - 5  # inside message 21's payload
    parser = ChunkParser()
    parser.feed_data(stream[:cut])
    assert parser.messages == 20
    assert not parser.at_message_boundary()


@pytest.mark.parametrize("seed", range(300))
def test_fuzz_only_protocol_errors(seed: int) -> None:
    rng = random.Random(seed)
    if seed % 3 == 0:
        data = rng.randbytes(rng.randint(1, 4000))  # pure garbage
    else:  # a real stream with some bytes flipped
        raw = bytearray((DATA / RECORDINGS[seed % 2]).read_bytes()[HANDSHAKE : HANDSHAKE + 30000])
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        data = bytes(raw)
    parser = ChunkParser()
    try:
        for off in range(0, len(data), 997):
            parser.feed_data(data[off : off + 997])
    except RtmpProtocolError:
        pass  # the only acceptable failure


# --- named states ----------------------------------------------------------------------


def test_states_follow_headers_and_payloads() -> None:
    body = amf.encode("onStatus", 0, None, {"code": "x" * 300})  # 3 chunks of 128
    wire = encode_message(5, COMMAND_AMF0, 1, body, 128)
    parser = ChunkParser()
    assert parser.state is READ_HEADER
    assert parser.feed_data(wire[:5]) == () and parser.carry == wire[:5]  # partial header
    assert parser.state is READ_HEADER and not parser.at_message_boundary()
    assert parser.feed_data(wire[5:20]) == ()
    assert parser.state is READ_PAYLOAD and parser.pending == 128 - (20 - 12)
    assert parser.carry == b"" and not parser.at_message_boundary()
    assert parser.feed_data(wire[20 : 12 + 128]) == ()
    assert parser.state is READ_HEADER and parser.pending == 0  # between two chunks
    assert parser.feed_data(wire[12 + 128 :]) == [Message(COMMAND_AMF0, 1, 0, body)]
    assert parser.state is READ_HEADER and parser.at_message_boundary()


def test_a_failed_parser_stays_failed() -> None:
    parser = ChunkParser()
    with pytest.raises(RtmpProtocolError, match="type-3 chunk starts"):
        parser.feed_data(bytes((0xC4,)) + bytes(10))
    assert parser.state is FAILED
    good = encode_message(5, COMMAND_AMF0, 1, amf.encode("onStatus", 0, None), 128)
    with pytest.raises(RtmpProtocolError, match="after a protocol error"):
        parser.feed_data(good)


def test_media_reads_find_nothing_and_allocate_nothing(
    recording: tuple[str, bytes, Reference],
) -> None:
    _, stream, ref = recording
    firsts = [next(m for m in ref.complete if is_first(m)) for is_first in
              (is_first_video, is_first_audio)]
    last_found = max(m.end for m in ref.complete if m.mtype in COLLECTED_TYPES or m in firsts)
    parser = ChunkParser()
    parser.feed_data(stream[:last_found])
    rest = [parser.feed_data(stream[off : off + 3000])
            for off in range(last_found, len(stream), 3000)]
    assert len(rest) > 10 and all(r is rest[0] for r in rest) and rest[0] == ()


# --- AMF0 in the recordings ----------------------------------------------------------


def test_amf0_decodes_nginx_replies(recording: tuple[str, bytes, Reference]) -> None:
    _, _, ref = recording
    commands = [amf.decode(m.payload) for m in ref.complete if m.mtype == COMMAND_AMF0]
    by_name = {c[0]: c for c in commands}
    assert commands[0][:2] == ["_result", 1.0]
    assert commands[0][3]["code"] == "NetConnection.Connect.Success"
    assert commands[1] == ["_result", 2.0, None, 1.0]  # createStream -> stream id 1
    assert by_name["onStatus"][3]["code"] == "NetStream.Play.Start"
    meta = [amf.decode(m.payload) for m in ref.complete if m.mtype == 18]
    on_meta = next(d for d in meta if d[0] == "onMetaData")
    assert on_meta[1]["width"] == 640.0 and on_meta[1]["height"] == 360.0


def test_commands_interleaved_on_many_chunk_streams_are_capped() -> None:
    """Issue 24: each of 65,536 chunk streams could collect a 1 MiB command (64 GiB a
    viewer). Each stream here starts one (its first 128-byte chunk) and goes quiet."""
    mlen = MAX_COLLECTED
    wire = b"".join(bytes((csid,)) + bytes(3) + mlen.to_bytes(3, "big") + bytes((COMMAND_AMF0,))
                    + bytes(4) + bytes(128) for csid in range(3, 3 + MAX_COLLECTING // mlen + 1))
    parser = ChunkParser()
    with pytest.raises(RtmpProtocolError, match="collected at once"):
        parser.feed_data(wire)
    # and chunk stream ids from 64 up: a few dozen at most
    many = b"".join(bytes((0x01,)) + (csid - 64).to_bytes(2, "little") + bytes(3)
                    + (4).to_bytes(3, "big") + bytes((COMMAND_AMF0,)) + bytes(4)
                    + amf.encode(1)[:4].ljust(4, b"\x00")
                    for csid in range(64, 64 + MAX_HIGH_STREAMS + 1))
    with pytest.raises(RtmpProtocolError, match="chunk streams of id 64"):
        ChunkParser().feed_data(many)
