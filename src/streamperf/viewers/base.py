"""What every viewer (RTMP, HLS, ...) exposes to the shard that runs it.

A viewer does no timing of its own beyond stamping first frames and
errors: the shard's sampler reads `bytes_received` and `media_ts_ms` of
all viewers once a second, which is far cheaper than a timer per viewer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# What a viewer reports: on_event(kind, name, value, detail) with one of these
# kinds. They are the viewer's words; the event log (results/eventlog/schema.py) takes
# them as its row kinds, so viewers never import what reads their output.
FIRST_VIDEO = "first_video"  # first video frame; value=media ts (s)
FIRST_AUDIO = "first_audio"  # first audio frame; value=media ts (s)
VIEWER_ERROR = "error"  # name=connect|disconnect|protocol|timeout, detail=message
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
