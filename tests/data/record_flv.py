"""Record what node-media-server sends to an HTTP-FLV player, byte for byte (run by hand, once).

    .venv/bin/python tests/data/record_flv.py tests/data/nms_play_flv_http.bin
    .venv/bin/python tests/data/record_flv.py tests/data/nms_play_flv_extts_http.bin \
        --ts-offset 16776 --seconds 1.5

Starts a private node-media-server (tests/support/node_media_server.py; run
scripts/setup.sh first) and an ffmpeg publisher (testsrc2 + sine, H.264
600 kbit/s + AAC, GOP 2 s) on loopback, then sends a plain `GET
/live/rec.flv` on a socket and writes every byte of the response: status
line, headers and the chunked body as the server framed it. The client
parses nothing, so the recording does not inherit the viewer's bugs.
`--ts-offset` shifts the publisher's timestamps (seconds); 16776 puts the
stream across 0xFFFFFF ms, so the tags use the extended timestamp byte.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support.node_media_server import NodeMediaServer  # noqa: E402
from tests.support.processes import terminate  # noqa: E402
from tests.support.recording import pattern_publisher, read_for  # noqa: E402


def record(host: str, port: int, path: str, seconds: float) -> bytes:
    sock = socket.create_connection((host, port))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    sock.sendall(request.encode())
    return read_for(sock, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--ts-offset", type=float, default=0.0, help="publisher ts offset, s")
    ap.add_argument("--join-after", type=float, default=1.5, help="s after publish start")
    ap.add_argument("--seconds", type=float, default=2.5, help="how long to record")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="record-flv-") as tmp, \
            NodeMediaServer.running(Path(tmp)) as nms:
        urls = nms.urls("rec")
        ffmpeg = subprocess.Popen(pattern_publisher(urls.ingest, 600, args.ts_offset))
        try:
            time.sleep(args.join_after)
            data = record(nms.host, nms.http_port, "/live/rec.flv", args.seconds)
        finally:
            terminate(ffmpeg)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes")


if __name__ == "__main__":
    main()
