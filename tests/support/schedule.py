"""Actions at set times while a block runs: a fault in the middle of a load run."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def at_times(*actions: tuple[float, Callable[[], object]]) -> Iterator[None]:
    """Run each (seconds from now, action) on a timer thread while the block runs (a
    fault in the middle of a load run); none starts after it, and one under way ends."""
    timers = [threading.Timer(at, action) for at, action in actions]
    for timer in timers:
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
