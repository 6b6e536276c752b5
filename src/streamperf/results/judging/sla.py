"""SLA thresholds as small expressions: `FUNC(METRIC) OP NUMBER [UNIT] [after DURATION]`.

One registry, METRICS, says for every metric where it comes from in an Analysis,
its unit, which functions make sense for it and whether the ramp-up grace window
applies; docs/sla.md's metric table is generated from it (describe_metrics).

A metric without data (no publish clock, nothing after the grace window, ...) is
measured as None and does not pass, with the reason; judge.py decides what that
means for the run (a breach, or not applicable for an untouched default).
"""

from __future__ import annotations

import difflib
import itertools
import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from streamperf.results.analysis.figures import Analysis
from streamperf.results.formatting import compact, with_unit
from streamperf.results.judging.breach import Breach
from streamperf.results.judging.metrics import (
    DEFAULT_SHOWN,
    FUNCTIONS,
    GRACE_METRICS,
    METRICS,
    SUFFIXES,
    MetricData,
    join_shown,
    percentile_of,
)


class SlaError(ValueError):
    """A bad SLA expression or SLA configuration; the message is one line."""


# --- expressions ---------------------------------------------------------------------

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
OFF = "off"  # `FUNC(METRIC) off` removes that check (e.g. one of DEFAULT_SLA)




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
            return SUFFIXES[kind][self.unit.lower()], self.unit
        return 1.0, DEFAULT_SHOWN[kind]

    def show(self, value: float) -> str:
        factor, unit = self._shown()
        return with_unit(value / factor, unit)

    @property
    def limit_text(self) -> str:
        return f"{self.op} {self.show(self.limit)}"

    def grace_for(self, grace_s: float) -> float:
        if not METRICS[self.metric].grace:
            return 0.0
        return self.after_s if self.after_s is not None else grace_s

    def check(self, analysis: Analysis, grace_s: float = 0.0) -> Check:
        """Judge this threshold; grace_s skips the run's first seconds for time series."""
        if self.op == OFF:
            return Check(self, None, True, "off")
        g = self.grace_for(grace_s)
        return self._judge(METRICS[self.metric].extract(analysis, g), g)

    def _judge(self, data: MetricData, grace_s: float) -> Check:
        detail = ""
        measured: float | None
        if self.func == "rate":
            if data.rate is None or not data.rate[1]:
                return Check(self, None, False, f"no data: {data.why_empty}", grace_s,
                             absent=data.absent)
            num, den = data.rate
            measured, detail = num / den, f"{compact(num)} of {compact(den)}"
        elif not len(data.values):
            return Check(self, None, False, f"no data: {data.why_empty}", grace_s,
                         absent=data.absent)
        else:
            measured = _aggregate(self.func, data.values)
        passed = _compare(self.op, measured, self.limit)
        return Check(self, measured, passed, self._worst(data), grace_s, detail)

    def _worst(self, data: MetricData) -> str:
        """The (up to) 5 groups that did most against this threshold, with their values."""
        if data.culprits is not None:
            return data.culprits
        if not len(data.values):
            return ""
        grouped = pd.Series(data.values).groupby(data.groups, sort=False, observed=True)
        f = self.func
        q = percentile_of(f)
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
                text = compact(float(value))
            else:
                text = self.show(float(value))
            note = data.notes.get(str(name))
            shown.append(f"{name} ({text}, {note})" if note else f"{name} ({text})")
        # "+N more" only where the list is a set (who breached, who contributed).
        ranked_only = not counted and f not in ("min", "max") and self.op not in ("==", "!=")
        return join_shown(shown, len(shown) if ranked_only else len(per))

    def __str__(self) -> str:
        if self.op == OFF:
            return f"{self.func}({self.metric}) off"
        after = f" after {compact(self.after_s)} s" if self.after_s is not None else ""
        return f"{self.func}({self.metric}) {self.limit_text}{after}"


def _aggregate(func: str, values: np.ndarray) -> float:
    if func == "count":  # counted metrics only: entities where X > 0
        return float(np.count_nonzero(values))
    if func in ("mean", "min", "max", "sum"):
        return float(getattr(np, func)(values))
    q = percentile_of(func)
    assert q is not None  # parse() admits nothing else
    return float(np.percentile(values, q))  # linear, as Analysis.summary()


@dataclass(frozen=True)
class Check:
    threshold: Threshold
    measured: float | None  # in the metric's base unit; None: no data
    passed: bool
    worst: str  # the worst viewers/endpoints/seconds with their values, or why no data
    grace_s: float = 0.0  # the grace window that applied
    detail: str = ""  # rate(): "k of n"
    absent: bool = False  # no data: the run has none of what it is about (MetricData.absent)

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return "no data"
        text = self.threshold.show(self.measured)
        if self.detail:
            text += f" ({self.detail})"
        if self.grace_s > 0:
            text += f" after the first {compact(self.grace_s)} s"
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
        shown = text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"
        return SlaError(f"SLA {shown!r}: {why}")

    head = _HEAD.match(text)
    if not head:
        raise fail(f"malformed expression, {_FORM}")
    func, metric = head.group(1), head.group(2)
    q = percentile_of(func)
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
    if not math.isfinite(float(number.group(1))):
        raise fail(f"number {number.group(1)[:40]!r} is out of range (too large for a float)")
    th = Threshold(text.strip(), func, metric, op.group(1), float(number.group(1)))
    unit = _UNIT.match(text, pos)
    if unit and unit.group(1) != "after":
        pos = unit.end()
        suffixes = SUFFIXES[th.value_unit]
        if unit.group(1).lower() not in suffixes:
            kind = {"ratio": "a fraction", "count": "a count", "%": "a percentage",
                    "s": "seconds", "rps": "requests per second"}.get(th.value_unit,
                                                                       th.value_unit)
            allowed = f"use a plain number or {', '.join(suffixes)}" if suffixes else (
                "use a plain number")
            raise fail(f"unit {unit.group(1)!r} does not fit {func}({metric}), {kind}; "
                       f"{allowed}")
        factor = suffixes[unit.group(1).lower()]
        if not math.isfinite(th.limit * factor):
            raise fail(f"{number.group(1)[:40]} {unit.group(1)} is out of range "
                       "(too large for a float)")
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
        after_s = float(after.group(1)) * SUFFIXES["s"][after.group(2) or "s"]
        if not math.isfinite(after_s):
            raise fail(f"'after {after.group(1)[:40]}' is out of range (too large for a float)")
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


#: The checks every run gets unless overridden. max(lagged) follows --lag-threshold.
DEFAULT_SLA: tuple[str, ...] = (
    "min(got_media) >= 1",  # every planned viewer got video
    "p95(startup_s) <= 5",
    "max(lagged) == 0",  # no viewer's drift over the lag threshold (after the grace window)
    "min(bitrate_ratio) >= 0.9",
    "count(errors) == 0",  # no viewer had an error
    "rate(api_errors) <= 1%",
    # LL-HLS viewers only (none in a run without them: not applicable, unlisted); sized for
    # part targets of about 1/3 s (docs/sla.md "The defaults" says why)
    "p95(llhls_block_wait_s) < 1s",  # a blocking reload answered as its part comes
    "max(playlist_rps_per_viewer) <= 6.1",  # at most 2 playlist requests a 0.334 s part
    "max(requests_rps_per_viewer) <= 12.1",  # at most 4 requests of any kind a part
    "max(llhls_early_ratio) < 0.25",  # the origin blocks: a reload storm reads about 0.5
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
             grace_s: float = 0.0) -> list[Check]:
    """One Check (its outcome) per threshold, in order (OFF thresholds are skipped)."""
    cache: dict[tuple[str, float], MetricData] = {}
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


def breaches(checks: Iterable[Check]) -> list[Breach]:
    return [c.as_breach() for c in checks if not c.passed]


def measure(analysis: Analysis, func: str, metric: str, grace_s: float = 0.0) -> float | None:
    """FUNC(METRIC) of an Analysis, None without data (as the baselines' figures)."""
    return parse(f"{func}({metric}) >= 0").check(analysis, grace_s).measured
