"""The seed tool's REST API as a PlatformAdapter, and the bundled platform serving it.

`SeedApiPlatform` wraps platform/client.py's PlatformClient and
load/journey.py's run_journey: the influencer signs in, creates stream
alerts, waits for its servers, publishes to the ingest URL and keeps its
streaming record fresh (every 5 minutes, as the seed); each fan walks the
seed's journey. `BundledPlatform` is the same against the reference
platform (platform/reference.py) that streamperf starts itself.

These are the adapters whose journeys can also run on worker processes and
load hosts: everything a worker needs to walk them is plain data
(`worker_plan`), and the code is streamperf's own.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streamperf.load.adapter import ApiReport, FanPlay, GoLive
from streamperf.load.fans import FanSpec
from streamperf.load.journey import ThinkTimes, precreate_fan, run_journey
from streamperf.platform.client import ApiCall, ApiError, Influencer, PlatformClient
from streamperf.settings import SEED_CODE_TEXT, SEED_ORIGIN_PORT

RENEW_STREAMING_EVERY_S = 300.0  # the seed re-posted its streaming record every 5 min


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
        return GoLive(ingest, inf.username, inf, self._ingest_ready)

    def on_air(self, live: GoLive) -> None:
        assert live.influencer is not None
        with self._reporting(self._report):
            self.client.start_streaming(live.influencer)
        self._renewer = threading.Thread(target=self._renew, args=(live.influencer,),
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
        assert live.influencer is not None, "the seed journey needs the influencer"
        with self._reporting(report):
            result = run_journey(self.client, fan, live.influencer, self.code_text,
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
    def worker_plan(self) -> dict[str, Any]:
        """What a worker process needs to walk these journeys itself (remote_shard)."""
        return {"api_url": self.api_url, "streams_api_url": self.streams_api_url,
                "streams_token": self.streams_token, "timeout_s": self.timeout_s,
                "sleep_between_steps": self.sleep_between_steps,
                "code_text": self.code_text, "origin_port": self.origin_port}


class BundledPlatform(SeedApiPlatform):
    """The reference platform (aiohttp + SQLite + its own nginx-rtmp), started here."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", media_port: int | None = None,
                 streams_token: str | None = None, seed_mode: bool = False,
                 **seed: Any) -> None:
        from streamperf.platform.reference import ReferencePlatform

        # Seed mode answers exactly as the seed's backend did, behind its origin port.
        self.reference = ReferencePlatform(workdir, host=host, media_port=media_port,
                                           streams_token=streams_token, seed=seed_mode,
                                           origin_port=seed.get("origin_port", SEED_ORIGIN_PORT))
        # The influencer's oauth token: --token, else one made for this platform (the
        # bundled platform keeps the token an influencer signed up with, and asks for it).
        seed["token"] = seed.get("token") or secrets.token_urlsafe(16)
        super().__init__("", streams_token=self.reference.streams_token, precreate=True,
                         ingest_ready=self.reference.media.is_publishing, **seed)

    def start(self) -> BundledPlatform:
        self.reference.start()
        self.api_url = self.streams_api_url = self.reference.base_url
        return self

    @property
    def media(self) -> Any:
        return self.reference.media

    def end(self) -> None:
        super().end()
        self.reference.stop()
