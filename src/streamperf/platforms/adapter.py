"""What streamperf needs from a platform: the adapter interface (docs/platforms.md).

A run asks its platform three things: go live (where to publish, and who is
live), a fan's journey (where that fan plays), and end. Everything after
that (publisher, viewers, event log, analysis, verdict) is the same
whichever platform answered. Implementations:

* `SeedApiPlatform` / `BundledPlatform` (load/seed_adapter.py): the seed
  tool's REST API (platform/client.py + load/journey.py), against your
  backend (`--apiurl`) or the bundled reference platform (the default);
* `DirectPlatform` (load/direct.py): no API at all, stream URLs given with
  `--play-url` / `--ingest-url`;
* your own: any class with these methods, chosen with
  `--platform module:Class`, the `streamperf.platforms` entry point group,
  or by overriding the `platform` fixture in a conftest.py.

Every API call an adapter makes for a fan is reported through the `report`
callback it is handed, as a `platform.client.ApiCall`; each becomes an
`api` row of the event log (endpoint, latency, status), so API latency
and error rates are measured for any platform. Any exception from
`fan_journey` ends that one fan with a `fan_abort` row naming it; the
other fans play on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from streamperf.load.fans import FanSpec
from streamperf.platform.client import ApiCall, ApiError, Influencer

#: how an adapter reports each API call it made (ok or not) for the event log
ApiReport = Callable[[ApiCall], None]


@dataclass
class GoLive:
    """What going live gave: where streamperf publishes, and who is live."""

    #: where the ffmpeg publisher pushes the source (rtmp://...); None: streamperf
    #: publishes nothing and watches a stream someone else publishes
    ingest_url: str | None
    #: the live stream's identity as the journeys need it and reports show it
    #: (an influencer's name, a stream or channel id)
    stream_id: str = ""
    #: the seed API's influencer, for its journeys (None for other platforms)
    influencer: Influencer | None = None
    #: optional check that the media server sees the stream key publishing (the
    #: bundled platform reads nginx's stat page); None: trust the publisher's start
    ingest_ready: Callable[[str], bool] | None = None
    #: anything else the adapter wants to keep with the live stream
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FanPlay:
    """Where one fan plays, as its journey ended."""

    playback_url: str
    protocol: str  # rtmp | hls | flv: the viewer that plays playback_url


class FanJourneyError(ApiError):
    """Any failure of a fan's journey outside the seed client, named for its fan_abort row."""

    def __init__(self, why: str) -> None:
        super().__init__("journey", "", None, why)

    def _message(self) -> str:
        return self.body


@runtime_checkable
class PlatformAdapter(Protocol):
    """A platform as streamperf uses it. Methods are called from plain threads
    (never inside an event loop); `fan_journey` from many threads at once."""

    def go_live(self, report: ApiReport) -> GoLive:
        """Make the stream live (sign the broadcaster in, create the stream...).

        Returns where to publish; streamperf then starts its publisher there
        and calls `on_air`. `report` receives the calls made (set-up rows).
        """
        ...

    def on_air(self, live: GoLive) -> None:
        """The publisher is up (or, with no ingest URL, the run is about to
        start): e.g. tell the platform the stream started. May do nothing."""
        ...

    def prepare_fans(self, fans: list[FanSpec]) -> None:
        """Before a run: make the fans that sign in exist (set-up, not load:
        no rows). May do nothing."""
        ...

    def fan_journey(self, fan: FanSpec, live: GoLive, report: ApiReport) -> FanPlay:
        """One fan's way to the stream: sign in, whatever the app does, and the
        playback URL. Report every API call through `report`; raise to end the
        fan (any exception; it becomes a fan_abort row)."""
        ...

    def end(self) -> None:
        """The session is over: end the stream, release what go_live took."""
        ...
