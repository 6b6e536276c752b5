"""Shard workers on execnet gateways: start, barrier, live rows, lost hosts.

One gateway per shard: `popen//python=...` for local processes, or
`ssh=ALIAS//python=<venv python>//ssh_config=FILE` for a load host
(hosts/remote.py), running the same code. A remote host's clock may be off
by `clock_offset_s` (measured when it was prepared): its start time is sent
in its own clock and its rows are moved back onto the controller's.
Messages arrive on execnet's receiver threads (channel callbacks), which
only translate them (the channel's end into a `_Closed`) and queue them.
One controller thread takes them off that queue in arrival order and
dispatches by kind to `worker_<kind>` (as pytest-xdist's DSession does):
`sink` and `on_lost` are only ever called from there, so the controller's
writer sees whole batches, in order, and a slow sink never stalls a
receiver. A kind without a handler is an error: the shard is lost with a
reason naming the kind and the worker, and `join` raises it. A channel
that closes before its "done" message means the shard is lost: `on_lost`
gets the viewers that had not ended (no play_end nor fan_abort received),
so the controller can log them as failed from then.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import execnet

from streamperf.hosts.processes import WorkerSpec
from streamperf.load import remote_shard
from streamperf.load.messages import STOP, RowTuple, ShardPlan, Sink
from streamperf.load.shard import START_DELAY_S
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event

#: on_lost(shard_id, host, reason, unfinished viewer names)
OnLost = Callable[[int, str, str, list[str]], None]
_END = object()  # execnet endmarker: the channel closed
_POLL_S = 0.2  # how often join looks for a controller error while it waits


class WorkerError(RuntimeError):
    pass


class _Closed(NamedTuple):
    """The channel ended (the worker's last word, or its process died)."""

    error: str | None  # the remote error, described; None for a clean close


class _Terminated(NamedTuple):
    """The controller gave up on the shard (queued behind what it already sent)."""


@dataclass
class _WorkerRecord:
    shard_id: int
    host: str
    gateway: Any
    clock_offset_s: float = 0.0
    start_error: str | None = None  # the gateway could not be opened
    planned: list[str] = field(default_factory=list)  # viewer names, arrival order
    ended: set[str] = field(default_factory=set)
    channel: Any = None
    pid: int | None = None  # the worker's pid, as it reported it
    rows: int = 0
    done: dict[str, Any] | None = None
    lost: str | None = None
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def unfinished(self) -> list[str]:
        return [name for name in self.planned if name not in self.ended]


class WorkerPool:
    def __init__(
        self,
        workers: list[WorkerSpec],
        sink: Sink,
        on_lost: OnLost,
        ready_timeout_s: float = 120.0,
        start_delay_s: float = START_DELAY_S,
        group: Any = None,  # an execnet.Group; tests pass fakes
    ) -> None:
        hosts = [w.host for w in workers]
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"worker host names must be unique: {hosts}")
        self.workers = workers
        self._sink = sink
        self._on_lost = on_lost
        self.ready_timeout_s = ready_timeout_s
        self.start_delay_s = start_delay_s
        self._group = execnet.Group() if group is None else group
        self._shards: list[_WorkerRecord] = []
        # (shard, message) from the receiver threads; None ends the controller thread
        self._inbox: queue.SimpleQueue[tuple[_WorkerRecord, Any] | None] = queue.SimpleQueue()
        self._controller: threading.Thread | None = None
        self._error: WorkerError | None = None  # the first controller error, for join
        self.start_at: float | None = None

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Open one gateway per worker (spawns processes / ssh connections)."""
        with _children_ignore_sigint():
            for i, w in enumerate(self.workers):
                shard = _WorkerRecord(i, w.host, None, w.clock_offset_s)
                try:
                    shard.gateway = self._group.makegateway(w.spec)
                except Exception as exc:  # ssh refused, python missing: that host is lost
                    shard.start_error = _describe(exc)
                self._shards.append(shard)

    def launch(self, plans: list[ShardPlan]) -> float:
        """Send plans, wait until all are ready, then give them one start time.

        `plans[i]` (messages.shard_plan) goes to worker i; its "host" is
        set to that worker's host name. A worker that fails before "ready" is
        reported lost with all its fans; the others still start. Returns start_at.
        """
        if len(plans) != len(self._shards):
            raise ValueError(f"{len(plans)} plans for {len(self._shards)} workers")
        for shard, plan, w in zip(self._shards, plans, self.workers, strict=True):
            plan = ShardPlan(**{**plan, "host": shard.host, "shard_id": shard.shard_id,
                                "log_dir": w.log_dir})
            shard.planned = [f["username"] for f in plan["fans"]]
            if shard.gateway is None:
                continue
            shard.channel = shard.gateway.remote_exec(remote_shard)
            shard.channel.send(plan)
        deadline = time.monotonic() + self.ready_timeout_s
        ready: list[_WorkerRecord] = []
        for shard in self._shards:
            if shard.gateway is None:
                self._lose(shard, f"failed to start: {shard.start_error}")
                shard.closed.set()
                continue
            try:
                kind, info = shard.channel.receive(max(0.1, deadline - time.monotonic()))
                if kind != "ready":
                    raise WorkerError(f"expected ready, got {kind!r}")
                shard.pid = int(info["pid"])
                ready.append(shard)
            except Exception as exc:  # RemoteError, EOFError, TimeoutError, WorkerError
                self._lose(shard, f"failed to start: {_describe(exc)}")
                shard.closed.set()
        self.start_at = time.time() + self.start_delay_s
        self._controller = threading.Thread(target=self._handle_messages,
                                            name="streamperf-workers", daemon=True)
        self._controller.start()
        for shard in ready:
            # Callback first: rows are never queued where nobody reads them.
            shard.channel.setcallback(lambda m, s=shard: self._receive(s, m), endmarker=_END)
            shard.channel.send(self.start_at + shard.clock_offset_s)
        return self.start_at

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every shard to finish or be lost; False on timeout.

        Raises WorkerError as soon as the controller thread failed to handle a
        message (an unknown kind, a sink that raised): the run cannot be trusted.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for shard in self._shards:
            while True:
                left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                if shard.closed.wait(max(0.0, left)):
                    break
                if self._error is not None:
                    raise self._error
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        if self._error is not None:
            raise self._error
        return True

    def stop(self) -> None:
        """Ask running shards to end early (Ctrl-C); they flush and send "done"."""
        for shard in self._shards:
            if shard.channel is not None and not shard.closed.is_set():
                with contextlib.suppress(Exception):
                    shard.channel.send(STOP)

    def terminate(self, grace_s: float = 2.0) -> None:
        """Kill every worker process by PID; unfinished shards are reported lost.

        Rows already queued are handled first; no sink call follows the return.
        """
        controller = self._controller
        for shard in self._shards:
            if not shard.closed.is_set():
                if controller is not None:
                    self._inbox.put((shard, _Terminated()))
                elif shard.lost is None and shard.done is None:  # no message was ever handled
                    self._lose(shard, "terminated by the controller")
        pids = [pid for pid in (_local_pid(s.gateway) for s in self._shards) if pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # Reaps the popen children and closes the IO threads; processes are gone already.
        with contextlib.suppress(Exception):
            self._group.terminate(timeout=1.0)
        if controller is not None:
            self._inbox.put(None)  # after the channels' ends, which the receivers queued
            controller.join(timeout=10.0)
            self._controller = None
        for shard in self._shards:
            shard.closed.set()

    def send(self, shard_id: int, message: Any) -> bool:
        """A message to one running shard (e.g. a fan's playback URL); False if it is
        gone (lost or finished: its fans are accounted for already)."""
        shard = self._shards[shard_id]
        if shard.channel is None or shard.closed.is_set():
            return False
        try:
            shard.channel.send(message)
        except Exception:  # the channel closed under us: the shard is being lost
            return False
        return True

    # -- state ----------------------------------------------------------------
    @property
    def pids(self) -> dict[int, int]:
        """shard_id -> worker pid as the worker reported it (a remote pid over ssh)."""
        return {s.shard_id: s.pid for s in self._shards if s.pid is not None}

    @property
    def local_pids(self) -> dict[int, int]:
        """shard_id -> local process of the gateway (the worker, or the ssh client)."""
        out = {}
        for s in self._shards:
            pid = _local_pid(s.gateway)
            if pid:
                out[s.shard_id] = pid
        return out

    def status(self) -> dict[int, dict[str, Any]]:
        """Per shard: host, rows received, done info, lost reason (for the report)."""
        return {s.shard_id: {"host": s.host, "rows": s.rows, "done": s.done, "lost": s.lost}
                for s in self._shards}

    @property
    def lost_hosts(self) -> dict[str, str]:
        return {s.host: s.lost for s in self._shards if s.lost is not None}

    # -- receiving: execnet's receiver threads --------------------------------------
    def _receive(self, shard: _WorkerRecord, message: Any) -> None:
        # Translate and queue only: handling here would run the sink on one
        # receiver thread per gateway, and an exception would only be traced.
        if message is _END:
            error = shard.channel._getremoteerror()
            self._inbox.put((shard, _Closed(None if error is None else _describe(error))))
        else:
            self._inbox.put((shard, message))

    # -- handling: the controller thread ------------------------------------------
    def _handle_messages(self) -> None:
        while (item := self._inbox.get()) is not None:
            shard, message = item
            try:
                self._dispatch(shard, message)
            except Exception as exc:  # a broken sink or protocol must not pass silently
                self._failed(shard, exc)
                if isinstance(message, _Closed):
                    shard.closed.set()

    def _dispatch(self, shard: _WorkerRecord, message: Any) -> None:
        if isinstance(message, _Closed):
            self._channel_closed(shard, message.error)
            return
        if isinstance(message, _Terminated):
            if shard.lost is None and shard.done is None:
                self._lose(shard, "terminated by the controller")
            return
        kind, payload = message if isinstance(message, tuple) and len(message) == 2 else (
            message, None)
        handler = getattr(self, f"worker_{kind}", None) if isinstance(kind, str) else None
        if handler is None or not isinstance(payload, dict):
            raise WorkerError(f"unknown message kind {kind!r} from worker {shard.host} "
                              f"(shard {shard.shard_id})")
        handler(shard, **payload)

    def worker_rows(self, shard: _WorkerRecord, rows: list[RowTuple]) -> None:
        offset = shard.clock_offset_s
        events = ([Event(r[0] - offset, *r[1:]) for r in rows] if offset else
                  [Event(*r) for r in rows])
        shard.rows += len(events)
        for row in events:
            if row.event in (ev.PLAY_END, ev.FAN_ABORT):
                shard.ended.add(row.viewer)
        self._sink(events)

    def worker_done(self, shard: _WorkerRecord, rows: int, stopped: bool) -> None:
        shard.done = {"rows": rows, "stopped": stopped}

    def _channel_closed(self, shard: _WorkerRecord, error: str | None) -> None:
        if shard.done is None and shard.lost is None:
            self._lose(shard, error or "channel closed")
        shard.closed.set()

    def _failed(self, shard: _WorkerRecord, exc: Exception) -> None:
        reason = f"controller error: {_describe(exc)}"
        if self._error is None:
            self._error = exc if isinstance(exc, WorkerError) else WorkerError(reason)
        if shard.lost is None:
            with contextlib.suppress(Exception):  # on_lost may share the broken sink
                self._lose(shard, reason)

    def _lose(self, shard: _WorkerRecord, reason: str) -> None:
        shard.lost = reason
        self._on_lost(shard.shard_id, shard.host, reason, shard.unfinished)


def lost_rows(host: str, reason: str, unfinished: list[str], t: float | None = None) -> list[Event]:
    """One error row per unfinished viewer: counted as failed from the moment of loss."""
    now = time.time() if t is None else t
    return [Event(now, host, name, ev.VIEWER_ERROR, ev.LOST_HOST, 0.0, "", reason)
            for name in unfinished]


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started inside inherit SIGINT ignored (ssh and python both keep it so).

    Ctrl-C then reaches only the controller, which asks each shard to stop:
    shards flush and report instead of dying with the terminal's process group
    (an ssh client killed by it would drop its host's unsent rows).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _describe(error: object) -> str:
    text = str(error).strip()
    if "couldn't load message header" in text:  # the gateway's pipe/socket hit EOF
        return "worker process exited (connection lost)"
    if isinstance(error, EOFError):  # the channel closed without a message or error
        return "worker ended without reporting"
    # A RemoteError carries the whole traceback; its last line says what happened.
    last = text.splitlines()[-1] if text else type(error).__name__
    return last[:300]


def _local_pid(gateway: Any) -> int | None:
    if gateway is None:
        return None
    popen = getattr(getattr(gateway, "_io", None), "popen", None)
    return getattr(popen, "pid", None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); waitpid reaps it if it is our child.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True
