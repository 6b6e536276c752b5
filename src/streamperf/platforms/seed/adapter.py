"""The seed tool's REST API as a PlatformAdapter, and the bundled platform serving it.

`SeedApiPlatform` wraps platforms/seed/client.py's PlatformClient and
platforms/seed/journey.py's run_journey: the influencer signs in, creates stream
alerts, waits for its servers, publishes to the ingest URL and keeps its
streaming record fresh (every 5 minutes, as the seed); each fan walks the
seed's journey. `BundledPlatform` is the same against the reference
platform (platforms/reference/server.py) that streamperf starts itself.

These are the adapters whose journeys can also run on worker processes and
load hosts (`worker_journeys`): everything a worker needs to walk them is
plain data, and the code is streamperf's own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from typing import Any

from streamperf.platforms.adapter import ApiReport, FanPlay, GoLive, WorkerJourneys
from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.seed.client import Influencer, PlatformClient
from streamperf.platforms.seed.conventions import SEED_CODE_TEXT, SEED_ORIGIN_PORT
from streamperf.platforms.seed.journey import ThinkTimes, precreate_fan, run_journey

RENEW_STREAMING_EVERY_S = 300.0  # the seed re-posted its streaming record every 5 min
INFLUENCER = "influencer"  # GoLive.extra's key for the influencer that went live
#: the function a load host walks these journeys with (WorkerJourneys)
WORKER_WALKER = "streamperf.platforms.seed.journey:walk_on_worker"


class SeedApiPlatform:
    """The seed's API at `api_url` (+ the streams API); see DESIGN.md section 8."""

    def __init__(
        self,
        api_url: str,
        streams_api_url: str = "",
        streams_token: str = "",
        email: str = "influencer@streamperf.test",
        token: str = "",
        timeout_s: float = 10.0,
        sleep_between_steps: float | str = 0.0,
        precreate: bool = False,
        code_text: str = SEED_CODE_TEXT,
        origin_port: int = SEED_ORIGIN_PORT,
        ready_timeout_s: float = 120.0,
        renew_every_s: float = RENEW_STREAMING_EVERY_S,
        ingest_ready: Callable[[str], bool] | None = None,
    ) -> None:
        self.api_url = api_url
        self.streams_api_url = streams_api_url or api_url
        self.streams_token = streams_token
        self.email = email
        self.token = token
        self.timeout_s = timeout_s
        self.sleep_between_steps = sleep_between_steps  # seconds, or "seed"
        self.code_text = code_text
        self.origin_port = origin_port  # where an origin address alone leads (the seed's 2000)
        self.precreate = precreate
        self.ready_timeout_s = ready_timeout_s
        self.renew_every_s = renew_every_s
        self._ingest_ready = ingest_ready
        self._local = threading.local()  # the report of the journey on this thread
        self._report: ApiReport | None = None  # go_live's: set-up rows
        self._client: PlatformClient | None = None
        self._influencer: Influencer | None = None
        self._precreated: set[str] = set()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.renewals = 0

    def __repr__(self) -> str:  # no token
        return f"{type(self).__name__}({self.api_url!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> SeedApiPlatform:
        """Against the user's backend (--apiurl; settings: a RunSettings)."""
        s = settings
        return cls(s.api_url, s.streams_api_url or s.api_url, s.streams_api_token,
                   token=s.token, precreate=s.precreate_fans, **seed_options(s))

    # -- the client, shared by every thread; calls go to that thread's report ----
    @property
    def client(self) -> PlatformClient:
        if self._client is None:
            self._client = self.new_client(self._on_call)
        return self._client

    def new_client(self, on_call: Callable[[ApiCall], None] | None = None) -> PlatformClient:
        return PlatformClient(self.api_url, self.streams_api_url, self.streams_token,
                              timeout=self.timeout_s, on_call=on_call,
                              origin_port=self.origin_port)

    def _on_call(self, call: ApiCall) -> None:
        report = getattr(self._local, "report", None)
        if report is not None:
            report(call)

    @contextlib.contextmanager
    def _reporting(self, report: ApiReport | None) -> Any:
        previous = getattr(self._local, "report", None)
        self._local.report = report
        try:
            yield
        finally:
            self._local.report = previous

    # -- PlatformAdapter ------------------------------------------------------------
    def go_live(self, report: ApiReport) -> GoLive:
        self._report = report  # the renewals, later, go to the set-up rows too
        with self._reporting(report):
            c = self.client
            inf = c.influencer_sign_in(self.email, self.token)
            c.create_stream_alerts(inf)
            inf = c.wait_servers_ready(inf, timeout_s=self.ready_timeout_s)
            ingest = c.ingest_url(inf)
        self._influencer = inf
        return GoLive(ingest, inf.username, ingest_ready=self._ingest_ready,
                      extra={INFLUENCER: inf})

    def on_air(self, live: GoLive) -> None:
        inf = influencer_of(live)
        with self._reporting(self._report):
            self.client.start_streaming(inf)
        self._renewer = threading.Thread(target=self._renew, args=(inf,),
                                         name="streaming-record", daemon=True)
        self._renewer.start()

    def _renew(self, inf: Influencer) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                with self._reporting(self._report):
                    self.client.start_streaming(inf)
                self.renewals += 1
            except ApiError:
                pass  # logged as an API row; the next renewal tries again

    def prepare_fans(self, fans: list[FanSpec], workers: int = 16) -> None:
        """With --precreatefans (always on the bundled platform): the fans that sign
        in exist and follow. Set-up, not load: no rows. Idempotent."""
        if not self.precreate or self._influencer is None:
            return
        wanted = [f for f in fans if not f.new and f.username not in self._precreated]
        if not wanted:
            return
        inf = self._influencer
        with self.new_client() as client, \
                ThreadPoolExecutor(max(1, min(workers, len(wanted)))) as pool:
            list(pool.map(lambda s: precreate_fan(client, s, inf), wanted))
        self._precreated |= {f.username for f in wanted}

    def fan_journey(self, fan: FanSpec, live: GoLive, report: ApiReport) -> FanPlay:
        with self._reporting(report):
            result = run_journey(self.client, fan, influencer_of(live), self.code_text,
                                 ThinkTimes.from_setting(self.sleep_between_steps))
        return FanPlay(result.playback_url, fan.protocol)

    def end(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self._influencer is not None and self._client is not None:
            with contextlib.suppress(ApiError), self._reporting(None):
                self._client.end_streaming(self._influencer)
            self._influencer = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- journeys elsewhere -------------------------------------------------------------
    def worker_journeys(self, live: GoLive) -> WorkerJourneys:
        """Every worker walks its own fans' journeys (journey.walk_on_worker), so the API
        load comes from every load host, as the seed's did. Fans need only the
        influencer's id: its session token stays here."""
        inf = replace(influencer_of(live), token="")
        return WorkerJourneys(WORKER_WALKER, {
            "api_url": self.api_url, "streams_api_url": self.streams_api_url,
            "streams_token": self.streams_token, "timeout_s": self.timeout_s,
            "sleep_between_steps": self.sleep_between_steps, "code_text": self.code_text,
            "origin_port": self.origin_port, "influencer": asdict(inf)},
            secrets=[self.streams_token] if self.streams_token else [])


def seed_options(settings: Any) -> dict[str, Any]:
    """The settings every seed API adapter takes (a RunSettings, read by attribute)."""
    s = settings
    return {"email": s.email, "timeout_s": s.timeout_s,
            "sleep_between_steps": s.sleep_between_steps, "code_text": s.code_text,
            "origin_port": s.origin_port}


def influencer_of(live: GoLive) -> Influencer:
    """The seed API's influencer a seed adapter went live as (GoLive.extra)."""
    inf = live.extra.get(INFLUENCER)
    if not isinstance(inf, Influencer):
        raise TypeError("the seed journey needs the influencer its adapter went live as")
    return inf
