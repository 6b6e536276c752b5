"""The child processes streamperf starts (ffmpeg, nginx): started so that they end
with it (`popen`), ended by their PID, never by name (`terminate`)."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


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


_SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None


def dying_with_parent(cmd: list[str]) -> list[str]:
    """`cmd` run so that it gets SIGTERM when the thread that started it ends:
    util-linux's setpriv sets PR_SET_PDEATHSIG and execs `cmd` (the same PID). Where
    there is no setpriv, `cmd` as it is."""
    return [_SETPRIV, "--pdeathsig", "TERM", "--", *cmd] if _SETPRIV else list(cmd)


class _Spawner:
    """One daemon thread for the process's lifetime that every child is started from:
    the parent-death signal follows the thread that forked, so a child started from a
    worker thread would die with that thread; started here, it dies with the process
    (pytest killed with SIGKILL, an OOM kill, a CI runner's process-group kill)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0  # the process the thread runs in (a forked child has none)

    def run(self, job: Callable[[], T]) -> T:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._jobs = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._serve, name="spawner",
                                                daemon=True)
                self._thread.start()
        done: Future[T] = Future()
        self._jobs.put((job, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)


_SPAWNER = _Spawner()


def popen(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen of `cmd` that ends when this process does (dying_with_parent,
    started from the spawner thread); stop it by its PID as before (terminate)."""
    wrapped = dying_with_parent(cmd)
    return _SPAWNER.run(lambda: subprocess.Popen(wrapped, **kwargs))
