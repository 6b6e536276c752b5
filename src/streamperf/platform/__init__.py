"""Moved: the platforms are streamperf.platforms (this package for one release)."""
