"""Any stream by URL, no platform API: the "direct" PlatformAdapter.

`--play-url URL` (repeatable): viewers play these URLs, fan i the URL
i mod n, so they spread round-robin over several edges or renditions; the
protocol comes from the URL (an .m3u8 whose playlist has LL-HLS parts and blocking
reload: llhls, asked once as the stream goes live). `--ingest-url URL`: streamperf publishes
there with its usual ffmpeg publisher. With play URLs and no ingest URL
nothing is published: streamperf watches a stream someone else publishes.
No API calls are made, so no `api` rows exist and the API thresholds are
not applicable.
"""

from __future__ import annotations

from streamperf.platforms.adapter import ApiReport, FanPlay, GoLive
from streamperf.platforms.fans import FanSpec
from streamperf.viewers import protocol_of_url
from streamperf.viewers.llhls.probe import is_low_latency


class DirectPlatform:
    """Go live = publish to `ingest_url` (or nothing); a journey = the next play URL."""

    def __init__(self, play_urls: tuple[str, ...], ingest_url: str = "") -> None:
        if not play_urls:
            raise ValueError("a direct platform needs at least one play URL")
        self.play_urls = tuple(play_urls)
        self.protocols = tuple(protocol_of_url(u) for u in self.play_urls)
        self.ingest_url = ingest_url

    def __repr__(self) -> str:
        return f"DirectPlatform({list(self.play_urls)!r}, ingest_url={self.ingest_url!r})"

    def go_live(self, report: ApiReport) -> GoLive:
        stream = self.play_urls[0].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        return GoLive(self.ingest_url or None, stream_id=stream)

    def on_air(self, live: GoLive) -> None:
        # An .m3u8 serving LL-HLS (parts, blocking reload) is played by the LL-HLS
        # viewer: asked once per URL, now that the stream is live.
        self.protocols = tuple(
            "llhls" if p == "hls" and is_low_latency(u) else p
            for u, p in zip(self.play_urls, self.protocols, strict=True))

    def prepare_fans(self, fans: list[FanSpec]) -> None:
        pass

    def fan_journey(self, fan: FanSpec, live: GoLive, report: ApiReport) -> FanPlay:
        k = fan.index % len(self.play_urls)
        return FanPlay(self.play_urls[k], self.protocols[k])

    def end(self) -> None:
        pass
