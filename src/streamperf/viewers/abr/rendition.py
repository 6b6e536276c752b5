"""One rung of a ladder as a player sees it, and the row a viewer reports on a switch."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

#: Row kind of a rendition choice: name=rendition, value=its bandwidth (kbps),
#: detail=rendition_detail() (the event log takes it as its own, like FIRST_VIDEO)
RENDITION = "rendition"

#: Row kind a ladder viewer writes as it stops, one per rendition it played: name=rendition,
#: value=its kbps as received (segment bytes per media second), detail={"bytes","media_s"}
RENDITION_RATE = "rendition_rate"

WHYS = ("start", "up", "down", "emergency")


class RenditionRates:
    """Bytes and media seconds of the segments a viewer fetched, per rendition: what
    each rendition really carries, where a manifest declares only a peak.

    The first segment is left out: it is in before the first frame (its being whole
    is the first frame), outside the bytes a viewer's mean_kbps counts, which its
    bitrate_ratio holds against these (results/analysis/renditions.py)."""

    __slots__ = ("first", "got")

    def __init__(self) -> None:
        self.got: dict[str, list[float]] = {}
        self.first = True

    def add(self, name: str, nbytes: int, media_s: float) -> None:
        if self.first:
            self.first = False
        elif media_s > 0:
            acc = self.got.setdefault(name, [0.0, 0.0])
            acc[0] += nbytes
            acc[1] += media_s

    def report(self, on_event: Callable[[str, str, float, str], None]) -> None:
        """One RENDITION_RATE row per rendition fetched."""
        for name, (nbytes, media_s) in self.got.items():
            detail = json.dumps({"bytes": int(nbytes), "media_s": round(media_s, 3)})
            on_event(RENDITION_RATE, name, nbytes * 8 / media_s / 1000, detail)
        self.got.clear()


@dataclass(frozen=True, slots=True)
class Rendition:
    """A rendition: what its manifest declares. `key` is the viewer's own handle
    (a variant playlist's URI, a DASH Representation's id)."""

    name: str
    bandwidth: int  # bits/s as declared (HLS BANDWIDTH: a peak; DASH @bandwidth)
    key: str
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    fps: float | None = None
    #: HLS AVERAGE-BANDWIDTH when given: what the rendition averages, bits/s
    average_bandwidth: int | None = None


def rendition_name(bandwidth: int, resolution: tuple[int, int] | None, taken: set[str]) -> str:
    """A short unique name for a rung: `480p`, or `1100k` without a resolution;
    `480p-2` for a second 480p rung."""
    base = f"{resolution[1]}p" if resolution else f"{round(bandwidth / 1000)}k"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def rendition_detail(r: Rendition, why: str, estimate_bps: float | None) -> str:
    """The detail of a RENDITION row: compact JSON (docs/events.md)."""
    d: dict[str, object] = {"why": why}
    if r.resolution:
        d["res"] = f"{r.resolution[0]}x{r.resolution[1]}"
    if r.codecs:
        d["codecs"] = r.codecs
    if r.fps:
        d["fps"] = round(r.fps, 3)
    if r.average_bandwidth:
        d["avg_kbps"] = round(r.average_bandwidth / 1000)
    if estimate_bps is not None:
        d["est_kbps"] = round(estimate_bps / 1000)
    return json.dumps(d, separators=(",", ":"))


__all__ = ["RENDITION", "RENDITION_RATE", "WHYS", "Rendition", "RenditionRates",
           "rendition_detail", "rendition_name"]
