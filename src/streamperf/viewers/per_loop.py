"""One object per event loop (a read buffer, a request watch), made on first use.

Thousands of viewers share one loop; what they can share lives here once per
loop, and goes when the loop does (the loop is only weakly referenced).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """`make(loop)` once per event loop; `get(loop)` returns that loop's one."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
        self._made = weakref.WeakKeyDictionary()

    def get(self, loop: asyncio.AbstractEventLoop) -> T:
        got = self._made.get(loop)
        if got is None:
            got = self._made[loop] = self._make(loop)
        return got


__all__ = ["PerLoop"]
