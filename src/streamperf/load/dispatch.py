"""Where a run's fans play: one shard in this process, or shards on worker processes.

Workers are local processes (`--procs`) or load hosts (`--sshhosts`); either
way each gets a slice of the fans (load/split.py) and streams its rows back
to the one sink while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from streamperf.hosts.processes import WorkerSpec, local_workers, resolve_procs
from streamperf.load.broadcast import LiveStream
from streamperf.load.eventloop import run_loop
from streamperf.load.fans import FanSpec
from streamperf.load.journey import JourneyResult, ThinkTimes, run_journey
from streamperf.load.remote_shard import plan_message
from streamperf.load.shard import START_DELAY_S, ArrivalPlan, Shard
from streamperf.load.split import split_plan
from streamperf.load.workers import WorkerPool, lost_rows
from streamperf.platform.client import ApiCall, PlatformClient
from streamperf.results.events import Event
from streamperf.settings import RunSettings
from streamperf.viewers import ViewerFactory

if TYPE_CHECKING:
    from streamperf.hosts.remote import LoadHosts
    from streamperf.platform.endpoint import PlatformEndpoint

ClientFactory = Callable[[Callable[[ApiCall], None]], PlatformClient]
Sink = Callable[[list[Event]], None]


def worker_specs(settings: RunSettings, load_hosts: LoadHosts | None,
                 run_id: str) -> list[WorkerSpec]:
    """Where the viewers run: load hosts, else local processes; [] for this process."""
    if load_hosts is not None:
        return load_hosts.workers(settings.procs_per_host, run_id)
    procs = resolve_procs(settings.procs)
    return local_workers(procs) if procs > 1 else []


def play_here(settings: RunSettings, stream: LiveStream, fans: list[FanSpec],
              client_factory: ClientFactory, sink: Sink, host: str) -> None:
    """Every fan in one shard on this process's event loop."""
    shard: Shard | None = None

    def on_call(call: ApiCall) -> None:
        assert shard is not None
        shard.on_api_call(call)

    client = client_factory(on_call)
    think = ThinkTimes.from_setting(settings.sleep_between_steps)

    def journey(spec: FanSpec) -> JourneyResult:
        return run_journey(client, spec, stream.influencer, settings.code_text, think)

    plan = ArrivalPlan(fans, settings.ramp_s, settings.duration_s,
                       start_at=time.time() + START_DELAY_S)
    shard = Shard(plan, journey, ViewerFactory(stream.source.bitrate_kbps), sink, host)
    try:
        run_loop(shard.run())
    finally:
        client.close()


def play_on_workers(settings: RunSettings, stream: LiveStream, fans: list[FanSpec],
                    endpoint: PlatformEndpoint, specs: list[WorkerSpec], sink: Sink,
                    lost_hosts: dict[str, str]) -> None:
    """The fans split over worker processes (execnet), rows streamed back live.

    Fills `lost_hosts` (host -> why), also when the run is cut short; a lost
    host's unfinished viewers got lost_host error rows through `sink` the
    moment it was lost.
    """
    s = settings

    def on_lost(shard_id: int, host: str, reason: str, unfinished: list[str]) -> None:
        sink(lost_rows(host, reason, unfinished))

    slices = split_plan(fans, s.ramp_s, len(specs))
    plans = [plan_message(sl.shard_id, "", sl.fans, sl.ramp_s, s.duration_s,
                          stream.source.bitrate_kbps, endpoint.api_url,
                          endpoint.streams_api_url, endpoint.streams_token, s.timeout_s,
                          stream.influencer, s.sleep_between_steps,
                          code_text=s.code_text, origin_port=s.origin_port)
             for sl in slices]
    workers = WorkerPool(specs[:len(slices)], sink, on_lost)
    try:
        workers.start()
        workers.launch(plans)
        workers.join(timeout=s.ramp_s * len(fans) + s.duration_s + 60)
    except KeyboardInterrupt:
        workers.stop()
        workers.join(10)
        raise
    finally:
        workers.terminate()  # a shard still running now is reported lost
        lost_hosts.update(workers.lost_hosts)
