"""An LL-HLS run's log, written by the event log's own writer, with its origin-load
figures worked out by hand (tests/unit/test_origin_load.py checks them).

Three viewers play from T0 + 1 s, first frame at T0 + 1.5 s; the shard samples them at
T0 + 2 .. T0 + 11 (ten 1 s windows), a `bytes` and a `media_ts` row each, and the two
LL-HLS viewers' LLHLS rows at the same times:

  ll1   each window 3 playlist, 3 preload, 3 blocking reloads waiting 300, 330, 360 ms;
        its first window also 2 parts and the init section
  ll2   each window 3 playlist, 3 parts, 3 blocking reloads waiting 340, 350, 400 ms;
        one answered early, in its window at T0 + 7
  hls1  plain HLS: no LLHLS rows

So each LL-HLS viewer was sampled 10 s (the first window from its play row), and:

  ll1   playlist 30 (3.0/s), preload 30 (3.0/s), part 2 (0.2/s), init 1 (0.1/s):
        63 requests, 6.3/s; 30 blocked, none early
  ll2   playlist 30 (3.0/s), part 30 (3.0/s): 60 requests, 6.0/s; 30 blocked, 1 early
  run   over 10 s (T0 + 1 to T0 + 11): playlist 6.0/s, part 3.2/s, preload 3.0/s, init
        0.1/s, 12.3/s in all; per viewer (mean) 6.15/s in all, playlist 3.0, part 1.6,
        preload 1.5, init 0.05; busiest second (second 2, the first windows) 15
        requests, the others 12; 60 waits, p50 345 ms, p95 400 ms; 1 early of 60

With `storm`, the origin answers blocking reloads at once (a reload storm): ll1's first
window has 6 playlist requests, all blocking, 5 answered early (waits 1, 0, 2, 1, 0,
1 ms), and a `reload_storm` error; then it reloads once a part target: 3 a window,
early 2, 1, 2, 1, ... (waits 0, 1, 0 ms). So 33 playlist requests (3.3/s), 33 blocked,
19 early (early ratio 19/33 = 0.576), every wait under 3 ms. ll2 is then left out.
"""

from __future__ import annotations

from pathlib import Path

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.results.eventlog.writer import EventWriter

T0 = 1_700_000_000.0  # the run_start row
PLAY_AT, FIRST_AT, WINDOWS = 1.0, 1.5, 10  # since T0; samples at T0 + 2 .. T0 + 1 + WINDOWS
KBPS = 1000.0
ROWS = ev.llhls_rows

#: viewer -> protocol
VIEWERS = {"ll1": "llhls", "ll2": "llhls", "hls1": "hls"}
STORM_EARLY = [5] + [2, 1] * 4 + [2]  # ll1's early answers per window in a storm
STORM_ERROR = "reload_storm"


def _window(viewer: str, i: int, storm: bool) -> list[tuple[str, float, str]]:
    """(name, value, detail) of viewer's LLHLS rows in its window i (1..WINDOWS)."""
    if viewer == "ll1" and storm:
        if i == 1:
            return [(ROWS.PLAYLIST, 6, ""), (ROWS.BLOCKED, 6, ""), (ROWS.EARLY, 5, ""),
                    (ROWS.WAIT, 6, "1,0,2,1,0,1")]
        return [(ROWS.PLAYLIST, 3, ""), (ROWS.BLOCKED, 3, ""),
                (ROWS.EARLY, STORM_EARLY[i - 1], ""), (ROWS.WAIT, 3, "0,1,0")]
    if viewer == "ll1":
        out = [(ROWS.PLAYLIST, 3, ""), (ROWS.PRELOAD, 3, ""), (ROWS.BLOCKED, 3, ""),
               (ROWS.WAIT, 3, "300,330,360")]
        return out + ([(ROWS.PART, 2, ""), (ROWS.INIT, 1, "")] if i == 1 else [])
    if viewer == "ll2":
        out = [(ROWS.PLAYLIST, 3, ""), (ROWS.PART, 3, ""), (ROWS.BLOCKED, 3, ""),
               (ROWS.WAIT, 3, "340,350,400")]
        return out + ([(ROWS.EARLY, 1, "")] if i == 6 else [])
    return []


def llhls_rows(storm: bool = False) -> list[Event]:
    """The run's rows in time order (the module doc); with `storm`, ll1 in a reload storm
    and no ll2."""
    rows = [Event(T0, "gen1", "", ev.RUN_START, "llhls[run]", 0, "0.1.0", '{"users": 3}'),
            Event(T0, "gen1", "", ev.SOURCE, "bitrate_kbps", KBPS, "file")]
    for viewer, protocol in VIEWERS.items():
        if storm and viewer == "ll2":
            continue
        rows.append(Event(T0 + PLAY_AT, "gen1", viewer, ev.PLAY, protocol, 0.05, "",
                          f"http://origin/{viewer}.m3u8"))
        first = T0 + FIRST_AT
        rows += [Event(first, "gen1", viewer, ev.FIRST_AUDIO, "", 15.0),
                 Event(first, "gen1", viewer, ev.FIRST_VIDEO, "", 15.0)]
        if storm and viewer == "ll1":
            rows.append(Event(T0 + 1.8, "gen1", viewer, ev.VIEWER_ERROR, STORM_ERROR, 0, "",
                              "http://origin/ll1.m3u8: playlist: 5 of the last 6 blocking "
                              "reloads answered at once"))
        for i in range(1, WINDOWS + 1):
            t = T0 + PLAY_AT + i
            rows += [Event(t, "gen1", viewer, ev.SAMPLE_BYTES, "", KBPS * 1000 / 8),
                     Event(t, "gen1", viewer, ev.SAMPLE_MEDIA_TS, "", 15.0 + i - 0.5)]
            rows += [Event(t, "gen1", viewer, ev.LLHLS, name, float(value), "", detail)
                     for name, value, detail in _window(viewer, i, storm)]
        rows.append(Event(T0 + PLAY_AT + WINDOWS, "gen1", viewer, ev.PLAY_END, protocol,
                          float(WINDOWS)))
    rows.append(Event(T0 + PLAY_AT + WINDOWS + 0.5, "gen1", "", ev.RUN_END, "done"))
    return sorted(rows, key=lambda r: r.t)


def write_llhls_log(path: Path, storm: bool = False, extra: list[Event] | None = None) -> Path:
    """llhls_rows (and `extra`) written to `path` (an events.csv) by EventWriter, as a
    run writes them."""
    with EventWriter(path) as writer:
        writer.write_many(llhls_rows(storm) + list(extra or ()))
    return path
