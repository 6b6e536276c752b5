"""The seed tool's CSV log, read into streamperf's event schema (docs/events.md).

The seed (Go, rtmpdump viewers) printed rows `session,seconds,metric,value`
without a header. What its code wrote, and so what the rows mean:

  fan rows (session = fan user name; seconds since *that fan* started):
    StartTestOnMachine       seconds 0, value = machine id (hostname)
    ApiRequest               after every API call returns, value = machine id
    ApiRequestTimeout/ApiError  right after the failed call's ApiRequest
                             (or alone, for edge resolution), value = warning|critical
    StreamProgressKiloBytes  rtmpdump's progress: KiB received so far (cumulative)
    StreamProgressSeconds    rtmpdump's progress: newest media timestamp (s)
  host rows (session = machine id; seconds since that machine's fans started):
    KiloBytesSent/Recv       the host's network counters, KiB since boot (cumulative)
    CPUUsage                 host CPU %, all cores, since the previous sample

Time base: rows carry no wall-clock time, so `t` is seconds since the fans
started on the machines (all machines taken to start together; the seed
started them in one loop) plus `base_t` (default 0). A fan's own seconds are
placed on that clock by its start: the newest machine time seen in the log
before its StartTestOnMachine row (rows are written in the order they
happen; the error is at most the gap between two rows, about 0.2 s).

Mapping (details in docs/events.md, "Seed tool logs"):
  progress rows -> first_audio/first_video at the first progress report, then
                   `bytes` and `media_ts` rows on a 1 s grid from there
  ApiRequest    -> `api` row, endpoint "seed call #n" (the seed did not log which),
                   latency = time since the fan's previous row, status 200 or
                   timeout/error when the next row of that fan says so
  critical error -> `fan_abort`; the last API row before media -> `play`
  host rows      -> `host` rows cpu_pct, net_in_bytes, net_out_bytes (deltas)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.rows import read_events
from streamperf.results.eventlog.schema import COLUMNS, Event

START = "StartTestOnMachine"
API_REQUEST = "ApiRequest"
API_TIMEOUT = "ApiRequestTimeout"
API_ERROR = "ApiError"
KBYTES = "StreamProgressKiloBytes"
SECONDS = "StreamProgressSeconds"
SENT, RECV, CPU = "KiloBytesSent", "KiloBytesRecv", "CPUUsage"
HOST_METRICS = frozenset({SENT, RECV, CPU})
SEED_METRICS = frozenset({START, API_REQUEST, API_TIMEOUT, API_ERROR, KBYTES, SECONDS}
                         | HOST_METRICS)
SEED_HEADER = ("session", "seconds", "metric", "value")
# Progress reports closer than this are taken as continuous data (interpolated);
# a longer gap means nothing arrived (rtmpdump reports only after a read).
MAX_GAP_S = 1.0
# An error row with no ApiRequest of its own just before it (not written by the
# seed's code as read; kept so such a row is still counted).
ORPHAN_ENDPOINT = "seed error without request"
#: The largest `seconds` a row may have: a day. The seed's runs were minutes long;
#: a larger figure is a damaged log, and would be turned into one sample a second.
MAX_SECONDS = 86400.0
#: Seconds of 1 s samples the log may ask for, per row it holds (and at least
#: MAX_SECONDS): rtmpdump reports several times a second, so an honest log needs
#: about one; a few rows far apart must not become millions of samples.
SAMPLES_PER_ROW = 100
#: The largest figure a row may carry (KiB counters, media seconds, CPU %): far
#: beyond any real one, and small enough that differences of two stay finite.
MAX_FIGURE = 1e15


class SeedLogError(ValueError):
    """A seed log row that cannot be read; one line naming the line."""


@dataclass
class _Fan:
    name: str
    host: str = ""
    offset: float = 0.0  # machine time of the fan's start
    calls: int = 0
    last_t: float = 0.0  # machine time of the fan's previous row
    open_api: int | None = None  # index in rows of an api row an error may still mark
    aborted: bool = False
    kb: list[tuple[float, float]] = field(default_factory=list)
    secs: list[tuple[float, float]] = field(default_factory=list)
    last_api_t: float | None = None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, what: str, line: int, lo: float = -math.inf,
            hi: float = math.inf) -> float:
    """A finite number within [lo, hi], or SeedLogError naming the line."""
    try:
        value = float(text)
    except ValueError:
        raise SeedLogError(f"line {line}: {what} {text[:40]!r} is not a number") from None
    if not lo <= value <= hi:  # NaN fails too
        bound = f"from {lo:g} to {hi:g}" if math.isfinite(hi) else "finite"
        raise SeedLogError(f"line {line}: {what} {text[:40]!r} is out of range "
                           f"(must be {bound})")
    return value


def is_seed_row(fields: list[str]) -> bool:
    if [f.strip() for f in fields] == list(SEED_HEADER):
        return True
    return len(fields) == 4 and fields[2] in SEED_METRICS and _is_float(fields[1])


def seed_events(rows: Iterable[list[str]], base_t: float = 0.0, run_name: str = "seed"
                ) -> list[Event]:
    """Seed rows (in log order) as streamperf Events."""
    out: list[Event] = [Event(0.0, "", "", ev.RUN_START, run_name, 0.0, "seed",
                              json.dumps({"format": "seed tool log"}))]
    clock: dict[str, float] = {}  # machine -> newest machine time seen
    fans: dict[str, _Fan] = {}
    names: set[str] = set()
    rows = list(rows)
    budget = [max(MAX_SECONDS, SAMPLES_PER_ROW * len(rows))]

    def media(fan: _Fan) -> list[Event]:
        budget[0] -= _samples(fan)
        if budget[0] < 0:
            raise SeedLogError(f"its {len(rows)} rows ask for more than "
                               f"{max(MAX_SECONDS, SAMPLES_PER_ROW * len(rows)):.0f} s of "
                               "1 s samples: gaps no seed run had (a damaged log)")
        return _fan_media(fan)

    host_prev: dict[tuple[str, str], float] = {}
    for line, fields in enumerate(rows, 1):
        if len(fields) != 4 or not _is_float(fields[1]):
            continue  # the header, a blank or torn line
        session, metric, value = fields[0], fields[2], fields[3]
        seconds = _number(fields[1], "seconds", line, 0.0, MAX_SECONDS)
        if metric in HOST_METRICS:
            clock[session] = max(clock.get(session, 0.0), seconds)
            out += _host_rows(session, seconds, metric,
                              _number(value, metric, line, 0.0, MAX_FIGURE), host_prev)
            continue
        if metric in (KBYTES, SECONDS) and _is_float(value):
            _number(value, metric, line, 0.0, MAX_FIGURE)  # a number, so a sane one
        fan = fans.get(session)
        if metric == START or fan is None:
            host = value if metric in (START, API_REQUEST) else ""
            now = clock.get(host, max(clock.values(), default=0.0))
            # A fan with no start row (log cut at the head) started `seconds` before now.
            offset = now if metric == START else max(0.0, now - seconds)
            name = session
            if fan is not None:  # the name started again: a second viewer
                out += media(fan)
                name = f"{session}~{sum(f.split('~')[0] == session for f in names) + 1}"
            names.add(name)
            fan = fans[session] = _Fan(name, host, offset, last_t=offset)
            out.append(Event(offset, host, name, ev.PROGRESS, "fan_start"))
            if metric == START:
                continue
        t = fan.offset + seconds
        if fan.host:
            clock[fan.host] = max(clock.get(fan.host, 0.0), t)
        _fan_row(fan, t, metric, value, out)
        fan.last_t = max(fan.last_t, t)
    for fan in fans.values():
        out += media(fan)
    # Times so far are machine seconds; base_t puts them on a chosen clock.
    return sorted((e._replace(t=e.t + base_t) for e in out), key=lambda e: e.t)


def _samples(fan: _Fan) -> float:
    """Seconds of 1 s samples _fan_media will write for a fan."""
    times = [p[0] for p in fan.kb + fan.secs]
    return max(times) - min(times) + 1 if times else 0.0


def _host_rows(host: str, t: float, metric: str, v: float,
               prev: dict[tuple[str, str], float]) -> list[Event]:
    if metric == CPU:
        return [Event(t, host, "", ev.HOST_SAMPLE, "cpu_pct", v)]
    # Counters since boot in KiB: streamperf logs bytes since the previous sample.
    name = "net_out_bytes" if metric == SENT else "net_in_bytes"
    last = prev.get((host, name))
    prev[(host, name)] = v
    if last is None or v < last:
        return []
    return [Event(t, host, "", ev.HOST_SAMPLE, name, (v - last) * 1024)]


def _fan_row(fan: _Fan, t: float, metric: str, value: str, out: list[Event]) -> None:
    if metric == API_REQUEST:
        fan.calls += 1
        fan.open_api = len(out)
        out.append(Event(t, fan.host, fan.name, ev.API, f"seed call #{fan.calls}",
                         t - fan.last_t, "200"))
        fan.last_api_t = t
    elif metric in (API_ERROR, API_TIMEOUT):
        status = "timeout" if metric == API_TIMEOUT else "error"
        detail = f"{metric} ({value})"
        if fan.open_api is not None:
            # The failed call's own ApiRequest row: one call, not a success and a failure.
            row = out[fan.open_api]
            out[fan.open_api] = row._replace(status=status, detail=detail)
        else:
            out.append(Event(t, fan.host, fan.name, ev.API, ORPHAN_ENDPOINT,
                             t - fan.last_t, status, detail))
            fan.last_api_t = t
        if value == "critical" and not fan.aborted:
            fan.aborted = True
            out.append(Event(t, fan.host, fan.name, ev.FAN_ABORT,
                             f"seed call #{fan.calls}", 0.0, "", detail))
    elif metric == KBYTES and _is_float(value):
        fan.kb.append((t, float(value)))
    elif metric == SECONDS and _is_float(value):
        fan.secs.append((t, float(value)))
    if metric != API_REQUEST:
        fan.open_api = None


def _on_grid(points: list[tuple[float, float]], grid: Any) -> Any:
    """A cumulative series read at grid times: interpolated across short gaps, held
    across long ones (no report = nothing arrived)."""
    import numpy as np

    t = np.array([p[0] for p in points])
    v = np.array([p[1] for p in points])
    i = np.clip(np.searchsorted(t, grid + 1e-9, side="right") - 1, 0, len(t) - 1)
    j = np.minimum(i + 1, len(t) - 1)
    span = t[j] - t[i]
    smooth = (j > i) & (span <= MAX_GAP_S) & (grid > t[i])
    frac = np.where(smooth, (grid - t[i]) / np.where(span > 0, span, 1.0), 0.0)
    return v[i] + (v[j] - v[i]) * frac


def _fan_media(fan: _Fan) -> list[Event]:
    import numpy as np

    kb = sorted(fan.kb)
    secs = sorted(fan.secs)
    host, name = fan.host, fan.name
    if not kb and not secs:
        if fan.last_api_t is not None and not fan.aborted:
            # Journey done, no media: it asked to play and got nothing.
            return [Event(fan.last_api_t, host, name, ev.PLAY, "rtmp",
                          fan.last_api_t - fan.offset, "", "seed log")]
        return []
    first = min(p[0] for p in kb[:1] + secs[:1])
    last = max(p[0] for p in kb[-1:] + secs[-1:])
    # The seed's last call before rtmpdump starts (leave) is the ask to play.
    play_t = fan.last_api_t if fan.last_api_t is not None and fan.last_api_t <= first \
        else fan.offset
    ts_first = secs[0][1] if secs else 0.0
    rows = [
        Event(play_t, host, name, ev.PLAY, "rtmp", play_t - fan.offset, "", "seed log"),
        Event(first, host, name, ev.FIRST_AUDIO, "", ts_first),
        Event(first, host, name, ev.FIRST_VIDEO, "", ts_first),
    ]
    # One sample a second from the first report, as streamperf's sampler writes,
    # plus the last report (a partial window, as a viewer's final sample is).
    grid = first + np.arange(int(last - first + 1e-9) + 1, dtype=float)
    if last - grid[-1] > 0.01:
        grid = np.append(grid, last)
    cum = np.maximum.accumulate(_on_grid(kb, grid)) if kb else np.zeros(len(grid))
    # The first row holds what came before the first report; it only anchors counts.
    got = np.diff(cum, prepend=0.0) * 1024
    media = _on_grid(secs, grid) if secs else None
    for k, g in enumerate(grid.tolist()):
        rows.append(Event(g, host, name, ev.SAMPLE_BYTES, "", float(got[k])))
        if media is not None:
            rows.append(Event(g, host, name, ev.SAMPLE_MEDIA_TS, "", float(media[k])))
    return rows


def _frame(events: list[Event]) -> Any:
    import pandas as pd

    df = pd.DataFrame(events, columns=list(COLUMNS))
    text = ["host", "viewer", "event", "name", "status", "detail"]
    df[text] = df[text].astype("string")
    df[["t", "value"]] = df[["t", "value"]].astype(float)
    return df


def read_seed(path: Path | str | IO[str], base_t: float = 0.0) -> Any:
    """A seed tool log as a DataFrame in streamperf's schema (events.COLUMNS).

    SeedLogError (one line, naming the line) for a row it cannot take: seconds
    not a number from 0 to MAX_SECONDS, a figure that is not finite, a line over
    csv's field limit, more 1 s samples than the rows can describe."""
    if isinstance(path, str | Path):
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return _frame(_seed_events(f, base_t, Path(path).stem, str(path)))
    return _frame(_seed_events(path, base_t, "seed", "seed log"))


def _seed_events(f: IO[str], base_t: float, run_name: str, label: str) -> list[Event]:
    reader = csv.reader(f)
    try:
        return seed_events(reader, base_t, run_name)
    except csv.Error as exc:
        raise SeedLogError(f"{label}: line {reader.line_num}: {exc}") from None
    except SeedLogError as exc:
        raise SeedLogError(f"{label}: {exc}") from None


def _first_row(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        try:
            for fields in reader:
                if fields and any(x.strip() for x in fields):
                    return fields
        except csv.Error as exc:
            raise SeedLogError(f"{path}: line {reader.line_num}: {exc}") from None
    return []


def sniff(path: Path | str) -> str:
    """'streamperf' or 'seed', from the header or the first row's shape."""
    first = _first_row(Path(path))
    if not first:
        raise ValueError(f"{path}: empty (no rows)")
    if tuple(first[: len(COLUMNS)]) == COLUMNS:
        return "streamperf"
    if is_seed_row(first):
        return "seed"
    raise ValueError(f"{path}: neither a streamperf event log nor a seed tool log"
                     f" (first row: {','.join(first)[:80]!r})")


def load_any(path: Path | str, base_t: float = 0.0) -> Any:
    """A streamperf-schema DataFrame from an events.csv, a run directory or a seed log."""
    p = Path(path)
    if p.is_dir():
        p = p / "events.csv"
    if sniff(p) == "streamperf":
        return read_events(p)
    return read_seed(p, base_t)

