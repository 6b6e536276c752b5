"""What an LL-HLS viewer asks for besides media, and how failures read: playlists as
text, the init section a playlist names, error rows (LlhlsViewer's base).
"""

from __future__ import annotations

from streamperf.viewers.base import VIEWER_ERROR, EventCallback
from streamperf.viewers.formats.fmp4 import BoxError, InitInfo, read_init
from streamperf.viewers.http.client import HttpClient
from streamperf.viewers.http.connection import GetError
from streamperf.viewers.llhls.bodies import OK_STATUS, TextBody
from streamperf.viewers.llhls.counters import RequestCounts
from streamperf.viewers.llhls.playlist import LlPlaylist
from streamperf.viewers.llhls.rows import BLOCKED, INIT, PLAYLIST


class Failed(Exception):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(why)
        self.name = name  # the error row's name: connect, timeout, protocol
        self.why = why


class LlFetcher:
    """The requests' side of LlhlsViewer (which sets these in its __init__)."""

    url: str
    on_event: EventCallback
    connect_timeout: float
    error: str | None
    bytes_received: int
    requests: RequestCounts
    _lists: HttpClient | None  # playlists: a connection of their own
    _media: HttpClient | None  # parts, init sections
    _init: InitInfo | None
    _init_uri: str | None
    _fmp4: bool

    async def _ensure_init(self, pl: LlPlaylist) -> bool:
        """The init section loaded when the playlist names one (the first playlist of a
        stream not begun may not); False after a final error: no init, no media."""
        if pl.map_uri is None or pl.map_uri == self._init_uri:
            return True
        try:
            await self._load_init(pl)
        except Failed as f:
            self._error(f.name, f.why)
            return False
        return True

    async def _load_init(self, pl: LlPlaylist) -> None:
        assert self._media is not None and pl.map_uri is not None
        sink = TextBody(self)
        headers = pl.map_range.header() if pl.map_range is not None else b""
        try:
            resp = await self._media.get(pl.map_uri, self.connect_timeout, sink, 0.0, headers)
        except GetError as e:
            raise Failed("timeout" if e.kind == "timeout" else "protocol",
                         f"init {pl.map_uri}: {e.why}") from None
        self.requests.add(INIT)
        if resp.status not in OK_STATUS:
            raise Failed("protocol", f"init {pl.map_uri}: HTTP {resp.status}")
        try:
            self._init = read_init(sink.body())
        except BoxError as e:
            raise Failed("protocol", f"init {pl.map_uri}: {e}") from None
        self._fmp4 = True
        self._init_uri = pl.map_uri

    async def _get_text(self, url: str, limit: float, blocking: bool = False) -> tuple[str, str]:
        http = self._lists
        assert http is not None
        sink = TextBody(self)
        try:
            resp = await http.get(url, limit, sink)
        except GetError as e:
            name = {"connect": "connect", "timeout": "timeout"}.get(e.kind, "protocol")
            raise Failed(name, f"GET {url}: {e.why}") from None
        finally:
            self.requests.add(PLAYLIST)
            if blocking:
                self.requests.add(BLOCKED)
        if resp.status != 200:
            raise Failed("protocol", f"GET {url}: HTTP {resp.status}")
        return sink.body().decode("utf-8", "replace"), resp.url

    def _error(self, name: str, what: str) -> None:
        if self.error is None:
            self.error = name
        self.on_event(VIEWER_ERROR, name, 0.0, f"{self.url}: {what}")


__all__ = ["Failed", "LlFetcher"]
