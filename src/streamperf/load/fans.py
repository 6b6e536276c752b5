"""Which fans take part: the seed's naming, new vs existing, offsets."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FanSpec:
    index: int  # position in the arrival order, 0-based
    username: str
    email: str
    password: str
    new: bool  # True: sign up; False: sign in (falls back to sign-up)


def fan_spec(index: int, username: str, new: bool) -> FanSpec:
    # Test accounts only: a per-name password keeps re-runs able to sign in.
    return FanSpec(index, username, f"{username}@e.com", f"pw-{username}-streamperf", new)


def existing_fan(number: int, index: int = 0) -> FanSpec:
    return fan_spec(index, f"testfan{number}", new=False)


def plan_fans(
    users: int,
    percent_new: int,
    existing_offset: int,
    rng: random.Random | None = None,
) -> list[FanSpec]:
    """`users` fans, `percent_new`% of them new, spread evenly over the arrival order.

    Existing fans are testfan<offset>, testfan<offset+1>, ... as the seed named
    them; new fans get random names that cannot collide with those.
    """
    rng = rng or random.Random()
    fans: list[FanSpec] = []
    existing = 0
    for i in range(users):
        # Bresenham-style spread: fan i is new when the running quota steps up.
        if (i + 1) * percent_new // 100 > i * percent_new // 100:
            fans.append(fan_spec(i, f"testfan{rng.randrange(10**9, 10**10)}", new=True))
        else:
            fans.append(existing_fan(existing_offset + existing, i))
            existing += 1
    return fans
