"""Running figures for the progress line, fed by the same rows as the log.

Rows, not viewer objects, drive it so a remote shard's rows count the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from streamperf.results import events as ev
from streamperf.results.events import Event


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    target: int
    playing: int
    with_media: int
    lagged: int
    mean_kbps: float
    api_calls: int
    api_errors: int
    viewer_errors: int
    done: int


class LiveStats:
    def __init__(self, target: int, lag_threshold_s: float = 3.0) -> None:
        self.target = target
        self.lag_threshold_s = lag_threshold_s
        self.started = time.time()
        self._lock = threading.Lock()
        self._first: dict[str, tuple[float, float]] = {}  # viewer -> (t, media ts)
        self._playing: set[str] = set()
        self._lagged: set[str] = set()
        self._kbps_window: dict[int, tuple[float, int]] = {}  # second -> (bytes, samples)
        self.api_calls = self.api_errors = self.viewer_errors = self.done = 0

    def consume(self, rows: Iterable[Event]) -> None:
        with self._lock:
            for row in rows:
                self._one(row)

    def _one(self, row: Event) -> None:
        kind = row.event
        if kind == ev.SAMPLE_BYTES:
            sec = int(row.t)
            b, n = self._kbps_window.get(sec, (0.0, 0))
            self._kbps_window[sec] = (b + row.value, n + 1)
        elif kind == ev.SAMPLE_MEDIA_TS:
            first = self._first.get(row.viewer)
            if first is not None:
                drift = (row.t - first[0]) - (row.value - first[1])
                if drift > self.lag_threshold_s:
                    self._lagged.add(row.viewer)
                else:
                    self._lagged.discard(row.viewer)
        elif kind in (ev.FIRST_AUDIO, ev.FIRST_VIDEO):
            self._first.setdefault(row.viewer, (row.t, row.value))
        elif kind == ev.PLAY:
            self._playing.add(row.viewer)
        elif kind == ev.PLAY_END:
            self._playing.discard(row.viewer)
            self._lagged.discard(row.viewer)
            self.done += 1
        elif kind == ev.API:
            self.api_calls += 1
            self.api_errors += row.status != "200"
        elif kind == ev.VIEWER_ERROR:
            self.viewer_errors += 1
        elif kind == ev.FAN_ABORT:
            self.done += 1

    def snapshot(self, now: float | None = None) -> Progress:
        now = time.time() if now is None else now
        with self._lock:
            # The last complete second: the current one is still filling.
            last = int(now) - 1
            for sec in [s for s in self._kbps_window if s < last - 5]:
                del self._kbps_window[sec]
            b, n = self._kbps_window.get(last, (0.0, 0))
            return Progress(
                elapsed_s=now - self.started,
                target=self.target,
                playing=len(self._playing),
                with_media=len(self._first.keys() & self._playing),
                lagged=len(self._lagged),
                mean_kbps=b * 8 / 1000 / n if n else 0.0,
                api_calls=self.api_calls,
                api_errors=self.api_errors,
                viewer_errors=self.viewer_errors,
                done=self.done,
            )
