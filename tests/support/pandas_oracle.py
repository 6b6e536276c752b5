"""The plain pandas analysis that results/analysis/figures.py replaced, kept as the reference
its figures are compared with (test_analysis_reference.py). Not used by streamperf.
It includes the pandas media sessions (stitch, latency_by_clock, publish_clock) that
results/analysis/media_sessions.py replaced with numpy ones.

Its own docstring follows.

From the event log to per-viewer figures, a timeline and API stats.

Definitions follow DESIGN section 4 and docs/metrics.md:
  startup_s   PLAY row -> FIRST_VIDEO row (ask-to-play to first video frame)
  drift_s     (t - t_first_media) - (media_ts - media_ts_first) at each sample
  lagged      drift_s > lag threshold
  mean_kbps   bytes after the first media / seconds from first media to last sample
  latency_s   t - (T0 + media_ts), T0 from the publish_start row; without one,
              t - capture_t where the stream carries a capture clock (HLS PDT);
              else not measurable (NaN, never 0)
  source_kbps the source row's, else the median viewer's mean_kbps ("measured")
  stalls      the playhead model in playhead.py replayed over the media_ts samples
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamperf.results.analysis import renditions
from streamperf.results.analysis.faults import fault_figures
from streamperf.results.analysis.figures import MEASURED, NOT_MEASURABLE, VIEWER_COLUMNS
from streamperf.results.analysis.playhead import REBUFFER_GOAL_S, STARTUP_BUFFER_S, simulate
from streamperf.results.eventlog import schema as ev

# The media sessions as results/analysis/media_sessions.py had them in pandas.
#: a step back of the media clock larger than this is a new clock (a new publisher);
#: smaller ones are a server's reordering and are left to the samples as they are
CLOCK_BACK_S = 1.0


def publish_clock(df: pd.DataFrame) -> pd.DataFrame:
    """The publish clock in force from each time on: columns t_pub (when it began) and
    t0 (unix time of media ts 0); more than one row after a republish."""
    rows = df[df["event"] == ev.PUBLISH_START]
    return rows[["t", "value"]].rename(columns={"t": "t_pub", "value": "t0"}).sort_values(
        "t_pub").reset_index(drop=True)


def latency_by_clock(m: pd.DataFrame, clock: pd.DataFrame) -> pd.Series:
    """t - (T0 + media_ts) for samples `m` (t, value), with the T0 in force at each t."""
    if len(clock) <= 1:
        t0 = float(clock["t0"].iloc[0]) if len(clock) else np.nan
        return m["t"] - (t0 + m["value"])
    on = pd.merge_asof(m[["t"]].reset_index().sort_values("t"), clock, left_on="t",
                       right_on="t_pub", direction="backward").set_index("index")["t0"]
    on = on.fillna(float(clock["t0"].iloc[0])).reindex(m.index)
    return m["t"] - (on + m["value"])


def stitch(m: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """`m` (per sample: viewer, t, value, t_first, ts_first, rel_t, rel_media, drift_s)
    with rel_media stitched across media sessions and drift_s per session.

    Viewers with one session keep their figures exactly. Vectorised: a nginx
    restart in a 10,000-viewer hour-long run gives every viewer a second session.
    """
    reconnects = df.loc[df["event"] == ev.RECONNECT, ["viewer", "t"]]
    m = m.sort_values(["viewer", "t"]).reset_index(drop=True)
    viewer = m["viewer"]
    # the previous sample is this viewer's (a "string" column compares to <NA> at the top)
    same = viewer.eq(viewer.shift()).fillna(False).astype(bool)
    back = same & (m["value"] < m["value"].shift() - CLOCK_BACK_S)
    if not len(reconnects) and not back.any():
        return m
    # The newest reconnect before each sample: a different one than before the
    # previous sample means a reconnect in between.
    rec = reconnects.rename(columns={"t": "t_rec"}).sort_values("t_rec")
    rec = rec[rec["viewer"].isin(set(viewer))]
    last_rec = pd.merge_asof(m[["viewer", "t"]].reset_index().sort_values("t"), rec,
                             left_on="t", right_on="t_rec", by="viewer",
                             allow_exact_matches=False).set_index("index")["t_rec"]
    last_rec = last_rec.reindex(m.index)
    reconnected = same & last_rec.notna() & ~last_rec.eq(last_rec.shift())
    boundary = reconnected | back
    session = boundary.astype(int).groupby(viewer).cumsum()
    # When each new session began: its reconnect, or the previous sample (a step back).
    began = last_rec.where(reconnected, m["t"].shift())
    starts = m[boundary].assign(began=began[boundary])
    # Its anchor: the first frame row after it began, at or before the session's first
    # sample (a new connection reports one), else that first sample.
    firsts = df.loc[df["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO]), ["viewer", "t", "value"]]
    # A stable sort (here alone not as it was): a first_audio and a first_video row at
    # one time anchor on the one logged first, not on quicksort's pick.
    firsts = firsts.rename(columns={"t": "t_anchor", "value": "v_anchor"}).sort_values(
        "t_anchor", kind="stable")
    found = pd.merge_asof(starts.reset_index().sort_values("began"), firsts, left_on="began",
                          right_on="t_anchor", by="viewer", direction="forward",
                          allow_exact_matches=False).set_index("index").reindex(starts.index)
    use = found["t_anchor"] <= starts["t"]
    anchor_t = pd.Series(np.nan, index=m.index)
    anchor_v = pd.Series(np.nan, index=m.index)
    anchor_t[starts.index] = found["t_anchor"].where(use, starts["t"])
    anchor_v[starts.index] = found["v_anchor"].where(use, starts["value"])
    first = ~same
    anchor_t[first] = m.loc[first, "t_first"]
    anchor_v[first] = m.loc[first, "ts_first"]
    anchor_t = anchor_t.ffill()
    anchor_v = anchor_v.ffill()
    gained = m["value"] - anchor_v  # media since the session's anchor
    # Media received before each session: what the earlier sessions brought, end to end.
    brought = gained.clip(lower=0).groupby([viewer, session]).transform("max")
    # Counted once per session (at its first sample), summed along the viewer: minus
    # the session's own, that is what came before it.
    counted = brought.where(~same | boundary, 0.0).groupby(viewer).cumsum()
    base = counted - brought
    return m.assign(rel_media=base + gained, drift_s=(m["t"] - anchor_t) - gained)


# The words and columns both analyses must give, from their one home; everything that
# computes a figure below is the old code, kept as it was, so that it stays a reference.


@dataclass
class Analysis:
    viewers: pd.DataFrame
    timeline: pd.DataFrame  # one row per second: connected, lagged, mean_kbps
    api: pd.DataFrame  # per endpoint: calls, errors, timeouts, p50_s, p95_s
    source_kbps: float | None
    lag_threshold_s: float
    planned: int
    #: per media_ts sample: viewer, t, rel_t, rel_media, drift_s, latency_s
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per stall the playhead model found: viewer, t (wall time it began)
    stall_starts: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per API call: t, viewer, endpoint, latency_s, status
    api_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
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
            "stalls": int(v["stalls"].sum()),
            "viewers_with_stalls": int((v["stalls"] > 0).sum()),
            "max_rebuffer_ratio": float(v["rebuffer_ratio"].max()) if len(v) else None,
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
    value = float(rows["value"].iloc[-1]) if len(rows) else None
    return value if value and np.isfinite(value) and value > 0 else None


def source_kbps_basis(df: pd.DataFrame) -> str:
    """Where the logged source bitrate came from: "file" (probed), "given" (the user),
    or "measured": the run did not know it and asks for it to be measured."""
    rows = _rows(df, ev.SOURCE)
    rows = rows[rows["name"] == "bitrate_kbps"]
    status = str(rows["status"].iloc[-1]) if len(rows) else ""
    return status if status in ("file", "given", MEASURED) else "file"


def run_start_t(df: pd.DataFrame) -> float:
    """Time 0 of the run's timeline: its run_start row (set-up rows may be older)."""
    rows = _rows(df, ev.RUN_START)
    if len(rows):
        return float(rows["t"].iloc[0])
    return float(df["t"].min()) if len(df) else 0.0


def publish_t0(df: pd.DataFrame) -> float | None:
    rows = _rows(df, ev.PUBLISH_START)
    return float(rows["value"].iloc[-1]) if len(rows) else None


def media_samples(df: pd.DataFrame, t0_publish: float | None = None,
                  clock: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per media_ts sample: viewer, t, rel_t, rel_media, drift_s, latency_s.

    rel_t / rel_media are wall and media seconds since the viewer's first media,
    media stitched across reconnects and republishes (media_sessions.py).
    `clock`: the publish clock rows (publish_clock) when the publisher restarted.
    """
    cols = ["viewer", "t", "rel_t", "rel_media", "drift_s", "latency_s"]
    firsts = df[df["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    if firsts.empty:  # typed, so per-viewer reductions (quantile) work on no rows
        return pd.DataFrame({c: pd.Series(dtype=object if c == "viewer" else float)
                             for c in cols})
    ref = (
        firsts.sort_values("t", kind="stable")  # the first logged among equal times
        .groupby("viewer", as_index=False)
        .first()[["viewer", "t", "value"]]
        .rename(columns={"t": "t_first", "value": "ts_first"})
    )
    m = _rows(df, ev.SAMPLE_MEDIA_TS)[["viewer", "t", "value"]].merge(ref, on="viewer")
    m["rel_t"] = m["t"] - m["t_first"]
    m["rel_media"] = m["value"] - m["ts_first"]
    m["drift_s"] = m["rel_t"] - m["rel_media"]
    m = stitch(m, df)
    if clock is not None and len(clock) > 1:
        m["latency_s"] = latency_by_clock(m, clock)
    elif t0_publish is not None:
        m["latency_s"] = m["t"] - (t0_publish + m["value"])
    else:
        # No publish clock (someone else publishes): the stream's own capture clock
        # (HLS PROGRAM-DATE-TIME), sampled beside media_ts, where it carries one.
        cap = _rows(df, ev.SAMPLE_CAPTURE_T)[["viewer", "t", "value"]]
        cap = cap.drop_duplicates(["viewer", "t"], keep="last").rename(
            columns={"value": "captured"})
        m = m.merge(cap, on=["viewer", "t"], how="left")
        m["latency_s"] = m["t"] - m["captured"]
    return m.sort_values(["viewer", "t"])[cols]


def latency_basis(df: pd.DataFrame) -> str:
    """What latency is measured against: the publish clock, the stream's PDT, or nothing."""
    if publish_t0(df) is not None:
        return "publish clock"
    captured = set(df.loc[df["event"] == ev.SAMPLE_CAPTURE_T, "viewer"].astype(str))
    if not captured:
        return NOT_MEASURABLE
    play = df[df["event"] == ev.PLAY]
    dash = captured & set(play.loc[play["name"] == "dash", "viewer"].astype(str))
    kinds = (["program date time"] if captured - dash else []) + (
        ["availability start time"] if dash else [])
    return " and ".join(kinds)


def _playheads(samples: pd.DataFrame, startup_buffer_s: float, rebuffer_goal_s: float,
               at_playhead: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per viewer: stalls, stall_s, rebuffer_ratio; and every stall's start (wall t).
    The latency of a viewer in `at_playhead` moves to the playhead (in `samples`)."""
    rows, starts = [], []
    for viewer, g in samples.groupby("viewer", sort=False):
        # The first media's arrival is the model's origin: nothing received yet.
        t_first = float(g["t"].iloc[0] - g["rel_t"].iloc[0])
        times = np.concatenate(([0.0], g["rel_t"].to_numpy()))
        received = np.maximum.accumulate(np.concatenate(([0.0], g["rel_media"].to_numpy())))
        r = simulate(times.tolist(), received.tolist(), startup_buffer_s, rebuffer_goal_s)
        rows.append((viewer, r.stalls, r.stall_s, r.rebuffer_ratio))
        if viewer in at_playhead:
            # played by each sample: the play time of the model replayed up to it
            for k, index in enumerate(g.index, start=1):
                head = simulate(times[:k + 1].tolist(), received[:k + 1].tolist(),
                                startup_buffer_s, rebuffer_goal_s)
                began = head.started_at is not None and head.started_at <= times[k]
                samples.loc[index, "latency_s"] += (received[k] - head.play_s) if began \
                    else np.nan
        starts += [(viewer, t_first + rel, s)
                   for rel, s in zip(r.stall_starts, r.stall_lengths, strict=True)]
    per_viewer = pd.DataFrame(rows, columns=["viewer", "stalls", "stall_s", "rebuffer_ratio"])
    return per_viewer.set_index("viewer"), pd.DataFrame(starts, columns=["viewer", "t", "seconds"])


def _mean_kbps(byte_rows: pd.DataFrame, first_video_t: pd.Series) -> pd.Series:
    """kbps over whole sample windows after the first video frame.

    Before it a live server sends audio alone (video waits for a key frame),
    which would pull a short viewer's mean below the source's.
    """
    video = first_video_t.rename("t_video").rename_axis("viewer").reset_index()
    rows = byte_rows[["viewer", "t", "value"]].merge(video, on="viewer")
    rows = rows[rows["t"] >= rows["t_video"]]
    # Each bytes row covers the window since the previous one: the first row at or
    # after the first video frame only anchors the count.
    anchor = rows.groupby("viewer")["t"].transform("min")
    counted = rows[rows["t"] > anchor].assign(anchor=anchor)
    g = counted.groupby("viewer")
    seconds = g["t"].max() - g["anchor"].first()
    return (g["value"].sum() * 8 / 1000 / seconds).where(seconds > 0)


def measured_source_kbps(mean_kbps: pd.Series) -> float | None:
    """The median of the viewers' mean bitrates (each from its first video frame on)."""
    got = mean_kbps.dropna()
    got = got[np.isfinite(got) & (got > 0)]
    return float(got.median()) if len(got) else None


def _count(rows: pd.DataFrame, names: pd.Index) -> pd.Series:
    return rows.groupby("viewer").size().reindex(names).fillna(0).astype(int)


def analyse(
    df: pd.DataFrame,
    lag_threshold_s: float = 3.0,
    planned: int | None = None,
    source_kbps_override: float | None = None,
    startup_buffer_s: float = STARTUP_BUFFER_S,
    rebuffer_goal_s: float = REBUFFER_GOAL_S,
) -> Analysis:
    src = source_kbps_override or source_kbps(df)
    rows = df[(df["viewer"] != "") & (df["event"] != ev.HOST_SAMPLE)]
    # A fan either played or was aborted; API rows alone are the influencer's set-up.
    names = pd.Index(rows.loc[rows["event"] != ev.API, "viewer"].unique(), name="viewer")
    fans = rows[rows["viewer"].isin(names)]
    out = pd.DataFrame(index=names)
    # Where the viewer played: its API calls may come from elsewhere (an adapter's
    # journeys walked on the controller for viewers on worker processes).
    played = fans[fans["event"] != ev.API].groupby("viewer")["host"].first()
    out["host"] = played.reindex(names).fillna("")

    play = _rows(fans, ev.PLAY).groupby("viewer").agg(
        play_t=("t", "first"), api_s=("value", "first"), protocol=("name", "first")
    )
    first_video = _rows(fans, ev.FIRST_VIDEO).groupby("viewer")["t"].first()
    firsts = fans[fans["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    first_media_t = firsts.groupby("viewer")["t"].min()
    out = out.join(play)
    out["protocol"] = out["protocol"].fillna("")
    out["got_media"] = out.index.isin(first_video.index)
    out["aborted"] = out.index.isin(_rows(fans, ev.FAN_ABORT)["viewer"])
    out["startup_s"] = first_video.reindex(names) - out["play_t"]

    # Media and bytes counted from the first media onwards.
    samples = media_samples(fans, publish_t0(df), publish_clock(df))
    by_viewer = samples.groupby("viewer")
    out["media_s"] = by_viewer["rel_media"].max().reindex(names)
    byte_rows = _rows(fans, ev.SAMPLE_BYTES)
    last_sample_t = byte_rows.groupby("viewer")["t"].max()
    out["watched_s"] = (last_sample_t.reindex(names) - first_media_t.reindex(names)).clip(lower=0)
    out["mean_kbps"] = _mean_kbps(byte_rows, first_video).reindex(names)
    basis = source_kbps_basis(df)
    src_basis = ("given" if source_kbps_override else basis) if src else None
    if not src and basis == MEASURED:
        # Nobody said what the source sends (a stream someone else publishes, no
        # --source-kbps): the median viewer's steady bitrate stands in, labelled so.
        src = measured_source_kbps(out["mean_kbps"])
        src_basis = MEASURED if src else None
    out["bitrate_ratio"] = out["mean_kbps"] / src if src else np.nan
    # The ladder's figures are not this oracle's subject (the numpy paths are): the
    # analysis's own functions, so the columns line up.
    out, _spans = renditions.joined(out, fans, last_sample_t.reindex(names), df)

    out["max_drift_s"] = by_viewer["drift_s"].max().reindex(names)
    # Samples are 1 s apart, so the count of lagged samples is seconds lagged.
    out["lagged_s"] = _count(samples[samples["drift_s"] > lag_threshold_s], names)
    segmented = set(out.index[out["protocol"].isin(["hls", "dash"])])
    heads, stall_starts = _playheads(samples, startup_buffer_s, rebuffer_goal_s, segmented)
    by_viewer = samples.groupby("viewer")
    out["latency_s"] = by_viewer["latency_s"].mean().reindex(names)
    out["latency_p95_s"] = by_viewer["latency_s"].quantile(0.95).reindex(names)
    heads = heads.reindex(names)
    out["stalls"] = heads["stalls"].fillna(0).astype(int)
    out["stall_s"] = heads["stall_s"].fillna(0.0)
    out["rebuffer_ratio"] = heads["rebuffer_ratio"].fillna(0.0)

    errors = _rows(fans, ev.VIEWER_ERROR)
    out["errors"] = _count(errors, names)
    out["disconnects"] = _count(errors[errors["name"] == "disconnect"], names)
    problems = pd.concat([errors, _rows(fans, ev.FAN_ABORT)]).sort_values("t")
    first_err = problems.groupby("viewer").first()
    out["first_error"] = (
        (first_err["name"] + ": " + first_err["detail"]).reindex(names).fillna("")
    )

    viewers = out.reset_index()[VIEWER_COLUMNS]
    analysis = Analysis(
        viewers=viewers,
        timeline=timeline(df, lag_threshold_s, samples),
        api=api_stats(df),
        source_kbps=src,
        lag_threshold_s=lag_threshold_s,
        planned=planned if planned is not None else len(viewers),
        samples=samples,
        stall_starts=stall_starts,
    )
    api = _rows(df, ev.API)
    analysis.api_rows = api[["t", "viewer", "name", "value", "status"]].rename(
        columns={"name": "endpoint", "value": "latency_s"}).reset_index(drop=True)
    analysis.info["start_t"] = run_start_t(df) if len(df) else None
    analysis.info.update(fault_figures(df, analysis.info["start_t"] or 0.0))
    analysis.info["source_kbps_basis"] = src_basis
    analysis.info["latency_basis"] = latency_basis(df) if len(df) else NOT_MEASURABLE
    calib = _rows(df, ev.CALIBRATION)
    analysis.info["origin_latency_s"] = float(calib["value"].iloc[-1]) if len(calib) else None
    analysis.info["errors_by_kind"] = errors.groupby("name").size().to_dict()
    lat = samples["latency_s"].dropna()
    analysis.info["latency_p50_s"] = float(lat.quantile(0.5)) if len(lat) else None
    analysis.info["latency_p95_s"] = float(lat.quantile(0.95)) if len(lat) else None
    return analysis


TIMELINE_COLUMNS = [
    "second", "connected", "lagged", "mean_kbps", "p5_kbps", "p50_kbps", "p95_kbps",
    "drift_p50_s", "drift_p95_s", "latency_p50_s", "latency_p95_s",
]


def timeline(
    df: pd.DataFrame, lag_threshold_s: float, samples: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per second since the first row: viewers sampled, lagged, kbps and drift spread."""
    b = _rows(df, ev.SAMPLE_BYTES)
    if b.empty:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    start = run_start_t(df)
    samples = (media_samples(df, publish_t0(df), publish_clock(df)) if samples is None
               else samples)
    # A viewer's first bytes row covers only part of a second (it joined mid-window).
    b = b[b.duplicated("viewer")]
    kbps = b.assign(second=((b["t"] - start) // 1).astype(int), kbps=b["value"] * 8 / 1000)
    g = kbps.groupby("second")["kbps"]
    tl = pd.DataFrame({
        "connected": kbps.groupby("second")["viewer"].nunique(),
        "mean_kbps": g.mean(),
        "p5_kbps": g.quantile(0.05),
        "p50_kbps": g.quantile(0.5),
        "p95_kbps": g.quantile(0.95),
    })
    m = samples.assign(second=((samples["t"] - start) // 1).astype(int))
    gm = m.groupby("second")
    lag = m[m["drift_s"] > lag_threshold_s].groupby("second")["viewer"].nunique()
    tl["lagged"] = lag.reindex(tl.index).fillna(0).astype(int)
    for col in ("drift", "latency"):
        for q in (50, 95):
            tl[f"{col}_p{q}_s"] = gm[f"{col}_s"].quantile(q / 100).reindex(tl.index)
    return tl.reset_index()[TIMELINE_COLUMNS]


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
