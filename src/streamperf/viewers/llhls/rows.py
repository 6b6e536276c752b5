"""The rows an LL-HLS viewer adds to the event log: what it asked its origin for.

Per viewer, once per sample window (the shard's 1 s sampling), one row per name
that moved, event LLHLS, value = the count in that window:

- PLAYLIST: media playlist requests (blocking or not), PART: parts asked for once
  listed, PRELOAD: parts asked for by their EXT-X-PRELOAD-HINT before being listed,
  SEGMENT: whole segments, INIT: EXT-X-MAP init sections;
- BLOCKED: blocking reloads made (`_HLS_msn`), EARLY: those answered without the
  asked-for part (the origin did not block: a reload storm if it keeps on);
- WAIT: value = how many blocking reloads were answered, detail = each one's wait
  (request sent to answer whole) in ms, comma-separated.
"""

from __future__ import annotations

LLHLS = "llhls"

PLAYLIST = "playlist"
PART = "part"
PRELOAD = "preload"
SEGMENT = "segment"
INIT = "init"
BLOCKED = "blocked"
EARLY = "early"
WAIT = "wait"

#: the request kinds, in the order the report shows them
REQUEST_KINDS = (PLAYLIST, PART, PRELOAD, SEGMENT, INIT)

__all__ = ["BLOCKED", "EARLY", "INIT", "LLHLS", "PART", "PLAYLIST", "PRELOAD", "REQUEST_KINDS",
           "SEGMENT", "WAIT"]
