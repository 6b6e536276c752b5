"""A fan as the platforms see it: an account in the arrival order, and how it plays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FanSpec:
    index: int  # position in the arrival order, 0-based
    username: str
    email: str
    password: str
    new: bool  # True: sign up; False: sign in (falls back to sign-up)
    protocol: str = "rtmp"
