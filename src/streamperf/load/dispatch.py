"""Where a run's fans play: one shard in this process, or shards on worker processes.

Workers are local processes (`--procs`) or load hosts (`--sshhosts`); either
way each gets a slice of the fans (load/split.py) and streams its rows back
to the one sink while it runs.

Whose journeys run where (docs/platforms.md, "More than one process"):
an adapter that declares WorkerJourneys (the seed API's: plain data and
streamperf's own code) has each worker walk its own fans' journeys, so the
API load comes from every worker. Any other adapter (a team's own, the
direct one) walks its journeys here, on the controller, at each fan's
arrival time; only the playback URL (or the reason the fan ended) goes to
the worker that plays it. Such an adapter need not be installed, or even
importable, on the load hosts: one defined in a conftest.py works.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from streamperf.hosts.processes import WorkerSpec, local_workers, resolve_procs
from streamperf.load.broadcast import LiveStream
from streamperf.load.eventloop import run_loop
from streamperf.load.messages import ABORT, PLAY, AbortMessage, PlayMessage, Sink, shard_plan
from streamperf.load.row_thread import RowThread
from streamperf.load.shard import START_DELAY_S, ArrivalPlan, Shard, api_row
from streamperf.load.split import split_plan
from streamperf.load.workers import WorkerPool, lost_rows
from streamperf.platforms.adapter import worker_journeys
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import FanAborted, adapter_journey
from streamperf.results.eventlog.schema import Event
from streamperf.settings import RunSettings
from streamperf.viewers import ViewerFactory

if TYPE_CHECKING:
    from streamperf.hosts.remote import LoadHosts

JOURNEY_THREADS = 32  # concurrent journeys walked on the controller for the workers


def worker_specs(settings: RunSettings, load_hosts: LoadHosts | None,
                 run_id: str) -> list[WorkerSpec]:
    """Where the viewers run: load hosts, else local processes; [] for this process."""
    if load_hosts is not None:
        return load_hosts.workers(settings.procs_per_host, run_id)
    procs = resolve_procs(settings.procs)
    return local_workers(procs) if procs > 1 else []


def play_here(settings: RunSettings, stream: LiveStream, fans: list[FanSpec],
              sink: Sink, host: str) -> None:
    """Every fan in one shard on this process's event loop; the rows written and
    counted on a thread of their own (row_thread.py), the loop only queues them."""
    shard: Shard | None = None

    def on_call(call: ApiCall) -> None:
        assert shard is not None
        shard.on_api_call(call)

    plan = ArrivalPlan(fans, settings.ramp_s, settings.duration_s,
                       start_at=time.time() + START_DELAY_S, reconnect=settings.reconnect)
    with RowThread(sink) as rows:  # drained on the way out, Ctrl-C included
        journey = adapter_journey(stream.platform, stream.live, on_call)
        viewers = ViewerFactory(stream.source_kbps, settings.abr, settings.cmcd)
        shard = Shard(plan, journey, viewers, rows.put, host)
        run_loop(shard.run())


def play_on_workers(settings: RunSettings, stream: LiveStream, fans: list[FanSpec],
                    specs: list[WorkerSpec], sink: Sink, lost_hosts: dict[str, str],
                    host: str = "") -> None:
    """The fans split over worker processes (execnet), rows streamed back live.

    Fills `lost_hosts` (host -> why), also when the run is cut short; a lost
    host's unfinished viewers got lost_host error rows through `sink` the
    moment it was lost.
    """
    s = settings
    lock = threading.Lock()

    def locked_sink(rows: list[Event]) -> None:  # the pool's thread and journey threads
        with lock:
            sink(rows)

    def on_lost(shard_id: int, host: str, reason: str, unfinished: list[str]) -> None:
        locked_sink(lost_rows(host, reason, unfinished))

    slices = split_plan(fans, s.ramp_s, len(specs))
    journeys = worker_journeys(stream.platform, stream.live)
    plans = [shard_plan(sl.shard_id, "", sl.fans, sl.ramp_s, s.duration_s, stream.source_kbps,
                        journeys, reconnect=s.reconnect, abr=s.abr, cmcd=s.cmcd)
             for sl in slices]
    workers = WorkerPool(specs[:len(slices)], locked_sink, on_lost)
    walker: ControllerJourneys | None = None
    try:
        workers.start()
        start_at = workers.launch(plans)
        if journeys is None:
            walker = ControllerJourneys(stream, slices_by_fan(slices), workers, locked_sink,
                                        host, s.ramp_s, start_at)
            walker.start()
        workers.join(timeout=s.ramp_s * len(fans) + s.duration_s + 60)
    except KeyboardInterrupt:
        workers.stop()
        workers.join(10)
        raise
    finally:
        if walker is not None:
            walker.stop()
        workers.terminate()  # a shard still running now is reported lost
        lost_hosts.update(workers.lost_hosts)


def slices_by_fan(slices: list[Any]) -> dict[str, tuple[int, FanSpec]]:
    return {f.username: (sl.shard_id, f) for sl in slices for f in sl.fans}


class ControllerJourneys:
    """Walks the fans' journeys here, each at its arrival time, and sends each
    worker the outcome for its fan: (PLAY, PlayMessage) or (ABORT, AbortMessage).
    API calls become rows here (host: the controller)."""

    def __init__(self, stream: LiveStream, fans: dict[str, tuple[int, FanSpec]],
                 workers: WorkerPool, sink: Sink, host: str, ramp_s: float,
                 start_at: float) -> None:
        self.fans = fans
        self.workers = workers
        self.sink = sink
        self.host = host
        self.ramp_s = ramp_s
        self.start_at = start_at
        self._local = threading.local()
        self._journey = adapter_journey(stream.platform, stream.live, self._on_call)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="controller-journeys",
                                        daemon=True)

    def _on_call(self, call: ApiCall) -> None:
        fan = getattr(self._local, "fan", "")
        self.sink([api_row(call, self.host, fan)])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        order = sorted(self.fans.values(), key=lambda sf: sf[1].index)
        with ThreadPoolExecutor(JOURNEY_THREADS, thread_name_prefix="journey") as pool:
            for shard_id, spec in order:
                arrive = self.start_at + spec.index * self.ramp_s
                if self._stop.wait(max(0.0, arrive - time.time())):
                    break
                pool.submit(self._walk, shard_id, spec)

    def _walk(self, shard_id: int, spec: FanSpec) -> None:
        self._local.fan = spec.username
        message: tuple[str, PlayMessage | AbortMessage]
        try:
            result = self._journey(spec)
            message = (PLAY, PlayMessage(fan=spec.username, url=result.playback_url,
                                         protocol=result.protocol, api_s=result.api_s))
        except FanAborted as exc:
            message = (ABORT, AbortMessage(fan=spec.username, step=exc.step,
                                           why=str(exc.error)))
        finally:
            self._local.fan = ""
        self.workers.send(shard_id, message)
