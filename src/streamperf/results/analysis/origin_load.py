"""What the LL-HLS viewers asked their origin for: requests per second by kind, blocking
reloads, their waits, and how many the origin answered without blocking.

From the LLHLS rows (viewers/llhls/rows.py; docs/events.md): once per sample window
per viewer, a count per request kind (playlist, part, preload, segment, init), the
blocking reloads made (`blocked`), those answered without the asked-for part
(`early`: the origin did not block), and `wait`, whose detail lists each blocking
reload's wait in ms. Figures (docs/metrics.md):

  per viewer   requests of each kind and in all, per second it was sampled (its
               `bytes` sample windows, the first from its `play` row; at least one
               window, so a viewer that stopped in its first second is no burst);
               blocking reloads, early answers, early_ratio = early / blocked;
               its blocking waits' p50 and p95
  the run      requests per second of each kind and in all: over the seconds from
               the first LL-HLS viewer's first window to the last one's last sample
               (`rps`), in the busiest second (`peak_rps`), per viewer (the mean of
               the viewers'); per second of the run (`over_time`, for the chart);
               p50 / p95 of every blocking wait; early / blocked over all viewers

A run without LLHLS rows has none of this: `origin_load` gives None and the summary,
the SLA's LL-HLS metrics and the report's section are absent. A wait detail is read
leniently: a token that is not a plain number of ms is left out, and a detail the
writer cut at DETAIL_CHARS loses its last token (it may be cut short); a count is
taken between 0 and MAX_COUNT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import EventLog

KINDS = ev.llhls_rows.REQUEST_KINDS  # playlist, part, preload, segment, init
BLOCKED, EARLY, WAIT = ev.llhls_rows.BLOCKED, ev.llhls_rows.EARLY, ev.llhls_rows.WAIT
ALL = "all"  # every request kind together
MAX_COUNT = 1e6  # the most one row counts: no viewer asks a million times a second
#: OriginLoad.viewers' columns: the viewer, seconds sampled, requests of each kind and in
#: all, blocking reloads, early answers, waits read, requests per second of each kind
#: (`playlist_rps`, ...) and in all, early / blocked (NaN without blocking reloads), and
#: the p50 / p95 of its waits
VIEWER_COLUMNS = ["viewer", "seconds", *KINDS, "requests", BLOCKED, EARLY, "waits",
                  *(f"{k}_rps" for k in KINDS), "requests_rps", "early_ratio",
                  "block_wait_p50_s", "block_wait_p95_s"]
WAIT_COLUMNS = ["viewer", "t", "wait_s"]  # OriginLoad.waits: one row per blocking wait


@dataclass(frozen=True)
class OriginLoad:
    """The LL-HLS viewers' requests, per viewer and for the run (the module doc)."""

    viewers: pd.DataFrame  # VIEWER_COLUMNS, one row per viewer with LLHLS rows
    waits: pd.DataFrame  # WAIT_COLUMNS, in log order
    #: requests of each kind (columns KINDS) per whole second since the run's start
    #: (index `second`: a row at t counts in second floor(t - start)), every second
    #: from the first with a row to the last
    over_time: pd.DataFrame
    span_s: float  # first window's start to last sample, over the LL-HLS viewers

    @property
    def totals(self) -> dict[str, int]:
        """Requests of each kind and in all (ALL)."""
        out = {k: int(self.viewers[k].sum()) for k in KINDS}
        return {**out, ALL: sum(out.values())}

    def rps(self) -> dict[str, float]:
        """Requests per second of each kind and in all, over span_s."""
        return {k: n / self.span_s for k, n in self.totals.items()}

    def peak_rps(self) -> dict[str, float]:
        """The busiest second's requests of each kind, and in all (that second's sum)."""
        if self.over_time.empty:
            return dict.fromkeys((*KINDS, ALL), 0.0)
        per = self.over_time
        return {**{k: float(per[k].max()) for k in KINDS}, ALL: float(per.sum(axis=1).max())}

    def per_viewer_rps(self) -> dict[str, float]:
        """The mean over viewers of their requests per second, each kind and in all."""
        v = self.viewers
        return {**{k: float(v[f"{k}_rps"].mean()) for k in KINDS},
                ALL: float(v["requests_rps"].mean())}

    @property
    def blocked(self) -> int:
        return int(self.viewers[BLOCKED].sum())

    @property
    def early(self) -> int:
        return int(self.viewers[EARLY].sum())

    @property
    def early_ratio(self) -> float | None:
        """Early answers over blocking reloads, all viewers; None without any reload."""
        return self.early / self.blocked if self.blocked else None

    def block_wait_s(self, q: float) -> float | None:
        """The q-quantile (0..1, linear) of every blocking wait; None without any."""
        w = self.waits["wait_s"].to_numpy(float)
        return float(np.quantile(w, q)) if len(w) else None


#: a wait as the viewers write one: ms, a plain decimal number (no sign but +, no exponent)
WAIT_MS = r"^\+?(\d{1,12}(\.\d{0,9})?|\.\d{1,9})$"


def parse_waits(wait_rows: pd.DataFrame) -> pd.DataFrame:
    """WAIT_COLUMNS from WAIT rows (their detail: waits in ms, comma-separated). A token
    that is not a plain number of ms (WAIT_MS, spaces around it aside) is left out; so is
    the last one of a detail the writer cut at DETAIL_CHARS, which may be cut short.
    Arrow's string kernels, not a Python loop: a long run has millions of these rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if wait_rows.empty:
        return pd.DataFrame({"viewer": pd.Series(dtype=object), "t": pd.Series(dtype=float),
                             "wait_s": pd.Series(dtype=float)})
    detail = pa.array(wait_rows["detail"].astype(str).to_numpy(object), pa.string())
    lists = pc.split_pattern(detail, ",")
    tokens = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    row = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep = pc.match_substring_regex(tokens, WAIT_MS).to_numpy(zero_copy_only=False)
    ends = np.cumsum(pc.list_value_length(lists).to_numpy(zero_copy_only=False))
    cut = (pc.utf8_length(detail).to_numpy(zero_copy_only=False) >= ev.DETAIL_CHARS)
    keep[ends[cut] - 1] = False  # a cut detail's last token
    ms = pc.cast(pc.filter(tokens, pa.array(keep)), pa.float64()).to_numpy(zero_copy_only=False)
    at = row[keep]
    return pd.DataFrame({"viewer": wait_rows["viewer"].astype(str).to_numpy(object)[at],
                         "t": wait_rows["t"].to_numpy(float)[at], "wait_s": ms / 1000})


def sampled_seconds(log: EventLog, viewers: pd.Index, play_t: pd.Series,
                    llhls: pd.DataFrame) -> pd.DataFrame:
    """Per viewer (index `viewers`): `seconds` it was sampled, when its first window
    `began` and its last sample (`ended`). A sample row (its `bytes` rows, and its
    LLHLS rows' times for a log without them) covers the time since the viewer's
    previous one, at most one sample window; its first, the time since its `play` row
    (one window without one)."""
    window = ev.VIEWER_SAMPLE_S
    b = log.kind(ev.SAMPLE_BYTES)
    lut = viewers.get_indexer(pd.Index(log.names, dtype=object))
    b_code = lut[b.viewer] if len(b) else np.zeros(0, np.int64)
    code = np.concatenate([b_code[b_code >= 0], viewers.get_indexer(llhls["viewer"])])
    t = np.concatenate([b.t[b_code >= 0] if len(b) else np.zeros(0),
                        llhls["t"].to_numpy(float)])
    order = np.lexsort((t, code))
    code, t = code[order], t[order]
    again = np.r_[False, (code[1:] == code[:-1]) & (t[1:] == t[:-1])]
    code, t = code[~again], t[~again]
    first = np.r_[True, code[1:] != code[:-1]]
    gap = np.empty(len(t))
    gap[1:] = t[1:] - t[:-1]
    played = play_t.reindex(viewers).to_numpy(float)
    gap[first] = t[first] - played[code[first]]
    gap = np.clip(np.nan_to_num(gap, nan=window), 0.0, window)
    n = len(viewers)
    began, ended = np.full(n, np.nan), np.full(n, np.nan)
    began[code[first]] = t[first] - gap[first]
    last = np.r_[first[1:], True]
    ended[code[last]] = t[last]
    return pd.DataFrame({"seconds": np.bincount(code, weights=gap, minlength=n),
                         "began": began, "ended": ended}, index=viewers)


def _per_second(llhls: pd.DataFrame, start_t: float) -> pd.DataFrame:
    """Requests of each kind per whole second since start_t (OriginLoad.over_time)."""
    counted = llhls[llhls["name"].isin(KINDS)]
    if counted.empty:
        return pd.DataFrame(columns=list(KINDS), index=pd.RangeIndex(0, name="second"))
    second = np.floor(counted["t"].to_numpy(float) - start_t).astype(np.int64)
    per = counted.assign(second=second).pivot_table(
        index="second", columns="name", values="n", aggfunc="sum", fill_value=0.0)
    grid = pd.RangeIndex(int(second.min()), int(second.max()) + 1, name="second")
    per = per.reindex(index=grid, columns=list(KINDS), fill_value=0.0).astype(float)
    per.columns.name = None
    return per


def origin_load(log: EventLog, fans: pd.DataFrame, start_t: float) -> OriginLoad | None:
    """The LL-HLS viewers' figures (`fans`: the viewers' rows of log.frame); None when
    the log has no LLHLS rows."""
    llhls = fans[fans["event"] == ev.LLHLS]
    if llhls.empty:
        return None
    llhls = llhls.assign(name=llhls["name"].astype(str), viewer=llhls["viewer"].astype(str),
                         n=llhls["value"].astype(float).clip(lower=0.0, upper=MAX_COUNT))
    viewers = pd.Index(pd.unique(llhls["viewer"]), name="viewer", dtype=object)
    counted = llhls[llhls["name"].isin((*KINDS, BLOCKED, EARLY))]
    counts = counted.groupby(["viewer", "name"])["n"].sum().unstack("name")
    out = counts.reindex(index=viewers, columns=[*KINDS, BLOCKED, EARLY]).fillna(0.0)
    out.columns.name = None
    out["requests"] = out[list(KINDS)].sum(axis=1)
    waits = parse_waits(llhls[llhls["name"] == WAIT])
    by = waits.groupby("viewer")["wait_s"]
    out["waits"] = by.size().reindex(viewers).fillna(0).astype(int)
    plays = fans[fans["event"] == ev.PLAY]
    sampled = sampled_seconds(log, viewers, plays.groupby(plays["viewer"].astype(str))["t"].min(),
                              llhls)
    out.insert(0, "seconds", sampled["seconds"])
    per_s = sampled["seconds"].clip(lower=ev.VIEWER_SAMPLE_S)
    for k in KINDS:
        out[f"{k}_rps"] = out[k] / per_s
    out["requests_rps"] = out["requests"] / per_s
    blocked = out[BLOCKED]
    out["early_ratio"] = (out[EARLY] / blocked.where(blocked > 0)).clip(upper=1.0)
    out["block_wait_p50_s"] = by.quantile(0.5).reindex(viewers)
    out["block_wait_p95_s"] = by.quantile(0.95).reindex(viewers)
    span = float(sampled["ended"].max() - sampled["began"].min())
    span = span if math.isfinite(span) and span >= ev.VIEWER_SAMPLE_S else ev.VIEWER_SAMPLE_S
    return OriginLoad(out.reset_index()[VIEWER_COLUMNS], waits,
                      _per_second(llhls, start_t), span)


def summary(o: OriginLoad | None) -> dict[str, Any]:
    """The headline figures for summary.json; {} for a run without LL-HLS viewers."""
    if o is None:
        return {}
    rps, per_viewer = o.rps(), o.per_viewer_rps()
    return {
        "llhls_viewers": len(o.viewers),
        "llhls_rps": rps[ALL],
        "llhls_peak_rps": o.peak_rps()[ALL],
        "llhls_rps_per_viewer": per_viewer[ALL],
        "llhls_rps_by_kind": {k: round(rps[k], 3) for k in KINDS},
        "llhls_rps_per_viewer_by_kind": {k: round(per_viewer[k], 3) for k in KINDS},
        "llhls_block_wait_p50_s": o.block_wait_s(0.5),
        "llhls_block_wait_p95_s": o.block_wait_s(0.95),
        "llhls_blocked": o.blocked,
        "llhls_early": o.early,
        "llhls_early_ratio": o.early_ratio,
    }


__all__ = ["ALL", "KINDS", "MAX_COUNT", "VIEWER_COLUMNS", "WAIT_COLUMNS", "WAIT_MS",
           "OriginLoad", "origin_load", "parse_waits", "sampled_seconds", "summary"]
