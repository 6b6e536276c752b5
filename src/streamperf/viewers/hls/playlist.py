"""HLS playlists (RFC 8216): pure functions from m3u8 text to small objects.

Media playlists: TARGETDURATION, MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE,
EXTINF, DISCONTINUITY, PROGRAM-DATE-TIME, ENDLIST, PLAYLIST-TYPE; master
playlists: STREAM-INF (BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, CODECS) and
the variant URI after it. URIs come back absolute (resolved against the
playlist's own URL). Tags a viewer does not need (KEY, MAP, BYTERANGE,
MEDIA, ...) are ignored, so such playlists parse but their segments are
fetched as whole files.

Numbers a viewer paces or counts by are checked: durations (TARGETDURATION,
EXTINF) must be finite and positive, sequence numbers and VERSION whole
numbers in 0..2**64-1; anything else (`nan`, `inf`, `-1`) is a
PlaylistError, a protocol error for the viewer, never a crash or a timer
that fires at once.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

VARIANT_CHOICES = ("highest", "lowest", "random")
MAX_INTEGER = 2**64 - 1  # RFC 8216 4.2 decimal-integer
#: a duration longer than a day is not a live stream's: 1e307 overflowed the timers
#: made from it, and a huge EXTINF would disable the stall check
MAX_DURATION_S = 86_400.0

# KEY=value pairs; a value is a quoted string or runs up to the next comma.
_ATTR = re.compile(r'\s*([A-Z0-9-]+)=("[^"]*"|[^,]*)\s*(?:,|$)')


class PlaylistError(ValueError):
    """Text that is not a usable m3u8 playlist."""


@dataclass(slots=True)
class Segment:
    uri: str  # absolute
    duration: float  # EXTINF, seconds
    sequence: int  # media sequence number
    discontinuity_sequence: int
    #: an EXT-X-DISCONTINUITY tag precedes this segment
    discontinuity: bool = False
    #: unix time of the segment's first sample: its own PROGRAM-DATE-TIME, or
    #: the previous one plus the EXTINFs between (RFC 8216 4.3.2.6); None
    #: without PDT, or after a discontinuity that carries none
    program_date_time: float | None = None


@dataclass(slots=True)
class MediaPlaylist:
    url: str
    target_duration: float
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    segments: list[Segment] = field(default_factory=list)
    ended: bool = False  # EXT-X-ENDLIST: no segment will be added
    playlist_type: str | None = None  # EVENT | VOD | None (live window)
    version: int | None = None

    @property
    def last_sequence(self) -> int:
        """Sequence number of the newest segment (media_sequence - 1 when empty)."""
        return self.media_sequence + len(self.segments) - 1

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


@dataclass(slots=True)
class Variant:
    uri: str  # absolute
    bandwidth: int  # bits/s (peak)
    average_bandwidth: int | None = None
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    frame_rate: float | None = None
    audio: str | None = None  # AUDIO: the GROUP-ID of its audio renditions


@dataclass(slots=True)
class MediaRendition:
    """An EXT-X-MEDIA entry: an alternate rendition (audio, subtitles, ...)."""

    type: str  # AUDIO | VIDEO | SUBTITLES | CLOSED-CAPTIONS
    group: str
    name: str
    uri: str | None  # absolute; None: carried in the variant's own segments
    default: bool = False
    language: str | None = None


@dataclass(slots=True)
class MasterPlaylist:
    url: str
    variants: list[Variant]
    media: list[MediaRendition] = field(default_factory=list)

    def audio_for(self, variant: Variant) -> MediaRendition | None:
        """The audio rendition a player fetches beside `variant`: its group's DEFAULT
        (else first) entry with a URI of its own; None when the audio is muxed in."""
        group = [m for m in self.media if m.type == "AUDIO" and m.group == variant.audio]
        if not group:
            return None
        chosen = next((m for m in group if m.default), group[0])
        return chosen if chosen.uri else None


def parse_attributes(text: str) -> dict[str, str]:
    """`BANDWIDTH=1280000,CODECS="avc1.4d401f,mp4a.40.2"` -> dict, quotes removed."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _ATTR.match(text, pos)
        if m is None or m.end() == pos:
            break
        value = m.group(2)
        out[m.group(1)] = value[1:-1] if value.startswith('"') else value.strip()
        pos = m.end()
    return out


def parse_date_time(value: str) -> float:
    """ISO 8601 PROGRAM-DATE-TIME -> unix time; no zone means UTC."""
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError as e:
        raise PlaylistError(f"bad EXT-X-PROGRAM-DATE-TIME {value!r}") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def is_master(text: str) -> bool:
    return "#EXT-X-STREAM-INF" in text


def _lines(text: str, url: str) -> list[str]:
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        head = (lines[0] if lines else "")[:40]
        raise PlaylistError(f"{url}: not an m3u8 playlist (first line {head!r})")
    return lines


def _resolver(url: str) -> Callable[[str], str]:
    """urljoin(url, ref), with a fast path for the usual bare relative name."""
    head = url.split("#", 1)[0].split("?", 1)[0]
    slash = head.rfind("/")
    if slash <= head.find("//") + 1:  # no path at all ("http://host")
        return lambda ref: urljoin(url, ref)
    base = head[: slash + 1]

    def resolve(ref: str) -> str:
        # Names like "test-1795829670087.ts": no scheme, root, dot segment or
        # query-only form; urljoin would give base + ref, 20x slower.
        if ":" in ref or ref[0] in "/?#." or "/." in ref:
            return urljoin(url, ref)
        return base + ref

    return resolve


def _duration(tag: str, value: str, url: str) -> float:
    """A duration in seconds: finite and positive, or the playlist is unusable.

    NaN would make every comparison false (a reload timer of NaN fires at
    once, over and over); infinity or <= 0 has no meaning as a duration.
    """
    try:
        number = float(value)
    except ValueError:
        raise PlaylistError(f"{url}: bad {tag} value {value!r}") from None
    if not math.isfinite(number) or number <= 0 or number > MAX_DURATION_S:
        raise PlaylistError(f"{url}: {tag} must be a finite positive number of seconds, "
                            f"at most a day, got {value!r}")
    return number


def _integer(tag: str, value: str, url: str) -> int:
    """A decimal-integer (RFC 8216 4.2: 0 to 2**64-1); a whole float like `3.0` passes."""
    text = value.strip()
    try:
        number = int(text) if text.isdigit() else float(text)
    except ValueError:
        raise PlaylistError(f"{url}: bad {tag} value {value!r}") from None
    if isinstance(number, float):
        if not (math.isfinite(number) and number.is_integer()):
            raise PlaylistError(f"{url}: {tag} must be a whole number, got {value!r}")
        number = int(number)
    if not 0 <= number <= MAX_INTEGER:
        raise PlaylistError(f"{url}: {tag} out of range 0..2**64-1, got {value!r}")
    return number


def parse_media_playlist(text: str, url: str) -> MediaPlaylist:
    """A media playlist; `url` is where it came from (base for relative URIs)."""
    lines = _lines(text, url)
    target: float | None = None
    pl = MediaPlaylist(url=url, target_duration=0.0)
    seq: int | None = None
    dseq = 0
    duration: float | None = None
    disc = False
    pdt_tag: float | None = None  # PROGRAM-DATE-TIME given for the next segment
    pdt: float | None = None  # extrapolated from the previous segment's
    segments = pl.segments
    resolve = _resolver(url)
    for line in lines[1:]:
        if not line:
            continue
        if line[0] != "#":
            if duration is None:
                raise PlaylistError(f"{url}: segment {line!r} without #EXTINF")
            if seq is None:
                seq = pl.media_sequence
            if disc:
                dseq += 1
                pdt = None  # the old clock does not carry over a discontinuity
            if pdt_tag is not None:
                pdt = pdt_tag
            segments.append(Segment(resolve(line), duration, seq, dseq, disc, pdt))
            seq += 1
            pdt = pdt + duration if pdt is not None else None
            pdt_tag = None
            duration = None
            disc = False
            continue
        tag, _, value = line.partition(":")
        if tag == "#EXTINF":
            duration = _duration(tag, value.split(",", 1)[0], url)
        elif tag == "#EXT-X-TARGETDURATION":
            target = _duration(tag, value, url)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            pl.media_sequence = _integer(tag, value, url)
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            pl.discontinuity_sequence = dseq = _integer(tag, value, url)
        elif tag == "#EXT-X-DISCONTINUITY":
            disc = True
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pdt_tag = parse_date_time(value)
        elif tag == "#EXT-X-ENDLIST":
            pl.ended = True
        elif tag == "#EXT-X-PLAYLIST-TYPE":
            pl.playlist_type = value.strip()
        elif tag == "#EXT-X-VERSION":
            pl.version = _integer(tag, value, url)
        elif tag == "#EXT-X-STREAM-INF":
            raise PlaylistError(f"{url}: master playlist where a media playlist was expected")
    if target is None:
        raise PlaylistError(f"{url}: media playlist without #EXT-X-TARGETDURATION")
    pl.target_duration = target
    return pl


def parse_master_playlist(text: str, url: str) -> MasterPlaylist:
    """A master (multivariant) playlist: one Variant per EXT-X-STREAM-INF."""
    lines = _lines(text, url)
    variants: list[Variant] = []
    media: list[MediaRendition] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        if not line:
            continue
        if line.startswith("#EXT-X-MEDIA:"):
            a = parse_attributes(line.partition(":")[2])
            uri = a.get("URI")
            media.append(MediaRendition(
                type=a.get("TYPE", ""), group=a.get("GROUP-ID", ""), name=a.get("NAME", ""),
                uri=urljoin(url, uri) if uri else None, default=a.get("DEFAULT") == "YES",
                language=a.get("LANGUAGE")))
        elif line.startswith("#EXT-X-STREAM-INF:"):
            pending = parse_attributes(line.partition(":")[2])
        elif line[0] != "#" and pending is not None:
            if "BANDWIDTH" not in pending:
                raise PlaylistError(f"{url}: STREAM-INF for {line!r} without BANDWIDTH")
            # a rate players divide by and take logarithms of: a whole number over zero
            bandwidth = _integer("BANDWIDTH", pending["BANDWIDTH"], url)
            if bandwidth == 0:
                raise PlaylistError(f"{url}: STREAM-INF for {line!r} with BANDWIDTH=0")
            avg = pending.get("AVERAGE-BANDWIDTH")
            res = pending.get("RESOLUTION", "")
            w, _, h = res.lower().partition("x")
            variants.append(
                Variant(
                    uri=urljoin(url, line),
                    bandwidth=bandwidth,
                    average_bandwidth=int(avg) if avg and avg.isdigit() and int(avg) > 0 else None,
                    resolution=(int(w), int(h)) if w.isdigit() and h.isdigit() else None,
                    codecs=pending.get("CODECS"),
                    frame_rate=_frame_rate(pending.get("FRAME-RATE")),
                    audio=pending.get("AUDIO"),
                )
            )
            pending = None
    if not variants:
        raise PlaylistError(f"{url}: master playlist without variants")
    return MasterPlaylist(url=url, variants=variants, media=media)


def _frame_rate(value: str | None) -> float | None:
    """FRAME-RATE (a decimal-floating-point); a value that is not one is left out."""
    try:
        fps = float(value) if value else None
    except ValueError:
        return None
    return fps if fps is not None and math.isfinite(fps) and 0 < fps <= 1000 else None


def parse_playlist(text: str, url: str) -> MediaPlaylist | MasterPlaylist:
    return parse_master_playlist(text, url) if is_master(text) else parse_media_playlist(text, url)


def choose_variant(
    variants: list[Variant], how: str = "highest", rng: random.Random | None = None
) -> Variant:
    """The variant a viewer plays: highest or lowest BANDWIDTH, or a random one."""
    if not variants:
        raise PlaylistError("no variants to choose from")
    if how == "highest":
        return max(variants, key=lambda v: v.bandwidth)
    if how == "lowest":
        return min(variants, key=lambda v: v.bandwidth)
    if how == "random":
        return (rng or random).choice(variants)
    raise ValueError(f"unknown variant choice {how!r} (known: {', '.join(VARIANT_CHOICES)})")


MIN_TARGET_S = 1.0  # RFC 8216 4.3.3.1: TARGETDURATION is a decimal-integer, so >= 1 s


def reload_wait(target_duration: float, changed: bool) -> float:
    """Seconds from the start of one playlist load to the next (RFC 8216 6.3.4).

    One target duration after a load that brought new segments, half of one
    after a load that did not; the target is taken as at least MIN_TARGET_S,
    the smallest the RFC allows, so no playlist makes a viewer reload faster.
    """
    td = max(MIN_TARGET_S, target_duration)
    return td if changed else td / 2


def live_start_index(pl: MediaPlaylist, hold_back: float | None = None) -> int:
    """Index of the segment a live viewer starts with.

    Like hls.js (liveSyncDurationCount 3) and RFC 8216 6.3.3 ("SHOULD NOT
    choose a segment which starts less than three target durations from the
    end"): walk back from the newest segment until the segments from there
    to the end add up to `hold_back` (default 3 target durations). A shorter
    playlist (stream just started) starts at its first segment; a finished
    one (ENDLIST) also starts at its first.
    """
    if pl.ended or not pl.segments:
        return 0
    need = 3 * pl.target_duration if hold_back is None else hold_back
    total = 0.0
    for i in range(len(pl.segments) - 1, -1, -1):
        total += pl.segments[i].duration
        if total >= need - 1e-6:
            return i
    return 0


__all__ = [
    "VARIANT_CHOICES",
    "MasterPlaylist",
    "MediaPlaylist",
    "MediaRendition",
    "PlaylistError",
    "Segment",
    "Variant",
    "choose_variant",
    "is_master",
    "live_start_index",
    "parse_attributes",
    "parse_date_time",
    "parse_master_playlist",
    "parse_media_playlist",
    "parse_playlist",
    "reload_wait",
]
