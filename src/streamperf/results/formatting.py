"""How numbers are written for people: one home, so the terminal, the report and
SLA messages show a figure the same way. (The event log's own number format is
storage, and lives with its writer.)
"""

from __future__ import annotations

import math
import time
from typing import Any


def figure(value: Any, key: str = "") -> str:
    """A figure as text, its unit taken from the metric name's suffix
    (`_s` seconds, `kbps`, `_rate` a percentage, `_t` a unix time)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalar -> int, float or bool
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {figure(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):  # lines, e.g. the faults a run survived
        return "; ".join(figure(v) for v in value) or "none"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        v = value
        if key.endswith("_t") and v > 1e9:  # a unix time
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(v))
        if key.endswith("_rate"):
            return f"{v:.2%}"
        text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"
        if key.endswith("_s"):
            return f"{text} s"
        return f"{text} kbps" if key.endswith("kbps") else text
    return str(value)


def compact(v: float) -> str:
    """Short figure for thresholds and breaches: 0.875, 5.004, 2.41, 17.12, 1234."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def with_unit(v: float, unit: str) -> str:
    """compact(v) and its unit: '5 s', '12%', '0.9'."""
    if not unit:
        return compact(v)
    return f"{compact(v)}%" if unit == "%" else f"{compact(v)} {unit}"


def column(value: float | None, spec: str) -> str:
    """value formatted by spec (e.g. "6.1f") for a fixed-width column; "-" when unknown."""
    return "-".rjust(int(spec.split(".")[0] or 0)) if value is None else format(value, spec)
