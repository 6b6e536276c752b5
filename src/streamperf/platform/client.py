"""Moved: ApiCall and ApiError are streamperf.platforms, the seed's client
streamperf.platforms.seed.client (this path for one release)."""

from streamperf._moved import forward

__getattr__ = forward(__name__, {
    "ApiCall": "streamperf.platforms", "ApiError": "streamperf.platforms",
    "PlatformClient": "streamperf.platforms.seed.client",
    "Influencer": "streamperf.platforms.seed.client",
    "Fan": "streamperf.platforms.seed.client"})
