"""Which fans take part: the seed's naming, new vs existing, offsets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from streamperf._moved import forward
from streamperf.platforms.fans import FanSpec as _FanSpec
from streamperf.platforms.seed.conventions import SEED_FAN_PASSWORD

if TYPE_CHECKING:
    from streamperf.platforms.fans import FanSpec

# FanSpec's home is streamperf.platforms; this path gives it for one release, warning.
__getattr__ = forward(__name__, {"FanSpec": "streamperf.platforms"})


def fan_spec(index: int, username: str, new: bool,
             password: str = SEED_FAN_PASSWORD) -> FanSpec:
    # Test accounts as the seed made them: <name>@e.com, one password (--fan-password).
    return _FanSpec(index, username, f"{username}@e.com", password, new)


def existing_fan(number: int, index: int = 0, password: str = SEED_FAN_PASSWORD) -> FanSpec:
    return fan_spec(index, f"testfan{number}", new=False, password=password)


def seed_precreate_count(users: int, percent_new: int) -> int:
    """How many existing fans --precreatefans makes: users x (100 - percentnew) %, as the
    seed computed it (integer arithmetic). An existing fan beyond those signs up instead."""
    return users * (100 - percent_new) // 100


def _steps_up(i: int, percent: int) -> bool:
    # Bresenham-style spread: true for `percent`% of i, evenly over 0, 1, 2, ...
    return (i + 1) * percent // 100 > i * percent // 100


def spread_protocols(users: int, shares: Sequence[tuple[str, int]]) -> list[str]:
    """One protocol per arrival slot, each share spread evenly over the order."""
    out: list[str] = []
    quota = [0.0] * len(shares)
    for _ in range(users):
        # Largest remainder: give the slot to the protocol furthest below its share.
        for k, (_, share) in enumerate(shares):
            quota[k] += share / 100
        k = max(range(len(shares)), key=lambda j: quota[j])
        quota[k] -= 1
        out.append(shares[k][0])
    return out


def plan_fans(
    users: int,
    percent_new: int,
    existing_offset: int,
    rng: random.Random | None = None,
    protocols: Sequence[tuple[str, int]] = (("rtmp", 100),),
    password: str = SEED_FAN_PASSWORD,
) -> list[FanSpec]:
    """`users` fans, `percent_new`% of them new, spread evenly over the arrival order.

    Existing fans are testfan<offset>, testfan<offset+1>, ... as the seed named
    them; new fans get random names that cannot collide with those.
    """
    rng = rng or random.Random()
    fans: list[FanSpec] = []
    existing = 0
    for i, protocol in enumerate(spread_protocols(users, protocols)):
        if _steps_up(i, percent_new):
            spec = fan_spec(i, f"testfan{rng.randrange(10**9, 10**10)}", new=True,
                            password=password)
        else:
            spec = existing_fan(existing_offset + existing, i, password)
            existing += 1
        fans.append(replace(spec, protocol=protocol))
    return fans
