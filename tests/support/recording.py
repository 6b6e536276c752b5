"""What the recording scripts in tests/data share: a test pattern ffmpeg publishes, and a
plain socket read for a while (the recorder parses nothing, so a recording does not
inherit a viewer's bugs)."""

from __future__ import annotations

import socket
import time


def pattern_publisher(url: str, video_kbps: int, ts_offset_s: float = 0.0) -> list[str]:
    """ffmpeg publishing testsrc2 + a 440 Hz sine to `url` in real time: H.264 at
    `video_kbps` (GOP 2 s at 30 fps) + AAC 64 kbit/s, timestamps shifted by `ts_offset_s`."""
    return [
        *("ffmpeg", "-loglevel", "error", "-re"),
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
        *("-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{video_kbps}k", "-g", "60"),
        *("-c:a", "aac", "-b:a", "64k"),
        *("-output_ts_offset", str(ts_offset_s)),
        *("-f", "flv", url),
    ]


def read_for(sock: socket.socket, seconds: float, got: bytearray | None = None) -> bytes:
    """`got` and all `sock` receives within `seconds` (less if the server closes); the
    socket is closed after."""
    got = bytearray() if got is None else got
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        got += data
    sock.close()
    return bytes(got)
