"""Ending a child process streamperf started (ffmpeg, nginx): by its PID, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def terminate(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float,
              kill_wait: float = 5.0) -> None:
    """SIGTERM, `grace` seconds to exit, then SIGKILL; returns once it has gone (or
    `kill_wait` after the SIGKILL). A process already gone is left alone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_wait)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
