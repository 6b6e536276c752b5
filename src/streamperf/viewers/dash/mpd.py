"""DASH manifests (ISO/IEC 23009-1 MPD): pure functions from XML bytes to small objects.

What a live viewer needs: MPD@type (dynamic or static), availabilityStartTime,
publishTime, minimumUpdatePeriod, suggestedPresentationDelay,
timeShiftBufferDepth, maxSegmentDuration, minBufferTime,
mediaPresentationDuration, UTCTiming; Periods (start, duration); their
AdaptationSets (video or audio by contentType or mimeType, lang) and
Representations (id, bandwidth, width, height, frameRate, codecs, mimeType);
BaseURL at each level; SegmentTemplate inherited Period -> AdaptationSet ->
Representation (initialization, media, timescale, duration, startNumber,
presentationTimeOffset, availabilityTimeOffset, SegmentTimeline S@t/@d/@r,
r=-1 included). Where segments are and when they are available is timeline.py's.

The XML goes through defusedxml with DTDs forbidden: an MPD has no DTD, so an
entity bomb or an external entity is refused before anything expands. Numbers
a viewer paces or counts by are checked as hls/playlist.py checks its own:
finite, in range, durations positive; a segment shorter than MIN_SEGMENT_S, an
@r over MAX_REPEAT, a timeline going back, a media template with neither
$Number$ nor $Time$ (every segment would be one URL) are an MpdError, a protocol
error for the viewer, never a crash or a timer that fires at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import defusedxml
import defusedxml.ElementTree as SafeET

from streamperf.viewers.parse_memo import ParseMemo

MAX_REPEAT = 1_000_000  # S@r: 23 days of 2 s segments in one S element
MAX_TICKS = 2**63 - 1  # 64-bit media times (S@t, presentationTimeOffset)
MAX_NUMBER = 2**53  # $Number$ / startNumber
MAX_TIMESCALE = 2**32 - 1
MIN_SEGMENT_S = 0.1  # shorter segments: a request storm, not a stream
MAX_SEGMENT_S = 3600.0
MAX_SECONDS = 10 * 365 * 86400.0  # any duration attribute (ten years)
UTC_SCHEMES = (  # the UTCTiming schemes a viewer can use (DASH-IF IOP 4.7)
    "urn:mpeg:dash:utc:http-iso:2014",
    "urn:mpeg:dash:utc:http-xsdate:2014",
    "urn:mpeg:dash:utc:direct:2014",
)
VIDEO, AUDIO = "video", "audio"

_DURATION = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(\d+(?:\.\d*)?|\.\d+)?S?)?"
)
_IDENT = re.compile(r"(RepresentationID|Number|Time|Bandwidth)(?:%0(\d{1,2})d)?")


class MpdError(ValueError):
    """Bytes that are not a usable MPD."""


@dataclass(frozen=True, slots=True)
class Run:
    """One SegmentTimeline S element: `count` segments of `d` ticks from `t`."""

    t: int  # media time (ticks, presentationTimeOffset included) of the first
    d: int
    count: int  # segments; -1: r=-1, repeated up to the next S, the period end or now
    number: int  # $Number$ of the first


@dataclass(frozen=True, slots=True)
class Template:
    """A Representation's SegmentTemplate, inherited attributes resolved, URLs absolute."""

    media: str  # a str.format pattern of (number, time): "http://h/c-{0:05d}.m4s"
    initialization: str | None  # absolute URL
    timescale: int
    duration: int | None  # @duration (ticks): the $Number$ form
    start_number: int
    pto: int  # @presentationTimeOffset (ticks)
    availability_offset: float  # @availabilityTimeOffset (s) honoured; see timeline.py
    timeline: tuple[Run, ...] | None  # the SegmentTimeline form
    run_starts: tuple[int, ...] = ()  # each Run's t, for a bisect

    def url(self, number: int, time: int) -> str:
        return self.media.format(number, time)


@dataclass(frozen=True, slots=True)
class Representation:
    id: str
    bandwidth: int  # bits/s
    kind: str  # VIDEO | AUDIO | other contentType
    template: Template
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    codecs: str | None = None
    mime_type: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class AdaptationSet:
    id: str | None
    kind: str
    representations: tuple[Representation, ...]
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Period:
    id: str | None
    start: float  # s on the MPD timeline (since availabilityStartTime)
    end: float | None  # the next Period's start, its own duration, or the presentation's
    adaptation_sets: tuple[AdaptationSet, ...]

    def of_kind(self, kind: str) -> AdaptationSet | None:
        return next((a for a in self.adaptation_sets if a.kind == kind), None)


@dataclass(frozen=True, slots=True)
class UtcTiming:
    scheme: str
    value: str  # a URL (http-iso, http-xsdate) or the time itself (direct)


@dataclass(frozen=True, slots=True)
class Mpd:
    url: str
    dynamic: bool
    periods: tuple[Period, ...]
    availability_start: float | None = None  # unix s
    publish_time: float | None = None
    minimum_update_period: float | None = None  # s; None: the MPD never changes
    suggested_presentation_delay: float | None = None
    time_shift_buffer_depth: float | None = None
    max_segment_duration: float | None = None
    min_buffer_time: float | None = None
    duration: float | None = None  # mediaPresentationDuration
    utc_timing: tuple[UtcTiming, ...] = ()


def parse_duration(value: str, what: str) -> float:
    """xs:duration (`PT2.0S`, `P1DT2H`) -> seconds: finite, >= 0, at most MAX_SECONDS.
    A year counts 365 days and a month 30, as players count them."""
    m = _DURATION.fullmatch(value.strip())
    if m is None or not any(m.groups()):
        raise MpdError(f"{what}: not an xs:duration: {value[:40]!r}")
    y, mo, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    seconds = ((y * 365 + mo * 30 + d) * 24 + h) * 3600 + mi * 60 + s
    if not seconds <= MAX_SECONDS:
        raise MpdError(f"{what}: {value[:40]!r} is over ten years")
    return seconds


def parse_datetime(value: str, what: str) -> float:
    """xs:dateTime -> unix time; no zone means UTC (DASH-IF IOP 4.7.2)."""
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MpdError(f"{what}: not an xs:dateTime: {value[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _kids(el: Any, name: str) -> list[Any]:
    return [c for c in el if _local(c.tag) == name]


def _kid(el: Any, name: str) -> Any | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _int(el: Any, name: str, what: str, lo: int = 0, hi: int = MAX_TICKS) -> int | None:
    raw = el.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit()))):
        raise MpdError(f"{what}@{name}: not a whole number: {raw[:40]!r}")
    number = int(text)
    if not lo <= number <= hi:
        raise MpdError(f"{what}@{name}: {number} is out of range {lo}..{hi}")
    return number


def _seconds(el: Any, name: str, what: str) -> float | None:
    raw = el.get(name)
    return None if raw is None else parse_duration(raw, f"{what}@{name}")


def _float(el: Any, name: str, what: str) -> float | None:
    raw = el.get(name)
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise MpdError(f"{what}@{name}: not a number: {raw[:40]!r}") from None
    if not (math.isfinite(number) and 0 <= number <= MAX_SECONDS):
        raise MpdError(f"{what}@{name}: {raw[:40]!r} is not a finite number >= 0")
    return number


def _frame_rate(raw: str | None) -> float | None:
    """frameRate `30`, `30000/1001`; what is not a sane rate is left out (not paced by)."""
    if not raw:
        return None
    num, _, den = raw.partition("/")
    try:
        fps = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return fps if math.isfinite(fps) and 0 < fps <= 1000 else None


def _base(el: Any, base: str) -> str:
    b = _kid(el, "BaseURL")
    text = (b.text or "").strip() if b is not None else ""
    return urljoin(base, text) if text else base


def _pattern(text: str, rep_id: str, bandwidth: int, what: str) -> tuple[str, bool]:
    """A template's identifiers substituted, $Number$ and $Time$ as str.format fields
    0 and 1: (pattern, whether it names either)."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise MpdError(f"{what}: unpaired $ in {text[:80]!r}")
    out = []
    advances = False
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part.replace("{", "{{").replace("}", "}}"))
            continue
        if not part:
            out.append("$")  # $$ is a literal $
            continue
        m = _IDENT.fullmatch(part)
        if m is None:
            raise MpdError(f"{what}: unknown identifier ${part[:40]}$")
        name, width = m.group(1), m.group(2)
        spec = f":0{int(width)}d" if width else ""
        if name == "RepresentationID":
            if width:
                raise MpdError(f"{what}: $RepresentationID$ takes no width")
            out.append(rep_id.replace("{", "{{").replace("}", "}}"))
        elif name == "Bandwidth":
            out.append(format(bandwidth, spec[1:]) if spec else str(bandwidth))
        else:
            out.append("{" + ("0" if name == "Number" else "1") + spec + "}")
            advances = True
    return "".join(out), advances


def _merged(chain: list[Any]) -> dict[str, Any]:
    """SegmentTemplate attributes and SegmentTimeline, the innermost level winning."""
    attrs: dict[str, Any] = {}
    for el in chain:
        if el is None:
            continue
        attrs.update(el.attrib)
        tl = _kid(el, "SegmentTimeline")
        if tl is not None:
            attrs["__timeline"] = tl
    return attrs


def _timeline(tl: Any, start_number: int, what: str) -> tuple[Run, ...]:
    runs: list[Run] = []
    end = 0
    number = start_number
    for s in _kids(tl, "S"):
        t = _int(s, "t", what + "/S", -MAX_TICKS)  # ffmpeg writes AAC priming as t < 0
        d = _int(s, "d", what + "/S", 1)
        r = _int(s, "r", what + "/S", -1, MAX_REPEAT)
        if d is None:
            raise MpdError(f"{what}/S: no @d")
        if t is None:
            if runs and runs[-1].count == -1:
                raise MpdError(f"{what}/S: an S after r=-1 needs its @t")
            t = end  # back to back with the one before (0 for the first)
        if runs and runs[-1].count == -1:  # r=-1 runs up to this S
            prev = runs[-1]
            count = (t - prev.t) // prev.d
            if count < 1:
                raise MpdError(f"{what}/S: @t={t} leaves no room for the r=-1 before it")
            runs[-1] = Run(prev.t, prev.d, count, prev.number)
            end = prev.t + count * prev.d
            number = prev.number + count
        if t < end:
            raise MpdError(f"{what}/S: @t={t} goes back before the previous end {end}")
        count = -1 if r == -1 else (r or 0) + 1
        runs.append(Run(t, d, count, number))
        if count > 0:
            end = t + count * d
            number += count
            if end > MAX_TICKS or number > MAX_NUMBER:
                raise MpdError(f"{what}: the timeline runs past 2**63 ticks or 2**53 segments")
    if not runs:
        raise MpdError(f"{what}: SegmentTimeline without S elements")
    return tuple(runs)


def _template(chain: list[Any], base: str, rep_id: str, bandwidth: int, what: str) -> Template:
    attrs = _merged(chain)  # a dict: what _int and _float read with .get, as an element
    media = attrs.get("media")
    if not media:
        raise MpdError(f"{what}: no SegmentTemplate@media (SegmentBase and SegmentList "
                       "are not played)")
    pattern, advances = _pattern(urljoin(base, media), rep_id, bandwidth, what + "@media")
    if not advances:
        raise MpdError(f"{what}: media template {media[:80]!r} has neither $Number$ nor $Time$: "
                       "every segment would be the same URL")
    init = attrs.get("initialization")
    init_url = None
    if init:
        init_pattern, _ = _pattern(urljoin(base, init), rep_id, bandwidth, what + "@initialization")
        if "{0" in init_pattern or "{1" in init_pattern:
            raise MpdError(f"{what}: initialization template names $Number$ or $Time$")
        init_url = init_pattern.replace("{{", "{").replace("}}", "}")
    timescale = _int(attrs, "timescale", what, 1, MAX_TIMESCALE) or 1
    start_number = _int(attrs, "startNumber", what, 0, MAX_NUMBER)
    start_number = 1 if start_number is None else start_number
    pto = _int(attrs, "presentationTimeOffset", what) or 0
    ato = _float(attrs, "availabilityTimeOffset", what) or 0.0
    if attrs.get("availabilityTimeComplete", "true").strip() == "false":
        ato = 0.0  # the early part of a segment still being written: see timeline.py
    tl = attrs.get("__timeline")
    duration = _int(attrs, "duration", what, 1)
    timeline = _timeline(tl, start_number, what) if tl is not None else None
    if timeline is None and duration is None:
        raise MpdError(f"{what}: SegmentTemplate with neither @duration nor SegmentTimeline")
    for d in [duration] if timeline is None else [r.d for r in timeline]:
        assert d is not None
        if not MIN_SEGMENT_S <= d / timescale <= MAX_SEGMENT_S:
            raise MpdError(f"{what}: segment duration {d}/{timescale} s is outside "
                           f"{MIN_SEGMENT_S:g}..{MAX_SEGMENT_S:g} s")
    starts = tuple(r.t for r in timeline) if timeline else ()
    return Template(pattern, init_url, timescale, duration, start_number, pto, ato, timeline,
                    starts)


def _kind(el: Any, rep: Any = None) -> str:
    for node in (rep, el):
        if node is None:
            continue
        ct = node.get("contentType")
        if ct:
            return ct.strip().lower()
        mime = node.get("mimeType")
        if mime:
            return mime.split("/", 1)[0].strip().lower()
    return ""


def _adaptation_set(aset: Any, period_tpl: Any, base: str, what: str) -> AdaptationSet:
    base = _base(aset, base)
    kind = _kind(aset)
    lang = aset.get("lang")
    reps = []
    for i, rep in enumerate(_kids(aset, "Representation")):
        rep_id = rep.get("id") or str(i)
        rwhat = f"{what}/Representation[{rep_id}]"
        bandwidth = _int(rep, "bandwidth", rwhat, 1, 2**40)
        if bandwidth is None:
            raise MpdError(f"{rwhat}: no @bandwidth")
        chain = [period_tpl, _kid(aset, "SegmentTemplate"), _kid(rep, "SegmentTemplate")]
        rbase = _base(rep, base)
        reps.append(Representation(
            rep_id, bandwidth, kind or _kind(aset, rep),
            _template(chain, rbase, rep_id, bandwidth, rwhat),
            width=_int(rep, "width", rwhat, 1, 65535) or _int(aset, "width", what, 1, 65535),
            height=_int(rep, "height", rwhat, 1, 65535) or _int(aset, "height", what, 1, 65535),
            frame_rate=_frame_rate(rep.get("frameRate") or aset.get("frameRate")),
            codecs=rep.get("codecs") or aset.get("codecs"),
            mime_type=rep.get("mimeType") or aset.get("mimeType"),
            lang=lang,
        ))  # fmt: skip
    return AdaptationSet(aset.get("id"), kind or (reps[0].kind if reps else ""), tuple(reps), lang)


def parse_mpd(body: bytes, url: str) -> Mpd:
    """An MPD from its bytes; `url` is where it came from (base of relative URLs)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.DefusedXmlException as e:
        raise MpdError(f"{url}: refused XML ({type(e).__name__}: {e})") from None
    except SafeET.ParseError as e:
        raise MpdError(f"{url}: not XML ({e})") from None
    if _local(root.tag) != "MPD":
        raise MpdError(f"{url}: not an MPD (root element <{_local(root.tag)[:40]}>)")
    mtype = (root.get("type") or "static").strip()
    if mtype not in ("static", "dynamic"):
        raise MpdError(f"{url}: MPD@type {mtype[:40]!r} is neither static nor dynamic")
    dynamic = mtype == "dynamic"
    ast_raw = root.get("availabilityStartTime")
    ast = parse_datetime(ast_raw, "MPD@availabilityStartTime") if ast_raw else None
    if dynamic and ast is None:
        raise MpdError(f"{url}: a dynamic MPD without availabilityStartTime")
    pt_raw = root.get("publishTime")
    duration = _seconds(root, "mediaPresentationDuration", "MPD")
    base = _base(root, url)
    periods: list[Period] = []
    starts: list[float] = []
    raw_periods = _kids(root, "Period")
    if not raw_periods:
        raise MpdError(f"{url}: MPD without a Period")
    for i, p in enumerate(raw_periods):
        what = f"Period[{p.get('id') or i}]"
        start = _seconds(p, "start", what)
        if start is None:  # the previous one's end (ISO/IEC 23009-1 5.3.2.1)
            start = periods[-1].end if periods else 0.0
            if start is None:
                raise MpdError(f"{url}: {what} has no @start and the one before has no end")
        if starts and start < starts[-1]:
            raise MpdError(f"{url}: {what}@start goes back")
        own = _seconds(p, "duration", what)
        pbase = _base(p, base)
        sets = tuple(_adaptation_set(a, _kid(p, "SegmentTemplate"), pbase, what)
                     for a in _kids(p, "AdaptationSet"))
        starts.append(start)
        periods.append(Period(p.get("id"), start, None if own is None else start + own, sets))
    for i in range(len(periods) - 1):  # a period ends where the next begins
        if periods[i].end is None or periods[i].end > starts[i + 1]:  # type: ignore[operator]
            periods[i] = Period(periods[i].id, starts[i], starts[i + 1], periods[i].adaptation_sets)
    if duration is not None and periods[-1].end is None:
        last = periods[-1]
        periods[-1] = Period(last.id, last.start, duration, last.adaptation_sets)
    timings = tuple(UtcTiming((u.get("schemeIdUri") or "").strip(), (u.get("value") or "").strip())
                    for u in _kids(root, "UTCTiming"))
    mup = _seconds(root, "minimumUpdatePeriod", "MPD")
    return Mpd(
        url=url, dynamic=dynamic, periods=tuple(periods), availability_start=ast,
        publish_time=parse_datetime(pt_raw, "MPD@publishTime") if pt_raw else None,
        minimum_update_period=mup if dynamic else None,
        suggested_presentation_delay=_seconds(root, "suggestedPresentationDelay", "MPD"),
        time_shift_buffer_depth=_seconds(root, "timeShiftBufferDepth", "MPD"),
        max_segment_duration=_seconds(root, "maxSegmentDuration", "MPD"),
        min_buffer_time=_seconds(root, "minBufferTime", "MPD"),
        duration=duration, utc_timing=timings,
    )  # fmt: skip


#: parse_mpd once per MPD text for all viewers (each loads it every update period;
#: the result is frozen; viewers/parse_memo.py)
parse_mpd_memo: ParseMemo[bytes, Mpd] = ParseMemo(parse_mpd)


__all__ = ["AUDIO", "UTC_SCHEMES", "VIDEO", "AdaptationSet", "Mpd", "MpdError", "Period",
           "Representation", "Run", "Template", "UtcTiming", "parse_datetime",
           "parse_duration", "parse_mpd", "parse_mpd_memo"]
