"""The event log's writer: rows appended to events.csv, flushed at least once a second,
so a crash loses at most the last second of rows.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from streamperf.redact import redact
from streamperf.results.eventlog.schema import COLUMNS, DETAIL_CHARS, Event, this_host

NAME_CHARS = 1000  # a name is an endpoint, a URL, a word: longer is a platform's garbage


#: what is redacted of a longer detail, in row limits: masks shorten the text, so a
#: little more than the row keeps is redacted, not a platform's whole answer
REDACT_SPAN = 4
_WORD_ENDS = " ,;&\"'\n\t"


def _clean(text: str, limit: int = DETAIL_CHARS) -> str:
    # One line per row keeps the CSV greppable and the loader simple; no secret in it
    # (redact.py: an echoed token, a URL's credentials, a stream key); a NUL
    # (a platform's answer may hold one) would make the log unreadable.
    if not text:
        return text
    span = limit * REDACT_SPAN
    if len(text) > span:  # cut where a word ends: no secret cut in half, left unmasked
        cut = max(text.rfind(c, 0, span) for c in _WORD_ENDS)
        text = text[: cut if cut > limit else span]
    return redact(text.replace("\r", " ").replace("\n", " ").replace("\0", " "))[:limit]


def _clean_name(name: str) -> str:
    # Names are short words, endpoints or URLs (publish_start); only URLs can hold secrets.
    return _clean(name, NAME_CHARS) if ":" in name or "=" in name else name[:NAME_CHARS]


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
        # cleaned before the lock: what another thread writes never waits on redaction
        rows = [(f"{ev.t:.3f}", ev.host, ev.viewer, ev.event, _clean_name(ev.name),
                 _fmt(ev.value), ev.status, _clean(ev.detail)) for ev in events]
        with self._lock:
            if self._file.closed:
                return
            self._csv.writerows(rows)
            self.rows += len(rows)
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

