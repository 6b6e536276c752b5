"""Running a coroutine on a fresh event loop of either kind the viewers run on.

Viewers run on stock asyncio and on uvloop (a dev dependency), which differ in
what they call fatal (an empty read buffer, a callback that raises), so the
viewer tests run on both: `run(coro, use_uvloop)`, or the `run_loop` fixture
(tests/conftest.py) that parametrizes a test over LOOPS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dev dependency
    uvloop = None

T = TypeVar("T")
RunLoop = Callable[[Coroutine[Any, Any, Any]], Any]  # the `run_loop` fixture's type

# The kinds of loop this machine can run; a test id names the one it ran on.
LOOPS: list[str] = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


def loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop if asked and installed, else stock asyncio's."""
    return uvloop.new_event_loop if use_uvloop and uvloop else asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T], use_uvloop: bool = False) -> T:
    """Run `coro` to its end on a new loop (closed after, its leftover tasks cancelled)."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        return runner.run(coro)


def runner_on(kind: str) -> Callable[[Coroutine[Any, Any, T]], T]:
    """`run` on the loop kind `kind` names (one of LOOPS): what the `run_loop` fixture gives."""
    if kind not in LOOPS:
        raise ValueError(f"no {kind!r} event loop here (have {', '.join(LOOPS)})")
    return lambda coro: run(coro, use_uvloop=kind == "uvloop")
