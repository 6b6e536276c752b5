"""The judge: the one place a run's verdict is decided.

An analysed run plus what it is judged against (a Basis: thresholds and where
each came from, grace window, lag threshold, baseline and tolerances, why the
run is invalid, whether it was interrupted) gives one Verdict: PASS, FAIL,
INVALID or INTERRUPTED, with its breaches. The pytest run, `streamperf
summary`, `streamperf report`, the HTML report, the terminal table and the
JUnit properties only show what the Verdict says.

summary.json records the Basis (`judged_against`) and the Verdict, so a run
directory can be judged again later exactly as the run was.

No data is not a breach when nobody asked for it: a default threshold over a
metric without data (no API calls, unknown source bitrate) is not applicable;
a threshold the user set (pyproject, --sla, marker) fails saying there was none.
A default over what the run has none of (the LL-HLS defaults in a run without
LL-HLS viewers: MetricData.absent) is not applicable without being listed: every
plain run would otherwise carry those lines.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from streamperf.results.analysis.figures import Analysis, analyse
from streamperf.results.analysis.validity import invalid_reason
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import EventLog
from streamperf.results.judging.baseline import compare, parse_tolerances
from streamperf.results.judging.breach import Breach
from streamperf.results.judging.sla import (
    DEFAULT_SLA,
    OFF,
    Check,
    Threshold,
    default_grace_s,
    evaluate,
    parse,
)

PASS, FAIL, INVALID, INTERRUPTED = "PASS", "FAIL", "INVALID", "INTERRUPTED"
#: `streamperf summary` / `report` exit status per word; 2 stays "bad input".
EXIT_CODES = {PASS: 0, FAIL: 1, INVALID: 3, INTERRUPTED: 3}
DEFAULT = "default"  # the source of a DEFAULT_SLA threshold nobody overrode


@dataclass(frozen=True)
class Rule:
    """A threshold in force and where it came from: default, pyproject, --sla, marker."""

    expr: str
    source: str = DEFAULT

    @property
    def threshold(self) -> Threshold:
        return parse(self.expr)

    @property
    def explicit(self) -> bool:
        return self.source != DEFAULT


def rules(*layers: tuple[str, Iterable[str]],
          defaults: Iterable[str] = DEFAULT_SLA) -> list[Rule]:
    """DEFAULT_SLA then each (source, expressions) layer; a later FUNC(METRIC) replaces an
    earlier one in its place, `off` removes it (as sla.resolve, keeping the source)."""
    merged: dict[tuple[str, str], tuple[Threshold, str]] = {}
    for source, texts in ((DEFAULT, defaults), *layers):
        if isinstance(texts, str):
            texts = [texts]
        for text in texts:
            th = parse(text)
            merged[th.key] = (th, source)
    return [Rule(th.text, source) for th, source in merged.values() if th.op != OFF]


@dataclass(frozen=True)
class Basis:
    """Everything a run is judged against besides its event log."""

    rules: tuple[Rule, ...] = field(default_factory=lambda: tuple(rules()))
    grace_s: float = 0.0
    lag_threshold_s: float = 3.0
    planned: int | None = None  # viewers planned; None: those seen in the log
    source_kbps: float | None = None  # an override for logs without it (seed logs)
    baseline: Mapping[str, Any] | None = None  # {"name", "figures"} as load_baseline gives
    baseline_tolerance: str = "20%"
    invalid: str | None = None  # why the figures cannot be trusted
    interrupted: bool = False

    @property
    def thresholds(self) -> list[Threshold]:
        return [r.threshold for r in self.rules]

    def to_json(self) -> dict[str, Any]:
        base = None
        if self.baseline is not None:  # only what compare() reads: name and figures
            base = {"name": self.baseline.get("name"),
                    "figures": dict(self.baseline.get("figures") or {})}
        return {
            "thresholds": [{"expr": r.expr, "source": r.source} for r in self.rules],
            "grace_s": self.grace_s,
            "lag_threshold_s": self.lag_threshold_s,
            "planned": self.planned,
            "source_kbps": self.source_kbps,
            "baseline": base,
            "baseline_tolerance": self.baseline_tolerance,
            "invalid": self.invalid,
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Basis:
        """The record in summary.json; ValueError (one line) when it is not one."""
        try:
            rs = tuple(Rule(str(t["expr"]), str(t.get("source", DEFAULT)))
                       for t in data["thresholds"])
            for r in rs:
                r.threshold  # noqa: B018  # a bad expression in the record is bad input
            basis = cls(
                rules=rs,
                grace_s=float(data.get("grace_s") or 0.0),
                lag_threshold_s=float(data.get("lag_threshold_s") or 3.0),
                planned=None if data.get("planned") is None else int(data["planned"]),
                source_kbps=(None if data.get("source_kbps") is None
                             else float(data["source_kbps"])),
                baseline=data.get("baseline"),
                baseline_tolerance=str(data.get("baseline_tolerance") or "20%"),
                invalid=data.get("invalid") or None,
                interrupted=bool(data.get("interrupted")),
            )
            # NaN would switch the lag check off; inf would break every chart.
            for name, value, least in (("grace_s", basis.grace_s, 0.0),
                                       ("lag_threshold_s", basis.lag_threshold_s, None),
                                       ("source_kbps", basis.source_kbps, None)):
                if value is not None and not (math.isfinite(value) and (
                        value >= least if least is not None else value > 0)):
                    raise ValueError(f"{name} {value} is not a "
                                     f"{'positive' if least is None else 'non-negative'} "
                                     "finite number")
            return basis
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a streamperf judgement record: {exc}") from None

    def with_sla(self, extra: Sequence[str], source: str = "--sla") -> Basis:
        """The same basis with `extra` thresholds layered on top (a re-judgement)."""
        merged = rules(*((r.source, [r.expr]) for r in self.rules), (source, extra),
                       defaults=())
        return replace(self, rules=tuple(merged))


@dataclass(frozen=True)
class Verdict:
    word: str  # PASS, FAIL, INVALID, INTERRUPTED
    breaches: tuple[Breach, ...] = ()
    invalid: str | None = None
    not_applicable: tuple[str, ...] = ()  # "EXPR: why" of default thresholds without data
    checks: tuple[Check, ...] = ()  # every threshold's outcome (summary.json "sla")

    @property
    def passed(self) -> bool:
        return self.word == PASS

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.word]

    @property
    def reason(self) -> str:
        """One line on why the word: the banner's subtitle."""
        if self.word == INTERRUPTED:
            return "the run was interrupted before its end"
        if self.word == INVALID:
            return self.invalid or "the run's figures cannot be trusted"
        n = len(self.breaches)
        if n:
            return f"{n} SLA check{'s' * (n != 1)} breached"
        return "every SLA check held"

    @property
    def headline(self) -> str:
        """The word as the terminal prints it: `FAIL (2 breached)`."""
        return f"FAIL ({len(self.breaches)} breached)" if self.word == FAIL else self.word

    def to_json(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "breaches": [vars(b).copy() for b in self.breaches],
            "invalid": self.invalid,
            "not_applicable": list(self.not_applicable),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """A recorded verdict (summary.json `verdict`), to show it again."""
        return cls(str(data["word"]),
                   tuple(Breach(**b) for b in data.get("breaches") or ()),
                   data.get("invalid"), tuple(data.get("not_applicable") or ()))


def judge(analysis: Analysis, basis: Basis) -> Verdict:
    """The verdict on an analysed run (analysed with basis.lag_threshold_s)."""
    if analysis.lag_threshold_s != basis.lag_threshold_s:
        raise ValueError(f"analysed with lag threshold {analysis.lag_threshold_s:g} s, "
                         f"judged with {basis.lag_threshold_s:g} s")
    checks = evaluate(analysis, basis.thresholds, basis.grace_s)
    breaches: list[Breach] = []
    not_applicable: list[str] = []
    for rule, check in zip(basis.rules, checks, strict=True):
        if check.passed:
            continue
        if check.measured is None and not rule.explicit:
            if not check.absent:
                not_applicable.append(f"{rule.expr}: {check.worst}")
        else:
            breaches.append(check.as_breach())
    if basis.baseline is not None:
        breaches += compare(analysis, basis.baseline, parse_tolerances(basis.baseline_tolerance))
    word = (INTERRUPTED if basis.interrupted else INVALID if basis.invalid
            else FAIL if breaches else PASS)
    return Verdict(word, tuple(breaches), basis.invalid, tuple(not_applicable), tuple(checks))


def analyse_for(log: EventLog | pd.DataFrame, basis: Basis) -> Analysis:
    """The analysis a basis judges: its lag threshold, planned viewers, source bitrate."""
    return analyse(log, basis.lag_threshold_s, planned=basis.planned,
                   source_kbps_override=basis.source_kbps)


def log_basis(df: pd.DataFrame, settings: Mapping[str, Any] | None = None,
              publisher_log: str = "") -> Basis:
    """A log without a record (events.csv alone, a seed log): the default thresholds,
    the grace window and lag threshold of its logged settings, validity from the log."""
    s = settings or {}
    grace = 0.0
    # Without logged settings (seed logs) the whole run is judged.
    with contextlib.suppress(KeyError, TypeError, ValueError):
        grace = default_grace_s(int(s["users"]), float(s["ramp_s"]),
                                None if s.get("duration_s") is None else float(s["duration_s"]))
    lag = float(s.get("lag_threshold_s") or 3.0)
    if not (math.isfinite(lag) and lag > 0) or not math.isfinite(grace):
        raise ValueError(f"the logged settings' lag threshold ({lag}) or grace window "
                         f"({grace}) is not a finite number")
    ends = df.loc[df["event"] == ev.RUN_END, "name"]
    return Basis(grace_s=grace, lag_threshold_s=lag,
                 invalid=invalid_reason(df, publisher_log),
                 interrupted=bool(len(ends)) and str(ends.iloc[-1]) != "done")


def recorded_basis(summary: Mapping[str, Any]) -> Basis:
    """What a run was judged against, from its summary.json (ValueError: not usable)."""
    if isinstance(summary.get("judged_against"), Mapping):
        return Basis.from_json(summary["judged_against"])
    # An older summary.json: its thresholds and flags; where each came from is unknown.
    settings = summary.get("settings") or {}
    return Basis.from_json({
        "thresholds": [{"expr": c["threshold"], "source": "recorded"}
                       for c in summary.get("sla") or ()],
        "grace_s": summary.get("grace_s"), "lag_threshold_s": settings.get("lag_threshold_s"),
        "invalid": summary.get("invalid"), "interrupted": summary.get("interrupted"),
    })


def check_records(verdict: Verdict, basis: Basis) -> list[dict[str, Any]]:
    """summary.json's `sla` list: each threshold, its source, measured, passed, n/a."""
    out = []
    for rule, check in zip(basis.rules, verdict.checks, strict=True):
        na = not check.passed and check.measured is None and not rule.explicit
        out.append({"threshold": rule.expr, "source": rule.source, "measured": check.measured,
                    "passed": check.passed or na, "applicable": not na, "worst": check.worst})
    return out
