"""Per load-generator host: its viewers, and the peak and mean of each host sample (CPU,
memory, network, loop lag), as the run's record shows them."""

from __future__ import annotations

import pandas as pd

from streamperf.results.eventlog import schema as ev


def host_summary(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per load-generator host: viewers, and peak/mean of each host sample."""
    out: dict[str, dict[str, float]] = {}
    fans = df[(df["event"] == ev.PLAY)]
    for host, count in fans.groupby("host")["viewer"].nunique().items():
        out.setdefault(str(host), {})["viewers"] = int(count)
    samples = df[df["event"] == ev.HOST_SAMPLE]
    for (host, name), values in samples.groupby(["host", "name"])["value"]:
        figures = out.setdefault(str(host), {})
        figures[f"{name}_max"] = float(values.max())
        figures[f"{name}_mean"] = float(values.mean())
    return out
