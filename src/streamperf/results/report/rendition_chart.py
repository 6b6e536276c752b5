"""The ladder's chart: the share of the viewers playing it on each rendition, over time.

Drawn only for a run whose viewers played a ladder (their `rendition` rows made
spans, results/analysis/renditions.py); the shares are the analysis's
(`shares_over_time`: per second, or per bucket of whole seconds on a run longer
than MAX_POINTS seconds, each viewer counted for the part of the second it held
a rendition), the bitrate in each legend entry the ladder table's (`ladder`).
One colour per rendition, highest bitrate darkest, stacked to 100 %; each area
is tagged `gid="rendition:<name>"`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from streamperf.results.report.chart_style import (
    TIME_LABEL,
    WIDTH_IN,
    bucket_width,
    label_axes,
    new_figure,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from streamperf.results.analysis.figures import Analysis

LEGEND_IN = 1.5  # room right of the axes for the legend: the areas fill the plot


def fig_renditions(
    a: Analysis, df: pd.DataFrame, limits: dict[str, float]
) -> tuple[str, Figure] | None:
    import numpy as np

    from streamperf.results.analysis import renditions
    from streamperf.results.analysis.figures import run_start_t

    spans = getattr(a, "spans", None)
    if spans is None or spans.empty:
        return None
    start = run_start_t(df)
    end = float((spans["t"] + spans["seconds"]).max()) - start
    if len(a.timeline):
        end = max(end, float(a.timeline["second"].max()) + 1)
    seconds = max(1, math.ceil(end))
    width = bucket_width(seconds)
    shares = renditions.shares_over_time(spans, start, seconds, width)
    ladder = renditions.ladder(a.viewers, spans, df)
    rows = ladder.rows if ladder is not None else None
    kbps = {} if rows is None else dict(zip(rows["rendition"], rows["kbps"], strict=True))
    viewers = spans["viewer"].nunique()
    title = f"Renditions over time: share of the {viewers:,} viewers playing the ladder"
    title += f" (each {width} s)" if width > 1 else ""
    fig, (ax,) = new_figure()
    fig.subplots_adjust(right=1 - (LEGEND_IN + 0.15) / WIDTH_IN)
    import matplotlib

    colours = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.85, max(2, len(shares.columns))))
    x = np.append(shares.index.to_numpy(float), float(shares.index[-1] + width))
    lower = np.zeros(len(x))
    for colour, name in zip(colours, shares.columns, strict=False):
        # No viewer on the ladder (NaN) draws as 0: a gap would lose the step before it.
        share = np.nan_to_num(shares[name].to_numpy(float)) * 100
        upper = lower + np.append(share, share[-1])
        rate = kbps.get(name)
        label = f"{name} {rate:,.0f} kbps" if rate is not None and np.isfinite(rate) else name
        ax.fill_between(
            x, lower, upper, step="post", color=colour, lw=0, gid=f"rendition:{name}", label=label
        )
        lower = upper
    ax.set_xlim(0, x[-1])
    ax.set_ylim(0, 100)
    label_axes(ax, title, TIME_LABEL, "% of viewers on the ladder")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, framealpha=0.85)
    return title, fig
