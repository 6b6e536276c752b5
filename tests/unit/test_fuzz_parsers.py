"""Every parser, fuzzed: any input gives a result or the parser's documented error,
never another exception, in bounded time (properties in tests/support/fuzz_properties.py).

CI runs the "ci" hypothesis profile (100 inputs per parser); benchmarks/fuzz.py
runs the same properties with a large count.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzz_properties import PROPERTIES


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_parser_takes_any_input(name: str) -> None:
    prop = PROPERTIES[name]

    @given(st.data())
    def check(data: Any) -> None:
        prop.run(data.draw(prop.strategy, label=name))

    check()


@pytest.mark.parametrize("name", ["rtmp_chunks", "flv_tags", "http_flv", "mpegts"])
def test_the_real_recordings_parse_cleanly(name: str) -> None:
    """The seeds themselves, unmutated and in one piece: the check holds on real bytes
    (a property that failed on them would test nothing)."""
    from tests.support.fuzz_properties import seeds

    kind = {"rtmp_chunks": "rtmp", "flv_tags": "flv", "http_flv": "http_flv", "mpegts": "ts"}[name]
    recordings = seeds(kind)
    assert recordings and all(recordings)  # a missing recording would make this vacuous
    for data in recordings:
        PROPERTIES[name].run((data, [len(data)]))
