"""Going live through the platform adapter: ask it where to publish, publish, end.

The adapter (platforms/adapter.py) knows the platform's API; this knows the
publisher. With no ingest URL (a stream someone else publishes) there is
no publisher and no publish clock: the source bitrate is then the one the
user gave (`--source-kbps`) or none, and latency is measured only where
the stream itself carries a capture clock (HLS PROGRAM-DATE-TIME).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from streamperf.media.publisher import Publisher, SourceInfo
from streamperf.option_values import ingest_url
from streamperf.platforms.adapter import ApiReport, GoLive, PlatformAdapter, own_publisher
from streamperf.redact import redact, remember_ingest


def stream_name(ingest_url: str) -> str:
    """The name a media server knows a published stream by: the ingest URL's last path
    part, without its query (where a stream key may travel)."""
    return urlsplit(ingest_url).path.rsplit("/", 1)[-1]


@dataclass
class LiveStream:
    platform: PlatformAdapter
    live: GoLive
    #: where streamperf publishes; None when someone else publishes
    ingest_url: str | None
    t0: float | None  # unix time of media timestamp 0; None without a publisher
    source: SourceInfo | None  # None: bitrate unknown (measured from the stream later)
    publisher: Publisher | None
    #: latency of one lone viewer at the origin (load/calibrate.py), once measured
    origin_latency_s: float | None = None
    #: the check that the server sees the publisher's stream (also after a restart)
    publisher_ready: Callable[[], bool] | None = None

    @property
    def source_kbps(self) -> float | None:
        return self.source.bitrate_kbps if self.source is not None else None


class Broadcast:
    """Brings the stream live through `platform`; `stop()` ends it and the publisher."""

    def __init__(
        self,
        platform: PlatformAdapter,
        source: Path | None,
        run_root: Path,
        report: ApiReport = lambda call: None,
        source_kbps: float | None = None,
    ) -> None:
        self.platform = platform
        self.source = source
        self.run_root = run_root
        self.report = report
        self.source_kbps = source_kbps  # given by the user: wins over the probe
        self.live: LiveStream | None = None
        self._went_live = False

    def start(self) -> LiveStream:
        live = self.platform.go_live(self.report)
        self._went_live = True
        publisher: Publisher | None = None
        ready: Callable[[], bool] | None = None
        t0: float | None = None
        source: SourceInfo | None = None
        if live.ingest_url:
            # the stream key is masked from now on
            remember_ingest(live.ingest_url, [live.stream_id] if live.stream_id else [])
            try:  # ffmpeg writes wherever it is told: a path would be a file here
                ingest_url(live.ingest_url)
            except ValueError as exc:
                raise ValueError(f"the platform's ingest URL {redact(live.ingest_url)!r}: {exc}"
                                 ) from None
            if self.source is None:
                raise ValueError(f"nothing to publish to {redact(live.ingest_url)}: "
                                 "no source video")
            # the adapter's own (the bundled platform's ladder), else the plain push
            publisher = (own_publisher(self.platform, self.source, live, self.run_root)
                         or Publisher(self.source, live.ingest_url, self.run_root))
            source = publisher.probe()
            key = stream_name(live.ingest_url)
            check = live.ingest_ready
            ready = (lambda: check(key)) if check else None
            t0 = publisher.start(ready=ready)
        if self.source_kbps:
            source = SourceInfo(self.source_kbps, source.duration_s if source else 0.0,
                                source.gop_s if source else None)
        try:
            self.platform.on_air(live)
        except BaseException:
            if publisher is not None:
                publisher.stop()
            raise
        self.live = LiveStream(self.platform, live, live.ingest_url, t0, source, publisher,
                               publisher_ready=ready)
        return self.live

    def stop(self) -> None:
        # The publisher first: a platform that stops its media server in end() (the
        # bundled one) would otherwise wait out nginx's graceful quit for ffmpeg's session.
        try:
            if self.live is not None and self.live.publisher is not None:
                with contextlib.suppress(Exception):
                    self.live.publisher.stop()
        finally:
            if self._went_live:
                self.platform.end()
