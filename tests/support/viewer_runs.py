"""A viewer under test run through a moment its server makes: here, stopping mid-play."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from streamperf.viewers.base import Viewer

V = TypeVar("V", bound=Viewer)


async def seconds_to_end_after_stop(viewer: Callable[[], V], run_s: float,
                                    playing: Callable[[V], bool], stop: Callable[[], object],
                                    after_s: float = 2.5) -> float:
    """Plays `viewer()` for up to `run_s`; `after_s` in, checks it is `playing`, stops its
    server (`stop`, in a thread: it blocks) and says how long the viewer took to end."""
    v = viewer()
    task = asyncio.ensure_future(v.run(run_s))
    await asyncio.sleep(after_s)
    assert playing(v), "the viewer was not playing before its server stopped"
    t0 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, stop)
    await task
    return time.monotonic() - t0
