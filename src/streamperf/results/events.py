"""The event log: one CSV schema, one writer, one loader (docs/events.md).

Every row is (t, host, viewer, event, name, value, status, detail). The
writer is flushed at least once a second so a crash loses at most the last
second of rows.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

# The viewers' own row kinds: first_video, first_audio, error (LOST_HOST is one more error name).
from streamperf.viewers.base import FIRST_AUDIO as FIRST_AUDIO
from streamperf.viewers.base import FIRST_VIDEO as FIRST_VIDEO
from streamperf.viewers.base import VIEWER_ERROR as VIEWER_ERROR

COLUMNS = ("t", "host", "viewer", "event", "name", "value", "status", "detail")

# How often rows come; readers size their windows by these.
VIEWER_SAMPLE_S = 1.0  # bytes and media_ts rows, per viewer
HOST_SAMPLE_S = 2.0  # host rows (CPU, memory, network, loop lag), per process

# Row kinds. Keep docs/events.md in step with this table.
RUN_START = "run_start"  # name=run id, detail=settings json (secrets redacted)
RUN_END = "run_end"  # name=reason (done|interrupted|error)
PUBLISH_START = "publish_start"  # value=T0 (unix s) of media ts 0, name=ingest url
PUBLISHER_EXIT = "publisher_exit"  # value=exit code, detail=stderr tail
SOURCE = "source"  # name=bitrate_kbps|duration_s|gop_s, value=figure of the source clip
CALIBRATION = "calibration"  # name=origin_latency_s: one lone viewer's latency at the origin
API = "api"  # name=endpoint, value=latency s, status=HTTP status|timeout|error
FAN_ABORT = "fan_abort"  # a critical API failure ended that fan; name=step
PLAY = "play"  # viewer asks to play; name=protocol, detail=url
SAMPLE_BYTES = "bytes"  # bytes received in the window ending at t; name=window s
SAMPLE_MEDIA_TS = "media_ts"  # newest media timestamp received (s)
SAMPLE_CAPTURE_T = "capture_t"  # unix time that newest media was captured (HLS PDT), if known
LOST_HOST = "lost_host"  # VIEWER_ERROR name: the process or host running that viewer died
RECONNECT = "reconnect"  # --reconnect: viewer plays again; name=protocol, value=attempt, detail=url
PLAY_END = "play_end"  # viewer finished watching normally; value=seconds watched
HOST_SAMPLE = "host"  # name=cpu_pct|rss_mib|net_in_bytes|net_out_bytes|loop_lag_s
LOAD_HOST = "load_host"  # a prepared remote host; name=clock_offset_s|rtt_s|cpus|nofile
PROGRESS = "progress"  # name=phase marker for humans (ramp_done, ...)


class Event(NamedTuple):
    t: float
    host: str
    viewer: str
    event: str
    name: str = ""
    value: float = 0.0
    status: str = ""
    detail: str = ""


def this_host() -> str:
    return os.environ.get("STREAMPERF_HOST") or socket.gethostname()


def _clean(text: str, limit: int = 300) -> str:
    # One line per row keeps the CSV greppable and the loader simple.
    return text.replace("\r", " ").replace("\n", " ")[:limit]


class EventWriter:
    """Appends rows to events.csv; thread-safe; flushes at most 1 s late."""

    def __init__(self, path: Path, flush_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file: IO[str] = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._lock = threading.Lock()
        self._interval = flush_interval
        self._last_flush = time.monotonic()
        self._stop = threading.Event()
        self.rows = 0
        if new:
            self._csv.writerow(COLUMNS)
            self._file.flush()
        # A timer thread guarantees the 1 s bound even when no rows arrive.
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True)
        self._flusher.start()

    def write(self, ev: Event) -> None:
        self.write_many((ev,))

    def write_many(self, events: Iterable[Event]) -> None:
        with self._lock:
            if self._file.closed:
                return
            for ev in events:
                self._csv.writerow(
                    (
                        f"{ev.t:.3f}",
                        ev.host,
                        ev.viewer,
                        ev.event,
                        ev.name,
                        _fmt(ev.value),
                        ev.status,
                        _clean(ev.detail),
                    )
                )
                self.rows += 1
            now = time.monotonic()
            if now - self._last_flush >= self._interval:
                self._flush_locked(now)

    def emit(
        self,
        event: str,
        viewer: str = "",
        name: str = "",
        value: float = 0.0,
        status: str = "",
        detail: str = "",
        host: str | None = None,
        t: float | None = None,
    ) -> None:
        self.write(
            Event(
                time.time() if t is None else t,
                host or this_host(),
                viewer,
                event,
                name,
                value,
                status,
                detail,
            )
        )

    def _flush_locked(self, now: float) -> None:
        self._file.flush()
        self._last_flush = now

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._interval / 2):
            with self._lock:
                if self._file.closed:
                    return
                self._flush_locked(time.monotonic())

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.3f}"


def read_events(path: Path | str | IO[str]) -> Any:
    """Load an events.csv into a pandas DataFrame with typed columns."""
    import pandas as pd

    df = pd.read_csv(
        path,
        dtype={
            "host": "string",
            "viewer": "string",
            "event": "string",
            "name": "string",
            "status": "string",
            "detail": "string",
        },
        keep_default_na=False,
        na_values={"t": [""], "value": [""]},
    )
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a streamperf event log (missing columns {missing})")
    return df


def iter_rows(text: str) -> Iterator[Event]:
    """Parse CSV text (e.g. a tail of the log) into Events, skipping the header."""
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0] == "t":
            continue
        t, host, viewer, event, name, value, status, detail = row
        yield Event(float(t), host, viewer, event, name, float(value or 0), status, detail)
