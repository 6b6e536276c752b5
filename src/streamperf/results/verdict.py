"""The run's pass/fail checks over an Analysis, each naming value and limit.

A breach lists the worst viewers so a failure message says who suffered,
not just that someone did.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from streamperf.results.analysis import Analysis


@dataclass(frozen=True)
class Thresholds:
    startup_p95_s: float = 5.0
    max_lagged_viewers: int = 0
    min_bitrate_ratio: float = 0.9
    max_api_error_rate: float = 0.01
    max_viewer_errors: int = 0


@dataclass(frozen=True)
class Breach:
    check: str
    measured: str
    limit: str
    worst: str = ""

    def __str__(self) -> str:
        text = f"{self.check}: measured {self.measured}, limit {self.limit}"
        return f"{text}; worst: {self.worst}" if self.worst else text


def _worst(df: pd.DataFrame, column: str, fmt: str, ascending: bool = False, n: int = 5) -> str:
    rows = df.dropna(subset=[column]).sort_values(column, ascending=ascending).head(n)
    return ", ".join(f"{r.viewer} ({fmt.format(getattr(r, column))})" for r in rows.itertuples())


def evaluate(a: Analysis, limits: Thresholds | None = None) -> list[Breach]:
    t = limits or Thresholds()
    v = a.viewers
    s = a.summary()
    breaches: list[Breach] = []

    no_media = a.planned - s["viewers_with_media"]
    if no_media > 0:
        missing = v[~v["got_media"]]
        worst = ", ".join(
            f"{r.viewer} ({r.first_error or 'no video'})" for r in missing.head(5).itertuples()
        )
        breaches.append(Breach(
            "viewers without media", f"{no_media} of {a.planned}", "0",
            worst or "never started"))

    p95 = s["startup_p95_s"]
    if p95 is not None and p95 > t.startup_p95_s:
        breaches.append(Breach("p95 startup_s", f"{p95:.2f} s", f"<= {t.startup_p95_s:g} s",
                               _worst(v, "startup_s", "{:.2f} s")))

    if s["viewers_lagged"] > t.max_lagged_viewers:
        breaches.append(Breach(
            f"viewers lagged (drift over {a.lag_threshold_s:g} s)",
            f"{s['viewers_lagged']} of {a.planned}", f"<= {t.max_lagged_viewers}",
            _worst(v, "max_drift_s", "drift {:.1f} s")))

    ratio = s["min_bitrate_ratio"]
    if ratio is not None and ratio < t.min_bitrate_ratio:
        below = int((v["bitrate_ratio"] < t.min_bitrate_ratio).sum())
        breaches.append(Breach(
            f"viewer mean bitrate / source ({a.source_kbps:.0f} kbps)",
            f"min {ratio:.2f} ({below} viewers below)", f">= {t.min_bitrate_ratio:g}",
            _worst(v, "bitrate_ratio", "{:.2f}", ascending=True)))

    if s["viewer_errors"] > t.max_viewer_errors:
        erred = v[v["errors"] > 0]
        kinds = f"{s['disconnects']} disconnects, {s['viewer_errors'] - s['disconnects']} other"
        worst = ", ".join(f"{r.viewer} ({r.first_error})" for r in erred.head(5).itertuples())
        breaches.append(Breach(f"viewer errors ({kinds})", str(s["viewer_errors"]),
                               f"<= {t.max_viewer_errors}", worst))

    if s["api_error_rate"] > t.max_api_error_rate:
        bad = a.api[a.api["errors"] > 0].sort_values("errors", ascending=False).head(5)
        worst = ", ".join(f"{r.endpoint} ({r.errors} of {r.calls})" for r in bad.itertuples())
        breaches.append(Breach(
            "API error rate", f"{s['api_error_rate']:.2%} ({s['api_errors']} of {s['api_calls']})",
            f"<= {t.max_api_error_rate:.0%}", worst))
    return breaches
