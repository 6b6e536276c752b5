"""FlvTagParser on real node-media-server bytes, whole and split every which way."""

from __future__ import annotations

import random

import pytest

from streamperf.viewers.flv.tags import FAILED, READ_TAG, SKIP_DATA, FlvProtocolError, FlvTagParser
from streamperf.viewers.formats.flv_media import FirstFrame
from tests.support.flv_recordings import (
    RECORDINGS,
    dechunk,
    reference_firsts,
    reference_tags,
    split_response,
)

BODIES = {name: dechunk(split_response(rec)[1]) for name, rec in RECORDINGS.items()}


def feed_in_pieces(data: bytes, sizes: list[int]) -> tuple[FlvTagParser, list[FirstFrame]]:
    p = FlvTagParser()
    found: list[FirstFrame] = []
    pos = 0
    i = 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        i += 1
        # a buffer with bytes around the fed range, as the viewer's shared buffer has
        buf = bytearray(b"\xee" * 5 + data[pos : pos + n] + b"\xee" * 5)
        found += p.feed(buf, 5, 5 + len(data[pos : pos + n]))
        pos += n
    return p, found


def expected(body: bytes) -> tuple[int, int, list[tuple[bool, int]]]:
    tags = reference_tags(body)
    media = [t.ts for t in tags if t.ttype in (8, 9)]
    return len(tags), media[-1], reference_firsts(tags)


@pytest.mark.parametrize("name", BODIES)
def test_whole_body_gives_the_reference_tags_timestamps_and_first_frames(name: str) -> None:
    body = BODIES[name]
    ntags, last_ts, firsts = expected(body)
    p = FlvTagParser()
    found = p.feed_data(body)
    assert [(f.video, f.ts) for f in found] == firsts
    assert len(firsts) == 2 and firsts[0][0]  # video first: NMS sends its GOP cache
    assert p.tags == ntags > 50
    assert p.media_ts_ms == last_ts
    assert p.first_video_ts == firsts[0][1] and p.first_audio_ts == firsts[1][1]


def test_extended_timestamp_byte_carries_time_past_0xffffff_ms() -> None:
    tags = reference_tags(BODIES["nms_extts"])
    assert min(t.ts for t in tags if t.ttype == 9) < 0xFFFFFF < max(t.ts for t in tags)
    p = FlvTagParser()
    p.feed_data(BODIES["nms_extts"])
    assert p.media_ts_ms > 0xFFFFFF


@pytest.mark.parametrize("name", BODIES)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 14, 15, 16, 100, 1460, 4096])
def test_fixed_splits_find_the_same_as_whole(name: str, size: int) -> None:
    body = BODIES[name]
    ntags, last_ts, firsts = expected(body)
    p, found = feed_in_pieces(body, [size])
    assert [(f.video, f.ts) for f in found] == firsts
    assert (p.tags, p.media_ts_ms) == (ntags, last_ts)


@pytest.mark.parametrize("seed", range(20))
def test_random_splits_find_the_same_as_whole(seed: int) -> None:
    rng = random.Random(seed)
    name = rng.choice(sorted(BODIES))
    body = BODIES[name]
    ntags, last_ts, firsts = expected(body)
    p, found = feed_in_pieces(body, [rng.randint(1, 3000) for _ in range(50)])
    assert [(f.video, f.ts) for f in found] == firsts
    assert (p.tags, p.media_ts_ms) == (ntags, last_ts)


def test_media_time_moves_tag_by_tag_and_states_follow_the_stream() -> None:
    body = BODIES["nms"]
    tags = reference_tags(body)
    p = FlvTagParser()
    p.feed_data(body[:13])  # file header + PreviousTagSize0
    assert p.state is READ_TAG and p.at_tag_boundary() and p.media_ts_ms == -1
    p.feed_data(body[13:20])  # part of the first tag header
    assert not p.at_tag_boundary() and p.partial == body[9:20]
    p.feed_data(body[20:40])  # header done, inside the script tag's data
    assert p.state is SKIP_DATA and p.pending == 24 + tags[0].size - 40
    pos = 40
    end = 13
    for t in tags[:30]:
        end += 11 + t.size + 4  # each piece ends with the tag's PreviousTagSize, as NMS writes
        p.feed_data(body[pos:end])
        pos = end
        if t.ttype in (8, 9):
            assert p.media_ts_ms == t.ts
        assert p.at_tag_boundary() and p.tags == tags.index(t) + 1


def test_file_header_with_extra_bytes_is_skipped() -> None:
    body = BODIES["nms"]
    longer = body[:5] + (13).to_bytes(4, "big") + b"XXXX" + body[9:]
    p = FlvTagParser()
    assert [(f.video, f.ts) for f in p.feed_data(longer)] == expected(body)[2]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", "not an FLV stream"),
        (b"FLV\x02\x05\x00\x00\x00\x09", "version 2"),
        (b"FLV\x01\x05\x00\x00\x00\x00", "header size 0"),
        (b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x07" + bytes(11), "PreviousTagSize 7"),
        (b"FLV\x01\x05\x00\x00\x00\x09" + bytes(4) + b"\x07" + bytes(10), "unknown tag type 7"),
    ],
)
def test_garbage_is_a_protocol_error_and_the_parser_stays_failed(data: bytes, why: str) -> None:
    p = FlvTagParser()
    with pytest.raises(FlvProtocolError, match=why):
        p.feed_data(data)
    assert p.state is FAILED
    with pytest.raises(FlvProtocolError, match="fed again"):
        p.feed_data(BODIES["nms"])


def test_a_wrong_previous_tag_size_mid_stream_is_caught() -> None:
    body = bytearray(BODIES["nms"])
    first = reference_tags(bytes(body))[0]
    at = 13 + 11 + first.size  # PreviousTagSize after the first tag
    body[at : at + 4] = (first.size + 12).to_bytes(4, "big")
    with pytest.raises(FlvProtocolError, match="PreviousTagSize"):
        FlvTagParser().feed_data(body)
