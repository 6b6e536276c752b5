"""The plugin's `influencer` fixture: the seed adapter's influencer from the live stream,
None for any other platform (run in-process with pytester; the `stream` fixture is
overridden with a stand-in, since only what the adapter went live with is read)."""

from __future__ import annotations

import pandas  # noqa: F401 - loaded before pytester's module snapshot: numpy loads once
import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import types

import pandas  # noqa: F401 - loaded before pytester's module snapshot: numpy loads once
import pytest

from streamperf.platforms import GoLive
from streamperf.platforms.seed.client import Influencer

SEED = Influencer(7, "i@e.com", "inf", "tok")


@pytest.fixture(scope="session")
def stream(request):
    extra = {"influencer": SEED} if request.config.getoption("keyword") == "seed" else {}
    return types.SimpleNamespace(live=GoLive("rtmp://h/live/s", "s", extra=extra))
'''

TESTS = '''
from conftest import SEED


def test_seed(influencer):
    assert influencer is SEED


def test_other(influencer):
    assert influencer is None
'''


@pytest.mark.parametrize("platform", ["seed", "other"])
def test_influencer_is_the_seed_adapters_or_none(pytester: pytest.Pytester,
                                                  platform: str) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fixture=TESTS)
    result = pytester.runpytest("-k", platform)
    result.assert_outcomes(passed=1, deselected=1)
