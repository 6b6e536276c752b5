"""Fixtures tests in more than one directory use; the helpers behind them are in tests/support."""

from __future__ import annotations

import pytest

# Before any of them is imported: a helper's failed assert shows its values, as a test's does.
pytest.register_assert_rewrite("tests.support")

from tests.support.loops import LOOPS, RunLoop, runner_on  # noqa: E402


@pytest.fixture(params=LOOPS)
def run_loop(request: pytest.FixtureRequest) -> RunLoop:
    """Runs a coroutine on a new loop: the test runs once per kind the viewers use."""
    return runner_on(request.param)
