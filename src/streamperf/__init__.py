"""streamperf: performance tests for live-streaming platforms."""

__version__ = "0.1.0"
