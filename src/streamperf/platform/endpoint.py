"""Where the platform under test answers: what a run needs to reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamperf.media.server import MediaServer


@dataclass
class PlatformEndpoint:
    api_url: str
    streams_api_url: str
    streams_token: str
    media: MediaServer | None = None  # known only for the bundled platform
