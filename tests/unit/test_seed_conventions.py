"""The seed's conventions when a platform answers with an origin address only:
ingest and edge lookup on the origin port, the SMIL answer, one port for both."""

from __future__ import annotations

import pytest

from streamperf.media.shared_port import route
from streamperf.platforms.seed.client import Influencer, PlatformClient
from streamperf.platforms.seed.conventions import edge_url_from_smil
from streamperf.platforms.seed.journey import SEED_THINK_S, ThinkTimes

RTMP, HTTP = ("127.0.0.1", 1), ("127.0.0.1", 2)


def influencer(**status: object) -> Influencer:
    return Influencer(1, "e@x", "star", "tok", {"origin_ip": "10.0.0.5", **status})


def test_origin_address_only_means_the_origin_port():
    with PlatformClient("http://127.0.0.1:9", origin_port=2000) as seed:
        assert seed.ingest_url(influencer()) == "rtmp://10.0.0.5:2000/live/star"
    with PlatformClient("http://127.0.0.1:9", origin_port=19350) as other:
        assert other.ingest_url(influencer()) == "rtmp://10.0.0.5:19350/live/star"
        # An explicit URL in the answer wins.
        explicit = influencer(ingest_url="rtmp://ingest.example/app/key")
        assert other.ingest_url(explicit) == "rtmp://ingest.example/app/key"


def test_the_smil_base_names_the_edge_stream_as_wowza_does():
    smil = '<smil><head><meta base="rtmp://edge-3:1935/live/_definst_"/></head><body/></smil>'
    assert edge_url_from_smil(smil, "star") == "rtmp://edge-3:1935/live/star_source"
    with pytest.raises(ValueError, match="no meta base"):
        edge_url_from_smil("<smil><head/></smil>", "star")
    with pytest.raises(ValueError, match="not SMIL"):
        edge_url_from_smil("{}", "star")


@pytest.mark.parametrize(("first", "to"), [
    (b"GET ", HTTP), (b"HEAD", HTTP), (b"POST", HTTP),
    (b"\x03\x00\x00\x00", RTMP),  # RTMP C0 (version 3) then C1's time
    (b"\x06abc", RTMP),
])
def test_one_port_routes_http_requests_and_rtmp_handshakes(first, to):
    assert route(first, RTMP, HTTP) == to


def test_think_times_seed_or_one_duration():
    seed = ThinkTimes.from_setting("seed")
    assert dict(seed.after) == dict(SEED_THINK_S)
    assert [seed.pause(s) for s in ("sign_up", "use_code", "marketplace", "follow")] == \
        [3.0, 5.0, 5.0, 1.0]
    assert seed.pause("sign_in") == 0.0 and seed.pause("join") == 0.0
    uniform = ThinkTimes.from_setting(0.5)
    assert uniform.pause("sign_in") == 0.5 and uniform.pause("leave") == 0.0
    assert ThinkTimes.from_setting(0.0).after == {}
