"""What a run watches once a second while it plays: the publisher, and progress.

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
from streamperf.results import events as ev
from streamperf.results.events import EventWriter
from streamperf.results.live import LiveStats, Progress


class RunWatch:
    def __init__(self, stream: LiveStream, writer: EventWriter, host: str, run_dir: Path,
                 live: LiveStats, progress: Callable[[Progress], None] | None = None) -> None:
        self.stream = stream
        self.writer = writer
        self.host = host
        self.run_dir = run_dir
        self.live = live
        self.progress = progress
        self.publisher_dead = False

    def check_publisher(self) -> None:
        """Logs the publisher's death once, when it is first seen; keeps its log."""
        publisher = self.stream.publisher
        if publisher is None or self.publisher_dead or publisher.alive():
            return
        self.publisher_dead = True
        self.writer.emit(ev.PUBLISHER_EXIT, value=float(publisher.returncode or 0),
                         detail=publisher.log_tail(5, one_line=True), host=self.host)
        publisher.copy_log(self.run_dir / "publisher.log")

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
