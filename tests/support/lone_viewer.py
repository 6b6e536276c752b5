"""One streamperf viewer played alone, its figures from streamperf's own analysis.

What a run would say of that viewer, without a run's machinery (platform,
shards, workers): its rows as a shard writes them (load/shard.py: a PLAY row
as it is asked to play, its on_event rows as they come, every
VIEWER_SAMPLE_S its bytes, newest media time and, where the stream has one,
capture time), written to an events.csv and read back by
results.analysis.figures.analyse: startup (PLAY to first video), stalls (the
playhead model), latency; its RENDITION rows say which rendition it held when.

    run = await play_alone(lambda on_event: HlsViewer(url, on_event, abr="hlsjs"), 35, tmp)
    run.startup_s, run.stalls, run.latency_s, run.rendition_at(30)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamperf.results.analysis.figures import analyse
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.viewers.base import EventCallback, Viewer

HOST, NAME = "lone", "viewer"


@dataclass(frozen=True)
class Held:
    t_s: float  # from the PLAY row
    name: str
    kbps: float  # the rendition's bandwidth as its manifest declares it
    detail: dict[str, Any]  # the row's JSON: why, res, est_kbps, ...


@dataclass
class LoneRun:
    """A lone viewer's run: analyse()'s row of it and the renditions it held."""

    figures: dict[str, Any]  # analyse()'s viewer row (startup_s, stalls, latency_s, ...)
    held: list[Held]  # each RENDITION row, in order
    errors: list[str]
    events_csv: Path

    @property
    def startup_s(self) -> float | None:
        return _number(self.figures.get("startup_s"))

    @property
    def stalls(self) -> int:
        return int(self.figures.get("stalls") or 0)

    @property
    def latency_s(self) -> float | None:
        return _number(self.figures.get("latency_s"))

    def rendition_at(self, t_s: float) -> Held | None:
        done = [h for h in self.held if h.t_s <= t_s]
        return done[-1] if done else None

    def summary(self) -> str:
        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}"
        switches = ", ".join(f"{h.name}@{h.t_s:.1f}s({h.detail.get('why', '?')})"
                             for h in self.held)
        return (f"startup {fmt(self.startup_s)} s, renditions [{switches}], stalls "
                f"{self.stalls} ({self.figures.get('stall_s', 0):.1f} s), latency "
                f"{fmt(self.latency_s)} s, errors {len(self.errors)}")


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN: not measured


async def play_alone(make: Callable[[EventCallback], Viewer], seconds: float, workdir: Path,
                     protocol: str = "") -> LoneRun:
    """`make(on_event)` played for `seconds`, sampled as a shard samples it."""
    rows: list[Event] = []

    def on_event(kind: str, name: str, value: float, detail: str) -> None:
        rows.append(Event(time.time(), HOST, NAME, kind, name, value, "", detail))

    viewer = make(on_event)
    sent = 0

    def sample() -> None:
        nonlocal sent
        now, total = time.time(), viewer.bytes_received
        rows.append(Event(now, HOST, NAME, ev.SAMPLE_BYTES, "", float(total - sent)))
        sent = total
        if viewer.media_ts_ms >= 0:
            rows.append(Event(now, HOST, NAME, ev.SAMPLE_MEDIA_TS, "", viewer.media_ts_ms / 1000))
            captured = getattr(viewer, "media_wallclock", None)
            if captured is not None:
                rows.append(Event(now, HOST, NAME, ev.SAMPLE_CAPTURE_T, "", float(captured)))

    played = time.time()
    rows.append(Event(played, HOST, NAME, ev.PLAY, protocol or viewer.protocol, 0.0))
    task = asyncio.ensure_future(viewer.run(seconds))
    loop = asyncio.get_running_loop()
    tick = loop.time()
    try:
        while not task.done():
            tick += ev.VIEWER_SAMPLE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), max(0.0, tick - loop.time()))
            sample()
        await task
    finally:
        if not task.done():
            viewer.close()
            await asyncio.gather(task, return_exceptions=True)
    rows.append(Event(time.time(), HOST, NAME, ev.PLAY_END, protocol or viewer.protocol,
                      time.time() - played))
    path = Path(workdir) / "events.csv"
    writer = EventWriter(path)
    writer.write_many([Event(played, HOST, "", ev.RUN_START, "lone", 0.0), *rows])
    writer.close()
    figures = analyse(read_log(path)).viewers.set_index("viewer").loc[NAME].to_dict()
    held = [Held(r.t - played, r.name, r.value, json.loads(r.detail or "{}"))
            for r in rows if r.event == ev.RENDITION]
    errors = [f"{r.name}: {r.detail}" for r in rows if r.event == ev.VIEWER_ERROR]
    return LoneRun(figures, held, errors, path)
