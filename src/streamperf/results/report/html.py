"""The HTML report: one self-contained page, CSS inline, charts as data URIs.

`render_report` gives the whole page (`streamperf report`, the run directory);
`summary_html` gives the fragment the pytest-html plugin embeds per test. Both
read top-down as a person asks: the verdict and the tiles of the figures that
decided it, then the charts, then the tables (with a ladder's, when the viewers
played one: results/analysis/renditions.py computes it, this module words it; and the
LL-HLS origin load's, when there were LL-HLS viewers: results/analysis/origin_load.py).
Both share one stylesheet scoped under `.sp-report`, so the fragment does not
restyle pytest-html's page.

The judge decides (results/judging/judge.py); this module only shows its Verdict: a
tile is red because the judge listed its check among the breaches, never
because a figure was compared here.

This module picks what the report says (which rows, which labels, every
figure formatted); templates/ lay it out, rendered by templating.py with every
value escaped, so the log's texts reach the page as text, never as markup.

Importing this module is cheap: pandas, matplotlib and jinja2 load when a
report is rendered, not when the plugin imports it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamperf.results.formatting import figure

if TYPE_CHECKING:
    import pandas as pd

    from streamperf.results.analysis.figures import Analysis
    from streamperf.results.judging.judge import Verdict
    from streamperf.results.report.charts import Chart
    from streamperf.results.report.tiles import Tile

WORST_VIEWERS = 20
# Belt and braces: the caller redacts settings, but a key that looks secret is
# masked here too, so a report never carries a token by accident.
SECRET_KEY = re.compile(r"token|password|passwd|secret|api_?key|private|credential", re.I)

SUMMARY_LABELS: dict[str, str] = {
    "viewers_planned": "viewers planned",
    "viewers_with_media": "viewers with media",
    "viewers_aborted": "viewers aborted (API failure)",
    "viewers_lagged": "viewers lagged at some point",
    "startup_p50_s": "startup p50",
    "startup_p95_s": "startup p95",
    "max_drift_s": "max drift",
    "mean_kbps": "mean bitrate per viewer",
    "source_kbps": "source bitrate",
    "min_bitrate_ratio": "min bitrate / source",
    "min_media_s": "min media received",
    "stalls": "stalls",
    "viewers_with_stalls": "viewers with stalls",
    "max_rebuffer_ratio": "max rebuffer ratio",
    "viewer_errors": "viewer errors",
    "disconnects": "disconnects",
    "api_calls": "API calls",
    "api_errors": "API errors",
    "api_error_rate": "API error rate",
    "origin_latency_s": "origin latency (lone viewer)",
    "errors_by_kind": "viewer errors by kind",
    "latency_p50_s": "latency p50",
    "latency_p95_s": "latency p95",
    "latency_basis": "latency measured against",
    "source_kbps_basis": "source bitrate from",
    "publisher_deaths": "publisher deaths",
    "publisher_restarts": "publisher restarts (--republish)",
    "publisher_gap_max_s": "longest time without a publisher",
    "reconnects": "viewer reconnects (--reconnect)",
    "viewers_reconnected": "viewers that reconnected",
    "faults": "faults",
    "llhls_viewers": "LL-HLS viewers",
    "llhls_rps": "LL-HLS requests/s, all viewers",
    "llhls_peak_rps": "LL-HLS requests/s, busiest second",
    "llhls_rps_per_viewer": "LL-HLS requests/s per viewer (mean)",
    "llhls_rps_by_kind": "LL-HLS requests/s by kind",
    "llhls_rps_per_viewer_by_kind": "LL-HLS requests/s per viewer by kind (mean)",
    "llhls_block_wait_p50_s": "LL-HLS blocking reload wait p50",
    "llhls_block_wait_p95_s": "LL-HLS blocking reload wait p95",
    "llhls_blocked": "LL-HLS blocking reloads",
    "llhls_early": "LL-HLS reloads answered early (not blocked)",
    "llhls_early_ratio": "LL-HLS early answers / blocking reloads",
    "run_dir": "run directory",
    "start_t": "log starts",
}


def redact(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if SECRET_KEY.search(k) and v not in (None, "", "***") else v)
            for k, v in settings.items()}


#: How a Table's column lays out its cells (templates/macros.html `cell`): text,
#: a figure (right-aligned), code, an error text, a verdict word, a (label, key) pair.
KINDS = frozenset({"text", "num", "code", "err", "verdict", "metric"})


@dataclass(frozen=True)
class Table:
    """A table for the templates: plain values, one kind per column."""

    headers: Sequence[str]
    kinds: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def __post_init__(self) -> None:
        if len(self.kinds) != len(self.headers) or not KINDS.issuperset(self.kinds):
            raise ValueError(f"kinds {self.kinds!r} for {len(self.headers)} columns")


def _nums(n: int) -> list[str]:
    return ["num"] * n


def _summary_table(a: Analysis) -> Table:
    rows = [((SUMMARY_LABELS.get(key, key.replace("_", " ")), key), figure(value, key))
            for key, value in a.summary().items()]
    return Table(["metric", "value"], ["metric", "num"], rows)


AGGREGATE_KEYS = ("viewers_with_media", "viewers_planned", "startup_p95_s", "viewers_lagged",
                  "max_drift_s", "latency_p95_s", "mean_kbps", "stalls", "api_error_rate")


def aggregate_html(summaries: Sequence[Mapping[str, Any]]) -> str:
    """One row per run, from its summary.json record (name, metrics, verdict): the
    report summary's block. A record is what pytest-xdist's workers leave behind."""
    from streamperf.results.report.templating import render

    rows = [(summary["name"], str(summary["verdict"]["word"]),
             *(figure(summary["metrics"].get(k), k) for k in AGGREGATE_KEYS))
            for summary in summaries]
    headers = ["run", "verdict", *(SUMMARY_LABELS.get(k, k) for k in AGGREGATE_KEYS)]
    kinds = ["text", "verdict", *_nums(len(AGGREGATE_KEYS))]
    return render("runs.html", runs=Table(headers, kinds, rows))


@dataclass(frozen=True)
class Glance:
    """What a reader wants first: the verdict, its tiles, the breaches, the faults."""

    word: str
    reason: str
    tiles: list[Tile]
    breaches: list[str]
    not_applicable: str  # default checks over metrics this run has no data for
    faults: str  # what went wrong around the viewers (results/analysis/faults.py)


def _glance(a: Analysis, verdict: Verdict) -> Glance:
    from streamperf.results.report.tiles import verdict_tiles

    return Glance(verdict.word, verdict.reason, verdict_tiles(a, verdict),
                  [str(b) for b in verdict.breaches],
                  "; ".join(str(n) for n in verdict.not_applicable),
                  "; ".join(str(line) for line in a.info.get("faults") or ()))


def _lost_hosts(events_df: pd.DataFrame) -> Table | None:
    """Load generators that died mid-run: their unfinished viewers count as failed."""
    from streamperf.results.analysis.figures import run_start_t
    from streamperf.results.eventlog import schema as ev

    lost = events_df[(events_df["event"] == ev.VIEWER_ERROR)
                     & (events_df["name"] == ev.LOST_HOST)]
    if lost.empty:
        return None
    t0 = run_start_t(events_df)
    rows = [(host, g["viewer"].nunique(), f"{float(g['t'].min()) - t0:,.1f}",
             str(g["detail"].iloc[0]))
            for host, g in lost.groupby("host", sort=True)]
    return Table(["host", "viewers failed", "lost at s", "why"], ["text", "num", "num", "text"],
                 rows)


def _load_hosts(events_df: pd.DataFrame) -> Table | None:
    """The remote hosts prepared for the run: clock offset applied, cores, open files."""
    from streamperf.results.eventlog import schema as ev

    rows = events_df[events_df["event"] == ev.LOAD_HOST]
    if rows.empty:
        return None
    out = []
    for host, g in rows.groupby("host", sort=True):
        figures = dict(zip(g["name"], g["value"], strict=False))
        out.append((host, str(g["detail"].iloc[0]),
                    f"{figures.get('clock_offset_s', 0.0) * 1000:+.1f}",
                    f"{figures.get('rtt_s', 0.0) * 1000:.1f}",
                    f"{int(figures.get('cpus', 0)):,}",
                    f"{int(figures.get('nofile', 0)):,}"))
    return Table(["host", "software", "clock offset ms", "rtt ms", "cores", "open files"],
                 ["text", "text", *_nums(4)], out)


#: Where the bitrate a rendition is taken at came from (renditions.SOURCE ... DECLARED).
BASIS_WORDS = {"source": "source (ffprobe)", "received": "received (bytes per media s)",
               "AVERAGE-BANDWIDTH": "AVERAGE-BANDWIDTH", "declared": "declared peak"}
LADDER_HEADERS = ["rendition", "resolution", "declared kbps", "played at kbps", "bitrate from",
                  "share of viewer-time", "viewers started on it", "viewers on it at the end"]


@dataclass(frozen=True)
class LadderTables:
    """A ladder run's tables: one row per rendition, then the switches and the average
    played bitrate against the ladder (results/analysis/renditions.py `ladder`)."""

    renditions: Table
    totals: Table


def _share(value: float) -> str:
    return "–" if value != value else f"{value:.1%}"  # NaN: no viewer-time at all


def _ladder(a: Analysis, events_df: pd.DataFrame) -> LadderTables | None:
    from streamperf.results.analysis.renditions import ladder

    spans = getattr(a, "spans", None)
    made = ladder(a.viewers, spans, events_df) if spans is not None else None
    if made is None:
        return None
    rows = [(r["rendition"], r["res"] or "–", figure(r["declared_kbps"]), figure(r["kbps"]),
             BASIS_WORDS.get(r["basis"], r["basis"] or "–"), _share(r["share"]),
             figure(int(r["started"])), figure(int(r["at_end"])))
            for r in made.rows.to_dict("records")]
    against = "–"
    if made.played_vs_top is not None:
        top = made.rows["rendition"].iloc[0]
        against = (f"{made.played_vs_top:.0%} of the top rendition"
                   f" ({top}, {figure(made.top_kbps, 'kbps')})")
        if made.between is not None:
            low, high = made.between
            against += f"; at {low}" if low == high else f"; between {low} and {high}"
    totals = [("viewers on the ladder", figure(made.viewers)),
              ("bitrate switches up / down",
               f"{figure(made.switches_up)} / {figure(made.switches_down)}"),
              ("average played bitrate", figure(made.played_mean_kbps, "played_mean_kbps")),
              ("against the ladder", against)]
    kinds = ["text", "text", "num", "num", "text", "num", "num", "num"]
    return LadderTables(Table(LADDER_HEADERS, kinds, rows),
                        Table(["ladder", "value"], ["text", "text"], totals))


ORIGIN_HEADERS = ["request", "requests", "per s, all viewers", "per s, busiest second",
                  "per s per viewer (mean)", "per s per viewer (max)"]


@dataclass(frozen=True)
class OriginTables:
    """A run's LL-HLS origin load (results/analysis/origin_load.py): requests by kind, in
    all and per viewer; then the blocking reloads, their waits and early answers."""

    requests: Table
    reloads: Table


def _per_s(value: float) -> str:
    return "–" if value != value else f"{value:,.2f}"


def _origin(a: Analysis) -> OriginTables | None:
    from streamperf.results.analysis.origin_load import ALL, KINDS

    o = getattr(a, "origin", None)
    if o is None:
        return None
    v = o.viewers
    totals, rps, peak, mean = o.totals, o.rps(), o.peak_rps(), o.per_viewer_rps()
    most = {**{k: float(v[f"{k}_rps"].max()) for k in KINDS}, ALL: float(v["requests_rps"].max())}
    rows = [(kind, figure(totals[kind]), _per_s(rps[kind]), _per_s(peak[kind]),
             _per_s(mean[kind]), _per_s(most[kind])) for kind in (*KINDS, ALL)]
    ratio = o.early_ratio
    early = f"{o.early:,} of {o.blocked:,}" + ("" if ratio is None else f" ({ratio:.1%})")
    waits = " / ".join(figure(o.block_wait_s(q), "_s") for q in (0.5, 0.95))
    reloads = [("LL-HLS viewers", figure(len(v))),
               ("seconds played (first window to last sample)", figure(o.span_s, "_s")),
               ("blocking reloads answered early (the origin did not block)", early),
               ("viewers with an early answer", figure(int((v["early"] > 0).sum()))),
               ("blocking reload wait p50 / p95", waits),
               ("blocking waits read", figure(len(o.waits)))]
    return OriginTables(Table(ORIGIN_HEADERS, ["text", *_nums(5)], rows),
                        Table(["LL-HLS", "value"], ["text", "text"], reloads))


def _charts(a: Analysis, events_df: pd.DataFrame, limits: dict[str, float] | None,
            charts: Sequence[Chart] | None) -> Sequence[Chart]:
    if charts is not None:
        return charts
    from streamperf.results.report.charts import charts as make_charts

    return make_charts(a, events_df, limits)


def summary_html(
    analysis: Analysis,
    events_df: pd.DataFrame,
    verdict: Verdict,
    limits: dict[str, float] | None = None,
    title: str = "streamperf",
    charts: Sequence[Chart] | None = None,
) -> str:
    """The per-test fragment for pytest-html: verdict and tiles, charts, summary table."""
    from streamperf.results.report.templating import render

    return render("fragment.html", title=title, g=_glance(analysis, verdict),
                  lost=_lost_hosts(events_df),
                  charts=_charts(analysis, events_df, limits, charts),
                  ladder=_ladder(analysis, events_df), origin=_origin(analysis),
                  summary=_summary_table(analysis))


def _breakdown(a: Analysis, by: str) -> Any:
    """Viewer figures grouped by protocol or host."""
    import numpy as np
    import pandas as pd

    v = a.viewers.assign(key=a.viewers[by].replace("", "(none)"))
    lagged = v["max_drift_s"] > a.lag_threshold_s

    def q(s: pd.Series, p: float) -> float:
        s = s.dropna()
        return float(np.percentile(s, p)) if len(s) else float("nan")

    rows = []
    for key, g in v.groupby("key", sort=True):
        rows.append({
            by: key, "viewers": len(g), "with media": int(g["got_media"].sum()),
            "aborted": int(g["aborted"].sum()), "startup p50": q(g["startup_s"], 50),
            "startup p95": q(g["startup_s"], 95), "mean kbps": g["mean_kbps"].mean(),
            "lagged": int(lagged[g.index].sum()), "stalls": int(g["stalls"].sum()),
            "errors": int(g["errors"].sum()),
        })
    return pd.DataFrame(rows)


def _breakdown_table(a: Analysis, events_df: pd.DataFrame, by: str) -> Table | None:
    b = _breakdown(a, by)
    headers = [by, "viewers", "with media", "aborted", "startup p50 (s)", "startup p95 (s)",
               "mean kbps", "lagged", "stalls", "errors"]
    rows: dict[str, list[Any]] = {
        str(r[by]): [r[by]] + [figure(v) for k, v in r.items() if k != by]
        for r in b.to_dict("records")}
    if by == "host":
        # Load-generator health beside its viewers; a host with samples but no
        # viewers (a controller) still gets a row.
        from streamperf.results.report.charts import host_series

        h = host_series(events_df)
        cols = [c for c in ("cpu_pct", "proc_cpu_pct", "loop_lag_s", "rss_mib") if c in h]
        if cols:
            per = h.groupby("host")[cols].max()
            names = {"cpu_pct": "host CPU max %", "proc_cpu_pct": "proc CPU max %",
                     "loop_lag_s": "loop lag max s", "rss_mib": "RSS max MiB"}
            headers += [names[c] for c in cols]
            blank = ["–"] * (len(headers) - len(cols) - 1)
            sampled = {str(x) for x in per.index}
            for host in sorted(sampled | set(rows)):
                cells = rows.setdefault(host, [host, *blank])
                cells += [figure(float(per.loc[host, c])) if host in sampled else "–"
                          for c in cols]
    if not rows:
        return None
    return Table(headers, ["text", *_nums(len(headers) - 1)], list(rows.values()))


WORST_COLUMNS = [
    ("viewer", "viewer"), ("host", "host"), ("protocol", "protocol"),
    ("got_media", "media"), ("startup_s", "startup (s)"), ("mean_kbps", "kbps"),
    ("bitrate_ratio", "ratio"), ("max_drift_s", "max drift (s)"),
    ("lagged_s", "lagged (s)"), ("latency_p95_s", "latency p95 (s)"),
    ("stalls", "stalls"), ("stall_s", "stall (s)"), ("errors", "errors"),
    ("first_error", "first error"),
]


def worst_viewers(a: Analysis, n: int = WORST_VIEWERS) -> Any:
    """The n worst viewers: no media first, then seconds lagged, stall time, drift, startup."""
    v = a.viewers
    if v.empty:
        return v
    ranked = v.assign(_no_media=~v["got_media"]).sort_values(
        ["_no_media", "lagged_s", "stall_s", "max_drift_s", "startup_s", "errors"],
        ascending=False, na_position="last", kind="stable")
    return ranked.head(n).drop(columns="_no_media")


def _worst_table(a: Analysis) -> Table | None:
    w = worst_viewers(a)
    if w.empty:
        return None
    rows = [[figure(r[col]) for col, _ in WORST_COLUMNS] for r in w.to_dict("records")]
    kinds = ["err" if col == "first_error" else
             "text" if col in ("viewer", "host", "protocol", "got_media") else "num"
             for col, _ in WORST_COLUMNS]
    return Table([h for _, h in WORST_COLUMNS], kinds, rows)


def _api_table(a: Analysis) -> Table | None:
    api = a.api
    if api.empty:
        return None
    rows = []
    for r in api.sort_values("endpoint").to_dict("records"):
        rate = r["errors"] / r["calls"] if r["calls"] else 0.0
        rows.append([r["endpoint"], figure(int(r["calls"])),
                     figure(int(r["errors"])), figure(int(r["timeouts"])), f"{rate:.2%}",
                     f"{r['p50_s'] * 1000:,.1f}", f"{r['p95_s'] * 1000:,.1f}"])
    return Table(["endpoint", "calls", "errors", "timeouts", "error rate", "p50 (ms)",
                  "p95 (ms)"], ["code", *_nums(6)], rows)


def left_empty(value: Any) -> bool:
    """A setting nobody filled in: empty text or list, None, an unset flag (every
    RunSettings flag defaults to off). Zero is a value (0% new fans), so it stays."""
    return value is None or value is False or (
        isinstance(value, str | list | tuple | dict | set | frozenset) and not value)


def _settings_table(settings: dict[str, Any]) -> Table | None:
    shown = {k: v for k, v in redact(settings).items() if not left_empty(v)}
    if not shown:
        return None
    rows = [(key, value if isinstance(value, str) else json.dumps(value, default=str))
            for key, value in shown.items()]
    return Table(["setting", "value"], ["code", "text"], rows)


def _run_window(events_df: pd.DataFrame) -> str:
    if events_df is None or not len(events_df):
        return ""
    t0, t1 = float(events_df["t"].min()), float(events_df["t"].max())
    # Before 2001 the log's clock is not wall time (seed logs count from 0).
    when = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t0)) + ", "
            if t0 > 1e9 else "")
    return f"{when}{t1 - t0:,.0f} s of log"


def render_report(
    analysis: Analysis,
    events_df: pd.DataFrame,
    title: str,
    verdict: Verdict,
    settings: dict[str, Any] | None = None,
    limits: dict[str, float] | None = None,
    charts: Sequence[Chart] | None = None,
) -> str:
    """The whole report as one standalone HTML page."""
    from streamperf import __version__
    from streamperf.results.report.templating import render

    meta = " · ".join(x for x in (
        _run_window(events_df), f"lag threshold {analysis.lag_threshold_s:g} s",
        f"streamperf {__version__}",
        "generated " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())) if x)
    return render(
        "report.html", title=title, g=_glance(analysis, verdict), meta=meta,
        lost=_lost_hosts(events_df), charts=_charts(analysis, events_df, limits, charts),
        summary=_summary_table(analysis), settings=_settings_table(settings or {}),
        ladder=_ladder(analysis, events_df), origin=_origin(analysis),
        by_protocol=_breakdown_table(analysis, events_df, "protocol"),
        by_host=_breakdown_table(analysis, events_df, "host"),
        load_hosts=_load_hosts(events_df), worst_n=WORST_VIEWERS, worst=_worst_table(analysis),
        api=_api_table(analysis))


def write_report(path: Path | str, page: str) -> Path:
    """Write a page from render_report (creating the directory)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
