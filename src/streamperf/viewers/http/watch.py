"""One watch per event loop over the HTTP requests in flight: deadline and no-data stall.

Why not a timer per request: one made and cancelled per request was a measurable
share of an HLS viewer's CPU (viewers/http/client.py, module doc). The watch looks at
the requests in flight of its loop every WATCH_TICK_S instead, and only while there
are any; a timeout is seen at most WATCH_TICK_S late.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Protocol

from streamperf.viewers.per_loop import PerLoop

WATCH_TICK_S = 0.05  # how often the requests in flight are checked for deadline and stall


class Watched(Protocol):
    """A connection with a request in flight (viewers/http/connection.py Connection)."""

    def check_time(self, now: float) -> None:
        """End its request if past its deadline or stalled; leave `conns` once it has none."""
        ...


class RequestWatch:
    """The requests in flight on one event loop, checked every WATCH_TICK_S while any is."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = weakref.ref(loop)  # weak: the watch must not keep its loop alive
        #: the connections with a request in flight (a connection adds and discards itself)
        self.conns: set[Watched] = set()
        self.armed = False

    def add(self, conn: Watched) -> None:
        self.conns.add(conn)
        if not self.armed:
            self._arm()

    def _arm(self) -> None:
        loop = self.loop()
        if loop is not None and not loop.is_closed():
            loop.call_later(WATCH_TICK_S, self._sweep)
            self.armed = True

    def _sweep(self) -> None:
        self.armed = False
        loop = self.loop()
        if loop is None:
            return
        now = loop.time()
        for conn in list(self.conns):  # a check may end a request (and leave the set)
            conn.check_time(now)
        if self.conns:
            self._arm()


watches = PerLoop(RequestWatch)  # one watch per event loop


__all__ = ["WATCH_TICK_S", "RequestWatch", "Watched", "watches"]
