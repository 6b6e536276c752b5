"""Recorded HTTP-FLV sessions (tests/data/record_flv.py) and a reference reading of them.

The reference is written for clarity, not speed, and shares no code with
the viewer: it de-chunks the whole body, then walks whole tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDINGS = {
    "nms": (DATA / "nms_play_flv_http.bin").read_bytes(),
    "nms_extts": (DATA / "nms_play_flv_extts_http.bin").read_bytes(),
}


@dataclass
class Tag:
    ttype: int
    ts: int
    size: int
    head: bytes  # first payload bytes
    complete: bool


def split_response(recording: bytes) -> tuple[bytes, bytes]:
    """(head without the blank line, body as framed)."""
    cut = recording.index(b"\r\n\r\n")
    return recording[:cut], recording[cut + 4 :]


def dechunk(body: bytes) -> bytes:
    """The data of a chunked body, up to where the recording stops."""
    out = bytearray()
    pos = 0
    while True:
        nl = body.find(b"\r\n", pos)
        if nl < 0:
            return bytes(out)
        size = int(body[pos:nl].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[nl + 2 : nl + 2 + size]
        pos = nl + 2 + size + 2
        if pos > len(body):
            return bytes(out)


def reference_tags(flv: bytes) -> list[Tag]:
    """Every tag whose 11-byte header is in `flv` (the last may be incomplete)."""
    assert flv[:3] == b"FLV"
    pos = int.from_bytes(flv[5:9], "big")
    tags = []
    while pos + 15 <= len(flv):
        h = flv[pos + 4 : pos + 15]
        size = int.from_bytes(h[1:4], "big")
        ts = int.from_bytes(h[4:7], "big") | (h[7] << 24)
        data = flv[pos + 15 : pos + 15 + size]
        tags.append(Tag(h[0] & 0x1F, ts, size, bytes(data[:2]), len(data) == size))
        pos += 15 + size
    return tags


def reference_firsts(tags: list[Tag]) -> list[tuple[bool, int]]:
    """(video?, ts) of the first complete video picture and audio frame, in stream order."""
    out: list[tuple[bool, int]] = []
    seen: set[int] = set()
    for t in tags:
        if not t.complete or t.ttype in seen or t.ttype not in (8, 9):
            continue
        if t.ttype == 9 and t.head[0] & 0x0F == 7 and t.head[1] != 1:
            continue  # AVC sequence header
        if t.ttype == 8 and t.head[0] >> 4 == 10 and t.head[1] != 1:
            continue  # AAC sequence header
        seen.add(t.ttype)
        out.append((t.ttype == 9, t.ts))
    return out
