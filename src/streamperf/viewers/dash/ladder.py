"""A DASH video adaptation set as the ABR player sees it (viewers/abr): its
Representations as renditions, the policy choosing among them, and the RENDITION
rows that say so. dash.js's rules by default (`--abr dashjs`), as a DASH audience
plays; audio keeps the highest-bandwidth representation of its set.
"""

from __future__ import annotations

from streamperf.viewers.abr import (
    RENDITION,
    AbrPolicy,
    Rendition,
    RenditionRates,
    make_abr,
    rendition_detail,
)
from streamperf.viewers.abr.rendition import rendition_name
from streamperf.viewers.base import EventCallback
from streamperf.viewers.dash.mpd import VIDEO, AdaptationSet, Mpd, Representation
from streamperf.viewers.dash.timeline import SegmentRef, find_segment, period_at


def renditions_of(aset: AdaptationSet) -> list[Rendition]:
    """The set's Representations as renditions, in the MPD's order."""
    taken: set[str] = set()
    out = []
    for rep in aset.representations:
        res = (rep.width, rep.height) if rep.width and rep.height else None
        out.append(Rendition(rendition_name(rep.bandwidth, res, taken), rep.bandwidth, rep.id,
                             res, rep.codecs, rep.frame_rate))
    return out


class DashLadder:
    """The policy over one video adaptation set, made when the viewer first plays it."""

    def __init__(self, mode: str, aset: AdaptationSet, on_event: EventCallback) -> None:
        self.policy: AbrPolicy = make_abr(mode, renditions_of(aset))  # ValueError: a bad name
        self.on_event = on_event
        self.switches = 0
        self.rates = RenditionRates()
        self.rendition = self.policy.start()
        self._report(self.rendition, "start")

    def representation(self, aset: AdaptationSet, r: Rendition) -> Representation | None:
        return next((rep for rep in aset.representations if rep.id == r.key), None)

    def before(self, now: float, mpd: Mpd, pos: float,
               seg: SegmentRef) -> tuple[Representation | None, SegmentRef]:  # fmt: skip
        """The ABR choice before a video segment: on a switch, the new representation
        and its segment at the same instant (a ladder's segments align, as ffmpeg's);
        else (None, seg)."""
        r, why = self.policy.choose(now, seg.duration)
        if not why:
            return None, seg
        rep, other = self._at(r, mpd, pos)
        if rep is None or other is None:  # not listed here: stay where it is
            self.policy.current = self.rendition
            return None, seg
        self._switch(r, why)
        return rep, other

    def switched(self, r: Rendition, mpd: Mpd,
                 pos: float) -> tuple[Representation | None, SegmentRef | None]:  # fmt: skip
        """A download given up for `r` (the policy's abandon rule): its representation
        and segment at the same instant, reported as an emergency switch."""
        rep, other = self._at(r, mpd, pos)
        if rep is None or other is None:
            self.policy.current = self.rendition
            return None, None
        self._switch(r, "emergency")
        return rep, other

    def _at(self, r: Rendition, mpd: Mpd,
            pos: float) -> tuple[Representation | None, SegmentRef | None]:  # fmt: skip
        period = period_at(mpd, pos)
        aset = period.of_kind(VIDEO)
        rep = self.representation(aset, r) if aset is not None else None
        return rep, find_segment(period, rep, pos) if rep is not None else None

    def _switch(self, r: Rendition, why: str) -> None:
        self.switches += 1
        self.rendition = r
        self._report(r, why)

    def loaded(self, now: float, sent: float, head: float, nbytes: int,
               seg: SegmentRef) -> None:  # fmt: skip
        """A video segment is in: asked at loop time `sent`, its head in at `head`."""
        self.policy.loaded(now, self.rendition, nbytes, now - sent, head - sent, seg.duration)
        self.rates.add(self.rendition.name, nbytes, seg.duration)

    def stopped(self) -> None:
        """The viewer stops: what each rendition carried (a ladder of two or more)."""
        if len(self.policy.ladder) > 1:
            self.rates.report(self.on_event)

    def _report(self, r: Rendition, why: str) -> None:
        if len(self.policy.ladder) < 2:
            return  # one representation: a plain stream, judged against its source
        est = self.policy.estimate_bps
        self.on_event(RENDITION, r.name, r.bandwidth / 1000, rendition_detail(r, why, est))


__all__ = ["DashLadder", "renditions_of"]
