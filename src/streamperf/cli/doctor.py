"""`streamperf doctor`: what a local run needs, one line each."""

from __future__ import annotations

import argparse
import shutil

TOOLS = {
    "ffmpeg": "publisher (Debian package ffmpeg)",
    "ffprobe": "source probing (Debian package ffmpeg)",
    "nginx": "bundled media server (Debian packages nginx libnginx-mod-rtmp)",
    "rtmpdump": "benchmark comparison only (Debian package rtmpdump)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("doctor", help="check the tools a local run needs")


def run(args: argparse.Namespace) -> int:
    return doctor()


def doctor() -> int:
    """Say what is missing for a local run, one line each."""
    from streamperf.media.server import MediaServerError, find_rtmp_module

    bad = 0
    for tool, why in TOOLS.items():
        path = shutil.which(tool)
        print(f"{'ok     ' if path else 'MISSING'} {tool:<9} {path or why}")
        bad += path is None and tool != "rtmpdump"
    try:
        print(f"ok      {'nginx-rtmp':<9} {find_rtmp_module()}")
    except MediaServerError as exc:
        print(f"MISSING {'nginx-rtmp':<9} {exc}")
        bad += 1
    return 1 if bad else 0
