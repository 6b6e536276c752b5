"""What the ABR viewers played: renditions over time, switches, played bitrate.

From the RENDITION rows (one when a viewer starts on a rendition, one per
switch; docs/events.md): a viewer holds a rendition from its row until its next
one or its last sample. Figures, in CTA-2066's words where it has them
(docs/metrics.md):

  played_kbps     average bitrate: the renditions' bitrates weighted by the
                  seconds each was held (the bitrate a rendition is taken at:
                  the source's per-rendition row when streamperf encoded the
                  ladder, else what the viewers received of it (RENDITION_RATE
                  rows: segment bytes per media second), else the manifest's
                  AVERAGE-BANDWIDTH, else its declared BANDWIDTH)
  switches_up / switches_down   bitrate switches (an emergency one is a down)
  rendition       the one held at the end; start_rendition: the first
  time per rendition            `spans`: viewer, rendition, kbps, seconds

What the report draws of a ladder is taken here too: the share of the viewers on
each rendition second by second (`shares_over_time`), and the ladder's table
(`ladder`): per rendition its bitrates, share of viewer-time, viewers that started
and ended on it; the switches and the average played bitrate against the ladder.

A ladder viewer's bitrate_ratio is its mean_kbps over the bitrate its media
arrives at in real time: its renditions' bitrates weighted by the media seconds
it got of each (its RENDITION_RATE rows), so a viewer keeping up reads 1 and one
falling behind less, however often it switched.

A viewer without RENDITION rows (RTMP, FLV, a single-rendition stream) has
none of these: its columns stay empty and it counts in no share.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev

SOURCE_PREFIX = ev.SOURCE_RENDITION  # SOURCE row name prefix of one rendition's bitrate
COLUMNS = ["rendition", "start_rendition", "switches_up", "switches_down", "played_kbps"]

# Where the bitrate a rendition is taken at came from (spans' `basis`), best first.
SOURCE = "source"  # the source's per-rendition row: ffprobe of the ladder streamperf encoded
RECEIVED = "received"  # segment bytes per media second, over every viewer's rendition_rate
AVERAGE = "AVERAGE-BANDWIDTH"  # the master playlist's average
DECLARED = "declared"  # BANDWIDTH / @bandwidth: a peak


def _source_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["event"] == ev.SOURCE) & df["name"].astype(str).str.startswith(SOURCE_PREFIX)]


def source_by_rendition(df: pd.DataFrame) -> dict[str, float]:
    """The per-rendition SOURCE rows (`bitrate_kbps:NAME`), finite and positive."""
    rows = _source_rows(df)
    out: dict[str, float] = {}
    for name, value in zip(rows["name"], rows["value"], strict=True):
        v = float(value)
        if np.isfinite(v) and v > 0:
            out[str(name)[len(SOURCE_PREFIX):]] = v
    return out


def source_details(df: pd.DataFrame) -> dict[str, dict[str, object]]:
    """What the source rows say of each rendition streamperf encoded (docs/events.md:
    width, height, video_kbps, audio_kbps, codecs, frame_rate, ...); {} for others."""
    rows = _source_rows(df)
    return {str(name)[len(SOURCE_PREFIX):]: _detail(str(detail))
            for name, detail in zip(rows["name"], rows["detail"], strict=True)}


def rate_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """RENDITION_RATE rows as viewer, rendition, bytes, media_s (unusable ones left out)."""
    out = []
    for v, name, detail in zip(rows["viewer"].astype(str), rows["name"].astype(str),
                               rows["detail"].astype(str), strict=True):
        try:
            d = json.loads(detail) if detail.startswith("{") else {}
            nbytes, media_s = float(d["bytes"]), float(d["media_s"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if np.isfinite(nbytes) and np.isfinite(media_s) and nbytes >= 0 and media_s > 0:
            out.append((v, name, nbytes, media_s))
    return pd.DataFrame(out, columns=["viewer", "rendition", "bytes", "media_s"])


def received_by_rendition(rates: pd.DataFrame) -> dict[str, float]:
    """Each rendition's kbps as the viewers received it: segment bytes per media
    second, summed over viewers (from rate_rows)."""
    by = rates.groupby("rendition")[["bytes", "media_s"]].sum()
    return {str(k): float(r.bytes * 8 / r.media_s / 1000) for k, r in by.iterrows() if r.bytes > 0}


def _media_weighted(rates: pd.DataFrame, kbps: dict[str, float]) -> pd.Series:
    """Per viewer: its renditions' bitrates weighted by the media seconds it got of each,
    the bitrate its media arrives at when it keeps up with real time."""
    known = rates[rates["rendition"].isin(list(kbps))]
    if known.empty:
        return pd.Series(dtype=float)
    w = known["media_s"] * known["rendition"].map(kbps)
    return w.groupby(known["viewer"]).sum() / known.groupby("viewer")["media_s"].sum()


def _detail(text: str) -> dict[str, object]:
    """A RENDITION row's detail JSON; anything else (garbage, a list) is no detail."""
    try:
        d = json.loads(text) if text.startswith("{") else {}
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _number(value: object) -> float:
    """A positive finite number from a detail, else NaN."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    v = float(value) if ok else np.nan  # type: ignore[arg-type]
    return v if np.isfinite(v) and v > 0 else np.nan


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _kbps(row_kbps: float, detail: dict[str, object], name: str, source: dict[str, float],
          basis: dict[str, str]) -> tuple[float, str]:  # fmt: skip
    """The bitrate a rendition is taken at, and where it came from (SOURCE ... DECLARED)."""
    if name in source:
        return source[name], basis.get(name, SOURCE)
    avg = _number(detail.get("avg_kbps"))
    if np.isfinite(avg):
        return avg, AVERAGE
    return (row_kbps, DECLARED) if np.isfinite(row_kbps) and row_kbps > 0 else (np.nan, "")


#: rendition_spans' columns: the viewer, what it held (the name, why it switched, the
#: bitrate it is taken at and where that came from, as declared, as the source measured
#: it; resolution, codecs and frame rate as the manifest declared them, "" / NaN when
#: not), from when, how long
SPAN_COLUMNS = ["viewer", "rendition", "why", "kbps", "basis", "declared_kbps", "source_kbps",
                "res", "codecs", "fps", "t", "seconds"]


def rendition_spans(rows: pd.DataFrame, end_t: pd.Series, source: dict[str, float],
                    basis: dict[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per (viewer, span held), SPAN_COLUMNS.

    `rows`: the RENDITION rows; `end_t`: each viewer's last sample time; `source`: the
    bitrates known for renditions by name, `basis` where each came from (SOURCE when
    not said).
    """
    if rows.empty:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    r = rows.sort_values(["viewer", "t"], kind="stable")
    viewer = r["viewer"].astype(str).to_numpy()
    t = r["t"].to_numpy(float)
    names = r["name"].astype(str).to_numpy()
    details = [_detail(d) for d in r["detail"].astype(str)]
    values = r["value"].to_numpy(float)
    nxt = np.empty_like(t)
    nxt[:-1] = t[1:]
    last = np.ones(len(t), dtype=bool)
    last[:-1] = viewer[1:] != viewer[:-1]
    ends = end_t.reindex(viewer).to_numpy(float)
    nxt[last] = ends[last]
    seconds = np.clip(np.nan_to_num(nxt - t, nan=0.0), 0.0, None)
    taken = [_kbps(v, d, n, source, basis or {})
             for v, d, n in zip(values, details, names, strict=True)]
    return pd.DataFrame({
        "viewer": viewer, "rendition": names, "why": [_text(d.get("why")) for d in details],
        "kbps": [k for k, _ in taken], "basis": [b for _, b in taken],
        "declared_kbps": [_number(v) for v in values.tolist()],
        "source_kbps": [source.get(n, np.nan) for n in names],
        "res": [_text(d.get("res")) for d in details],
        "codecs": [_text(d.get("codecs")) for d in details],
        "fps": [_number(d.get("fps")) for d in details], "t": t, "seconds": seconds})


def per_viewer(spans: pd.DataFrame, names: pd.Index) -> pd.DataFrame:
    """COLUMNS per viewer (index `names`), from rendition_spans."""
    out = pd.DataFrame(index=names, columns=COLUMNS, dtype=object)
    out["switches_up"] = 0
    out["switches_down"] = 0
    out["played_kbps"] = np.nan
    if spans.empty:
        out["rendition"] = out["start_rendition"] = ""
        return out
    g = spans.groupby("viewer", sort=False)
    out["rendition"] = g["rendition"].last().reindex(names).fillna("")
    out["start_rendition"] = g["rendition"].first().reindex(names).fillna("")
    up = spans[spans["why"] == "up"].groupby("viewer").size()
    down = spans[spans["why"].isin(["down", "emergency"])].groupby("viewer").size()
    out["switches_up"] = up.reindex(names).fillna(0).astype(int)
    out["switches_down"] = down.reindex(names).fillna(0).astype(int)
    known = spans[np.isfinite(spans["kbps"].astype(float))]
    weighted = (known["kbps"] * known["seconds"]).groupby(known["viewer"]).sum()
    held = known.groupby("viewer")["seconds"].sum()
    out["played_kbps"] = (weighted / held.where(held > 0)).reindex(names)
    return out


def joined(out: pd.DataFrame, fans: pd.DataFrame, end_t: pd.Series,
           df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """`out` (per viewer) with COLUMNS joined, a ladder viewer's bitrate_ratio taken
    against the renditions it played; and the spans."""
    # a rendition's bitrate: the source's own figure, else what the viewers received of it
    got = rate_rows(fans[fans["event"] == ev.RENDITION_RATE])
    received, encoded = received_by_rendition(got), source_by_rendition(df)
    kbps = {**received, **encoded}
    basis = {**dict.fromkeys(received, RECEIVED), **dict.fromkeys(encoded, SOURCE)}
    spans = rendition_spans(fans[fans["event"] == ev.RENDITION], end_t, kbps, basis)
    out = out.join(per_viewer(spans, out.index))
    # held to the bitrate of what it received: by media seconds (its own rendition_rate
    # rows), else by the seconds each rendition was held
    expected = _media_weighted(got, kbps).reindex(out.index).fillna(out["played_kbps"])
    abr = expected.notna()
    out.loc[abr, "bitrate_ratio"] = out.loc[abr, "mean_kbps"] / expected[abr]
    return out, spans


def ladder_viewers(viewers: pd.DataFrame) -> pd.DataFrame:
    """The viewers (Analysis.viewers rows) that got video and played a ladder."""
    return viewers[viewers["got_media"].astype(bool) & viewers["played_kbps"].notna()]


def summary(watching: pd.DataFrame, spans: pd.DataFrame) -> dict[str, object]:
    """The ladder's figures for summary.json, for runs whose viewers played one."""
    abr = ladder_viewers(watching)
    if not len(abr):
        return {}
    return {
        "rendition_shares": shares(spans),
        "played_mean_kbps": float(abr["played_kbps"].mean()),
        "switches_up": int(abr["switches_up"].sum()),
        "switches_down": int(abr["switches_down"].sum()),
        "renditions_at_end": {str(k): int(n) for k, n in abr["rendition"].value_counts().items()},
    }


def shares(spans: pd.DataFrame) -> dict[str, float]:
    """Share of the viewer-seconds on each rendition (highest bitrate first)."""
    if spans.empty or spans["seconds"].sum() <= 0:
        return {}
    by = spans.groupby("rendition").agg(seconds=("seconds", "sum"), kbps=("kbps", "max"))
    by = by.sort_values("kbps", ascending=False)
    total = float(by["seconds"].sum())
    return {str(k): round(float(s) / total, 4) for k, s in by["seconds"].items()}


def over_time(spans: pd.DataFrame, start_t: float, seconds: int) -> pd.DataFrame:
    """Viewers on each rendition at each whole second of the run (index: second)."""
    if spans.empty or seconds <= 0:
        return pd.DataFrame()
    grid = start_t + np.arange(seconds, dtype=float)
    t0 = spans["t"].to_numpy(float)
    t1 = t0 + spans["seconds"].to_numpy(float)
    cols = {}
    for name in spans.sort_values("kbps", ascending=False)["rendition"].unique():
        m = (spans["rendition"] == name).to_numpy()
        a, b = np.sort(t0[m]), np.sort(t1[m])
        cols[str(name)] = (np.searchsorted(a, grid, "right")
                           - np.searchsorted(b, grid, "right"))
    return pd.DataFrame(cols, index=pd.RangeIndex(seconds, name="second"))


def _held_by(edges: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Seconds held before each of `edges`, summed over the spans [t0, t1) (sorted each)."""
    def ramp(starts: np.ndarray) -> np.ndarray:  # sum of max(0, edge - start)
        k = np.searchsorted(starts, edges, "right")
        before = np.concatenate(([0.0], np.cumsum(starts)))
        return k * edges - before[k]

    return ramp(t0) - ramp(t1)


def seconds_over_time(spans: pd.DataFrame, start_t: float, seconds: int,
                      width: int = 1) -> pd.DataFrame:  # fmt: skip
    """Viewer-seconds held of each rendition (columns, highest bitrate first) in each
    bucket of `width` whole seconds of the run (index: the bucket's first second), over
    the run's first `seconds`: a viewer counts for the part of a bucket it held."""
    if spans.empty or seconds <= 0:
        return pd.DataFrame()
    width = max(1, int(width))
    n = math.ceil(seconds / width)
    edges = start_t + width * np.arange(n + 1, dtype=float)
    t0 = spans["t"].to_numpy(float)
    t1 = t0 + spans["seconds"].to_numpy(float)
    cols = {}
    for name in _by_bitrate(spans):
        m = (spans["rendition"] == name).to_numpy()
        cols[name] = np.diff(_held_by(edges, np.sort(t0[m]), np.sort(t1[m])))
    return pd.DataFrame(cols, index=pd.RangeIndex(0, n * width, width, name="second"))


def shares_over_time(spans: pd.DataFrame, start_t: float, seconds: int,
                     width: int = 1) -> pd.DataFrame:  # fmt: skip
    """The share (0..1) of the viewers playing the ladder that held each rendition, per
    bucket of seconds (seconds_over_time over its row's sum); NaN where none played."""
    held = seconds_over_time(spans, start_t, seconds, width)
    if held.empty:
        return held
    total = held.sum(axis=1)
    return held.div(total.where(total > 0), axis=0)


def _by_bitrate(spans: pd.DataFrame) -> list[str]:
    """The renditions of `spans`, highest bitrate first (declared, when none is known)."""
    by = spans.groupby("rendition").agg(kbps=("kbps", "max"), declared=("declared_kbps", "max"))
    by = by.sort_values(["kbps", "declared"], ascending=False, na_position="last",
                        kind="stable")
    return [str(k) for k in by.index]


#: Ladder.rows' columns, one row per rendition, highest bitrate first: its name and
#: resolution, the bitrate declared (the manifest's) and the one it is taken at (the
#: played bitrate's basis) with where that came from; viewer-seconds held and their
#: share; ladder viewers that started on it and that held it at the end
LADDER_COLUMNS = ["rendition", "res", "declared_kbps", "kbps", "basis", "viewer_s", "share",
                  "started", "at_end"]


@dataclass(frozen=True)
class Ladder:
    """A ladder as the report shows it, from the spans and the per-viewer figures."""

    rows: pd.DataFrame  # LADDER_COLUMNS
    viewers: int  # viewers that got video and played the ladder
    switches_up: int
    switches_down: int
    played_mean_kbps: float | None  # the mean of those viewers' played_kbps
    #: the highest rendition's bitrate, played_mean_kbps over it, and the renditions whose
    #: bitrates enclose played_mean_kbps (lower, upper; one name twice on a rung)
    top_kbps: float | None
    played_vs_top: float | None
    between: tuple[str, str] | None


def ladder(viewers: pd.DataFrame, spans: pd.DataFrame, df: pd.DataFrame) -> Ladder | None:
    """The ladder's table and totals; None when no viewer played one. `viewers`:
    Analysis.viewers; `df`: the log's rows (its source rows name renditions nobody
    played, which get a row of their own)."""
    if spans.empty:
        return None
    abr = ladder_viewers(viewers)
    by = spans.groupby("rendition").agg(
        res=("res", lambda r: next((x for x in r if x), "")),
        declared_kbps=("declared_kbps", "max"), kbps=("kbps", "max"),
        basis=("basis", lambda b: next((x for x in b if x), "")),
        viewer_s=("seconds", "sum"))
    encoded = source_by_rendition(df)
    for name, detail in source_details(df).items():  # encoded, never played
        if name not in by.index and name in encoded:
            w, h = detail.get("width"), detail.get("height")
            by.loc[name] = [f"{w}x{h}" if w and h else "", np.nan, encoded[name], SOURCE, 0.0]
    by = by.sort_values(["kbps", "declared_kbps"], ascending=False, na_position="last",
                        kind="stable")
    total = float(by["viewer_s"].sum())
    by["share"] = by["viewer_s"] / total if total > 0 else np.nan
    by["started"] = abr["start_rendition"].value_counts().reindex(by.index).fillna(0)
    by["at_end"] = abr["rendition"].value_counts().reindex(by.index).fillna(0)
    by[["started", "at_end"]] = by[["started", "at_end"]].astype(int)
    rows = by.rename_axis("rendition").reset_index()[LADDER_COLUMNS]
    played = float(abr["played_kbps"].mean()) if len(abr) else None
    known = rows[np.isfinite(rows["kbps"].astype(float))]
    top = float(known["kbps"].iloc[0]) if len(known) else None
    return Ladder(rows, len(abr), int(abr["switches_up"].sum()),
                  int(abr["switches_down"].sum()), played, top,
                  played / top if played is not None and top else None,
                  _between(known, played))


def _between(known: pd.DataFrame, kbps: float | None) -> tuple[str, str] | None:
    """The renditions whose bitrates enclose `kbps` (`known`: highest first)."""
    if kbps is None or known.empty:
        return None
    rates = known["kbps"].to_numpy(float)
    names = known["rendition"].astype(str).tolist()
    upper = [n for n, r in zip(names, rates, strict=True) if r >= kbps]
    lower = [n for n, r in zip(names, rates, strict=True) if r <= kbps]
    return (lower[0] if lower else names[-1], upper[-1] if upper else names[0])


__all__ = ["AVERAGE", "COLUMNS", "DECLARED", "LADDER_COLUMNS", "RECEIVED", "SOURCE",
           "SOURCE_PREFIX", "Ladder", "joined", "ladder", "ladder_viewers", "over_time",
           "per_viewer", "rate_rows", "received_by_rendition", "rendition_spans",
           "seconds_over_time", "shares", "shares_over_time", "source_by_rendition",
           "source_details", "summary"]
