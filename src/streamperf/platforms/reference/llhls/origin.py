"""The LL-HLS origin of the bundled platform: a StreamStore and a pull (feed.py) per
published stream, started when the platform's on_publish accepts a publisher.

Modes: "on" answers blocking reloads as RFC 8216bis says; "storm" answers them
at once with the playlist as it stands (while still saying CAN-BLOCK-RELOAD=YES),
as a broken origin does: a target for viewers that must not reload in a spin.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamperf.media.publisher import tool
from streamperf.media.server import MediaServer
from streamperf.platforms.reference.llhls.feed import PullFeed, pull_command
from streamperf.platforms.reference.llhls.store import StreamStore

MODES = ("", "on", "storm")
#: under the API's base URL: /llhls/<stream>/index.m3u8
PREFIX = "/llhls"
PLAYLIST = "index.m3u8"


def llhls_mode(value: bool | str | None) -> str:
    """A ReferencePlatform's `llhls` as one of MODES (True: "on")."""
    if value is True:
        return "on"
    if value in (False, None):
        return ""
    if value not in MODES:
        raise ValueError(f"llhls must be one of {MODES} or a bool, not {value!r}")
    return str(value)


def playlist_path(stream: str) -> str:
    return f"{PREFIX}/{stream}/{PLAYLIST}"


class Origin:
    """The streams the origin serves, each with its store and its pull."""

    def __init__(self, media: MediaServer, workdir: Path, storm: bool = False) -> None:
        self.media = media
        self.workdir = Path(workdir)
        self.storm = storm
        self.streams: dict[str, StreamStore] = {}
        self.feeds: dict[str, PullFeed] = {}
        self._ffmpeg = tool("ffmpeg")

    def published(self, name: str) -> StreamStore:
        """A publisher of `name` was let in: pull it (on the running event loop)."""
        store = self.streams.get(name)
        if store is None:
            store = self.streams[name] = StreamStore(name)
        feed = self.feeds.get(name)
        if feed is None:
            feed = self.feeds[name] = PullFeed(
                store, pull_command(self._ffmpeg, self.media.rtmp_url(name)),
                self.workdir / f"{name}.ffmpeg.log", lambda: self._is_published(name))
        feed.start()
        return store

    async def _is_published(self, name: str) -> bool:
        # /stat is a blocking HTTP call: off the loop
        return await asyncio.to_thread(self.media.is_publishing, name)

    def stream(self, name: str) -> StreamStore | None:
        return self.streams.get(name)

    async def close(self) -> None:
        """Stop every pull (ffmpeg by PID) and answer every waiter now."""
        await asyncio.gather(*(feed.stop() for feed in self.feeds.values()))
        for store in self.streams.values():
            store.close()
