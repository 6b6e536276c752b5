"""The run's timeline: per second since its start, viewers connected and lagged, the
kbps spread and the drift and latency spread (the report's charts and tables).

Numpy over the sorted per-second samples (eventlog/columnar.py), a window of seconds at a
time, as results/analysis/figures.py takes the per-viewer figures; the figures are those
of the pandas reference in tests/support/pandas_oracle.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import pandas as pd

from streamperf.results.analysis.media_sessions import (  # rows per step: temporaries stay a slice
    CHUNK,
)
from streamperf.results.eventlog.columnar import Samples, segments, stable_order


class MediaSamples(Protocol):
    """media_ts samples sorted by (viewer code, t): analysis.py's, one row each."""

    code: np.ndarray
    t: np.ndarray
    drift: np.ndarray
    latency: np.ndarray


TIMELINE_COLUMNS = [
    "second", "connected", "lagged", "mean_kbps", "p5_kbps", "p50_kbps", "p95_kbps",
    "drift_p50_s", "drift_p95_s", "latency_p50_s", "latency_p95_s",
]


_PAST = np.iinfo(np.int32).max  # a second no window reaches: rows left out


def _second_windows(t: np.ndarray, start: float, skip: np.ndarray | None = None
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows grouped by whole second since `start`, a window of seconds (about CHUNK
    rows) at a time: (seconds, starts, ends, rows), rows[starts[i]:ends[i]] being
    the row numbers of seconds[i], in their order in `t`'s arrays. Rows where
    `skip` is True are left out. Windows keep the grouping's memory to a slice."""
    sec = np.empty(len(t), np.int32)  # 68 years of seconds
    for a in range(0, len(t), CHUNK):
        sec[a:a + CHUNK] = (t[a:a + CHUNK] - start) // 1
    if skip is not None:
        sec[skip] = _PAST
    used = sec[sec != _PAST]
    if not len(used):
        return
    low, high = int(used.min()), int(used.max())
    del used
    step = max(1, int((high - low + 1) * CHUNK / max(1, len(t))))
    for w in range(low, high + 1, step):
        rows = np.flatnonzero((sec >= w) & (sec < w + step))
        if not len(rows):
            continue
        rows = rows[stable_order(sec[rows] - w)]
        seconds, starts, ends = segments(sec[rows])
        yield seconds.astype(np.int64), starts, ends, rows


def _quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Linear-interpolated quantiles (numpy's default, pandas' too) of the non-NaN
    values, from one partition instead of one sort per quantile."""
    v = values[~np.isnan(values)] if np.isnan(values).any() else values.copy()
    n = len(v)
    if not n:
        return [np.nan] * len(qs)
    pos = [q * (n - 1) for q in qs]
    kth = sorted({int(np.floor(p)) for p in pos} | {int(np.ceil(p)) for p in pos})
    v.partition(kth)
    out = []
    for p in pos:
        lo, hi = v[int(np.floor(p))], v[int(np.ceil(p))]
        frac = p - np.floor(p)
        # numpy's lerp: from the nearer end
        out.append(float(lo + (hi - lo) * frac if frac < 0.5 else hi - (hi - lo) * (1 - frac)))
    return out


def _distinct_per_segment(code: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                          keep: np.ndarray | None = None) -> np.ndarray:
    """Distinct codes in each segment of `code` (non-decreasing within a segment),
    counting only rows where `keep` is True."""
    if not len(starts):
        return np.zeros(0, np.int64)
    new = np.ones(len(code), bool)
    new[1:] = code[1:] != code[:-1]
    new[starts] = True
    if keep is None:
        return np.add.reduceat(new, starts)
    # Among the kept rows: a kept row is new unless the previous kept row of its
    # segment has its code.
    seg = np.repeat(np.arange(len(starts)), ends - starts)[keep]
    kept = code[keep]
    first = np.ones(len(kept), bool)
    first[1:] = (kept[1:] != kept[:-1]) | (seg[1:] != seg[:-1])
    return np.bincount(seg[first], minlength=len(starts))


def per_second(b: Samples, media: MediaSamples, start: float,
               lag_threshold_s: float) -> pd.DataFrame:
    """Per second since `start` (the run's): viewers with bytes, lagged viewers, the
    kbps spread over the bytes samples `b`, the drift and latency spread over `media`."""
    if not len(b):
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    b.sort_by_viewer()
    cols: dict[str, list[float]] = {c: [] for c in TIMELINE_COLUMNS}
    # A viewer's first bytes row covers only part of a second (it joined mid-window).
    # Rows sorted by viewer, then stably by second: viewers ascend within a second.
    for seconds, starts, ends, rows in _second_windows(b.t, start, skip=b.first):
        cols["second"] += seconds.tolist()
        cols["connected"] += _distinct_per_segment(b.viewer[rows], starts, ends).tolist()
        for a, e in zip(starts.tolist(), ends.tolist(), strict=True):
            kbps = b.value[rows[a:e]] * 8 / 1000
            known = kbps[~np.isnan(kbps)] if np.isnan(kbps).any() else kbps
            cols["mean_kbps"].append(float(known.mean()) if len(known) else np.nan)
            for col, v in zip(("p5_kbps", "p50_kbps", "p95_kbps"),
                              _quantiles(known, (0.05, 0.5, 0.95)), strict=True):
                cols[col].append(v)
    tl = pd.DataFrame({c: cols[c] for c in ("connected", "mean_kbps", "p5_kbps", "p50_kbps",
                                            "p95_kbps")}, index=pd.Index(cols["second"]))
    tl["connected"] = tl["connected"].astype(int)
    msec: list[int] = []
    for seconds, starts, ends, rows in _second_windows(media.t, start):
        msec += seconds.tolist()
        cols["lagged"] += _distinct_per_segment(
            media.code[rows], starts, ends, keep=media.drift[rows] > lag_threshold_s).tolist()
        for a, e in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = rows[a:e]
            for col, values in (("drift", media.drift[idx]), ("latency", media.latency[idx])):
                p50, p95 = _quantiles(values, (0.5, 0.95))
                cols[f"{col}_p50_s"].append(p50)
                cols[f"{col}_p95_s"].append(p95)
    tl["lagged"] = pd.Series(cols["lagged"], index=msec, dtype=int).reindex(tl.index).fillna(
        0).astype(int)
    for col in ("drift_p50_s", "drift_p95_s", "latency_p50_s", "latency_p95_s"):
        tl[col] = pd.Series(cols[col], index=msec, dtype=float).reindex(tl.index)
    return tl.rename_axis("second").reset_index()[TIMELINE_COLUMNS]
