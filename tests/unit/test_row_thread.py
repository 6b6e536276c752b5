"""The controller's row thread: order kept, everything drained, a sink's error surfaced."""

from __future__ import annotations

import threading
import time

import pytest

from streamperf.load.row_thread import RowThread
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter


def _batch(k: int, n: int = 50) -> list[Event]:
    return [Event(1000.0 + k, "h", f"fan{i}", ev.SAMPLE_BYTES, "", float(k * n + i))
            for i in range(n)]


def test_rows_reach_the_log_in_the_order_they_were_put_and_none_is_lost(tmp_path) -> None:
    writer = EventWriter(tmp_path / "events.csv")
    with RowThread(writer.write_many) as rows:
        for k in range(200):
            rows.put(_batch(k))
    writer.close()
    values = read_events(tmp_path / "events.csv")["value"].tolist()
    assert values == [float(v) for v in range(200 * 50)]


def test_the_caller_only_queues_while_a_slow_sink_works_on_its_own_thread() -> None:
    seen: list[str] = []
    release = threading.Event()

    def slow_sink(rows: list[Event]) -> None:
        release.wait(5)
        seen.append(threading.current_thread().name)

    rows = RowThread(slow_sink)
    started = time.monotonic()
    for k in range(20):
        rows.put(_batch(k, 2))
    assert time.monotonic() - started < 1.0  # nothing waited for the sink
    release.set()
    rows.close()
    assert seen == ["controller-rows"] * 20


def test_ctrl_c_in_the_block_still_drains_every_queued_batch(tmp_path) -> None:
    got: list[float] = []

    def sink(rows: list[Event]) -> None:
        time.sleep(0.01)
        got.extend(r.value for r in rows)

    with pytest.raises(KeyboardInterrupt), RowThread(sink) as rows:
        for k in range(30):
            rows.put(_batch(k, 3))
        raise KeyboardInterrupt
    assert got == [float(v) for v in range(30 * 3)]


def test_a_failing_sink_is_raised_in_the_callers_thread() -> None:
    def broken(rows: list[Event]) -> None:
        raise OSError("disk full")

    rows = RowThread(broken)
    rows.put(_batch(0))
    with pytest.raises(OSError, match="disk full"):
        rows.close()
    with pytest.raises(OSError, match="disk full"):
        rows.put(_batch(1))
