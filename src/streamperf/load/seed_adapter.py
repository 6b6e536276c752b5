"""Moved: the seed API's adapter is streamperf.platforms.seed, the bundled platform's
streamperf.platforms.reference (this path for one release)."""

from streamperf._moved import forward

__getattr__ = forward(__name__, {"SeedApiPlatform": "streamperf.platforms.seed.adapter",
                                 "BundledPlatform": "streamperf.platforms.reference.adapter"})
