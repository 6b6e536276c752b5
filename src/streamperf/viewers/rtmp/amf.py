"""AMF0 encode/decode for RTMP command and data messages.

Only command messages go through here (connect, createStream, play,
_result, onStatus, ...): they are small and rare, so clarity wins over
speed. Media payloads never touch this module.
"""

from __future__ import annotations

import struct
from typing import Any

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
REFERENCE, ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE = 0x07, 0x08, 0x09, 0x0A, 0x0B
LONG_STRING, UNSUPPORTED, XML_DOCUMENT, TYPED_OBJECT = 0x0C, 0x0D, 0x0F, 0x10

_MAX_DEPTH = 32  # garbage can nest objects without end; stop long before recursion limits


class AmfError(ValueError):
    """Malformed or unsupported AMF0 data."""


class Undefined:
    """AMF0 `undefined` (distinct from `null`, which decodes to None)."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"


UNDEFINED_VALUE = Undefined()


class EcmaArray(dict[str, Any]):
    """An AMF0 ECMA array (associative array); encodes back as one, not as an object."""


# --- encoding ---------------------------------------------------------------


def encode(*values: Any) -> bytes:
    """AMF0-encode values one after another (a command: name, txn id, args...)."""
    out = bytearray()
    for v in values:
        _encode_value(out, v)
    return bytes(out)


def _encode_key(out: bytearray, key: str) -> None:
    raw = key.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise AmfError(f"AMF0 object key too long ({len(raw)} bytes)")
    out += struct.pack(">H", len(raw))
    out += raw


def _encode_pairs(out: bytearray, mapping: dict[str, Any]) -> None:
    for k, v in mapping.items():
        _encode_key(out, str(k))
        _encode_value(out, v)
    out += b"\x00\x00\x09"


def _encode_value(out: bytearray, v: Any) -> None:
    # bool before int: bool is an int subclass
    if v is None:
        out.append(NULL)
    elif v is UNDEFINED_VALUE:
        out.append(UNDEFINED)
    elif isinstance(v, bool):
        out += bytes((BOOLEAN, 1 if v else 0))
    elif isinstance(v, int | float):
        out.append(NUMBER)
        out += struct.pack(">d", float(v))
    elif isinstance(v, str):
        raw = v.encode("utf-8")
        if len(raw) <= 0xFFFF:
            out.append(STRING)
            out += struct.pack(">H", len(raw))
        else:
            out.append(LONG_STRING)
            out += struct.pack(">I", len(raw))
        out += raw
    elif isinstance(v, EcmaArray):
        out.append(ECMA_ARRAY)
        out += struct.pack(">I", len(v))
        _encode_pairs(out, v)
    elif isinstance(v, dict):
        out.append(OBJECT)
        _encode_pairs(out, v)
    elif isinstance(v, list | tuple):
        out.append(STRICT_ARRAY)
        out += struct.pack(">I", len(v))
        for item in v:
            _encode_value(out, item)
    else:
        raise AmfError(f"cannot AMF0-encode {type(v).__name__}")


# --- decoding ---------------------------------------------------------------


def decode(data: bytes | bytearray | memoryview) -> list[Any]:
    """Decode all AMF0 values in `data`; AmfError if anything is malformed."""
    buf = bytes(data)
    values: list[Any] = []
    pos = 0
    while pos < len(buf):
        value, pos = _decode_value(buf, pos, 0)
        values.append(value)
    return values


def _need(buf: bytes, pos: int, n: int) -> None:
    if pos + n > len(buf):
        raise AmfError(f"AMF0 data truncated at byte {pos} (need {n} more)")


def _decode_str(buf: bytes, pos: int, wide: bool) -> tuple[str, int]:
    width = 4 if wide else 2
    _need(buf, pos, width)
    n = int.from_bytes(buf[pos : pos + width], "big")
    pos += width
    _need(buf, pos, n)
    return buf[pos : pos + n].decode("utf-8", "replace"), pos + n


def _decode_pairs(buf: bytes, pos: int, depth: int, into: dict[str, Any]) -> int:
    while True:
        key, pos = _decode_str(buf, pos, False)
        if key == "":
            _need(buf, pos, 1)
            if buf[pos] == OBJECT_END:
                return pos + 1
        into[key], pos = _decode_value(buf, pos, depth + 1)


def _decode_value(buf: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise AmfError("AMF0 data nested too deeply")
    _need(buf, pos, 1)
    marker = buf[pos]
    pos += 1
    if marker == NUMBER:
        _need(buf, pos, 8)
        return struct.unpack_from(">d", buf, pos)[0], pos + 8
    if marker == BOOLEAN:
        _need(buf, pos, 1)
        return buf[pos] != 0, pos + 1
    if marker == STRING:
        return _decode_str(buf, pos, False)
    if marker == LONG_STRING or marker == XML_DOCUMENT:
        return _decode_str(buf, pos, True)
    if marker == NULL:
        return None, pos
    if marker == UNDEFINED or marker == UNSUPPORTED:
        return UNDEFINED_VALUE, pos
    if marker == OBJECT:
        obj: dict[str, Any] = {}
        return obj, _decode_pairs(buf, pos, depth, obj)
    if marker == TYPED_OBJECT:
        _cls, pos = _decode_str(buf, pos, False)
        tobj: dict[str, Any] = {}
        return tobj, _decode_pairs(buf, pos, depth, tobj)
    if marker == ECMA_ARRAY:
        _need(buf, pos, 4)  # the count is a hint only; the end marker ends it
        arr = EcmaArray()
        return arr, _decode_pairs(buf, pos + 4, depth, arr)
    if marker == STRICT_ARRAY:
        _need(buf, pos, 4)
        count = int.from_bytes(buf[pos : pos + 4], "big")
        pos += 4
        if count > len(buf) - pos:  # each item takes at least one byte
            raise AmfError(f"AMF0 strict array of {count} items in {len(buf) - pos} bytes")
        items = []
        for _ in range(count):
            item, pos = _decode_value(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if marker == DATE:
        _need(buf, pos, 10)
        return struct.unpack_from(">d", buf, pos)[0], pos + 10  # ms since epoch; tz ignored
    if marker == REFERENCE:
        _need(buf, pos, 2)
        raise AmfError("AMF0 object references are not supported")
    raise AmfError(f"unknown AMF0 marker 0x{marker:02x} at byte {pos - 1}")
