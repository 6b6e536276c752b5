"""Synthetic event logs whose right answers are worked out by hand."""

from __future__ import annotations

import io

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.schema import COLUMNS, Event

KBPS = 1000.0
BYTES_PER_S = int(KBPS * 1000 / 8)  # 125000


class Timeline:
    def __init__(self, source_kbps: float = KBPS, t0: float | None = None) -> None:
        self.rows: list[Event] = [Event(0.0, "h", "", ev.SOURCE, "bitrate_kbps", source_kbps)]
        if t0 is not None:
            self.rows.append(Event(0.0, "h", "", ev.PUBLISH_START, "rtmp://x/live/s", t0))

    def add(self, t: float, viewer: str, event: str, name: str = "", value: float = 0.0,
            status: str = "", detail: str = "") -> None:
        self.rows.append(Event(t, "h", viewer, event, name, value, status, detail))

    def viewer(self, name: str, play_at: float, seconds: int, *, startup: float = 0.5,
               ts0: float = 15.0, stall_at: int | None = None, stall_s: int = 0,
               rate: float = 1.0, end: bool = True) -> None:
        """Plays from play_at; media arrives `rate` x real time; optional frozen stretch."""
        self.add(play_at, name, ev.API, "POST /api/v1/fans", 0.05, "200")
        self.add(play_at, name, ev.PLAY, "rtmp", 1.0)
        first = play_at + startup
        self.add(first, name, ev.FIRST_AUDIO, "", ts0)
        self.add(first, name, ev.FIRST_VIDEO, "", ts0)
        ts = ts0
        for i in range(1, seconds + 1):
            frozen = stall_at is not None and stall_at < i <= stall_at + stall_s
            if not frozen:
                ts += rate
            self.add(first + i, name, ev.SAMPLE_BYTES, "", 0 if frozen else BYTES_PER_S * rate)
            self.add(first + i, name, ev.SAMPLE_MEDIA_TS, "", ts)
        if end:
            self.add(first + seconds, name, ev.PLAY_END, "rtmp", seconds + startup)

    def track(self, name: str, play_at: float, received: list[float], *,
              startup: float = 0.5, ts0: float = 15.0) -> None:
        """Plays from play_at; received[i-1] = media seconds received by sample i (1 s apart).

        Unlike viewer() the media may catch up (a burst after a slow start).
        """
        self.add(play_at, name, ev.API, "POST /api/v1/fans", 0.05, "200")
        self.add(play_at, name, ev.PLAY, "rtmp", 1.0)
        first = play_at + startup
        self.add(first, name, ev.FIRST_AUDIO, "", ts0)
        self.add(first, name, ev.FIRST_VIDEO, "", ts0)
        prev = 0.0
        for i, got in enumerate(received, start=1):
            self.add(first + i, name, ev.SAMPLE_BYTES, "", BYTES_PER_S * (got - prev))
            self.add(first + i, name, ev.SAMPLE_MEDIA_TS, "", ts0 + got)
            prev = got
        self.add(first + len(received), name, ev.PLAY_END, "rtmp", len(received) + startup)

    def frame(self):
        buf = io.StringIO()
        buf.write(",".join(COLUMNS) + "\n")
        for r in self.rows:
            buf.write(",".join(str(x) for x in r) + "\n")
        buf.seek(0)
        return read_events(buf)
