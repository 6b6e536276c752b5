"""A finished run, concluded from its event log: analysis, the judge's verdict,
artifacts (summary.json, viewers.csv, report.html, charts) and the RunOutcome
every front end shows.

Everything here reads the log as written, so a run cut short is concluded
the same way as a finished one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from streamperf.results.analysis.figures import Analysis
from streamperf.results.analysis.hosts import host_summary
from streamperf.results.eventlog.columnar import EventLog, read_log
from streamperf.results.judging.breach import Breach
from streamperf.results.judging.judge import (
    INTERRUPTED,
    INVALID,
    Basis,
    Verdict,
    analyse_for,
    judge,
)
from streamperf.results.judging.record import RunRecord
from streamperf.results.report.artifacts import chart_limits, write_artifacts


@dataclass
class RunOutcome:
    run_dir: Path
    analysis: Analysis
    verdict: Verdict  # the judge's word and breaches; everything here only shows it
    #: the run's record (summary.json) as written; rewrite with `save_record()`
    summary: dict[str, Any] = field(default_factory=dict)
    #: the run's summary table and charts as an HTML fragment (pytest-html extra)
    fragment: str = ""

    @property
    def events_path(self) -> Path:
        return self.run_dir / "events.csv"

    @property
    def breaches(self) -> list[Breach]:
        return list(self.verdict.breaches)

    @property
    def invalid(self) -> str | None:
        """Why the run's numbers cannot be trusted, or None."""
        return self.verdict.invalid

    @property
    def interrupted(self) -> bool:
        return self.verdict.word == INTERRUPTED

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def save_record(self) -> None:
        """summary.json again, after `summary` gained a figure (host logs, a fleet)."""
        RunRecord(self.summary).write(self.run_dir)

    def properties(self) -> list[tuple[str, object]]:
        """Every figure as (name, value), e.g. for JUnit properties CI dashboards chart."""
        props: list[tuple[str, object]] = [("streamperf_run_dir", str(self.run_dir))]
        for key, value in self.analysis.summary().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                props.append((f"streamperf_{key}", round(float(value), 6)))
        props.append(("streamperf_verdict", self.verdict.word.lower()))
        return props

    def message(self) -> str:
        """Why the run did not pass: every breach with value, limit and worst viewers."""
        v = self.verdict
        lines = [f"INVALID RUN: {v.invalid}"] if v.word == INVALID else []
        lines += [f"INTERRUPTED RUN: {v.reason}"] if v.word == INTERRUPTED else []
        lines += [f"SLA breached: {b}" for b in v.breaches]
        lines += [f"fault: {f}" for f in self.analysis.info.get("faults") or ()]
        lines.append(f"event log: {self.events_path}")
        return "\n".join(lines)


def conclude(run_dir: Path, name: str, basis: Basis, settings: Mapping[str, Any],
             extra: Mapping[str, Any], log: EventLog | pd.DataFrame | None = None
             ) -> RunOutcome:
    """Analyse and judge the run's event log and write its artifacts.

    `settings` are the redacted settings; `extra` goes into the run's record
    (summary.json) as is: lost and prepared load hosts. `log`: the log already
    read (read_log).
    """
    log = EventLog.of(read_log(run_dir / "events.csv") if log is None else log)
    df = log.frame  # every row but the per-second samples: all the report needs
    analysis = analyse_for(log, basis)
    analysis.info["run_dir"] = str(run_dir)
    verdict = judge(analysis, basis)
    limits = chart_limits(basis.thresholds)
    fragment = write_artifacts(run_dir, name, analysis, df, verdict, dict(settings), limits)
    record = RunRecord.of_run(name, analysis, basis, verdict, settings, host_summary(df),
                              limits, extra)
    record.write(run_dir)
    analysis.viewers.to_csv(run_dir / "viewers.csv", index=False)
    return RunOutcome(run_dir, analysis, verdict, dict(record.data), fragment)
