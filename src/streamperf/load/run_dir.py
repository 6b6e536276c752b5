"""Run directories: `reports/<stamp>-<name>/`, and `reports/latest` pointing at the newest."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path


def new_run_dir(report_dir: Path, name: str, *, latest: bool = True) -> Path:
    """reports/<stamp>-<name>/ plus (unless `latest` is false) a `latest` symlink to it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "run"
    report_dir.mkdir(parents=True, exist_ok=True)
    run_dir = report_dir / f"{stamp}-{slug}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = report_dir / f"{stamp}-{slug}-{n}"
    run_dir.mkdir()
    if not latest:
        return run_dir
    tmp = report_dir / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, report_dir / "latest")  # atomic: readers never see a missing link
    return run_dir
