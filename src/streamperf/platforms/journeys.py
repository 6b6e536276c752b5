"""A fan's journey as a shard walks it, whichever platform: its result (where the fan
plays), and the one exception that ends that fan (a fan_abort row naming the step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streamperf.platforms.adapter import ApiReport, FanPlay, GoLive, PlatformAdapter
from streamperf.platforms.api_calls import ApiError
from streamperf.platforms.fans import FanSpec


class FanAborted(Exception):
    """A critical step failed; the message names the step and why.

    `error` is the API error, or whatever else the step raised on an answer
    it could not use (a non-integer id, a missing URL...): any failure of a
    critical step ends that fan only.
    """

    def __init__(self, step: str, error: Exception) -> None:
        why = str(error) if isinstance(error, ApiError | ValueError) and str(error) else (
            f"{type(error).__name__}: {error}")
        super().__init__(f"{step}: {why}")
        self.step = step
        self.error = error


class FanJourneyError(ApiError):
    """Any failure of a fan's journey outside the seed client, named for its fan_abort row."""

    def __init__(self, why: str) -> None:
        super().__init__("journey", "", None, why)

    def _message(self) -> str:
        return self.body


@dataclass
class JourneyResult:
    playback_url: str
    api_s: float  # wall time the API part took
    protocol: str = ""  # the viewer to play it with; "" means the fan's planned one


#: a journey as a shard walks it: a fan in, where it plays out (or FanAborted)
Journey = Callable[[FanSpec], JourneyResult]


def adapter_journey(platform: PlatformAdapter, live: GoLive, report: ApiReport) -> Journey:
    """The adapter's journey as a Shard walks it: timed, and any failure a FanAborted."""

    def journey(spec: FanSpec) -> JourneyResult:
        started = time.monotonic()
        try:
            play = platform.fan_journey(spec, live, report)
        except FanAborted:
            raise
        except Exception as exc:  # an adapter's own failure ends that fan only
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise FanAborted("journey", FanJourneyError(why)) from None
        if not (isinstance(play, FanPlay) and isinstance(play.playback_url, str)
                and play.playback_url and isinstance(play.protocol, str)):
            raise FanAborted("journey", FanJourneyError(
                f"the adapter answered {play!r}, not a FanPlay(playback_url, protocol)"))
        return JourneyResult(play.playback_url, time.monotonic() - started, play.protocol)

    return journey
