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
    firsts = firsts.rename(columns={"t": "t_anchor", "value": "v_anchor"}).sort_values(
        "t_anchor")
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
