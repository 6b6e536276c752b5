"""Fixtures tests in more than one directory use (the helpers behind them are in
tests/support), and the session's list of tests for tests/unit/test_phases.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before any of them is imported: a helper's failed assert shows its values, as a test's does.
pytest.register_assert_rewrite("tests.support")

from tests.support import collected  # noqa: E402
from tests.support.loops import LOOPS, RunLoop, runner_on  # noqa: E402


@pytest.fixture(params=LOOPS)
def run_loop(request: pytest.FixtureRequest) -> RunLoop:
    """Runs a coroutine on a new loop: the test runs once per kind the viewers use."""
    return runner_on(request.param)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What this session selected, for a pytest --collect-only a test runs (collected.py)."""
    out = os.environ.get(collected.ENV)
    if out:
        collected.write(session.items, Path(out))
