"""Versions of what a run used, for summary.json: results name their tools."""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess

from streamperf import __version__


@functools.cache
def _tool_version(cmd: tuple[str, ...]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0] if out else None


def versions() -> dict[str, str | None]:
    return {
        "streamperf": __version__,
        "python": platform.python_version(),
        "ffmpeg": _tool_version(("ffmpeg", "-version")),
        "nginx": _tool_version(("nginx", "-v")),  # nginx prints its version on stderr
    }
