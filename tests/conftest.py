"""Fixtures tests in more than one directory use; the helpers behind them are in tests/support."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from tests.support.loops import LOOPS, runner_on


@pytest.fixture(params=LOOPS)
def run_loop(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Runs a coroutine on a new loop: the test runs once per kind the viewers use."""
    return runner_on(request.param)
