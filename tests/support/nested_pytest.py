"""A pytest of a test's own, in a subprocess, and what its runs wrote.

The perf scenarios are judged as a user runs them (`pytest tests/perf ...`), and
set-up errors, signals and the CLI gate are only seen from outside, so many tests
start a pytest of their own: `run_pytest` waits for it (output captured as text),
`pytest_process` gives the running process for a test that signals it, and stops
it by PID when the block ends. `run_perf` is `run_pytest` on the perf scenarios
with a report dir; `run_dirs` and `summaries` read what the runs wrote there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from streamperf.media.processes import popen
from tests.support.processes import ctrl_c_reaches_it

ROOT = Path(__file__).resolve().parents[2]
# No cache: a nested run must not write .pytest_cache into the tree or a test's project.
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider")
Arg = str | os.PathLike[str]


def _environ(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """This process's environment with `env` over it (None: inherit it as it is)."""
    return None if env is None else {**os.environ, **env}


def run_pytest(*args: Arg, cwd: Path = ROOT, timeout: float = 300,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest ARGS` in `cwd` to its end (TimeoutExpired after `timeout` s, the process
    killed); `env` adds to or overrides this process's environment."""
    return subprocess.run([*PYTEST, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_environ(env))


@contextlib.contextmanager
def pytest_process(*args: Arg, cwd: Path = ROOT, env: Mapping[str, str] | None = None,
                   own_group: bool = False) -> Iterator[subprocess.Popen[str]]:
    """`pytest ARGS` running while the block runs: stdout and stderr in one pipe (text),
    SIGINT at its default (`ctrl_c_reaches_it`). With `own_group` it leads a process
    group of its own, which a test signals as a terminal's Ctrl-C does (os.killpg).
    If it still runs when the block ends it is killed by its PID (its group's, with
    `own_group`, so that nothing it started outlives the test) and reaped."""
    proc = popen(
        [*PYTEST, *map(str, args)], cwd=cwd, env=_environ(env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=own_group,
        preexec_fn=ctrl_c_reaches_it)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            if own_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.communicate()


def run_perf(reports: Path, *args: Arg, tests: Arg = "tests/perf", cwd: Path = ROOT,
             timeout: float = 300,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The perf scenarios (`tests`, in `cwd`) as a user runs them, their runs written
    under `reports`."""
    return run_pytest(tests, "--report-dir", reports, *args, cwd=cwd, timeout=timeout, env=env)


def run_dirs(reports: Path) -> list[Path]:
    """The run directories under a --report-dir, oldest first (`latest`, a link to one
    of them, left out)."""
    return sorted(d for d in reports.iterdir() if d.is_dir() and not d.is_symlink())


def summaries(reports: Path) -> list[dict[str, Any]]:
    """summary.json of each run under a --report-dir that wrote one, oldest first."""
    return [json.loads((d / "summary.json").read_text()) for d in run_dirs(reports)
            if (d / "summary.json").is_file()] if reports.is_dir() else []
