"""Moved: the stream-URL adapter is streamperf.platforms.direct (this path for one release)."""

from streamperf._moved import forward

__getattr__ = forward(__name__, {"DirectPlatform": "streamperf.platforms.direct"})
