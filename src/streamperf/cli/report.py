"""`streamperf summary` and `streamperf report`: a run's table and verdict, its HTML report.

Both judge as judged.py says; exit 0 PASS, 1 FAIL, 3 INVALID or INTERRUPTED,
2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamperf.cli.common import fail, run_options
from streamperf.cli.judged import JUDGE_OPTIONS, add_judge_options, judge_log
from streamperf.settings import SettingsError


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summ = sub.add_parser("summary", help="print the summary table of a run")
    summ.add_argument("run", type=Path, help="run directory, events.csv or a seed tool CSV")
    add_judge_options(summ)
    rep = sub.add_parser("report", help="write the HTML report of a run or an old log")
    rep.add_argument("run", type=Path, help="run directory, events.csv or a seed tool CSV")
    rep.add_argument("-o", "--output", type=Path, default=None,
                     help="HTML file to write (default: report.html in the run directory)")
    add_judge_options(rep)
    rep.add_argument("--title", default=None)


def run(args: argparse.Namespace) -> int:
    try:
        opts = run_options(args, JUDGE_OPTIONS)
    except SettingsError as exc:
        return fail(str(exc))
    lag, sla, kbps = opts.get("lag_threshold_s"), list(opts.get("sla", ())), opts.get(
        "source_kbps")
    if args.command == "report":
        return report(args.run, args.output, lag, kbps, args.title, sla)
    return summary(args.run, lag, kbps, sla)


def summary(run: Path, lag_threshold_s: float | None, source_kbps: float | None,
            sla: list[str]) -> int:
    """Print a run's table and verdict; exit 0 PASS, 1 FAIL, 3 INVALID/INTERRUPTED."""
    from streamperf.results.report.terminal import run_summary_lines

    j = judge_log(run, lag_threshold_s, source_kbps, sla)
    if isinstance(j, str):
        return fail(j)
    name = j.summary.get("name") or (run.name if run.is_dir() else j.path.stem)
    shown = {**j.summary, "name": name, "metrics": j.analysis.summary(),
             "judged_against": j.basis.to_json()}
    print(run_summary_lines(shown, j.verdict))
    for note in j.notes:
        print(f"  {note}")
    return int(j.verdict.exit_code)


def report(run: Path, output: Path | None, lag_threshold_s: float | None,
           source_kbps: float | None, title: str | None, sla: list[str]) -> int:
    """Render the HTML report of a run directory, an events.csv or a seed tool log;
    exit as `summary` does."""
    from streamperf.results.report.artifacts import chart_limits
    from streamperf.results.report.html import render_report, write_report

    j = judge_log(run, lag_threshold_s, source_kbps, sla)
    if isinstance(j, str):
        return fail(j)
    name = title or j.summary.get("name") or (run.name if run.is_dir() else j.path.stem)
    out = output or (run / "report.html" if run.is_dir() else j.path.with_suffix(".html"))
    if out.exists() and out.resolve() == j.path.resolve():
        return fail(f"{out} is the log being read: not overwritten (use -o REPORT.html)")
    try:
        write_report(out, render_report(j.analysis, j.df, str(name), j.verdict, j.settings,
                                        chart_limits(j.basis.thresholds)))
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    v = j.verdict
    print(f"{out}  ({v.word}, {len(j.analysis.viewers)} viewers, {j.kind} log)")
    lines = [f"  ! {b}" for b in v.breaches] + [f"  n/a {n}" for n in v.not_applicable]
    if v.word in ("INVALID", "INTERRUPTED"):
        lines.append(f"  {v.word} RUN: {v.reason}")
    for line in lines + [f"  {note}" for note in j.notes]:
        print(line)
    return int(v.exit_code)
