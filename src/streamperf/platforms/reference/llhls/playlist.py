"""A stream's LL-HLS media playlist (RFC 8216bis) from its StreamStore, whole or as a
delta update (`_HLS_skip=YES`: the oldest segments left out for an EXT-X-SKIP).

Rendered once per new part and kind (the store's `version`), however many
blocking reloads a part answers: thousands of waiters wake to one string.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from streamperf.platforms.reference.llhls.origin import PLAYLIST
from streamperf.platforms.reference.llhls.store import Segment, StreamStore, part_uri

VERSION = 9  # EXT-X-SKIP and CAN-SKIP-UNTIL need 9
PART_HOLD_BACK_PARTS = 3  # the spec: at least three part targets
CAN_SKIP_TARGETS = 6  # the spec: at least six target durations


def init_uri(epoch: int) -> str:
    return f"init-{epoch}.mp4"


def _date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def can_skip_until(store: StreamStore) -> float:
    return float(CAN_SKIP_TARGETS * store.target_duration)


def _skipped(store: StreamStore) -> int:
    """How many segments a delta update leaves out: those at least CAN-SKIP-UNTIL from
    the playlist's end (counted from each one's end)."""
    limit = can_skip_until(store)
    after = 0.0
    count = 0
    for i in range(len(store.segments) - 1, -1, -1):
        s = store.segments[i]
        if s.complete and after >= limit:
            count = i + 1
            break
        after += s.duration_s
    return count


def render(store: StreamStore, skip: bool = False, siblings: Sequence[StreamStore] = ()) -> str:
    """The playlist as it stands, with a rendition report of each of `siblings` (the
    ladder's other rungs); cached by the stores' versions."""
    version = (store.version, *(s.version for s in siblings))
    cached = store.rendered.get(skip)
    if cached is not None and cached[0] == version:
        return cached[1]
    text = _render(store, skip, siblings)
    store.rendered[skip] = (version, text)
    return text


def _render(store: StreamStore, skip: bool, siblings: Sequence[StreamStore]) -> str:
    part_target = store.part_target
    out = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{store.target_duration}",
        f"#EXT-X-PART-INF:PART-TARGET={part_target:.3f}",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
        f"PART-HOLD-BACK={PART_HOLD_BACK_PARTS * part_target:.3f},"
        f"CAN-SKIP-UNTIL={can_skip_until(store):.1f}",
    ]
    segments = store.segments
    first_msn = segments[0].msn if segments else 0
    out.append(f"#EXT-X-MEDIA-SEQUENCE:{first_msn}")
    if store.discontinuity_sequence:
        out.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{store.discontinuity_sequence}")
    skipped = _skipped(store) if skip else 0
    if skipped:
        out.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    parts_from = store.parts_from()
    epoch = None
    for s in segments[skipped:]:
        if s.discontinuity:
            out.append("#EXT-X-DISCONTINUITY")
        if s.epoch != epoch:
            out.append(f'#EXT-X-MAP:URI="{init_uri(s.epoch)}"')
            epoch = s.epoch
        out.extend(_segment_lines(s, with_parts=s.msn >= parts_from))
    hint = store.next_part()
    if hint is not None:
        out.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(*hint)}"')
    for other in siblings:
        newest = other.newest
        if newest is not None:
            out.append(f'#EXT-X-RENDITION-REPORT:URI="../{other.name}/{PLAYLIST}",'
                       f"LAST-MSN={newest[0]},LAST-PART={newest[1]}")
    return "\n".join(out) + "\n"


def _segment_lines(s: Segment, with_parts: bool) -> list[str]:
    lines = [f"#EXT-X-PROGRAM-DATE-TIME:{_date(s.pdt)}"]
    if with_parts:
        for p in s.parts:
            independent = ",INDEPENDENT=YES" if p.independent else ""
            lines.append(f'#EXT-X-PART:DURATION={p.duration_s:.5f},URI="{p.uri}"{independent}')
    if s.complete:
        lines += [f"#EXTINF:{s.duration_s:.5f},", s.uri]
    return lines
