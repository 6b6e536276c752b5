"""The seed platform's conventions: its values (the defaults of their options), where an
influencer publishes, where a fan asks for an edge (a Wowza-style redirect) and how its
SMIL answer names the edge.

Imports nothing of streamperf: the options table (settings.py) takes its defaults here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

#: The seed tool's values (DESIGN.md section 8). Its origin served RTMP ingest and its
#: Wowza-style edge redirect on this port.
SEED_ORIGIN_PORT = 2000
SEED_FAN_PASSWORD = "Password42"
SEED_CODE_TEXT = "leti"


def seed_ingest_url(origin_ip: str, origin_port: int, username: str) -> str:
    """Where the seed published: rtmp://ORIGIN:PORT/live/USER."""
    return f"rtmp://{origin_ip}:{origin_port}/live/{username}"


def seed_redirect_url(origin_ip: str, origin_port: int, username: str) -> str:
    """The seed's Wowza-style edge lookup on the origin: http://ORIGIN:PORT/redirect/live/USER."""
    return f"http://{origin_ip}:{origin_port}/redirect/live/{username}"


def edge_url_from_smil(smil: str, username: str) -> str:
    """The playback URL in a Wowza redirect answer: the SMIL `meta base` with
    `_definst_` replaced by `<username>_source`. ValueError when there is none."""
    try:
        root = ET.fromstring(smil)
    except ET.ParseError as e:
        raise ValueError(f"not SMIL ({e})") from None
    for meta in root.iter("meta"):
        base = meta.get("base")
        if base and "_definst_" in base:
            return base.replace("_definst_", f"{username}_source")
    raise ValueError("no meta base with _definst_")
