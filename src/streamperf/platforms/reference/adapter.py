"""The bundled reference platform as a PlatformAdapter: the seed's API adapter against
the reference platform (server.py) that streamperf starts itself.

With a ladder (`--ladder`) it also publishes in its own way (`make_publisher`):
the source encoded into the rungs once (media/ladder.py, cached) and published
as HLS + DASH into its nginx, the top rendition to its RTMP ingest (and, when
its LL-HLS origin runs, every rung, which the origin serves as an LL-HLS ladder).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from streamperf.media.ladder import make_ladder
from streamperf.media.ladder_publisher import LadderPublisher
from streamperf.media.publisher import default_cache_dir
from streamperf.media.rungs import Rung
from streamperf.platforms.adapter import GoLive
from streamperf.platforms.reference.api import TIME_PATH, stream_name
from streamperf.platforms.seed.adapter import SeedApiPlatform, seed_options
from streamperf.platforms.seed.conventions import SEED_ORIGIN_PORT


def _plays_llhls(settings: Any) -> bool:
    """Whether a session's viewers play LL-HLS (--protocol llhls, or a share of the mix):
    then the platform runs its LL-HLS origin (llhls/), which pulls each stream."""
    # settings of another shape (a team's own, an older RunSettings): no LL-HLS
    shares = getattr(settings, "protocol_shares", None) or ()
    return any(name == "llhls" for name, _ in shares)


class BundledPlatform(SeedApiPlatform):
    """The reference platform (aiohttp + SQLite + its own nginx-rtmp), started here."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", media_port: int | None = None,
                 streams_token: str | None = None, seed_mode: bool = False,
                 ladder: tuple[Rung, ...] = (), llhls: str = "", allow_exposed: bool = False,
                 **seed: Any) -> None:
        from streamperf.platforms.reference.server import ReferencePlatform

        self.ladder = ladder  # empty: the source is published as it is, one rendition
        # Seed mode answers exactly as the seed's backend did, behind its origin port.
        self.reference = ReferencePlatform(workdir, host=host, media_port=media_port,
                                           streams_token=streams_token, seed=seed_mode,
                                           origin_port=seed.get("origin_port", SEED_ORIGIN_PORT),
                                           ladder=bool(ladder), llhls=llhls,
                                           allow_exposed=allow_exposed)
        # The influencer's oauth token: --token, else one made for this platform (the
        # bundled platform keeps the token an influencer signed up with, and asks for it).
        seed["token"] = seed.get("token") or secrets.token_urlsafe(16)
        super().__init__("", streams_token=self.reference.streams_token, precreate=True,
                         ingest_ready=self.reference.media.is_publishing, **seed)

    @classmethod
    def for_session(cls, settings: Any, workdir: Path) -> BundledPlatform:
        """The bundled platform of a session (settings: a RunSettings), started."""
        s = settings
        return cls(workdir, host=s.platform_host, media_port=s.media_port,
                   streams_token=s.streams_api_token or None,
                   seed_mode=s.bundled_platform == "seed", token=s.token,
                   ladder=s.ladder, llhls="on" if _plays_llhls(s) else "",
                   allow_exposed=bool(getattr(s, "allow_exposed", False)),
                   **seed_options(s)).start()

    def start(self) -> BundledPlatform:
        self.reference.start()
        self.api_url = self.streams_api_url = self.reference.base_url
        return self

    def make_publisher(self, source: Path, live: GoLive, run_dir: Path) -> LadderPublisher | None:
        """With a ladder: its renditions of `source` (encoded on the first run, cached)
        published into this platform's nginx; without one, None (the plain push)."""
        if not self.ladder or not live.ingest_url:
            return None
        ladder = make_ladder(source, self.ladder, default_cache_dir())
        name = stream_name(live.stream_id)
        origin = self.reference.llhls_origin
        if origin is not None:  # it pulls every rung, and lists them in a master playlist
            origin.set_ladder(name, ladder.renditions)
        return LadderPublisher(ladder, live.ingest_url, self.media.ladder_dir(name), run_dir,
                               utc_timing_url=f"{self.reference.base_url}{TIME_PATH}",
                               rungs_to_rtmp=origin is not None)

    @property
    def media(self) -> Any:
        return self.reference.media

    def end(self) -> None:
        super().end()
        self.reference.stop()
