"""One shard: a set of fans arriving on a ramp, each journey then watch.

Runs in one asyncio loop. API journeys use blocking requests, so they run
in a small thread pool; viewers run in the loop. Rows are batched and
handed to `sink` about twice a second (the controller's writer locally, a
channel to the controller when the shard is remote).

One fan never ends the others: whatever a fan's journey or viewer raises
(an unusable API answer, a URL no viewer can play, a stream that trips a
viewer) becomes that fan's `fan_abort` or `error` row, and the rest play on.

With --reconnect a viewer that stops before its time (dropped, refused, timed
out) is replaced by a new one for the same URL after a backoff, with a
`reconnect` row, for any protocol; the analysis stitches its media sessions
(results/analysis/media_sessions.py), so the gap counts as stall time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from streamperf.hosts.sampler import HostSampler
from streamperf.load.messages import Sink
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import FanAborted, Journey, JourneyResult
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.viewers import ViewerFactory
from streamperf.viewers.base import EventCallback, Viewer

FLUSH_EVERY_S = 0.5
# From "go" to the first arrival: every shard, local or across the network, has its
# plan and loop ready by then, so no fan arrives late because its shard was starting.
START_DELAY_S = 1.0

# fan_abort step names of failures the journey itself does not name
JOURNEY_STEP = "journey"  # the journey raised something other than FanAborted
PLAYBACK_URL_STEP = "playback_url"  # no viewer can be made for the URL the journey gave
# error name of an exception out of a viewer (the Viewer contract says it never raises)
VIEWER_FAILED = "protocol"
# --reconnect: the wait before the n-th attempt in a row doubles from the first to the
# cap; a session that played this long counts as healthy, so the next wait is short again
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 8.0
RECONNECT_HEALTHY_S = 10.0
# less play time than this left is not worth a new connection
RECONNECT_MIN_LEFT_S = 1.0



@dataclass
class ArrivalPlan:
    fans: list[FanSpec]
    ramp_s: float
    duration_s: float
    #: unix time at which fans[0] arrives; fan i arrives at start_at + i * ramp_s
    start_at: float = 0.0
    journey_workers: int = 32
    #: --reconnect: a viewer that stops early plays again until its duration is up
    reconnect: bool = False


def reconnect_wait_s(failures_in_a_row: int) -> float:
    """Backoff before a reconnect: RECONNECT_FIRST_S doubling per failure, capped."""
    return min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** min(failures_in_a_row, 16))


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each viewer holds a socket); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def api_status(call: ApiCall) -> str:
    if call.status is not None:
        return str(call.status)
    return "timeout" if call.outcome == "timeout" else "error"


def api_row(call: ApiCall, host: str, viewer: str) -> Event:
    """The event log's row for one API call, made now."""
    return Event(time.time(), host, viewer, ev.API, call.endpoint, call.latency_s,
                 api_status(call), call.detail)


class Shard:
    def __init__(
        self,
        plan: ArrivalPlan,
        journey: Journey,
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
        self._stopped: set[str] = set()  # viewers the shard stopped: never reconnected

    # -- rows ---------------------------------------------------------------
    def record(self, row: Event) -> None:
        self._pending.append(row)  # deque.append is thread-safe

    def on_api_call(self, call: ApiCall) -> None:
        """Client hook: every API call becomes a row for the fan on this thread."""
        self.record(api_row(call, self.host, getattr(self._local, "fan", "")))

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
        """One fan, start to end. Whatever goes wrong ends this fan only, with a row
        saying why: the shard's other fans share its loop and must play on."""
        loop = asyncio.get_running_loop()
        arrive = self.plan.start_at + spec.index * self.plan.ramp_s
        await asyncio.sleep(max(0.0, arrive - time.time()))
        try:
            result = await loop.run_in_executor(pool, self._run_journey, spec)
        except FanAborted as exc:
            self._abort(spec, exc.step, str(exc))
            return
        except Exception as exc:  # a step the journey does not guard
            self._abort(spec, JOURNEY_STEP, f"{JOURNEY_STEP}: {_describe(exc)}")
            return
        url = result.playback_url
        protocol = result.protocol or spec.protocol
        try:
            viewer = self._make_viewer(protocol, url, self._viewer_events(spec.username),
                                       spec.username)
        except Exception as exc:  # e.g. a URL of 123, or with port 99999
            self._abort(spec, PLAYBACK_URL_STEP,
                        f"{PLAYBACK_URL_STEP}: {protocol} URL {url!r} is unusable: "
                        f"{_describe(exc)}")
            return
        self.record(Event(time.time(), self.host, spec.username, ev.PLAY, protocol,
                          result.api_s, "", str(url)))
        started = time.monotonic()
        try:
            await self._watch(spec.username, protocol, str(url), viewer, started)
        finally:
            self.record(Event(time.time(), self.host, spec.username, ev.PLAY_END,
                              protocol, time.monotonic() - started))

    async def _watch(self, name: str, protocol: str, url: str, viewer: Viewer,
                     started: float) -> None:
        """Play until the duration is up; with --reconnect a viewer that stopped early
        (disconnected, refused, timed out) is replaced by a new one after a backoff,
        each with a `reconnect` row, until the duration is up."""
        end = started + self.plan.duration_s
        attempt = failures = 0
        while True:
            self.active[name] = viewer
            self._sent_bytes[name] = 0  # a new viewer counts its bytes from 0
            session_start = time.monotonic()
            try:
                await viewer.run(max(0.0, end - session_start))
            except Exception as exc:  # the Viewer contract says never; a hostile stream may
                self._viewer_failed(name, viewer, f"{url}: {_describe(exc)}")
            finally:
                self._sample_or_stop(name, viewer, time.time())
                self.active.pop(name, None)
            if not self.plan.reconnect or name in self._stopped:
                return
            failures = 0 if time.monotonic() - session_start >= RECONNECT_HEALTHY_S else (
                failures + 1)
            wait = reconnect_wait_s(failures - 1 if failures else 0)
            if end - time.monotonic() - wait < RECONNECT_MIN_LEFT_S:
                return
            await asyncio.sleep(wait)
            attempt += 1
            try:
                viewer = self._make_viewer(protocol, url, self._viewer_events(name), name)
            except Exception as exc:  # it was made once from this URL; be safe all the same
                self._viewer_failed(name, viewer, f"{url}: reconnect: {_describe(exc)}")
                return
            self.record(Event(time.time(), self.host, name, ev.RECONNECT, protocol,
                              float(attempt), "", url))

    def _abort(self, spec: FanSpec, step: str, detail: str) -> None:
        self.record(Event(time.time(), self.host, spec.username, ev.FAN_ABORT, step, 0.0, "",
                          detail))

    def _viewer_failed(self, name: str, viewer: Viewer, detail: str) -> None:
        """An exception out of a viewer: its error row; the viewer stops."""
        self._stopped.add(name)
        self.record(Event(time.time(), self.host, name, ev.VIEWER_ERROR, VIEWER_FAILED, 0.0,
                          "", f"{detail} (viewer stopped)"))
        with contextlib.suppress(Exception):
            viewer.close()

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
        # A viewer with figures of its own per window (LL-HLS: its requests by kind).
        window_rows = getattr(viewer, "window_rows", None)
        if window_rows is not None:
            self._pending.extend(Event(now, self.host, name, event, what, float(value), "", detail)
                                 for event, what, value, detail in window_rows())

    def _sample_or_stop(self, name: str, viewer: Viewer, now: float) -> None:
        """Sample one viewer; one whose figures cannot be read is stopped, once."""
        try:
            self._sample_one(name, viewer, now)
        except Exception as exc:
            if self.active.pop(name, None) is not None:
                self._viewer_failed(name, viewer, f"sampling failed: {_describe(exc)}")

    async def _sample_viewers(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + ev.VIEWER_SAMPLE_S
        while not stop.is_set():
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick += ev.VIEWER_SAMPLE_S
            now = time.time()
            for name, viewer in list(self.active.items()):
                self._sample_or_stop(name, viewer, now)

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
