"""The influencer side: sign in, go live, publish, keep the record fresh."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from streamperf.load.fans import FanSpec, existing_fan
from streamperf.load.journey import precreate_fan
from streamperf.media.publisher import Publisher, SourceInfo, probe_source
from streamperf.platform.client import ApiError, Influencer, PlatformClient
from streamperf.settings import SEED_FAN_PASSWORD

RENEW_STREAMING_EVERY_S = 300.0  # the seed re-posted its streaming record every 5 min


@dataclass
class LiveStream:
    influencer: Influencer
    ingest_url: str
    t0: float  # unix time of media timestamp 0
    source: SourceInfo
    publisher: Publisher
    #: latency of one lone viewer at the origin (load/calibrate.py), once measured
    origin_latency_s: float | None = None


class Broadcast:
    """Brings the influencer live; `stop()` ends streaming and the publisher."""

    def __init__(
        self,
        client: PlatformClient,
        email: str,
        token: str,
        source: Path,
        run_root: Path,
        ready_timeout_s: float = 120.0,
        ingest_ready: Callable[[str], bool] | None = None,
        renew_every_s: float = RENEW_STREAMING_EVERY_S,
    ) -> None:
        self.renew_every_s = renew_every_s
        self.client = client
        self.email = email
        self.token = token
        self.source = source
        self.run_root = run_root
        self.ready_timeout_s = ready_timeout_s
        self._ingest_ready = ingest_ready
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.live: LiveStream | None = None
        self.renewals = 0

    def start(self) -> LiveStream:
        inf = self.client.influencer_sign_in(self.email, self.token)
        self.client.create_stream_alerts(inf)
        inf = self.client.wait_servers_ready(inf, timeout_s=self.ready_timeout_s)
        ingest = self.client.ingest_url(inf)
        source = probe_source(self.source)
        publisher = Publisher(self.source, ingest, self.run_root)
        name = ingest.rsplit("/", 1)[-1].split("?")[0]  # the stream key the server sees
        check = self._ingest_ready
        ready = (lambda: check(name)) if check else None
        t0 = publisher.start(ready=ready)
        try:
            self.client.start_streaming(inf)
        except ApiError:
            publisher.stop()
            raise
        self.live = LiveStream(inf, ingest, t0, source, publisher)
        self._renewer = threading.Thread(target=self._renew, name="streaming-record", daemon=True)
        self._renewer.start()
        return self.live

    def _renew(self) -> None:
        assert self.live is not None
        while not self._stop.wait(self.renew_every_s):
            try:
                self.client.start_streaming(self.live.influencer)
                self.renewals += 1
            except ApiError:
                pass  # logged as an API row; the next renewal tries again

    def stop(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        if self.live is not None:
            with contextlib.suppress(ApiError):
                self.client.end_streaming(self.live.influencer)
            self.live.publisher.stop()


def precreate_fans(
    client: PlatformClient,
    influencer: Influencer,
    count: int,
    offset: int,
    password: str = SEED_FAN_PASSWORD,
    workers: int = 16,
) -> int:
    """Make testfan<offset>..testfan<offset+count-1> exist and follow; idempotent.

    How many is the caller's choice: --precreatefans asks for the seed's
    count (load/fans.py seed_precreate_count)."""
    specs: list[FanSpec] = [existing_fan(offset + i, i, password) for i in range(count)]
    with ThreadPoolExecutor(max(1, min(workers, count))) as pool:
        done = list(pool.map(lambda s: precreate_fan(client, s, influencer), specs))
    return len(done)
