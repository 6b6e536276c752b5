"""A viewer's media clock across faults: reconnects and a restarted publisher.

A viewer's `media_ts` samples are one clock only while nothing breaks. Two
faults start a new one mid-viewer:
- a reconnect (`--reconnect`, a `reconnect` row): a new connection joins the
  live stream wherever it is now;
- a restarted publisher (`--republish`) on a connection that stays open:
  nginx-rtmp passes the new ffmpeg's timestamps through, from 0 again.
Each such stretch is a *media session*. Within one, drift is measured from
its own first media (a viewer that rejoins live has not accumulated the
media it missed as delay). Across them the media received is stitched end
to end, so the playhead model sees no media arriving during the gap: the gap
counts as stall time, as a player would show it.

A new session starts at a `reconnect` row, or where the media clock goes
back by more than CLOCK_BACK_S between two samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from streamperf.results import events as ev

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

    Viewers with one session keep their figures exactly; only the others are
    walked sample by sample.
    """
    reconnects = df[df["event"] == ev.RECONNECT]
    m = m.sort_values(["viewer", "t"])
    back = m.groupby("viewer", sort=False)["value"].diff() < -CLOCK_BACK_S
    affected = set(reconnects["viewer"]) | set(m.loc[back, "viewer"])
    if not affected:
        return m
    firsts = df[df["event"].isin([ev.FIRST_AUDIO, ev.FIRST_VIDEO])]
    rel_media = m["rel_media"].to_numpy(dtype=float, copy=True)
    drift = m["drift_s"].to_numpy(dtype=float, copy=True)
    positions = pd.Series(np.arange(len(m)), index=m.index)
    for viewer, g in m[m["viewer"].isin(affected)].groupby("viewer", sort=False):
        rec_t = np.sort(reconnects.loc[reconnects["viewer"] == viewer, "t"].to_numpy(float))
        fv = firsts[firsts["viewer"] == viewer].sort_values("t")
        first_t, first_v = fv["t"].to_numpy(float), fv["value"].to_numpy(float)
        ts, vs = g["t"].to_numpy(float), g["value"].to_numpy(float)
        anchor_t, anchor_v = float(g["t_first"].iloc[0]), float(g["ts_first"].iloc[0])
        base = received = 0.0
        ri = 0
        for i, pos in enumerate(positions[g.index].to_numpy()):
            t, v = ts[i], vs[i]
            boundary: float | None = None
            while ri < len(rec_t) and rec_t[ri] < t:
                boundary = rec_t[ri]
                ri += 1
            if boundary is None and i and v < vs[i - 1] - CLOCK_BACK_S:
                boundary = ts[i - 1]
            if boundary is not None:
                base = received
                # The new session's first frame row when there is one (a new
                # connection reports it), else this sample.
                k = np.searchsorted(first_t, boundary, side="right")
                if k < len(first_t) and first_t[k] <= t:
                    anchor_t, anchor_v = first_t[k], first_v[k]
                else:
                    anchor_t, anchor_v = t, v
            rel_media[pos] = base + (v - anchor_v)
            drift[pos] = (t - anchor_t) - (v - anchor_v)
            received = max(received, rel_media[pos])
    return m.assign(rel_media=rel_media, drift_s=drift)
