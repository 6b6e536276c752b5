"""What moves between the controller and its viewer shards: the one row Sink, and the
worker channel's messages, each a TypedDict.

Channel protocol (all JSON-able / execnet-serialisable values):
  controller -> worker  a ShardPlan (`shard_plan`), then start_at (unix s)
                        or STOP; after the start, STOP ends the run early.
                        When the controller walks the journeys (an adapter
                        that declares no WorkerJourneys: load/dispatch.py) it
                        sends, per fan, ("play", PlayMessage) or ("abort",
                        AbortMessage); the worker's fan waits for it
  worker -> controller  (kind, payload), a TypedDict per kind:
                        ("ready", ReadyMessage)  once, before the start barrier
                        ("rows", RowsMessage)    about twice a second
                        ("done", DoneMessage)    last
The controller (load/workers.py) dispatches "rows" and "done" by kind to
its `worker_<kind>` methods; any other kind is an error there. Only the
standard library and streamperf modules a load host's install has are
imported here (the worker side, load/remote_shard.py, imports this).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

from streamperf.platforms.adapter import WorkerJourneys
from streamperf.platforms.fans import FanSpec
from streamperf.results.eventlog.schema import Event

#: Where rows go: a batch at a time, in the order they were made.
Sink = Callable[[list[Event]], None]

STOP = "stop"
PLAY, ABORT = "play", "abort"  # the controller's journey outcomes, per fan

#: Event as plain values: t, host, viewer, event, name, value, status, detail
RowTuple = tuple[float, str, str, str, str, float, str, str]


class ShardPlan(TypedDict):
    """What the controller sends a worker first."""

    shard_id: int
    host: str
    fans: list[dict[str, Any]]  # FanSpec fields
    ramp_s: float
    duration_s: float
    expected_kbps: float | None
    #: WorkerJourneys.to_json(): the journeys this worker walks itself; None: the
    #: controller walks them and sends PLAY/ABORT per fan
    journeys: dict[str, Any] | None
    journey_workers: int
    reconnect: bool
    #: the viewers' ABR mode (viewers/abr; "" the protocol's player) and CMCD mode
    abr: NotRequired[str]
    cmcd: NotRequired[str]
    log_dir: NotRequired[str]  # where the worker keeps its shard log (set by load/workers.py)


class ReadyMessage(TypedDict):
    pid: int
    host: str
    clock: float  # the worker's time.time() when it sent this


class RowsMessage(TypedDict):
    rows: list[RowTuple]  # in the order the shard produced them


class PlayMessage(TypedDict):
    fan: str
    url: str
    protocol: str
    api_s: float


class AbortMessage(TypedDict):
    fan: str
    step: str
    why: str


class DoneMessage(TypedDict):
    rows: int  # rows sent in all
    stopped: bool  # ended early by the controller's STOP


def shard_plan(
    shard_id: int,
    host: str,
    fans: list[FanSpec],
    ramp_s: float,
    duration_s: float,
    expected_kbps: float | None,
    journeys: WorkerJourneys | None = None,
    journey_workers: int = 32,
    reconnect: bool = False,
    abr: str = "",
    cmcd: str = "",
) -> ShardPlan:
    """What the controller sends a worker; plain dicts/lists so any channel carries it.

    With `journeys` the worker walks its fans' journeys itself; without, it only
    plays what the controller sends, and has enough threads for every fan
    waiting on the controller at once.
    """
    return ShardPlan(
        shard_id=shard_id,
        host=host,
        fans=[dataclasses.asdict(f) for f in fans],
        ramp_s=ramp_s,
        duration_s=duration_s,
        expected_kbps=expected_kbps,
        journeys=journeys.to_json() if journeys is not None else None,
        journey_workers=(journey_workers if journeys is not None
                         else max(journey_workers, min(len(fans), 512))),
        reconnect=reconnect,
        abr=abr,
        cmcd=cmcd,
    )


def plan_secrets(plan: ShardPlan) -> list[str]:
    """What a worker's plan carries that its log must not show: what its journeys
    declare secret (a streams key), the fans' passwords."""
    found = list((plan.get("journeys") or {}).get("secrets") or [])
    found += [str(f.get("password") or "") for f in plan.get("fans") or []]
    return [str(v) for v in found if v]


def row_tuple(row: Event) -> RowTuple:
    # execnet serialises plain tuples, not NamedTuple subclasses or numpy floats.
    return (float(row.t), str(row.host), str(row.viewer), str(row.event), str(row.name),
            float(row.value), str(row.status), str(row.detail))
