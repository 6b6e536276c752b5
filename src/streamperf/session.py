"""A streamperf session: platform, live stream and load runs, made on demand.

The pytest plugin holds one of these per pytest session; nothing here
imports pytest. Everything started here is stopped in `close()`, by PID.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamperf.load.broadcast import Broadcast, LiveStream
from streamperf.load.calibrate import origin_latency
from streamperf.load.eventloop import run_loop
from streamperf.load.fans import existing_fan, seed_precreate_count
from streamperf.load.outcome import RunOutcome
from streamperf.load.run import LoadRun
from streamperf.load.run_dir import new_run_dir
from streamperf.load.shard import api_row
from streamperf.media.publisher import default_cache_dir, synthetic_clip
from streamperf.platforms.adapter import PlatformAdapter
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.choose import make_platform
from streamperf.platforms.fans import FanSpec
from streamperf.redact import redact
from streamperf.results.eventlog.schema import Event, this_host
from streamperf.results.judging.baseline import STORE as BASELINE_STORE
from streamperf.results.judging.baseline import load_baseline, save_baseline
from streamperf.results.judging.judge import Rule
from streamperf.results.judging.judge import rules as judge_rules
from streamperf.results.judging.sla import default_grace_s, load_pyproject, parse_all
from streamperf.results.report.live import Progress
from streamperf.settings import RunSettings

if TYPE_CHECKING:
    from streamperf.fleet.lifecycle import Fleet, FleetControl
    from streamperf.hosts.remote import LoadHosts


def fans_to_prepare(settings: RunSettings, planned: list[FanSpec]) -> list[FanSpec]:
    """--precreatefans: the seed's count, users x (100 - percentnew) % of testfan<offset>...
    (fans beyond it sign in, are refused and sign up, as with the seed); otherwise the
    run's existing fans (the bundled platform starts empty). Adapters that keep no
    accounts ignore them."""
    if settings.precreate_fans:
        count = seed_precreate_count(settings.users, settings.percent_new)
        return [existing_fan(settings.existing_offset + i, i, settings.fan_password)
                for i in range(count)]
    return [f for f in planned if not f.new]


class StreamperfSession:
    def __init__(self, settings: RunSettings, rootdir: Path | None = None) -> None:
        self.settings = settings
        self.rootdir = rootdir or Path.cwd()
        self._platform: PlatformAdapter | None = None
        self._broadcast: Broadcast | None = None
        self._live: LiveStream | None = None
        self._workdir: Path | None = None
        self._lock = threading.Lock()
        self._setup_rows: list[Event] = []  # influencer-side API calls, logged per run
        self._load_hosts: LoadHosts | None = None
        self._fleet_control: FleetControl | None = None
        self._fleet_id = ""  # known before launch: teardown finds instances by its tag
        self._fleet: Fleet | None = None

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="streamperf-"))
        return self._workdir

    @property
    def report_dir(self) -> Path:
        return Path(self.settings.report_dir)

    # -- platform -------------------------------------------------------------
    def platform(self) -> PlatformAdapter:
        """The session's own adapter, from its settings (platforms/choose.py)."""
        with self._lock:
            if self._platform is None:
                self._platform = make_platform(self.settings, self.workdir)
            return self._platform

    def _log_setup_call(self, call: ApiCall) -> None:
        self._setup_rows.append(api_row(call, this_host(), "influencer"))

    # -- stream ---------------------------------------------------------------
    def stream(self, platform: PlatformAdapter | None = None) -> LiveStream:
        """Live once per session, through `platform` (the `platform` fixture's value;
        the session's own adapter when None)."""
        platform = platform if platform is not None else self.platform()
        with self._lock:
            if self._live is not None:
                return self._live
            s = self.settings
            self._broadcast = Broadcast(platform, self.source_path(), self.workdir / "publisher",
                                        report=self._log_setup_call, source_kbps=s.source_kbps)
            self._live = self._broadcast.start()
            live = self._live
            if s.calibration_s > 0 and live.ingest_url and live.t0 is not None:
                live.origin_latency_s = run_loop(origin_latency(
                    live.ingest_url, live.t0, s.calibration_s, live.source_kbps))
            return live

    def source_path(self) -> Path | None:
        s = self.settings
        if s.video_path:
            return Path(s.video_path)
        if s.play_urls and not s.ingest_url:
            return None  # someone else publishes: nothing to make
        return synthetic_clip(default_cache_dir())

    def precreate(self, count: int, offset: int) -> None:
        """testfan<offset>..<offset+count-1> exist and follow (seed platforms; else nothing)."""
        assert self._live is not None
        password = self.settings.fan_password
        self._live.platform.prepare_fans([existing_fan(offset + i, i, password)
                                          for i in range(count)])

    # -- load hosts -----------------------------------------------------------
    def load_hosts(self) -> LoadHosts | None:
        """--sshhosts/--hosts-file prepared once (venv, wheels, limits, clock); else None."""
        s = self.settings
        specs = s.load_hosts
        if not specs and not s.fleet:
            return None
        with self._lock:
            if self._load_hosts is None:
                from streamperf.hosts.remote import LoadHosts

                known = Path(s.known_hosts) if s.known_hosts else None
                if s.fleet:
                    fleet = self._fleet_ready()
                    s.check_platform_reach(fleet.specs)
                    known = self._known_hosts_with(known, fleet.files.known_hosts, bool(specs))
                    specs = specs + fleet.specs
                hosts = LoadHosts(
                    specs, self.workdir / "hosts",
                    key_file=Path(s.ssh_key_file) if s.ssh_key_file else None,
                    known_hosts=known, insecure=s.ssh_insecure, remote_dir=s.remote_dir,
                )  # fmt: skip
                hosts.prepare(s.users)
                self._load_hosts = hosts
            return self._load_hosts

    # -- cloud fleet ----------------------------------------------------------
    def _fleet_ready(self) -> Fleet:
        """--fleet N started (or --fleet ID found) and ready; [tool.streamperf.fleet]
        in the rootdir's pyproject.toml says how."""
        from streamperf.fleet.config import load_fleet_config
        from streamperf.fleet.lifecycle import FleetControl, new_fleet_id
        from streamperf.option_values import is_fleet_id

        ref = self.settings.fleet
        reuse = is_fleet_id(ref)
        config = load_fleet_config(self.rootdir / "pyproject.toml",
                                   {} if reuse else {"count": ref})
        self._fleet_control = FleetControl(config, self.report_dir, say=_say)
        if reuse:
            self._fleet_id = ref
            self._fleet = self._fleet_control.reuse(ref)
        else:
            self._fleet_id = new_fleet_id()
            self._fleet = self._fleet_control.up(self._fleet_id)
        return self._fleet

    @staticmethod
    def _known_hosts_with(given: Path | None, fleet_known: Path, other_hosts: bool) -> Path:
        """The fleet's verified keys, plus --known-hosts (or, for --sshhosts beside the
        fleet, the default known_hosts)."""
        if given is None and not other_hosts:
            return fleet_known
        from streamperf.hosts.ssh import default_known_hosts

        theirs = given or default_known_hosts()
        joined = fleet_known.with_name("known_hosts.all")
        text = theirs.read_text() if theirs.is_file() else ""
        joined.write_text(text.rstrip("\n") + "\n" + fleet_known.read_text())
        return joined

    def fleet_record(self) -> dict[str, Any] | None:
        """Fleet id, region, instance type and instance-hours so far, for summary.json."""
        return self._fleet.record() if self._fleet is not None else None

    def _fleet_down(self) -> None:
        """Terminate the session's fleet unless --keep-fleet; a second Ctrl-C or SIGTERM
        cannot cut this short."""
        control, fleet_id = self._fleet_control, self._fleet_id
        if control is None or not fleet_id:
            return
        self._fleet_control = None
        if self.settings.keep_fleet:
            _say(f"fleet {fleet_id}: kept (--keep-fleet); end it with "
                 f"`streamperf fleet down --fleet {fleet_id} --region {control.region}`")
            return
        with _signals_held():
            gone = control.down(fleet_id)
        _say(f"fleet {fleet_id}: terminated {len(gone)} instance(s)" if gone
             else f"fleet {fleet_id}: no instance left running")

    # -- set-up failures ------------------------------------------------------
    def setup_failure(self, exc: BaseException) -> str:
        """The one line to show for a failed set-up; the exception chain goes to
        `<report-dir>/<stamp>-setup/setup.log`, which the line names."""
        text = redact(str(exc).strip()) or type(exc).__name__
        line = text.splitlines()[0] + (" ..." if "\n" in text else "")
        try:
            log_dir = new_run_dir(self.report_dir, "setup", latest=False)
            log = log_dir / "setup.log"
            log.write_text(redact("".join(traceback.format_exception(exc))))
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
        hosts = self.load_hosts()
        if hosts is not None:
            hosts.check_open_files(settings.users, settings.procs_per_host)
        run_dir = new_run_dir(self.report_dir, name)
        setup, self._setup_rows = self._setup_rows, []
        run = LoadRun(settings, stream, run_dir, name=name, progress=progress,
                      setup_rows=setup, rules=rules,
                      grace_s=default_grace_s(settings.users, settings.ramp_s,
                                              settings.duration_s),
                      baseline=baseline, load_hosts=hosts)
        # Set-up, before the run's clock starts.
        stream.platform.prepare_fans(fans_to_prepare(settings, run.fans))
        outcome = run.execute()
        fleet = self.fleet_record()
        if fleet is not None:
            outcome.summary["fleet"] = fleet
            outcome.save_record()
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

    def rules(self, markers: Sequence[str] = ()) -> list[Rule]:
        """The thresholds in force for one test, each with its source, as the judge records them."""
        pyproject, cli = self.sla_layers()
        return judge_rules(("pyproject", pyproject), ("--sla", cli), ("marker", markers))

    def end_stream(self) -> None:
        """The stream is over: the publisher, then the platform's end (idempotent)."""
        broadcast, self._broadcast = self._broadcast, None
        self._live = None
        if broadcast is not None:
            broadcast.stop()
            if broadcast.platform is self._platform:
                self._platform = None  # ended with it

    def close(self) -> None:
        try:
            try:
                self.end_stream()
            finally:
                try:
                    own, self._platform = self._platform, None
                    if own is not None:  # never went live: e.g. the bundled platform's servers
                        own.end()
                finally:
                    self._fleet_down()
        finally:  # whatever failed: the raw publisher.log and platform files go
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)


def _say(line: str) -> None:
    """A fleet's progress, on the terminal even while pytest captures output."""
    print(f"streamperf: {line}", file=sys.__stderr__, flush=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM ignored meanwhile (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
