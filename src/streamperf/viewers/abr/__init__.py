"""Adaptive bitrate: the players' rules, shared by the HLS and DASH viewers.

A viewer of a ladder (an HLS master playlist, a DASH video adaptation set) makes
one policy with `make_abr(mode, renditions)` and asks it, before each segment,
which rendition to fetch (`choose`); it reports each finished download
(`loaded`) and, while a download runs, asks whether to give it up for a lower
rendition (`abandon`). The policy keeps the throughput estimate and the buffer
(buffer.py, fed by the same calls), so the viewer only moves bytes.

Modes (ABR_MODES, docs/abr.md): `hlsjs` (estimate.py's two EWMAs and hls.js 1.5's
level choice and emergency abandon), `dashjs` (dash.js 4.7's throughput rule,
BOLA once the buffer is stable, insufficient-buffer and abandon rules),
`highest` / `lowest` / a rendition's name (pinned: one rendition all along).

What a viewer of a ladder of two or more reports of it: a row `on_event(RENDITION,
name, bandwidth_kbps, detail)` when it starts on a rendition and at each switch, `detail` being
`rendition_detail()`'s JSON (why: start|up|down|emergency, the rendition's
resolution, codecs, frame rate, and the estimate then); and as it stops, a
RENDITION_RATE row per rendition fetched: what its segments carried (RenditionRates).
"""

from __future__ import annotations

from streamperf.viewers.abr.buffer import PlayBuffer
from streamperf.viewers.abr.policy import (
    ABR_MODES,
    AbrPolicy,
    DashJsPolicy,
    HlsJsPolicy,
    PinnedPolicy,
    make_abr,
)
from streamperf.viewers.abr.rendition import (
    RENDITION,
    RENDITION_RATE,
    Rendition,
    RenditionRates,
    rendition_detail,
)

__all__ = [
    "ABR_MODES",
    "RENDITION",
    "RENDITION_RATE",
    "AbrPolicy",
    "DashJsPolicy",
    "HlsJsPolicy",
    "PinnedPolicy",
    "PlayBuffer",
    "Rendition",
    "RenditionRates",
    "make_abr",
    "rendition_detail",
]
