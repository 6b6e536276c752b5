"""A parse done once per text for all the viewers of a process (HLS playlists, DASH
MPDs, LL-HLS playlists).

A thousand viewers of one stream each fetch the same playlist or manifest text
every reload; each still makes its own request (what it measures is its own),
but the parse, a pure function of (text, URL), is done once and the result,
which no viewer modifies, shared. Failures are not remembered. The memory is
bounded by count and by size (KEEP results, KEEP_BYTES of texts: then it starts
again), not by a text's length, so a long playlist is shared too (its answer's
own limit bounds it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)
R = TypeVar("R")

KEEP = 64  # results remembered, all streams of a process
KEEP_BYTES = 16 << 20  # ... and the texts they were parsed from, in all


class ParseMemo(Generic[T, R]):
    """`parse(text, url)`, answered from memory for a (text, url) seen before."""

    __slots__ = ("_bytes", "_parse", "_seen")

    def __init__(self, parse: Callable[[T, str], R]) -> None:
        self._parse = parse
        self._seen: dict[tuple[str, T], R] = {}
        self._bytes = 0

    def __call__(self, text: T, url: str) -> R:
        key = (url, text)
        found = self._seen.get(key)
        if found is None:
            found = self._parse(text, url)  # raises: not remembered
            if len(self._seen) >= KEEP or self._bytes + len(text) > KEEP_BYTES:
                self._seen.clear()
                self._bytes = 0
            self._seen[key] = found
            self._bytes += len(text)
        return found


__all__ = ["KEEP", "KEEP_BYTES", "ParseMemo"]
