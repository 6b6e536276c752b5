"""The adapter API's import paths of the previous release still work, for one release,
each name the same object as at its new home, with a DeprecationWarning naming both."""

from __future__ import annotations

import importlib

import pytest

import streamperf.platforms as platforms
from streamperf.platforms.direct import DirectPlatform
from streamperf.platforms.reference.adapter import BundledPlatform
from streamperf.platforms.seed.adapter import SeedApiPlatform
from streamperf.platforms.seed.client import PlatformClient

MOVED = [
    ("streamperf.load.adapter", "PlatformAdapter", platforms.PlatformAdapter),
    ("streamperf.load.adapter", "GoLive", platforms.GoLive),
    ("streamperf.load.adapter", "FanPlay", platforms.FanPlay),
    ("streamperf.load.adapter", "ApiReport", platforms.ApiReport),
    ("streamperf.load.adapter", "FanJourneyError", platforms.FanJourneyError),
    ("streamperf.load.fans", "FanSpec", platforms.FanSpec),
    ("streamperf.platform.client", "ApiCall", platforms.ApiCall),
    ("streamperf.platform.client", "ApiError", platforms.ApiError),
    ("streamperf.platform.client", "PlatformClient", PlatformClient),
    ("streamperf.load.seed_adapter", "SeedApiPlatform", SeedApiPlatform),
    ("streamperf.load.seed_adapter", "BundledPlatform", BundledPlatform),
    ("streamperf.load.direct", "DirectPlatform", DirectPlatform),
]


@pytest.mark.parametrize(("module", "name", "home"), MOVED,
                         ids=[f"{m}.{n}" for m, n, _ in MOVED])
def test_an_old_path_gives_the_same_object_and_says_where_it_went(module, name, home):
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} moved to streamperf\."):
        assert getattr(old, name) is home


def test_a_name_that_never_was_there_is_still_an_attribute_error():
    old = importlib.import_module("streamperf.load.adapter")
    with pytest.raises(AttributeError, match="no attribute 'Nonsense'"):
        old.Nonsense  # noqa: B018


def test_from_import_of_an_old_path_works_as_before():
    with pytest.warns(DeprecationWarning):
        from streamperf.load.adapter import GoLive
    assert GoLive("rtmp://h/live/s", stream_id="s").stream_id == "s"
