"""SLA thresholds as small expressions: `FUNC(METRIC) OP NUMBER [UNIT] [after DURATION]`.

One registry, METRICS, says for every metric where it comes from in an Analysis,
its unit, which functions make sense for it and whether the ramp-up grace window
applies; docs/sla.md's metric table is generated from it (describe_metrics).

A metric without data (no publish clock, nothing after the grace window, ...) is
measured as None and fails with the reason: an SLA never passes silently.
"""

from __future__ import annotations

import difflib
import itertools
import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from streamperf.results.analysis import Analysis
from streamperf.results.verdict import Breach


class SlaError(ValueError):
    """A bad SLA expression or SLA configuration; the message is one line."""


# --- units ------------------------------------------------------------------------------

# A metric's base unit and the suffixes a limit may carry, as factors to that unit.
# "ratio" is a fraction (0.9 = 90%); "%" is already percent; "count" takes no suffix.
_SUFFIXES: dict[str, dict[str, float]] = {
    "s": {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0},
    "kbps": {"kbps": 1.0, "mbps": 1000.0},
    "ratio": {"%": 0.01},
    "%": {"%": 1.0},
    "count": {},
}
_DEFAULT_SHOWN = {"s": "s", "kbps": "kbps", "%": "%", "ratio": "", "count": ""}


def _num(v: float) -> str:
    """Short human figure: 0.875, 5.004, 2.41, 17.12, 1234."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def _with_unit(v: float, unit: str) -> str:
    if not unit:
        return _num(v)
    return f"{_num(v)}%" if unit == "%" else f"{_num(v)} {unit}"


# --- what a metric yields ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Data:
    """A metric's observations in one Analysis (after the grace window)."""

    values: np.ndarray  # float, NaN-free
    groups: np.ndarray  # who each value belongs to: viewer, endpoint or "at N s"
    why_empty: str = "no data"
    rate: tuple[float, float] | None = None  # numerator, denominator of rate()
    notes: Mapping[str, str] = field(default_factory=dict)  # extra words per group
    culprits: str | None = None  # replaces the per-group worst list
    per_call: bool = False  # groups hold many calls: show "k of n calls"


_EMPTY = np.array([], dtype=float)


def _data(values: pd.Series, groups: pd.Series, **kw: object) -> _Data:
    vals = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    keep = ~np.isnan(vals)
    return _Data(vals[keep], groups.astype(str).to_numpy()[keep], **kw)  # type: ignore[arg-type]


def _empty(why: str) -> _Data:
    return _Data(_EMPTY, np.array([], dtype=str), why)


def _start_t(a: Analysis) -> float:
    """Unix time the run began: the first row of the log, as the timeline's seconds count."""
    start = a.info.get("start_t")
    if start is not None:
        return float(start)
    # Older Analysis without start_t: the earliest first-media arrival (a little late).
    s = a.samples
    return float((s["t"] - s["rel_t"]).min()) if len(s) else 0.0


def _grace_why(grace_s: float, what: str) -> str:
    return f"no {what} after the first {grace_s:g} s (grace window)"


Extract = Callable[[Analysis, float], _Data]


def _viewers(col: str, why: str, *, media_only: bool = True, rate_over: str = "",
             notes: bool = False) -> Extract:
    """A per-viewer column of Analysis.viewers; rate_over: 'planned' or 'media'."""

    def extract(a: Analysis, grace_s: float) -> _Data:
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


NEVER_STARTED = "(never started)"


def _got_media(a: Analysis, grace_s: float) -> _Data:
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
    return _Data(values, groups, "no viewers planned", rate=(float(flags.sum()), len(values)),
                 notes=notes)


def _samples(col: str, why_nan: str) -> Extract:
    """A per-sample column of Analysis.samples (one row per viewer per second)."""

    def extract(a: Analysis, grace_s: float) -> _Data:
        s = a.samples
        if s.empty:
            return _empty("no media samples")
        if grace_s > 0:
            s = s[s["t"] >= _start_t(a) + grace_s]
            if s.empty:
                return _empty(_grace_why(grace_s, "media samples"))
        return _data(s[col], s["viewer"], why_empty=why_nan)

    return extract


def _lagged_viewers(a: Analysis, grace_s: float) -> str:
    """Who was lagged (after the grace window), longest drift first."""
    s = a.samples
    if s.empty:
        return ""
    if grace_s > 0:
        s = s[s["t"] >= _start_t(a) + grace_s]
    lag = s[s["drift_s"] > a.lag_threshold_s]
    per = lag.groupby("viewer")["drift_s"].agg(["max", "size"]).sort_values(
        "max", ascending=False)
    # Samples are 1 s apart, so the count of lagged samples is seconds lagged.
    shown = [f"{viewer} (drift {r['max']:.1f} s, {int(r['size'])} s lagged)"
             for viewer, r in per.head(5).iterrows()]
    return _join(shown, len(per))


def _timeline(kind: str) -> Extract:
    def extract(a: Analysis, grace_s: float) -> _Data:
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
        if s.empty or (s["t"] >= _start_t(a) + grace_s).sum() == 0:
            return _empty(_grace_why(grace_s, "media samples") if grace_s > 0 and len(s)
                          else "no media samples")
        culprits = _lagged_viewers(a, grace_s)
        if kind == "lagged":
            return _data(lagged, labels, rate=(float(lagged.sum()), float(connected.sum())),
                         culprits=culprits)
        some = connected > 0
        return _data(100 * lagged[some] / connected[some], labels[some], culprits=culprits)

    return extract


def _api_latency(a: Analysis, grace_s: float) -> _Data:
    rows = getattr(a, "api_rows", None)
    if rows is None or (len(rows) and "latency_s" not in rows):
        return _empty("per-call API latencies are not in this analysis (Analysis.api_rows)")
    if rows.empty:
        return _empty("no API calls")
    return _data(rows["latency_s"], rows["endpoint"], why_empty="no API calls")


def _api_errors(a: Analysis, grace_s: float) -> _Data:
    api = a.api
    if api.empty:
        return _empty("no API calls")
    calls = api["calls"].astype(int).to_numpy()
    errors = api["errors"].fillna(0).astype(int).to_numpy()
    # One 1/0 value per call so the generic functions see calls, not endpoints.
    values = np.concatenate([np.r_[np.ones(e), np.zeros(c - e)] for c, e in zip(calls, errors,
                                                                              strict=True)])
    groups = np.repeat(api["endpoint"].astype(str).to_numpy(), calls)
    return _Data(values, groups, "no API calls", rate=(float(errors.sum()), float(calls.sum())),
                 per_call=True)


# --- the registry ----------------------------------------------------------------------

STATS = ("mean", "min", "max", "pNN")
COUNTED = (*STATS, "sum", "count", "rate")
FUNCTIONS = ("mean", "min", "max", "sum", "count", "rate", "pNN")


@dataclass(frozen=True)
class Metric:
    name: str
    source: str  # viewer | sample | second | API call: what one value is
    unit: str  # a key of _SUFFIXES
    funcs: tuple[str, ...]  # "pNN" stands for every percentile
    description: str
    extract: Extract = field(repr=False, compare=False)
    grace: bool = False  # the ramp-up grace window applies
    rate: str = ""  # what rate() divides by what
    unit_doc: str = ""  # the unit as docs show it, when not the plain unit

    def allows(self, func: str) -> bool:
        return func in self.funcs or ("pNN" in self.funcs and _percentile(func) is not None)


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
       "t - (T0 + media_ts), per 1 s sample; needs the publish clock T0",
       _samples("latency_s", "no publish clock (publish_start row), so no latency"),
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
    _M("api_latency_s", "API call", "s", STATS,
       "latency of each API call, any endpoint, failed calls included",
       _api_latency),
    _M("api_errors", "API call", "count", ("sum", "count", "rate"),
       "1 per failed API call (not 200, timeout, no answer), else 0",
       _api_errors, rate="failed API calls / API calls"),
)}
GRACE_METRICS = tuple(m.name for m in METRICS.values() if m.grace)


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


# --- expressions ---------------------------------------------------------------------

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
OFF = "off"  # `FUNC(METRIC) off` removes that check (e.g. one of DEFAULT_SLA)


def _percentile(func: str) -> float | None:
    m = re.fullmatch(r"p(\d+(?:\.\d+)?)", func)
    return float(m.group(1)) if m else None


def _compare(op: str, measured: float, limit: float) -> bool:
    # Figures computed in floating point: 0.8999999999 must still meet ">= 0.9".
    if math.isclose(measured, limit, rel_tol=1e-9, abs_tol=1e-12):
        measured = limit
    return OPERATORS[op](measured, limit)


@dataclass(frozen=True)
class Threshold:
    text: str
    func: str  # mean min max sum count rate, or pNN normalised ("p95", "p99.9")
    metric: str
    op: str  # one of OPERATORS, or OFF
    limit: float  # in the metric's base unit (seconds, kbps, fraction, percent, count)
    unit: str = ""  # the suffix written after the number, used to show figures
    after_s: float | None = None  # per-expression grace window

    @property
    def key(self) -> tuple[str, str]:
        return self.func, self.metric

    @property
    def value_unit(self) -> str:
        """Unit of the function's result: count -> count, rate -> fraction."""
        return {"count": "count", "rate": "ratio"}.get(self.func, METRICS[self.metric].unit)

    def _shown(self) -> tuple[float, str]:
        """Factor and suffix to show figures in: the one the user wrote, or the default."""
        kind = self.value_unit
        if self.unit:
            return _SUFFIXES[kind][self.unit.lower()], self.unit
        return 1.0, _DEFAULT_SHOWN[kind]

    def show(self, value: float) -> str:
        factor, unit = self._shown()
        return _with_unit(value / factor, unit)

    @property
    def limit_text(self) -> str:
        return f"{self.op} {self.show(self.limit)}"

    def grace_for(self, grace_s: float) -> float:
        if not METRICS[self.metric].grace:
            return 0.0
        return self.after_s if self.after_s is not None else grace_s

    def check(self, analysis: Analysis, grace_s: float = 0.0) -> Verdict:
        """Judge this threshold; grace_s skips the run's first seconds for time series."""
        if self.op == OFF:
            return Verdict(self, None, True, "off")
        g = self.grace_for(grace_s)
        return self._judge(METRICS[self.metric].extract(analysis, g), g)

    def _judge(self, data: _Data, grace_s: float) -> Verdict:
        detail = ""
        measured: float | None
        if self.func == "rate":
            if data.rate is None or not data.rate[1]:
                return Verdict(self, None, False, f"no data: {data.why_empty}", grace_s)
            num, den = data.rate
            measured, detail = num / den, f"{_num(num)} of {_num(den)}"
        elif not len(data.values):
            return Verdict(self, None, False, f"no data: {data.why_empty}", grace_s)
        else:
            measured = _aggregate(self.func, data.values)
        passed = _compare(self.op, measured, self.limit)
        return Verdict(self, measured, passed, self._worst(data), grace_s, detail)

    def _worst(self, data: _Data) -> str:
        """The (up to) 5 groups that did most against this threshold, with their values."""
        if data.culprits is not None:
            return data.culprits
        if not len(data.values):
            return ""
        grouped = pd.Series(data.values).groupby(data.groups, sort=False)
        f = self.func
        q = _percentile(f)
        counted = f in ("sum", "count", "rate")
        if counted:
            per = grouped.sum()
        elif q is not None:
            per = grouped.quantile(q / 100)
        else:
            per = grouped.agg(f)
        if self.op in ("==", "!="):
            # Counted: who contributed; else: who misses the limit on their own.
            keep = per != 0 if counted else ~per.map(lambda x: _compare(self.op, x, self.limit))
            per = per[keep].iloc[np.argsort(-(per[keep] - self.limit).abs().to_numpy(),
                                            kind="stable")]
        else:
            upper = self.op in ("<", "<=")
            per = per.sort_values(ascending=not upper, kind="stable")
            if f in ("min", "max"):  # who misses the limit on their own
                per = per[~per.map(lambda x: _compare(self.op, x, self.limit))]
            elif counted and upper:  # who contributed
                per = per[per != 0]
            elif f in ("count", "rate"):  # count/rate >= N: the ones with none are to blame
                per = per[per == 0]
        sizes = grouped.size()
        shown = []
        for name, value in per.head(5).items():
            if data.per_call and counted:
                text = f"{int(value)} of {int(sizes[name])} calls"
            elif f in ("count", "rate"):  # the group's own count, not a fraction
                text = _num(float(value))
            else:
                text = self.show(float(value))
            note = data.notes.get(str(name))
            shown.append(f"{name} ({text}, {note})" if note else f"{name} ({text})")
        # "+N more" only where the list is a set (who breached, who contributed).
        ranked_only = not counted and f not in ("min", "max") and self.op not in ("==", "!=")
        return _join(shown, len(shown) if ranked_only else len(per))

    def __str__(self) -> str:
        if self.op == OFF:
            return f"{self.func}({self.metric}) off"
        after = f" after {_num(self.after_s)} s" if self.after_s is not None else ""
        return f"{self.func}({self.metric}) {self.limit_text}{after}"


def _join(shown: list[str], total: int) -> str:
    more = f" (+{total - len(shown)} more)" if total > len(shown) else ""
    return ", ".join(shown) + more


def _aggregate(func: str, values: np.ndarray) -> float:
    if func == "count":  # counted metrics only: entities where X > 0
        return float(np.count_nonzero(values))
    if func in ("mean", "min", "max", "sum"):
        return float(getattr(np, func)(values))
    q = _percentile(func)
    assert q is not None  # parse() admits nothing else
    return float(np.percentile(values, q))  # linear, as Analysis.summary()


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    measured: float | None  # in the metric's base unit; None: no data
    passed: bool
    worst: str  # the worst viewers/endpoints/seconds with their values, or why no data
    grace_s: float = 0.0  # the grace window that applied
    detail: str = ""  # rate(): "k of n"

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return "no data"
        text = self.threshold.show(self.measured)
        if self.detail:
            text += f" ({self.detail})"
        if self.grace_s > 0:
            text += f" after the first {_num(self.grace_s)} s"
        return text

    def as_breach(self) -> Breach:
        th = self.threshold
        return Breach(th.text, self.measured_text, th.limit_text, self.worst)

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.as_breach()}"


# --- parsing ---------------------------------------------------------------------------

_HEAD = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\(\s*([^()\s]*)\s*\)\s*")
_OP = re.compile(r"(<=|>=|==|!=|<|>)\s*")
_NUMBER = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*")
_UNIT = re.compile(r"(%|[A-Za-z]+)\s*")
_AFTER = re.compile(r"after\s+(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_FORM = "expected FUNC(METRIC) OP NUMBER, e.g. 'p95(startup_s) < 3'"


def parse(text: str) -> Threshold:
    """'p95(startup_s) < 3s' -> Threshold; anything else -> SlaError naming the bad part."""

    def fail(why: str) -> SlaError:
        return SlaError(f"SLA {text!r}: {why}")

    head = _HEAD.match(text)
    if not head:
        raise fail(f"malformed expression, {_FORM}")
    func, metric = head.group(1), head.group(2)
    q = _percentile(func)
    if q is not None:
        if not 0 < q < 100:
            raise fail(f"percentile {func!r} out of range: use pNN with 0 < NN < 100 "
                       "(or min/max)")
        func = f"p{q:g}"
    elif func not in FUNCTIONS:
        raise fail(f"unknown function {func!r} (known: {', '.join(FUNCTIONS)} e.g. p95)")
    if metric not in METRICS:
        close = difflib.get_close_matches(metric, METRICS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"unknown metric {metric!r} ({hint}known: {', '.join(METRICS)})")
    m = METRICS[metric]
    if not m.allows(func):
        raise fail(f"function {func!r} does not apply to {metric} (use: {', '.join(m.funcs)})")
    pos = head.end()
    rest = text[pos:]
    if re.fullmatch(r"off\s*", rest):
        return Threshold(text.strip(), func, metric, OFF, 0.0)
    op = _OP.match(text, pos)
    if not op:
        raise fail(f"malformed expression, expected an operator (< <= > >= == !=) after "
                   f"'{func}({metric})', got {rest.strip()!r}; {_FORM}")
    number = _NUMBER.match(text, op.end())
    if not number:
        raise fail(f"malformed expression, expected a number after {op.group(1)!r}, got "
                   f"{text[op.end():].strip()!r}; {_FORM}")
    pos = number.end()
    th = Threshold(text.strip(), func, metric, op.group(1), float(number.group(1)))
    unit = _UNIT.match(text, pos)
    if unit and unit.group(1) != "after":
        pos = unit.end()
        suffixes = _SUFFIXES[th.value_unit]
        if unit.group(1).lower() not in suffixes:
            kind = {"ratio": "a fraction", "count": "a count", "%": "a percentage",
                    "s": "seconds"}.get(th.value_unit, th.value_unit)
            allowed = f"use a plain number or {', '.join(suffixes)}" if suffixes else (
                "use a plain number")
            raise fail(f"unit {unit.group(1)!r} does not fit {func}({metric}), {kind}; "
                       f"{allowed}")
        factor = suffixes[unit.group(1).lower()]
        th = Threshold(th.text, func, metric, th.op, th.limit * factor, unit.group(1))
    after_s = None
    if text[pos:].strip():
        after = _AFTER.match(text, pos)
        if not after:
            raise fail(f"malformed expression, unexpected {text[pos:].strip()!r} after the "
                       f"number (only 'after DURATION' may follow); {_FORM}")
        if not m.grace:
            raise fail(f"'after' applies only to time-series metrics "
                       f"({', '.join(GRACE_METRICS)}), not {metric}")
        after_s = float(after.group(1)) * _SUFFIXES["s"][after.group(2) or "s"]
    return Threshold(th.text, func, metric, th.op, th.limit, th.unit, after_s)


def parse_all(texts: Iterable[str]) -> list[Threshold]:
    """Parse and merge: a later FUNC(METRIC) replaces an earlier one in its place;
    `FUNC(METRIC) off` removes it."""
    if isinstance(texts, str):  # one expression, not its characters
        texts = [texts]
    merged: dict[tuple[str, str], Threshold] = {}
    for text in texts:
        th = parse(text)
        merged[th.key] = th
    return [th for th in merged.values() if th.op != OFF]


#: Today's verdict.py checks as expressions. max(lagged) follows --lag-threshold.
DEFAULT_SLA: tuple[str, ...] = (
    "min(got_media) >= 1",  # every planned viewer got video
    "p95(startup_s) <= 5",
    "max(lagged) == 0",  # no viewer's drift over the lag threshold (after the grace window)
    "min(bitrate_ratio) >= 0.9",
    "count(errors) == 0",  # no viewer had an error
    "rate(api_errors) <= 1%",
)

#: Join storm allowance on top of the ramp: API journey plus a slow first frame.
STARTUP_ALLOWANCE_S = 10.0


def default_grace_s(users: int, ramp_s: float, duration_s: float | None = None,
                    allowance_s: float = STARTUP_ALLOWANCE_S) -> float:
    """The ramp (last fan joins (users-1) * ramp_s in) plus the startup allowance,
    which never takes more than half of what the last fan watches: a short run
    still has seconds left to judge."""
    if duration_s is not None:
        allowance_s = min(allowance_s, duration_s / 2)
    return max(users - 1, 0) * ramp_s + allowance_s


def resolve(*layers: Iterable[str], defaults: Iterable[str] = DEFAULT_SLA) -> list[Threshold]:
    """DEFAULT_SLA, then each layer in order (pyproject, --sla, markers), later winning."""
    return parse_all(itertools.chain(defaults, *layers))


def load_pyproject(path: Path) -> list[str]:
    """`[tool.streamperf] sla = [...]` of a pyproject.toml; [] when file or key is absent."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SlaError(f"{path}: not valid TOML: {e}") from None
    tool = doc.get("tool", {}).get("streamperf", {})
    sla = tool.get("sla") if isinstance(tool, dict) else None
    if sla is None:
        return []
    if isinstance(sla, str):
        sla = [sla]
    if not isinstance(sla, list) or not all(isinstance(s, str) for s in sla):
        raise SlaError(f'{path}: [tool.streamperf] sla must be a list of strings, '
                       f'e.g. sla = ["p95(startup_s) < 3"]')
    for text in sla:  # a bad expression names the file it came from
        try:
            parse(text)
        except SlaError as e:
            raise SlaError(f"{path}: [tool.streamperf] {e}") from None
    return list(sla)


def evaluate(analysis: Analysis, thresholds: Iterable[Threshold | str],
             grace_s: float = 0.0) -> list[Verdict]:
    """One Verdict per threshold, in order (OFF thresholds are skipped)."""
    cache: dict[tuple[str, float], _Data] = {}
    out = []
    for th in thresholds:
        if isinstance(th, str):
            th = parse(th)
        if th.op == OFF:
            continue
        g = th.grace_for(grace_s)
        if (th.metric, g) not in cache:
            cache[th.metric, g] = METRICS[th.metric].extract(analysis, g)
        out.append(th._judge(cache[th.metric, g], g))
    return out


def breaches(verdicts: Iterable[Verdict]) -> list[Breach]:
    return [v.as_breach() for v in verdicts if not v.passed]


def measure(analysis: Analysis, func: str, metric: str, grace_s: float = 0.0) -> float | None:
    """FUNC(METRIC) of an Analysis, None without data (as the baselines' figures)."""
    return parse(f"{func}({metric}) >= 0").check(analysis, grace_s).measured
