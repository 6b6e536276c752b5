"""The controller's row handling on a thread of its own, fed by a queue.

In a single-process run the viewers' event loop used to call the sink itself:
every batch written to the CSV and counted into the live figures on the
loop's own time (about 6% of a core at 10,000 viewers, time the viewers'
reads wait behind). Here the loop only puts the batch on a queue; one
thread takes batches off in order and calls the sink.

Guarantees kept: one consumer, so rows reach the log in the order they were
put; the writer still flushes at most a second late (its own timer); and
`close` (also on Ctrl-C, from a `finally`) drains the queue before it
returns, so nothing handed over is lost. A sink that raises stops the
thread; the error is raised again in the loop's thread by the next `put`
or by `close`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from types import TracebackType

from streamperf.load.messages import Sink
from streamperf.results.eventlog.schema import Event

_DONE: list[Event] = []  # the sentinel: no batch is this very list


class RowThread:
    """`put(rows)` from any thread; `sink(rows)` runs on this thread, in order."""

    def __init__(self, sink: Sink, name: str = "controller-rows") -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, rows: list[Event]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(rows)

    def _run(self) -> None:
        while True:
            rows = self._queue.get()
            if rows is _DONE:
                return
            if self._error is not None:
                continue  # failed: take the rest off the queue, write nothing more
            try:
                self._sink(rows)
            except BaseException as exc:  # raised again in the caller's thread
                self._error = exc

    def close(self) -> None:
        """Every batch put so far handed to the sink, then the thread ended."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> RowThread:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        # The block's own error wins; the rows are drained all the same.
        with contextlib.suppress(Exception):
            self.close()
