"""The bundled reference platform as a PlatformAdapter: the seed's API adapter against
the reference platform (server.py) that streamperf starts itself.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from streamperf.platforms.seed.adapter import SeedApiPlatform, seed_options
from streamperf.platforms.seed.conventions import SEED_ORIGIN_PORT


class BundledPlatform(SeedApiPlatform):
    """The reference platform (aiohttp + SQLite + its own nginx-rtmp), started here."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", media_port: int | None = None,
                 streams_token: str | None = None, seed_mode: bool = False,
                 **seed: Any) -> None:
        from streamperf.platforms.reference.server import ReferencePlatform

        # Seed mode answers exactly as the seed's backend did, behind its origin port.
        self.reference = ReferencePlatform(workdir, host=host, media_port=media_port,
                                           streams_token=streams_token, seed=seed_mode,
                                           origin_port=seed.get("origin_port", SEED_ORIGIN_PORT))
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
                   **seed_options(s)).start()

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
