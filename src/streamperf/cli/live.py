"""`streamperf live`: follow a run's event log (or stdin) and redraw the seed-style
view once a second, as the old tool's curses display did."""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from streamperf.cli.common import fail, run_options
from streamperf.option_values import positive_duration
from streamperf.results.eventlog.schema import MAX_LINE_CHARS
from streamperf.settings import RunSettings, SettingsError, add_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    liv = sub.add_parser("live", help="follow a run's event log in the terminal")
    liv.add_argument("log", nargs="?", default=os.path.join("reports", "latest"),
                     help="events.csv, a run directory, or - for stdin (default reports/latest)")
    liv.add_argument("--follow", action="store_true",
                     help="keep following after the run_end row (Ctrl-C to stop)")
    add_options(liv.add_argument, ("lag_threshold_s",))
    liv.add_argument("--interval", default="1s", help="time between redraws (default 1s)")


def run(args: argparse.Namespace) -> int:
    try:
        lag = run_options(args, ("lag_threshold_s",)).get("lag_threshold_s")
    except SettingsError as exc:
        return fail(str(exc))
    try:
        interval = positive_duration(args.interval)
    except ValueError as exc:
        return fail(f"--interval {args.interval[:40]}: {exc}")
    return live(args.log, args.follow, lag or RunSettings().lag_threshold_s, interval)


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
            return fail(str(exc))
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
        return fail(f"{label}: no event log rows")
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
