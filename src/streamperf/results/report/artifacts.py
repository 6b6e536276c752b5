"""A run's files for people: chart images and the standalone HTML report."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from streamperf.results.analysis.figures import Analysis
from streamperf.results.judging.judge import Verdict
from streamperf.results.judging.sla import OPERATORS, Threshold
from streamperf.results.report.charts import charts
from streamperf.results.report.html import render_report, summary_html, write_report


def chart_limits(thresholds: Iterable[Threshold]) -> dict[str, float]:
    """Limits worth drawing: those in the metric's own unit (not counts or rates)."""
    return {t.metric: t.limit for t in thresholds
            if t.op in OPERATORS and t.func not in ("count", "rate")}


def write_artifacts(
    run_dir: Path,
    name: str,
    analysis: Analysis,
    events_df: pd.DataFrame,
    verdict: Verdict,
    settings: dict[str, Any],
    limits: dict[str, float],
) -> str:
    """charts/*.png and report.html in run_dir; returns the pytest-html fragment."""
    made = charts(analysis, events_df, limits)
    chart_dir = run_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    for chart in made:
        (chart_dir / f"{chart.name}.png").write_bytes(chart.png)
    write_report(run_dir / "report.html", render_report(
        analysis, events_df, name, verdict, settings, limits, made))
    return summary_html(analysis, events_df, verdict, limits, title=name, charts=made)
