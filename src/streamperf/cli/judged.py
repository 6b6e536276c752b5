"""A run judged as `summary` and `report` both need it: against its own record
(summary.json) when it has one, else (events.csv alone, a seed log) against the
defaults; options given re-judge it on purpose, and say so."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streamperf.settings import add_options


def _logged_settings(df: Any) -> dict[str, Any]:
    rows = df[df["event"] == "run_start"]
    if rows.empty:
        return {}
    detail = str(rows["detail"].iloc[0])
    try:
        data = json.loads(detail)
        return data if isinstance(data, dict) else {}
    except ValueError:
        # The log keeps 300 characters of it: better shown cut than not at all.
        return {"settings (as logged, cut)": detail}


@dataclass
class Judged:
    """A log read, analysed and judged, as `summary` and `report` both need it."""

    path: Path
    kind: str  # "streamperf" or "seed"
    df: Any
    analysis: Any
    basis: Any
    verdict: Any
    summary: dict[str, Any]  # the run's summary.json, {} without one
    settings: dict[str, Any]
    notes: list[str]  # how this judgement differs from the run's own


def judge_log(run: Path, lag_threshold_s: float | None, source_kbps: float | None,
              sla: list[str]) -> Judged | str:
    """Judge a run directory against its own record (summary.json), or a lone log
    (events.csv, seed log) against the defaults; options given re-judge on purpose.
    Returns the one-line error for bad input."""
    from streamperf.results.eventlog.columnar import load_log
    from streamperf.results.eventlog.seed_log import sniff
    from streamperf.results.judging.judge import analyse_for, judge, log_basis
    from streamperf.results.judging.record import RunRecord

    path = run / "events.csv" if run.is_dir() else run
    if not path.is_file():
        return f"no event log at {path}"
    try:
        kind = sniff(path)
        log = load_log(path)  # the samples as columns: a long run's log fits (columnar.py)
        if not log.rows:
            raise ValueError(f"{path}: no rows (a header only)")
        df = log.frame  # every other row, all the report and the settings need
        record = None if kind == "seed" else RunRecord.read(path.parent)  # not a neighbour's
    except (ValueError, OSError) as exc:  # EventLogError, SeedLogError, UnicodeDecodeError
        return str(exc).splitlines()[0]
    summary = dict(record.data) if record is not None else {}
    settings = summary.get("settings") or _logged_settings(df)
    own = record is not None and record.judged
    publisher_log = path.parent / "publisher.log"
    notes = []
    try:
        basis = record.basis() if record is not None and own else log_basis(
            df, settings, str(publisher_log) if publisher_log.exists() else "")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # a broken record
        where = path.parent / "summary.json" if own else path
        why = str(exc).splitlines()[0] if isinstance(exc, ValueError) else (
            f"not a streamperf record ({type(exc).__name__}: {exc})")
        return f"{where}: {why}"[:300]
    try:
        if sla:
            basis = basis.with_sla(sla)
            notes.append("re-judged with " + " ".join(f"--sla {s!r}" for s in sla))
        if lag_threshold_s is not None and lag_threshold_s != basis.lag_threshold_s:
            basis = replace(basis, lag_threshold_s=lag_threshold_s)
            notes.append(f"re-judged with --lag-threshold {lag_threshold_s:g}")
        if source_kbps is not None and source_kbps != basis.source_kbps:
            basis = replace(basis, source_kbps=source_kbps)
            if own:
                notes.append(f"re-judged with --source-kbps {source_kbps:g}")
        analysis = analyse_for(log, basis)
        verdict = judge(analysis, basis)
    except ValueError as exc:  # SlaError, BaselineError, a broken record
        return str(exc).splitlines()[0]
    except (TypeError, KeyError, AttributeError) as exc:  # a record of the wrong shape
        where = path.parent / "summary.json" if own else path
        return f"{where}: not a streamperf record ({type(exc).__name__}: {exc})"[:300]
    if notes and own and isinstance(summary.get("verdict"), dict):
        notes[-1] += f" (the run's own verdict: {summary['verdict'].get('word')})"
    if run.is_dir():
        analysis.info["run_dir"] = str(run)
    return Judged(path, kind, df, analysis, basis, verdict, summary, settings, notes)


#: the run options `summary` and `report` take (a value given re-judges the run)
JUDGE_OPTIONS = ("lag_threshold_s", "sla", "source_kbps")


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """`summary` and `report` judge alike: the run's own record unless told otherwise.
    --lag-threshold and --sla are the run's options (a value given re-judges the run)."""
    add_options(parser.add_argument, ("lag_threshold_s", "sla"))
    parser.add_argument("--source-kbps", default=None,
                        help="the source bitrate, for logs without it (seed logs)")

