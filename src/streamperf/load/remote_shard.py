"""One Shard inside an execnet worker (a local process or a remote host).

The controller runs `gateway.remote_exec(remote_shard)`: execnet sends this
file's source and runs it with `__name__ == "__channelexec__"`, so it uses
absolute imports of the streamperf installed beside the worker's python,
and never pytest. A thin adapter: it builds a PlatformClient and a Shard as
LoadRun._run_shard does, with a sink that sends row batches down the channel.

Channel protocol (all JSON-able / execnet-serialisable values):
  controller -> worker  plan dict (`plan_message`), then start_at (unix s)
                        or "stop"; after the start, "stop" ends the run early.
                        With `journeys_on_controller` (any adapter but the seed
                        API's: load/dispatch.py) the controller walks the
                        journeys and sends, per fan, ("play", PlayMessage) or
                        ("abort", AbortMessage); the worker's fan waits for it
  worker -> controller  (kind, payload), a TypedDict per kind (below):
                        ("ready", ReadyMessage)  once, before the start barrier
                        ("rows", RowsMessage)    about twice a second
                        ("done", DoneMessage)    last
The controller (load/workers.py) dispatches "rows" and "done" by kind to
its `worker_<kind>` methods; any other kind is an error there. The types
live here, with the code that sends them: this file imports only the
standard library and streamperf modules the worker's install already has.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, Any, TypedDict

from streamperf.load.adapter import FanJourneyError
from streamperf.load.eventloop import run_loop
from streamperf.load.fans import FanSpec
from streamperf.load.journey import FanAborted, JourneyResult, ThinkTimes, run_journey
from streamperf.load.shard import ArrivalPlan, Shard
from streamperf.platform.client import ApiCall, Influencer, PlatformClient
from streamperf.redact import redact, remember
from streamperf.results.eventlog.schema import Event
from streamperf.settings import SEED_CODE_TEXT, SEED_ORIGIN_PORT
from streamperf.viewers import ViewerFactory

STOP = "stop"
#: how long a fan waits for the journey the controller walks for it
CONTROLLER_JOURNEY_TIMEOUT_S = 300.0

#: Event as plain values: t, host, viewer, event, name, value, status, detail
RowTuple = tuple[float, str, str, str, str, float, str, str]


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
    stopped: bool  # ended early by the controller's "stop"


def plan_message(
    shard_id: int,
    host: str,
    fans: list[FanSpec],
    ramp_s: float,
    duration_s: float,
    expected_kbps: float | None,
    api_url: str = "",
    streams_api_url: str = "",
    streams_token: str = "",
    timeout_s: float = 10.0,
    influencer: Influencer | None = None,
    sleep_between_steps: float | str = 0.0,
    journey_workers: int = 32,
    journeys_on_controller: bool = False,
    code_text: str = SEED_CODE_TEXT,
    origin_port: int = SEED_ORIGIN_PORT,
    reconnect: bool = False,
) -> dict[str, Any]:
    """What the controller sends a worker; plain dicts/lists so any channel carries it.

    The seed API's journeys run on the worker (api_url ... influencer); with
    `journeys_on_controller` the worker only plays what the controller sends.
    """
    if influencer is None and not journeys_on_controller:
        raise ValueError("a worker walking the seed journeys needs the influencer")
    return {
        "shard_id": shard_id,
        "host": host,
        "fans": [dataclasses.asdict(f) for f in fans],
        "ramp_s": ramp_s,
        "duration_s": duration_s,
        "expected_kbps": expected_kbps,
        "api_url": api_url,
        "streams_api_url": streams_api_url,
        "streams_token": streams_token,
        "timeout_s": timeout_s,
        # Fans need only the influencer's id; its session token stays on the controller.
        "influencer": (dataclasses.asdict(dataclasses.replace(influencer, token=""))
                       if influencer is not None else None),
        "sleep_between_steps": sleep_between_steps,
        "code_text": code_text,
        "origin_port": origin_port,
        # enough threads for every fan waiting on the controller at once
        "journey_workers": max(journey_workers, min(len(fans), 512))
        if journeys_on_controller else journey_workers,
        "journeys_on_controller": journeys_on_controller,
        "reconnect": reconnect,
    }


def row_tuple(row: Event) -> RowTuple:
    # execnet serialises plain tuples, not NamedTuple subclasses or numpy floats.
    return (float(row.t), str(row.host), str(row.viewer), str(row.event), str(row.name),
            float(row.value), str(row.status), str(row.detail))


class ShardLog:
    """The worker's own log on its host (`<log_dir>/shard-<id>.log`), collected after a run.

    One line per event and per batch sent, flushed each time: after a crash it
    says how far the worker got and how many rows it had handed to the channel.
    """

    def __init__(self, log_dir: str, shard_id: int) -> None:
        self._file: IO[str] | None = None
        if log_dir:
            path = Path(os.path.expanduser(log_dir))
            path.mkdir(parents=True, exist_ok=True)
            self._file = open(path / f"shard-{shard_id}.log", "a", encoding="utf-8")  # noqa: SIM115

    def line(self, text: str) -> None:
        if self._file is not None:
            self._file.write(f"{time.time():.3f} {redact(text)}\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class AwaitedJourneys:
    """Fans whose journey the controller walks: each waits for its "play" or "abort"."""

    def __init__(self, fans: list[FanSpec], timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._answers: dict[str, Future[JourneyResult]] = {f.username: Future() for f in fans}

    def journey(self, spec: FanSpec) -> JourneyResult:
        try:
            return self._answers[spec.username].result(timeout=self.timeout_s)
        except FutureTimeout:
            raise FanAborted("journey", FanJourneyError(
                f"no answer from the controller within {self.timeout_s:g}s")) from None

    def answer(self, kind: str, payload: dict[str, Any]) -> None:
        future = self._answers.get(str(payload.get("fan")))
        if future is None or future.done():
            return
        if kind == "play":
            future.set_result(JourneyResult(None, str(payload["url"]), float(payload["api_s"]),
                                            str(payload["protocol"])))
        else:
            future.set_exception(FanAborted(str(payload["step"]),
                                            FanJourneyError(str(payload["why"]))))

    def cancel(self) -> None:
        """The run is stopping: no fan waits any longer."""
        for future in self._answers.values():
            if not future.done():
                future.set_exception(FanAborted("journey", FanJourneyError("run stopped")))


async def _run_until_stopped(shard: Shard, channel: Any,
                             awaited: AwaitedJourneys | None = None) -> bool:
    """Run the shard; a "stop" from the controller cancels it (Shard.run still flushes)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(shard.run())

    def on_message(message: object) -> None:  # runs in execnet's receiver thread
        if message == STOP:
            if awaited is not None:
                awaited.cancel()
            loop.call_soon_threadsafe(task.cancel)
        elif (awaited is not None and isinstance(message, tuple) and len(message) == 2
              and message[0] in ("play", "abort") and isinstance(message[1], dict)):
            awaited.answer(message[0], message[1])

    channel.setcallback(on_message)
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def plan_secrets(plan: dict[str, Any]) -> list[str]:
    """What a worker's plan carries that its log must not show: the streams key, the
    influencer's session token, the fans' passwords."""
    found = [str(plan.get("streams_token") or ""),
             str((plan.get("influencer") or {}).get("token") or "")]
    found += [str(f.get("password") or "") for f in plan.get("fans") or []]
    return [v for v in found if v]


def serve(channel: Any) -> None:
    plan = channel.receive()
    remember(*plan_secrets(plan))
    log = ShardLog(str(plan.get("log_dir") or ""), int(plan["shard_id"]))
    try:
        _serve(channel, plan, log)
    except BaseException:
        log.line("failed: " + traceback.format_exc().replace("\n", " | "))
        raise
    finally:
        log.close()


def _serve(channel: Any, plan: dict[str, Any], log: ShardLog) -> None:
    host = str(plan["host"])
    sent = 0
    log.line(f"plan host={host} pid={os.getpid()} fans={len(plan['fans'])} "
             f"python={sys.version.split()[0]}")

    def sink(rows: list[Event]) -> None:
        nonlocal sent
        try:
            channel.send(("rows", RowsMessage(rows=[row_tuple(r) for r in rows])))
        except OSError:
            # The controller is gone: nobody can record these viewers, so stop
            # loading the platform rather than run on unobserved.
            log.line(f"controller gone after {sent} rows sent; exiting")
            os._exit(3)
        sent += len(rows)
        log.line(f"sent {sent}")

    shard: Shard | None = None

    def on_call(call: ApiCall) -> None:
        assert shard is not None
        shard.on_api_call(call)

    awaited: AwaitedJourneys | None = None
    client: PlatformClient | None = None
    if plan.get("journeys_on_controller"):
        fans = [FanSpec(**f) for f in plan["fans"]]
        awaited = AwaitedJourneys(fans, CONTROLLER_JOURNEY_TIMEOUT_S)
        journey: Callable[[FanSpec], JourneyResult] = awaited.journey
    else:
        influencer = Influencer(**plan["influencer"])
        fans = [FanSpec(**f) for f in plan["fans"]]
        client = PlatformClient(plan["api_url"], plan["streams_api_url"], plan["streams_token"],
                                timeout=float(plan["timeout_s"]), on_call=on_call,
                                origin_port=int(plan["origin_port"]))
        seed_client = client
        think = ThinkTimes.from_setting(plan["sleep_between_steps"])
        code_text = str(plan["code_text"])

        def journey(spec: FanSpec) -> JourneyResult:
            return run_journey(seed_client, spec, influencer, code_text, think)

    shard_plan = ArrivalPlan(fans, float(plan["ramp_s"]), float(plan["duration_s"]),
                             journey_workers=int(plan["journey_workers"]),
                             reconnect=bool(plan.get("reconnect")))
    shard = Shard(shard_plan, journey, ViewerFactory(plan["expected_kbps"]), sink, host)
    try:
        # Ready only once imports and set-up are done, so the barrier is meaningful.
        channel.send(("ready", ReadyMessage(pid=os.getpid(), host=host, clock=time.time())))
        start_at = channel.receive()
        stopped = start_at == STOP
        log.line(f"start_at {start_at}")
        if not stopped:
            shard.plan.start_at = float(start_at)
            stopped = _run_until_stopped_sync(shard, channel, awaited)
    finally:
        if awaited is not None:
            awaited.cancel()
        if client is not None:
            client.close()
    log.line(f"done rows={sent} stopped={stopped}")
    channel.send(("done", DoneMessage(rows=sent, stopped=stopped)))


def _run_until_stopped_sync(shard: Shard, channel: Any,
                            awaited: AwaitedJourneys | None = None) -> bool:
    result: list[bool] = []

    async def main() -> None:
        result.append(await _run_until_stopped(shard, channel, awaited))

    run_loop(main())
    return result[0]


if __name__ == "__channelexec__":
    serve(channel)  # type: ignore[name-defined]  # noqa: F821
