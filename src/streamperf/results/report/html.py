"""The HTML report: one self-contained page, CSS inline, charts as data URIs.

`render_report` gives the whole page (`streamperf report`, the run directory);
`summary_html` gives the fragment the pytest-html plugin embeds per test. Both
read top-down as a person asks: the verdict and the tiles of the figures that
decided it, then the charts, then the tables. Both share one stylesheet scoped
under `.sp-report`, so the fragment does not restyle pytest-html's page.

The judge decides (results/judging/judge.py); this module only shows its Verdict: a
tile is red because the judge listed its check among the breaches, never
because a figure was compared here.

Importing this module is cheap: pandas and matplotlib load when a report is
rendered, not when the plugin imports it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamperf.results.formatting import figure
from streamperf.results.report.tiles import esc as _e
from streamperf.results.report.tiles import tiles_html

if TYPE_CHECKING:
    import pandas as pd

    from streamperf.results.analysis.figures import Analysis
    from streamperf.results.judging.judge import Verdict
    from streamperf.results.report.charts import Chart

WORST_VIEWERS = 20
# Belt and braces: the caller redacts settings, but a key that looks secret is
# masked here too, so a report never carries a token by accident.
SECRET_KEY = re.compile(r"token|password|passwd|secret|api_?key|private|credential", re.I)

CSS = """
.sp-report{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
 max-width:1000px;margin:0 auto;padding:0 12px 24px}
.sp-report h1{font-size:22px;margin:18px 0 6px}
.sp-report h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sp-report .sp-meta{color:#555;font-size:12px}
.sp-report .sp-verdict{display:inline-block;font-weight:700;font-size:15px;padding:4px 12px;
 border-radius:4px;color:#fff;margin-right:8px;letter-spacing:.04em}
.sp-report .sp-pass{background:#2e7d32}.sp-report .sp-fail{background:#c62828}
.sp-report .sp-invalid{background:#ef6c00}.sp-report .sp-interrupted{background:#6d4c41}
.sp-report .sp-reason{font-weight:600}
.sp-report table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
.sp-report th,.sp-report td{border:1px solid #ddd;padding:3px 8px;text-align:left;
 vertical-align:top}
.sp-report th{background:#f3f4f6;font-weight:600}
.sp-report tr:nth-child(even) td{background:#fafafa}
.sp-report td.sp-num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sp-report code{font:12px ui-monospace,Menlo,Consolas,monospace;color:#555}
.sp-report ul.sp-breaches{margin:6px 0;padding-left:20px;color:#b71c1c}
.sp-report ul.sp-breaches li{margin:3px 0}
.sp-report figure{margin:10px 0 18px}
.sp-report figure img{max-width:100%;height:auto;border:1px solid #e5e5e5}
.sp-report figcaption{font-size:12px;color:#555}
.sp-report .sp-cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.sp-report .sp-err{color:#b71c1c;max-width:320px;overflow-wrap:anywhere}
.sp-report .sp-none{color:#777;font-style:italic}
.sp-report .sp-tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));
 gap:10px;margin:12px 0 8px}
.sp-report .sp-tile{border:1px solid #ddd;border-top:4px solid #bdbdbd;border-radius:6px;
 padding:8px 10px;background:#fff;min-width:0}
.sp-report .sp-tile-held{border-top-color:#2e7d32}
.sp-report .sp-tile-breached{border:2px solid #c62828;border-top-width:6px;background:#fdecea}
.sp-report .sp-tile-label{font-size:12px;font-weight:600;color:#555;overflow-wrap:anywhere}
.sp-report .sp-tile-figure{font-size:24px;font-weight:700;line-height:1.25;
 font-variant-numeric:tabular-nums}
.sp-report .sp-tile-breached .sp-tile-figure{color:#b71c1c}
.sp-report .sp-tile-sub{font-size:12px;color:#555}
.sp-report ul.sp-checks{list-style:none;margin:6px 0 0;padding:6px 0 0;font-size:12px;
 border-top:1px solid #eee;overflow-wrap:anywhere}
.sp-report ul.sp-checks li{margin:3px 0}
.sp-report ul.sp-checks code{display:block;color:inherit}
.sp-report .sp-held{color:#2e7d32}.sp-report .sp-breached{color:#b71c1c;font-weight:600}
.sp-report .sp-na,.sp-report .sp-nocheck{color:#777}
"""

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
    "run_dir": "run directory",
    "start_t": "log starts",
}


def redact(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if SECRET_KEY.search(k) and v not in (None, "", "***") else v)
            for k, v in settings.items()}


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
           numeric: Sequence[bool] | None = None, cls: Sequence[str] | None = None) -> str:
    numeric = numeric or [False] * len(headers)
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            klass = "sp-num" if numeric[i] else (cls[i] if cls else "")
            out.append(f'<td class="{klass}">{cell}</td>' if klass else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary_table(a: Analysis) -> str:
    rows = []
    for key, value in a.summary().items():
        label = SUMMARY_LABELS.get(key, key.replace("_", " "))
        rows.append((f"{_e(label)} <code>{_e(key)}</code>", _e(figure(value, key))))
    return _table(["metric", "value"], rows, numeric=[False, True])


AGGREGATE_KEYS = ("viewers_with_media", "viewers_planned", "startup_p95_s", "viewers_lagged",
                  "max_drift_s", "latency_p95_s", "mean_kbps", "stalls", "api_error_rate")


def aggregate_html(summaries: Sequence[Mapping[str, Any]]) -> str:
    """One row per run, from its summary.json record (name, metrics, verdict): the
    report summary's block. A record is what pytest-xdist's workers leave behind."""
    rows = []
    for summary in summaries:
        word = str(summary["verdict"]["word"])
        s = summary["metrics"]
        rows.append((_e(summary["name"]),
                     f'<span class="sp-verdict sp-{word.lower()}">{_e(word)}</span>',
                     *(_e(figure(s.get(k), k)) for k in AGGREGATE_KEYS)))
    headers = ["run", "verdict", *(SUMMARY_LABELS.get(k, k) for k in AGGREGATE_KEYS)]
    table = _table(headers, rows, numeric=[False, False, *([True] * len(AGGREGATE_KEYS))])
    return f'<div class="sp-report"><style>{CSS}</style><h2>streamperf runs</h2>{table}</div>'


def _glance(title: str, a: Analysis, verdict: Verdict, tag: str) -> str:
    """The heading, then what a reader wants first: the verdict, its tiles, the breaches."""
    word = verdict.word
    return (f'<{tag}>{_e(title)}</{tag}><section class="sp-glance">'
            f'<p><span class="sp-verdict sp-{word.lower()}">{word}</span>'
            f'<span class="sp-reason">{_e(verdict.reason)}</span></p>'
            f"{tiles_html(a, verdict)}{_breaches(verdict)}{_faults(a)}</section>")


def _faults(a: Analysis) -> str:
    """What went wrong around the viewers (results/analysis/faults.py), beside the verdict."""
    lines = a.info.get("faults") or ()
    return ('<p class="sp-none">Faults: ' + "; ".join(_e(line) for line in lines) + "</p>"
            if lines else "")


def _breaches(verdict: Verdict) -> str:
    out = ('<ul class="sp-breaches">' + "".join(f"<li>{_e(b)}</li>" for b in verdict.breaches)
           + "</ul>") if verdict.breaches else '<p class="sp-none">No SLA breaches.</p>'
    if verdict.not_applicable:  # default checks over metrics this run has no data for
        out += ('<p class="sp-none">Not applicable (no data): '
                + "; ".join(_e(n) for n in verdict.not_applicable) + "</p>")
    return out


def _lost_hosts_html(events_df: pd.DataFrame) -> str:
    """Load generators that died mid-run: their unfinished viewers count as failed."""
    from streamperf.results.analysis.figures import run_start_t
    from streamperf.results.eventlog import schema as ev

    lost = events_df[(events_df["event"] == ev.VIEWER_ERROR)
                     & (events_df["name"] == ev.LOST_HOST)]
    if lost.empty:
        return ""
    t0 = run_start_t(events_df)
    rows = [(_e(host), _e(g["viewer"].nunique()), _e(f"{float(g['t'].min()) - t0:,.1f}"),
             _e(str(g["detail"].iloc[0])))
            for host, g in lost.groupby("host", sort=True)]
    table = _table(["host", "viewers failed", "lost at s", "why"], rows,
                   numeric=[False, True, True, False])
    return f'<h2>Lost load generators</h2><div class="sp-lost">{table}</div>'


def _load_hosts_html(events_df: pd.DataFrame) -> str:
    """The remote hosts prepared for the run: clock offset applied, cores, open files."""
    from streamperf.results.eventlog import schema as ev

    rows = events_df[events_df["event"] == ev.LOAD_HOST]
    if rows.empty:
        return ""
    out = []
    for host, g in rows.groupby("host", sort=True):
        figures = dict(zip(g["name"], g["value"], strict=False))
        out.append((_e(host), _e(str(g["detail"].iloc[0])),
                    _e(f"{figures.get('clock_offset_s', 0.0) * 1000:+.1f}"),
                    _e(f"{figures.get('rtt_s', 0.0) * 1000:.1f}"),
                    _e(f"{int(figures.get('cpus', 0)):,}"),
                    _e(f"{int(figures.get('nofile', 0)):,}")))
    return "<h2>Load hosts</h2>" + _table(
        ["host", "software", "clock offset ms", "rtt ms", "cores", "open files"], out,
        numeric=[False, False, True, True, True, True])


def _charts_html(charts: Sequence[Chart]) -> str:
    if not charts:
        return '<p class="sp-none">No chart: the log has no viewer or host data.</p>'
    return "".join(
        f'<figure id="chart-{_e(c.name)}"><img data-chart="{_e(c.name)}" alt="{_e(c.title)}"'
        f' src="{c.data_uri}"></figure>' for c in charts)


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
    return (
        f'<div class="sp-report"><style>{CSS}</style>'
        f"{_glance(title, analysis, verdict, 'h2')}{_lost_hosts_html(events_df)}"
        f"{_charts_html(_charts(analysis, events_df, limits, charts))}"
        f"{_summary_table(analysis)}</div>"
    )


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


def _breakdown_html(a: Analysis, events_df: pd.DataFrame, by: str) -> str:
    b = _breakdown(a, by)
    headers = [by, "viewers", "with media", "aborted", "startup p50 (s)", "startup p95 (s)",
               "mean kbps", "lagged", "stalls", "errors"]
    rows: dict[str, list[str]] = {
        str(r[by]): [_e(r[by])] + [_e(figure(v)) for k, v in r.items() if k != by]
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
                cells = rows.setdefault(host, [_e(host), *blank])
                cells += [_e(figure(float(per.loc[host, c]))) if host in sampled else "–"
                          for c in cols]
    if not rows:
        return '<p class="sp-none">No viewers.</p>'
    return _table(headers, rows.values(), numeric=[False] + [True] * (len(headers) - 1))


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


def _worst_html(a: Analysis) -> str:
    w = worst_viewers(a)
    if w.empty:
        return '<p class="sp-none">No viewers.</p>'
    rows = []
    for r in w.to_dict("records"):
        cells = []
        for col, _ in WORST_COLUMNS:
            text = _e(figure(r[col]))
            cells.append(f'<span class="sp-err">{text}</span>' if col == "first_error" else text)
        rows.append(cells)
    numeric = [col not in ("viewer", "host", "protocol", "first_error", "got_media")
               for col, _ in WORST_COLUMNS]
    return _table([h for _, h in WORST_COLUMNS], rows, numeric=numeric)


def _api_html(a: Analysis) -> str:
    api = a.api
    if api.empty:
        return '<p class="sp-none">No API calls in the log.</p>'
    rows = []
    for r in api.sort_values("endpoint").to_dict("records"):
        rate = r["errors"] / r["calls"] if r["calls"] else 0.0
        rows.append([f"<code>{_e(r['endpoint'])}</code>", figure(int(r["calls"])),
                     figure(int(r["errors"])), figure(int(r["timeouts"])), f"{rate:.2%}",
                     f"{r['p50_s'] * 1000:,.1f}", f"{r['p95_s'] * 1000:,.1f}"])
    return _table(["endpoint", "calls", "errors", "timeouts", "error rate", "p50 (ms)",
                   "p95 (ms)"], rows, numeric=[False] + [True] * 6)


def left_empty(value: Any) -> bool:
    """A setting nobody filled in: empty text or list, None, an unset flag (every
    RunSettings flag defaults to off). Zero is a value (0% new fans), so it stays."""
    return value is None or value is False or (
        isinstance(value, str | list | tuple | dict | set | frozenset) and not value)


def _settings_html(settings: dict[str, Any]) -> str:
    shown = {k: v for k, v in redact(settings).items() if not left_empty(v)}
    if not shown:
        return '<p class="sp-none">No settings recorded.</p>'
    rows = []
    for key, value in shown.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append([f"<code>{_e(key)}</code>", _e(text)])
    return _table(["setting", "value"], rows)


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

    made = _charts(analysis, events_df, limits, charts)
    meta = " · ".join(x for x in (
        _run_window(events_df), f"lag threshold {analysis.lag_threshold_s:g} s",
        f"streamperf {__version__}",
        "generated " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())) if x)
    body = [
        _glance(title, analysis, verdict, "h1"),
        f'<p class="sp-meta">{_e(meta)}</p>', _lost_hosts_html(events_df),
        "<h2>Charts</h2>", _charts_html(made),
        '<div class="sp-cols"><div><h2>Summary</h2>', _summary_table(analysis),
        "</div><div><h2>Settings</h2>", _settings_html(settings or {}), "</div></div>",
        "<h2>By protocol</h2>", _breakdown_html(analysis, events_df, "protocol"),
        "<h2>By host</h2>", _breakdown_html(analysis, events_df, "host"),
        _load_hosts_html(events_df),
        f"<h2>Worst {WORST_VIEWERS} viewers</h2>",
        '<p class="sp-meta">Ordered by: no media, seconds lagged, stall time, max drift,'
        " startup.</p>", _worst_html(analysis),
        "<h2>API</h2>", _api_html(analysis),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>streamperf: {_e(title)}</title><style>body{{margin:0;background:#fff}}{CSS}"
        f'</style></head><body><main class="sp-report">{"".join(body)}</main></body></html>\n'
    )


def write_report(path: Path | str, page: str) -> Path:
    """Write a page from render_report (creating the directory)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
