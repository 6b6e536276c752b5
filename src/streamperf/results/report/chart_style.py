"""How the report's charts are drawn: size, colours, axes, SLA lines, PNG output.

What every chart builder (charts.py, rendition_chart.py) shares, so each chart
looks like the others: a 900 x 350 px Figure made with `matplotlib.figure.Figure`
and the Agg canvas directly (never pyplot: no display, no global state, safe in
a pytest process), labelled alike, its SLA limits as dashed red lines tagged
`gid="sla:<metric>"`, saved as a PNG with log names drawn as plain text.

A run longer than MAX_POINTS seconds is drawn from its per-second timeline in
buckets of whole seconds (`timeline_points`): what a reader looks for stays
visible (the worst second of each bucket for lagged viewers and p95 lines, the
lowest p5, the mean of the means and p50s), and an hour-long run draws 600
points a line instead of 3,600, readable at 900 px.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Loc = Literal["upper left", "lower left", "lower right", "center left"]
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 3.5, 100  # 900 x 350 px
SLA_COLOR = "#d62728"
BLUE, ORANGE, GREY, GREEN = "#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c"
TIME_LABEL = "seconds since run start"
MAX_POINTS = 600  # a time series longer than this is drawn in buckets of whole seconds

# How a bucket of seconds shows each timeline column: the worst second, or the mean.
_BUCKET = {
    "connected": "max",
    "lagged": "max",
    "mean_kbps": "mean",
    "p5_kbps": "min",
    "p50_kbps": "mean",
    "p95_kbps": "max",
    "drift_p50_s": "mean",
    "drift_p95_s": "max",
    "latency_p50_s": "mean",
    "latency_p95_s": "max",
}


def bucket_width(seconds: float, max_points: int = MAX_POINTS) -> int:
    """Whole seconds per point so that `seconds` of a run take at most max_points."""
    import math

    return max(1, math.ceil(seconds / max_points))


def timeline_points(tl: pd.DataFrame, max_points: int = MAX_POINTS) -> tuple[pd.DataFrame, int]:
    """The per-second timeline as drawn: as is up to max_points seconds, else in
    buckets of `width` whole seconds (returned with it), `second` their start."""
    if len(tl) <= max_points:
        return tl, 1
    width = bucket_width(float(tl["second"].max() - tl["second"].min()) + 1, max_points)
    bucket = (tl["second"] // width) * width
    how = {c: f for c, f in _BUCKET.items() if c in tl}
    out = tl.groupby(bucket)[list(how)].agg(how).rename_axis("second").reset_index()
    return out, width


def per_bucket(width: int) -> str:
    """What a title adds when its points are buckets of seconds."""
    return "" if width == 1 else f", worst or mean of each {width} s"


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return data_uri(self.png)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def new_figure(
    ncols: int = 1, height_in: float = HEIGHT_IN, left_in: float = 0.65, suptitle: bool = False
) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
    # Fixed margins, not a layout engine: a third of the render time per chart.
    top_in = 0.55 if suptitle else 0.35
    fig.subplots_adjust(
        left=left_in / WIDTH_IN,
        right=1 - 0.15 / WIDTH_IN,
        bottom=0.5 / height_in,
        top=1 - top_in / height_in,
        wspace=0.28 if ncols > 1 else 0.2,
    )
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
    return fig, list(axes)


def label_axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)


def limit_line(
    ax: Axes,
    limits: dict[str, float],
    key: str,
    text: str,
    scale: float = 1.0,
    vertical: bool = False,
) -> None:
    """The SLA limit `key` as a dashed red line, if the caller's SLA has one."""
    if key not in limits or limits[key] is None:
        return
    value = float(limits[key]) * scale
    draw = ax.axvline if vertical else ax.axhline
    draw(
        value,
        color=SLA_COLOR,
        ls=(0, (6, 3)),
        lw=1.6,
        gid=f"sla:{key}",
        label=f"SLA limit: {text}",
    )


def limit_lines(fig: Figure) -> dict[str, float]:
    """The SLA lines drawn on a figure: metric -> the value on its axis."""
    import numpy as np

    found: dict[str, float] = {}
    for ax in fig.axes:
        for line in ax.lines:
            gid = line.get_gid() or ""
            if gid.startswith("sla:"):
                x = np.asarray(line.get_xdata(), dtype=float)
                y = np.asarray(line.get_ydata(), dtype=float)
                vertical = bool(np.ptp(x) == 0 and np.ptp(y) > 0)
                found[gid[4:]] = float((x if vertical else y)[0])
    return found


def legend(ax: Axes, loc: Loc = "upper left") -> None:
    # An explicit loc: "best" scans every point, slow on big runs.
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=loc, fontsize=7, framealpha=0.85)


def has_data(frame: pd.DataFrame, column: str) -> bool:
    return len(frame) > 0 and column in frame and bool(frame[column].notna().any())


def plain_text() -> Any:
    """Labels are names from the log (endpoints, hosts): drawn as written, never as
    matplotlib mathtext ("$\\frac$" in an endpoint name would stop the report)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False})


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with plain_text():  # tick labels are made as the figure is drawn
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
