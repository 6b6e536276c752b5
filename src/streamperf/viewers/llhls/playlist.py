"""An LL-HLS media playlist (RFC 8216bis): segments, their parts, the preload hint,
the server's controls, rendition reports and delta updates.

What the low-latency viewer reads of it; plain tags (TARGETDURATION, MEDIA-SEQUENCE,
PROGRAM-DATE-TIME, ...) are read as viewers/hls/playlist.py reads them, and with its
helpers. Every figure comes from a server we do not control: durations are finite and
positive, numbers whole and bounded, or the playlist is refused with a PlaylistError
naming the tag (one line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urljoin

from streamperf.viewers.hls.playlist import (
    PlaylistError,
    is_master,
    parse_attributes,
    parse_date_time,
)
from streamperf.viewers.parse_memo import ParseMemo

MAX_NUMBER = 2**63 - 1
MAX_PARTS_PER_SEGMENT = 1000  # a playlist listing more is not one we can follow


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    length: int | None  # None: to the end (a preload hint's open range)

    def header(self) -> bytes:
        end = "" if self.length is None else str(self.start + self.length - 1)
        return f"Range: bytes={self.start}-{end}\r\n".encode()


Ident = tuple[str, int]  # a part's URI and byte-range start (-1: none): what a viewer fetched


def ident(uri: str, br: ByteRange | None) -> Ident:
    return uri, br.start if br is not None else -1


@dataclass(frozen=True, slots=True)
class Part:
    msn: int  # the media sequence number of the segment it belongs to
    index: int  # its place in that segment, from 0
    uri: str
    duration: float
    independent: bool = False
    gap: bool = False
    byterange: ByteRange | None = None

    @property
    def key(self) -> tuple[int, int]:
        return self.msn, self.index

    @property
    def ident(self) -> Ident:
        return ident(self.uri, self.byterange)


@dataclass(slots=True)
class LlSegment:
    msn: int
    uri: str
    duration: float
    program_date_time: float | None = None  # unix s of its first sample
    discontinuity: bool = False
    parts: list[Part] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PreloadHint:
    uri: str
    byterange: ByteRange | None = None

    @property
    def ident(self) -> Ident:
        return ident(self.uri, self.byterange)


@dataclass(frozen=True, slots=True)
class RenditionReport:
    uri: str
    last_msn: int | None
    last_part: int | None


@dataclass(slots=True)
class LlPlaylist:
    url: str
    target_duration: float
    media_sequence: int = 0
    part_target: float | None = None  # EXT-X-PART-INF PART-TARGET
    can_block_reload: bool = False
    part_hold_back: float | None = None
    hold_back: float | None = None
    can_skip_until: float | None = None
    map_uri: str | None = None  # EXT-X-MAP: the init section (fMP4)
    map_range: ByteRange | None = None
    skipped: int = 0  # EXT-X-SKIP SKIPPED-SEGMENTS: a delta update
    segments: list[LlSegment] = field(default_factory=list)
    #: parts after the last whole segment: the segment in progress (msn next_msn)
    tail: list[Part] = field(default_factory=list)
    tail_date: float | None = None  # the segment in progress's PROGRAM-DATE-TIME
    tail_discontinuity: bool = False
    preload: PreloadHint | None = None
    reports: list[RenditionReport] = field(default_factory=list)
    ended: bool = False

    @property
    def low_latency(self) -> bool:
        """Parts a player can block for: what the LL-HLS viewer needs."""
        return self.part_target is not None and self.can_block_reload

    @property
    def next_msn(self) -> int:
        """The sequence number of the segment after the last whole one."""
        return self.media_sequence + self.skipped + len(self.segments)

    def parts(self) -> list[Part]:
        """Every listed part, oldest first, the segment in progress's last."""
        out = [p for s in self.segments for p in s.parts]
        out += self.tail
        return out

    def last_part(self) -> tuple[int, int] | None:
        """(msn, index) of the newest listed part."""
        if self.tail:
            return self.tail[-1].key
        for s in reversed(self.segments):
            if s.parts:
                return s.parts[-1].key
        return None

    def date_of(self, part: Part) -> float | None:
        """Unix time of the part's first sample: its segment's PROGRAM-DATE-TIME plus
        the parts before it; None without a date."""
        if part.msn == self.next_msn:
            date, parts = self.tail_date, self.tail
        else:
            k = part.msn - self.media_sequence - self.skipped
            if not 0 <= k < len(self.segments):
                return None
            date, parts = self.segments[k].program_date_time, self.segments[k].parts
        if date is None:
            return None
        return date + sum(p.duration for p in parts[: part.index])

    def holds(self, msn: int, part: int | None) -> bool:
        """Whether this playlist answers a blocking reload for (msn, part)."""
        if part is None:
            return self.next_msn > msn
        last = self.last_part()
        if self.next_msn > msn + 1 or (self.next_msn == msn + 1 and last is None):
            return True  # that segment is whole
        return last is not None and last >= (msn, part)


def _number(tag: str, value: str, url: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise PlaylistError(f"{url}: bad {tag} value {value!r}") from None
    if not math.isfinite(n) or n < 0 or n > 1e6:
        raise PlaylistError(f"{url}: {tag} must be a finite number of seconds, got {value!r}")
    return n


def _positive(tag: str, value: str, url: str) -> float:
    n = _number(tag, value, url)
    if n <= 0:
        raise PlaylistError(f"{url}: {tag} must be positive, got {value!r}")
    return n


def _whole(tag: str, value: str, url: str) -> int:
    text = value.strip()
    if not text.isdigit() or len(text) > 19 or int(text) > MAX_NUMBER:
        raise PlaylistError(f"{url}: {tag} must be a whole number, got {value!r}")
    return int(text)


def _byterange(tag: str, value: str, url: str, start: int) -> ByteRange:
    """`n[@o]` (EXT-X-PART BYTERANGE); without @o the range follows the previous one."""
    length, _, offset = value.partition("@")
    n = _whole(tag, length, url)
    return ByteRange(_whole(tag, offset, url) if offset else start, n)


def parse_ll_playlist(text: str, url: str) -> LlPlaylist:
    """The media playlist at `url` (base of relative URIs). A master playlist is not
    one: PlaylistError (the caller picks a variant first)."""
    if is_master(text):
        raise PlaylistError(f"{url}: a master playlist, not a media playlist")
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError(f"{url}: not an m3u8 playlist (first line {(lines or [''])[0][:40]!r})")
    pl = LlPlaylist(url=url, target_duration=0.0)
    parts: list[Part] = []
    duration: float | None = None
    pdt: float | None = None
    disc = False
    range_end = 0  # where a part's BYTERANGE without an offset starts
    resolve = lambda ref: urljoin(url, ref)  # noqa: E731 - one short closure
    for line in lines[1:]:
        if not line:
            continue
        if not line.startswith("#"):
            if duration is None:
                raise PlaylistError(f"{url}: segment {line[:80]!r} without #EXTINF")
            msn = pl.next_msn
            pl.segments.append(LlSegment(msn, resolve(line), duration, pdt, disc, parts))
            parts, duration, pdt, disc, range_end = [], None, None, False, 0
            continue
        tag, _, value = line.partition(":")
        if tag == "#EXTINF":
            duration = _positive(tag, value.split(",", 1)[0], url)
        elif tag == "#EXT-X-PART":
            a = parse_attributes(value)
            if "URI" not in a or "DURATION" not in a:
                raise PlaylistError(f"{url}: EXT-X-PART without URI or DURATION")
            if len(parts) >= MAX_PARTS_PER_SEGMENT:
                raise PlaylistError(f"{url}: over {MAX_PARTS_PER_SEGMENT} parts in a segment")
            br = _byterange(tag, a["BYTERANGE"], url, range_end) if "BYTERANGE" in a else None
            if br is not None and br.length is not None:
                range_end = br.start + br.length
            parts.append(Part(pl.next_msn, len(parts), resolve(a["URI"]),
                              _positive(tag, a["DURATION"], url),
                              a.get("INDEPENDENT") == "YES", a.get("GAP") == "YES", br))
        elif tag == "#EXT-X-TARGETDURATION":
            pl.target_duration = _positive(tag, value, url)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            pl.media_sequence = _whole(tag, value, url)
        elif tag == "#EXT-X-PART-INF":
            target = parse_attributes(value).get("PART-TARGET")
            if target is None:
                raise PlaylistError(f"{url}: EXT-X-PART-INF without PART-TARGET")
            pl.part_target = _positive("PART-TARGET", target, url)
        elif tag == "#EXT-X-SERVER-CONTROL":
            a = parse_attributes(value)
            pl.can_block_reload = a.get("CAN-BLOCK-RELOAD") == "YES"
            for key, name in (("PART-HOLD-BACK", "part_hold_back"), ("HOLD-BACK", "hold_back"),
                              ("CAN-SKIP-UNTIL", "can_skip_until")):
                if key in a:
                    setattr(pl, name, _number(key, a[key], url))
        elif tag == "#EXT-X-MAP":
            a = parse_attributes(value)
            if "URI" not in a:
                raise PlaylistError(f"{url}: EXT-X-MAP without URI")
            pl.map_uri = resolve(a["URI"])
            pl.map_range = _byterange(tag, a["BYTERANGE"], url, 0) if "BYTERANGE" in a else None
        elif tag == "#EXT-X-SKIP":
            skipped = parse_attributes(value).get("SKIPPED-SEGMENTS")
            if skipped is None or pl.segments:
                raise PlaylistError(f"{url}: EXT-X-SKIP must come first, with SKIPPED-SEGMENTS")
            pl.skipped = _whole("SKIPPED-SEGMENTS", skipped, url)
        elif tag == "#EXT-X-PRELOAD-HINT":
            a = parse_attributes(value)
            if a.get("TYPE") == "PART" and "URI" in a:
                br = None
                if "BYTERANGE-START" in a:
                    length = a.get("BYTERANGE-LENGTH")
                    br = ByteRange(_whole("BYTERANGE-START", a["BYTERANGE-START"], url),
                                   _whole("BYTERANGE-LENGTH", length, url) if length else None)
                pl.preload = PreloadHint(resolve(a["URI"]), br)
        elif tag == "#EXT-X-RENDITION-REPORT":
            a = parse_attributes(value)
            if "URI" in a:
                msn = _whole("LAST-MSN", a["LAST-MSN"], url) if "LAST-MSN" in a else None
                part = _whole("LAST-PART", a["LAST-PART"], url) if "LAST-PART" in a else None
                pl.reports.append(RenditionReport(resolve(a["URI"]), msn, part))
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pdt = parse_date_time(value)
        elif tag == "#EXT-X-DISCONTINUITY":
            disc = True
        elif tag == "#EXT-X-ENDLIST":
            pl.ended = True
    if pl.target_duration <= 0:
        raise PlaylistError(f"{url}: media playlist without #EXT-X-TARGETDURATION")
    pl.tail, pl.tail_date, pl.tail_discontinuity = parts, pdt, disc
    return pl


#: parse_ll_playlist once per text for all viewers (they block for the same part and
#: are answered the same text, three times a second each; viewers/parse_memo.py)
parse_ll_playlist_memo: ParseMemo[str, LlPlaylist] = ParseMemo(parse_ll_playlist)


def start_part(pl: LlPlaylist, hold_back: float | None = None) -> tuple[Part, Part] | None:
    """Where a live viewer starts: (the part it loads first, the part it plays from).

    It plays from PART-HOLD-BACK (or `hold_back`; default three part targets) behind
    the live edge, and loads from the independent part (a key frame) at or before
    that one, as hls.js does: it decodes from the key frame and shows from the
    hold-back position. Walked back from the newest part; None when no independent
    part is far enough back yet.
    """
    parts = pl.parts()
    need = hold_back if hold_back is not None else (
        pl.part_hold_back or 3 * (pl.part_target or pl.target_duration))
    total = 0.0
    target: Part | None = None
    for i in range(len(parts) - 1, -1, -1):
        total += parts[i].duration
        if total < need - 1e-6 or parts[i].gap:
            continue
        target = target or parts[i]
        if parts[i].independent:
            return parts[i], target
    return None


__all__ = [
    "ByteRange",
    "Ident",
    "LlPlaylist",
    "LlSegment",
    "Part",
    "PreloadHint",
    "RenditionReport",
    "ident",
    "parse_ll_playlist",
    "parse_ll_playlist_memo",
    "start_part",
]
