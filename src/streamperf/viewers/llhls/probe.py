"""Is a stream at an .m3u8 URL low-latency HLS? Asked once per play URL before a run
(platforms/direct.py), so `--play-url` of an LL-HLS stream gets the LL-HLS viewer.

LL-HLS when its media playlist (a master's first variant's) has EXT-X-PART-INF and
CAN-BLOCK-RELOAD=YES. Any failure answers False: the HLS viewers then play it and
report what the server does, each in its own rows.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from streamperf.viewers.hls.playlist import PlaylistError, is_master, parse_master_playlist
from streamperf.viewers.llhls.playlist import parse_ll_playlist

PROBE_TIMEOUT_S = 5.0
MAX_PROBE_BYTES = 1 << 20


def _text(url: str, timeout: float) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read(MAX_PROBE_BYTES).decode("utf-8", "replace"), resp.geturl()


def is_low_latency(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    if not url.lower().startswith(("http://", "https://")):
        return False
    try:
        text, final = _text(url, timeout)
        if is_master(text):
            variants = parse_master_playlist(text, final).variants
            if not variants:
                return False
            text, final = _text(variants[0].uri, timeout)
        return parse_ll_playlist(text, final).low_latency
    except (OSError, urllib.error.URLError, PlaylistError, ValueError):
        return False


__all__ = ["is_low_latency"]
