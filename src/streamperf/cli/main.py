"""`streamperf` command: platform serve, doctor, summary, report and live view of a run,
load hosts (hosts prepare) and EC2 fleets (fleet up|status|down)."""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from streamperf import __version__, cli_fleet, cli_hosts
from streamperf.option_values import positive_duration
from streamperf.results.eventlog.schema import MAX_LINE_CHARS
from streamperf.settings import RunSettings, SettingsError, add_options, parse_options

TOOLS = {
    "ffmpeg": "publisher (Debian package ffmpeg)",
    "ffprobe": "source probing (Debian package ffmpeg)",
    "nginx": "bundled media server (Debian packages nginx libnginx-mod-rtmp)",
    "rtmpdump": "benchmark comparison only (Debian package rtmpdump)",
}


def doctor() -> int:
    """Say what is missing for a local run, one line each."""
    from streamperf.media.server import MediaServerError, find_rtmp_module

    bad = 0
    for tool, why in TOOLS.items():
        path = shutil.which(tool)
        print(f"{'ok     ' if path else 'MISSING'} {tool:<9} {path or why}")
        bad += path is None and tool != "rtmpdump"
    try:
        print(f"ok      {'nginx-rtmp':<9} {find_rtmp_module()}")
    except MediaServerError as exc:
        print(f"MISSING {'nginx-rtmp':<9} {exc}")
        bad += 1
    return 1 if bad else 0


def _fail(message: str) -> int:
    print(f"streamperf: {message}", file=sys.stderr)
    return 2


#: summary.json keys the CLI reads, and the JSON type each must have
_SUMMARY_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "settings": dict, "judged_against": dict, "verdict": dict, "sla": list,
    "metrics": dict, "lost_hosts": dict, "grace_s": (int, float), "invalid": (str, type(None)),
}


def _run_summary(run_dir: Path | None) -> dict[str, Any]:
    """summary.json of a run directory, {} when there is none; ValueError (one line)
    when there is one that is not a run summary (judging the log alone would
    silently judge it against other thresholds)."""
    path = run_dir / "summary.json" if run_dir else None
    if not path or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"{path}: not a run summary ({str(exc).splitlines()[0][:120]}); "
                         "move it away to judge the event log alone") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a run summary (a JSON {type(data).__name__}, not an "
                         "object); move it away to judge the event log alone")
    for key, kind in _SUMMARY_TYPES.items():
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            raise ValueError(f"{path}: not a run summary ({key!r} is a JSON "
                             f"{type(data[key]).__name__}); move it away to judge the event "
                             "log alone")
    return data


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
class _Judged:
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


def _judge_log(run: Path, lag_threshold_s: float | None, source_kbps: float | None,
               sla: list[str]) -> _Judged | str:
    """Judge a run directory against its own record (summary.json), or a lone log
    (events.csv, seed log) against the defaults; options given re-judge on purpose.
    Returns the one-line error for bad input."""
    from dataclasses import replace

    from streamperf.results.eventlog.columnar import load_log
    from streamperf.results.eventlog.seed_log import sniff
    from streamperf.results.judging.judge import analyse_for, judge, log_basis, recorded_basis

    path = run / "events.csv" if run.is_dir() else run
    if not path.is_file():
        return f"no event log at {path}"
    try:
        kind = sniff(path)
        log = load_log(path)  # the samples as columns: a long run's log fits (eventlog.py)
        if not log.rows:
            raise ValueError(f"{path}: no rows (a header only)")
        df = log.frame  # every other row, all the report and the settings need
        summary = {} if kind == "seed" else _run_summary(path.parent)  # not a neighbour's
    except (ValueError, OSError) as exc:  # EventLogError, SeedLogError, UnicodeDecodeError
        return str(exc).splitlines()[0]
    settings = summary.get("settings") or _logged_settings(df)
    own = any(k in summary for k in ("verdict", "sla", "judged_against"))
    publisher_log = path.parent / "publisher.log"
    notes = []
    try:
        basis = recorded_basis(summary) if own else log_basis(
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
    return _Judged(path, kind, df, analysis, basis, verdict, summary, settings, notes)


def summary(run: Path, lag_threshold_s: float | None, source_kbps: float | None,
            sla: list[str]) -> int:
    """Print a run's table and verdict; exit 0 PASS, 1 FAIL, 3 INVALID/INTERRUPTED."""
    from streamperf.results.report.terminal import run_summary_lines

    j = _judge_log(run, lag_threshold_s, source_kbps, sla)
    if isinstance(j, str):
        return _fail(j)
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

    j = _judge_log(run, lag_threshold_s, source_kbps, sla)
    if isinstance(j, str):
        return _fail(j)
    name = title or j.summary.get("name") or (run.name if run.is_dir() else j.path.stem)
    out = output or (run / "report.html" if run.is_dir() else j.path.with_suffix(".html"))
    if out.exists() and out.resolve() == j.path.resolve():
        return _fail(f"{out} is the log being read: not overwritten (use -o REPORT.html)")
    try:
        write_report(out, render_report(j.analysis, j.df, str(name), j.verdict, j.settings,
                                        chart_limits(j.basis.thresholds)))
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror or exc}")
    v = j.verdict
    print(f"{out}  ({v.word}, {len(j.analysis.viewers)} viewers, {j.kind} log)")
    lines = [f"  ! {b}" for b in v.breaches] + [f"  n/a {n}" for n in v.not_applicable]
    if v.word in ("INVALID", "INTERRUPTED"):
        lines.append(f"  {v.word} RUN: {v.reason}")
    for line in lines + [f"  {note}" for note in j.notes]:
        print(line)
    return int(v.exit_code)


class _Tail:
    """New complete lines of a growing file, or of stdin (read by a thread)."""

    def __init__(self, source: str) -> None:
        self.eof = False  # stdin closed: nothing more will come
        self.more = False  # the last read stopped at its limit: more is waiting
        self._partial = ""
        self._skipping = False
        self._lines: queue.Queue[str | None] | None = None
        self._file: IO[str] | None = None
        if source == "-":
            self._lines = queue.Queue()
            threading.Thread(target=self._pump, daemon=True).start()
        else:
            self._file = open(source, encoding="utf-8", errors="replace")  # noqa: SIM115

    def _pump(self) -> None:
        assert self._lines is not None
        for line in sys.stdin:
            self._lines.put(line)
        self._lines.put(None)

    def read(self, limit: int = 1 << 22) -> str:
        """Whole lines available now (a torn last line waits for its end)."""
        if self._file is not None:
            chunk = self._file.read(limit)
            self.more = len(chunk) == limit
            text = self._partial + chunk
        else:
            assert self._lines is not None
            chunks = [self._partial]
            while sum(map(len, chunks)) < limit:
                try:
                    line = self._lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    self.eof = True
                    break
                chunks.append(line)
            text = "".join(chunks)
            self.more = not self.eof and len(text) >= limit
        if self._skipping:  # the rest of an overlong line: dropped up to its end
            end = text.find("\n")
            self._skipping = end < 0
            text = "" if end < 0 else text[end + 1:]
        cut = text.rfind("\n") + 1
        self._partial = text[cut:]
        if len(self._partial) > MAX_LINE_CHARS:  # no event log line is this long
            self._partial, self._skipping = "", True
        if self.eof and self._partial:
            cut, self._partial = len(text), ""
        return text[:cut]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


#: Without --follow, an old log (its rows over 30 s behind the clock) that has not
#: grown for this long is taken as finished: an old run, a crashed one.
STALE_S = 5.0
#: ... and a log of a run going on now, after this long without a row (a run writes
#: host rows every 2 s; set-up, e.g. preparing load hosts, may be quiet longer).
QUIET_S = 120.0


def _live_log(source: str) -> str:
    """The events.csv `live` reads (a run directory's), or why it cannot."""
    from streamperf.results.eventlog.seed_log import sniff

    path = Path(source)
    path = path / "events.csv" if path.is_dir() else path
    if not path.is_file():
        raise ValueError(f"no event log at {path}")
    if path.stat().st_size:
        try:
            kind = sniff(path)
        except ValueError as exc:  # garbage, a line over csv's limit
            raise ValueError(str(exc).splitlines()[0]) from None
        if kind != "streamperf":
            raise ValueError(f"{path}: a seed tool log; live follows streamperf event logs "
                             "(use streamperf summary or report)")
    return str(path)


def live(source: str, follow: bool, lag_threshold_s: float, interval_s: float) -> int:
    """Follow an events.csv (or stdin) and redraw the seed-style view once a second.

    Without --follow it ends at the run_end row, at the end of stdin, or when the
    file has not grown for STALE_S (an old log) or QUIET_S (a run of now that
    stopped writing): never an endless silent wait."""
    from streamperf.results.eventlog.rows import iter_rows
    from streamperf.results.report.live import LiveStats, render_view

    if source != "-":
        try:
            source = _live_log(source)
        except (ValueError, OSError) as exc:
            return _fail(str(exc))
    tty = sys.stdout.isatty()
    stats = LiveStats(target=0, lag_threshold_s=lag_threshold_s)
    tail = _Tail(source)
    label = "stdin" if source == "-" else source
    drawn = 0.0
    frame = ""
    seen = 0

    def draw() -> str:
        # A log written now is read on the wall clock; an old one on its own clock.
        now = time.time()
        if abs(now - stats.last_t) > 30:
            now = stats.last_t
        return render_view(stats.snapshot(now), stats, label, color=tty)

    def stale() -> bool:
        if follow or source == "-":
            return False
        now = time.time()
        try:
            quiet = now - os.path.getmtime(source)
        except OSError:  # deleted under us: nothing more will come
            return True
        return quiet > (STALE_S if abs(now - stats.last_t) > 30 else QUIET_S)

    try:
        if tty:
            sys.stdout.write("\x1b[?25l")  # hide the cursor while redrawing
        while True:
            text = tail.read()
            rows = _rows(text, iter_rows) if text else []
            if rows:
                if not stats.run_name:  # until a run_start row says when the run began
                    stats.started = min(stats.started, rows[0].t)
                stats.consume(rows)
                seen += len(rows)
            caught_up = not tail.more
            finished = ((stats.end_reason is not None and not follow) or tail.eof
                        or (caught_up and stale()))
            if finished or (caught_up and time.monotonic() - drawn >= interval_s):
                frame = draw()
                drawn = time.monotonic()
                if tty:
                    sys.stdout.write("\x1b[H\x1b[2J" + frame + "\n")
                    sys.stdout.flush()
            if finished:
                break
            if caught_up:
                time.sleep(min(0.2, interval_s))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a --follow view ends
    finally:
        tail.close()
        if tty:
            sys.stdout.write("\x1b[?25h")
            sys.stdout.flush()
    if not seen and not follow:
        return _fail(f"{label}: no event log rows")
    if not tty:
        print(frame or draw())
    return 0


def _rows(text: str, iter_rows: Any) -> list[Any]:
    """Parsed rows; a line that does not parse (torn, foreign) is skipped."""
    try:
        return list(iter_rows(text))
    except (ValueError, TypeError):
        rows = []
        for line in text.splitlines():
            try:
                rows.extend(iter_rows(line))
            except (ValueError, TypeError):
                continue
        return rows


JUDGE_OPTIONS = ("lag_threshold_s", "sla", "source_kbps")


def _judge_options(parser: argparse.ArgumentParser) -> None:
    """`summary` and `report` judge alike: the run's own record unless told otherwise.
    --lag-threshold and --sla are the run's options (a value given re-judges the run)."""
    add_options(parser.add_argument, ("lag_threshold_s", "sla"))
    parser.add_argument("--source-kbps", default=None,
                        help="the source bitrate, for logs without it (seed logs)")


def _parsed(args: argparse.Namespace, fields: tuple[str, ...]) -> dict[str, Any]:
    """The run options' own parsing (no environment: these re-judge only when given)."""
    return parse_options({f: getattr(args, f) for f in fields}, environ={}, fields=fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamperf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"streamperf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    plat = sub.add_parser("platform", help="the bundled reference platform")
    plat_sub = plat.add_subparsers(dest="action", required=True)
    plat_sub.add_parser("serve", help="run it in the foreground", add_help=False)
    sub.add_parser("doctor", help="check the tools a local run needs")
    summ = sub.add_parser("summary", help="print the summary table of a run")
    summ.add_argument("run", type=Path, help="run directory, events.csv or a seed tool CSV")
    _judge_options(summ)
    rep = sub.add_parser("report", help="write the HTML report of a run or an old log")
    rep.add_argument("run", type=Path, help="run directory, events.csv or a seed tool CSV")
    rep.add_argument("-o", "--output", type=Path, default=None,
                     help="HTML file to write (default: report.html in the run directory)")
    _judge_options(rep)
    rep.add_argument("--title", default=None)
    liv = sub.add_parser("live", help="follow a run's event log in the terminal")
    liv.add_argument("log", nargs="?", default=os.path.join("reports", "latest"),
                     help="events.csv, a run directory, or - for stdin (default reports/latest)")
    liv.add_argument("--follow", action="store_true",
                     help="keep following after the run_end row (Ctrl-C to stop)")
    add_options(liv.add_argument, ("lag_threshold_s",))
    liv.add_argument("--interval", default="1s", help="time between redraws (default 1s)")

    cli_hosts.add_parser(sub)
    cli_fleet.add_parser(sub)

    args, rest = parser.parse_known_args(argv)
    if args.command == "platform":
        from streamperf.platform.reference import serve

        return serve(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "doctor":
        return doctor()
    if args.command == "hosts":
        return cli_hosts.run(args)
    if args.command == "fleet":
        return cli_fleet.run(args)
    try:
        opts = _parsed(args, ("lag_threshold_s",) if args.command == "live" else JUDGE_OPTIONS)
    except SettingsError as exc:
        return _fail(str(exc))
    lag, sla = opts.get("lag_threshold_s"), list(opts.get("sla", ()))
    kbps = opts.get("source_kbps")
    if args.command == "report":
        return report(args.run, args.output, lag, kbps, args.title, sla)
    if args.command == "live":
        try:
            interval = positive_duration(args.interval)
        except ValueError as exc:
            return _fail(f"--interval {args.interval[:40]}: {exc}")
        return live(args.log, args.follow, lag or RunSettings().lag_threshold_s, interval)
    return summary(args.run, lag, kbps, sla)


if __name__ == "__main__":
    sys.exit(main())
