"""A run's files for people: chart images, the standalone HTML report, and for a run
whose viewers played a ladder the ITU-T P.1203 mode-0 input of each of them
(`p1203/<viewer>.json`, results/analysis/p1203.py; docs/abr.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from streamperf.results.analysis import p1203
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
    """charts/*.png, report.html and p1203/*.json in run_dir; returns the pytest-html
    fragment."""
    made = charts(analysis, events_df, limits)
    chart_dir = run_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    for chart in made:
        (chart_dir / f"{chart.name}.png").write_bytes(chart.png)
    write_report(run_dir / "report.html", render_report(
        analysis, events_df, name, verdict, settings, limits, made))
    write_p1203(run_dir, analysis, events_df)
    return summary_html(analysis, events_df, verdict, limits, title=name, charts=made)


P1203_DIR = "p1203"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def p1203_file_names(viewers: Iterable[str]) -> list[str]:
    """A file name per viewer, in order: its name where that is a safe one (letters,
    digits, `._-`, not starting with a dot), else with `_` for the rest; `-2`, `-3` added
    to a name already taken."""
    taken: set[str] = set()
    out = []
    for viewer in viewers:
        base = _UNSAFE.sub("_", viewer).lstrip(".")[:100] or "viewer"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        out.append(f"{name}.json")
    return out


def write_p1203(run_dir: Path, analysis: Analysis, events_df: pd.DataFrame) -> list[Path]:
    """p1203/<viewer>.json for each viewer of a ladder; nothing for a run without one."""
    docs = p1203.inputs(analysis, events_df)
    if not docs:
        return []
    out_dir = run_dir / P1203_DIR
    out_dir.mkdir(exist_ok=True)
    written = []
    for file_name, doc in zip(p1203_file_names(docs), docs.values(), strict=True):
        path = out_dir / file_name
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written
