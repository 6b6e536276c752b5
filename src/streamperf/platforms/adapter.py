"""What streamperf needs from a platform: the adapter interface (docs/platforms.md).

A run asks its platform three things: go live (where to publish, and who is
live), a fan's journey (where that fan plays), and end. Everything after
that (publisher, viewers, event log, analysis, verdict) is the same
whichever platform answered. Implementations:

* `SeedApiPlatform` (platforms/seed/adapter.py): the seed tool's REST API
  (platforms/seed/client.py + journey.py) against your backend (`--apiurl`);
  `BundledPlatform` (platforms/reference/adapter.py) the same against the
  bundled reference platform (the default);
* `DirectPlatform` (platforms/direct.py): no API at all, stream URLs given with
  `--play-url` / `--ingest-url`;
* your own: any class with these methods, chosen with
  `--platform module:Class`, the `streamperf.platforms` entry point group,
  or by overriding the `platform` fixture in a conftest.py.

Every API call an adapter makes for a fan is reported through the `report`
callback it is handed, as an `ApiCall`; each becomes an `api` row of the
event log (endpoint, latency, status), so API latency and error rates are
measured for any platform. Any exception from `fan_journey` ends that one
fan with a `fan_abort` row naming it; the other fans play on.

What an adapter can do beyond the five methods is declared by optional
methods it may define (`worker_journeys`, `make_publisher`), never found out
from its type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.fans import FanSpec
from streamperf.redact import masked_url

if TYPE_CHECKING:
    from streamperf.media.publisher import Publisher

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
    #: optional check that the media server sees the stream key publishing (the
    #: bundled platform reads nginx's stat page); None: trust the publisher's start
    ingest_ready: Callable[[str], bool] | None = None
    #: anything else the adapter wants to keep with the live stream (the seed's
    #: adapter keeps its influencer here, as "influencer")
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the stream key masked: pytest prints reprs
        url = masked_url(self.ingest_url) if self.ingest_url else None
        return f"GoLive(ingest_url={url!r}, stream_id={self.stream_id!r})"


@dataclass
class FanPlay:
    """Where one fan plays, as its journey ended."""

    playback_url: str
    protocol: str  # rtmp | hls | flv: the viewer that plays playback_url


@runtime_checkable
class PlatformAdapter(Protocol):
    """A platform as streamperf uses it. Methods are called from plain threads
    (never inside an event loop); `fan_journey` from many threads at once.

    Optional (generic code asks through `worker_journeys()` and `own_publisher()`
    below, so an adapter without them is one): `worker_journeys(live) ->
    WorkerJourneys | None`, the journeys the load hosts can walk themselves;
    `make_publisher(source, live, run_dir) -> Publisher | None`, a publisher of
    the adapter's own for the ingest (the bundled platform's ladder)."""

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


@dataclass(frozen=True)
class WorkerJourneys:
    """Journeys the load hosts can walk themselves, as plain data.

    `walker` names a function ("module:function") importable where the viewers
    run (a load host has streamperf and its worker requirements only); on each
    worker process it is called as `walker(description, report)` and returns
    (journey, close): `journey(fan) -> JourneyResult` walked at the fan's arrival,
    `close()` when the run ends. `description` is JSON-able and opaque to
    everything but the walker; `secrets` are values in it that no log may show.
    """

    walker: str
    description: dict[str, Any]
    secrets: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        return {"walker": self.walker, "description": self.description,
                "secrets": list(self.secrets)}


def worker_journeys(platform: object, live: GoLive) -> WorkerJourneys | None:
    """What the adapter declares about its journeys on load hosts: its
    `worker_journeys(live)` answer, or None (also for an adapter without the method):
    the controller walks them and sends each worker only where its fan plays."""
    declare = getattr(platform, "worker_journeys", None)
    return declare(live) if callable(declare) else None


def own_publisher(platform: object, source: Path, live: GoLive,
                  run_dir: Path) -> Publisher | None:
    """The adapter's own publisher of `source` for `live` (its `make_publisher`
    answer), or None (also for an adapter without the method): streamperf's plain
    `ffmpeg -c copy` push of the source to the ingest URL."""
    make = getattr(platform, "make_publisher", None)
    return make(source, live, run_dir) if callable(make) else None
