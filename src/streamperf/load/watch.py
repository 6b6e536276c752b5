"""What a run watches once a second while it plays: the publisher, and progress.

A dead publisher is seen within a tick (a `publisher_exit` row, its log kept).
With --republish it is started again, with backoff, from the tick; each
failed attempt is a `publisher_exit` row with status `republish`, success a
`publish_start` row with status `republish` carrying the new publish clock.

With viewers in other processes the controller itself (publisher, bundled
platform, row writer) is sampled here too, so its overload shows as an
invalid run just as a saturated load host does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from streamperf.hosts.sampler import HostSampler
from streamperf.load.broadcast import LiveStream
from streamperf.media.publisher import PublisherError
from streamperf.results.analysis.faults import REPUBLISH
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.writer import EventWriter
from streamperf.results.report.live import LiveStats, Progress

# --republish: waits between restart attempts double from the first to the cap
REPUBLISH_FIRST_S = 1.0
REPUBLISH_MAX_S = 8.0
#: how long one restart may take to be publishing again (the server may be down)
REPUBLISH_TIMEOUT_S = 10.0


class RunWatch:
    def __init__(self, stream: LiveStream, writer: EventWriter, host: str, run_dir: Path,
                 live: LiveStats, progress: Callable[[Progress], None] | None = None,
                 republish: bool = False) -> None:
        self.stream = stream
        self.republish = republish
        self.writer = writer
        self.host = host
        self.run_dir = run_dir
        self.live = live
        self.progress = progress
        self.publisher_dead = False
        self._attempts = 0  # failed restarts since the death
        self._next_attempt = 0.0  # time.monotonic() of the next restart
        self._lock = threading.Lock()  # the tick and the run's end both check

    def check_publisher(self, restart: bool = True) -> None:
        """Logs the publisher's death once, when it is first seen, and keeps its log;
        with --republish (and `restart`) tries to start it again when it is time."""
        with self._lock:
            self._check_publisher(restart)

    def _check_publisher(self, restart: bool) -> None:
        publisher = self.stream.publisher
        if publisher is None:
            return
        if not self.publisher_dead:
            if publisher.alive():
                return
            self.publisher_dead = True
            self._attempts = 0
            self._next_attempt = time.monotonic()
            self.writer.emit(ev.PUBLISHER_EXIT, value=float(publisher.returncode or 0),
                             detail=publisher.log_tail(5, one_line=True), host=self.host)
            self._keep_log()
        if restart and self.republish and time.monotonic() >= self._next_attempt:
            self._republish()

    def _keep_log(self) -> None:
        publisher = self.stream.publisher
        if publisher is not None:
            publisher.copy_log(self.run_dir / "publisher.log")

    def _republish(self) -> None:
        publisher = self.stream.publisher
        assert publisher is not None
        try:
            t0 = publisher.restart(REPUBLISH_TIMEOUT_S, ready=self.stream.publisher_ready)
        except PublisherError as exc:
            self._attempts += 1
            wait = min(REPUBLISH_MAX_S, REPUBLISH_FIRST_S * 2 ** min(self._attempts - 1, 16))
            self._next_attempt = time.monotonic() + wait
            self.writer.emit(ev.PUBLISHER_EXIT, value=float(publisher.returncode or 0),
                             status=REPUBLISH, detail=str(exc), host=self.host)
            self._keep_log()
            return
        self.publisher_dead = False
        self.stream.t0 = t0  # its timestamps start at 0 again
        url = (self.stream.ingest_url or publisher.ingest_url).split("?")[0]
        self.writer.emit(ev.PUBLISH_START, name=url, value=t0, status=REPUBLISH,
                         detail=f"restart {publisher.restarts}", host=self.host)

    @contextlib.contextmanager
    def ticking(self, sample_controller: bool) -> Iterator[None]:
        """Once a second while the block runs: publisher check, progress, host sample."""
        stop = threading.Event()
        sampler = HostSampler(self.host, self.writer.write_many) if sample_controller else None

        def tick() -> None:
            n = 0
            planned = time.monotonic() + 1.0
            while not stop.wait(max(0.0, planned - time.monotonic())):
                late, planned = time.monotonic() - planned, planned + 1.0
                n += 1
                self.check_publisher()
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
