"""Calibration: the latency one lone viewer sees straight at the origin.

Shown beside the run's latency so a reader can tell what the platform's
edges and the load added from what the tool and the origin cost anyway.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from streamperf.viewers.rtmp.viewer import RtmpViewer

READ_EVERY_S = 0.1


async def origin_latency(
    url: str, t0: float, seconds: float = 5.0, expected_kbps: float | None = None
) -> float | None:
    """Median of `now - (t0 + newest media ts)` over `seconds`; None if no media came."""
    viewer = RtmpViewer(url, lambda *_: None, expected_kbps=expected_kbps)
    task = asyncio.create_task(viewer.run(seconds))
    readings: list[float] = []
    last_ts = -1
    while not task.done():
        await asyncio.sleep(READ_EVERY_S)
        ts = viewer.media_ts_ms
        # Only fresh arrivals: between reads the newest timestamp ages with the wall clock.
        if ts > last_ts >= 0:
            readings.append(time.time() - (t0 + ts / 1000))
        last_ts = ts
    await task
    return statistics.median(readings) if readings else None
