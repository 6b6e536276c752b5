"""Charts of a run for people: PNG images drawn from an Analysis and the event log.

Each chart is built as a matplotlib Figure by one function (so tests can look
at its lines before it is rasterised), then saved as a PNG; how every chart is
drawn (size, colours, SLA lines, buckets of seconds for a long run, the PNG) is
chart_style.py. A ladder's chart is rendition_chart.py, the LL-HLS origin load's
origin_chart.py, both registered here.

Everything plotted is aggregated first (per second, per endpoint, quantiles of
viewers), so 10,000 viewers cost about as much as 100. A run longer than
MAX_POINTS seconds is drawn in buckets of whole seconds (`timeline_points`).

`limits` maps a metric to the limit a caller took from its SLA; each is drawn
as a dashed red line across the value axis, tagged `gid="sla:<metric>"`:

  startup_s      startup chart (seconds)
  lagged         viewers-lagged chart (viewers); lagged_pct is drawn as that
                 share of the connected viewers
  bitrate_ratio  bitrate chart, as ratio x source kbps; mean_kbps (or bitrate_kbps) as is
  drift_s, latency_s   drift/latency chart (seconds)
  stall_s        stall chart, stall seconds per viewer
  api_latency_s  API chart (seconds; a vertical line, the bars are horizontal)
  cpu_pct, loop_lag_s  load-generator chart
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamperf.results.eventlog import schema as ev
from streamperf.results.report.chart_style import (
    BLUE,
    GREEN,
    GREY,
    HEIGHT_IN,
    MAX_POINTS,
    ORANGE,
    SLA_COLOR,
    TIME_LABEL,
    Chart,
    data_uri,
    has_data,
    label_axes,
    legend,
    limit_line,
    limit_lines,
    new_figure,
    per_bucket,
    plain_text,
    png,
    timeline_points,
)
from streamperf.results.report.origin_chart import fig_origin_load
from streamperf.results.report.rendition_chart import fig_renditions

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from streamperf.results.analysis.figures import Analysis

MAX_HOST_LINES = 8  # more hosts than this are drawn as median and max across hosts
MAX_ENDPOINTS = 15


# Figure builders: each returns (title, figure) or None when its data is absent.
Builder = Callable[["Analysis", "pd.DataFrame", dict[str, float]], "tuple[str, Figure] | None"]


def fig_bitrate(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
                ) -> tuple[str, Figure] | None:
    tl = a.timeline
    if not has_data(tl, "p50_kbps"):
        return None
    tl, width = timeline_points(tl)
    title = f"Bitrate received per viewer (1 s windows{per_bucket(width)})"
    fig, (ax,) = new_figure()
    x = tl["second"].to_numpy(float)
    ax.fill_between(x, tl["p5_kbps"].to_numpy(float), tl["p95_kbps"].to_numpy(float),
                    color=BLUE, alpha=0.25, lw=0, label="p5–p95 of viewers", step="mid")
    # The mean shows the delivered rate when per-second figures are bursty (HLS
    # segments arrive whole, so p50 swings between 0 and several times the source).
    ax.plot(x, tl["mean_kbps"], color=GREEN, lw=1, label="mean", zorder=3)
    # Above the source line: on a healthy run they coincide.
    ax.plot(x, tl["p50_kbps"], color=BLUE, lw=1.8, label="p50", drawstyle="steps-mid",
            zorder=4)
    if a.source_kbps:
        ax.axhline(a.source_kbps, color=GREY, ls="--", lw=1.2,
                   label=f"source {a.source_kbps:.0f} kbps")
        limit_line(ax, limits, "bitrate_ratio", f"{limits.get('bitrate_ratio', 0):g} × source",
               scale=a.source_kbps)
    for key in ("mean_kbps", "bitrate_kbps"):  # the SLA's name, and a plain one
        limit_line(ax, limits, key, f"{limits.get(key, 0):g} kbps")
    ax.set_ylim(bottom=0)
    label_axes(ax, title, TIME_LABEL, "kbps")
    legend(ax, "lower left")
    return title, fig


def fig_lagged(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
               ) -> tuple[str, Figure] | None:
    tl = a.timeline
    if not has_data(tl, "connected"):
        return None
    tl, width = timeline_points(tl)
    title = (f"Viewers lagged (drift over {a.lag_threshold_s:g} s) among viewers connected"
             + (f" (most in each {width} s)" if width > 1 else ""))
    fig, (ax,) = new_figure()
    x = tl["second"].to_numpy(float)
    ax.fill_between(x, 0, tl["connected"].to_numpy(float), step="mid", color=GREY,
                    alpha=0.2, lw=0)
    ax.plot(x, tl["connected"], color=GREY, lw=1, drawstyle="steps-mid", label="connected")
    ax.fill_between(x, 0, tl["lagged"].to_numpy(float), step="mid", color=SLA_COLOR,
                    alpha=0.35, lw=0)
    ax.plot(x, tl["lagged"], color=SLA_COLOR, lw=1.5, drawstyle="steps-mid", label="lagged")
    limit_line(ax, limits, "lagged", f"{limits.get('lagged', 0):g} viewers")
    if limits.get("lagged_pct") is not None:
        pct = float(limits["lagged_pct"])
        ax.plot(x, tl["connected"].to_numpy(float) * pct / 100, color=SLA_COLOR,
                ls=(0, (6, 3)), lw=1.6, gid="sla:lagged_pct",
                label=f"SLA limit: {pct:g}% of connected")
    ax.set_ylim(bottom=0)
    label_axes(ax, title, TIME_LABEL, "viewers")
    legend(ax)
    return title, fig


def fig_drift_latency(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
                      ) -> tuple[str, Figure] | None:
    tl = a.timeline
    has_latency = has_data(tl, "latency_p50_s")
    if not has_data(tl, "drift_p50_s") and not has_latency:
        return None
    tl, width = timeline_points(tl)
    title = "Drift and end-to-end latency over viewers" if has_latency else "Drift over viewers"
    title += f" ({per_bucket(width)[2:]})" if width > 1 else ""
    fig, (ax,) = new_figure()
    x = tl["second"].to_numpy(float)
    ax.plot(x, tl["drift_p50_s"], color=BLUE, lw=1, label="drift p50")
    ax.plot(x, tl["drift_p95_s"], color=BLUE, lw=1.8, ls="--", label="drift p95")
    if has_latency:
        ax.plot(x, tl["latency_p50_s"], color=ORANGE, lw=1, label="latency p50")
        ax.plot(x, tl["latency_p95_s"], color=ORANGE, lw=1.8, ls="--", label="latency p95")
    limit_line(ax, limits, "drift_s", f"drift {limits.get('drift_s', 0):g} s")
    limit_line(ax, limits, "latency_s", f"latency {limits.get('latency_s', 0):g} s")
    # At least 0..1 s: a flat 1e-15 of float noise is not worth a scientific axis.
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 0.0), max(hi, 1.0))
    label_axes(ax, title, TIME_LABEL, "seconds")
    legend(ax)
    return title, fig


def _quantile_curve(values: Any, points: int = 1000) -> tuple[Any, Any]:
    """(percentile, value) pairs of a sample, at most `points` of them."""
    import numpy as np

    v = np.sort(np.asarray(values, dtype=float))
    q = np.linspace(0, 100, min(len(v), points)) if len(v) > 1 else np.array([0.0, 100.0])
    return q, np.percentile(v, q)


def fig_startup(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
                ) -> tuple[str, Figure] | None:
    import numpy as np

    s = a.viewers["startup_s"].dropna() if "startup_s" in a.viewers else []
    if not len(s):
        return None
    title = f"Startup time, ask-to-play to first video frame ({len(s)} viewers)"
    fig, (ax,) = new_figure()
    q, vals = _quantile_curve(s)
    ax.plot(q, vals, color=BLUE, lw=1.8, label="startup by viewer percentile")
    p50, p95 = float(np.percentile(s, 50)), float(np.percentile(s, 95))
    ax.axvline(95, color=GREY, ls=":", lw=1)
    ax.plot([50, 95], [p50, p95], "o", color=BLUE, ms=5)
    for q_, v_ in ((50, p50), (95, p95)):
        ax.annotate(f"p{q_} {v_:.3g} s", (q_, v_), textcoords="offset points",
                    xytext=(-8, 8), ha="right", fontsize=8)
    limit_line(ax, limits, "startup_s", f"{limits.get('startup_s', 0):g} s")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    label_axes(ax, title, "viewers, percentile (%)", "startup (s)")
    legend(ax)
    return title, fig


def fig_stalls(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
               ) -> tuple[str, Figure] | None:
    import numpy as np

    if not len(a.samples) or "got_media" not in a.viewers:
        return None
    watching = a.viewers[a.viewers["got_media"]]
    if watching.empty:
        return None
    title = "Stalls (playhead model)"
    fig, (left, right) = new_figure(ncols=2)
    from streamperf.results.analysis.figures import run_start_t

    start = run_start_t(df)
    end = float(a.timeline["second"].max() + 1) if len(a.timeline) else 1.0
    width = max(1.0, float(np.ceil(end / 60)))  # about 60 bars over the run
    starts = (a.stall_starts["t"].to_numpy(float) - start) if len(a.stall_starts) else []
    edges = np.arange(0, end + width, width)
    counts, _ = np.histogram(starts, bins=edges)
    left.bar(edges[:-1], counts, width=width, align="edge", color=SLA_COLOR, alpha=0.7)
    if not len(starts):
        left.text(0.5, 0.5, "no stalls", transform=left.transAxes, ha="center",
                  va="center", fontsize=11, color=GREY)
    left.set_xlim(0, end)
    left.set_ylim(bottom=0, top=max(1, int(counts.max()) + 1) if len(counts) else 1)
    label_axes(left, f"Stalls starting, per {width:g} s", TIME_LABEL, "stalls")
    q, vals = _quantile_curve(watching["stall_s"])
    right.plot(q, vals, color=SLA_COLOR, lw=1.8, label="stall time by viewer percentile")
    stalled = int((watching["stall_s"] > 0).sum())
    right.text(0.02, 0.95, f"{stalled} of {len(watching)} viewers stalled,"
               f" {float(watching['stall_s'].sum()):.1f} s in all",
               transform=right.transAxes, va="top", fontsize=8)
    limit_line(right, limits, "stall_s", f"{limits.get('stall_s', 0):g} s")
    right.set_xlim(0, 100)
    right.set_ylim(bottom=0, top=max(1.0, float(np.nanmax(vals)) * 1.15))
    label_axes(right, "Stall time per viewer", "viewers, percentile (%)", "stalled (s)")
    legend(right, "center left")
    return title, fig


def fig_api(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
            ) -> tuple[str, Figure] | None:
    import numpy as np

    api = a.api
    if not len(api):
        return None
    top = api.sort_values("p95_s", ascending=False).head(MAX_ENDPOINTS).iloc[::-1]
    n = len(top)
    title = "API latency by endpoint" + (
        f" (slowest {n} of {len(api)})" if len(api) > n else "")
    labels = [str(e) for e in top["endpoint"]]
    # Room for the longest endpoint name at 7 pt (about 0.06 in a character).
    left_in = min(4.0, 0.3 + 0.06 * max(len(e) for e in labels))
    fig, (ax,) = new_figure(height_in=max(HEIGHT_IN, 1.0 + 0.32 * n), left_in=left_in)
    y = np.arange(n)
    ax.barh(y + 0.2, top["p50_s"], height=0.4, color=BLUE, label="p50")
    ax.barh(y - 0.2, top["p95_s"], height=0.4, color=ORANGE, label="p95")
    ax.set_yticks(y, labels, fontsize=7)
    xmax = float(top["p95_s"].max() or 1.0)
    for yi, row in zip(y, top.itertuples(), strict=True):
        note = f"n={row.calls}" + (f", {row.errors} err" if row.errors else "")
        note += f" ({row.timeouts} timeout)" if row.timeouts else ""
        ax.text(float(row.p95_s) + xmax * 0.01, yi - 0.2, note, va="center", fontsize=7,
                color=SLA_COLOR if row.errors else "black")
    limit_line(ax, limits, "api_latency_s", f"{limits.get('api_latency_s', 0):g} s", vertical=True)
    ax.set_xlim(0, max(xmax, float(limits.get("api_latency_s") or 0)) * 1.25)
    span = max(n + 0.4, 4.0)  # a lone endpoint keeps thin bars, centred
    ax.set_ylim((n - 1) / 2 - span / 2, (n - 1) / 2 + span / 2)
    ax.grid(True, axis="y", alpha=0)
    label_axes(ax, title, "latency (s)", "")
    legend(ax, "lower right")
    return title, fig


def host_series(df: pd.DataFrame) -> pd.DataFrame:
    """Host samples as rows of t (since start), host, and one column per figure.

    Net bytes become Mbit/s over the time since that host's previous sample.
    """
    import pandas as pd


    rows = df[df["event"] == ev.HOST_SAMPLE]
    if rows.empty:
        return pd.DataFrame()
    from streamperf.results.analysis.figures import run_start_t

    start = run_start_t(df)
    wide = (rows.groupby(["host", "t", "name"], observed=True)["value"].mean()
            .unstack("name").reset_index().sort_values(["host", "t"]))
    wide.columns.name = None
    dt = wide.groupby("host")["t"].diff().fillna(ev.HOST_SAMPLE_S).clip(lower=0.5)
    for col, out in (("net_in_bytes", "net_in_mbps"), ("net_out_bytes", "net_out_mbps")):
        if col in wide:
            wide[out] = wide[col] * 8 / 1e6 / dt
    wide["t"] = wide["t"] - start
    return wide


def fig_hosts(a: Analysis, df: pd.DataFrame, limits: dict[str, float]
              ) -> tuple[str, Figure] | None:
    h = host_series(df)
    if h.empty:
        return None
    panels = [p for p in (("cpu", ("cpu_pct", "proc_cpu_pct")),
                          ("net", ("net_in_mbps", "net_out_mbps")),
                          ("lag", ("loop_lag_s",))) if any(c in h for c in p[1])]
    hosts = list(dict.fromkeys(h["host"]))
    title = f"Load generators ({len(hosts)} host{'s' * (len(hosts) != 1)})"
    fig, axes = new_figure(ncols=len(panels), suptitle=True)
    many = len(hosts) > MAX_HOST_LINES
    names = {"cpu_pct": "host CPU", "proc_cpu_pct": "streamperf process",
             "net_in_mbps": "in", "net_out_mbps": "out", "loop_lag_s": "loop lag"}
    for ax, (panel, cols) in zip(axes, panels, strict=True):
        for col, ls in zip(cols, ("-", "--"), strict=False):
            if col not in h:
                continue
            if many:
                # Aggregate across hosts per 2 s so a big fleet stays readable.
                g = h.assign(bucket=(h["t"] // ev.HOST_SAMPLE_S) * ev.HOST_SAMPLE_S).groupby(
                    "bucket")[col]
                ax.plot(g.median().index, g.median(), ls=ls, color=BLUE, lw=1.2,
                        label=f"{names[col]} median")
                ax.plot(g.max().index, g.max(), ls=ls, color=SLA_COLOR, lw=1,
                        label=f"{names[col]} max")
                continue
            for i, (host, g) in enumerate(h.groupby("host", sort=False)):
                label = f"{host} {names[col]}" if len(hosts) > 1 else names[col]
                ax.plot(g["t"], g[col], ls=ls, color=f"C{i % 10}", lw=1.2, label=label)
        if panel == "cpu":
            limit_line(ax, limits, "cpu_pct", f"{limits.get('cpu_pct', 0):g}%")
            ax.set_ylim(bottom=0, top=max(105.0, float(h[[c for c in cols if c in h]].max().max())
                                          * 1.05))
            label_axes(ax, "CPU", TIME_LABEL, "CPU (%; process: % of one core)")
        elif panel == "net":
            ax.set_ylim(bottom=0)
            label_axes(ax, "Network", TIME_LABEL, "Mbit/s")
        else:
            limit_line(ax, limits, "loop_lag_s", f"{limits.get('loop_lag_s', 0):g} s")
            ax.set_ylim(bottom=0)
            label_axes(ax, "Event-loop lag", TIME_LABEL, "seconds")
        legend(ax)
    fig.suptitle(title, fontsize=10)
    return title, fig


BUILDERS: dict[str, Builder] = {
    "bitrate": fig_bitrate,
    "renditions": fig_renditions,
    "origin_load": fig_origin_load,
    "lagged": fig_lagged,
    "drift_latency": fig_drift_latency,
    "startup": fig_startup,
    "stalls": fig_stalls,
    "api": fig_api,
    "hosts": fig_hosts,
}


def figures(a: Analysis, events_df: pd.DataFrame, limits: dict[str, float] | None = None
            ) -> list[tuple[str, str, Figure]]:
    """(name, title, Figure) for every chart whose data is present, in report order."""
    lim = {k: float(v) for k, v in (limits or {}).items() if v is not None}
    out = []
    with plain_text():
        for name, build in BUILDERS.items():
            built = build(a, events_df, lim)
            if built is not None:
                out.append((name, built[0], built[1]))
    return out


def charts(a: Analysis, events_df: pd.DataFrame, limits: dict[str, float] | None = None
           ) -> list[Chart]:
    """Every chart of a run as PNG bytes; a chart whose data is absent is left out."""
    return [Chart(name, title, png(fig)) for name, title, fig in figures(a, events_df, limits)]


__all__ = ["BUILDERS", "MAX_POINTS", "Chart", "charts", "data_uri", "fig_api", "fig_bitrate",
           "fig_drift_latency", "fig_hosts", "fig_lagged", "fig_origin_load", "fig_renditions",
           "fig_stalls", "fig_startup", "figures", "host_series", "limit_lines", "png",
           "timeline_points"]
