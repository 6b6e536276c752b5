"""Baselines: store a run's headline figures, fail a later run that regresses on them.

Each figure is an SLA aggregate (results/judging/sla.py), so it means exactly what the
same expression means in an SLA. A regression is a change in the bad direction
by more than max(tolerance x |baseline|, floor): the floor keeps near-zero
figures (0.1% -> 0.2% API errors) from counting as 100% regressions.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamperf import __version__
from streamperf.results.analysis.figures import Analysis
from streamperf.results.judging.breach import Breach
from streamperf.results.judging.sla import measure


class BaselineError(ValueError):
    """A missing or unreadable baseline, or a bad tolerance; one line."""


DEFAULT_TOLERANCE = 0.2
STORE = Path(".streamperf") / "baselines"  # under the project root (the pytest rootdir)
FORMAT = 1


@dataclass(frozen=True)
class Figure:
    name: str
    func: str
    metric: str
    lower_is_better: bool
    floor: float  # smallest worsening that counts, in the figure's unit
    unit: str  # "s", "%" (a fraction shown as percent) or "" (plain)

    @property
    def expr(self) -> str:
        return f"{self.func}({self.metric})"

    def show(self, v: float) -> str:
        if self.unit == "%":
            return f"{v:.2%}"
        text = f"{v:.4g}"
        return f"{text} s" if self.unit == "s" else text


FIGURES: dict[str, Figure] = {f.name: f for f in (
    Figure("startup_p95_s", "p95", "startup_s", True, 0.25, "s"),
    Figure("latency_p95_s", "p95", "latency_s", True, 0.25, "s"),
    # Drift reads up to 200 ms late (read batching) and is sampled once a second.
    Figure("max_drift_s", "max", "drift_s", True, 0.5, "s"),
    Figure("stalls_per_viewer", "mean", "stalls", True, 0.05, ""),
    Figure("rebuffer_ratio_mean", "mean", "rebuffer_ratio", True, 0.005, "%"),
    Figure("api_error_rate", "rate", "api_errors", True, 0.005, "%"),
    Figure("api_latency_p95_s", "p95", "api_latency_s", True, 0.05, "s"),
    Figure("bitrate_ratio_mean", "mean", "bitrate_ratio", False, 0.02, ""),
    Figure("media_share", "rate", "got_media", False, 0.01, "%"),
)}


def figures(analysis: Analysis) -> dict[str, float | None]:
    """The baseline figures of a run (whole run, no grace window); None: no data."""
    return {name: measure(analysis, f.func, f.metric) for name, f in FIGURES.items()}


def baseline_path(name_or_path: str, store_dir: Path) -> Path:
    """A name ([A-Za-z0-9_.-]+) lives in store_dir; anything with / or .json is a file."""
    if "/" in name_or_path or name_or_path.endswith(".json"):
        return Path(name_or_path)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name_or_path):
        raise BaselineError(f"baseline {name_or_path!r}: use a name of letters, digits, _ . - "
                            "or a path to a .json file")
    return Path(store_dir) / f"{name_or_path}.json"


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def save_baseline(name_or_path: str, summary: Mapping[str, Any] | Analysis,
                  store_dir: Path) -> Path:
    """Write {name, saved_at, figures, summary} as JSON; summary is
    `{**analysis.summary(), **figures(analysis)}` (or give the Analysis itself)."""
    if isinstance(summary, Analysis):
        summary = {**summary.summary(), **figures(summary)}
    path = baseline_path(name_or_path, store_dir)
    doc = {
        "streamperf_baseline": FORMAT,
        "name": path.stem,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "streamperf": __version__,
        "figures": {name: _plain(summary.get(name)) for name in FIGURES},
        "summary": _plain(dict(summary)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # never leave half a baseline behind
    return path


def load_baseline(name_or_path: str, store_dir: Path) -> dict[str, Any]:
    path = baseline_path(name_or_path, store_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f" (save one with --save-baseline {name_or_path})" if path.parent == Path(
            store_dir) else ""
        raise BaselineError(f"baseline {name_or_path!r} not found: no file {path}{hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"baseline {path}: not readable JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("figures", {}), dict):
        raise BaselineError(f"baseline {path}: not a streamperf baseline")
    doc.setdefault("name", path.stem)
    return doc


def parse_tolerances(text: str) -> dict[str, float]:
    """'20%' -> {'*': 0.2}; '15%,startup_p95_s=30%' -> {'*': 0.15, 'startup_p95_s': 0.3}."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, value = part.rpartition("=")
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", value)
        if not m:
            raise BaselineError(f"tolerance {part!r}: not a percentage (use e.g. 20% or "
                                "startup_p95_s=30%)")
        name = name.strip() if sep else "*"
        if name != "*" and name not in FIGURES:
            raise BaselineError(f"tolerance {part!r}: unknown figure {name!r} "
                                f"(known: {', '.join(FIGURES)})")
        out[name] = float(m.group(1)) / 100
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def compare(current: Analysis | Mapping[str, Any], baseline: Mapping[str, Any],
            tolerances: Mapping[str, float] | None = None) -> list[Breach]:
    """Regressions of `current` against `baseline` (a load_baseline() dict or flat figures).

    Figures the baseline lacks are skipped; a figure the baseline has and the
    current run lacks is a breach ("no data"), never a silent pass.
    """
    tol = dict(tolerances or {})
    unknown = set(tol) - set(FIGURES) - {"*"}
    if unknown:
        raise BaselineError(f"tolerance for unknown figure(s) {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(FIGURES)})")
    now = figures(current) if isinstance(current, Analysis) else current
    base = baseline.get("figures")
    base_figs: Mapping[str, Any] = base if isinstance(base, Mapping) else baseline
    label = f"baseline {baseline['name']!r}" if baseline.get("name") else "baseline"
    out = []
    for name, f in FIGURES.items():
        b = _number(base_figs.get(name))
        if b is None:
            continue
        allowed_tol = tol.get(name, tol.get("*", DEFAULT_TOLERANCE))
        slack = max(allowed_tol * abs(b), f.floor)
        bound = b + slack if f.lower_is_better else b - slack
        op = "<=" if f.lower_is_better else ">="
        why = f"{allowed_tol:.0%} of baseline" if slack > f.floor else (
            f"floor {f.show(f.floor)}")
        limit = f"{op} {f.show(bound)} ({why})"
        check = f"{name} = {f.expr} vs {label}"
        c = _number(now.get(name))
        if c is None:
            out.append(Breach(check, "no data", limit, f"baseline {f.show(b)}"))
            continue
        worse = c - b if f.lower_is_better else b - c
        if worse > slack * (1 + 1e-9):
            change = f"{(c - b) / abs(b):+.0%}" if b else f"{c - b:+.4g}"
            out.append(Breach(check, f"{f.show(c)} (baseline {f.show(b)}, {change})", limit))
    return out
