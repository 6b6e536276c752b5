"""Which rendition to fetch next: hls.js's rules, dash.js's rules, or one pinned.

A policy sees the ladder (ascending bandwidth), the downloads (`loaded`) and
the buffer they make (buffer.py). Before each segment the viewer asks
`choose`; while a segment downloads, the per-loop request watch asks
`abandon` (viewers/http/watch.py, every 50 ms), which answers a lower
rendition when the download would not finish before the buffer runs dry.
The numbers are the players' defaults, named after their settings; what
each rule does and where it comes from: docs/abr.md.
"""

from __future__ import annotations

import math

from streamperf.viewers.abr.buffer import PlayBuffer
from streamperf.viewers.abr.estimate import HlsJsEstimate, SlidingThroughput
from streamperf.viewers.abr.rendition import Rendition

PINNED = ("highest", "lowest")
ABR_MODES = ("hlsjs", "dashjs", *PINNED)  # or a rendition's name (pinned)

# hls.js 1.5 (src/config.ts, abr-controller.ts)
HLSJS_BW_FACTOR = 0.95  # abrBandWidthFactor: the same or a lower level
HLSJS_BW_UP_FACTOR = 0.7  # abrBandWidthUpFactor: a higher level
HLSJS_MAX_STARVATION_S = 4.0  # maxStarvationDelay
HLSJS_DEFAULT_MAX_BPS = 5_000_000  # abrEwmaDefaultEstimateMax: the first level's bitrate
# raises the default estimate up to this (so a player starts on the first listed level)

# dash.js 4.7 (Settings.js, rules/abr/*)
DASHJS_SAFETY = 0.9  # bandwidthSafetyFactor
DASHJS_INITIAL_BPS = 1_000_000  # abr.initialBitrate.video -1 -> DEFAULT_VIDEO_BITRATE 1000 kbps
DASHJS_STABLE_BUFFER_S = 12.0  # streaming.buffer.stableBufferTime: BOLA from here
DASHJS_INSUFFICIENT_SAFETY = 0.5  # InsufficientBufferRule's safety factor
DASHJS_IGNORE_SEGMENTS = 2  # InsufficientBufferRule ignores the first segments after start
DASHJS_ABANDON_MULTIPLIER = 1.8  # AbandonRequestsRule: a download taking 1.8 durations
DASHJS_ABANDON_GRACE_S = 0.5  # ... looked at after 500 ms
BOLA_MIN_BUFFER_S = 10.0  # MINIMUM_BUFFER_S
BOLA_BUFFER_PER_LEVEL_S = 2.0  # MINIMUM_BUFFER_PER_BITRATE_LEVEL_S


class AbrPolicy:
    """The common part: the ladder, the rendition being fetched, the buffer."""

    mode = ""

    def __init__(self, renditions: list[Rendition]) -> None:
        if not renditions:
            raise ValueError("an empty ladder")
        self.listed = list(renditions)  # manifest order
        self.ladder = sorted(renditions, key=lambda r: r.bandwidth)
        self.current: Rendition | None = None
        self.buffer = PlayBuffer()
        self.segments = 0

    @property
    def estimate_bps(self) -> float | None:
        return None

    def start(self) -> Rendition:
        self.current = r = self._start()
        return r

    def choose(self, now: float, seg_s: float) -> tuple[Rendition, str]:
        """The rendition of the next segment (`seg_s` long), and "up"/"down" or "" (same)."""
        cur = self.current or self.start()
        nxt = self._choose(now, seg_s, self.ladder.index(cur))
        self.current = nxt
        return nxt, _why(cur, nxt)

    def loaded(self, now: float, r: Rendition, nbytes: int, request_s: float,
               ttfb_s: float, media_s: float) -> None:  # fmt: skip
        """A segment of `r` is in: `request_s` from request to last byte, `ttfb_s` to the head."""
        self.segments += 1
        self.buffer.append(now, media_s)

    def abandon(self, now: float, r: Rendition, got: int, elapsed_s: float,
                ttfb_s: float | None, expected: int | None,
                seg_s: float) -> Rendition | None:  # fmt: skip
        """A lower rendition to switch to now, giving up the download in flight; or None."""
        return None

    def _start(self) -> Rendition:
        raise NotImplementedError

    def _choose(self, now: float, seg_s: float, cur: int) -> Rendition:
        raise NotImplementedError


def _why(cur: Rendition, nxt: Rendition) -> str:
    if nxt is cur:
        return ""
    return "up" if nxt.bandwidth > cur.bandwidth else "down"


class PinnedPolicy(AbrPolicy):
    """One rendition all along: `highest`, `lowest` or one named (today's behaviour)."""

    mode = "pinned"

    def __init__(self, renditions: list[Rendition], which: str) -> None:
        super().__init__(renditions)
        if which == "highest":
            self.pinned = self.ladder[-1]
        elif which == "lowest":
            self.pinned = self.ladder[0]
        else:
            named = [r for r in self.ladder if r.name == which]
            if not named:
                names = ", ".join(r.name for r in self.ladder)
                raise ValueError(f"no rendition {which!r} in the ladder ({names})")
            self.pinned = named[0]

    def _start(self) -> Rendition:
        return self.pinned

    def _choose(self, now: float, seg_s: float, cur: int) -> Rendition:
        return self.pinned


class HlsJsPolicy(AbrPolicy):
    """hls.js 1.5's automatic level choice (abr-controller.ts), for a live stream."""

    mode = "hlsjs"

    def __init__(self, renditions: list[Rendition]) -> None:
        super().__init__(renditions)
        self.est = HlsJsEstimate()
        # the default estimate is raised to the first listed level's bitrate (capped)
        first = self.listed[0].bandwidth
        self.default_bps = max(500_000.0, float(min(first, HLSJS_DEFAULT_MAX_BPS)))

    @property
    def estimate_bps(self) -> float:
        return self.est.bps if self.est.known else self.default_bps

    def _reset(self, default_bps: float) -> None:
        """resetEstimator: forget the samples, start again from `default_bps`."""
        ttfb = self.est.ttfb
        self.est = HlsJsEstimate()
        self.est.ttfb = ttfb
        self.default_bps = default_bps

    def _start(self) -> Rendition:
        # firstAutoLevel: the best level for the default estimate, factors 1
        i = self._best(self.default_bps, 0.0, HLSJS_MAX_STARVATION_S, 1.0, 1.0, None, 0.0)
        return self.ladder[i] if i >= 0 else self.listed[0]

    def _choose(self, now: float, seg_s: float, cur: int) -> Rendition:
        if not self.segments or not self.est.known:
            return self._start()  # firstAutoLevel: no estimate yet, or one reset
        bw = self.estimate_bps
        buf = self.buffer.level(now)
        if buf > 0:  # a level that cannot make the buffer run dry
            i = self._best(bw, buf, 0.0, HLSJS_BW_FACTOR, HLSJS_BW_UP_FACTOR, cur, seg_s)
            if i >= 0:
                return self.ladder[i]
        i = self._best(bw, buf, min(seg_s, HLSJS_MAX_STARVATION_S) if seg_s else
                       HLSJS_MAX_STARVATION_S, HLSJS_BW_FACTOR, HLSJS_BW_UP_FACTOR, cur, seg_s)
        return self.ladder[i] if i >= 0 else self.ladder[0]

    def _best(self, bw: float, buf: float, max_starvation: float, factor: float,
              up_factor: float, cur: int | None, seg_s: float) -> int:  # fmt: skip
        """findBestLevel for a live stream: the highest level whose bitrate the
        adjusted estimate covers (live streams skip the fetch-duration test)."""
        for i in range(len(self.ladder) - 1, -1, -1):
            r = self.ladder[i]
            up = cur is not None and i > cur
            adjusted = (up_factor if up else factor) * bw
            # AVERAGE-BANDWIDTH once two segments are buffered and no rebuffering is allowed
            avg = seg_s and buf >= 2 * seg_s and max_starvation == 0
            bitrate = (r.average_bandwidth or r.bandwidth) if avg else r.bandwidth
            if adjusted >= bitrate:
                return i
        return -1

    def loaded(self, now: float, r: Rendition, nbytes: int, request_s: float,
               ttfb_s: float, media_s: float) -> None:  # fmt: skip
        # onFragBuffered: request to end, less the smaller of this TTFB and the estimate's
        self.est.sample(request_s - min(ttfb_s, self.est.ttfb_s), nbytes)
        self.est.sample_ttfb(ttfb_s)
        super().loaded(now, r, nbytes, request_s, ttfb_s, media_s)

    def abandon(self, now: float, r: Rendition, got: int, elapsed_s: float,
                ttfb_s: float | None, expected: int | None,
                seg_s: float) -> Rendition | None:  # fmt: skip
        """_abandonRulesCheck: from half the segment's duration on, if what is left of
        the download would outlast the buffer, the largest lower level that loads in
        time (and faster than finishing this one)."""
        cur = self.ladder.index(r)
        if cur == 0 or not self.buffer.started:
            return None
        ttfb_est = self.est.ttfb_s
        if elapsed_s <= max(ttfb_est, seg_s / 2):
            return None
        buf = self.buffer.level(now)
        bw = self.estimate_bps
        expected_len = max(got, expected or round(seg_s * (r.average_bandwidth or r.bandwidth) / 8))
        first = got > 0 and ttfb_s is not None
        streaming = elapsed_s - (ttfb_s or 0.0) if first else elapsed_s
        if first and streaming < 1:
            streaming = min(elapsed_s, got * 8 / bw)
        rate = got / streaming if first and streaming > 0 else 0.0  # bytes/s
        left_s = (expected_len - got) / rate if rate else expected_len * 8 / bw + ttfb_est
        if left_s <= buf:
            return None
        bwe = rate * 8 if rate else bw
        nxt, nxt_s = cur, math.inf
        for i in range(cur - 1, -1, -1):
            nxt = i
            # a level switch also loads that level's playlist (live: always)
            nxt_s = 2 * ttfb_est + seg_s * self.ladder[i].bandwidth / bwe
            if nxt_s < min(buf, seg_s + ttfb_est) or i == 0:
                break
        if nxt_s >= left_s or nxt_s > 10 * seg_s or nxt == cur:
            return None
        if got and ttfb_s is not None:
            self.est.sample(elapsed_s - min(ttfb_est, ttfb_s), got)
        # an estimate that would go straight back up starts again from the lower level
        if self.estimate_bps * HLSJS_BW_UP_FACTOR > self.ladder[nxt].bandwidth:
            self._reset(float(self.ladder[nxt].bandwidth))
        self.current = self.ladder[nxt]
        return self.current


class DashJsPolicy(AbrPolicy):
    """dash.js 4.7's abrDynamic: ThroughputRule (BOLA once the buffer is stable),
    InsufficientBufferRule, AbandonRequestsRule; the lowest proposal wins."""

    mode = "dashjs"

    def __init__(self, renditions: list[Rendition]) -> None:
        super().__init__(renditions)
        self.tput = SlidingThroughput()
        self.ttfb_s = 0.0
        self.bola = False
        self._since_start = 0

    @property
    def estimate_bps(self) -> float | None:
        return self.tput.bps

    def _for_bitrate(self, bps: float, seg_s: float) -> int:
        """getQualityForBitrate: the highest bandwidth at or under `bps`, the
        request latency's share of a segment taken off (useDeadTimeLatency)."""
        if seg_s > 0 and self.ttfb_s:
            if self.ttfb_s > seg_s:
                return 0
            bps *= 1 - self.ttfb_s / seg_s
        for i in range(len(self.ladder) - 1, -1, -1):
            if bps >= self.ladder[i].bandwidth:
                return i
        return 0

    def _start(self) -> Rendition:
        return self.ladder[self._for_bitrate(DASHJS_INITIAL_BPS, 0.0)]

    def _choose(self, now: float, seg_s: float, cur: int) -> Rendition:
        buf = self.buffer.level(now)
        tput = self.tput.bps
        if tput is None:
            return self.ladder[cur]
        if buf >= DASHJS_STABLE_BUFFER_S:
            self.bola = True
        elif buf < DASHJS_STABLE_BUFFER_S / 2:
            self.bola = False
        i = self._bola(buf) if self.bola else self._for_bitrate(tput * DASHJS_SAFETY, seg_s)
        if self.buffer.started and not self.buffer.playing:
            i = 0  # BUFFER_EMPTY: the lowest
        elif self._since_start >= DASHJS_IGNORE_SEGMENTS and seg_s > 0:
            need = tput * (buf / seg_s) * DASHJS_INSUFFICIENT_SAFETY
            i = min(i, self._for_bitrate(need, seg_s))
        return self.ladder[i]

    def _bola(self, buf: float) -> int:
        """BOLA: the rendition maximising (Vp (u + gp) - buffer) / bitrate."""
        rates = [r.bandwidth for r in self.ladder]
        utils = [math.log(b / rates[0]) + 1 for b in rates]
        target = max(DASHJS_STABLE_BUFFER_S,
                     BOLA_MIN_BUFFER_S + BOLA_BUFFER_PER_LEVEL_S * len(rates))
        gp = (utils[-1] - 1) / (target / BOLA_MIN_BUFFER_S - 1) if len(rates) > 1 else 1.0
        vp = BOLA_MIN_BUFFER_S / gp
        scores = [(vp * (u + gp) - buf) / b for u, b in zip(utils, rates, strict=True)]
        return max(range(len(rates)), key=scores.__getitem__)

    def loaded(self, now: float, r: Rendition, nbytes: int, request_s: float,
               ttfb_s: float, media_s: float) -> None:  # fmt: skip
        self.tput.sample(max(request_s - ttfb_s, 0.001), nbytes)
        self.ttfb_s = ttfb_s
        self._since_start += 1
        super().loaded(now, r, nbytes, request_s, ttfb_s, media_s)

    def abandon(self, now: float, r: Rendition, got: int, elapsed_s: float,
                ttfb_s: float | None, expected: int | None,
                seg_s: float) -> Rendition | None:  # fmt: skip
        cur = self.ladder.index(r)
        if cur == 0 or not expected or got >= expected or elapsed_s < DASHJS_ABANDON_GRACE_S:
            return None
        streaming = elapsed_s - (ttfb_s or 0.0)
        if got <= 0 or streaming <= 0:
            return None
        tput = got * 8 / streaming
        if expected * 8 / tput < seg_s * DASHJS_ABANDON_MULTIPLIER:
            return None
        i = self._for_bitrate(tput * DASHJS_SAFETY, seg_s)
        if i >= cur:
            return None
        # the request given up is measured too (dash.js's throughput history takes
        # every media request), else the next choice would go straight back up
        self.tput.sample(streaming, got)
        self.current = self.ladder[i]
        return self.current


def make_abr(mode: str, renditions: list[Rendition]) -> AbrPolicy:
    """The policy for `mode` (ABR_MODES, or a rendition's name) over `renditions`
    (in manifest order). Raises ValueError, one line, for an unknown name."""
    if mode == "hlsjs":
        return HlsJsPolicy(renditions)
    if mode == "dashjs":
        return DashJsPolicy(renditions)
    return PinnedPolicy(renditions, mode)


__all__ = ["ABR_MODES", "AbrPolicy", "DashJsPolicy", "HlsJsPolicy", "PinnedPolicy", "make_abr"]
