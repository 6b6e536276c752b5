"""What the RTMP viewer sends: a message cut into chunks (the parsing side is chunks.py)."""

from __future__ import annotations


def encode_message(
    csid: int, mtype: int, msid: int, payload: bytes, chunk_size: int, ts: int = 0
) -> bytes:
    """One message as chunks: a type-0 header, then type-3 headers every chunk_size bytes."""
    if not 2 <= csid <= 63:
        raise ValueError("client messages use one-byte chunk stream ids 2..63")
    ext = ts >= 0xFFFFFF
    header = bytearray((csid,))
    header += min(ts, 0xFFFFFF).to_bytes(3, "big")
    header += len(payload).to_bytes(3, "big")
    header.append(mtype)
    header += msid.to_bytes(4, "little")
    ext_bytes = ts.to_bytes(4, "big") if ext else b""
    header += ext_bytes
    out = bytearray(header)
    out += payload[:chunk_size]
    for off in range(chunk_size, len(payload), chunk_size):
        out.append(0xC0 | csid)
        out += ext_bytes
        out += payload[off : off + chunk_size]
    return bytes(out)
