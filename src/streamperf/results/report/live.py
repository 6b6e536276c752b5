"""Running figures for the progress line, fed by the same rows as the log.

Rows, not viewer objects, drive it so a remote shard's rows count the same.
`render_view` draws them as the seed's terminal display did (`streamperf live`).
When viewers play a ladder, their `rendition` rows say what each holds: the share
of the playing viewers on each rendition now (`Progress.renditions`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.formatting import column


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    target: int
    playing: int
    with_media: int
    lagged: int
    mean_kbps: float
    api_calls: int
    api_errors: int
    viewer_errors: int
    done: int
    api_timeouts: int = 0
    api_per_s: float = 0.0  # over the last RATE_WINDOW_S complete seconds
    ever_media: int = 0  # viewers that got media at some point (the seed's "established")
    ever_lagged: int = 0
    hosts: tuple[HostLive, ...] = field(default_factory=tuple)
    #: (rendition, share of the playing viewers that hold one), highest bitrate first
    renditions: tuple[tuple[str, float], ...] = ()
    on_ladder: int = 0  # playing viewers that hold a rendition


def rendition_shares(p: Progress) -> str:
    """`720p 30% 480p 70%`; "" when no playing viewer holds a rendition."""
    return " ".join(f"{name} {share:.0%}" for name, share in p.renditions)


@dataclass(frozen=True)
class HostLive:
    """A load generator's latest sample and the viewers it is playing."""

    host: str
    playing: int = 0
    cpu_pct: float | None = None
    proc_cpu_pct: float | None = None
    net_in_mbps: float | None = None
    net_out_mbps: float | None = None
    loop_lag_s: float | None = None


RATE_WINDOW_S = 5
USERS = re.compile(r'"users":\s*(\d+)')


class LiveStats:
    def __init__(self, target: int, lag_threshold_s: float = 3.0) -> None:
        self.target = target
        self.lag_threshold_s = lag_threshold_s
        self.started = time.time()
        self._lock = threading.Lock()
        self._first: dict[str, tuple[float, float]] = {}  # viewer -> (t, media ts)
        self._playing: set[str] = set()
        self._lagged: set[str] = set()
        self._kbps_window: dict[int, tuple[float, int]] = {}  # second -> (bytes, samples)
        self.api_calls = self.api_errors = self.viewer_errors = self.done = 0
        # Added for the `streamperf live` view; the fields above are unchanged.
        self.api_timeouts = 0
        self._api_window: dict[int, int] = {}  # second -> API calls
        self._viewer_host: dict[str, str] = {}
        self._host: dict[str, dict[str, float]] = {}
        self._host_t: dict[tuple[str, str], float] = {}
        self.source_kbps: float | None = None
        self.run_name = ""
        self.end_reason: str | None = None  # run_end's name once seen
        self.last_t = 0.0  # newest row time: "now" when replaying an old log
        self._ever_lagged: set[str] = set()
        self._rendition: dict[str, str] = {}  # viewer -> the rendition it holds
        self._rendition_kbps: dict[str, float] = {}  # rendition -> its declared kbps

    def consume(self, rows: Iterable[Event]) -> None:
        with self._lock:
            for row in rows:
                self._one(row)

    def _one(self, row: Event) -> None:
        kind = row.event
        self.last_t = max(self.last_t, row.t)
        if kind == ev.SAMPLE_BYTES:
            sec = int(row.t)
            b, n = self._kbps_window.get(sec, (0.0, 0))
            self._kbps_window[sec] = (b + row.value, n + 1)
        elif kind == ev.SAMPLE_MEDIA_TS:
            first = self._first.get(row.viewer)
            if first is not None:
                drift = (row.t - first[0]) - (row.value - first[1])
                if drift > self.lag_threshold_s:
                    self._lagged.add(row.viewer)
                    self._ever_lagged.add(row.viewer)
                else:
                    self._lagged.discard(row.viewer)
        elif kind in (ev.FIRST_AUDIO, ev.FIRST_VIDEO):
            self._first.setdefault(row.viewer, (row.t, row.value))
        elif kind == ev.RECONNECT:  # a new connection: drift from its own first media
            self._first.pop(row.viewer, None)
        elif kind == ev.PLAY:
            self._playing.add(row.viewer)
            self._viewer_host[row.viewer] = row.host
        elif kind == ev.PLAY_END:
            self._playing.discard(row.viewer)
            self._lagged.discard(row.viewer)
            self._rendition.pop(row.viewer, None)
            self.done += 1
        elif kind == ev.RENDITION:
            self._rendition[row.viewer] = row.name
            self._rendition_kbps[row.name] = row.value
        elif kind == ev.API:
            self.api_calls += 1
            self.api_errors += row.status != "200"
            self.api_timeouts += row.status == "timeout"
            sec = int(row.t)
            self._api_window[sec] = self._api_window.get(sec, 0) + 1
        elif kind == ev.VIEWER_ERROR:
            self.viewer_errors += 1
        elif kind == ev.FAN_ABORT:
            self.done += 1
        elif kind == ev.HOST_SAMPLE:
            self._host_sample(row)
        elif kind == ev.SOURCE and row.name == "bitrate_kbps":
            self.source_kbps = row.value
        elif kind == ev.RUN_START:
            self._run_start(row)
        elif kind == ev.RUN_END:
            self.end_reason = row.name or "done"

    def _host_sample(self, row: Event) -> None:
        figures = self._host.setdefault(row.host, {})
        if row.name in ("net_in_bytes", "net_out_bytes"):
            prev = self._host_t.get((row.host, row.name))
            self._host_t[(row.host, row.name)] = row.t
            window = row.t - prev if prev is not None and row.t > prev else ev.HOST_SAMPLE_S
            figures[row.name.replace("_bytes", "_mbps")] = row.value * 8 / 1e6 / window
        else:
            figures[row.name] = row.value

    def _run_start(self, row: Event) -> None:
        self.run_name = row.name
        self.started = row.t
        # The settings JSON is cut at 300 characters in the log: look, don't parse.
        users = USERS.search(row.detail or "")
        if self.target <= 0 and users:
            self.target = int(users.group(1))

    def snapshot(self, now: float | None = None) -> Progress:
        now = time.time() if now is None else now
        with self._lock:
            # The last complete second: the current one is still filling.
            last = int(now) - 1
            for sec in [s for s in self._kbps_window if s < last - 5]:
                del self._kbps_window[sec]
            b, n = self._kbps_window.get(last, (0.0, 0))
            for sec in [s for s in self._api_window if s <= last - RATE_WINDOW_S]:
                del self._api_window[sec]
            api_recent = sum(c for s, c in self._api_window.items() if s <= last)
            shares, on_ladder = self._shares()
            return Progress(
                elapsed_s=now - self.started,
                target=self.target,
                playing=len(self._playing),
                with_media=len(self._first.keys() & self._playing),
                lagged=len(self._lagged),
                mean_kbps=b * 8 / 1000 / n if n else 0.0,
                api_calls=self.api_calls,
                api_errors=self.api_errors,
                viewer_errors=self.viewer_errors,
                done=self.done,
                api_timeouts=self.api_timeouts,
                api_per_s=api_recent / RATE_WINDOW_S,
                hosts=self._hosts(),
                ever_media=len(self._first),
                ever_lagged=len(self._ever_lagged),
                renditions=shares,
                on_ladder=on_ladder,
            )

    def _shares(self) -> tuple[tuple[tuple[str, float], ...], int]:
        counts: dict[str, int] = {}
        for viewer in self._playing:
            name = self._rendition.get(viewer)
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
        total = sum(counts.values())
        order = sorted(counts, key=lambda n: (-self._rendition_kbps.get(n, 0.0), n))
        return tuple((name, counts[name] / total) for name in order), total

    def _hosts(self) -> tuple[HostLive, ...]:
        playing: dict[str, int] = {}
        for viewer in self._playing:
            host = self._viewer_host.get(viewer, "")
            playing[host] = playing.get(host, 0) + 1
        out = []
        for host in sorted(self._host.keys() | playing.keys()):
            f = self._host.get(host, {})
            out.append(HostLive(host, playing.get(host, 0), f.get("cpu_pct"),
                                f.get("proc_cpu_pct"), f.get("net_in_mbps"),
                                f.get("net_out_mbps"), f.get("loop_lag_s")))
        return tuple(out)


BAR_WIDTH = 50
RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def render_view(p: Progress, stats: LiveStats, source: str = "", color: bool = False) -> str:
    """The live terminal view: sessions, streams lagged, kbps, API rates, hosts."""
    bold, red, reset = (BOLD, RED, RESET) if color else ("", "", "")
    rule = "#" * 24
    state = f"ended: {stats.end_reason}" if stats.end_reason else "running"
    head = (f"{bold}streamperf live{reset}  {stats.run_name or '-'}  t+{p.elapsed_s:.0f} s"
            f"  [{state}]")
    target = p.target or max(p.ever_media, p.playing + p.done)
    shown = max(p.playing, 1)
    filled = round(BAR_WIDTH * min(p.lagged / shown, 1.0))
    bar = f"{red if p.lagged else ''}{'#' * filled}{reset if p.lagged else ''}"
    bar += " " * (BAR_WIDTH - filled)
    src = f"   (source {stats.source_kbps:.0f} kbps)" if stats.source_kbps else ""
    lines = [
        head + (f"   {source}" if source else ""),
        f"{rule} Streaming",
        f"{p.ever_media}/{target} sessions established   (playing {p.playing} of which"
        f" {p.with_media} with media, done {p.done})",
        f"Streams lagged: [{bar}] {p.lagged}/{p.playing}"
        f"   (drift over {stats.lag_threshold_s:g} s; {p.ever_lagged} lagged at some point)",
        f"Average rate {p.mean_kbps:8.1f} kbps per session{src}",
        *([f"Renditions   {rendition_shares(p)}   (of {p.on_ladder} viewers on a ladder)"]
          if p.renditions else []),
        f"Viewer errors {p.viewer_errors}",
        f"{rule} API requests",
        f"{p.api_per_s:8.2f} requests/s   total {p.api_calls}   errors {p.api_errors}"
        f"   timeouts {p.api_timeouts}",
        f"{rule} Load generators",
    ]
    if not p.hosts:
        lines.append("(no host samples yet)")
    else:
        width = max(4, *(len(h.host) for h in p.hosts))
        lines.append(f"{'host':<{width}}  playing   cpu %  proc cpu %  in Mbps  out Mbps"
                     "  loop lag s")
        for h in p.hosts:
            lines.append(
                f"{h.host or '-':<{width}}  {h.playing:7d}  {column(h.cpu_pct, '6.1f')}"
                f"  {column(h.proc_cpu_pct, '10.1f')}  {column(h.net_in_mbps, '7.1f')}"
                f"  {column(h.net_out_mbps, '8.1f')}  {column(h.loop_lag_s, '10.3f')}")
    return "\n".join(lines)
