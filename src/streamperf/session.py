"""A streamperf session: platform, live stream and load runs, made on demand.

The pytest plugin holds one of these per pytest session; nothing here
imports pytest. Everything started here is stopped in `close()`, by PID.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamperf.load.broadcast import Broadcast, LiveStream, precreate_fans
from streamperf.load.calibrate import origin_latency
from streamperf.load.eventloop import run_loop
from streamperf.load.fans import seed_precreate_count
from streamperf.load.outcome import RunOutcome
from streamperf.load.run import LoadRun
from streamperf.load.run_dir import new_run_dir
from streamperf.load.shard import api_status
from streamperf.media.publisher import default_cache_dir, synthetic_clip
from streamperf.platform.client import ApiCall, PlatformClient
from streamperf.platform.endpoint import PlatformEndpoint
from streamperf.platform.reference import ReferencePlatform
from streamperf.results import events as ev
from streamperf.results.baseline import STORE as BASELINE_STORE
from streamperf.results.baseline import load_baseline, save_baseline
from streamperf.results.events import Event, this_host
from streamperf.results.judge import Rule
from streamperf.results.judge import rules as judge_rules
from streamperf.results.live import Progress
from streamperf.results.sla import Threshold, default_grace_s, load_pyproject, parse_all, resolve
from streamperf.settings import RunSettings

if TYPE_CHECKING:
    from streamperf.hosts.remote import LoadHosts


def fans_to_precreate(settings: RunSettings) -> int:
    """--precreatefans: the seed's count, users x (100 - percentnew) %; otherwise (the
    bundled platform starts empty) every fan the run could sign in as."""
    if settings.precreate_fans:
        return seed_precreate_count(settings.users, settings.percent_new)
    return settings.users


class StreamperfSession:
    def __init__(self, settings: RunSettings, rootdir: Path | None = None) -> None:
        self.settings = settings
        self.rootdir = rootdir or Path.cwd()
        self._platform: PlatformEndpoint | None = None
        self._reference: ReferencePlatform | None = None
        self._broadcast: Broadcast | None = None
        self._live: LiveStream | None = None
        self._workdir: Path | None = None
        self._lock = threading.Lock()
        self._setup_rows: list[Event] = []  # influencer-side API calls, logged per run
        self._precreated: set[int] = set()  # testfan numbers known to exist
        self._load_hosts: LoadHosts | None = None

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="streamperf-"))
        return self._workdir

    @property
    def report_dir(self) -> Path:
        return Path(self.settings.report_dir)

    # -- platform -------------------------------------------------------------
    def platform(self) -> PlatformEndpoint:
        if self._platform is not None:
            return self._platform
        s = self.settings
        if s.uses_bundled_platform:
            ref = ReferencePlatform(self.workdir / "platform", host=s.platform_host,
                                    media_port=s.media_port,
                                    streams_token=s.streams_api_token or None,
                                    seed=s.bundled_platform == "seed",
                                    origin_port=s.origin_port)
            self._reference = ref
            ref.start()
            self._platform = PlatformEndpoint(ref.base_url, ref.base_url, ref.streams_token,
                                              ref.media)
        else:
            self._platform = PlatformEndpoint(
                s.api_url, s.streams_api_url or s.api_url, s.streams_api_token
            )
        return self._platform

    def client(self, on_call: Callable[[ApiCall], None] | None = None) -> PlatformClient:
        p = self.platform()
        return PlatformClient(p.api_url, p.streams_api_url, p.streams_token,
                              timeout=self.settings.timeout_s, on_call=on_call,
                              origin_port=self.settings.origin_port)

    def _log_setup_call(self, call: ApiCall) -> None:
        self._setup_rows.append(Event(time.time(), this_host(), "influencer", ev.API,
                                      call.endpoint, call.latency_s, api_status(call),
                                      call.detail))

    # -- stream ---------------------------------------------------------------
    def source_path(self) -> Path:
        if self.settings.video_path:
            return Path(self.settings.video_path)
        return synthetic_clip(default_cache_dir())

    def stream(self) -> LiveStream:
        with self._lock:
            if self._live is not None:
                return self._live
            platform = self.platform()
            ready = platform.media.is_publishing if platform.media else None
            s = self.settings
            client = self.client(self._log_setup_call)
            token = s.token or "streamperf-bundled"  # the bundled platform takes any token
            self._broadcast = Broadcast(client, s.email, token, self.source_path(),
                                        self.workdir / "publisher", ingest_ready=ready)
            self._live = self._broadcast.start()
            if s.precreate_fans or s.uses_bundled_platform:
                self.precreate(fans_to_precreate(s), s.existing_offset)
            live = self._live
            if s.calibration_s > 0:
                live.origin_latency_s = run_loop(origin_latency(
                    live.ingest_url, live.t0, s.calibration_s, live.source.bitrate_kbps))
            return live

    def precreate(self, count: int, offset: int) -> None:
        """Existing fans must exist; the bundled platform starts empty every time.

        Set-up, not load: these calls stay out of the event log.
        """
        assert self._live is not None
        wanted = set(range(offset, offset + count))
        if wanted <= self._precreated:
            return
        client = self.client()
        try:
            precreate_fans(client, self._live.influencer, count, offset,
                           self.settings.fan_password)
        finally:
            client.close()
        self._precreated |= wanted

    # -- load hosts -----------------------------------------------------------
    def load_hosts(self) -> LoadHosts | None:
        """--sshhosts/--hosts-file prepared once (venv, wheels, limits, clock); else None."""
        s = self.settings
        specs = s.load_hosts
        if not specs:
            return None
        with self._lock:
            if self._load_hosts is None:
                from streamperf.hosts.remote import LoadHosts

                hosts = LoadHosts(
                    specs, self.workdir / "hosts",
                    key_file=Path(s.ssh_key_file) if s.ssh_key_file else None,
                    known_hosts=Path(s.known_hosts) if s.known_hosts else None,
                    insecure=s.ssh_insecure, remote_dir=s.remote_dir,
                )  # fmt: skip
                hosts.prepare(s.users)
                self._load_hosts = hosts
            return self._load_hosts

    # -- set-up failures ------------------------------------------------------
    def setup_failure(self, exc: BaseException) -> str:
        """The one line to show for a failed set-up; the exception chain goes to
        `<report-dir>/<stamp>-setup/setup.log`, which the line names."""
        text = str(exc).strip() or type(exc).__name__
        line = text.splitlines()[0] + (" ..." if "\n" in text else "")
        try:
            log_dir = new_run_dir(self.report_dir, "setup", latest=False)
            log = log_dir / "setup.log"
            log.write_text("".join(traceback.format_exception(exc)))
        except OSError:  # a read-only report dir must not hide the cause itself
            return f"streamperf set-up failed: {line}"
        return f"streamperf set-up failed: {line} (details: {log})"

    # -- runs -----------------------------------------------------------------
    def run_load(
        self,
        name: str,
        scenario: dict[str, Any],
        stream: LiveStream,
        progress: Callable[[Progress], None] | None = None,
        sla: Sequence[str] = (),
    ) -> RunOutcome:
        """One load run; `sla` adds thresholds (a test's markers) over the session's."""
        settings = self.settings.with_scenario(scenario)
        rules = self.rules(sla)
        baseline = (load_baseline(settings.baseline, self.baseline_dir)
                    if settings.baseline else None)
        if settings.precreate_fans or settings.uses_bundled_platform:
            self.precreate(fans_to_precreate(settings), settings.existing_offset)
        hosts = self.load_hosts()
        if hosts is not None:
            hosts.check_open_files(settings.users, settings.procs_per_host)
        run_dir = new_run_dir(self.report_dir, name)
        setup, self._setup_rows = self._setup_rows, []
        run = LoadRun(settings, stream, self.client, run_dir, name=name, progress=progress,
                      setup_rows=setup, rules=rules,
                      grace_s=default_grace_s(settings.users, settings.ramp_s,
                                              settings.duration_s),
                      baseline=baseline, endpoint=self.platform(),
                      load_hosts=hosts)
        outcome = run.execute()
        if settings.save_baseline and not outcome.invalid and not outcome.interrupted:
            path = save_baseline(settings.save_baseline, outcome.analysis, self.baseline_dir)
            outcome.summary["saved_baseline"] = str(path)
        return outcome

    @property
    def baseline_dir(self) -> Path:
        return self.rootdir / BASELINE_STORE

    def sla_layers(self) -> list[list[str]]:
        """pyproject.toml's [tool.streamperf] sla, then --sla; checked, raising SlaError."""
        layers = [load_pyproject(self.rootdir / "pyproject.toml"), list(self.settings.sla)]
        parse_all(text for layer in layers for text in layer)
        return layers

    def thresholds(self, extra: Sequence[str] = ()) -> list[Threshold]:
        return resolve(*self.sla_layers(), extra)

    def rules(self, markers: Sequence[str] = ()) -> list[Rule]:
        """The thresholds in force for one test, each with its source, as the judge records them."""
        pyproject, cli = self.sla_layers()
        return judge_rules(("pyproject", pyproject), ("--sla", cli), ("marker", markers))

    def close(self) -> None:
        if self._broadcast is not None:
            self._broadcast.stop()
        if self._reference is not None:
            self._reference.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
