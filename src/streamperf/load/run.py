"""One load run: run directory, event log, shard, analysis, verdict.

Free of pytest: the plugin and any other front end call `LoadRun.execute`.
Whatever happens (breach, Ctrl-C, crash) the event log is flushed and
closed and summary.json is written from what was logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from streamperf import __version__
from streamperf.hosts.processes import WorkerSpec, local_workers, resolve_procs
from streamperf.hosts.sampler import HostSampler
from streamperf.load.broadcast import LiveStream
from streamperf.load.eventloop import run_loop
from streamperf.load.fans import FanSpec, plan_fans
from streamperf.load.journey import JourneyResult, run_journey
from streamperf.load.remote_shard import plan_message
from streamperf.load.shard import START_DELAY_S, ArrivalPlan, Shard
from streamperf.load.split import split_plan
from streamperf.load.workers import WorkerPool, lost_rows
from streamperf.platform.client import ApiCall, PlatformClient
from streamperf.results import events as ev
from streamperf.results.analysis import Analysis
from streamperf.results.artifacts import chart_limits, write_artifacts
from streamperf.results.events import Event, EventWriter, read_events, this_host
from streamperf.results.judge import (
    INTERRUPTED,
    INVALID,
    Basis,
    Rule,
    Verdict,
    analyse_for,
    check_records,
    judge,
)
from streamperf.results.judge import rules as default_rules
from streamperf.results.live import LiveStats, Progress
from streamperf.results.validity import invalid_reason
from streamperf.results.verdict import Breach
from streamperf.settings import RunSettings
from streamperf.versions import versions
from streamperf.viewers import ViewerFactory

if TYPE_CHECKING:
    from streamperf.hosts.remote import LoadHosts
    from streamperf.platform.endpoint import PlatformEndpoint

T = TypeVar("T")
ClientFactory = Callable[[Callable[[ApiCall], None]], PlatformClient]


def new_run_dir(report_dir: Path, name: str, *, latest: bool = True) -> Path:
    """reports/<stamp>-<name>/ plus (unless `latest` is false) a `latest` symlink to it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "run"
    report_dir.mkdir(parents=True, exist_ok=True)
    run_dir = report_dir / f"{stamp}-{slug}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = report_dir / f"{stamp}-{slug}-{n}"
    run_dir.mkdir()
    if not latest:
        return run_dir
    tmp = report_dir / f".latest-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, report_dir / "latest")  # atomic: readers never see a missing link
    return run_dir


@dataclass
class RunOutcome:
    run_dir: Path
    analysis: Analysis
    verdict: Verdict  # the judge's word and breaches; everything here only shows it
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
        lines.append(f"event log: {self.events_path}")
        return "\n".join(lines)


class LoadRun:
    def __init__(
        self,
        settings: RunSettings,
        stream: LiveStream,
        client_factory: ClientFactory,
        run_dir: Path,
        name: str = "run",
        rules: Sequence[Rule] | None = None,
        grace_s: float = 0.0,
        baseline: dict[str, Any] | None = None,
        progress: Callable[[Progress], None] | None = None,
        fans: list[FanSpec] | None = None,
        setup_rows: list[Event] | None = None,
        endpoint: PlatformEndpoint | None = None,
        load_hosts: LoadHosts | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.load_hosts = load_hosts  # prepared remote hosts: viewers run there, not here
        self.lost_hosts: dict[str, str] = {}  # host -> why its shard was lost
        self.setup_rows = setup_rows or []
        self.settings = settings
        self.stream = stream
        self.client_factory = client_factory
        self.run_dir = run_dir
        self.name = name
        self.rules = tuple(rules) if rules is not None else tuple(default_rules())
        self.grace_s = grace_s
        self.baseline = baseline
        self.progress = progress
        self.fans = fans or plan_fans(
            settings.users, settings.percent_new, settings.existing_offset, random.Random(),
            settings.protocol_shares,
        )
        self.live = LiveStats(len(self.fans), settings.lag_threshold_s)
        self._publisher_dead = False

    def _header_rows(self, host: str) -> list[Event]:
        now = time.time()
        src = self.stream.source
        rows = [
            Event(now, host, "", ev.RUN_START, self.name, 0.0, __version__,
                  json.dumps(self.settings.redacted(), default=str)),
            Event(now, host, "", ev.PUBLISH_START, self.stream.ingest_url.split("?")[0],
                  self.stream.t0),
            Event(now, host, "", ev.SOURCE, "bitrate_kbps", src.bitrate_kbps),
            Event(now, host, "", ev.SOURCE, "duration_s", src.duration_s),
        ]
        if src.gop_s:
            rows.append(Event(now, host, "", ev.SOURCE, "gop_s", src.gop_s))
        if self.stream.origin_latency_s is not None:
            rows.append(Event(now, host, "", ev.CALIBRATION, "origin_latency_s",
                              self.stream.origin_latency_s))
        if self.load_hosts is not None:
            rows += self.load_hosts.rows()
        return rows + self.setup_rows

    @contextlib.contextmanager
    def _ticker(self, writer: EventWriter, host: str, sample_controller: bool) -> Iterator[None]:
        """Once a second: the progress line, and a watch on the publisher.

        With viewers in other processes the controller (publisher, bundled
        platform, row writer) is sampled here too, so its overload shows.
        """
        stop = threading.Event()
        sampler = HostSampler(host, writer.write_many) if sample_controller else None

        def tick() -> None:
            n = 0
            planned = time.monotonic() + 1.0
            while not stop.wait(max(0.0, planned - time.monotonic())):
                late, planned = time.monotonic() - planned, planned + 1.0
                n += 1
                self._check_publisher(writer, host)
                if sampler is not None and n % int(ev.HOST_SAMPLE_S) == 0:
                    sampler.emit_sample(max(0.0, late))
                if self.progress:
                    self.progress(self.live.snapshot())

        thread = threading.Thread(target=tick, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=2)

    def _check_publisher(self, writer: EventWriter, host: str) -> None:
        """Logs the publisher's death once, when it is first seen."""
        publisher = self.stream.publisher
        if self._publisher_dead or publisher.alive():
            return
        self._publisher_dead = True
        writer.emit(ev.PUBLISHER_EXIT, value=float(publisher.returncode or 0),
                    detail=publisher.log_tail(5, one_line=True), host=host)
        if publisher.log_path.exists():
            shutil.copy(publisher.log_path, self.run_dir / "publisher.log")

    def _sink(self, writer: EventWriter) -> Callable[[list[Event]], None]:
        def sink(rows: list[Event]) -> None:
            writer.write_many(rows)
            self.live.consume(rows)

        return sink

    def _worker_specs(self) -> list[WorkerSpec]:
        """Where the viewers run: load hosts, else local processes; [] for this process."""
        if self.load_hosts is not None:
            return self.load_hosts.workers(self.settings.procs_per_host, self.run_dir.name)
        procs = resolve_procs(self.settings.procs)
        return local_workers(procs) if procs > 1 else []

    def _run_shard(self, writer: EventWriter, host: str, workers: list[WorkerSpec]) -> None:
        if workers:
            if self.endpoint is None:
                raise ValueError("viewers in other processes need the platform endpoint")
            self._run_workers(writer, workers, self.endpoint)
            return
        sink = self._sink(writer)

        shard: Shard | None = None

        def on_call(call: ApiCall) -> None:
            assert shard is not None
            shard.on_api_call(call)

        client = self.client_factory(on_call)
        s = self.settings
        influencer = self.stream.influencer
        kbps = self.stream.source.bitrate_kbps

        def journey(spec: FanSpec) -> JourneyResult:
            return run_journey(client, spec, influencer, s.sleep_between_steps_s)

        plan = ArrivalPlan(self.fans, s.ramp_s, s.duration_s, start_at=time.time() + START_DELAY_S)
        shard = Shard(plan, journey, ViewerFactory(kbps), sink, host)
        try:
            run_loop(shard.run())
        finally:
            client.close()

    def _run_workers(self, writer: EventWriter, specs: list[WorkerSpec],
                     endpoint: PlatformEndpoint) -> None:
        """The fans split over worker processes (execnet), rows streamed back live."""
        s = self.settings
        sink = self._sink(writer)

        def on_lost(shard_id: int, host: str, reason: str, unfinished: list[str]) -> None:
            sink(lost_rows(host, reason, unfinished))

        slices = split_plan(self.fans, s.ramp_s, len(specs))
        plans = [plan_message(sl.shard_id, "", sl.fans, sl.ramp_s, s.duration_s,
                              self.stream.source.bitrate_kbps, endpoint.api_url,
                              endpoint.streams_api_url, endpoint.streams_token, s.timeout_s,
                              self.stream.influencer, s.sleep_between_steps_s)
                 for sl in slices]
        workers = WorkerPool(specs[:len(slices)], sink, on_lost)
        try:
            workers.start()
            workers.launch(plans)
            workers.join(timeout=s.ramp_s * len(self.fans) + s.duration_s + 60)
        except KeyboardInterrupt:
            workers.stop()
            workers.join(10)
            raise
        finally:
            workers.terminate()  # a shard still running now is reported lost
            self.lost_hosts = workers.lost_hosts

    def execute(self) -> RunOutcome:
        host = this_host()
        writer = EventWriter(self.run_dir / "events.csv")
        reason = "done"
        try:
            writer.write_many(self._header_rows(host))
            workers = self._worker_specs()
            with self._ticker(writer, host, sample_controller=bool(workers)):
                self._run_shard(writer, host, workers)
        except KeyboardInterrupt:
            reason = "interrupted"
            raise
        except BaseException:
            reason = "error"
            raise
        finally:
            self._check_publisher(writer, host)
            writer.emit(ev.RUN_END, name=reason, host=host)
            writer.close()
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
            (self.run_dir / "summary.json").write_text(
                json.dumps(self.outcome.summary, indent=2, default=str))

    def _conclude(self, interrupted: bool) -> RunOutcome:
        df = read_events(self.run_dir / "events.csv")
        basis = self.basis(df, interrupted)
        analysis = analyse_for(df, basis)
        analysis.info["run_dir"] = str(self.run_dir)
        verdict = judge(analysis, basis)
        limits = chart_limits(basis.thresholds)
        fragment = write_artifacts(self.run_dir, self.name, analysis, df, verdict,
                                   self.settings.redacted(), limits)
        summary = {
            "name": self.name,
            "interrupted": interrupted,
            "invalid": basis.invalid,
            "settings": self.settings.redacted(),
            "versions": versions(),
            "hosts": host_summary(df),
            "lost_hosts": self.lost_hosts,
            "load_hosts": self.load_hosts.describe() if self.load_hosts else [],
            "metrics": analysis.summary(),
            "sla": check_records(verdict, basis),
            "grace_s": self.grace_s,
            "limits": limits,
            "baseline": self.baseline.get("name") if self.baseline else None,
            "breaches": [str(b) for b in verdict.breaches],
            # What `streamperf summary`/`report` judge this directory against again.
            "judged_against": basis.to_json(),
            "verdict": verdict.to_json(),
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        analysis.viewers.to_csv(self.run_dir / "viewers.csv", index=False)
        return RunOutcome(self.run_dir, analysis, verdict, summary, fragment)

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


def host_summary(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per load-generator host: viewers, and peak/mean of each host sample."""
    out: dict[str, dict[str, float]] = {}
    fans = df[(df["event"] == ev.PLAY)]
    for host, count in fans.groupby("host")["viewer"].nunique().items():
        out.setdefault(str(host), {})["viewers"] = int(count)
    samples = df[df["event"] == ev.HOST_SAMPLE]
    for (host, name), values in samples.groupby(["host", "name"])["value"]:
        figures = out.setdefault(str(host), {})
        figures[f"{name}_max"] = float(values.max())
        figures[f"{name}_mean"] = float(values.mean())
    return out
