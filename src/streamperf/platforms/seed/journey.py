"""A fan's API journey, as the seed ran it (its main.go), ending in a playback URL.

new fan:       sign up -> use code -> marketplace -> follow
existing fan:  sign in -> marketplace
               (a refused sign-in falls back to the whole new-fan journey)
both:          join -> leave -> playback URL (edge resolution), then watch

Sign-in/up, join and playback resolution are critical: when they fail the
fan is over (a FAN_ABORT row). The rest log and carry on. Think times
(--sleepbetweensteps) are paused after a step: the seed's per-step times,
or one duration after every step up to the join.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from streamperf.option_values import SEED_THINK
from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import FanAborted, Journey, JourneyResult
from streamperf.platforms.seed.client import Fan, Influencer, PlatformClient
from streamperf.platforms.seed.conventions import SEED_CODE_TEXT

T = TypeVar("T")

# Step names: the FAN_ABORT row's name for the critical ones, and ThinkTimes keys.
SIGN_UP, SIGN_IN, USE_CODE, MARKETPLACE, FOLLOW, JOIN, LEAVE, PLAYBACK_URL = (
    "sign_up", "sign_in", "use_code", "marketplace", "follow", "join", "leave", "playback_url")
#: The seed's pauses with -sleepbetweensteps, after each step (s): a new fan signs up,
#: (3) uses the code, (5) browses, (5) follows, (1); an existing fan signs in, browses (5).
SEED_THINK_S: Mapping[str, float] = {SIGN_UP: 3.0, USE_CODE: 5.0, MARKETPLACE: 5.0, FOLLOW: 1.0}
#: The steps a uniform --sleepbetweensteps DURATION pauses after.
PAUSED_STEPS = (SIGN_UP, SIGN_IN, USE_CODE, MARKETPLACE, FOLLOW, JOIN)


@dataclass(frozen=True)
class ThinkTimes:
    """Seconds a fan pauses after each step, by step name (absent: no pause)."""

    after: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_setting(cls, setting: float | str) -> ThinkTimes:
        """--sleepbetweensteps: 'seed' (the seed's per-step times) or one duration."""
        if setting == SEED_THINK:
            return cls(SEED_THINK_S)
        pause = float(setting)
        return cls({step: pause for step in PAUSED_STEPS} if pause > 0 else {})

    def pause(self, step: str) -> float:
        return self.after.get(step, 0.0)


NO_THINK = ThinkTimes()


def sign_in_or_up(client: PlatformClient, spec: FanSpec) -> Fan:
    """Sign-up for a new fan; an existing one signs in, or up when refused (set-up use)."""
    if spec.new:
        return client.fan_sign_up(spec.email, spec.username, spec.password)
    try:
        return client.fan_sign_in(spec.email, spec.password)
    except ApiError as exc:
        if not refused(exc):
            raise
        return client.fan_sign_up(spec.email, spec.username, spec.password)


def refused(exc: ApiError) -> bool:
    """The platform answered no (any status); timeouts and unreachable are not refusals."""
    return exc.status is not None


def run_journey(
    client: PlatformClient,
    spec: FanSpec,
    influencer: Influencer,
    code_text: str = SEED_CODE_TEXT,
    think: ThinkTimes = NO_THINK,
    sleep: Callable[[float], None] = time.sleep,
) -> JourneyResult:
    """Walk one fan to a playback URL; raises FanAborted on a critical failure."""
    started = time.monotonic()

    def after(step: str) -> None:
        pause = think.pause(step)
        if pause > 0:
            sleep(pause)

    def critical(step: str, call: Callable[[], T]) -> T:
        try:
            result = call()
        except Exception as exc:  # an unusable answer ends this fan, like an API error
            raise FanAborted(step, exc) from None
        after(step)
        return result

    def optional(step: str, call: Callable[[], object]) -> None:
        # Already logged as an API row by the client; a fan carries on.
        with contextlib.suppress(ApiError):
            call()
        after(step)

    def new_fan() -> Fan:
        fan = critical(SIGN_UP, lambda: client.fan_sign_up(spec.email, spec.username,
                                                          spec.password))
        optional(USE_CODE, lambda: client.use_code(fan, code_text))
        optional(MARKETPLACE, lambda: client.marketplace(fan))
        optional(FOLLOW, lambda: client.follow(fan, influencer.id))
        return fan

    def existing_fan() -> Fan:
        try:
            fan = client.fan_sign_in(spec.email, spec.password)
        except ApiError as exc:
            if not refused(exc):
                raise FanAborted(SIGN_IN, exc) from None
            return new_fan()  # the seed: a refused sign-in walks the new fan's journey
        except Exception as exc:  # an answer it cannot use (no id, a non-integer id...)
            raise FanAborted(SIGN_IN, exc) from None
        after(SIGN_IN)
        optional(MARKETPLACE, lambda: client.marketplace(fan))
        return fan

    fan = new_fan() if spec.new else existing_fan()
    playback = critical(JOIN, lambda: client.join_stream(fan, influencer.id))
    optional(LEAVE, lambda: client.leave_stream(fan, influencer.id))
    url = critical(
        PLAYBACK_URL, lambda: client.playback_url(fan, influencer, playback, spec.protocol)
    )
    return JourneyResult(url, time.monotonic() - started)


def precreate_fan(client: PlatformClient, spec: FanSpec, influencer: Influencer) -> Fan:
    """Make an existing fan exist and follow the influencer (safe to repeat)."""
    fan = sign_in_or_up(client, spec)
    client.follow(fan, influencer.id)
    return fan


def walk_on_worker(description: dict[str, Any], report: Callable[[ApiCall], None]
                   ) -> tuple[Journey, Callable[[], None]]:
    """The seed journeys a load host walks itself (SeedApiPlatform.worker_journeys):
    a client of its own, every call reported to `report`; (journey, close)."""
    d = description
    influencer = Influencer(**d["influencer"])
    client = PlatformClient(d["api_url"], d["streams_api_url"], d["streams_token"],
                            timeout=float(d["timeout_s"]), on_call=report,
                            origin_port=int(d["origin_port"]))
    think = ThinkTimes.from_setting(d["sleep_between_steps"])
    code_text = str(d["code_text"])

    def journey(spec: FanSpec) -> JourneyResult:
        return run_journey(client, spec, influencer, code_text, think)

    return journey, client.close
