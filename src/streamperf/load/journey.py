"""A fan's API journey, as the seed ran it, ending in a playback URL.

sign in (or up) -> use code -> marketplace -> follow -> join -> leave ->
playback URL. Sign-in/up, join and playback resolution are critical: when
they fail the fan is over (a FAN_ABORT row). The rest log and carry on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from streamperf.load.fans import FanSpec
from streamperf.platform.client import ApiError, Fan, Influencer, PlatformClient

CODE_TEXT = "STREAMPERF"
T = TypeVar("T")


class FanAborted(Exception):
    """A critical step failed; the message names the step and the API error."""

    def __init__(self, step: str, error: ApiError) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


@dataclass
class JourneyResult:
    fan: Fan | None  # the seed API's fan; None from other platforms' adapters
    playback_url: str
    api_s: float  # wall time the API part took
    protocol: str = ""  # the viewer to play it with; "" means the fan's planned one


def sign_in_or_up(client: PlatformClient, spec: FanSpec) -> Fan:
    if spec.new:
        return client.fan_sign_up(spec.email, spec.username, spec.password)
    try:
        return client.fan_sign_in(spec.email, spec.password)
    except ApiError as exc:
        # The seed falls back to sign-up for any refused sign-in.
        if exc.status is None:
            raise
        return client.fan_sign_up(spec.email, spec.username, spec.password)


def run_journey(
    client: PlatformClient,
    spec: FanSpec,
    influencer: Influencer,
    sleep_between_steps_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> JourneyResult:
    """Walk one fan to a playback URL; raises FanAborted on a critical failure."""
    started = time.monotonic()

    def pause() -> None:
        if sleep_between_steps_s > 0:
            sleep(sleep_between_steps_s)

    def critical(step: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ApiError as exc:
            raise FanAborted(step, exc) from None

    def optional(call: Callable[[], object]) -> None:
        # Already logged as an API row by the client; a fan carries on.
        with contextlib.suppress(ApiError):
            call()

    fan = critical("sign_in", lambda: sign_in_or_up(client, spec))
    pause()
    optional(lambda: client.use_code(fan, CODE_TEXT))
    pause()
    optional(lambda: client.marketplace(fan))
    pause()
    optional(lambda: client.follow(fan, influencer.id))
    pause()
    playback = critical("join", lambda: client.join_stream(fan, influencer.id))
    pause()
    optional(lambda: client.leave_stream(fan, influencer.id))
    url = critical(
        "playback_url", lambda: client.playback_url(fan, influencer, playback, spec.protocol)
    )
    return JourneyResult(fan, url, time.monotonic() - started)


def precreate_fan(client: PlatformClient, spec: FanSpec, influencer: Influencer) -> Fan:
    """Make an existing fan exist and follow the influencer (safe to repeat)."""
    fan = sign_in_or_up(client, spec)
    client.follow(fan, influencer.id)
    return fan
