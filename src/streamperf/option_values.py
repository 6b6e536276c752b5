"""How each option's text becomes a value: one parser per kind of value.

Each raises ValueError with the reason only; settings.py puts the option and
the value in front of it, so every bad value reads the same, in pytest and
the CLI alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from streamperf.hosts.specs import parse_host_specs, read_hosts_file
from streamperf.media.rungs import DEFAULT_LADDER, DEFAULT_WORD, Rung
from streamperf.viewers import PROTOCOLS, protocol_of_url
from streamperf.viewers.abr import ABR_MODES

#: --sleepbetweensteps value for the seed's own per-step think times (platforms/seed/journey.py)
SEED_THINK = "seed"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


#: The longest duration an option takes: a week. Anything longer is a typo, and
#: time.sleep and the event loop refuse figures past about 1e9 s anyway.
MAX_DURATION_S = 7 * 86400.0
#: The most fans a run takes: far beyond one controller and its load hosts, short of
#: figures that would only allocate forever.
MAX_USERS = 1_000_000


def parse_duration(text: str | float | int) -> float:
    """'500ms', '2s', '1.5m', '90' (seconds) -> seconds, from 0 to MAX_DURATION_S."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 500ms, 2s, 1m)")
        value = float(m.group(1)) * _UNIT_S[m.group(2)]
    if not value >= 0:  # negative, or NaN
        raise ValueError(f"negative duration {str(text)[:40]}")
    if value > MAX_DURATION_S:
        raise ValueError(f"longer than {MAX_DURATION_S / 86400:g} days")
    return value


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:  # also Python's limit of 4300 digits
            raise ValueError(f"not an integer: {str(text)[:40]!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            shown = str(value) if len(str(value)) <= 20 else f"{str(value)[:20]}..."
            raise ValueError(f"{shown} is out of range (must be {bound})")
        return value

    return parse


def positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"{str(text)[:40]!r} must be more than zero")
    return value


def parse_think_time(text: str) -> float | str:
    """'seed' (the seed's per-step think times) or one pause for every step, e.g. 2s."""
    if str(text).strip() == SEED_THINK:
        return SEED_THINK
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"not a duration or {SEED_THINK!r}: {str(text)[:40]!r} "
                         f"(use e.g. 2s for a pause after every step, or {SEED_THINK} "
                         "for the seed's 3s/5s/5s/1s)") from None


def one_of(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return parse




def abr_mode(text: str) -> str:
    """An ABR mode (hlsjs, dashjs, highest, lowest) or the name of a rendition to pin
    (a ladder's names are known only once its manifest is read)."""
    value = text.strip()
    if value in ABR_MODES:
        return value
    if not value or len(value) > 40 or not all(c.isalnum() or c in "-_." for c in value):
        raise ValueError(f"{text[:40]!r} is not one of {', '.join(ABR_MODES)} "
                         "nor a rendition name (letters, digits, - _ .)")
    return value


def parse_protocol_mix(text: str) -> tuple[tuple[str, int], ...]:
    """'rtmp=70,hls=30' -> (("rtmp", 70), ("hls", 30)); shares must add up to 100."""
    mix: list[tuple[str, int]] = []
    for part in text.split(","):
        name, sep, share = part.strip().partition("=")
        if not sep or name not in PROTOCOLS or not share.strip().isdigit():
            raise ValueError(f"{part.strip()!r} is not PROTOCOL=PERCENT "
                             f"(protocols: {', '.join(PROTOCOLS)})")
        mix.append((name, int(share)))
    if sum(share for _, share in mix) != 100:
        raise ValueError("shares must add up to 100")
    if len({name for name, _ in mix}) != len(mix):
        raise ValueError("a protocol is named twice")
    return tuple(mix)


#: --ladder's bounds: a handful of rungs, bitrates a live ladder uses, heights x264 takes
MAX_RUNGS = 8
RUNG_KBPS = (50, 50_000)
RUNG_HEIGHT = (96, 4320)
_RUNG_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_RUNG_KBPS = re.compile(r"(\d+(?:\.\d+)?)\s*(k|kbps|m|mbps)?", re.IGNORECASE)
_RUNG_HEIGHT = re.compile(r"(\d+)p")
#: file names the ladder's directory holds besides the renditions' own (`NAME.m3u8`)
RESERVED_RUNG_NAMES = ("master",)


def _rung(part: str) -> Rung:
    fields = [f.strip() for f in part.split(":")]
    if len(fields) not in (2, 3) or not all(fields):
        raise ValueError(f"{part!r} is not NAME:BITRATE[:HEIGHTp] (e.g. 720p:2400k)")
    name, rate = fields[0], fields[1]
    if not _RUNG_NAME.fullmatch(name) or name.lower() in RESERVED_RUNG_NAMES:
        raise ValueError(f"rung name {name!r}: use 1-32 letters, digits, _ or - "
                         f"(not {', '.join(RESERVED_RUNG_NAMES)})")
    m = _RUNG_KBPS.fullmatch(rate)
    kbps = round(float(m.group(1)) * (1000 if (m.group(2) or "k").lower()[0] == "m" else 1)
                 ) if m else 0
    if not RUNG_KBPS[0] <= kbps <= RUNG_KBPS[1]:
        raise ValueError(f"rung {name}: bitrate {rate!r} is not {RUNG_KBPS[0]}k to "
                         f"{RUNG_KBPS[1]}k (e.g. 2400k or 2.4M)")
    res = fields[2] if len(fields) == 3 else name if _RUNG_HEIGHT.fullmatch(name) else None
    height = None
    if res is not None:
        h = _RUNG_HEIGHT.fullmatch(res)
        height = int(h.group(1)) if h else 0
        if not RUNG_HEIGHT[0] <= height <= RUNG_HEIGHT[1] or height % 2:
            raise ValueError(f"rung {name}: height {res!r} is not an even HEIGHTp from "
                             f"{RUNG_HEIGHT[0]}p to {RUNG_HEIGHT[1]}p")
    return Rung(name, kbps, height)


def parse_ladder(text: str) -> tuple[Rung, ...]:
    """'720p:2400k,480p:1100k,240p:350k' -> rungs, the highest bitrate first; a height
    from `720p` in the name or a third field (width from the source's aspect), else the
    source's size; 'default' -> DEFAULT_LADDER."""
    text = str(text).strip()
    if text == DEFAULT_WORD:
        return DEFAULT_LADDER
    rungs = [_rung(part) for part in text.split(",")] if text else []
    if not 1 <= len(rungs) <= MAX_RUNGS:
        raise ValueError(f"give 1 to {MAX_RUNGS} rungs NAME:BITRATE[:HEIGHTp], comma "
                         f"separated, or {DEFAULT_WORD!r}")
    for what, values in (("name", [r.name.lower() for r in rungs]),
                         ("bitrate", [f"{r.video_kbps}k" for r in rungs])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:  # a player tells renditions apart by these
            raise ValueError(f"two rungs with the {what} {twice[0]}")
    return tuple(sorted(rungs, key=lambda r: -r.video_kbps))


#: The most viewer processes a machine is asked for (auto: one per core).
MAX_PROCS = 1024


def process_count(text: str) -> str:
    if text.strip() == "auto":
        return "auto"
    return str(int_in(1, MAX_PROCS)(text))


def host_list(text: str) -> str:
    if not parse_host_specs(text):
        raise ValueError("names no host (use 'user@host[:port] ...')")
    return " ".join(text.replace(",", " ").split())


def hosts_file_path(text: str) -> str:
    try:
        if not read_hosts_file(Path(text)):
            raise ValueError("names no host")
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    return text


def existing_file(text: str) -> str:
    if not Path(text).expanduser().is_file():
        raise ValueError("no such file")
    return str(Path(text).expanduser())


def bind_address(text: str) -> str:
    """An IPv4 address to listen on (0.0.0.0: every interface): the bundled platform
    and its nginx listen on IPv4 only, and a name would be looked up, not bound."""
    import ipaddress

    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("use an IPv4 address of this machine, e.g. 127.0.0.1") from None
    if addr.version != 4:
        raise ValueError("use an IPv4 address: the bundled platform listens on IPv4 only")
    return str(addr)


def listen_address(text: str) -> str:
    import ipaddress

    addr = ipaddress.ip_address(bind_address(text))
    if addr.is_unspecified:
        raise ValueError("use the one address the load hosts reach: it is also in stream URLs")
    return str(addr)


def _split_url(text: str) -> tuple[str, SplitResult]:
    """The URL stripped, and its parts; ValueError (one line) for one that does not parse
    or has a bad port."""
    url = text.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    return url, parts


def http_url(text: str) -> str:
    url, parts = _split_url(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("use an http:// or https:// URL with a host, "
                         "e.g. https://api.example.com")
    return url.rstrip("/")


def play_url(text: str) -> str:
    url = text.strip()
    protocol_of_url(url)  # raises ValueError naming what is wrong
    return url


def ingest_url(text: str) -> str:
    url, parts = _split_url(text)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.hostname or not parts.path.strip("/"):
        raise ValueError("use an rtmp:// (or rtmps://) URL with a host and a stream path, "
                         "e.g. rtmp://media.example.com/live/KEY")
    return url


def positive_kbps(text: str) -> float:
    import math

    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"not a number: {str(text)[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a bitrate in kbps, more than zero")
    return value


#: the entry point group where packages name their platform adapters
PLATFORM_ENTRY_POINTS = "streamperf.platforms"


def load_platform_class(ref: str) -> type:
    """`module:Class` (imported) or an entry point name in `streamperf.platforms`.

    Raises ValueError with one line naming what could not be found.
    """
    import importlib
    import importlib.metadata

    if ":" not in ref:
        found = [ep for ep in importlib.metadata.entry_points(group=PLATFORM_ENTRY_POINTS)
                 if ep.name == ref]
        if not found:
            names = sorted(ep.name for ep in
                           importlib.metadata.entry_points(group=PLATFORM_ENTRY_POINTS))
            known = f" (installed: {', '.join(names)})" if names else ""
            raise ValueError(f"no module:Class, and no {PLATFORM_ENTRY_POINTS} entry point "
                             f"of that name{known}")
        try:
            cls = found[0].load()
        except Exception as exc:  # whatever the package raises on import
            raise ValueError(f"entry point {found[0].value}: {type(exc).__name__}: {exc}"
                             ) from None
    else:
        module, _, name = ref.partition(":")
        try:
            cls = importlib.import_module(module)
            for part in name.split("."):
                cls = getattr(cls, part)
        except ImportError as exc:
            raise ValueError(f"cannot import {module}: {exc}") from None
        except AttributeError:
            raise ValueError(f"{module} has no {name}") from None
        except Exception as exc:  # the module's own import-time failure
            raise ValueError(f"importing {module}: {type(exc).__name__}: {exc}") from None
    if not isinstance(cls, type):
        raise ValueError(f"{ref} is not a class")
    missing = [m for m in ("go_live", "on_air", "prepare_fans", "fan_journey", "end")
               if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(f"{ref} is not a platform adapter: it lacks {', '.join(missing)} "
                         "(see docs/platforms.md)")
    return cls


def platform_ref(text: str) -> str:
    ref = text.strip()
    load_platform_class(ref)
    return ref


#: A fleet's id (fleet/lifecycle.py makes them): this prefix and 8 hex digits.
FLEET_ID_PREFIX = "spf-"
_FLEET_ID = re.compile(r"^spf-[0-9a-f]{8}$")


def fleet_ref(text: str) -> str:
    """--fleet: a count of instances to start, or the id of a fleet to reuse."""
    text = text.strip()
    if text.isdigit() and int(text) > 0:
        return str(int(text))
    if _FLEET_ID.match(text):
        return text
    raise ValueError(f"expected a number of instances or a fleet id ({FLEET_ID_PREFIX}xxxxxxxx)")


def is_fleet_id(ref: str) -> bool:
    return bool(_FLEET_ID.match(ref))


def tcp_port(text: str) -> int:
    return int_in(1, 65535)(text)


def any_text(text: str) -> str:
    return str(text)


def name_or_path(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text) and "/" not in text:
        raise ValueError("use a name of letters, digits, _ . - or a path to a .json file")
    return text
