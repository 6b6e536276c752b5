"""Where viewer processes run: execnet gateway specs for this machine or a load host.

`--procs N|auto` gives local `popen` processes; a prepared load host gives
`ssh=` ones (hosts/remote.py). The load side (load/workers.py) starts a
shard on each spec and does not care which kind it is.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSpec:
    spec: str  # execnet gateway spec
    host: str  # the rows' host column for this shard, unique per shard
    clock_offset_s: float = 0.0  # worker clock - controller clock
    log_dir: str = ""  # where the worker writes its log (on its own host); "" for none


def local_workers(n: int, python: str | None = None) -> list[WorkerSpec]:
    """`--procs n`: n popen workers on this machine's python (the venv's by default)."""
    python = python or sys.executable
    return [WorkerSpec(f"popen//python={python}", f"proc-{i}") for i in range(n)]


def resolve_procs(procs: str | int) -> int:
    """`--procs`: "auto" is every core (os.cpu_count()), else a positive integer."""
    if isinstance(procs, str):
        text = procs.strip().lower()
        if text == "auto":
            return os.cpu_count() or 1
        try:
            procs = int(text)
        except ValueError:
            raise ValueError(f"--procs takes 'auto' or a positive integer, not {procs!r}") from None
    if isinstance(procs, bool) or procs < 1:
        raise ValueError(f"--procs must be >= 1, got {procs!r}")
    return procs
