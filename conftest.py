"""Repository-wide test set-up: marks by directory.

Tests under tests/integration are `integration`; those under tests/perf are
`realtime` (each scenario is a run judged in real time), marked here rather than in
the file because teams copy tests/perf/test_live_stream.py into projects of their
own, where the marker is not registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent / "tests"
BY_DIRECTORY = {TESTS / "integration": pytest.mark.integration,
                TESTS / "perf": pytest.mark.realtime}


# First: `-m` deselects in a hook of its own, which must see these marks.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parents = Path(item.fspath).parents
        for directory, mark in BY_DIRECTORY.items():
            if directory in parents:
                item.add_marker(mark)
