"""One Shard inside an execnet worker (a local process or a remote host).

The controller runs `gateway.remote_exec(remote_shard)`: execnet sends this
file's source and runs it with `__name__ == "__channelexec__"`, so it uses
absolute imports of the streamperf installed beside the worker's python,
and never pytest. A thin adapter: it builds a Shard as the controller's own
shard is built (load/dispatch.py), its journeys from the plan's
WorkerJourneys or awaited from the controller, with a sink that sends row
batches down the channel. The channel's messages are load/messages.py's.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO, Any

from streamperf.load.eventloop import run_loop
from streamperf.load.messages import (
    ABORT,
    PLAY,
    STOP,
    DoneMessage,
    ReadyMessage,
    RowsMessage,
    ShardPlan,
    plan_secrets,
    row_tuple,
)
from streamperf.load.shard import ArrivalPlan, Shard
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.fans import FanSpec
from streamperf.platforms.journeys import FanAborted, FanJourneyError, Journey, JourneyResult
from streamperf.redact import redact, remember
from streamperf.results.eventlog.schema import Event
from streamperf.viewers import ViewerFactory

#: how long a fan waits for the journey the controller walks for it
CONTROLLER_JOURNEY_TIMEOUT_S = 300.0


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
        if kind == PLAY:
            future.set_result(JourneyResult(str(payload["url"]), float(payload["api_s"]),
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
              and message[0] in (PLAY, ABORT) and isinstance(message[1], dict)):
            awaited.answer(message[0], message[1])

    channel.setcallback(on_message)
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def walker_of(journeys: dict[str, Any]) -> Callable[..., tuple[Journey, Callable[[], None]]]:
    """The function a WorkerJourneys names ("module:function"), imported here."""
    module, _, name = str(journeys["walker"]).partition(":")
    walker: Callable[..., tuple[Journey, Callable[[], None]]] = getattr(
        importlib.import_module(module), name)
    return walker


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


def _serve(channel: Any, plan: ShardPlan, log: ShardLog) -> None:
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

    fans = [FanSpec(**f) for f in plan["fans"]]
    awaited: AwaitedJourneys | None = None
    close: Callable[[], None] | None = None
    journey: Journey
    journeys = plan.get("journeys")
    if journeys is None:
        awaited = AwaitedJourneys(fans, CONTROLLER_JOURNEY_TIMEOUT_S)
        journey = awaited.journey
    else:
        journey, close = walker_of(journeys)(journeys["description"], on_call)

    arrivals = ArrivalPlan(fans, float(plan["ramp_s"]), float(plan["duration_s"]),
                           journey_workers=int(plan["journey_workers"]),
                           reconnect=bool(plan.get("reconnect")))
    shard = Shard(arrivals, journey, ViewerFactory(plan["expected_kbps"], plan.get("abr", ""),
                                                    plan.get("cmcd", "")), sink, host)
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
        if close is not None:
            close()
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
