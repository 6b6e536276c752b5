"""WorkerPool' message handling against fake execnet channels (no processes).

Each fake channel delivers what a worker would send on its own thread, as
execnet's receiver thread does; the tests check that this thread only
queues, that the controller thread hands rows to the sink in order, and
that a message kind nobody handles is an error, not dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from streamperf.hosts.processes import WorkerSpec
from streamperf.load.messages import DoneMessage, ReadyMessage, RowsMessage, row_tuple
from streamperf.load.workers import WorkerError, WorkerPool
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event


class FakeChannel:
    def __init__(self) -> None:
        self.sent: list[object] = []
        self.to_controller: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.callback: Any = None
        self.endmarker: object = None
        self.remote_error: str | None = None
        self.receiver_ident: int | None = None
        self.callback_took_s: list[float] = []

    # -- what WorkerPool calls --
    def send(self, obj: object) -> None:
        self.sent.append(obj)

    def receive(self, timeout: float | None = None) -> object:
        return self.to_controller.get(timeout=timeout)

    def setcallback(self, callback: Any, endmarker: object = None) -> None:
        self.callback, self.endmarker = callback, endmarker

    def _getremoteerror(self) -> str | None:
        return self.remote_error

    # -- the worker's side --
    def deliver(self, *messages: object, close: bool = False) -> None:
        """Call the callback on a thread of its own, like execnet's receiver."""

        def receiver() -> None:
            self.receiver_ident = threading.get_ident()
            for m in messages:
                t0 = time.monotonic()
                self.callback(m)
                self.callback_took_s.append(time.monotonic() - t0)
            if close:
                self.callback(self.endmarker)

        t = threading.Thread(target=receiver)
        t.start()
        t.join(5)


class FakeGateway:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel

    def remote_exec(self, source: object) -> FakeChannel:
        return self.channel


class FakeGroup:
    def __init__(self, n: int) -> None:
        self.channels = [FakeChannel() for _ in range(n)]
        self._next = iter(self.channels)

    def makegateway(self, spec: str) -> FakeGateway:
        ch = next(self._next)
        ch.to_controller.put(("ready", ReadyMessage(pid=4242, host="h", clock=time.time())))
        return FakeGateway(ch)

    def terminate(self, timeout: float | None = None) -> None:
        pass


class Recorder:
    def __init__(self, block: threading.Event | None = None) -> None:
        self.batches: list[list[Event]] = []
        self.sink_threads: set[int] = set()
        self.lost: list[tuple[int, str, str, list[str]]] = []
        self.block = block

    def sink(self, rows: list[Event]) -> None:
        self.sink_threads.add(threading.get_ident())
        if self.block is not None:
            assert self.block.wait(5)
        self.batches.append(rows)

    def on_lost(self, shard_id: int, host: str, reason: str, unfinished: list[str]) -> None:
        self.lost.append((shard_id, host, reason, unfinished))


def launched(n: int, rec: Recorder, fans: list[list[str]],
             offset_s: float = 0.0) -> tuple[WorkerPool, list[FakeChannel]]:
    group = FakeGroup(n)
    specs = [WorkerSpec(f"fake{i}", f"proc-{i}", clock_offset_s=offset_s) for i in range(n)]
    workers = WorkerPool(specs, rec.sink, rec.on_lost, start_delay_s=0.0, group=group)
    workers.start()
    workers.launch([{"fans": [{"username": u} for u in names]} for names in fans])
    return workers, group.channels


def rows_msg(host: str, viewer: str, *events: tuple[str, float]) -> tuple[str, RowsMessage]:
    return ("rows", RowsMessage(rows=[row_tuple(Event(t, host, viewer, e, "rtmp", 1.0))
                                      for e, t in events]))


def test_rows_reach_the_sink_in_order_from_the_controller_thread_not_the_receiver():
    release = threading.Event()
    rec = Recorder(block=release)
    workers, (ch,) = launched(1, rec, [["fan1", "fan2"]])
    try:
        batches = [rows_msg("proc-0", "fan1", (ev.SAMPLE_BYTES, 100.0 + i)) for i in range(50)]
        # The sink is held: were the receiver calling it, deliver would stall here.
        ch.deliver(*batches, ("done", DoneMessage(rows=50, stopped=False)), close=True)
        assert ch.callback_took_s and max(ch.callback_took_s) < 1.0
        assert rec.batches == []
        release.set()
        assert workers.join(5)
    finally:
        workers.terminate()
    assert [b[0].t for b in rec.batches] == [100.0 + i for i in range(50)]
    assert ch.receiver_ident not in rec.sink_threads
    assert rec.sink_threads and threading.get_ident() not in rec.sink_threads
    assert workers.status()[0] == {"host": "proc-0", "rows": 50,
                                   "done": {"rows": 50, "stopped": False}, "lost": None}
    assert rec.lost == []


def test_an_unknown_message_kind_is_an_error_naming_it_and_the_worker():
    rec = Recorder()
    workers, (_, ch1) = launched(2, rec, [["fan1"], ["fan2"]])
    try:
        ch1.deliver(("rowz", {"rows": []}))
        with pytest.raises(WorkerError, match=r"unknown message kind 'rowz' from worker proc-1"):
            workers.join(5)
    finally:
        workers.terminate()
    ((shard_id, host, reason, unfinished),) = rec.lost[:1]
    assert (shard_id, host, unfinished) == (1, "proc-1", ["fan2"])
    assert "controller error: unknown message kind 'rowz'" in reason
    assert workers.lost_hosts["proc-1"] == reason


def test_a_message_that_is_not_kind_and_payload_is_an_error():
    rec = Recorder()
    workers, (ch,) = launched(1, rec, [["fan1"]])
    try:
        ch.deliver("hello")
        with pytest.raises(WorkerError, match="unknown message kind 'hello' from worker proc-0"):
            workers.join(5)
    finally:
        workers.terminate()


def test_a_channel_closed_before_done_loses_the_unfinished_viewers_at_once():
    rec = Recorder()
    workers, (ch,) = launched(1, rec, [["fan1", "fan2", "fan3"]])
    try:
        ch.remote_error = "Traceback ...\nMemoryError: out of memory"
        ch.deliver(rows_msg("proc-0", "fan2", (ev.PLAY_END, 5.0)), close=True)
        assert workers.join(5)
        assert rec.lost == [(0, "proc-0", "MemoryError: out of memory", ["fan1", "fan3"])]
    finally:
        workers.terminate()
    assert len(rec.lost) == 1  # terminate does not lose it twice


def test_terminate_handles_queued_rows_before_losing_a_running_shard():
    rec = Recorder()
    workers, (ch,) = launched(1, rec, [["fan1"]])
    ch.deliver(rows_msg("proc-0", "fan1", (ev.FIRST_VIDEO, 3.0)))
    workers.terminate()
    assert [b[0].event for b in rec.batches] == [ev.FIRST_VIDEO]
    assert rec.lost == [(0, "proc-0", "terminated by the controller", ["fan1"])]


def test_rows_of_a_host_with_a_skewed_clock_land_on_the_controllers_clock():
    rec = Recorder()
    workers, (ch,) = launched(1, rec, [["fan1"]], offset_s=2.5)
    try:
        ch.deliver(rows_msg("far:22", "fan1", (ev.PLAY_END, 102.5)),
                   ("done", DoneMessage(rows=1, stopped=False)), close=True)
        assert workers.join(5)
    finally:
        workers.terminate()
    assert rec.batches == [[Event(100.0, "far:22", "fan1", ev.PLAY_END, "rtmp", 1.0)]]
    assert workers.status()[0]["rows"] == 1 and rec.lost == []
    assert ch.sent[1] == pytest.approx(workers.start_at + 2.5)  # start_at in its own clock
