"""Perf runs on a stream named by URL (--play-url, --ingest-url): no platform API at all."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.nested_pytest import run_perf, summaries


def run_direct(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                    list[dict[str, Any]]]:
    """The perf scenarios on the stream the URLs in `args` name, and their summaries.
    No calibration: no test of these reads the lone viewer's latency."""
    reports = tmp_path / "reports"
    proc = run_perf(reports, "-q", "--calibration", "0", *args)
    return proc, summaries(reports)


def passed_with_media(proc: subprocess.CompletedProcess[str], summaries: list[dict[str, Any]],
                      runs: int, users: int) -> None:
    """`runs` runs passed, every one of the `users` viewers of each got media, and no
    platform API was called."""
    out = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, out
    assert len(summaries) == runs, out
    for s in summaries:
        m = s["metrics"]
        assert (m["viewers_planned"], m["viewers_with_media"]) == (users, users), out
        assert m["api_calls"] == 0, out  # no platform API: no API rows at all
