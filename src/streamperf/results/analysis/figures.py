"""From the event log to per-viewer figures, a timeline (timeline.py) and API stats.

Definitions follow DESIGN section 4 and docs/metrics.md:
  startup_s   PLAY row -> FIRST_VIDEO row (ask-to-play to first video frame)
  drift_s     (t - t_first_media) - (media_ts - media_ts_first) at each sample,
              per media session (a reconnect or a republish starts one; the
              media received is stitched across them: media_sessions.py)
  lagged      drift_s > lag threshold
  mean_kbps   bytes after the first media / seconds from first media to last sample
  latency_s   t - (T0 + media_ts), T0 from the publish_start row in force at t
              (a republish logs another); without one,
              t - capture_t where the stream carries a capture clock (HLS PDT);
              else not measurable (NaN, never 0); HLS and DASH viewers' at the
              modelled playhead (latency.py)
  source_kbps the source row's, else the median viewer's mean_kbps ("measured")
  stalls      the playhead model in playhead.py replayed over the media_ts samples
  origin      the LL-HLS viewers' requests by kind, blocking waits: origin_load.py

How it scales (docs/cost.md): the few rows of each kind (play, first frames,
errors, API calls, host samples) go through pandas; the per-second samples,
nearly all of a long run's rows, stay numpy columns (eventlog/columnar.py) sorted once
by viewer, and every per-viewer and per-second figure is taken from slices of
them. Memory grows with the samples at about 40 bytes each (the log's 20,
drift and latency kept for the SLA's per-sample percentiles), time with the
viewers (a few numpy calls each) and the seconds (a few each). The figures
are those of the plain pandas analysis this replaced, which the unit tests
keep as their reference (tests/support/pandas_oracle.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamperf.results.analysis import origin_load, renditions
from streamperf.results.analysis.api_stats import api_stats
from streamperf.results.analysis.faults import fault_figures
from streamperf.results.analysis.latency import NOT_MEASURABLE, latency_basis, publish_t0
from streamperf.results.analysis.media_sessions import (
    PublishClock,
    Sessions,
    latency_by_clock,
    publish_clock,
    stitch,
)
from streamperf.results.analysis.playhead import (
    PLAYHEAD_LATENCY,
    REBUFFER_GOAL_S,
    STARTUP_BUFFER_S,
    buffered_at,
    simulate_arrays,
)
from streamperf.results.analysis.timeline import per_second
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import EventLog, Samples, frame_of, segments

MEASURED = "measured"  # source bitrate taken from the viewers: nobody told streamperf
STALL_COLUMNS = ["viewer", "t", "seconds"]  # Analysis.stall_starts

VIEWER_COLUMNS = [
    "viewer", "host", "protocol", "got_media", "aborted", "api_s", "startup_s", "watched_s",
    "media_s", "mean_kbps", "bitrate_ratio", "max_drift_s", "lagged_s", "latency_s",
    "latency_p95_s", "stalls", "stall_s", "rebuffer_ratio", "errors", "disconnects", "first_error",
    *renditions.COLUMNS,
]


@dataclass
class Analysis:
    viewers: pd.DataFrame
    timeline: pd.DataFrame  # one row per second: connected, lagged, mean_kbps
    api: pd.DataFrame  # per endpoint: calls, errors, timeouts, p50_s, p95_s
    source_kbps: float | None
    lag_threshold_s: float
    planned: int
    #: per media_ts sample, by viewer then time: viewer (categorical), t, drift_s, latency_s
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per stall the playhead model found: viewer, t (wall time it began),
    #: seconds (how long it lasted; one the samples end in, to the last sample)
    stall_starts: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per API call: t, viewer, endpoint, latency_s, status
    api_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: one row per rendition a viewer held (analysis/renditions.py rendition_spans)
    spans: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, Any] = field(default_factory=dict)
    #: what the LL-HLS viewers asked their origin for (analysis/origin_load.py); None: none
    origin: origin_load.OriginLoad | None = None

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
            **renditions.summary(watching, self.spans),
            **origin_load.summary(self.origin),
            **self.info,
        }


def _rows(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    return df[df["event"] == kind]


def source_kbps(log: EventLog | pd.DataFrame) -> float | None:
    rows = _rows(frame_of(log), ev.SOURCE)
    rows = rows[rows["name"] == "bitrate_kbps"]
    value = float(rows["value"].iloc[-1]) if len(rows) else None
    return value if value and np.isfinite(value) and value > 0 else None


def source_kbps_basis(log: EventLog | pd.DataFrame) -> str:
    """Where the logged source bitrate came from: "file" (probed), "given" (the user),
    or "measured": the run did not know it and asks for it to be measured."""
    rows = _rows(frame_of(log), ev.SOURCE)
    rows = rows[rows["name"] == "bitrate_kbps"]
    status = str(rows["status"].iloc[-1]) if len(rows) else ""
    return status if status in ("file", "given", MEASURED) else "file"


def run_start_t(log: EventLog | pd.DataFrame) -> float:
    """Time 0 of the run's timeline: its run_start row (set-up rows may be older);
    without one, the log's first time."""
    df = frame_of(log)
    rows = _rows(df, ev.RUN_START)
    if len(rows):
        return float(rows["t"].iloc[0])
    firsts = [float(df["t"].min())] if len(df) else []
    if isinstance(log, EventLog):
        firsts += [float(np.nanmin(s.t)) for s in log.samples.values()
                   if len(s) and not np.isnan(s.t).all()]
    return float(np.nanmin(firsts)) if firsts and not np.isnan(firsts).all() else 0.0


@dataclass
class _Media:
    """The media_ts samples of viewers with a first frame, sorted by (viewer, t)."""

    code: np.ndarray
    t: np.ndarray
    value: np.ndarray  # media_ts
    t_first: np.ndarray  # per viewer code: its first media's arrival (t) ...
    ts_first: np.ndarray  # ... and media timestamp
    drift: np.ndarray  # per media session (media_sessions.py)
    latency: np.ndarray
    sessions: Sessions = field(default_factory=Sessions.none)

    def rel(self, a: int, b: int, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows a..b (viewer c): wall and media seconds since its first media, media
        stitched across its sessions."""
        rel_media = self.sessions.rel_media(a, b, self.value[a:b])
        if rel_media is None:
            rel_media = self.value[a:b] - self.ts_first[c]
        return self.t[a:b] - self.t_first[c], rel_media

    def frame(self, names: np.ndarray) -> pd.DataFrame:
        viewer = pd.Categorical.from_codes(self.code, categories=pd.Index(names, dtype=object))
        return pd.DataFrame({"viewer": viewer, "t": self.t, "drift_s": self.drift,
                             "latency_s": self.latency}, copy=False)


def _media(log: EventLog, fans: pd.DataFrame, t0_publish: float | None,
           clock: PublishClock | None = None) -> _Media:
    """The media samples with drift (per media session) and latency: against the
    publish clock in force at each sample (`clock`, when the publisher restarted),
    else T0, else the stream's capture clock."""
    m = log.kind(ev.SAMPLE_MEDIA_TS)
    m.sort_by_viewer()
    firsts = fans[fans["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    ref = firsts.sort_values("t", kind="stable").groupby("viewer")[["t", "value"]].first()
    names = pd.Index(log.names, dtype=object)
    t_first = ref["t"].reindex(names).to_numpy(float)
    ts_first = ref["value"].reindex(names).to_numpy(float)
    has_ref = names.isin(ref.index)
    code, t, value = m.viewer, m.t, m.value
    keep = has_ref[code] if len(code) else np.zeros(0, bool)
    if not keep.all():
        code, t, value = code[keep], t[keep], value[keep]
    # drift = (t - t_first) - (value - ts_first), in place: one set of temporaries
    drift = t_first[code]
    np.subtract(t, drift, out=drift)
    rel_media = ts_first[code]
    np.subtract(value, rel_media, out=rel_media)
    np.subtract(drift, rel_media, out=drift)
    del rel_media
    sessions = stitch(code, t, value, drift, t_first, ts_first, fans, log.names)
    if clock is not None and len(clock) > 1:
        latency = latency_by_clock(t, value, clock)
    elif t0_publish is not None:
        latency = np.add(value, t0_publish)  # t - (T0 + media_ts)
        np.subtract(t, latency, out=latency)
    else:
        # No publish clock (someone else publishes): the stream's own capture clock
        # (HLS PROGRAM-DATE-TIME), sampled beside media_ts, where it carries one.
        c = log.kind(ev.SAMPLE_CAPTURE_T)
        cap = pd.DataFrame({"v": c.viewer, "t": c.t, "captured": c.value}).drop_duplicates(
            ["v", "t"], keep="last")
        captured = pd.DataFrame({"v": code, "t": t}).merge(cap, on=["v", "t"], how="left")
        latency = t - captured["captured"].to_numpy(float)
    return _Media(code, t, value, t_first, ts_first, drift, latency, sessions)


def _per_code(n: int, codes: np.ndarray, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    out = np.full(n, fill)
    out[codes] = values
    return out


def _quantile(values: np.ndarray, q: float) -> float:
    v = values[~np.isnan(values)]
    return float(np.quantile(v, q)) if len(v) else np.nan


def _per_viewer_media(media: _Media, n: int, lag_threshold_s: float, startup_buffer_s: float,
                      rebuffer_goal_s: float, names: np.ndarray, at_playhead: np.ndarray
                      ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Per viewer code: media_s, max_drift_s, lagged_s, latency mean and p95 (at the
    playhead where `at_playhead`), stalls; and every stall's start (viewer, wall t)."""
    codes, starts, ends = segments(media.code)
    out = {k: np.full(n, np.nan) for k in ("media_s", "max_drift_s", "latency_s",
                                           "latency_p95_s", "stall_s", "rebuffer_ratio")}
    out["lagged_s"] = np.zeros(n)
    out["stalls"] = np.full(n, np.nan)
    stall_starts: list[tuple[str, float, float]] = []
    if not len(codes):
        return out, pd.DataFrame(stall_starts, columns=STALL_COLUMNS)
    out["max_drift_s"][codes] = np.fmax.reduceat(media.drift, starts)
    out["lagged_s"][codes] = np.add.reduceat(media.drift > lag_threshold_s, starts)
    for c, a, b in zip(codes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        rel_t, rel_media = media.rel(a, b, c)
        out["media_s"][c] = np.fmax.reduce(rel_media)
        # The first media's arrival is the model's origin: nothing received yet.
        t_first = float(media.t[a] - rel_t[0])
        times = np.concatenate(([0.0], rel_t))
        received = np.maximum.accumulate(np.concatenate(([0.0], rel_media)))
        r = simulate_arrays(times, received, startup_buffer_s, rebuffer_goal_s)
        if at_playhead[c]:  # in place: the run's percentiles and charts read it too
            media.latency[a:b] += buffered_at(times[1:], received[1:], r)
        lat = media.latency[a:b]
        lat = lat[~np.isnan(lat)]
        if len(lat):
            out["latency_s"][c] = lat.mean()
            out["latency_p95_s"][c] = float(np.quantile(lat, 0.95))
        out["stalls"][c], out["stall_s"][c] = r.stalls, r.stall_s
        out["rebuffer_ratio"][c] = r.rebuffer_ratio
        stall_starts += [(names[c], t_first + rel, s)
                         for rel, s in zip(r.stall_starts, r.stall_lengths, strict=True)]
    return out, pd.DataFrame(stall_starts, columns=STALL_COLUMNS)


def _per_viewer_bytes(b: Samples, n: int, t_video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per viewer code: the last bytes row's t, and mean_kbps over whole sample
    windows after the first video frame.

    Before the first video frame a live server sends audio alone (video waits for
    a key frame), which would pull a short viewer's mean below the source's. Each
    bytes row covers the window since the previous one: the first row at or after
    the first video frame only anchors the count.
    """
    b.sort_by_viewer()
    codes, starts, ends = segments(b.viewer)
    last_t, kbps = np.full(n, np.nan), np.full(n, np.nan)
    if not len(codes):
        return last_t, kbps
    last_t[codes] = np.fmax.reduceat(b.t, starts)
    for c, a, e in zip(codes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        tv = t_video[c]
        if np.isnan(tv):
            continue
        t = b.t[a:e]
        after = t >= tv
        if not after.any():
            continue
        anchor = t[after].min()
        counted = after & (t > anchor)
        if not counted.any():
            continue
        seconds = t[counted].max() - anchor
        if seconds > 0:
            kbps[c] = b.value[a:e][counted].sum() * 8 / 1000 / seconds
    return last_t, kbps


def measured_source_kbps(mean_kbps: pd.Series) -> float | None:
    """The median of the viewers' mean bitrates (each from its first video frame on)."""
    got = mean_kbps.dropna()
    got = got[np.isfinite(got) & (got > 0)]
    return float(got.median()) if len(got) else None


def _count(rows: pd.DataFrame, names: pd.Index) -> pd.Series:
    return rows.groupby("viewer").size().reindex(names).fillna(0).astype(int)


def _viewer_order(log: EventLog, rows: pd.DataFrame) -> tuple[pd.Index, pd.Series]:
    """The fans, in the order of their first row that is not an API call (API rows
    alone are the influencer's set-up), and the host of that row: where it played
    (its API calls may come from elsewhere: an adapter's journeys walked on the
    controller for viewers on worker processes)."""
    own = rows[rows["event"] != ev.API]
    frame_first = pd.DataFrame({"viewer": own["viewer"].astype(str).to_numpy(object),
                                "pos": own.index.to_numpy(np.int64),
                                "host": own["host"].astype(str).to_numpy(object)})
    sample_first = pd.DataFrame({"viewer": log.names, "pos": log.first_row,
                                 "host": log.first_host})
    sample_first = sample_first[sample_first["viewer"] != ""]
    both = pd.concat([frame_first, sample_first]).sort_values("pos", kind="stable")
    first = both.drop_duplicates("viewer")
    names = pd.Index(first["viewer"].to_numpy(object), name="viewer")
    return names, pd.Series(first["host"].to_numpy(object), index=names)


def analyse(
    log: EventLog | pd.DataFrame,
    lag_threshold_s: float = 3.0,
    planned: int | None = None,
    source_kbps_override: float | None = None,
    startup_buffer_s: float = STARTUP_BUFFER_S,
    rebuffer_goal_s: float = REBUFFER_GOAL_S,
) -> Analysis:
    """Analyse an EventLog (eventlog.read_log) or a read_events DataFrame."""
    log = EventLog.of(log)
    df = log.frame
    n = len(log.names)
    src = source_kbps_override or source_kbps(df)
    rows = df[(df["viewer"] != "") & (df["event"] != ev.HOST_SAMPLE)]
    names, hosts = _viewer_order(log, rows)
    fans = rows[rows["viewer"].isin(names)]
    out = pd.DataFrame(index=names)
    out["host"] = hosts

    def by_name(per_code: np.ndarray) -> pd.Series:
        return pd.Series(per_code, index=pd.Index(log.names, dtype=object)).reindex(names)

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

    # Media and bytes counted from the first media onwards. Both sorted by viewer
    # first, before drift and latency take their memory (the sorts need some too).
    for kind in (ev.SAMPLE_MEDIA_TS, ev.SAMPLE_BYTES):
        log.kind(kind).sort_by_viewer()
    media = _media(log, fans, publish_t0(df), publish_clock(df))
    segmented = play.index[play["protocol"].isin(PLAYHEAD_LATENCY)]
    per, stall_starts = _per_viewer_media(media, n, lag_threshold_s, startup_buffer_s,
                                          rebuffer_goal_s, log.names,
                                          np.isin(np.asarray(log.names, object), segmented))
    out["media_s"] = by_name(per["media_s"])
    t_video = first_video.reindex(pd.Index(log.names, dtype=object)).to_numpy(float)
    last_t, mean_kbps = _per_viewer_bytes(log.kind(ev.SAMPLE_BYTES), n, t_video)
    out["watched_s"] = (by_name(last_t) - first_media_t.reindex(names)).clip(lower=0)
    out["mean_kbps"] = by_name(mean_kbps)
    basis = source_kbps_basis(df)
    src_basis = ("given" if source_kbps_override else basis) if src else None
    if not src and basis == MEASURED:
        # Nobody said what the source sends (a stream someone else publishes, no
        # --source-kbps): the median viewer's steady bitrate stands in, labelled so.
        src = measured_source_kbps(out["mean_kbps"])
        src_basis = MEASURED if src else None
    out["bitrate_ratio"] = out["mean_kbps"] / src if src else np.nan
    # A ladder's viewer is held to the renditions it played, not to one source.
    out, spans = renditions.joined(out, fans, by_name(last_t), df)

    out["max_drift_s"] = by_name(per["max_drift_s"])
    # Samples are 1 s apart, so the count of lagged samples is seconds lagged.
    out["lagged_s"] = by_name(per["lagged_s"]).fillna(0).astype(int)
    out["latency_s"] = by_name(per["latency_s"])
    out["latency_p95_s"] = by_name(per["latency_p95_s"])
    out["stalls"] = by_name(per["stalls"]).fillna(0).astype(int)
    out["stall_s"] = by_name(per["stall_s"]).fillna(0.0)
    out["rebuffer_ratio"] = by_name(per["rebuffer_ratio"]).fillna(0.0)

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
        timeline=per_second(log.kind(ev.SAMPLE_BYTES), media, run_start_t(log),
                            lag_threshold_s),
        api=api_stats(df),
        source_kbps=src,
        lag_threshold_s=lag_threshold_s,
        planned=planned if planned is not None else len(viewers),
        samples=media.frame(log.names),
        stall_starts=stall_starts,
        spans=spans,
    )
    api = _rows(df, ev.API)
    analysis.api_rows = api[["t", "viewer", "name", "value", "status"]].rename(
        columns={"name": "endpoint", "value": "latency_s"}).reset_index(drop=True)
    analysis.info["start_t"] = run_start_t(log) if log.rows else None
    analysis.origin = origin_load.origin_load(log, fans, analysis.info["start_t"] or 0.0)
    analysis.info.update(fault_figures(df, analysis.info["start_t"] or 0.0))
    analysis.info["source_kbps_basis"] = src_basis
    analysis.info["latency_basis"] = latency_basis(log) if log.rows else NOT_MEASURABLE
    calib = _rows(df, ev.CALIBRATION)
    analysis.info["origin_latency_s"] = float(calib["value"].iloc[-1]) if len(calib) else None
    analysis.info["errors_by_kind"] = errors.groupby("name").size().to_dict()
    lat = media.latency[~np.isnan(media.latency)]
    analysis.info["latency_p50_s"] = float(np.quantile(lat, 0.5)) if len(lat) else None
    analysis.info["latency_p95_s"] = float(np.quantile(lat, 0.95)) if len(lat) else None
    return analysis


def _log_media(log: EventLog) -> _Media:
    rows = log.frame[(log.frame["viewer"] != "") & (log.frame["event"] != ev.HOST_SAMPLE)]
    names, _ = _viewer_order(log, rows)
    return _media(log, rows[rows["viewer"].isin(names)], publish_t0(log),
                  publish_clock(log.frame))


def timeline(log: EventLog | pd.DataFrame, lag_threshold_s: float) -> pd.DataFrame:
    """Per second since the run's start: viewers sampled, lagged, kbps and drift spread."""
    log = EventLog.of(log)
    return per_second(log.kind(ev.SAMPLE_BYTES), _log_media(log), run_start_t(log),
                      lag_threshold_s)


def media_samples(log: EventLog | pd.DataFrame) -> pd.DataFrame:
    """Per media_ts sample, by viewer then time: viewer, t, rel_t, rel_media, drift_s,
    latency_s; rel_t / rel_media are wall and media seconds since the viewer's first
    media, media stitched across its media sessions (media_sessions.py).

    Analysis.samples keeps drift and latency only (a long run has tens of millions
    of samples); this gives the rest for a closer look at a run."""
    log = EventLog.of(log)
    media = _log_media(log)
    rel_t = media.t - media.t_first[media.code]
    rel_media = media.value - media.ts_first[media.code]
    for start in media.sessions.start.tolist():
        c = int(media.code[start])
        if start and media.code[start - 1] == c:
            continue  # a later session of a viewer already done
        end = int(np.searchsorted(media.code, c, side="right"))
        rel_media[start:end] = media.rel(start, end, c)[1]
    out = media.frame(log.names)
    out.insert(2, "rel_t", rel_t)
    out.insert(3, "rel_media", rel_media)
    return out
