"""A player's playhead, replayed from what a viewer received: stalls.

Received media R(t) is known at each 1 s sample (media_ts, relative to the
first media) and taken as linear in between. The modelled player starts once
`startup_buffer_s` of media is buffered, plays in real time, stalls when the
buffer runs dry and resumes once `rebuffer_goal_s` is buffered again. Between
samples the buffer moves in straight lines, so each stretch is solved exactly
instead of stepping time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

STARTUP_BUFFER_S = 1.0
REBUFFER_GOAL_S = 1.0
_EPS = 1e-9


@dataclass
class PlayheadResult:
    started_at: float | None = None  # wall time playback began
    stalls: int = 0
    stall_s: float = 0.0
    play_s: float = 0.0
    stall_starts: list[float] = field(default_factory=list)  # wall times
    #: each stall's length (s), in the order of stall_starts; a stall the samples
    #: end in lasts to the last sample
    stall_lengths: list[float] = field(default_factory=list)

    @property
    def rebuffer_ratio(self) -> float:
        total = self.stall_s + self.play_s
        return self.stall_s / total if total > 0 else 0.0


def simulate(
    times: Sequence[float],
    received: Sequence[float],
    startup_buffer_s: float = STARTUP_BUFFER_S,
    rebuffer_goal_s: float = REBUFFER_GOAL_S,
) -> PlayheadResult:
    """`received[i]`: seconds of media received by wall time `times[i]` (both ascending).

    The first point is the first media's arrival (received = 0 there).
    """
    out = PlayheadResult()
    if len(times) < 2:
        return out
    playing = False
    started = False
    pos = 0.0  # playhead, seconds of media
    for i in range(1, len(times)):
        t0, t1 = times[i - 1], times[i]
        r0, r1 = received[i - 1], max(received[i], received[i - 1])
        dt = t1 - t0
        if dt <= 0:
            continue
        rate = (r1 - r0) / dt  # media seconds arriving per wall second
        t = t0
        while t1 - t > _EPS:
            buffered = r0 + rate * (t - t0) - pos
            if playing:
                if rate >= 1.0 - _EPS:
                    out.play_s += t1 - t  # the buffer never shrinks here
                    pos += t1 - t
                    t = t1
                    continue
                # Buffer drains at (1 - rate); runs dry after buffered / (1 - rate).
                dry_in = buffered / (1.0 - rate)
                if dry_in >= t1 - t:
                    out.play_s += t1 - t
                    pos += t1 - t
                    t = t1
                    continue
                out.play_s += dry_in
                pos += dry_in
                t += dry_in
                playing = False
                out.stalls += 1
                out.stall_starts.append(t)
                out.stall_lengths.append(0.0)
            else:
                goal = rebuffer_goal_s if started else startup_buffer_s
                fill_in = float("inf") if rate <= _EPS else max(0.0, goal - buffered) / rate
                if fill_in >= t1 - t:
                    if started:  # started and not playing: in a stall
                        out.stall_s += t1 - t
                        out.stall_lengths[-1] += t1 - t
                    t = t1
                    continue
                if started:
                    out.stall_s += fill_in
                    out.stall_lengths[-1] += fill_in
                else:
                    out.started_at = t + fill_in
                    started = True
                t += fill_in
                playing = True
    return out


def simulate_arrays(
    times: np.ndarray,
    received: np.ndarray,
    startup_buffer_s: float = STARTUP_BUFFER_S,
    rebuffer_goal_s: float = REBUFFER_GOAL_S,
) -> PlayheadResult:
    """simulate() with the same stalls, stall time and rebuffer ratio, fast for a
    viewer that never stalls (most of them, in a long run).

    The exact loop runs up to the sample where the startup buffer is certainly
    full. From there, while playing, the buffer is linear between samples, so
    if it stays above zero at every later sample the player never stalls: no
    loop needed (play_s is then summed at once; it may differ from the loop's
    in the last bits, and nothing reports it but through rebuffer_ratio, 0
    here either way). Anything else runs the exact loop over all samples.
    """
    full = (times.tolist(), received.tolist(), startup_buffer_s, rebuffer_goal_s)
    above = np.flatnonzero(received > startup_buffer_s + 1e-6)
    if not len(above):
        return simulate(*full)
    k = int(above[0])
    head = simulate(times[:k + 1].tolist(), received[:k + 1].tolist(), startup_buffer_s,
                    rebuffer_goal_s)
    if head.stalls or head.started_at is None:
        return simulate(*full)
    buffered = received[k:] - (head.play_s + (times[k:] - times[k]))
    if not bool(np.all(buffered > 1e-6)):
        return simulate(*full)
    head.play_s += float(times[-1] - times[k])
    return head


#: protocols whose latency is read at the modelled playhead, as hls.js and dash.js read
#: theirs: a segment player holds seconds of media ahead of what it shows, so the
#: newest media received is far nearer the live edge than the picture
PLAYHEAD_LATENCY = frozenset({"hls", "dash", "llhls"})


def buffered_at(times: np.ndarray, received: np.ndarray, result: PlayheadResult) -> np.ndarray:
    """Seconds of media received and not yet played at each time (`times` and
    `received` as simulate's); NaN before playback began: no playhead yet."""
    out = np.full(len(times), np.nan)
    if result.started_at is None:
        return out
    starts = np.asarray(result.stall_starts, float)
    lengths = np.asarray(result.stall_lengths, float)
    stalled = np.zeros(len(times))
    if len(starts):  # stall time before each t: the stalls begun earlier, the newest in part
        k = np.searchsorted(starts, times, side="right") - 1
        kk = np.maximum(k, 0)
        before = np.concatenate(([0.0], np.cumsum(lengths)))[kk]
        part = np.clip(times - starts[kk], 0.0, lengths[kk])
        stalled = np.where(k >= 0, before + part, 0.0)
    began = times >= result.started_at
    played = times[began] - result.started_at - stalled[began]
    out[began] = received[began] - played
    return out
