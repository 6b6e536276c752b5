"""The LL-HLS origin load's chart: what the LL-HLS viewers asked their origin for, each
second of the run, by kind of request.

Drawn only for a run with LL-HLS viewers (their LLHLS rows, results/analysis/
origin_load.py `over_time`): per second, or per bucket of whole seconds on a run
longer than MAX_POINTS seconds (each bucket's mean, so the axis stays requests per
second). One area per kind that was asked for, stacked in the report's order
(playlist, part, preload, segment, init), each tagged `gid="requests:<kind>"`; the
run's mean over its LL-HLS seconds as a grey line; the legend right of the axes, as
the ladder chart's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamperf.results.report.chart_style import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    TIME_LABEL,
    WIDTH_IN,
    bucket_width,
    label_axes,
    new_figure,
)
from streamperf.results.report.rendition_chart import LEGEND_IN

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from streamperf.results.analysis.figures import Analysis

#: a colour per request kind, as the report's other charts use them
COLOURS = {"playlist": BLUE, "part": ORANGE, "preload": GREEN, "segment": "#9467bd",
           "init": "#8c564b"}


def fig_origin_load(
    a: Analysis, df: pd.DataFrame, limits: dict[str, float]
) -> tuple[str, Figure] | None:
    import numpy as np

    from streamperf.results.analysis.origin_load import ALL

    o = getattr(a, "origin", None)
    if o is None or o.over_time.empty:
        return None
    per = o.over_time
    first, seconds = int(per.index[0]), len(per)
    width = bucket_width(seconds)
    if width > 1:
        per = per.groupby((per.index - first) // width * width + first).mean()
    kinds = [k for k in per.columns if per[k].sum() > 0]
    viewers = len(o.viewers)
    title = (f"LL-HLS origin load: requests per second by kind, {viewers:,} viewer"
             f"{'s' * (viewers != 1)}" + (f" (mean of each {width} s)" if width > 1 else ""))
    fig, (ax,) = new_figure()
    fig.subplots_adjust(right=1 - (LEGEND_IN + 0.15) / WIDTH_IN)
    x = np.append(per.index.to_numpy(float), float(per.index[-1] + width))
    lower = np.zeros(len(x))
    for kind in kinds:
        rate = per[kind].to_numpy(float)
        upper = lower + np.append(rate, rate[-1])
        ax.fill_between(x, lower, upper, step="post", color=COLOURS.get(kind, GREY), lw=0,
                        alpha=0.8, gid=f"requests:{kind}", label=kind)
        lower = upper
    mean = o.rps()[ALL]
    ax.axhline(mean, color=GREY, ls="--", lw=1.2, label=f"mean {mean:,.1f}/s")
    ax.set_xlim(min(0.0, float(x[0])), float(x[-1]))
    ax.set_ylim(bottom=0, top=max(1.0, float(lower.max()) * 1.1))
    label_axes(ax, title, TIME_LABEL, "requests / s")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, framealpha=0.85)
    return title, fig
