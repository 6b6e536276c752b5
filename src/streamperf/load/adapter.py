"""Moved: the adapter interface is streamperf.platforms (this path for one release)."""

from streamperf._moved import forward

__getattr__ = forward(__name__, {name: "streamperf.platforms" for name in (
    "PlatformAdapter", "GoLive", "FanPlay", "ApiReport", "FanJourneyError")})
