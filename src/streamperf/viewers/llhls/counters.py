"""An LL-HLS viewer's request counts per sample window: the LLHLS rows (rows.py).

The viewer counts as it goes (an int per kind, a list of waits); the shard's
sampler takes the window's rows once a second (`take`), so nothing is written
per request: at 1,000 viewers and a part every 0.33 s that would be 6,000 rows/s.
"""

from __future__ import annotations

import collections

from streamperf.viewers.llhls.rows import BLOCKED, EARLY, LLHLS, REQUEST_KINDS, WAIT

#: one extra row: (event, name, value, detail)
Row = tuple[str, str, float, str]


class RequestCounts:
    __slots__ = ("_waits", "counts", "totals")

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys((*REQUEST_KINDS, BLOCKED, EARLY), 0)
        self.totals: dict[str, int] = dict(self.counts)  # for tests and benchmarks
        self._waits: list[int] = []

    def add(self, kind: str) -> None:
        self.counts[kind] += 1
        self.totals[kind] += 1

    def waited(self, seconds: float) -> None:
        self._waits.append(max(0, round(seconds * 1000)))

    def take(self) -> list[Row]:
        """The window's rows (names that moved), and a new window."""
        rows: list[Row] = [(LLHLS, k, float(n), "") for k, n in self.counts.items() if n]
        if self._waits:
            rows.append((LLHLS, WAIT, float(len(self._waits)), ",".join(map(str, self._waits))))
            self._waits = []
        for k in self.counts:
            self.counts[k] = 0
        return rows


STORM_EARLY, STORM_OF = 5, 10  # early answers among the last reloads: a reload storm


class StormWatch:
    """Whether blocking reloads come back early (without the part asked for) often
    enough to call it a reload storm: STORM_EARLY of the last STORM_OF."""

    __slots__ = ("_answers", "seen")

    def __init__(self) -> None:
        self._answers: collections.deque[bool] = collections.deque(maxlen=STORM_OF)
        self.seen = False  # a storm was reported (once a viewer)

    def answered(self, early: bool) -> bool:
        """A blocking reload's answer; True when it makes the storm (once)."""
        self._answers.append(early)
        if self.seen or sum(self._answers) < STORM_EARLY:
            return False
        self.seen = True
        return True

    def describe(self) -> str:
        return f"{sum(self._answers)} of the last {len(self._answers)}"


__all__ = ["STORM_EARLY", "STORM_OF", "RequestCounts", "Row", "StormWatch"]
