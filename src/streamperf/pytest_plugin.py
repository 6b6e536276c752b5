"""pytest plugin: options, fixtures and terminal hooks; the work is elsewhere.

Fixtures, session-wide unless noted:
  streamperf_settings  validated RunSettings
  platform             the platform under test: a PlatformAdapter (platforms/adapter.py) made
                       from the options (--platform, --play-url, --apiurl, else the bundled
                       one); override it in a conftest.py to test through your own adapter
  stream               the stream live through `platform` (LiveStream), published unless
                       someone else publishes (--play-url without --ingest-url)
  influencer           the seed API's influencer (None for other platforms)
  viewers              (per test) runs the load: `viewers.run(users=..., ...)`
  streamperf_run       (per test) runs the test's `scenario` parameter in set-up and
                       gives its RunOutcome; an invalid run is an error, not a pass
                       or a failure, so an SLA failure always means the platform
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from streamperf.settings import (
    RunSettings,
    SettingsError,
    add_options,
    build_settings,
    raw_fields,
)

if TYPE_CHECKING:  # the run machinery (pandas, aiohttp) loads only when a test needs it
    from streamperf.hosts.remote import LoadHosts
    from streamperf.load.broadcast import LiveStream
    from streamperf.load.outcome import RunOutcome
    from streamperf.platforms.adapter import PlatformAdapter
    from streamperf.platforms.seed.client import Influencer
    from streamperf.results.report.live import Progress
    from streamperf.session import StreamperfSession

SETTINGS_KEY = pytest.StashKey[RunSettings]()
SESSION_KEY = pytest.StashKey["StreamperfSession"]()
OUTCOMES_KEY = pytest.StashKey["list[tuple[str, RunOutcome]]"]()
ITEM_OUTCOME_KEY = pytest.StashKey["RunOutcome"]()
SETUP_FAILURES_KEY = pytest.StashKey[dict[str, str]]()  # set-up failure line -> first test
SIGNALS_KEY = pytest.StashKey[dict[int, Any]]()  # the SIGTERM, SIGHUP handlers we replaced


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamperf", "streamperf live-stream load tests")
    add_options(group.addoption, dest_prefix="streamperf_")


def pytest_configure(config: pytest.Config) -> None:
    raw = {name: config.getoption(f"streamperf_{name}") for name in raw_fields()}
    try:
        settings = build_settings(raw)
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    _check_fleet_settings(config, settings)
    config.stash[SETTINGS_KEY] = settings
    config.stash[OUTCOMES_KEY] = []
    config.stash[SETUP_FAILURES_KEY] = {}
    config.addinivalue_line(
        "markers", "sla(*expressions): SLA thresholds for this test, e.g. "
        "@pytest.mark.sla('p95(startup_s) < 3'); they override --sla and pyproject.toml")
    _check_sla_sources(config, settings)
    _stop_on_sigterm(config)


def _check_fleet_settings(config: pytest.Config, settings: RunSettings) -> None:
    """With --fleet, a bad [tool.streamperf.fleet] is a usage error now, before any
    instance starts."""
    if not settings.fleet:
        return
    if config.getoption("numprocesses", None) or hasattr(config, "workerinput"):
        raise pytest.UsageError("--fleet does not go with -n: every xdist worker would "
                                "start a fleet of its own; use --procs-per-host")
    from streamperf.fleet.config import FleetError, load_fleet_config

    try:
        load_fleet_config(Path(config.rootpath) / "pyproject.toml")
    except FleetError as exc:
        raise pytest.UsageError(str(exc)) from None


def _raise_interrupt(signum: int, frame: object) -> None:
    # The run's end row and its verdict name the signal (results/analysis/faults.py).
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_on_sigterm(config: pytest.Config) -> None:
    """CI runners stop a job with SIGTERM, a closed terminal sends SIGHUP: treat both as
    Ctrl-C, so the run is cut short the same way (children stopped, event log flushed,
    partial report, exit status 2) instead of dying with nothing written."""
    if threading.current_thread() is not threading.main_thread():
        return
    replaced = config.stash.setdefault(SIGNALS_KEY, {})
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:  # else someone (an xdist worker, the
            replaced[sig] = signal.signal(sig, _raise_interrupt)  # embedder) decided


def _wants_sla_check(config: pytest.Config, settings: RunSettings) -> bool:
    if settings.sla or settings.baseline or "baseline_tolerance" in settings.explicit:
        return True
    pyproject = Path(config.rootpath) / "pyproject.toml"
    return pyproject.is_file() and "[tool.streamperf]" in pyproject.read_text(errors="replace")


def _check_sla_sources(config: pytest.Config, settings: RunSettings) -> None:
    """A typo in a threshold or tolerance is a usage error now, not a pass later."""
    if not _wants_sla_check(config, settings):
        return  # keeps pandas out of plain pytest runs
    from streamperf.results.judging.baseline import BaselineError, parse_tolerances
    from streamperf.results.judging.sla import SlaError, load_pyproject, parse_all

    try:
        parse_all([*load_pyproject(Path(config.rootpath) / "pyproject.toml"), *settings.sla])
        parse_tolerances(settings.baseline_tolerance)
    except (SlaError, BaselineError) as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    marked = [(item, m) for item in items for m in item.iter_markers("sla")]
    if not marked:
        return
    from streamperf.results.judging.sla import SlaError, parse

    for item, mark in marked:
        for text in mark.args:
            try:
                parse(str(text))
            except SlaError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
    for sig, previous in config.stash.get(SIGNALS_KEY, {}).items():
        signal.signal(sig, previous)


@pytest.fixture(scope="session")
def streamperf_session(pytestconfig: pytest.Config) -> StreamperfSession:
    from streamperf.session import StreamperfSession

    if SESSION_KEY not in pytestconfig.stash:
        pytestconfig.stash[SESSION_KEY] = StreamperfSession(
            pytestconfig.stash[SETTINGS_KEY], Path(pytestconfig.rootpath)
        )
    return pytestconfig.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def streamperf_settings(streamperf_session: StreamperfSession) -> RunSettings:
    return streamperf_session.settings


@pytest.fixture(scope="session")
def platform(streamperf_session: StreamperfSession) -> PlatformAdapter:
    """The session's adapter from the options. A conftest.py may override this fixture
    (session scope) to return its own adapter; `stream` goes live through it."""
    return _or_fail(streamperf_session, streamperf_session.platform)


@pytest.fixture(scope="session")
def load_hosts(streamperf_session: StreamperfSession) -> LoadHosts | None:
    """--sshhosts prepared (before the stream starts: it may take a while the first time)."""
    return _or_fail(streamperf_session, streamperf_session.load_hosts)


@pytest.fixture(scope="session")
def stream(streamperf_session: StreamperfSession, platform: PlatformAdapter,
           load_hosts: LoadHosts | None) -> Iterator[LiveStream]:
    yield _or_fail(streamperf_session, lambda: streamperf_session.stream(platform))
    # Ended here, before `platform` is torn down: a conftest's platform may stop its
    # servers in its own teardown.
    streamperf_session.end_stream()


@pytest.fixture(scope="session")
def influencer(stream: LiveStream) -> Influencer | None:
    from streamperf.platforms.seed.adapter import INFLUENCER

    return stream.live.extra.get(INFLUENCER)  # where the seed's adapter keeps it


def _or_fail(session: StreamperfSession, make: Any) -> Any:
    """One line naming what failed; the traceback goes to the log the line names."""
    try:
        return make()
    except Exception as exc:
        line = session.setup_failure(exc)
    # Outside the except block: pytest would print the chain that led here.
    pytest.fail(line, pytrace=False)


class ViewerRunner:
    """What a perf test gets: `run(**scenario)` drives one load run."""

    def __init__(self, request: pytest.FixtureRequest, session: StreamperfSession,
                 stream: LiveStream) -> None:
        self._request = request
        self._session = session
        self._stream = stream
        self._tw = request.config.get_terminal_writer()
        self._capman = request.config.pluginmanager.getplugin("capturemanager")
        self._last_print = 0.0

    def _show(self, p: Progress) -> None:
        from streamperf.results.report.terminal import progress_line

        line = progress_line(p)
        tty = self._tw.hasmarkup or sys.stdout.isatty()
        now = time.monotonic()
        if not tty and now - self._last_print < 10:
            return
        self._last_print = now
        with self._uncaptured():
            if tty:
                self._tw.write("\r" + line.ljust(self._tw.fullwidth - 1)[: self._tw.fullwidth - 1])
            else:
                self._tw.line(line)

    def _uncaptured(self) -> contextlib.AbstractContextManager[Any]:
        if self._capman is None:
            return contextlib.nullcontext()
        return self._capman.global_and_fixture_disabled()  # type: ignore[no-any-return]

    def run(self, **scenario: Any) -> RunOutcome:
        node = self._request.node
        # iter_markers yields the closest (function) marker first; later wins in resolve().
        marks = [str(a) for m in reversed(list(node.iter_markers("sla"))) for a in m.args]
        from streamperf.hosts.ssh import SshHostError

        try:
            outcome = self._session.run_load(node.name, scenario, self._stream,
                                             progress=self._show, sla=marks)
        except SshHostError as exc:  # e.g. this scenario needs more open files than a host has
            outcome = None
            line = self._session.setup_failure(exc)
        if outcome is None:
            pytest.fail(line, pytrace=False)
        if self._tw.hasmarkup:
            with self._uncaptured():
                self._tw.line("")
        self._request.config.stash[OUTCOMES_KEY].append((node.name, outcome))
        node.stash[ITEM_OUTCOME_KEY] = outcome
        for key, value in outcome.properties():
            node.user_properties.append((key, value))
        return outcome


@pytest.fixture
def viewers(request: pytest.FixtureRequest, streamperf_session: StreamperfSession,
            stream: LiveStream) -> Iterator[ViewerRunner]:
    yield ViewerRunner(request, streamperf_session, stream)


@pytest.fixture
def streamperf_run(request: pytest.FixtureRequest, viewers: ViewerRunner) -> RunOutcome:
    scenario = request.getfixturevalue("scenario") if "scenario" in request.fixturenames else {}
    outcome = viewers.run(**scenario)
    from streamperf.results.judging.judge import INVALID

    if outcome.verdict.word == INVALID:
        pytest.fail(f"INVALID RUN: {outcome.invalid}", pytrace=False)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _once_per_session(item, call, report)
    outcome = item.stash.get(ITEM_OUTCOME_KEY, None)
    # The run happens in set-up (streamperf_run) or in the call (viewers.run):
    # attach its report to whichever phase ended up carrying it, once.
    if outcome is not None and (call.when == "call" or report.failed):
        del item.stash[ITEM_OUTCOME_KEY]
        html = _html_extra(item.config, outcome)
        if html is not None:
            report.extras = [*getattr(report, "extras", []), html]
    return report


def _once_per_session(item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
    """A session-wide set-up failure (platform, stream, hosts) fails every test that
    needs it; its line is shown for the first, the others point back to it."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if not (call.when == "setup" and isinstance(exc, pytest.fail.Exception)):
        return
    message = str(exc.msg)
    if not message.startswith("streamperf set-up failed:"):
        return
    first = item.config.stash[SETUP_FAILURES_KEY].setdefault(message, item.nodeid)
    if first != item.nodeid:
        report.longrepr = f"streamperf set-up failed: same cause as {first} (above)"


def _html_extra(config: pytest.Config, outcome: RunOutcome) -> Any:
    if not config.pluginmanager.hasplugin("html"):
        return None
    from pytest_html import extras

    return extras.html(outcome.fragment)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    summaries = _run_summaries(session.config)
    if summaries:
        from streamperf.results.report.html import aggregate_html

        prefix.append(aggregate_html(summaries))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summaries = _run_summaries(config)
    if not summaries:
        return
    from streamperf.results.report.terminal import run_summary_lines

    terminalreporter.section("streamperf")
    for summary in summaries:
        terminalreporter.write_line(run_summary_lines(summary))


def _run_summaries(config: pytest.Config) -> list[dict[str, Any]]:
    """The session's runs as their summary.json records: this process's own, or under
    pytest-xdist (the runs happened in workers) those the reports name."""
    own = [o.summary for _, o in config.stash.get(OUTCOMES_KEY, [])]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return own or (_worker_run_summaries(reporter.stats) if reporter is not None else [])


def _worker_run_summaries(stats: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The records of every finished run named in the reports' `streamperf_run_dir`."""
    from streamperf.results.judging.record import RunRecord

    dirs: dict[str, None] = {}
    for reports in stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "streamperf_run_dir":
                    dirs[str(value)] = None
    records = (RunRecord.read_complete(Path(run_dir)) for run_dir in dirs)
    return [dict(r.data) for r in records if r is not None]
