"""ITU-T P.1203 mode-0 input for each viewer of a ladder, so a team can score it.

P.1203 rates a streaming session's quality (MOS) from its media: the video's
segments (bitrate, resolution, frame rate, codec, duration), the audio's, the
stalls and the device. Mode 0 needs no more than that metadata, which the
event log holds for a viewer that played a ladder (its `rendition` rows, the
source's per-rendition rows, the playhead model's stalls). `inputs` gives it in
the input JSON of the public itu-p1203 package (`I13`, `I11`, `I23`, `IGen`,
docs/abr.md), one document per viewer. streamperf writes the input only: the
P.1203 model is never shipped nor called, as its reference code's licence
forbids commercial use; teams run the model they are licensed to run.

Media time (every P.1203 timestamp is media time) runs from the viewer's first
video frame: wall seconds since then, less the playhead model's stall time
(playhead.py) begun since. So a viewer's played media time is its last sample
less its first video frame, less its stall time, and its I13 segments sum to it.

  I13   a segment per span a rendition was held (renditions.rendition_spans; the
        first from the first frame), start and duration in media time. Bitrate:
        the rendition's video stream (the source's `video_kbps` when streamperf
        encoded the ladder; else the rendition's bitrate less the audio's when
        that is known; else the rendition's bitrate as taken, audio included);
        codec from its CODECS, resolution and frame rate as declared.
  I11   the shared audio along the same segments: its bitrate (the source's
        `audio_kbps`) and codec; no segments when its bitrate is not known.
  I23   [0, video start time] (initial loading, which P.1203 counts as a stall
        at 0), then each stall of the playhead model: [media time, seconds].
  IGen  device "pc"; displaySize: the ladder's largest resolution.

A value the log does not hold (a manifest without FRAME-RATE or CODECS) takes a
stated default, named in the document's own `streamperf` block beside where
each bitrate came from; P.1203 readers ignore that block.

A viewer of a single rendition (RTMP, FLV, a plain playlist) has no rendition
rows, so no resolution or frame rate in the log: it gets no document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamperf.results.analysis import renditions
from streamperf.results.analysis.figures import STALL_COLUMNS, Analysis
from streamperf.results.eventlog import schema as ev

DEVICE = "pc"
DEFAULT_DISPLAY = "1920x1080"
DEFAULT_FPS = 30.0
DEFAULT_VIDEO_CODEC = "h264"  # the one video codec P.1203 itself defines
DEFAULT_AUDIO_CODEC = "aaclc"
#: RFC 6381 sample entries -> P.1203's codec names (h265, vp9, av1: the codec extension's)
VIDEO_CODECS = {
    "avc1": "h264",
    "avc3": "h264",
    "hvc1": "h265",
    "hev1": "h265",
    "vp09": "vp9",
    "av01": "av1",
}
AUDIO_CODECS = {
    "mp4a.40.2": "aaclc",
    "mp4a.40.5": "heaac",
    "mp4a.40.29": "heaac",
    "mp4a.40.34": "mp2",
    "mp4a.6b": "mp2",
    "mp4a.69": "mp2",
    "ac-3": "ac3",
}
_HEIGHT = re.compile(r"^(\d{3,4})p(?:-\d+)?$")  # a rendition named by its height: 480p, 480p-2

# Where a segment's video bitrate came from (the document's streamperf.bitrate_basis).
VIDEO_STREAM = "video stream (source)"
LESS_AUDIO = "rendition less audio"
WITH_AUDIO = "rendition (audio included)"


@dataclass
class _Rung:
    """One rendition as P.1203 reads it, and what had to be assumed of it."""

    video_kbps: float
    basis: str
    resolution: str
    fps: float
    codec: str
    assumed: list[str] = field(default_factory=list)

    def segment(self, start: float, duration: float) -> dict[str, Any]:
        return {
            "bitrate": round(self.video_kbps, 1),
            "codec": self.codec,
            "duration": round(duration, 3),
            "fps": self.fps,
            "resolution": self.resolution,
            "start": round(start, 3),
        }


def _first(values: pd.Series) -> Any:
    return next((v for v in values if isinstance(v, str) and v), "")


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _entries(codecs: str) -> list[str]:
    return [c.strip().lower() for c in codecs.split(",") if c.strip()]


def _audio(df: pd.DataFrame, spans: pd.DataFrame) -> tuple[float | None, str, list[str]]:
    """The shared audio's kbps (the source's, when it says), its codec, what was assumed."""
    details = renditions.source_details(df).values()
    kbps = next((k for d in details if (k := _finite(d.get("audio_kbps")))), None)
    texts = [str(d.get("codecs") or "") for d in details] + list(spans["codecs"].astype(str))
    for entry in (e for text in texts for e in _entries(text)):
        if entry in AUDIO_CODECS:
            return kbps, AUDIO_CODECS[entry], []
    return kbps, DEFAULT_AUDIO_CODEC, [f"audio codec {DEFAULT_AUDIO_CODEC} (not declared)"]


def _rung(name: str, held: pd.DataFrame, detail: dict[str, Any], audio_kbps: float | None) -> _Rung:
    assumed = []
    width, height = _finite(detail.get("width")), _finite(detail.get("height"))
    resolution = _first(held["res"]) or (f"{width:.0f}x{height:.0f}" if width and height else "")
    if not resolution:
        m = _HEIGHT.match(name)
        h = int(m.group(1)) if m else 0
        resolution = f"{round(h * 16 / 9 / 2) * 2}x{h}" if h else DEFAULT_DISPLAY
        assumed.append(f"{name} resolution {resolution} (not declared)")
    fps = next((f for f in held["fps"] if _finite(f)), None) or _finite(detail.get("frame_rate"))
    if fps is None:
        fps = DEFAULT_FPS
        assumed.append(f"{name} fps {DEFAULT_FPS:g} (not declared)")
    codecs = _first(held["codecs"]) or str(detail.get("codecs") or "")
    codec = next((VIDEO_CODECS[e[:4]] for e in _entries(codecs) if e[:4] in VIDEO_CODECS), "")
    if not codec:
        codec = DEFAULT_VIDEO_CODEC
        assumed.append(f"{name} codec {codec} (not declared)")
    video = _finite(detail.get("video_kbps"))
    if video is not None:
        return _Rung(video, VIDEO_STREAM, resolution, float(fps), codec, assumed)
    taken = _finite(held["kbps"].max()) or _finite(held["declared_kbps"].max())
    if taken is None:
        assumed.append(f"{name} bitrate unknown: 0")
        return _Rung(0.0, WITH_AUDIO, resolution, float(fps), codec, assumed)
    if audio_kbps is not None and taken > audio_kbps:
        return _Rung(taken - audio_kbps, LESS_AUDIO, resolution, float(fps), codec, assumed)
    return _Rung(taken, WITH_AUDIO, resolution, float(fps), codec, assumed)


def _area(resolution: str) -> int:
    w, _, h = resolution.partition("x")
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0


def media_clock(first_t: float, end_t: float, stalls: pd.DataFrame) -> Callable[[float], float]:
    """Media time at a wall time: seconds since `first_t` (the first video frame) up to
    `end_t`, less the time spent in `stalls` (t, seconds) since `first_t`."""
    t0 = np.maximum(stalls["t"].to_numpy(float), first_t)
    length = np.clip(stalls["t"].to_numpy(float) + stalls["seconds"].to_numpy(float) - t0, 0, None)

    def at(t: float) -> float:
        t = min(max(t, first_t), end_t)
        return t - first_t - float(np.clip(t - t0, 0.0, length).sum())

    return at


def _viewer(
    stream_id: int,
    viewer: str,
    protocol: str,
    held: pd.DataFrame,
    first_t: float,
    startup_s: float,
    stalls: pd.DataFrame,
    rungs: dict[str, _Rung],
    audio: tuple[float | None, str, list[str]],
    display: str,
) -> dict[str, Any] | None:
    held = held.sort_values("t", kind="stable")
    t = held["t"].to_numpy(float)
    end_t = float((t + held["seconds"].to_numpy(float)).max())
    clock = media_clock(first_t, end_t, stalls)
    video, audio_segments, names = [], [], []
    audio_kbps, audio_codec, assumed = audio
    for i, (name, start, seconds) in enumerate(
        zip(held["rendition"].astype(str), t, held["seconds"].to_numpy(float), strict=True)
    ):
        a = min(start, first_t) if i == 0 else start  # held from before its first frame
        m0, m1 = clock(a), clock(start + seconds)
        if m1 - m0 < 0.001:
            continue
        video.append(rungs[name].segment(m0, m1 - m0))
        names.append(name)
        if audio_kbps is not None:
            audio_segments.append(
                {
                    "bitrate": round(audio_kbps, 1),
                    "codec": audio_codec,
                    "duration": round(m1 - m0, 3),
                    "start": round(m0, 3),
                }
            )
    if not video:
        return None
    initial = round(startup_s, 3) if math.isfinite(startup_s) and startup_s > 0 else 0.0
    stalling = [[0.0, initial]] + [
        [round(clock(s), 3), round(float(n), 3)]
        for s, n in zip(stalls["t"], stalls["seconds"], strict=True)
    ]
    used = sorted(set(names))
    notes = [x for n in used for x in rungs[n].assumed] + assumed
    if audio_kbps is None:
        notes.append("audio bitrate unknown: I11 has no segments")
    return {
        "I11": {"segments": audio_segments, "streamId": stream_id},
        "I13": {"segments": video, "streamId": stream_id},
        "I23": {"stalling": stalling, "streamId": stream_id},
        "IGen": {"device": DEVICE, "displaySize": display},
        "streamperf": {
            "viewer": viewer,
            "protocol": protocol,
            "played_s": round(clock(end_t), 3),
            "renditions": names,
            "bitrate_basis": {n: rungs[n].basis for n in used},
            "assumed": notes,
        },
    }


def inputs(a: Analysis, df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """viewer -> its P.1203 mode-0 input, for every viewer that got video and held a
    rendition; {} for a run without a ladder. `df`: the log's rows (first frames and
    source rows; the per-second samples are not needed)."""
    spans = a.spans
    if spans is None or spans.empty:
        return {}
    first_video = df[df["event"] == ev.FIRST_VIDEO].groupby("viewer")["t"].min()
    details = renditions.source_details(df)
    audio = _audio(df, spans)
    rungs = {
        str(name): _rung(str(name), g, details.get(str(name), {}), audio[0])
        for name, g in spans.groupby("rendition", sort=False)
    }
    sizes = [r.resolution for r in rungs.values()] + [
        f"{d.get('width')}x{d.get('height')}" for d in details.values()
    ]
    display = max(sizes, key=_area) if any(_area(s) for s in sizes) else DEFAULT_DISPLAY
    stalls = a.stall_starts if "t" in a.stall_starts else pd.DataFrame(columns=STALL_COLUMNS)
    stalls = stalls.sort_values("t", kind="stable")
    stalls_of = {str(k): g for k, g in stalls.groupby("viewer", observed=True)}
    spans_of = {str(k): g for k, g in spans.groupby("viewer", sort=False)}
    out: dict[str, dict[str, Any]] = {}
    for stream_id, row in a.viewers.reset_index(drop=True).iterrows():
        viewer = str(row["viewer"])
        first_t = first_video.get(viewer)
        if viewer not in spans_of or first_t is None or not row["got_media"]:
            continue
        doc = _viewer(
            int(stream_id),
            viewer,
            str(row["protocol"]),
            spans_of[viewer],
            float(first_t),
            float(row["startup_s"]),
            stalls_of.get(viewer, stalls[:0]),
            rungs,
            audio,
            display,
        )
        if doc is not None:
            out[viewer] = doc
    return out


__all__ = ["DEVICE", "inputs", "media_clock"]
