"""The LL-HLS origin of the bundled platform: a StreamStore and a pull (feed.py) per
published stream, started when the platform's on_publish accepts a publisher.

A ladder (`--ladder`): its publisher pushes each lower rung as a stream of its
own (`<stream>__<rung>`, media/ladder_outputs.py), each pulled into its own store,
numbered by media time so a part is the same msn.part in every rung; the stream's
`master.m3u8` lists them, and each rung's playlist reports the others' newest part
(EXT-X-RENDITION-REPORT), so a player switching knows what to ask the other for.

Modes: "on" answers blocking reloads as RFC 8216bis says; "storm" answers them
at once with the playlist as it stands (while still saying CAN-BLOCK-RELOAD=YES),
as a broken origin does: a target for viewers that must not reload in a spin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from streamperf.media.ladder_outputs import RUNG_SEP, master_playlist, rung_stream
from streamperf.media.publisher import tool
from streamperf.media.rungs import Rendition
from streamperf.media.server import MediaServer
from streamperf.platforms.reference.llhls.feed import PullFeed, pull_command
from streamperf.platforms.reference.llhls.store import StreamStore

MODES = ("", "on", "storm")
#: under the API's base URL: /llhls/<stream>/index.m3u8
PREFIX = "/llhls"
PLAYLIST = "index.m3u8"
MASTER = "master.m3u8"


def llhls_mode(value: bool | str | None) -> str:
    """A ReferencePlatform's `llhls` as one of MODES (True: "on")."""
    if value is True:
        return "on"
    if value in (False, None):
        return ""
    if value not in MODES:
        raise ValueError(f"llhls must be one of {MODES} or a bool, not {value!r}")
    return str(value)


def playlist_path(stream: str, master: bool = False) -> str:
    return f"{PREFIX}/{stream}/{MASTER if master else PLAYLIST}"


def group_of(stream: str) -> str:
    """The ladder stream a rung's stream belongs to (itself for the top or a lone one)."""
    return stream.partition(RUNG_SEP)[0]


class Origin:
    """The streams the origin serves, each with its store and its pull."""

    def __init__(self, media: MediaServer, workdir: Path, storm: bool = False) -> None:
        self.media = media
        self.workdir = Path(workdir)
        self.storm = storm
        self.streams: dict[str, StreamStore] = {}
        self.feeds: dict[str, PullFeed] = {}
        #: a ladder stream's renditions, top first (set as its publisher starts)
        self.ladders: dict[str, tuple[Rendition, ...]] = {}
        self._ffmpeg = tool("ffmpeg")

    def set_ladder(self, stream: str, renditions: Sequence[Rendition]) -> None:
        self.ladders[stream] = tuple(renditions)

    def rung_streams(self, stream: str) -> list[str]:
        """The stream names of the rungs of `stream`'s ladder, top first; [] without one."""
        ladder = self.ladders.get(group_of(stream), ())
        return [group_of(stream) if i == 0 else rung_stream(group_of(stream), r.name)
                for i, r in enumerate(ladder)]

    def siblings(self, stream: str) -> list[StreamStore]:
        """The stores of the other rungs of `stream`'s ladder that have media."""
        return [st for name in self.rung_streams(stream) if name != stream
                and (st := self.streams.get(name)) is not None and st.newest is not None]

    def master(self, stream: str) -> str | None:
        """`stream`'s master playlist (its rungs' media playlists), None without a ladder."""
        names = dict(zip((r.name for r in self.ladders.get(stream, ())),
                         self.rung_streams(stream), strict=True))
        if not names:
            return None
        return master_playlist(self.ladders[stream], lambda r: f"../{names[r.name]}/{PLAYLIST}")

    def published(self, name: str) -> StreamStore:
        """A publisher of `name` was let in: pull it (on the running event loop)."""
        store = self.streams.get(name)
        if store is None:
            store = self.streams[name] = StreamStore(name, timed_msn=True)
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
