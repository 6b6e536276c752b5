"""One shard: a set of fans arriving on a ramp, each journey then watch.

Runs in one asyncio loop. API journeys use blocking requests, so they run
in a small thread pool; viewers run in the loop. Rows are batched and
handed to `sink` about twice a second (the controller's writer locally, a
channel to the controller when the shard is remote).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from streamperf.hosts.sampler import HostSampler
from streamperf.load.fans import FanSpec
from streamperf.load.journey import FanAborted, JourneyResult
from streamperf.platform.client import ApiCall
from streamperf.results import events as ev
from streamperf.results.events import Event
from streamperf.viewers import ViewerFactory
from streamperf.viewers.base import EventCallback, Viewer

FLUSH_EVERY_S = 0.5
# From "go" to the first arrival: every shard, local or across the network, has its
# plan and loop ready by then, so no fan arrives late because its shard was starting.
START_DELAY_S = 1.0

JourneyFn = Callable[[FanSpec], JourneyResult]
Sink = Callable[[list[Event]], None]


@dataclass
class ArrivalPlan:
    fans: list[FanSpec]
    ramp_s: float
    duration_s: float
    #: unix time at which fans[0] arrives; fan i arrives at start_at + i * ramp_s
    start_at: float = 0.0
    journey_workers: int = 32


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each viewer holds a socket); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def api_status(call: ApiCall) -> str:
    if call.status is not None:
        return str(call.status)
    return "timeout" if call.outcome == "timeout" else "error"


class Shard:
    def __init__(
        self,
        plan: ArrivalPlan,
        journey: JourneyFn,
        make_viewer: ViewerFactory,
        sink: Sink,
        host: str,
    ) -> None:
        self.plan = plan
        self.host = host
        self._journey = journey
        self._make_viewer = make_viewer
        self._sink = sink
        # A deque: journey threads append while the loop drains it; swapping a list
        # instead could hand a batch to the sink just before a thread appends to it.
        self._pending: collections.deque[Event] = collections.deque()
        self._local = threading.local()
        self.active: dict[str, Viewer] = {}
        self._sent_bytes: dict[str, int] = {}

    # -- rows ---------------------------------------------------------------
    def record(self, row: Event) -> None:
        self._pending.append(row)  # deque.append is thread-safe

    def on_api_call(self, call: ApiCall) -> None:
        """Client hook: every API call becomes a row for the fan on this thread."""
        fan = getattr(self._local, "fan", "")
        self.record(
            Event(time.time(), self.host, fan, ev.API, call.endpoint, call.latency_s,
                  api_status(call), call.detail)
        )

    def _flush(self) -> None:
        pending = self._pending
        batch = [pending.popleft() for _ in range(len(pending))]
        if batch:
            self._sink(batch)

    def _viewer_events(self, viewer: str) -> EventCallback:
        def on_event(event: str, name: str, value: float, detail: str) -> None:
            self.record(Event(time.time(), self.host, viewer, event, name, value, "", detail))

        return on_event

    # -- fans ---------------------------------------------------------------
    def _run_journey(self, spec: FanSpec) -> JourneyResult:
        self._local.fan = spec.username
        try:
            return self._journey(spec)
        finally:
            self._local.fan = ""

    async def _fan(self, spec: FanSpec, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        arrive = self.plan.start_at + spec.index * self.plan.ramp_s
        await asyncio.sleep(max(0.0, arrive - time.time()))
        try:
            result = await loop.run_in_executor(pool, self._run_journey, spec)
        except FanAborted as exc:
            self.record(Event(time.time(), self.host, spec.username, ev.FAN_ABORT, exc.step,
                              0.0, "", str(exc)))
            return
        protocol = result.protocol or spec.protocol
        viewer = self._make_viewer(protocol, result.playback_url,
                                   self._viewer_events(spec.username))
        self.record(Event(time.time(), self.host, spec.username, ev.PLAY, protocol,
                          result.api_s, "", result.playback_url))
        self.active[spec.username] = viewer
        started = time.monotonic()
        try:
            await viewer.run(self.plan.duration_s)
        finally:
            self._sample_one(spec.username, viewer, time.time())
            del self.active[spec.username]
            self.record(Event(time.time(), self.host, spec.username, ev.PLAY_END,
                              protocol, time.monotonic() - started))

    # -- sampling -----------------------------------------------------------
    def _sample_one(self, name: str, viewer: Viewer, now: float) -> None:
        total = viewer.bytes_received
        delta = total - self._sent_bytes.get(name, 0)
        self._sent_bytes[name] = total
        self._pending.append(Event(now, self.host, name, ev.SAMPLE_BYTES, "", float(delta)))
        if viewer.media_ts_ms >= 0:
            self._pending.append(
                Event(now, self.host, name, ev.SAMPLE_MEDIA_TS, "", viewer.media_ts_ms / 1000)
            )
            # HLS with EXT-X-PROGRAM-DATE-TIME: when that media was captured, for latency
            # without a publish clock (someone else publishes).
            captured = getattr(viewer, "media_wallclock", None)
            if captured is not None:
                self._pending.append(
                    Event(now, self.host, name, ev.SAMPLE_CAPTURE_T, "", float(captured)))

    async def _sample_viewers(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + ev.VIEWER_SAMPLE_S
        while not stop.is_set():
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick += ev.VIEWER_SAMPLE_S
            now = time.time()
            for name, viewer in list(self.active.items()):
                self._sample_one(name, viewer, now)

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(FLUSH_EVERY_S)
            self._flush()

    async def run(self) -> None:
        raise_open_files_limit()
        stop = asyncio.Event()
        sampler = HostSampler(self.host, lambda rows: self._pending.extend(rows))
        workers = max(1, min(self.plan.journey_workers, len(self.plan.fans)))
        background = [
            asyncio.create_task(self._sample_viewers(stop)),
            asyncio.create_task(self._flush_loop(stop)),
            asyncio.create_task(sampler.run(stop)),
        ]
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="journey") as pool:
                await asyncio.gather(*(self._fan(spec, pool) for spec in self.plan.fans))
        finally:
            stop.set()
            for task in background:
                task.cancel()
            for viewer in list(self.active.values()):
                viewer.close()
            await self._make_viewer.aclose()
            self._flush()
