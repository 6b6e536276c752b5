"""Processes a test (or a recording script) starts: interrupted as a terminal would, and
stopped by PID."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def ctrl_c_reaches_it() -> None:
    """preexec_fn for a subprocess a test interrupts with SIGINT: SIGINT at its default,
    as for a terminal's foreground job. A job started in the background (a CI runner
    may) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def terminate(*procs: subprocess.Popen[Any] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM each process still running (by its PID: Popen keeps it) and reap it; one
    that outlives `timeout_s` is killed. None stands for a process never started."""
    for proc in procs:
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
