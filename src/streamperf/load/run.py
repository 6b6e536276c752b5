"""One load run, start to end: header rows, fans played, the log closed, concluded.

Free of pytest: the plugin and any other front end call `LoadRun.execute`.
Whatever happens (breach, Ctrl-C, crash) the event log is flushed and
closed and summary.json is written from what was logged. The parts live
apart: run_dir.py (where), watch.py (the once-a-second watch),
dispatch.py (where the fans play), outcome.py (analysis, verdict, artifacts).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from streamperf import __version__
from streamperf.load.broadcast import LiveStream
from streamperf.load.dispatch import play_here, play_on_workers, worker_specs
from streamperf.load.fans import plan_fans
from streamperf.load.outcome import RunOutcome, conclude
from streamperf.load.watch import RunWatch
from streamperf.platforms.fans import FanSpec
from streamperf.results.analysis.figures import MEASURED
from streamperf.results.analysis.validity import invalid_reason
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import read_log
from streamperf.results.eventlog.schema import Event, this_host
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.judging.judge import Basis, Rule
from streamperf.results.judging.judge import rules as default_rules
from streamperf.results.report.live import LiveStats, Progress
from streamperf.settings import RunSettings

if TYPE_CHECKING:
    from streamperf.hosts.remote import LoadHosts


class LoadRun:
    def __init__(
        self,
        settings: RunSettings,
        stream: LiveStream,
        run_dir: Path,
        name: str = "run",
        rules: Sequence[Rule] | None = None,
        grace_s: float = 0.0,
        baseline: dict[str, Any] | None = None,
        progress: Callable[[Progress], None] | None = None,
        fans: list[FanSpec] | None = None,
        setup_rows: list[Event] | None = None,
        load_hosts: LoadHosts | None = None,
    ) -> None:
        self.load_hosts = load_hosts  # prepared remote hosts: viewers run there, not here
        self.lost_hosts: dict[str, str] = {}  # host -> why its shard was lost
        self.setup_rows = setup_rows or []
        self.settings = settings
        settings.remember_secrets()  # masked in every row and file of the run (redact.py)
        self.stream = stream
        self.run_dir = run_dir
        self.name = name
        self.rules = tuple(rules) if rules is not None else tuple(default_rules())
        self.grace_s = grace_s
        self.baseline = baseline
        self.progress = progress
        self.fans = fans or plan_fans(
            settings.users, settings.percent_new, settings.existing_offset, random.Random(),
            settings.protocol_shares, settings.fan_password,
        )
        self.live = LiveStats(len(self.fans), settings.lag_threshold_s)
        self.rows_written = 0

    def _header_rows(self, host: str) -> list[Event]:
        now = time.time()
        src = self.stream.source
        rows = [
            Event(now, host, "", ev.RUN_START, self.name, 0.0, __version__,
                  json.dumps(self.settings.redacted(), default=str)),
        ]
        if self.stream.ingest_url and self.stream.t0 is not None:
            rows.append(Event(now, host, "", ev.PUBLISH_START,
                              self.stream.ingest_url.split("?")[0], self.stream.t0))
        if src is not None:
            # status says where the figure came from: the published file, or the user
            given = "given" if self.settings.source_kbps else "file"
            rows.append(Event(now, host, "", ev.SOURCE, "bitrate_kbps", src.bitrate_kbps,
                              given))
            if src.duration_s:
                rows.append(Event(now, host, "", ev.SOURCE, "duration_s", src.duration_s))
        else:  # someone else publishes and nobody said at what rate: measure it
            rows.append(Event(now, host, "", ev.SOURCE, "bitrate_kbps", 0.0, MEASURED))
        if src is not None and src.gop_s:
            rows.append(Event(now, host, "", ev.SOURCE, "gop_s", src.gop_s))
        for r in src.renditions if src is not None else ():  # a ladder's, top first
            rows.append(Event(now, host, "", ev.SOURCE, f"{ev.SOURCE_RENDITION}{r.name}",
                              r.kbps, "file", r.to_json()))
        if self.stream.origin_latency_s is not None:
            rows.append(Event(now, host, "", ev.CALIBRATION, "origin_latency_s",
                              self.stream.origin_latency_s))
        if self.load_hosts is not None:
            rows += self.load_hosts.rows()
        return rows + self.setup_rows

    def _sink(self, writer: EventWriter) -> Callable[[list[Event]], None]:
        def sink(rows: list[Event]) -> None:
            writer.write_many(rows)
            self.live.consume(rows)

        return sink

    def _play(self, writer: EventWriter, host: str, watch: RunWatch) -> None:
        workers = worker_specs(self.settings, self.load_hosts, self.run_dir.name)
        with watch.ticking(sample_controller=bool(workers)):
            if not workers:
                play_here(self.settings, self.stream, self.fans, self._sink(writer), host)
            else:
                play_on_workers(self.settings, self.stream, self.fans, workers,
                                self._sink(writer), self.lost_hosts, host)

    def execute(self) -> RunOutcome:
        host = this_host()
        writer = EventWriter(self.run_dir / "events.csv")
        watch = RunWatch(self.stream, writer, host, self.run_dir, self.live, self.progress,
                         republish=self.settings.republish)
        reason, why = "done", ""
        try:
            writer.write_many(self._header_rows(host))
            self._play(writer, host, watch)
        except KeyboardInterrupt as exc:
            reason, why = "interrupted", str(exc)  # "SIGTERM" when a CI runner stopped pytest
            raise
        except BaseException:
            reason = "error"
            raise
        finally:
            watch.check_publisher(restart=False)
            writer.emit(ev.RUN_END, name=reason, detail=why, host=host)
            writer.close()
            self.rows_written = writer.rows  # summary.json: what a reader must find
            self.outcome = self._conclude(interrupted=reason != "done")
            self._collect_host_logs()
        return self.outcome

    def _collect_host_logs(self) -> None:
        """After the summary is safe on disk: the hosts' own logs into hosts/<host>/."""
        if self.load_hosts is None:
            return
        missing = self.load_hosts.collect_logs(self.run_dir.name, self.run_dir / "hosts")
        if missing:
            self.outcome.summary["host_logs_missing"] = missing
            self.outcome.save_record()

    def _conclude(self, interrupted: bool) -> RunOutcome:
        log = read_log(self.run_dir / "events.csv")
        extra = {
            "lost_hosts": self.lost_hosts,
            "load_hosts": self.load_hosts.describe() if self.load_hosts else [],
            "rows_written": self.rows_written,
        }
        return conclude(self.run_dir, self.name, self.basis(log.frame, interrupted),
                        self.settings.redacted(), extra, log)

    def basis(self, df: pd.DataFrame, interrupted: bool) -> Basis:
        """What this run is judged against, recorded in summary.json as it was used."""
        log = self.run_dir / "publisher.log"
        return Basis(
            rules=self.rules, grace_s=self.grace_s,
            lag_threshold_s=self.settings.lag_threshold_s, planned=len(self.fans),
            baseline=self.baseline, baseline_tolerance=self.settings.baseline_tolerance,
            invalid=invalid_reason(df, str(log) if log.exists() else ""),
            interrupted=interrupted,
        )
