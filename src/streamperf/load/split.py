"""Splitting one run's fans over N shards (local processes or remote hosts).

Fan i goes to shard i % n. Each fan keeps its FanSpec unchanged: its index
(place in the global arrival order) and its name. Two consequences:

* Account offsets are distinct per shard by construction: `plan_fans` gives
  every fan a unique name (testfan<existing_offset + k> or a random new
  one), and a fan lives in exactly one slice, so no two shards ever sign in
  with one account.
* The ramp is spread without renumbering: `Shard` schedules fan `index` at
  `start_at + index * ramp_s`, so with the global ramp_s each shard sees
  one arrival every `ramp_s * n` (its `shard_ramp_s`), first at
  `shard_id * ramp_s` (its `offset_s`), and over all shards arrivals stay
  one per ramp_s, exactly as with a single shard.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamperf.platforms.fans import FanSpec


@dataclass(frozen=True)
class FanSlice:
    shard_id: int
    shards: int  # how many shards the plan was split over
    fans: list[FanSpec]  # original specs: global index and unique name
    ramp_s: float  # the global ramp; what ArrivalPlan.ramp_s takes (see module doc)

    @property
    def shard_ramp_s(self) -> float:
        """Time between two arrivals within this shard."""
        return self.ramp_s * self.shards

    @property
    def offset_s(self) -> float:
        """Delay of this shard's first arrival after the common start time."""
        return self.fans[0].index * self.ramp_s if self.fans else 0.0

    def arrivals(self, start_at: float) -> list[float]:
        """Unix arrival time of each fan, as Shard will schedule it."""
        return [start_at + f.index * self.ramp_s for f in self.fans]


def split_plan(fans: list[FanSpec], ramp_s: float, shards: int) -> list[FanSlice]:
    """Interleave `fans` over `shards` slices: fan i -> shard i % shards.

    Slices whose shard gets no fan (more shards than fans) are left out, so
    no worker is started for nothing.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    if ramp_s < 0:
        raise ValueError(f"ramp_s must be >= 0, got {ramp_s}")
    ordered = sorted(fans, key=lambda f: f.index)
    names = [f.username for f in ordered]
    if len(set(names)) != len(names):
        # Two shards signing in as one account would corrupt both fans' journeys.
        raise ValueError("fan usernames must be unique across the plan")
    slices = [
        FanSlice(k, shards, ordered[k::shards], ramp_s) for k in range(min(shards, len(ordered)))
    ]
    return slices
