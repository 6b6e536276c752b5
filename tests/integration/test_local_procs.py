"""Shards in local worker processes (execnet popen) against the bundled platform.

Proves the scale-out path end to end: rows stream to the controller while
the shards run, each process is its own host, both use CPU, and a worker
killed mid-run loses nothing it sent and is reported with its viewers.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import pytest

from streamperf.hosts.processes import local_workers
from streamperf.load.fans import plan_fans
from streamperf.load.messages import shard_plan
from streamperf.load.split import split_plan
from streamperf.load.workers import WorkerPool
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.session import StreamperfSession
from streamperf.settings import RunSettings

USERS = 6


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamperfSession]:
    s = StreamperfSession(RunSettings(report_dir=str(tmp_path_factory.mktemp("reports")),
                                      calibration_s=0.0))  # no test here reads it
    yield s
    s.close()


@dataclass
class Collector:
    rows: list[Event] = field(default_factory=list)
    batches: list[tuple[float, int]] = field(default_factory=list)  # (arrival, size)
    lost: list[tuple[int, str, str, list[str]]] = field(default_factory=list)
    lost_at: float = 0.0

    def sink(self, rows: list[Event]) -> None:
        self.batches.append((time.time(), len(rows)))
        self.rows.extend(rows)

    def on_lost(self, shard_id: int, host: str, reason: str, unfinished: list[str]) -> None:
        self.lost_at = time.time()
        self.lost.append((shard_id, host, reason, unfinished))

    def viewers(self, event: str, host: str | None = None) -> set[str]:
        return {r.viewer for r in self.rows
                if r.event == event and (host is None or r.host == host)}


class CpuWatch:
    """Polls each worker's CPU time while it lives (a killed one keeps its last figure)."""

    def __init__(self, pids: dict[int, int]) -> None:
        self.procs = {k: psutil.Process(pid) for k, pid in pids.items()}
        self.cpu_s = dict.fromkeys(pids, 0.0)
        self.started = time.monotonic()
        self.wall_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            for k, proc in self.procs.items():
                try:
                    t = proc.cpu_times()
                    self.cpu_s[k] = t.user + t.system
                except psutil.Error:
                    pass

    def stop(self) -> None:
        self.wall_s = time.monotonic() - self.started
        self._stop.set()
        self._thread.join()


def start_workers(session: StreamperfSession, duration_s: float,
                  collector: Collector) -> tuple[WorkerPool, dict[str, str]]:
    stream = session.stream()
    platform = session.platform()
    s = session.settings
    session.precreate(USERS, s.existing_offset)
    fans = plan_fans(USERS, 0, s.existing_offset)
    slices = split_plan(fans, 0.2, 2)
    workers = WorkerPool(local_workers(len(slices)), collector.sink, collector.on_lost)
    workers.start()
    journeys = platform.worker_journeys(stream.live)
    plans = [shard_plan(sl.shard_id, "", sl.fans, sl.ramp_s, duration_s,
                        stream.source.bitrate_kbps, journeys) for sl in slices]
    workers.launch(plans)
    host_of = {f.username: f"proc-{sl.shard_id}" for sl in slices for f in sl.fans}
    return workers, host_of


def test_two_procs_stream_rows_live_and_use_both_cores(session):
    c = Collector()
    workers, host_of = start_workers(session, 10.0, c)
    try:
        cpu = CpuWatch(workers.local_pids)
        assert workers.join(timeout=60), workers.status()
        run_end = time.time()
        cpu.stop()
    finally:
        workers.terminate()
    assert not c.lost, c.lost
    assert c.viewers(ev.FIRST_VIDEO) == set(host_of), c.viewers(ev.FIRST_VIDEO)
    assert c.viewers(ev.PLAY_END) == set(host_of)
    # Every viewer's rows come from its own shard's process, named per process.
    for r in c.rows:
        if r.viewer in host_of:
            assert r.host == host_of[r.viewer], r
    assert {r.host for r in c.rows} == {"proc-0", "proc-1"}
    # Streamed while running, not only at the end: batches all through the run.
    early = [t for t, _ in c.batches if t < run_end - 5.0]
    assert len(early) >= 10, c.batches
    # Nothing lost on the way: what each worker says it sent is what arrived.
    for st in workers.status().values():
        assert st["done"] is not None and st["done"]["rows"] == st["rows"] > 0, st
    print(f"\nCPU over {cpu.wall_s:.1f} s wall: " + ", ".join(
        f"proc-{k} {v:.2f} s ({100 * v / cpu.wall_s:.0f}% of a core)"
        for k, v in cpu.cpu_s.items()) + f"; {os.cpu_count()} cores; "
        f"{len(c.rows)} rows in {len(c.batches)} batches")
    # 3 RTMP viewers at ~1 Mbps are light; the point is that each process did work.
    assert all(v > 0.1 for v in cpu.cpu_s.values()), cpu.cpu_s


def test_killed_worker_keeps_its_rows_and_is_reported_lost(session):
    c = Collector()
    workers, host_of = start_workers(session, 12.0, c)
    victim = workers.pids[1]
    try:
        time.sleep(workers.start_at - time.time() + 5.0)  # all arrived and watching
        sent_before = [r for r in c.rows if r.host == "proc-1"]
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        assert workers.join(timeout=60), workers.status()
    finally:
        workers.terminate()
    (lost,) = c.lost
    shard_id, host, reason, unfinished = lost
    assert (shard_id, host) == (1, "proc-1")
    assert "exited" in reason, reason
    victims = sorted(n for n, h in host_of.items() if h == "proc-1")
    assert sorted(unfinished) == victims
    assert c.lost_at - killed_at < 2.0  # seen at once, not at the end of the run
    # Rows it sent before the kill are all kept, first frames included.
    rows_1 = [r for r in c.rows if r.host == "proc-1"]
    assert rows_1[: len(sent_before)] == sent_before
    assert c.viewers(ev.FIRST_VIDEO, "proc-1") == set(victims)
    assert max(r.t for r in rows_1) < killed_at + 0.1
    # The other shard finishes normally.
    others = {n for n, h in host_of.items() if h == "proc-0"}
    assert c.viewers(ev.PLAY_END, "proc-0") == others
    assert c.viewers(ev.PLAY_END, "proc-1") == set()
    assert workers.status()[0]["done"] is not None
    assert workers.lost_hosts == {"proc-1": reason}


def test_stop_ends_shards_early_and_cleanly(session):
    c = Collector()
    workers, host_of = start_workers(session, 60.0, c)
    try:
        time.sleep(workers.start_at - time.time() + 4.0)
        workers.stop()
        assert workers.join(timeout=15), workers.status()
    finally:
        workers.terminate()
    assert not c.lost, c.lost
    assert c.viewers(ev.PLAY_END) == set(host_of)  # Shard.run's finally ends every viewer
    for st in workers.status().values():
        assert st["done"] == {"rows": st["rows"], "stopped": True}, st


def test_worker_failing_before_ready_is_reported_lost_with_all_its_fans():
    c = Collector()
    workers = WorkerPool(local_workers(1), c.sink, c.on_lost, ready_timeout_s=30)
    workers.start()
    try:
        workers.launch([{"fans": [{"username": "x"}, {"username": "y"}]}])  # no platform keys
        assert workers.join(timeout=5)
    finally:
        workers.terminate()
    ((shard_id, host, reason, unfinished),) = c.lost
    assert (shard_id, host, unfinished) == (0, "proc-0", ["x", "y"])
    assert reason.startswith("failed to start: TypeError: FanSpec"), reason  # fans of no use
