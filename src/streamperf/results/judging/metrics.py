"""The SLA metric registry: what each metric is, its unit, how to pull it from an Analysis.

One place for every metric an SLA expression may name (results/judging/sla.py parses
and judges the expressions); docs/sla.md's table is generated from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from streamperf.results.analysis.figures import Analysis


def percentile_of(func: str) -> float | None:
    m = re.fullmatch(r"p(\d+(?:\.\d+)?)", func)
    return float(m.group(1)) if m else None


# --- units ------------------------------------------------------------------------------

# A metric's base unit and the suffixes a limit may carry, as factors to that unit.
# "ratio" is a fraction (0.9 = 90%); "%" is already percent; "count" takes no suffix.
SUFFIXES: dict[str, dict[str, float]] = {
    "s": {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0},
    "kbps": {"kbps": 1.0, "mbps": 1000.0},
    "ratio": {"%": 0.01},
    "%": {"%": 1.0},
    "count": {},
    "rps": {"rps": 1.0},  # requests per second
}
DEFAULT_SHOWN = {"s": "s", "kbps": "kbps", "%": "%", "ratio": "", "count": "", "rps": "rps"}


def join_shown(shown: list[str], total: int) -> str:
    more = f" (+{total - len(shown)} more)" if total > len(shown) else ""
    return ", ".join(shown) + more


# --- what a metric yields ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MetricData:
    """A metric's observations in one Analysis (after the grace window)."""

    values: np.ndarray  # float, NaN-free
    #: who each value belongs to: viewer, endpoint or "at N s" (a pd.Categorical for
    #: per-sample metrics)
    groups: np.ndarray
    why_empty: str = "no data"
    rate: tuple[float, float] | None = None  # numerator, denominator of rate()
    notes: Mapping[str, str] = field(default_factory=dict)  # extra words per group
    culprits: str | None = None  # replaces the per-group worst list
    per_call: bool = False  # groups hold many calls: show "k of n calls"
    #: the run has none of what the metric is about (no LL-HLS viewers): a default
    #: threshold over it is not applicable without saying so (judge.py)
    absent: bool = False


_EMPTY = np.array([], dtype=float)


def _data(values: pd.Series, groups: pd.Series, **kw: object) -> MetricData:
    vals = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    keep = ~np.isnan(vals)
    if isinstance(groups.dtype, pd.CategoricalDtype):
        # Per-sample groups (millions in a long run): kept as codes, not as strings.
        cats = groups.array
        kept = pd.Categorical.from_codes(cats.codes[keep],
                                         categories=cats.categories.astype(str))
        return MetricData(vals[keep], kept, **kw)  # type: ignore[arg-type]
    return MetricData(vals[keep], groups.astype(str).to_numpy()[keep], **kw)  # type: ignore[arg-type]


def _empty(why: str) -> MetricData:
    return MetricData(_EMPTY, np.array([], dtype=str), why)


def _start_t(a: Analysis) -> float:
    """Unix time the run began: the first row of the log, as the timeline's seconds count."""
    start = a.info.get("start_t")
    if start is not None:
        return float(start)
    # An Analysis without start_t (an empty log): its earliest sample.
    s = a.samples
    return float(s["t"].min()) if len(s) else 0.0


def _grace_why(grace_s: float, what: str) -> str:
    return f"no {what} after the first {grace_s:g} s (grace window)"


Extract = Callable[[Analysis, float], MetricData]


def _viewers(col: str, why: str, *, media_only: bool = True, rate_over: str = "",
             notes: bool = False) -> Extract:
    """A per-viewer column of Analysis.viewers; rate_over: 'planned' or 'media'."""

    def extract(a: Analysis, grace_s: float) -> MetricData:
        v = a.viewers
        with_media = v[v["got_media"].astype(bool)]
        rows = with_media if media_only else v
        rate = None
        if rate_over:
            den = max(a.planned, len(v)) if rate_over == "planned" else len(with_media)
            hit = float((pd.to_numeric(rows[col]).fillna(0) > 0).sum())
            rate = (hit, float(den))
        why_here = why
        if col == "bitrate_ratio" and not a.source_kbps:
            why_here = "source bitrate unknown"
        note_map: dict[str, str] = {}
        if notes:
            hit_rows = rows[pd.to_numeric(rows[col]).fillna(0) > 0]
            note_map = {str(r.viewer): str(r.first_error) for r in hit_rows.itertuples()
                        if str(r.first_error)}
        return _data(rows[col], rows["viewer"], why_empty=why_here, rate=rate, notes=note_map)

    return extract


def _switches(a: Analysis, grace_s: float) -> MetricData:
    v = a.viewers
    ladder = v[v["got_media"].astype(bool) & v["played_kbps"].notna()]
    n = pd.to_numeric(ladder["switches_up"]) + pd.to_numeric(ladder["switches_down"])
    rate = (float((n > 0).sum()), float(len(ladder)))
    return _data(n, ladder["viewer"], why_empty="no viewer played a ladder", rate=rate)


NO_LLHLS = "no LL-HLS viewers (no llhls rows)"


def _origin(col: str, why: str) -> Extract:
    """A per-viewer column of the LL-HLS viewers' origin load (analysis/origin_load.py);
    absent for a run without LL-HLS viewers."""

    def extract(a: Analysis, grace_s: float) -> MetricData:
        o = getattr(a, "origin", None)
        if o is None:
            return MetricData(_EMPTY, np.array([], dtype=str), NO_LLHLS, absent=True)
        return _data(o.viewers[col], o.viewers["viewer"], why_empty=why)

    return extract


def _block_waits(a: Analysis, grace_s: float) -> MetricData:
    o = getattr(a, "origin", None)
    if o is None:
        return MetricData(_EMPTY, np.array([], dtype=str), NO_LLHLS, absent=True)
    return _data(o.waits["wait_s"], o.waits["viewer"],
                 why_empty="no blocking reload of an LL-HLS viewer was answered")


NEVER_STARTED = "(never started)"


def _got_media(a: Analysis, grace_s: float) -> MetricData:
    v = a.viewers
    flags = v["got_media"].astype(bool).to_numpy(dtype=float)
    # Planned viewers that left no row at all count as 0, not as missing data.
    missing = max(a.planned - len(v), 0)
    values = np.concatenate([flags, np.zeros(missing)])
    groups = np.concatenate([v["viewer"].astype(str).to_numpy(), np.full(missing, NEVER_STARTED)])
    notes = {str(r.viewer): str(r.first_error) or "no video"
             for r in v[~v["got_media"].astype(bool)].itertuples()}
    if missing:
        notes[NEVER_STARTED] = f"{missing} viewer{'s' if missing > 1 else ''}"
    return MetricData(values, groups, "no viewers planned", rate=(float(flags.sum()), len(values)),
                 notes=notes)


def _samples(col: str, why_nan: str) -> Extract:
    """A per-sample column of Analysis.samples (one row per viewer per second)."""

    def extract(a: Analysis, grace_s: float) -> MetricData:
        s = a.samples
        if s.empty:
            return _empty("no media samples")
        # Tens of millions of samples in a long run: one column and a mask, never a
        # filtered copy of the whole frame.
        values = s[col].to_numpy(float)
        keep = ~np.isnan(values)
        if grace_s > 0:
            keep &= s["t"].to_numpy(float) >= _start_t(a) + grace_s
            if not keep.any() and not (s["t"].to_numpy(float) >= _start_t(a) + grace_s).any():
                return _empty(_grace_why(grace_s, "media samples"))
        viewer = s["viewer"]
        if isinstance(viewer.dtype, pd.CategoricalDtype):
            cats = viewer.array
            groups = pd.Categorical.from_codes(cats.codes[keep],
                                               categories=cats.categories.astype(str))
        else:
            groups = viewer.astype(str).to_numpy()[keep]
        return MetricData(values[keep], groups, why_nan)  # type: ignore[arg-type]

    return extract


def _lagged_viewers(a: Analysis, grace_s: float) -> str:
    """Who was lagged (after the grace window), longest drift first."""
    s = a.samples
    if s.empty:
        return ""
    hit = s["drift_s"].to_numpy(float) > a.lag_threshold_s
    if grace_s > 0:
        hit &= s["t"].to_numpy(float) >= _start_t(a) + grace_s
    lag = s.loc[hit, ["viewer", "drift_s"]]  # the lagged samples only: few
    per = lag.groupby("viewer", observed=True)["drift_s"].agg(["max", "size"]).sort_values(
        "max", ascending=False)
    # Samples are 1 s apart, so the count of lagged samples is seconds lagged.
    shown = [f"{viewer} (drift {r['max']:.1f} s, {int(r['size'])} s lagged)"
             for viewer, r in per.head(5).iterrows()]
    return join_shown(shown, len(per))


def _timeline(kind: str) -> Extract:
    def extract(a: Analysis, grace_s: float) -> MetricData:
        tl = a.timeline
        if tl.empty:
            return _empty("no viewer received bytes")
        if grace_s > 0:
            tl = tl[tl["second"].astype(float) >= grace_s]
            if tl.empty:
                return _empty(_grace_why(grace_s, "seconds"))
        labels = "at " + tl["second"].astype(int).astype(str) + " s"
        connected = tl["connected"].astype(float)
        lagged = tl["lagged"].astype(float)
        if kind == "connected":
            return _data(connected, labels)
        # Lag comes from media timestamps: bytes without any is no data, not "0 lagged".
        s = a.samples
        if s.empty or not (s["t"].to_numpy(float) >= _start_t(a) + grace_s).any():
            return _empty(_grace_why(grace_s, "media samples") if grace_s > 0 and len(s)
                          else "no media samples")
        culprits = _lagged_viewers(a, grace_s)
        if kind == "lagged":
            return _data(lagged, labels, rate=(float(lagged.sum()), float(connected.sum())),
                         culprits=culprits)
        some = connected > 0
        return _data(100 * lagged[some] / connected[some], labels[some], culprits=culprits)

    return extract


def _api_latency(a: Analysis, grace_s: float) -> MetricData:
    rows = getattr(a, "api_rows", None)
    if rows is None or (len(rows) and "latency_s" not in rows):
        return _empty("per-call API latencies are not in this analysis (Analysis.api_rows)")
    if rows.empty:
        return _empty("no API calls")
    return _data(rows["latency_s"], rows["endpoint"], why_empty="no API calls")


def _api_errors(a: Analysis, grace_s: float) -> MetricData:
    api = a.api
    if api.empty:
        return _empty("no API calls")
    calls = api["calls"].astype(int).to_numpy()
    errors = api["errors"].fillna(0).astype(int).to_numpy()
    # One 1/0 value per call so the generic functions see calls, not endpoints.
    values = np.concatenate([np.r_[np.ones(e), np.zeros(c - e)] for c, e in zip(calls, errors,
                                                                              strict=True)])
    groups = np.repeat(api["endpoint"].astype(str).to_numpy(), calls)
    return MetricData(values, groups, "no API calls",
                      rate=(float(errors.sum()), float(calls.sum())), per_call=True)


# --- the registry ----------------------------------------------------------------------

STATS = ("mean", "min", "max", "pNN")
COUNTED = (*STATS, "sum", "count", "rate")
FUNCTIONS = ("mean", "min", "max", "sum", "count", "rate", "pNN")


@dataclass(frozen=True)
class Metric:
    name: str
    source: str  # viewer | sample | second | API call: what one value is
    unit: str  # a key of SUFFIXES
    funcs: tuple[str, ...]  # "pNN" stands for every percentile
    description: str
    extract: Extract = field(repr=False, compare=False)
    grace: bool = False  # the ramp-up grace window applies
    rate: str = ""  # what rate() divides by what
    unit_doc: str = ""  # the unit as docs show it, when not the plain unit

    def allows(self, func: str) -> bool:
        return func in self.funcs or ("pNN" in self.funcs and percentile_of(func) is not None)


_M = Metric
METRICS: dict[str, Metric] = {m.name: m for m in (
    _M("startup_s", "viewer", "s", STATS,
       "ask-to-play to first video frame, per viewer that got video",
       _viewers("startup_s", "no viewer got video", media_only=False)),
    _M("api_s", "viewer", "s", STATS,
       "the fan's API journey (sign-in to playback URL), per viewer that reached play",
       _viewers("api_s", "no viewer reached play", media_only=False)),
    _M("media_s", "viewer", "s", (*STATS, "sum"),
       "media seconds received, per viewer with media",
       _viewers("media_s", "no viewer got media")),
    _M("watched_s", "viewer", "s", (*STATS, "sum"),
       "first media to last sample, per viewer with media",
       _viewers("watched_s", "no viewer got media")),
    _M("mean_kbps", "viewer", "kbps", STATS,
       "mean receive bitrate after the first video frame, per viewer with media",
       _viewers("mean_kbps", "no viewer got media")),
    _M("bitrate_ratio", "viewer", "ratio", STATS,
       "mean_kbps / source bitrate, per viewer with media",
       _viewers("bitrate_ratio", "no viewer got media")),
    _M("stalls", "viewer", "count", COUNTED,
       "stalls of the playhead model, per viewer with media",
       _viewers("stalls", "no viewer got media", rate_over="media"),
       rate="viewers with a stall / viewers with media"),
    _M("stall_s", "viewer", "s", (*STATS, "sum"),
       "seconds stalled (playhead model), per viewer with media",
       _viewers("stall_s", "no viewer got media")),
    _M("rebuffer_ratio", "viewer", "ratio", STATS,
       "stall_s / (stall_s + play_s), per viewer with media",
       _viewers("rebuffer_ratio", "no viewer got media")),
    _M("errors", "viewer", "count", COUNTED,
       "error rows (connect, disconnect, protocol, timeout), per viewer",
       _viewers("errors", "no viewers", media_only=False, rate_over="planned", notes=True),
       rate="viewers with an error / planned viewers"),
    _M("disconnects", "viewer", "count", COUNTED,
       "unexpected disconnects, per viewer",
       _viewers("disconnects", "no viewers", media_only=False, rate_over="planned",
                notes=True),
       rate="viewers disconnected / planned viewers"),
    _M("got_media", "viewer", "ratio", ("min", "max", "mean", "sum", "count", "rate"),
       "1 if the viewer got video, else 0, per planned viewer (one never seen counts 0)",
       _got_media, rate="viewers with media / planned viewers", unit_doc="0 or 1"),
    _M("drift_s", "sample", "s", STATS,
       "delay accumulated since the viewer's first media, per 1 s sample",
       _samples("drift_s", "no media samples"), grace=True),
    _M("latency_s", "sample", "s", STATS,
       "t - (T0 + media_ts), per 1 s sample; needs the publish clock T0, or, for a stream "
       "someone else publishes, the HLS stream's EXT-X-PROGRAM-DATE-TIME (t - capture time)",
       _samples("latency_s", "not measurable: no publish clock (publish_start row) and no "
                "PROGRAM-DATE-TIME in the stream"),
       grace=True),
    _M("lagged", "second", "count", COUNTED,
       "viewers with drift over the lag threshold, per second of the run",
       _timeline("lagged"), grace=True,
       rate="lagged viewer-seconds / connected viewer-seconds"),
    _M("lagged_pct", "second", "%", STATS,
       "100 * lagged / connected, per second with viewers",
       _timeline("lagged_pct"), grace=True),
    _M("connected", "second", "count", STATS,
       "viewers receiving bytes, per second of the run",
       _timeline("connected"), grace=True),
    # CTA-2066's names for what the ladder viewers played (docs/metrics.md)
    _M("average_bitrate_kbps", "viewer", "kbps", STATS,
       "CTA-2066 average bitrate: the renditions' bitrates weighted by the seconds each was "
       "held, per viewer of a ladder (HLS master playlist, DASH)",
       _viewers("played_kbps", "no viewer played a ladder")),
    _M("bitrate_switches", "viewer", "count", COUNTED,
       "CTA-2066 bitrate switches (up and down, emergency ones included), per viewer of a "
       "ladder", _switches, rate="viewers that switched / viewers of a ladder"),
    _M("bitrate_switches_down", "viewer", "count", COUNTED,
       "down-switches (emergency ones included), per viewer of a ladder",
       _viewers("switches_down", "no viewer played a ladder", rate_over="media"),
       rate="viewers that switched down / viewers with media"),
    # What the LL-HLS viewers asked their origin for (docs/metrics.md "LL-HLS origin load")
    _M("llhls_block_wait_s", "blocking reload", "s", STATS,
       "LL-HLS: how long each blocking playlist reload (`_HLS_msn`) waited for its answer, "
       "request sent to answer whole; about a part target at a healthy origin",
       _block_waits),
    _M("playlist_rps_per_viewer", "viewer", "rps", STATS,
       "LL-HLS: media playlist requests (blocking or not) per second sampled, per viewer",
       _origin("playlist_rps", "no LL-HLS viewer was sampled"), unit_doc="requests/s"),
    _M("requests_rps_per_viewer", "viewer", "rps", STATS,
       "LL-HLS: requests of every kind (playlist, part, preload hint, segment, init) per "
       "second sampled, per viewer", _origin("requests_rps", "no LL-HLS viewer was sampled"),
       unit_doc="requests/s"),
    _M("llhls_early_ratio", "viewer", "ratio", STATS,
       "LL-HLS: blocking reloads answered without the part asked for (the origin did not "
       "block) / blocking reloads, per viewer that made one",
       _origin("early_ratio", "no LL-HLS viewer made a blocking reload")),
    _M("api_latency_s", "API call", "s", STATS,
       "latency of each API call, any endpoint, failed calls included",
       _api_latency),
    _M("api_errors", "API call", "count", ("sum", "count", "rate"),
       "1 per failed API call (not 200, timeout, no answer), else 0",
       _api_errors, rate="failed API calls / API calls"),
)}
GRACE_METRICS = tuple(m.name for m in METRICS.values() if m.grace)
#: the LL-HLS viewers' metrics: absent (MetricData.absent) in a run without them
LLHLS_METRICS = ("requests_rps_per_viewer", "playlist_rps_per_viewer", "llhls_block_wait_s",
                 "llhls_early_ratio")


def describe_metrics() -> str:
    """The metric reference of docs/sla.md (Markdown), from the registry."""
    lines = ["| metric | one value per | unit | functions | grace | meaning |",
             "|---|---|---|---|---|---|"]
    for m in METRICS.values():
        unit = m.unit_doc or {"ratio": "fraction", "count": "count"}.get(m.unit, m.unit)
        lines.append(f"| `{m.name}` | {m.source} | {unit} | {', '.join(m.funcs)} | "
                     f"{'yes' if m.grace else ''} | {m.description} |")
    lines += ["", "`rate(X)` is X per opportunity:", ""]
    lines += [f"- `rate({m.name})` = {m.rate}" for m in METRICS.values() if m.rate]
    return "\n".join(lines) + "\n"


