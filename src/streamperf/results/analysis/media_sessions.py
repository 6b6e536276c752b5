"""A viewer's media clock across faults: reconnects and a restarted publisher.

A viewer's `media_ts` samples are one clock only while nothing breaks. Two
faults start a new one mid-viewer:
- a reconnect (`--reconnect`, a `reconnect` row): a new connection joins the
  live stream wherever it is now;
- a restarted publisher (`--republish`) on a connection that stays open:
  nginx-rtmp passes the new ffmpeg's timestamps through, from 0 again.
Each such stretch is a *media session*. Within one, drift is measured from
its own first media (a viewer that rejoins live has not accumulated the
media it missed as delay). Across them the media received is stitched end
to end, so the playhead model sees no media arriving during the gap: the gap
counts as stall time, as a player would show it.

A new session starts at a `reconnect` row, or where the media clock goes
back by more than CLOCK_BACK_S between two samples.

How it scales: the analysis keeps the media samples as numpy columns sorted
by (viewer, t) (figures.py, eventlog/columnar.py). Finding the viewers with more
than one session is one pass over the media column (a window of rows at a
time) and a look at the reconnect rows; only those viewers' rows are worked
on, a batch of about CHUNK rows at a time, and what comes out is a small
table, one row per session (`Sessions`), from which a viewer's stitched
media and its drift follow. A run without faults costs the one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import segments

#: a step back of the media clock larger than this is a new clock (a new publisher);
#: smaller ones are a server's reordering and are left to the samples as they are
CLOCK_BACK_S = 1.0
CHUNK = 1 << 22  # rows per step: temporaries stay a slice of the column


@dataclass
class PublishClock:
    """The publish clock in force from each time on: when each began (t_pub,
    ascending) and the unix time of its media ts 0 (t0); more than one after a
    republish."""

    t_pub: np.ndarray
    t0: np.ndarray

    def __len__(self) -> int:
        return len(self.t_pub)

    def t0_at(self, t: np.ndarray) -> np.ndarray:
        """The T0 in force at each time: the newest clock begun at or before it, the
        first one before any began."""
        at = np.searchsorted(self.t_pub, t, side="right") - 1
        np.maximum(at, 0, out=at)
        return self.t0[at]


def publish_clock(frame: pd.DataFrame) -> PublishClock:
    """The publish_start rows of a log's frame as a PublishClock."""
    rows = frame[frame["event"] == ev.PUBLISH_START]
    t = rows["t"].to_numpy(float)
    order = np.argsort(t, kind="stable")
    return PublishClock(t[order], rows["value"].to_numpy(float)[order])


def latency_by_clock(t: np.ndarray, value: np.ndarray, clock: PublishClock) -> np.ndarray:
    """t - (T0 + media_ts) per sample, with the T0 in force at each t; a slice at a time."""
    out = np.empty(len(t))
    for a in range(0, len(t), CHUNK):
        b = a + CHUNK
        t0 = clock.t0_at(t[a:b])
        np.add(t0, value[a:b], out=t0)
        np.subtract(t[a:b], t0, out=out[a:b])
    return out


@dataclass
class Sessions:
    """The media sessions of the viewers that have more than one, by row of the
    media columns (sorted by viewer, then t): the row each begins at (ascending),
    the media the viewer received before it (base), and its anchor, the wall time
    and media timestamp its media is counted from."""

    start: np.ndarray
    base: np.ndarray
    anchor_t: np.ndarray
    anchor_v: np.ndarray

    @classmethod
    def none(cls) -> Sessions:
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return len(self.start)

    def rel_media(self, a: int, b: int, value: np.ndarray) -> np.ndarray | None:
        """Stitched media seconds of rows a..b (one viewer's; `value` its media_ts),
        or None when that viewer has one session."""
        s0 = int(np.searchsorted(self.start, a))
        if s0 == len(self.start) or self.start[s0] != a:
            return None
        s1 = int(np.searchsorted(self.start, b))
        lengths = np.diff(np.r_[self.start[s0:s1], b])
        gained = value - np.repeat(self.anchor_v[s0:s1], lengths)
        return np.repeat(self.base[s0:s1], lengths) + gained


def _first_after(q_code: np.ndarray, q_t: np.ndarray, r_code: np.ndarray,
                 r_t: np.ndarray) -> np.ndarray:
    """For each query (code, t): the index into r (sorted by code, then t, stably) of
    the same code's first r strictly after t, -1 where there is none (merge_asof
    forward without exact matches: the first of equal times)."""
    n = len(q_code)
    code = np.concatenate((q_code, r_code))
    t = np.concatenate((q_t, r_t))
    is_r = np.r_[np.zeros(n, bool), np.ones(len(r_code), bool)]
    # At equal (code, t) an r sorts before the query: an r at its own time is not after.
    order = np.lexsort((~is_r, t, code))
    pos = np.arange(len(order))
    r_here = is_r[order]
    found = np.minimum.accumulate(np.where(r_here, pos, len(order))[::-1])[::-1]
    q_pos = np.empty(n, np.int64)
    q_pos[order[~r_here]] = pos[~r_here]
    at = found[q_pos]
    ok = at < len(order)
    hit = np.full(n, -1, np.int64)
    idx = order[at[ok]]
    same = code[idx] == q_code[ok]
    hit[np.flatnonzero(ok)[same]] = idx[same] - n
    return hit


def _take(values: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """values[hit], NaN where hit is -1 (none)."""
    out = np.full(len(hit), np.nan)
    found = hit >= 0
    out[found] = values[hit[found]]
    return out


def _clock_backs(code: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Codes of the viewers whose media clock steps back by more than CLOCK_BACK_S
    between two of their samples; a window of rows at a time."""
    found: list[np.ndarray] = []
    for a in range(1, len(code), CHUNK):
        b = min(a + CHUNK, len(code))
        back = value[a:b] < value[a - 1:b - 1] - CLOCK_BACK_S
        back &= code[a:b] == code[a - 1:b - 1]
        if back.any():
            found.append(np.unique(code[a:b][back]))
    return np.unique(np.concatenate(found)) if found else np.empty(0, code.dtype)


def stitch(code: np.ndarray, t: np.ndarray, value: np.ndarray, drift: np.ndarray,
           t_first: np.ndarray, ts_first: np.ndarray, frame: pd.DataFrame,
           names: np.ndarray) -> Sessions:
    """The media sessions of media samples sorted by (viewer code, t), `drift` made
    per session in place for the viewers with more than one; viewers with one keep
    their figures exactly. `frame`: the log's other rows (reconnect and first frame
    rows), `names` the viewer name of each code, t_first/ts_first per code."""
    if not len(code):
        return Sessions.none()
    codes, starts, ends = segments(code)
    seg_of = np.full(len(names), -1, np.int64)
    seg_of[codes] = np.arange(len(codes))
    lookup = pd.Index(names, dtype=object)

    def coded(rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        c = lookup.get_indexer(rows["viewer"].astype(str).to_numpy(object))
        keep = c >= 0
        keep[keep] = seg_of[c[keep]] >= 0
        return c[keep].astype(np.int64), rows[keep]

    rec_code, rec = coded(frame[frame["event"] == ev.RECONNECT])
    rec_t = rec["t"].to_numpy(float)
    order = np.lexsort((rec_t, rec_code))
    rec_rows, rec_began = _reconnect_rows(t, starts, ends, seg_of, rec_code[order],
                                          rec_t[order])
    multi = np.union1d(np.unique(code[rec_rows]), _clock_backs(code, value))
    if not len(multi):
        return Sessions.none()
    f_code, firsts = coded(frame[frame["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])])
    f_t, f_v = firsts["t"].to_numpy(float), firsts["value"].to_numpy(float)
    order = np.lexsort((f_t, f_code))
    f_code, f_t, f_v = f_code[order], f_t[order], f_v[order]
    parts: list[Sessions] = []
    segs = seg_of[multi]
    lengths = ends[segs] - starts[segs]
    batch_of = np.cumsum(lengths) // CHUNK
    for batch in np.unique(batch_of):
        mine = segs[batch_of == batch]
        idx = np.concatenate([np.arange(starts[i], ends[i]) for i in mine.tolist()])
        parts.append(_stitch_rows(idx, code, t, value, drift, t_first, ts_first,
                                  (rec_rows, rec_began), (f_code, f_t, f_v)))
    return Sessions(*(np.concatenate([getattr(p, f) for p in parts])
                      for f in ("start", "base", "anchor_t", "anchor_v")))


def _reconnect_rows(t: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    seg_of: np.ndarray, rec_code: np.ndarray, rec_t: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The rows a reconnect starts a session at (ascending), and the newest reconnect
    before each: a reconnect at or after a sample of its viewer, before the next one.
    Reconnects sorted by (code, t); one search in its viewer's rows each."""
    rows = np.empty(len(rec_code), np.int64)
    for k, (c, at) in enumerate(zip(rec_code.tolist(), rec_t.tolist(), strict=True)):
        a, b = int(starts[seg_of[c]]), int(ends[seg_of[c]])
        rows[k] = a + int(np.searchsorted(t[a:b], at, side="right"))
    seg = seg_of[rec_code]
    inside = (rows > starts[seg]) & (rows < ends[seg])  # not before its first, nor after
    rows, began = rows[inside], rec_t[inside]
    newest = np.r_[rows[1:] != rows[:-1], True] if len(rows) else np.zeros(0, bool)
    return rows[newest], began[newest]


def _stitch_rows(idx: np.ndarray, code: np.ndarray, t: np.ndarray, value: np.ndarray,
                 drift: np.ndarray, t_first: np.ndarray, ts_first: np.ndarray,
                 rec: tuple[np.ndarray, np.ndarray],
                 firsts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Sessions:
    """Sessions of whole viewers' rows `idx` (ascending); their drift set in place."""
    c, tt, v = code[idx], t[idx], value[idx]
    same = np.zeros(len(idx), bool)
    same[1:] = c[1:] == c[:-1]
    prev_v = np.r_[np.nan, v[:-1]]
    back = same & (v < prev_v - CLOCK_BACK_S)
    # A reconnect between the previous sample and this one (_reconnect_rows).
    rec_rows, rec_began = rec
    local = np.searchsorted(idx, rec_rows)
    mine = local < len(idx)
    mine[mine] = idx[local[mine]] == rec_rows[mine]
    reconnected = np.zeros(len(idx), bool)
    reconnected[local[mine]] = True
    last_rec = np.full(len(idx), np.nan)
    last_rec[local[mine]] = rec_began[mine]
    boundary = reconnected | back
    new = ~same | boundary
    g = np.flatnonzero(new)  # each session's first row
    gid = np.cumsum(new) - 1
    # When each new session began: its reconnect, or the previous sample (a step back).
    b = np.flatnonzero(boundary)
    began = np.where(reconnected[b], last_rec[b], np.r_[np.nan, tt[:-1]][b])
    # Its anchor: the first frame row after it began, at or before the session's first
    # sample (a new connection reports one), else that first sample.
    f_code, f_t, f_v = firsts
    at = _first_after(c[b], began, f_code, f_t)
    ft = _take(f_t, at)
    use = ft <= tt[b]
    anchor_t = t_first[c[g]]
    anchor_v = ts_first[c[g]]
    in_g = np.searchsorted(g, b)
    anchor_t[in_g] = np.where(use, ft, tt[b])
    anchor_v[in_g] = np.where(use, _take(f_v, at), v[b])
    gained = v - anchor_v[gid]  # media since the session's anchor
    # Media received before each session: what the earlier sessions brought, end to end.
    brought = np.fmax.reduceat(np.maximum(gained, 0.0), g)
    counted = pd.Series(brought).groupby(c[g]).cumsum().to_numpy(float)
    base = counted - brought
    drift[idx] = (tt - anchor_t[gid]) - gained
    return Sessions(idx[g], base, anchor_t, anchor_v)
