"""A breached check, as every failure message shows it: value, limit, who suffered.

SLA thresholds (sla.py) and baseline comparisons (baseline.py) both report
through this one type, so their failures read alike.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Breach:
    check: str
    measured: str
    limit: str
    worst: str = ""

    def __str__(self) -> str:
        text = f"{self.check}: measured {self.measured}, limit {self.limit}"
        return f"{text}; worst: {self.worst}" if self.worst else text
