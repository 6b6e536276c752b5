"""AMF0, the encoding of RTMP commands: round trips, known bytes, and
malformed input that must end in AmfError, never another exception."""

from __future__ import annotations

import contextlib
import random

import pytest

from streamperf.viewers.rtmp import amf


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1.5,
        1e300,
        True,
        False,
        None,
        "",
        "play",
        "ü€𝄞",
        "x" * 70000,  # long string
        {"app": "live", "n": 3.0, "nested": {"a": [1.0, "b", None]}},
        [],
        [1.0, [2.0, {"k": False}]],
        amf.EcmaArray(duration=0.0, width=640.0),
        amf.UNDEFINED_VALUE,
    ],
)
def test_amf0_round_trip(value: object) -> None:
    assert amf.decode(amf.encode(value)) == [value]
    assert amf.decode(amf.encode("cmd", 3, value, None)) == ["cmd", 3.0, value, None]


def test_amf0_known_bytes() -> None:
    assert amf.encode("a", 1, None, True) == (
        b"\x02\x00\x01a" + b"\x00?\xf0\x00\x00\x00\x00\x00\x00" + b"\x05" + b"\x01\x01"
    )
    assert amf.encode({"k": 2}) == b"\x03\x00\x01k\x00@\x00\x00\x00\x00\x00\x00\x00\x00\x00\x09"


@pytest.mark.parametrize(
    "data",
    [
        b"\x02\x00\x05ab",
        b"\x00\x00",
        b"\x03\x00\x01k",
        b"\x0a\xff\xff\xff\xff",
        b"\x42",
        b"\x07\x00",
    ],
)
def test_amf0_malformed_raises_amf_error(data: bytes) -> None:
    with pytest.raises(amf.AmfError):
        amf.decode(data)


@pytest.mark.parametrize("seed", range(200))
def test_amf0_fuzz_only_amf_errors(seed: int) -> None:
    rng = random.Random(seed)
    good = amf.encode("_result", 1, {"level": "status", "code": "x", "n": [1.0, "y"]}, None)
    data = bytearray(good)
    for _ in range(rng.randint(1, 5)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    with contextlib.suppress(amf.AmfError):
        amf.decode(bytes(data[: rng.randint(0, len(data))]))
