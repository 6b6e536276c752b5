"""Real fragmented MP4 as the LL-HLS origin's pull writes it, for the origin's unit tests:
the origin's own ffmpeg command (llhls/feed.py pull_command) reading the synthetic clip
from `start_s` instead of nginx, its stdout kept as the bytes a pull would read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streamperf.media.publisher import input_arg, tool
from streamperf.platforms.reference.llhls.feed import pull_command


def pulled_fmp4(clip: Path, start_s: float = 4.0, seconds: float = 26.0) -> bytes:
    """`seconds` of `clip` from `start_s` through the pull's flags (fast, not in real time)."""
    cmd = pull_command(tool("ffmpeg"), input_arg(clip))
    at = cmd.index("-i")
    cmd[at:at] = ["-ss", str(start_s), "-t", str(seconds)]  # input options, before -i
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"ffmpeg pull of {clip}: {done.stderr.decode()[-500:]}")
    return done.stdout
