"""The parse shared by the viewers of a process (viewers/parse_memo.py): once per (text,
URL), a long text too (issue 24: playlists over 64 KiB were parsed again for every
viewer), bounded in count and bytes, failures never kept."""

from __future__ import annotations

import pytest

from streamperf.viewers import parse_memo
from streamperf.viewers.parse_memo import KEEP, KEEP_BYTES, ParseMemo


def _counting() -> tuple[ParseMemo[str, tuple[str, str]], list[str]]:
    calls: list[str] = []

    def parse(text: str, url: str) -> tuple[str, str]:
        calls.append(text[:10])
        if text.startswith("bad"):
            raise ValueError("not a playlist")
        return text[:10], url

    return ParseMemo(parse), calls


def test_a_text_is_parsed_once_per_url_a_long_one_too() -> None:
    memo, calls = _counting()
    long = "#EXTM3U\n" + "#EXTINF:2,\na.ts\n" * 20_000  # 320 kB
    first = memo(long, "http://h/a.m3u8")
    assert memo(long, "http://h/a.m3u8") is first and len(calls) == 1
    memo(long, "http://h/b.m3u8")  # another base for its URIs: parsed again
    assert len(calls) == 2


def test_failures_are_not_kept_and_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    memo, calls = _counting()
    for _ in range(2):
        with pytest.raises(ValueError):
            memo("bad text", "u")
    assert len(calls) == 2
    for i in range(KEEP + 1):
        memo(f"text {i}", "u")
    assert len(memo._seen) == 1  # it started again past KEEP
    monkeypatch.setattr(parse_memo, "KEEP_BYTES", 1000)
    memo("x" * 600, "u")
    memo("y" * 600, "u")  # 1,200 bytes of texts: past the bound, only the newest kept
    assert list(memo._seen) == [("u", "y" * 600)] and KEEP_BYTES > 1000
