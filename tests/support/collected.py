"""What a pytest session selected, as a test of the suite itself reads it.

A session run with STREAMPERF_TESTS_COLLECTED=PATH in its environment writes there
(tests/conftest.py) each selected test's node id, marks and fixtures: `collect` runs
`pytest --collect-only` so and reads them back (the terminal's listing shows neither
marks nor fixtures).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.nested_pytest import ROOT, run_pytest

ENV = "STREAMPERF_TESTS_COLLECTED"


@dataclass(frozen=True)
class Collected:
    nodeid: str
    marks: frozenset[str]
    fixtures: frozenset[str]


def write(items: Iterable[pytest.Item], path: Path) -> None:
    path.write_text(json.dumps([
        {"nodeid": item.nodeid, "marks": sorted({mark.name for mark in item.iter_markers()}),
         "fixtures": sorted(getattr(item, "fixturenames", ()))}  # a doctest has none
        for item in items]))


def collect(*args: str, cwd: Path = ROOT, timeout: float = 120) -> dict[str, Collected]:
    """The tests `pytest --collect-only ARGS` selects, by node id."""
    with tempfile.TemporaryDirectory(prefix="streamperf-collected-") as tmp:
        out = Path(tmp) / "collected.json"
        proc = run_pytest("--collect-only", "-q", *args, cwd=cwd, timeout=timeout,
                          env={ENV: str(out)})
        # 5: no test selected, which the caller may want to see as an empty set
        assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
        rows = json.loads(out.read_text())
    return {r["nodeid"]: Collected(r["nodeid"], frozenset(r["marks"]), frozenset(r["fixtures"]))
            for r in rows}
