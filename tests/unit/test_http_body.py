"""HTTP response head and body framings on real node-media-server bytes and on hand-made ones."""

from __future__ import annotations

import random

import pytest

from streamperf.viewers.http.body import (
    DONE,
    ChunkedBody,
    HttpProtocolError,
    LengthBody,
    body_framing,
    parse_response_head,
)
from tests.support.flv_recordings import RECORDINGS, dechunk, split_response


class Collect:
    """A sink keeping the body bytes it is handed (and returning nothing found)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def __call__(self, buf: bytearray, start: int, end: int) -> tuple[()]:
        assert 0 <= start <= end <= len(buf)
        self.data += buf[start:end]
        return ()


def feed_split(framing: ChunkedBody | LengthBody, data: bytes, sizes: list[int]) -> None:
    pos = i = 0
    while pos < len(data):
        piece = data[pos : pos + sizes[i % len(sizes)]]
        framing.feed(bytearray(b"\xee\xee" + piece), 2, 2 + len(piece))
        pos += len(piece)
        i += 1


def test_nms_head_says_200_chunked() -> None:
    head = parse_response_head(split_response(RECORDINGS["nms"])[0])
    assert head.status == 200 and head.reason == "OK" and head.chunked
    assert head.content_length is None


@pytest.mark.parametrize("name", RECORDINGS)
@pytest.mark.parametrize("sizes", [[1], [2], [3], [5, 1, 9], [4096], [10**6]])
def test_chunked_body_hands_on_exactly_the_data(name: str, sizes: list[int]) -> None:
    body = split_response(RECORDINGS[name])[1]
    sink = Collect()
    framing = ChunkedBody(sink)
    feed_split(framing, body, sizes)
    assert bytes(sink.data) == dechunk(body) and len(sink.data) > 100_000
    assert not framing.done


@pytest.mark.parametrize("seed", range(10))
def test_chunked_body_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    body = split_response(RECORDINGS["nms"])[1]
    sink = Collect()
    feed_split(ChunkedBody(sink), body, [rng.randint(1, 2000) for _ in range(40)])
    assert bytes(sink.data) == dechunk(body)


def test_last_chunk_ends_the_body_and_extensions_are_ignored() -> None:
    sink = Collect()
    framing = ChunkedBody(sink)
    feed_split(framing, b"3;name=v\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nzz", [1])
    assert bytes(sink.data) == b"abc0123456789"
    assert framing.done and framing.state is DONE


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"zz\r\n", "bad chunk size"),
        (b"-5\r\n", "bad chunk size"),
        (b"3\r\nabcXY", "not followed by CRLF"),
        (b"1" * 2000, "chunk-size line"),
    ],
)
def test_bad_chunking_is_a_protocol_error(body: bytes, why: str) -> None:
    with pytest.raises(HttpProtocolError, match=why):
        ChunkedBody(Collect()).feed(bytearray(body), 0, len(body))


def test_content_length_body_ends_after_its_length() -> None:
    sink = Collect()
    head = parse_response_head(b"HTTP/1.0 200 OK\r\nContent-Length: 5")
    framing = body_framing(head, sink)
    assert isinstance(framing, LengthBody)
    feed_split(framing, b"abcdefgh", [3])
    assert bytes(sink.data) == b"abcde" and framing.done


def test_body_until_close_never_ends() -> None:
    sink = Collect()
    framing = body_framing(parse_response_head(b"HTTP/1.1 200 OK\r\nServer: x"), sink)
    framing.feed(bytearray(b"12345"), 1, 4)
    assert bytes(sink.data) == b"234" and not framing.done


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"ICY 200 OK", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 abc OK", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 \xb200 OK", "not an HTTP/1.x status line"),  # "²" passes isdigit()
        (b"HTTP/1.1 200 OK\r\nno colon here", "bad header line"),
    ],
)
def test_bad_heads_are_protocol_errors(head: bytes, why: str) -> None:
    with pytest.raises(HttpProtocolError, match=why):
        parse_response_head(head)


@pytest.mark.parametrize("length", [b"1e9", b"\xb9\xb2"])  # "¹²" is "¹²"
def test_bad_content_length_is_a_protocol_error(length: bytes) -> None:
    head = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: " + length)
    with pytest.raises(HttpProtocolError, match="Content-Length"):
        body_framing(head, Collect())
