"""Per API endpoint: calls, errors, timeouts and latency percentiles, from the `api` rows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import frame_of


def api_stats(log: Any) -> pd.DataFrame:
    """An EventLog's or a DataFrame's api rows, by endpoint template."""
    cols = ["endpoint", "calls", "errors", "timeouts", "p50_s", "p95_s"]
    df = frame_of(log)
    api = df[df["event"] == ev.API]
    if api.empty:
        return pd.DataFrame(columns=cols)
    g = api.assign(
        err=api["status"] != "200", tmo=api["status"] == "timeout"
    ).groupby("name")
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "errors": g["err"].sum(),
            "timeouts": g["tmo"].sum(),
            "p50_s": g["value"].quantile(0.5),
            "p95_s": g["value"].quantile(0.95),
        }
    )
    return out.reset_index(names="endpoint")[cols]
