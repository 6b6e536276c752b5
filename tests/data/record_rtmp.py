"""Record what nginx-rtmp sends to a player, byte for byte (run by hand, once).

    .venv/bin/python tests/data/record_rtmp.py tests/data/nginx_play_c4096.bin
    .venv/bin/python tests/data/record_rtmp.py tests/data/nginx_play_extts_c1000.bin \
        --chunk-size 1000 --ts-offset 16776 --join-after 0.5 --seconds 2.5

Starts a private nginx-rtmp and an ffmpeg publisher (testsrc2 + sine, H.264
1 Mbit/s + AAC, GOP 2 s) on loopback, plays the stream with a deliberately
dumb client (plain socket, pipelined connect/createStream/play, never
parses a reply) and writes every byte the server sent, S0+S1+S2 included.
The client shares no code with the viewer under test except the AMF0
encoder, so the recording does not inherit the viewer's bugs.
`--ts-offset` shifts the publisher's timestamps (seconds); 16776 puts the
stream across 0xFFFFFF ms so the recording holds extended timestamps.
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

from tests.support.processes import terminate  # noqa: E402
from tests.support.recording import pattern_publisher, read_for  # noqa: E402

from streamperf.media.server import free_port  # noqa: E402
from streamperf.viewers.rtmp import amf  # noqa: E402

MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def chunked(csid: int, mtype: int, msid: int, payload: bytes, chunk: int = 128) -> bytes:
    out = bytearray((csid,)) + bytes(3) + len(payload).to_bytes(3, "big") + bytes((mtype,))
    out += msid.to_bytes(4, "little") + payload[:chunk]
    for off in range(chunk, len(payload), chunk):
        out += bytes((0xC0 | csid,)) + payload[off : off + chunk]
    return bytes(out)


def start_nginx(workdir: Path, port: int, chunk_size: int) -> subprocess.Popen[bytes]:
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"load_module {MODULE};\ndaemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size {chunk_size};\n"
        f"  application live {{ live on; }} }} }}\n"
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", f"{workdir}/"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nginx did not start")


def record(port: int, name: str, seconds: float) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"\x03" + bytes(1536))
    got = bytearray()
    while len(got) < 1 + 1536:
        got += sock.recv(65536)
    tc_url = f"rtmp://127.0.0.1:{port}/live"
    connect = amf.encode(
        "connect", 1, {"app": "live", "tcUrl": tc_url, "flashVer": "LNX 9,0,124,2"}
    )
    sock.sendall(
        bytes(got[1:1537])  # C2 = S1
        + chunked(3, 20, 0, connect)
        + chunked(3, 20, 0, amf.encode("createStream", 2, None))
        + chunked(8, 20, 1, amf.encode("play", 0, None, name, -2))  # nginx's stream id is 1
    )
    return read_for(sock, seconds, got)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--ts-offset", type=float, default=0.0, help="publisher ts offset, s")
    ap.add_argument("--join-after", type=float, default=1.5, help="s after publish start")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to record")
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="record-rtmp-") as tmp:
        nginx = start_nginx(Path(tmp), port, args.chunk_size)
        ffmpeg = None
        try:
            ffmpeg = subprocess.Popen(
                pattern_publisher(f"rtmp://127.0.0.1:{port}/live/rec", 1000, args.ts_offset))
            time.sleep(args.join_after)
            data = record(port, "rec", args.seconds)
        finally:
            terminate(ffmpeg, nginx)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes")


if __name__ == "__main__":
    main()
