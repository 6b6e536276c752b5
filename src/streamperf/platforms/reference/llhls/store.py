"""One stream's LL-HLS media: fragments become parts, parts make segments, a window of
them is kept, and waiters (blocking reloads, preload-hinted parts) hear of each new part.

Each fragment of the pull (fragments.py) is one part. A segment begins at an
INDEPENDENT part once the segment in progress is at least the target segment
duration (less half a part target: frame times jitter by a millisecond), so
with a publisher's fixed GOP a segment is a GOP. A new pull (a new init
section: an epoch) begins a new segment after a discontinuity.

PROGRAM-DATE-TIME: a fragment leaves ffmpeg once the media after it has
arrived, so (arrival wall time - media end time) is the capture clock plus the
delay through nginx and ffmpeg. The smallest such offset seen in an epoch is
the anchor, and a segment's PDT is the anchor when it is created plus its
media start; fixed once written, as a player expects. A pull's first
fragments come late and all at once (ffmpeg probes ~2 s of the stream before
it writes): an epoch's fragments are held back until one arrives at the pace
of real time (half its duration or more after the one before), then stored
with the anchor that one gives, so no PDT is taken from the burst.

All of it runs on the platform's event loop: no locks. Waiters share one
asyncio.Event per new part (`wait_until`): a part wakes each waiter once, however
many there are, and none polls.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamperf.platforms.reference.llhls.fragments import Fragment, InitSection

PART_TARGET_S = 0.334  # ffmpeg's -frag_duration 0.33 s cuts 10 frames of 30 fps: 333-334 ms
SEGMENT_TARGET_S = 2.0  # the publisher's GOP (media/publisher.py GOP_FRAMES)
WINDOW_S = 24.0  # complete segments kept: twice CAN-SKIP-UNTIL, so a delta update skips
SETTLE_MAX_S = 6.0  # a burst this long is taken as it is (a pull faster than real time)
PARTS_FOR_S = 3.0  # parts are listed for segments this many target durations from the edge


@dataclass
class Part:
    msn: int
    index: int
    fragment: Fragment
    arrival: float = 0.0  # wall-clock seconds it came out of the pull

    @property
    def duration_s(self) -> float:
        return self.fragment.duration_s

    @property
    def independent(self) -> bool:
        return self.fragment.independent

    @property
    def uri(self) -> str:
        return part_uri(self.msn, self.index)


def part_uri(msn: int, index: int) -> str:
    return f"{msn}.{index}.m4s"


@dataclass
class Segment:
    msn: int
    epoch: int
    pdt: float  # wall-clock seconds (Unix) of its first sample
    discontinuity: bool  # the first of an epoch after another's segments
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    data: bytes = b""  # its parts joined, once complete

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.parts)

    @property
    def uri(self) -> str:
        return f"{self.msn}.m4s"


class StreamStore:
    """The parts and segments of one stream, and the waiters on them."""

    def __init__(self, name: str, part_target_s: float = PART_TARGET_S,
                 segment_target_s: float = SEGMENT_TARGET_S, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.time, timed_msn: bool = False) -> None:
        self.name = name
        #: segments numbered by media time (start / target), not from 0: the renditions
        #: of a ladder (one publisher's outputs, the same timestamps) number alike, and
        #: a player switching renditions asks for the same msn.part in the other
        self.timed_msn = timed_msn
        self.part_target_s = part_target_s
        self.segment_target_s = segment_target_s
        self.window_s = window_s
        self.clock = clock
        self.inits: dict[int, InitSection] = {}
        self.epoch = -1
        self.segments: list[Segment] = []  # oldest first; the last may be in progress
        self.discontinuity_sequence = 0  # discontinuities that left the window
        self.version = 0  # one more per part: what a rendered playlist is cached by
        self.dropped = 0  # fragments before an epoch's first key frame
        self.longest_part_s = 0.0
        self.longest_segment_s = 0.0
        self.closed = False
        #: the playlist as rendered (playlist.py), whole and delta: (versions, text)
        self.rendered: dict[bool, tuple[tuple[int, ...], str]] = {}
        self._anchor: float | None = None
        self._held: list[tuple[Fragment, float]] | None = []  # the epoch's burst, until it settles
        self._last_arrival: float | None = None
        self._tick = asyncio.Event()

    # --- input -------------------------------------------------------------
    def add_init(self, init: InitSection) -> None:
        """A new pull began: its fragments make a new epoch."""
        self.epoch += 1
        self.inits[self.epoch] = init
        self._anchor = None
        self._held, self._last_arrival = [], None
        if len(self.inits) > 1:  # keep the inits the window's segments name
            live = {s.epoch for s in self.segments} | {self.epoch}
            self.inits = {e: i for e, i in self.inits.items() if e in live}

    def add_fragment(self, fragment: Fragment, arrival: float | None = None) -> Part | None:
        """Store `fragment` as the next part (None: dropped, before a key frame, or held
        back, in the epoch's first burst)."""
        if self.epoch < 0:
            raise RuntimeError("a fragment before any init section")
        arrival = self.clock() if arrival is None else arrival
        last, self._last_arrival = self._last_arrival, arrival
        if self._held is not None:
            offset = arrival - fragment.end_s
            self._anchor = offset if self._anchor is None else min(self._anchor, offset)
            self._held.append((fragment, arrival))
            paced = last is not None and arrival - last >= fragment.duration_s / 2
            if not paced and sum(f.duration_s for f, _ in self._held) < SETTLE_MAX_S:
                return None
            held, self._held = self._held, None
            stored = [self._store(f, a) for f, a in held]
            return stored[-1]
        return self._store(fragment, arrival)

    def _store(self, fragment: Fragment, arrival: float) -> Part | None:
        current = self.segments[-1] if self.segments else None
        same_epoch = current is not None and current.epoch == self.epoch
        if not fragment.has_timing_track or (not same_epoch and not fragment.independent):
            self.dropped += 1
            return None
        offset = arrival - fragment.end_s
        self._anchor = offset if self._anchor is None else min(self._anchor, offset)
        threshold = self.segment_target_s - self.part_target_s / 2
        if current is None or not same_epoch or (
                fragment.independent and current.duration_s >= threshold):
            if current is not None:
                self._complete(current)
            msn = current.msn + 1 if current is not None else 0
            if self.timed_msn:  # never back: a new epoch's times start again
                msn = max(msn, round(fragment.start_s / self.segment_target_s))
            current = Segment(
                msn=msn, epoch=self.epoch,
                pdt=self._anchor + fragment.start_s,
                discontinuity=current is not None and not same_epoch)
            self.segments.append(current)
        part = Part(current.msn, len(current.parts), fragment, arrival)
        current.parts.append(part)
        self.longest_part_s = max(self.longest_part_s, part.duration_s)
        self._trim()
        self._wake()
        return part

    def _complete(self, segment: Segment) -> None:
        segment.complete = True
        segment.data = b"".join(p.fragment.data for p in segment.parts)
        self.longest_segment_s = max(self.longest_segment_s, segment.duration_s)

    def _trim(self) -> None:
        done = [s for s in self.segments if s.complete]
        while done and sum(s.duration_s for s in done) - done[0].duration_s >= self.window_s:
            gone = done.pop(0)
            self.segments.remove(gone)
            self.discontinuity_sequence += gone.discontinuity
        # parts older than the listed ones and one segment more are not fetched: let go
        listed = self.parts_from()
        for s in self.segments:
            if s.msn < listed - 1 and s.parts and s.parts[0].fragment.data:
                s.parts = [Part(p.msn, p.index, _timing_only(p.fragment), p.arrival)
                           for p in s.parts]

    def _wake(self) -> None:
        self.version += 1
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def close(self) -> None:
        """The origin stops: every waiter answers now."""
        self.closed = True
        self._wake()

    # --- what the playlist and the routes ask ----------------------------------
    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: the target, or more if a longer segment was written."""
        return max(math.ceil(self.segment_target_s), round(self.longest_segment_s))

    @property
    def part_target(self) -> float:
        """PART-TARGET: the configured one, or the longest part if one was longer."""
        return max(self.part_target_s, self.longest_part_s)

    @property
    def newest(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest part."""
        if not self.segments:
            return None
        last = self.segments[-1]
        return last.msn, len(last.parts) - 1

    @property
    def last_complete_msn(self) -> int:
        done = [s.msn for s in self.segments if s.complete]
        return done[-1] if done else (self.segments[-1].msn - 1 if self.segments else -1)

    def reached(self, msn: int, part: int | None) -> bool:
        """Does the playlist hold part `part` of segment `msn` (or a later one), or with
        `part` None, segment `msn` whole? (a blocking reload's condition)"""
        newest = self.newest
        if newest is None:
            return False
        if part is None:
            return self.last_complete_msn >= msn
        return newest >= (msn, part) or self.last_complete_msn >= msn

    def parts_from(self) -> int:
        """The msn of the oldest segment whose parts the playlist lists."""
        if not self.segments:
            return 0
        edge_budget = PARTS_FOR_S * self.segment_target_s
        oldest = self.segments[-1].msn
        total = 0.0
        for s in reversed(self.segments[:-1]):
            total += s.duration_s
            if total > edge_budget:
                break
            oldest = s.msn
        return oldest

    def next_part(self) -> tuple[int, int] | None:
        """(msn, index) of the part after the newest, as the preload hint names it: the
        next segment's first once this one is long enough for the next key frame to
        begin another (a GOP as long as the target: always right)."""
        if not self.segments:
            return None
        last = self.segments[-1]
        if last.duration_s >= self.segment_target_s - self.part_target_s / 2:
            return last.msn + 1, 0
        return last.msn, len(last.parts)

    def segment(self, msn: int) -> Segment | None:
        for s in self.segments:
            if s.msn == msn:
                return s
        return None

    def part(self, msn: int, index: int) -> Part | None:
        s = self.segment(msn)
        if s is None or not 0 <= index < len(s.parts) or not s.parts[index].fragment.data:
            return None
        return s.parts[index]

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until `condition()` holds, rechecked once per new
        part; False if it did not (or the origin closed)."""
        try:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    if self.closed:
                        return False
                    await self._tick.wait()
        except TimeoutError:
            return condition()
        return True


def _timing_only(fragment: Fragment) -> Fragment:
    """A fragment's timing without its bytes (a part that is only listed, no more fetched)."""
    return Fragment(b"", fragment.start_s, fragment.duration_s, fragment.independent)
