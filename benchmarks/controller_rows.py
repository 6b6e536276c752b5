"""How many event rows per second the controller ingests: the event log writer
plus the live progress figures, the path every shard's rows take.

A viewer sends two rows a second (bytes, media_ts), so 10,000 viewers at one
sample a second is 20,000 rows/s plus host samples. The benchmark feeds
realistic batches (as shards send them, twice a second) as fast as the
controller takes them and prints rows/s, and how many viewers that keeps up
with; it also times a paced run of N viewers to show the share of one core
the controller spends, and how much of it lands on the viewers' event loop in
a single-process run: all of it when the loop calls the sink itself (before),
only the queueing with the row thread (load/row_thread.py, after).

    .venv/bin/python benchmarks/controller_rows.py --viewers 10000 --seconds 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from streamperf.load.row_thread import RowThread
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.report.live import LiveStats

BATCHES_PER_S = 2  # shards flush every 0.5 s


def batches(viewers: int, second: int, t0: float, shards: int) -> list[list[Event]]:
    """One second of rows from `viewers` viewers, split into shard batches."""
    out: list[list[Event]] = []
    per_shard = max(1, viewers // shards)
    t = t0 + second
    for shard in range(shards):
        host = f"gen{shard}"
        rows: list[Event] = []
        for v in range(shard * per_shard, min(viewers, (shard + 1) * per_shard)):
            name = f"testfan{v}"
            rows.append(Event(t, host, name, ev.SAMPLE_BYTES, "", 137_500.0))
            rows.append(Event(t, host, name, ev.SAMPLE_MEDIA_TS, "", 15.0 + second))
        if second % 2 == 0:
            rows += [Event(t, host, "", ev.HOST_SAMPLE, n, 1.0)
                     for n in ("cpu_pct", "proc_cpu_pct", "rss_mib", "net_in_bytes",
                               "net_out_bytes", "loop_lag_s")]
        half = len(rows) // BATCHES_PER_S
        out += [rows[:half], rows[half:]]
    return out


def run(viewers: int, seconds: int, shards: int, paced: bool, threaded: bool = False
        ) -> tuple[float, float, int, float]:
    """(wall s, controller CPU s, rows, CPU s of the thread that hands the rows over)
    for `seconds` of rows from `viewers` viewers; threaded: through a RowThread."""
    t0 = time.time()
    prepared = [batches(viewers, s, t0, shards) for s in range(seconds)]
    live = LiveStats(viewers)
    # Every viewer has started: drift is computed for each media_ts row.
    live.consume([Event(t0, "gen0", f"testfan{v}", ev.FIRST_AUDIO, "", 15.0)
                  for v in range(viewers)])
    with tempfile.TemporaryDirectory() as tmp:
        writer = EventWriter(Path(tmp) / "events.csv")

        def sink(batch: list[Event]) -> None:  # as LoadRun._sink
            writer.write_many(batch)
            live.consume(batch)

        pump = RowThread(sink) if threaded else None
        put = pump.put if pump is not None else sink
        rows = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        loop_cpu = 0.0
        for s, second in enumerate(prepared):
            here = time.thread_time()
            for batch in second:
                put(batch)
                rows += len(batch)
            loop_cpu += time.thread_time() - here
            live.snapshot(t0 + s + 1)
            if paced:
                # Real time: the next second's rows arrive a second later.
                time.sleep(max(0.0, (s + 1) - (time.perf_counter() - wall0)))
        if pump is not None:
            pump.close()
        writer.close()
        return time.perf_counter() - wall0, time.process_time() - cpu0, rows, loop_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--shards", type=int, default=8)
    args = ap.parse_args()

    wall, cpu, rows, _ = run(args.viewers, args.seconds, args.shards, paced=False)
    rate = rows / wall
    per_viewer = 2  # rows per viewer per second (host rows are per shard)
    print(f"flat out: {rows:,} rows in {wall:.2f} s = {rate:,.0f} rows/s "
          f"(CPU {cpu:.2f} s) -> keeps up with {rate / per_viewer:,.0f} viewers "
          f"at one sample per second")
    for threaded, label in ((False, "inline (before)"), (True, "row thread (after)")):
        wall, cpu, rows, loop = run(args.viewers, args.seconds, args.shards, paced=True,
                                    threaded=threaded)
        print(f"paced, {args.viewers:,} viewers for {args.seconds} s, {label}: controller "
              f"at {cpu / wall * 100:.1f}% of one core, of which on the viewers' loop "
              f"{loop / wall * 100:.3f}% "
              f"({'keeps up' if wall < args.seconds + 1 else 'FALLS BEHIND'}, "
              f"{wall:.1f} s wall)")


if __name__ == "__main__":
    main()
