"""Where a DASH Representation's segments are on the MPD timeline, and when each is
available (ISO/IEC 23009-1 5.3.9, DASH-IF IOP 4.3): pure functions of a parsed MPD
(mpd.py) and a time.

Times here are seconds on the MPD timeline: seconds since availabilityStartTime
(AST) for a dynamic MPD, since the presentation's start for a static one. A
segment of a Period starting at P, with media time `t` ticks (presentationTimeOffset
PTO included) at `timescale`, starts at P + (t - PTO) / timescale.

Availability (dynamic MPDs): at server wall time `now`, a segment is available
when its end <= now - AST + availabilityTimeOffset (the *edge*), and until its end
+ timeShiftBufferDepth has passed. availabilityTimeOffset counts only when the MPD
does not say availabilityTimeComplete="false": a segment that is still being
written can only be had by chunked transfer from an origin that serves it so.

The join point is dash.js 4's (src/streaming/controllers/PlaybackController.js,
computeAndSetLiveDelay, v4.7.4): a delay behind the live edge of
@suggestedPresentationDelay when the MPD gives one (> 0), else 4 x the segment
duration (FRAGMENT_DURATION_FACTOR), else 4 x @minBufferTime (MIN_BUFFER_TIME_FACTOR),
at most @timeShiftBufferDepth; play starts at the segment holding edge - delay.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from streamperf.viewers.dash.mpd import Mpd, Period, Representation, Template

EPS = 0.001  # s: segments touching within this are back to back (float rounding)
DASHJS_FRAGMENT_FACTOR = 4  # dash.js 4: live delay = 4 x fragment duration without SPD
DASHJS_MIN_BUFFER_FACTOR = 4  # ... or 4 x minBufferTime without a fragment duration
FALLBACK_DELAY_S = 8.0  # neither given: 4 x a 2 s minBufferTime


@dataclass(frozen=True, slots=True)
class SegmentRef:
    url: str
    number: int
    time: int  # media time, ticks of the template's timescale ($Time$)
    start: float  # s on the MPD timeline
    duration: float  # s
    timescale: int  # of `time`

    @property
    def end(self) -> float:
        return self.start + self.duration


def segment_duration(rep: Representation) -> float:
    """The representation's (newest) segment duration, seconds."""
    tpl = rep.template
    d = tpl.timeline[-1].d if tpl.timeline else tpl.duration
    assert d is not None  # mpd.py gives a template one or the other
    return d / tpl.timescale


def _ref(tpl: Template, period: Period, number: int, time: int, d: int) -> SegmentRef:
    ts = tpl.timescale
    return SegmentRef(tpl.url(number, time), number, time,
                      period.start + (time - tpl.pto) / ts, d / ts, ts)  # fmt: skip


def _ticks(tpl: Template, period: Period, t: float) -> int:
    """MPD-timeline seconds -> the template's media ticks (floored)."""
    return math.floor((t - period.start) * tpl.timescale) + tpl.pto


def find_segment(period: Period, rep: Representation, pos: float) -> SegmentRef | None:
    """The first segment of `rep` in `period` ending after pos + EPS (the one holding
    that instant, or the next one listed); None past the period's end or the timeline's."""
    tpl = rep.template
    at = _ticks(tpl, period, pos + EPS)
    runs = tpl.timeline
    if runs is None:
        d = tpl.duration
        assert d is not None
        k = max(0, (at - tpl.pto) // d)
        seg = _ref(tpl, period, tpl.start_number + k, tpl.pto + k * d, d)
    else:
        i = bisect.bisect_right(tpl.run_starts, at) - 1
        if i < 0:
            run = runs[0]
            seg = _ref(tpl, period, run.number, run.t, run.d)
        else:
            run = runs[i]
            k = (at - run.t) // run.d
            if run.count != -1 and k >= run.count:
                if i + 1 == len(runs):
                    return None
                run, k = runs[i + 1], 0
            seg = _ref(tpl, period, run.number + k, run.t + k * run.d, run.d)
    if period.end is not None and seg.start >= period.end - EPS:
        return None
    return seg


def newest_segment(period: Period, rep: Representation, edge: float) -> SegmentRef | None:
    """The newest segment of `rep` in `period` that ends at or before `edge`, or None."""
    tpl = rep.template
    if period.end is not None:
        edge = min(edge, period.end + EPS)
    at = _ticks(tpl, period, edge + EPS)
    runs = tpl.timeline
    if runs is None:
        d = tpl.duration
        assert d is not None
        k = (at - tpl.pto) // d - 1
        return _ref(tpl, period, tpl.start_number + k, tpl.pto + k * d, d) if k >= 0 else None
    i = bisect.bisect_right(tpl.run_starts, at) - 1
    while i >= 0:
        run = runs[i]
        n = (at - run.t) // run.d
        if run.count != -1:
            n = min(n, run.count)
        if n >= 1:
            return _ref(tpl, period, run.number + n - 1, run.t + (n - 1) * run.d, run.d)
        i -= 1
    return None


def live_edge(mpd: Mpd, rep: Representation, now: float) -> float:
    """The MPD-timeline instant up to which segments are available at server time `now`
    (infinite for a static MPD)."""
    if not mpd.dynamic or mpd.availability_start is None:
        return math.inf
    return now - mpd.availability_start + rep.template.availability_offset


def window_start(mpd: Mpd, now: float) -> float:
    """The earliest segment end still available at `now` (-inf: no time-shift limit)."""
    tsbd = mpd.time_shift_buffer_depth
    if not mpd.dynamic or mpd.availability_start is None or tsbd is None:
        return -math.inf
    return now - mpd.availability_start - tsbd


def live_delay(mpd: Mpd, rep: Representation) -> float:
    """How far behind the live edge play starts (dash.js 4's rule, module doc)."""
    spd = mpd.suggested_presentation_delay
    if spd:
        delay = spd
    else:
        fragment = segment_duration(rep)
        if fragment > 0:
            delay = fragment * DASHJS_FRAGMENT_FACTOR
        elif mpd.min_buffer_time:
            delay = mpd.min_buffer_time * DASHJS_MIN_BUFFER_FACTOR
        else:
            delay = FALLBACK_DELAY_S
    tsbd = mpd.time_shift_buffer_depth
    return min(delay, tsbd) if tsbd else delay


def period_at(mpd: Mpd, t: float) -> Period:
    """The Period holding MPD-timeline instant `t` (the first one before any start)."""
    found = mpd.periods[0]
    for p in mpd.periods:
        if p.start <= t + EPS:
            found = p
    return found


def start_position(mpd: Mpd, rep: Representation, now: float) -> float:
    """Where a viewer joining at server time `now` starts (MPD timeline): the live edge
    less live_delay, no later than the newest available segment; a static MPD's start."""
    if not mpd.dynamic:
        return mpd.periods[0].start
    edge = live_edge(mpd, rep, now)
    target = edge - live_delay(mpd, rep)
    period = period_at(mpd, target)
    newest = newest_segment(period, rep, edge)
    if newest is not None and newest.start < target:
        target = min(target, newest.end - 2 * EPS)
    return max(target, window_start(mpd, now), period.start)


__all__ = ["EPS", "SegmentRef", "find_segment", "live_delay", "live_edge", "newest_segment",
           "period_at", "segment_duration", "start_position", "window_start"]
