"""Viewers, one module per protocol, behind the Viewer interface (base.py)."""

from __future__ import annotations

from streamperf.viewers.base import EventCallback, Viewer

PROTOCOLS = ("rtmp",)


def make_viewer(
    protocol: str, url: str, on_event: EventCallback, expected_kbps: float | None = None
) -> Viewer:
    if protocol == "rtmp":
        from streamperf.viewers.rtmp import RtmpViewer

        return RtmpViewer(url, on_event, expected_kbps=expected_kbps)
    raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
