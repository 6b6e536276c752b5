"""Shared fixtures for integration tests: a real nginx-rtmp, a cached clip, a live stream."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamperf.media.publisher import (
    Publisher,
    default_cache_dir,
    probe_source,
    synthetic_clip,
)
from streamperf.media.server import MediaServer
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.client import PlatformClient
from tests.support.lo_shaping import LoBusy, shaping_lo, why_no_shaping
from tests.support.node_media_server import NodeMediaServer, why_no_nms
from tests.support.sshd_lab import Lab, have_sshd

STREAM = "test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "own_pytest(slots=1): starts a pytest or CLI process of its own (a core's "
        "worth of CPU at its start and its end; pytest -n 2 starts three): takes that many "
        "of the CPU_SLOTS, which tests share across xdist workers")
    config.addinivalue_line(
        "markers", "quiet(slots=1): a real-time test whose bounds are tight (a viewer's "
        "timing against the live edge): takes that many CPU slots, so at most one pytest "
        "of a test's own runs beside it (none with slots=2)")


# A run is invalid once the host's CPU is over 90% for 6 s (results/analysis/validity.py), as it
# should be. A pytest of a test's own burns a core at its start (imports, stack) and its
# end (analysis, charts): more than two at once beside the xdist workers' own runs
# saturated this 2-core machine. Such a test holds its slots for its whole run.
CPU_SLOTS = 2
SLOT_DIR = Path(tempfile.gettempdir()) / "streamperf-tests-cpu-slots"


def _slots(item: pytest.Item) -> int:
    mark = item.get_closest_marker("quiet") or item.get_closest_marker("own_pytest")
    return 0 if mark is None else min(int(mark.kwargs.get("slots", 1)), CPU_SLOTS)


@contextlib.contextmanager
def cpu_slots(count: int, poll_s: float = 0.2) -> Iterator[None]:
    """Hold `count` of the CPU_SLOTS (file locks, so across processes) while the block runs."""
    SLOT_DIR.mkdir(exist_ok=True)
    files = [(SLOT_DIR / f"{i}.lock").open("w") for i in range(CPU_SLOTS)]
    # One taker at a time, in turn: a test waiting for every slot is not overtaken by
    # others taking each slot as it frees up.
    gate = (SLOT_DIR / "gate.lock").open("w")
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        while True:
            held = []
            for f in files:
                if len(held) < count:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        held.append(f)
                    except BlockingIOError:
                        pass
            if len(held) == count:
                break
            for f in held:  # all or none: two tests never hold one each and wait for more
                fcntl.flock(f, fcntl.LOCK_UN)
            time.sleep(poll_s)
        gate.close()
        yield
    finally:
        gate.close()
        for f in files:
            f.close()


@pytest.fixture(autouse=True)
def _own_pytest_takes_cpu_slots(request: pytest.FixtureRequest) -> Iterator[None]:
    count = _slots(request.node)
    if not count:
        yield
        return
    with cpu_slots(count):
        yield


# Modules by the real time their runs take (longest first, from `make test`'s
# --durations): started first, so that no worker is left with a long run at the end.
LONG_FIRST = ("test_measurement_truth", "test_live_stream", "test_adapter", "test_direct_urls",
              "test_load_run", "test_ci_gate", "test_faults", "test_direct_nms",
              "test_seed_backend", "test_hls_viewer")


def _start_order(item: pytest.Item) -> int:
    module = item.path.stem
    return LONG_FIRST.index(module) if module in LONG_FIRST else len(LONG_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules of long real-time runs first, then the rest (in collection order
    within each); tests with a pytest of their own (those taking the most CPU slots
    first) alternate with the others, so that
    few wait for a CPU slot. pytest-xdist's work stealing (`--dist worksteal`) gives
    each worker a share of this order and moves the rest to whichever runs dry."""
    items.sort(key=_start_order)
    # The test that needs every slot first: later, it would wait for all of them to be
    # free at once while the other workers keep taking them.
    own = sorted((item for item in items if _slots(item)), key=lambda item: -_slots(item))
    rest = [item for item in items if not _slots(item)]
    items[:] = [item for pair in itertools.zip_longest(rest, own) for item in pair if item]


@pytest.fixture(scope="session")
def clip() -> Path:
    """The 30 s synthetic FLV clip (~1.05 Mbps, 2 s GOP), made once per cache dir."""
    return synthetic_clip(default_cache_dir())


@pytest.fixture(scope="session")
def source_kbps(clip: Path) -> float:
    """`clip`'s bitrate as ffprobe reads it: what a viewer of it should get."""
    return probe_source(clip).bitrate_kbps


@pytest.fixture(scope="session")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """One nginx-rtmp for the session on free loopback ports."""
    server = MediaServer(tmp_path_factory.mktemp("media"))
    with server:
        yield server


@pytest.fixture(scope="session")
def published_stream(
    media_server: MediaServer, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MediaServer, Publisher]]:
    """`clip` looped into `media_server` as stream "test"; publisher.t0 is its publish clock."""
    pub = Publisher(clip, media_server.ingest_url(STREAM), tmp_path_factory.mktemp("publisher"))
    pub.start(ready=lambda: media_server.is_publishing(STREAM))
    try:
        yield media_server, pub
    finally:
        pub.stop()


@pytest.fixture(scope="session")
def node_media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeMediaServer]:
    """One node-media-server (npm, pinned) for the session; `.urls(key)` gives where to
    publish and play. Skips when node or the package is missing (scripts/setup.sh installs)."""
    why = why_no_nms()
    if why:
        # scripts/setup.sh installs it, so CI (which runs it) must not skip silently.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    with NodeMediaServer.running(tmp_path_factory.mktemp("nms")) as nms:
        yield nms


@pytest.fixture(scope="session")
def nms_stream(
    node_media_server: NodeMediaServer, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[NodeMediaServer, Publisher]]:
    """`clip` looped into node-media-server as stream STREAM; publisher.t0 is its publish clock."""
    nms = node_media_server
    pub = Publisher(clip, nms.urls(STREAM).ingest, tmp_path_factory.mktemp("nms-publisher"))
    pub.start(ready=lambda: nms.is_publishing(STREAM))
    try:
        yield nms, pub
    finally:
        pub.stop()


@pytest.fixture
def calls() -> list[ApiCall]:
    """The API calls `client` made, in order."""
    return []


@pytest.fixture
def client(platform: ReferencePlatform, calls: list[ApiCall]) -> Iterator[PlatformClient]:
    """A PlatformClient of the module's own `platform` fixture (a ReferencePlatform, each
    module its own settings), noting its calls in `calls`."""
    with PlatformClient(platform.base_url, streams_token=platform.streams_token,
                        timeout=5.0, on_call=calls.append) as c:
        yield c


@pytest.fixture
def capped_port() -> Iterator:
    """Call with (port, kbit) to cap traffic from that port; removed at teardown. Tests
    that cap lo take turns (lo has one root qdisc)."""
    why = why_no_shaping()
    if why:
        pytest.skip(why)
    with contextlib.ExitStack() as stack:
        try:
            shaper = stack.enter_context(shaping_lo())
        except LoBusy as e:
            pytest.skip(str(e))
        yield shaper.cap


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two real sshd on 127.0.0.2 and 127.0.0.3 (root only: they run as this user)."""
    if not have_sshd():
        pytest.skip("needs root and openssh-server")
    with Lab.running(tmp_path_factory.mktemp("sshlab")) as lab:
        yield lab
