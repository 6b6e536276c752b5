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

A ladder viewer's bitrate_ratio is its mean_kbps over the bitrate its media
arrives at in real time: its renditions' bitrates weighted by the media seconds
it got of each (its RENDITION_RATE rows), so a viewer keeping up reads 1 and one
falling behind less, however often it switched.

A viewer without RENDITION rows (RTMP, FLV, a single-rendition stream) has
none of these: its columns stay empty and it counts in no share.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev

SOURCE_PREFIX = ev.SOURCE_RENDITION  # SOURCE row name prefix of one rendition's bitrate
COLUMNS = ["rendition", "start_rendition", "switches_up", "switches_down", "played_kbps"]


def source_by_rendition(df: pd.DataFrame) -> dict[str, float]:
    """The per-rendition SOURCE rows (`bitrate_kbps:NAME`), finite and positive."""
    rows = df[(df["event"] == ev.SOURCE) & df["name"].astype(str).str.startswith(SOURCE_PREFIX)]
    out: dict[str, float] = {}
    for name, value in zip(rows["name"], rows["value"], strict=True):
        v = float(value)
        if np.isfinite(v) and v > 0:
            out[str(name)[len(SOURCE_PREFIX):]] = v
    return out


def _rate_rows(rows: pd.DataFrame) -> pd.DataFrame:
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
    second, summed over viewers (from _rate_rows)."""
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


def _kbps(row_kbps: float, detail: dict[str, object], name: str,
          source: dict[str, float]) -> float:  # fmt: skip
    if name in source:
        return source[name]
    avg = _number(detail.get("avg_kbps"))
    if np.isfinite(avg):
        return avg
    return row_kbps if np.isfinite(row_kbps) and row_kbps > 0 else np.nan


#: rendition_spans' columns: the viewer, what it held (the name, why it switched, the
#: bitrate it is taken at, as declared, as the source measured it; resolution, codecs
#: and frame rate as the manifest declared them, "" / NaN when not), from when, how long
SPAN_COLUMNS = ["viewer", "rendition", "why", "kbps", "declared_kbps", "source_kbps", "res",
                "codecs", "fps", "t", "seconds"]


def rendition_spans(rows: pd.DataFrame, end_t: pd.Series,
                    source: dict[str, float]) -> pd.DataFrame:  # fmt: skip
    """One row per (viewer, span held), SPAN_COLUMNS.

    `rows`: the RENDITION rows; `end_t`: each viewer's last sample time.
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
    kbps = [_kbps(v, d, n, source) for v, d, n in zip(values, details, names, strict=True)]
    return pd.DataFrame({
        "viewer": viewer, "rendition": names, "why": [_text(d.get("why")) for d in details],
        "kbps": kbps, "declared_kbps": [_number(v) for v in values.tolist()],
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
    got = _rate_rows(fans[fans["event"] == ev.RENDITION_RATE])
    kbps = {**received_by_rendition(got), **source_by_rendition(df)}
    spans = rendition_spans(fans[fans["event"] == ev.RENDITION], end_t, kbps)
    out = out.join(per_viewer(spans, out.index))
    # held to the bitrate of what it received: by media seconds (its own rendition_rate
    # rows), else by the seconds each rendition was held
    expected = _media_weighted(got, kbps).reindex(out.index).fillna(out["played_kbps"])
    abr = expected.notna()
    out.loc[abr, "bitrate_ratio"] = out.loc[abr, "mean_kbps"] / expected[abr]
    return out, spans


def summary(watching: pd.DataFrame, spans: pd.DataFrame) -> dict[str, object]:
    """The ladder's figures for summary.json, for runs whose viewers played one."""
    abr = watching[watching["played_kbps"].notna()]
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


__all__ = ["COLUMNS", "SOURCE_PREFIX", "joined", "over_time", "per_viewer",
           "received_by_rendition", "rendition_spans", "shares", "source_by_rendition", "summary"]
