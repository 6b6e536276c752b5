"""The buffer a player holds: media downloaded ahead of its playhead.

Fed whole segments as they finish (a player appends a segment once it has
it), the playhead starts with the first one, advances in real time, stops
when the buffer is empty and goes on once a segment is in again: the same
player as results/analysis/playhead.py replays from the rows afterwards,
kept here live because the ABR rules read it before each request.
"""

from __future__ import annotations


class PlayBuffer:
    __slots__ = ("_at", "_pos", "ahead_end", "playing", "stalls")

    def __init__(self) -> None:
        self.ahead_end = 0.0  # seconds of media appended
        self._pos = 0.0  # playhead, seconds of media, at loop time _at
        self._at: float | None = None  # None: not started
        self.playing = False
        self.stalls = 0

    def _advance(self, now: float) -> None:
        if self._at is None:
            return
        if self.playing:
            pos = self._pos + (now - self._at)
            if pos >= self.ahead_end:
                pos = self.ahead_end
                self.playing = False
                self.stalls += 1
            self._pos = pos
        self._at = now

    def append(self, now: float, media_s: float) -> None:
        """A segment of `media_s` seconds is in (loop time `now`)."""
        self._advance(now)
        self.ahead_end += media_s
        if self._at is None:
            self._at = now
        self.playing = True

    def level(self, now: float) -> float:
        """Seconds of media ahead of the playhead at `now`."""
        self._advance(now)
        return self.ahead_end - self._pos if self._at is not None else 0.0

    @property
    def started(self) -> bool:
        return self._at is not None


__all__ = ["PlayBuffer"]
