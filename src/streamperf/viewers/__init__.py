"""Viewers, a package per protocol (rtmp/, flv/, hls/, dash/, llhls/), behind the Viewer interface
(base.py).

A protocol package imports the shared rooms (base, per_loop, read_batching, formats/,
http/, abr/, reload_grid) and never another protocol's, so a new one sits beside them;
llhls/ alone reads playlists with hls/playlist.py's tag helpers (LL-HLS extends HLS).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from streamperf.viewers.base import EventCallback, Viewer

PROTOCOLS = ("rtmp", "hls", "flv", "dash", "llhls")


def protocol_of_url(url: str) -> str:
    """rtmp:// -> rtmp; over http(s), a path ending .m3u8 -> hls, .mpd -> dash, .flv -> flv.

    Raises ValueError (one line) for a URL no viewer can play.
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if scheme == "rtmp":
        return "rtmp"
    path = parts.path.lower()
    if scheme in ("http", "https"):
        if path.endswith(".m3u8"):
            return "hls"
        if path.endswith(".mpd"):
            return "dash"
        if path.endswith(".flv"):
            return "flv"
        raise ValueError("an http(s) URL must end in .m3u8 (HLS), .mpd (DASH) or .flv (HTTP-FLV)")
    raise ValueError("use rtmp://, or http(s):// ending .m3u8, .mpd or .flv")


class ViewerFactory:
    """Makes the viewers of one event loop.

    Each viewer owns its connections (an HLS viewer its keep-alive ones,
    viewers/http/client.py); what they share per loop is a read buffer.
    """

    def __init__(self, expected_kbps: float | None = None, abr: str = "", cmcd: str = "") -> None:
        self.expected_kbps = expected_kbps
        #: ABR mode of ladder viewers (viewers/abr ABR_MODES or a rendition's name); "":
        #: each protocol's player (hls.js for HLS, dash.js for DASH)
        self.abr = abr
        self.cmcd = cmcd  # "", "query" or "headers" (CTA-5004 keys on each request)

    def __call__(self, protocol: str, url: str, on_event: EventCallback, name: str = "") -> Viewer:
        """A viewer of `url`; `name` (the event log's viewer) is its CMCD session id."""
        if protocol == "rtmp":
            from streamperf.viewers.rtmp.viewer import RtmpViewer

            return RtmpViewer(url, on_event, expected_kbps=self.expected_kbps)
        if protocol == "hls":
            from streamperf.viewers.hls.viewer import HlsViewer

            return HlsViewer(url, on_event, abr=self.abr or "hlsjs", cmcd=self.cmcd,
                             session_id=name)
        if protocol == "flv":
            from streamperf.viewers.flv.viewer import FlvViewer

            return FlvViewer(url, on_event, expected_kbps=self.expected_kbps)
        if protocol == "dash":
            from streamperf.viewers.dash.viewer import DashViewer

            return DashViewer(url, on_event, abr=self.abr or "dashjs", cmcd=self.cmcd,
                              session_id=name)
        if protocol == "llhls":
            from streamperf.viewers.llhls.viewer import LlhlsViewer

            return LlhlsViewer(url, on_event, abr=self.abr or "hlsjs")
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")

    async def aclose(self) -> None:
        """Nothing is shared that needs closing (kept for the shard's shutdown path)."""
