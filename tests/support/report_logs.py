"""Synthetic logs for the chart, report and CLI tests, and the seed tool's rows."""

from __future__ import annotations

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event

from .timelines import Timeline

SECRET = "s3cr3t-token-value"


def synthetic_run(viewers: int = 12, hosts: tuple[str, ...] = ("gen1", "gen2"),
                  api_error: bool = True, end: bool = True, healthy: bool = False) -> Timeline:
    """A 30 s run: steady viewers, one 4 s stall, one lagging viewer, host samples.

    healthy: no stall and no lag either (with api_error=False, a run that passes)."""
    tl = Timeline(t0=85.0)
    # Timeline.frame() does not quote: no comma in a detail.
    tl.rows.insert(0, Event(99.0, "gen1", "", ev.RUN_START, "synthetic[run]", 0, "0.1.0",
                            f'{{"users": {viewers}}}'))
    for i in range(viewers):
        tl.viewer(f"fan{i}", play_at=100 + i * 0.1, seconds=30, startup=0.4 + 0.1 * (i % 5),
                  stall_at=10 if i == 1 and not healthy else None, stall_s=4,
                  rate=0.8 if i == 2 and not healthy else 1.0)
    if api_error:
        tl.add(100.2, "fan3", ev.API, "POST /api/v1/fan_influencers", 2.5, "timeout",
               "read timed out")
        tl.add(100.3, "fan4", ev.API, "POST /api/v1/codes/use", 0.2, "422", "bad code <x>")
    for k in range(17):
        for n, host in enumerate(hosts):
            for name, value in (("cpu_pct", 20 + k + 10 * n), ("proc_cpu_pct", 15 + k),
                                ("rss_mib", 80.0), ("net_in_bytes", 2.0e6 * (n + 1)),
                                ("net_out_bytes", 3.0e4), ("loop_lag_s", 0.002 * k)):
                tl.rows.append(Event(100 + 2 * k, host, "", ev.HOST_SAMPLE, name, value))
    if end:
        tl.rows.append(Event(132.0, "gen1", "", ev.RUN_END, "done"))
    return tl


def seed_rows() -> list[list[str]]:
    """A seed tool log, rows in the order the seed would have written them.

    Machine m1 samples every 2 s from its start. testfanA starts at 2.0 (right
    after the 2.0 sample), makes 5 API calls 0.1 s apart, then rtmpdump reports
    every 0.25 s from 1.0 s after its start: 125 KiB/s and media time from 15 s
    for 20 s. testfanB starts at 4.0 and its first call fails critically.
    testfanC starts at 6.0 like testfanA but its media stops for 4 s after 5 s.
    """
    timed: list[tuple[float, int, list[str]]] = []
    for k in range(16):
        t = 2.0 * k
        timed += [(t, 0, ["m1", f"{t:.2f}", "KiloBytesSent", str(1000 + 10 * k)]),
                  (t, 0, ["m1", f"{t:.2f}", "KiloBytesRecv", str(5000 + 250 * k)]),
                  (t, 0, ["m1", f"{t:.2f}", "CPUUsage", f"{20 + k:.2f}"])]

    def fan(name: str, start: float, stall: tuple[float, float] | None = None) -> None:
        timed.append((start, 1, [name, "0", "StartTestOnMachine", "m1"]))
        for i in range(1, 6):
            timed.append((start + 0.1 * i, 1, [name, f"{0.1 * i:.2f}", "ApiRequest", "m1"]))
        kib, ts, s = 0.0, 15.0, 1.0
        while s <= 21.0 + 1e-9:
            timed.append((start + s, 2, [name, f"{s:.2f}", "StreamProgressKiloBytes",
                                         f"{kib:.2f}"]))
            timed.append((start + s, 2, [name, f"{s:.2f}", "StreamProgressSeconds",
                                         f"{ts:.2f}"]))
            if not (stall and stall[0] < s - 1.0 <= stall[0] + stall[1]):
                kib += 125 * 0.25
                ts += 0.25
            s += 0.25

    fan("testfanA", 2.0)
    timed += [(4.0, 1, ["testfanB", "0", "StartTestOnMachine", "m1"]),
              (4.2, 1, ["testfanB", "0.20", "ApiRequest", "m1"]),
              (4.2, 1, ["testfanB", "0.20", "ApiError", "critical"])]
    fan("testfanC", 6.0, stall=(5.0, 4.0))
    timed.sort(key=lambda e: (e[0], e[1]))
    return [row for _, _, row in timed]


def write_run_dir(run_dir, tl: Timeline, summary: dict | None = None):
    """A run directory as a run leaves it: events.csv (the real writer) and summary.json."""
    import json

    from streamperf.results.eventlog.writer import EventWriter

    with EventWriter(run_dir / "events.csv") as w:
        w.write_many(tl.rows)
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir
