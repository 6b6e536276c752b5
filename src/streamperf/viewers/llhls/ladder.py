"""The ABR side of an LL-HLS viewer of a master playlist: hls.js's rules (viewers/abr)
asked before each part, fed each part as it comes.

hls.js in low-latency mode picks a level per fragment or part as for plain HLS;
its estimate takes each part's load less the smaller of its time to first byte
and the estimated one, so a preload-hinted part the origin held until it was
made is not read as a slow link. On a switch it asks the new level's playlist
with the delivery directives of that level's EXT-X-RENDITION-REPORT (its newest
part: answered at once), and goes on with the part after the last it has, by
msn and part index, which an LL-HLS ladder keeps aligned across renditions.
"""

from __future__ import annotations

from streamperf.viewers.abr import RENDITION, Rendition, RenditionRates
from streamperf.viewers.abr import rendition_detail as rendition_row
from streamperf.viewers.base import EventCallback
from streamperf.viewers.hls.ladder import open_ladder
from streamperf.viewers.hls.playlist import MasterPlaylist
from streamperf.viewers.llhls.playlist import LlPlaylist, Part


class LlLadder:
    """The policy over a master playlist's variants, the rendition followed, and what
    each rendition's parts carried (RENDITION_RATE rows at the end)."""

    def __init__(self, master: MasterPlaylist, mode: str, on_event: EventCallback) -> None:
        # ValueError: no variant, or a mode naming none; alternate audio is not followed
        self.policy, self.rendition, _audio = open_ladder(master, mode)
        self.on_event = on_event
        self.rates = RenditionRates()
        self.switches = 0
        self._report("start")

    @property
    def url(self) -> str:
        """The media playlist of the rendition followed."""
        return self.rendition.key

    def choose(self, now: float, part_s: float) -> Rendition | None:
        """The rendition of the next part when it is another one (a RENDITION row says
        so), else None."""
        r, why = self.policy.choose(now, part_s)
        if not why:
            return None
        self.rendition = r
        self.switches += 1
        self._report(why)
        return r

    def loaded(self, now: float, r: Rendition, nbytes: int, request_s: float, ttfb_s: float,
               media_s: float) -> None:
        self.policy.loaded(now, r, nbytes, request_s, ttfb_s, media_s)
        self.rates.add(r.name, nbytes, media_s)

    def close(self) -> None:
        if len(self.policy.ladder) > 1:
            self.rates.report(self.on_event)

    def _report(self, why: str) -> None:
        r, policy = self.rendition, self.policy
        if len(policy.ladder) > 1:
            self.on_event(RENDITION, r.name, r.bandwidth / 1000,
                          rendition_row(r, why, policy.estimate_bps))


def report_query(pl: LlPlaylist, url: str) -> str:
    """The delivery directives for the first request of rendition `url`'s playlist: its
    rendition report's newest part (there already: answered at once), or none."""
    for rep in pl.reports:
        if rep.uri == url and rep.last_msn is not None:
            if rep.last_part is None:
                return f"?_HLS_msn={rep.last_msn}"
            return f"?_HLS_msn={rep.last_msn}&_HLS_part={rep.last_part}"
    return ""


def resume_after(pl: LlPlaylist, key: tuple[int, int]) -> tuple[Part | None, bool]:
    """Where a viewer that had part `key` (msn, index) of another rendition goes on in
    `pl`: (its first part after `key`, False), (None, True) when the preload hint is
    that part, (None, False) when `pl` has not come that far."""
    for p in pl.parts():
        if p.key > key:
            return p, False
    return None, pl.preload is not None and pl.last_part() == key


__all__ = ["LlLadder", "report_query", "resume_after"]
