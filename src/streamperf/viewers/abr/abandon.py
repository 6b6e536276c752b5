"""The emergency switch while a segment downloads: a response sink of an HLS or DASH
viewer (hls/bodies.py, dash/bodies.py) above the ladder's lowest rung times its
head and, at each tick of the per-loop request watch (viewers/http/watch.py), asks
the policy whether to give the download up for a lower rendition.

A mixin: the sink class declares the slots (ABANDON_SLOTS) and says how many bytes
of the segment are in (`_segment_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable

from streamperf.viewers.abr.policy import AbrPolicy
from streamperf.viewers.abr.rendition import Rendition

ABANDON_SLOTS = ("abandon_to", "clock", "head_at", "length", "policy", "rendition", "sent_at")


class AbandonCheck:
    __slots__ = ()
    checks = True  # the request watch calls check()

    policy: AbrPolicy
    rendition: Rendition
    clock: Callable[[], float]
    sent_at: float
    head_at: float | None
    length: int | None
    abandon_to: Rendition | None
    ok: bool

    def _arm(self, policy: AbrPolicy, rendition: Rendition, clock: Callable[[], float]) -> None:
        self.policy, self.rendition, self.clock = policy, rendition, clock
        self.sent_at = clock()
        self.head_at = self.length = self.abandon_to = None

    def _timed(self, length: int | None) -> None:
        """The response head is in: the time to first byte, the announced length."""
        self.head_at = self.clock()
        self.length = length

    def _segment_bytes(self) -> int:
        raise NotImplementedError

    def _segment_s(self) -> float:
        raise NotImplementedError

    def check(self, now: float) -> str | None:
        if self.abandon_to is not None or (self.head_at is not None and not self.ok):
            return None  # already given up, or an error page (not a download)
        ttfb = None if self.head_at is None else self.head_at - self.sent_at
        got = self._segment_bytes() if self.ok else 0
        target = self.policy.abandon(now, self.rendition, got, now - self.sent_at, ttfb,
                                     self.length, self._segment_s())
        if target is None:
            return None
        self.abandon_to = target
        return f"emergency switch down to {target.name}"


__all__ = ["ABANDON_SLOTS", "AbandonCheck"]
