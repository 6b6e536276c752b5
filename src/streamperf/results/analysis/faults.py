"""What went wrong around the viewers during a run, read from its event log:
the publisher's deaths and restarts, viewers' reconnects, an interruption.

Figures for summary.json (and JUnit properties), and one line per fault for
the verdict's message, so a run that survived a fault says which and how.
The rows come from load/watch.py (publisher_exit, publish_start with status
`republish`), load/shard.py (reconnect) and load/run.py (run_end).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamperf.results.eventlog import schema as ev

#: status of a publish_start row that restarted a dead publisher (--republish), and
#: of a publisher_exit row that is a restart attempt failing, not a new death
REPUBLISH = "republish"


def _at(t: float, start: float) -> str:
    return f"+{t - start:.1f} s"


def publisher_outages(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Each death of the publisher: when it was seen, its exit code, and when (if)
    it was publishing again, with the failed attempts in between."""
    exits = df[df["event"] == ev.PUBLISHER_EXIT].sort_values("t")
    starts = df[(df["event"] == ev.PUBLISH_START) & (df["status"] == REPUBLISH)]
    out: list[dict[str, Any]] = []
    for row in exits.itertuples(index=False):
        if row.status == REPUBLISH:
            if out:
                out[-1]["failed_attempts"] += 1
            continue
        out.append({"t": float(row.t), "exit": int(row.value), "back_t": None,
                    "failed_attempts": 0})
    for outage in out:
        later = starts[starts["t"] > outage["t"]]
        if len(later):
            outage["back_t"] = float(later["t"].iloc[0])
    return out


def fault_figures(df: pd.DataFrame, start: float) -> dict[str, Any]:
    """summary.json figures: publisher deaths/restarts and the longest gap, reconnects,
    and `faults`, one line per fault."""
    outages = publisher_outages(df)
    reconnects = df[df["event"] == ev.RECONNECT]
    notes: list[str] = []
    gaps: list[float] = []
    for o in outages:
        line = f"publisher died, seen at {_at(o['t'], start)} (exit {o['exit']})"
        if o["back_t"] is not None:
            gap = o["back_t"] - o["t"]
            gaps.append(gap)
            tries = o["failed_attempts"] + 1
            line += (f"; republished at {_at(o['back_t'], start)} after {tries} "
                     f"attempt{'s' * (tries != 1)} ({gap:.1f} s without a publisher)")
        else:
            line += "; not republished"
        notes.append(line)
    if len(reconnects):
        viewers = reconnects["viewer"].nunique()
        notes.append(f"{len(reconnects)} reconnect{'s' * (len(reconnects) != 1)} by "
                     f"{viewers} viewer{'s' * (viewers != 1)}, the first at "
                     f"{_at(float(reconnects['t'].min()), start)}")
    ends = df[df["event"] == ev.RUN_END]
    if len(ends) and str(ends["name"].iloc[-1]) == "interrupted":
        why = str(ends["detail"].iloc[-1])
        notes.append(f"interrupted at {_at(float(ends['t'].iloc[-1]), start)}"
                     + (f" ({why})" if why else ""))
    return {
        "publisher_deaths": len(outages),
        "publisher_restarts": sum(o["back_t"] is not None for o in outages),
        "publisher_gap_max_s": max(gaps) if gaps else None,
        "reconnects": len(reconnects),
        "viewers_reconnected": int(reconnects["viewer"].nunique()),
        "faults": notes,
    }
