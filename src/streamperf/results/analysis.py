"""From the event log to per-viewer figures, a timeline and API stats.

Definitions follow DESIGN section 4 and docs/metrics.md:
  startup_s   PLAY row -> FIRST_VIDEO row (ask-to-play to first video frame)
  drift_s     (t - t_first_media) - (media_ts - media_ts_first) at each sample
  lagged      drift_s > lag threshold
  mean_kbps   bytes after the first media / seconds from first media to last sample
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamperf.results import events as ev

VIEWER_COLUMNS = [
    "viewer", "host", "got_media", "aborted", "api_s", "startup_s", "watched_s", "media_s",
    "mean_kbps", "bitrate_ratio", "max_drift_s", "lagged_s", "errors", "disconnects",
    "first_error",
]


@dataclass
class Analysis:
    viewers: pd.DataFrame
    timeline: pd.DataFrame  # one row per second: connected, lagged, mean_kbps
    api: pd.DataFrame  # per endpoint: calls, errors, timeouts, p50_s, p95_s
    source_kbps: float | None
    lag_threshold_s: float
    planned: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def api_calls(self) -> int:
        return int(self.api["calls"].sum()) if len(self.api) else 0

    @property
    def api_errors(self) -> int:
        return int(self.api["errors"].sum()) if len(self.api) else 0

    @property
    def api_error_rate(self) -> float:
        return self.api_errors / self.api_calls if self.api_calls else 0.0

    def summary(self) -> dict[str, Any]:
        v = self.viewers
        watching = v[v["got_media"]]

        def pct(series: pd.Series, q: float) -> float | None:
            s = series.dropna()
            return float(np.percentile(s, q)) if len(s) else None

        return {
            "viewers_planned": self.planned,
            "viewers_with_media": int(v["got_media"].sum()),
            "viewers_aborted": int(v["aborted"].sum()),
            "viewers_lagged": int((v["max_drift_s"] > self.lag_threshold_s).sum()),
            "startup_p50_s": pct(v["startup_s"], 50),
            "startup_p95_s": pct(v["startup_s"], 95),
            "max_drift_s": float(v["max_drift_s"].max()) if len(watching) else None,
            "mean_kbps": float(watching["mean_kbps"].mean()) if len(watching) else None,
            "source_kbps": self.source_kbps,
            "min_bitrate_ratio": float(watching["bitrate_ratio"].min())
            if len(watching) and self.source_kbps
            else None,
            "min_media_s": float(watching["media_s"].min()) if len(watching) else None,
            "viewer_errors": int(v["errors"].sum()),
            "disconnects": int(v["disconnects"].sum()),
            "api_calls": self.api_calls,
            "api_errors": self.api_errors,
            "api_error_rate": self.api_error_rate,
            **self.info,
        }


def _rows(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    return df[df["event"] == kind]


def source_kbps(df: pd.DataFrame) -> float | None:
    rows = _rows(df, ev.SOURCE)
    rows = rows[rows["name"] == "bitrate_kbps"]
    return float(rows["value"].iloc[-1]) if len(rows) else None


def _drift(df: pd.DataFrame) -> pd.DataFrame:
    """Per media_ts sample: viewer, t, drift_s (NaN-free; viewers with media only)."""
    firsts = df[df["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    if firsts.empty:
        return pd.DataFrame(columns=["viewer", "t", "drift_s"])
    ref = (
        firsts.sort_values("t")
        .groupby("viewer", as_index=False)
        .first()[["viewer", "t", "value"]]
        .rename(columns={"t": "t0", "value": "ts0"})
    )
    samples = _rows(df, ev.SAMPLE_MEDIA_TS)[["viewer", "t", "value"]].merge(ref, on="viewer")
    samples["drift_s"] = (samples["t"] - samples["t0"]) - (samples["value"] - samples["ts0"])
    return samples[["viewer", "t", "drift_s"]]


def analyse(
    df: pd.DataFrame,
    lag_threshold_s: float = 3.0,
    planned: int | None = None,
    source_kbps_override: float | None = None,
) -> Analysis:
    src = source_kbps_override or source_kbps(df)
    fans = df[(df["viewer"] != "") & (df["event"] != ev.HOST_SAMPLE)]
    names = pd.Index(fans["viewer"].unique(), name="viewer")
    out = pd.DataFrame(index=names)

    hosts = fans.groupby("viewer")["host"].first()
    out["host"] = hosts.reindex(names).fillna("")

    play = _rows(fans, ev.PLAY).groupby("viewer").agg(
        play_t=("t", "first"), api_s=("value", "first")
    )
    first_video = _rows(fans, ev.FIRST_VIDEO).groupby("viewer")["t"].first()
    firsts = fans[fans["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    first_media_t = firsts.groupby("viewer")["t"].min()
    out = out.join(play)
    out["got_media"] = out.index.isin(first_video.index)
    out["aborted"] = out.index.isin(_rows(fans, ev.FAN_ABORT)["viewer"])
    out["startup_s"] = first_video.reindex(names) - out["play_t"]

    # Media and bytes counted from the first media onwards.
    media = _rows(fans, ev.SAMPLE_MEDIA_TS).groupby("viewer")["value"].agg(["min", "max"])
    first_ts = firsts.groupby("viewer")["value"].min()
    out["media_s"] = media["max"].reindex(names) - first_ts.reindex(names)
    samples = _rows(fans, ev.SAMPLE_BYTES)
    last_sample_t = samples.groupby("viewer")["t"].max()
    out["watched_s"] = (last_sample_t.reindex(names) - first_media_t.reindex(names)).clip(lower=0)
    total_bytes = samples.groupby("viewer")["value"].sum().reindex(names).fillna(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mean_kbps"] = np.where(
            out["watched_s"] > 0, total_bytes * 8 / 1000 / out["watched_s"], np.nan
        )
    out["bitrate_ratio"] = out["mean_kbps"] / src if src else np.nan

    drift = _drift(fans)
    out["max_drift_s"] = drift.groupby("viewer")["drift_s"].max().reindex(names)
    lagged = drift[drift["drift_s"] > lag_threshold_s]
    # Samples are 1 s apart, so the count of lagged samples is seconds lagged.
    out["lagged_s"] = lagged.groupby("viewer").size().reindex(names).fillna(0).astype(int)

    errors = _rows(fans, ev.VIEWER_ERROR)
    out["errors"] = errors.groupby("viewer").size().reindex(names).fillna(0).astype(int)
    disc = errors[errors["name"] == "disconnect"]
    out["disconnects"] = disc.groupby("viewer").size().reindex(names).fillna(0).astype(int)
    problems = pd.concat([errors, _rows(fans, ev.FAN_ABORT)]).sort_values("t")
    first_err = problems.groupby("viewer").first()
    out["first_error"] = (
        (first_err["name"] + ": " + first_err["detail"]).reindex(names).fillna("")
    )

    viewers = out.reset_index()[VIEWER_COLUMNS]
    return Analysis(
        viewers=viewers,
        timeline=timeline(df, lag_threshold_s, drift),
        api=api_stats(df),
        source_kbps=src,
        lag_threshold_s=lag_threshold_s,
        planned=planned if planned is not None else len(viewers),
    )


def timeline(
    df: pd.DataFrame, lag_threshold_s: float, drift: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per second since the first row: viewers sampled, lagged, mean kbps."""
    cols = ["second", "connected", "lagged", "mean_kbps"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    start = float(df["t"].min())
    drift = _drift(df) if drift is None else drift
    b = _rows(df, ev.SAMPLE_BYTES)
    if b.empty:
        return pd.DataFrame(columns=cols)
    sec = ((b["t"] - start) // 1).astype(int)
    grouped = b.assign(second=sec).groupby("second")
    tl = pd.DataFrame(
        {
            "connected": grouped["viewer"].nunique(),
            "mean_kbps": grouped["value"].mean() * 8 / 1000,
        }
    )
    if not drift.empty:
        lag = drift[drift["drift_s"] > lag_threshold_s]
        lag_sec = ((lag["t"] - start) // 1).astype(int)
        tl["lagged"] = lag.assign(second=lag_sec).groupby("second")["viewer"].nunique()
    tl["lagged"] = tl.get("lagged", pd.Series(dtype=float)).reindex(tl.index).fillna(0)
    tl["lagged"] = tl["lagged"].astype(int)
    return tl.reset_index()[cols]


def api_stats(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["endpoint", "calls", "errors", "timeouts", "p50_s", "p95_s"]
    api = _rows(df, ev.API)
    if api.empty:
        return pd.DataFrame(columns=cols)
    g = api.assign(
        err=api["status"] != "200", tmo=api["status"] == "timeout"
    ).groupby("name")
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "errors": g["err"].sum(),
            "timeouts": g["tmo"].sum(),
            "p50_s": g["value"].quantile(0.5),
            "p95_s": g["value"].quantile(0.95),
        }
    )
    return out.reset_index(names="endpoint")[cols]
