"""Throughput estimates from segment downloads, as the players make them.

hls.js 1.5 (src/utils/ewma.ts, ewma-bandwidth-estimator.ts): two exponentially
weighted averages of bits/s, weighted by each download's seconds, with
half-lives of 3 s and 9 s for live; the lower one is the estimate, so it falls
fast and climbs slowly. Until any download is in, 500 kbps
(abrEwmaDefaultEstimate). Time to first byte is averaged the same way
(default 100 ms) and taken off a download's time, as hls.js does.

dash.js 4.7 (ThroughputHistory, movingAverageMethod slidingWindow): the mean of
the last 3 segments' throughput for live (4 for on-demand), a segment's
throughput being its bytes over the time from first to last byte.
"""

from __future__ import annotations

import math
from collections import deque

HLSJS_FAST_HALF_LIFE_S = 3.0  # abrEwmaFastLive
HLSJS_SLOW_HALF_LIFE_S = 9.0  # abrEwmaSlowLive
HLSJS_DEFAULT_BPS = 500_000.0  # abrEwmaDefaultEstimate
HLSJS_DEFAULT_TTFB_S = 0.1  # abrEwmaDefaultEstimate for TTFB (100 ms)
HLSJS_MIN_DELAY_S = 0.05  # minDelayMs_: a download never counts as shorter
HLSJS_MIN_WEIGHT_S = 0.001  # minWeight_: seconds of samples before the EWMAs count
DASHJS_LIVE_SAMPLES = 3  # AVERAGE_THROUGHPUT_SAMPLE_AMOUNT_LIVE
DASHJS_CACHED_S = 0.05  # cacheLoadThresholds.video: a faster download looks cached


class Ewma:
    """An exponentially weighted mean; each sample weighs its seconds."""

    __slots__ = ("alpha", "estimate", "total_weight")

    def __init__(self, half_life_s: float) -> None:
        self.alpha = math.exp(math.log(0.5) / half_life_s)
        self.estimate = 0.0
        self.total_weight = 0.0

    def sample(self, weight: float, value: float) -> None:
        adj = self.alpha**weight
        self.estimate = value * (1 - adj) + adj * self.estimate
        self.total_weight += weight

    def get(self) -> float:
        """The mean, corrected for its start at zero (so one sample is itself)."""
        zero = 1 - self.alpha**self.total_weight
        return self.estimate / zero if zero else 0.0


class HlsJsEstimate:
    """hls.js's bandwidth (bits/s) and time-to-first-byte estimates."""

    __slots__ = ("fast", "slow", "ttfb")

    def __init__(self) -> None:
        self.fast = Ewma(HLSJS_FAST_HALF_LIFE_S)
        self.slow = Ewma(HLSJS_SLOW_HALF_LIFE_S)
        self.ttfb = Ewma(HLSJS_SLOW_HALF_LIFE_S)

    def sample(self, seconds: float, nbytes: int) -> None:
        """One download: `seconds` from request to last byte, less the TTFB share."""
        seconds = max(seconds, HLSJS_MIN_DELAY_S)
        bps = 8 * nbytes / seconds
        self.fast.sample(seconds, bps)
        self.slow.sample(seconds, bps)

    def sample_ttfb(self, seconds: float) -> None:
        self.ttfb.sample(max(seconds, HLSJS_MIN_DELAY_S), seconds)

    @property
    def known(self) -> bool:
        return self.fast.total_weight >= HLSJS_MIN_WEIGHT_S

    @property
    def bps(self) -> float:
        return min(self.fast.get(), self.slow.get()) if self.known else HLSJS_DEFAULT_BPS

    @property
    def ttfb_s(self) -> float:
        return self.ttfb.get() if self.ttfb.total_weight > 0 else HLSJS_DEFAULT_TTFB_S


class SlidingThroughput:
    """dash.js's live throughput: the mean of the last few segments' bits/s.

    A download under 50 ms from first to last byte reads as a cached one
    (ThroughputHistory's isCachedResponse, cacheLoadThresholds video 50 ms): once a
    real measurement is in, it is left out, and the first real one drops those
    before it. Behind a shaper that lets a small segment through in one burst
    (tc's htb on lo does), such a download would otherwise read hundreds of Mbit/s.
    """

    __slots__ = ("cached", "samples")

    def __init__(self, size: int = DASHJS_LIVE_SAMPLES) -> None:
        self.samples: deque[float] = deque(maxlen=size)
        self.cached = False  # the samples held are cached-looking ones

    def sample(self, seconds: float, nbytes: int) -> None:
        """One download: `seconds` from first to last byte."""
        if seconds < DASHJS_CACHED_S:
            if self.samples and not self.cached:
                return
            self.cached = True
        elif self.cached:
            self.samples.clear()
            self.cached = False
        self.samples.append(8 * nbytes / max(seconds, 0.001))

    @property
    def bps(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


__all__ = ["Ewma", "HlsJsEstimate", "SlidingThroughput"]
