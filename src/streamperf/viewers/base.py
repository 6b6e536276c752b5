"""What every viewer (RTMP, HLS, ...) exposes to the shard that runs it, and the
stopping steps of the viewers that play over one socket (SocketViewerSteps).

A viewer does no timing of its own beyond stamping first frames and
errors: the shard's sampler reads `bytes_received` and `media_ts_ms` of
all viewers once a second, which is far cheaper than a timer per viewer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

# What a viewer reports: on_event(kind, name, value, detail) with one of these
# kinds. They are the viewer's words; the event log (results/eventlog/schema.py) takes
# them as its row kinds, so viewers never import what reads their output.
FIRST_VIDEO = "first_video"  # first video frame; value=media ts (s)
FIRST_AUDIO = "first_audio"  # first audio frame; value=media ts (s)
VIEWER_ERROR = "error"  # name=connect|disconnect|protocol|timeout, detail=message
CLOCK = "clock"  # the server clock a viewer reckons by: name=utc_timing|host, value=offset (s)
EventCallback = Callable[[str, str, float, str], None]


class Viewer(Protocol):
    protocol: str
    #: payload + framing bytes read from the socket so far
    bytes_received: int
    #: True once play has started and until the viewer stops
    playing: bool

    @property
    def media_ts_ms(self) -> int:
        """Newest media timestamp seen (ms), -1 before the first media message.

        Read-only: a viewer may serve it from its parser or playlist clock.
        """
        ...

    async def run(self, duration: float) -> None:
        """Connect, play for `duration` seconds, then close.

        Never raises for network or protocol trouble: such failures are
        reported through the viewer's EventCallback as VIEWER_ERROR rows
        (name connect|disconnect|protocol|timeout) and `run` returns.
        """
        ...

    def close(self) -> None:
        """Stop playing now (from another task); `run` then returns."""
        ...


class SocketViewerSteps:
    """How a viewer playing over one transport (RTMP, HTTP-FLV) ends, fails and stops.

    One copy of the steps, so both report an error row the same way and stop the
    same way. None is on a read path: they run once per viewer, at its end. What
    they rely on, set by the viewer's __init__ (and `_done` by its run):

    - `_closed`: True from the first stop on; a stopped viewer reports nothing more
    - `playing`, `error` (the first error's name), `on_event` (the EventCallback)
    - `_transport`: the connection, or None; aborted on stop (nothing is worth flushing)
    - `_done`: the future `run` is waiting on, or None; resolved on stop so run returns
    - `_error_url()`: the URL an error row names (the hook each viewer gives)
    - `parser`: the stream parser, whose newest media timestamp is the viewer's
    """

    _closed: bool
    playing: bool
    error: str | None
    on_event: EventCallback
    _transport: asyncio.Transport | None
    _done: asyncio.Future[None] | None
    parser: Any

    def _error_url(self) -> str:
        """The URL an error row starts with."""
        raise NotImplementedError

    @property
    def media_ts_ms(self) -> int:
        """The parser's newest media timestamp (ms), -1 before the first."""
        return int(self.parser.media_ts_ms)

    def close(self) -> None:
        """Stop playing now (from another task); `run` then returns."""
        self._shutdown()

    def _end(self) -> None:
        """The play time is up."""
        self._shutdown()

    def _fail(self, name: str, what: str) -> None:
        """Report error `name` (connect|disconnect|protocol|timeout) and stop; once only."""
        if self._closed:
            return
        if self.error is None:
            self.error = name
        self.on_event(VIEWER_ERROR, name, 0.0, f"{self._error_url()}: {what}")
        self._shutdown()

    def _shutdown(self) -> None:
        self._closed = True
        self.playing = False
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.abort()  # a viewer has nothing worth flushing
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)
