"""Viewers, one module per protocol, behind the Viewer interface (base.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamperf.viewers.base import EventCallback, Viewer

if TYPE_CHECKING:
    import aiohttp

PROTOCOLS = ("rtmp", "hls", "flv")
DEFAULT_RTMP_PORT = 1935  # RTMP's registered port: what a URL without one means


class ViewerFactory:
    """Makes the viewers of one event loop; HLS viewers share one HTTP client.

    One aiohttp session (and connection pool) per loop, not per viewer: a
    session costs memory and a pool can reuse keep-alive connections.
    """

    def __init__(self, expected_kbps: float | None = None) -> None:
        self.expected_kbps = expected_kbps
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            from streamperf.viewers.http_session import make_session

            self._http = make_session()
        return self._http

    def __call__(self, protocol: str, url: str, on_event: EventCallback) -> Viewer:
        if protocol == "rtmp":
            from streamperf.viewers.rtmp import RtmpViewer

            return RtmpViewer(url, on_event, expected_kbps=self.expected_kbps)
        if protocol == "hls":
            from streamperf.viewers.hls import HlsViewer

            return HlsViewer(url, on_event, session=self._session())
        if protocol == "flv":
            from streamperf.viewers.flv import FlvViewer

            return FlvViewer(url, on_event, expected_kbps=self.expected_kbps)
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
