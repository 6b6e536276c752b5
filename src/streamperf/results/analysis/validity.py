"""Can a run's figures be trusted? Reasons a run is invalid, from the log.

A saturated load generator reads late: its viewers then report lag the
platform did not cause. So is a dead publisher: nothing left to measure.
"""

from __future__ import annotations

import pandas as pd

from streamperf.results.analysis.faults import publisher_outages
from streamperf.results.eventlog import schema as ev

CPU_LIMIT_PCT = 90.0  # host CPU (all cores) or the generator process (of one core)
LOOP_LAG_LIMIT_S = 0.25
CPU_SUSTAINED_SAMPLES = 3  # host samples are 2 s apart: 6 s in a row
LAG_SUSTAINED_SAMPLES = 2  # 4 s in a row; one late wake-up (a GC pause) is not saturation


def _longest_run(flags: pd.Series) -> int:
    """Length of the longest run of consecutive True values."""
    run = best = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def saturation(df: pd.DataFrame) -> list[str]:
    """One reason per saturated host and figure, e.g. 'host gen1: CPU over 90% for 8 s'."""
    hosts = df[df["event"] == ev.HOST_SAMPLE]
    reasons: list[str] = []
    checks = (
        ("cpu_pct", CPU_LIMIT_PCT, CPU_SUSTAINED_SAMPLES, "host CPU over {:g}%"),
        ("proc_cpu_pct", CPU_LIMIT_PCT, CPU_SUSTAINED_SAMPLES,
         "load generator process over {:g}% of a core"),
        ("loop_lag_s", LOOP_LAG_LIMIT_S, LAG_SUSTAINED_SAMPLES, "event-loop lag over {:g} s"),
    )
    for host, rows in hosts.groupby("host", sort=True):
        for name, limit, sustained, what in checks:
            series = rows[rows["name"] == name].sort_values("t")
            over = series["value"] > limit
            longest = _longest_run(over)
            if longest >= sustained:
                worst = float(series["value"].max())
                reasons.append(f"host {host}: {what.format(limit)} for {longest} samples in a "
                               f"row (peak {worst:.3g})")
    return reasons


def invalid_reason(df: pd.DataFrame, publisher_log: str = "") -> str | None:
    """Why the run cannot be judged, or None."""
    reasons: list[str] = []
    # A publisher restarted by --republish leaves a gap the viewers' figures show; one
    # that stayed dead leaves nothing to measure.
    if any(o["back_t"] is None for o in publisher_outages(df)):
        reasons.append("publisher died" + (f"; its log: {publisher_log}" if publisher_log else ""))
    sat = saturation(df)
    if sat:
        reasons.append("load generator saturated: " + "; ".join(sat))
    return "; ".join(reasons) or None
