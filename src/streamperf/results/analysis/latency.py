"""What a run's latency is measured against, and where.

Against the publish clock when streamperf published (the publish_start row's T0),
else the stream's own capture clock (an HLS viewer's PROGRAM-DATE-TIME, a DASH
viewer's MPD availabilityStartTime), else it is not measurable. An RTMP or
HTTP-FLV viewer's latency is that of the newest media it received; an HLS or
DASH viewer's is read at the modelled playhead (playhead.PLAYHEAD_LATENCY), as
hls.js (`latency`) and dash.js (`getCurrentLiveLatency`) read theirs: such a
player holds seconds of media beyond the picture it shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.columnar import EventLog, frame_of

NOT_MEASURABLE = "not measurable"  # latency without a publish clock nor a capture clock
PDT, AVAILABILITY = "program date time", "availability start time"  # capture clocks


def _rows(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    return df[df["event"] == kind]


def publish_t0(log: EventLog | pd.DataFrame) -> float | None:
    rows = _rows(frame_of(log), ev.PUBLISH_START)
    return float(rows["value"].iloc[-1]) if len(rows) else None


def latency_basis(log: EventLog | pd.DataFrame) -> str:
    """What latency is measured against: the publish clock, else the stream's capture
    clock (an HLS viewer's PDT, a DASH viewer's MPD availabilityStartTime), or nothing."""
    log = EventLog.of(log)
    if publish_t0(log) is not None:
        return "publish clock"
    captured = log.kind(ev.SAMPLE_CAPTURE_T)
    if not len(captured):
        return NOT_MEASURABLE
    play = _rows(log.frame, ev.PLAY)
    dash = play.loc[play["name"] == "dash", "viewer"].astype(str)
    on_dash = np.isin(np.asarray(log.names, dtype=object)[np.unique(captured.viewer)], dash)
    return " and ".join(b for b, used in ((PDT, not on_dash.all()), (AVAILABILITY, on_dash.any()))
                        if used)


__all__ = ["AVAILABILITY", "NOT_MEASURABLE", "PDT", "latency_basis", "publish_t0"]
