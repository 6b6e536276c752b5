"""Record what nginx-rtmp's HLS writes: live playlists and segment heads (run by hand, once).

    .venv/bin/python tests/data/record_hls.py tests/data

Starts a private nginx-rtmp (streamperf.media.server, HLS: 2 s fragments,
10 s playlist, `hls_fragment_naming system`) and publishes the cached
synthetic clip (H.264 + AAC, 2 s GOP) twice:
- stream "test" from timestamp 0: the playlist once it has two segments
  (nginx_live_early.m3u8) and once the 10 s window is full
  (nginx_live.m3u8); the first 8 KiB of its first segment
  (nginx_first_segment_head.ts) and of its fourth (nginx_segment_head.ts);
- stream "wrap" with timestamps shifted to 95438 s (`-output_ts_offset`), so
  the 33-bit TS PTS (= FLV ts + 0.7 s, in 90 kHz) wraps 5 s in: the heads of
  the segment in which it wraps and of the one after
  (nginx_wrap_before_head.ts, nginx_wrap_after_head.ts).
Only heads are kept: the viewer parses no more of a segment than that.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from streamperf.media.publisher import Publisher, default_cache_dir, synthetic_clip
from streamperf.media.server import MediaServer

HEAD = 8192
WRAP_OFFSET_S = 95438


def playlist(server: MediaServer, name: str) -> str:
    with urllib.request.urlopen(server.hls_url(name), timeout=5) as resp:
        return str(resp.read().decode())


def segments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def wait_segments(server: MediaServer, name: str, n: int, timeout: float = 40) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = playlist(server, name)
            if len(segments(text)) >= n:
                return text
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name}: no {n} segments in {timeout}s")


def head(server: MediaServer, seg: str) -> bytes:
    return (server.hls_dir / seg).read_bytes()[:HEAD]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    out: Path = args.out
    clip = synthetic_clip(default_cache_dir())
    with tempfile.TemporaryDirectory() as tmp, MediaServer(Path(tmp) / "srv") as server:
        pub = Publisher(clip, server.ingest_url("test"), Path(tmp) / "pub")
        wrap_log = open(Path(tmp) / "wrap.log", "wb")  # noqa: SIM115
        wrap = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-nostdin", "-re", "-i", str(clip), "-c", "copy",
             "-output_ts_offset", str(WRAP_OFFSET_S), "-f", "flv", server.ingest_url("wrap")],
            stdin=subprocess.DEVNULL, stdout=wrap_log, stderr=wrap_log,
        )  # fmt: skip
        try:
            pub.start(ready=lambda: server.is_publishing("test"))
            early = wait_segments(server, "test", 2)
            (out / "nginx_live_early.m3u8").write_text(early)
            (out / "nginx_first_segment_head.ts").write_bytes(head(server, segments(early)[0]))
            full = wait_segments(server, "test", 5)
            (out / "nginx_live.m3u8").write_text(full)
            (out / "nginx_segment_head.ts").write_bytes(head(server, segments(full)[3]))
            text = wait_segments(server, "wrap", 5)
            names = segments(text)
            # the wrap (ts 95443.017 s) is in the segment starting at ts ~95442 s: the 3rd
            (out / "nginx_wrap_before_head.ts").write_bytes(head(server, names[2]))
            (out / "nginx_wrap_after_head.ts").write_bytes(head(server, names[3]))
        finally:
            wrap.terminate()
            wrap.wait(5)
            wrap_log.close()
            pub.stop()
    for f in sorted(out.glob("nginx_*.m3u8")) + sorted(out.glob("nginx_*_head.ts")):
        print(f, f.stat().st_size)
    if shutil.which("ffprobe"):
        print("check with: ffprobe -v error -show_entries packet=stream_index,pts,pos -of csv FILE")


if __name__ == "__main__":
    main()
