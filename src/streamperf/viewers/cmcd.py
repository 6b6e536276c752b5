"""Common Media Client Data (CTA-5004): what a player tells the CDN about each request.

With `--cmcd query|headers` every playlist, manifest and segment request of an
HLS or DASH viewer carries the keys below, so a platform's CDN logs join to
streamperf's rows by session id (`sid`: the viewer's name in the event log,
the same string). Keys: `sid`, `cid` (content id: the stream URL's path), `br`
(encoded bitrate of the object's rendition, kbps), `bl` (buffer length, ms, to
100 ms), `mtp` (measured throughput, kbps, to 100 kbps), `ot` (object type:
m manifest, v video, a audio, av muxed), `sf` (h HLS, d DASH), `st` (l live),
`su` (while starting up or rebuffering), `d` (object duration, ms).
Query mode adds `CMCD=<keys>` (URL-encoded); header mode sends them as
CMCD-Object, CMCD-Request, CMCD-Session and CMCD-Status (CTA-5004 section 3).
"""

from __future__ import annotations

from urllib.parse import quote

from streamperf.viewers.abr.policy import AbrPolicy
from streamperf.viewers.abr.rendition import Rendition

CMCD_MODES = ("query", "headers")

_STRING_KEYS = frozenset(("cid", "sid", "ot", "sf", "st"))
_TOKEN_KEYS = frozenset(("ot", "sf", "st"))  # tokens: not quoted
_HEADER_OF = {
    "br": "CMCD-Object", "d": "CMCD-Object", "ot": "CMCD-Object", "tb": "CMCD-Object",
    "bl": "CMCD-Request", "dl": "CMCD-Request", "mtp": "CMCD-Request", "su": "CMCD-Request",
    "cid": "CMCD-Session", "sf": "CMCD-Session", "sid": "CMCD-Session", "st": "CMCD-Session",
    "bs": "CMCD-Status", "rtp": "CMCD-Status",
}


def _item(key: str, value: object) -> str | None:
    if value is True:
        return key  # a true boolean is the key alone
    if value is None or value is False or value == "":
        return None
    if key in _STRING_KEYS and key not in _TOKEN_KEYS:
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'{key}="{text}"'
    if isinstance(value, float):
        value = round(value)
    return f"{key}={value}"


def payload(keys: dict[str, object]) -> str:
    """`br=1100,bl=4000,cid="...",...`: the keys in alphabetical order, empty ones left out."""
    items = (_item(k, keys[k]) for k in sorted(keys))
    return ",".join(i for i in items if i)


def with_query(url: str, keys: dict[str, object]) -> str:
    """`url` with `CMCD=<payload>` added to its query."""
    sep = "&" if "?" in url.split("#", 1)[0] else "?"
    return f"{url}{sep}CMCD={quote(payload(keys), safe='')}"


def headers(keys: dict[str, object]) -> bytes:
    """The CMCD request header lines (each ending CRLF) for `keys`."""
    groups: dict[str, dict[str, object]] = {}
    for k, v in keys.items():
        groups.setdefault(_HEADER_OF.get(k, "CMCD-Request"), {})[k] = v
    lines = [f"{name}: {payload(g)}\r\n" for name, g in sorted(groups.items()) if payload(g)]
    return "".join(lines).encode("latin-1", "replace")


def rounded_ms(seconds: float, step_ms: int = 100) -> int:
    return int(round(seconds * 1000 / step_ms) * step_ms)


def request(mode: str, url: str, *, sid: str, cid: str, ot: str, sf: str, starting: bool,
            duration: float | None = None, policy: AbrPolicy | None = None,
            rendition: Rendition | None = None, now: float = 0.0) -> tuple[str, bytes]:  # fmt: skip
    """(URL to ask, extra header lines) of one request in CMCD `mode` (query|headers)."""
    keys: dict[str, object] = {"sid": sid, "cid": cid, "ot": ot, "sf": sf, "st": "l",
                               "su": starting}
    if duration is not None:
        keys["d"] = round(duration * 1000)
        if rendition is not None:
            keys["br"] = round(rendition.bandwidth / 1000)
    if policy is not None:
        keys["bl"] = rounded_ms(policy.buffer.level(now))
        est = policy.estimate_bps
        if est:
            keys["mtp"] = round(est / 100_000) * 100
    if mode == "query":
        return with_query(url, keys), b""
    return url, headers(keys)


__all__ = ["CMCD_MODES", "headers", "payload", "request", "rounded_ms", "with_query"]
