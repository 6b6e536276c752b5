"""The seed's full flow with PlatformClient against a real ReferencePlatform (real nginx)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from streamperf.media.publisher import Publisher, PublisherError
from streamperf.platforms.api_calls import ApiCall, ApiError
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.client import Fan, Influencer, PlatformClient

pytestmark = [pytest.mark.integration, pytest.mark.realtime]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferencePlatform]:
    with ReferencePlatform(tmp_path_factory.mktemp("platform"), ready_delay_s=0.4) as p:
        yield p


def test_full_seed_flow(
    platform: ReferencePlatform,
    client: PlatformClient,
    calls: list[ApiCall],
    clip: Path,
    tmp_path: Path,
) -> None:
    media = platform.media
    # influencer: sign in or up, alerts, poll until ready
    inf = client.influencer_sign_in("Star.Girl+1@e.com", "oauth-xyz")
    assert inf.username == "star_girl_1"
    assert inf.servers_status["servers_ready"] is False
    assert client.influencer_sign_in("star.girl+1@e.com", "oauth-xyz").id == inf.id  # again
    client.create_stream_alerts(inf)
    n_before = len(calls)
    inf = client.wait_servers_ready(inf, poll_s=0.1, timeout_s=5)
    assert len(calls) - n_before >= 2  # the poll loop really polled
    st = inf.servers_status
    assert st["origin_ip"] == "127.0.0.1" and st["servers_ready"] is True
    ingest = client.ingest_url(inf)
    # the stream key in the query: nginx's on_publish checks it with the platform
    assert ingest.startswith(media.ingest_url(f"{inf.username}_source") + "?key=")
    client.start_streaming(inf)

    # publish to the ingest the platform named
    pub = Publisher(clip, ingest, tmp_path)
    stream = f"{inf.username}_source"
    pub.start(ready=lambda: media.is_publishing(stream))
    try:
        # fan: sign up, duplicate fails, sign in, wrong password
        fan = client.fan_sign_up("testfan1@e.com", "testfan1", "pw-1")
        with pytest.raises(ApiError) as dup:
            client.fan_sign_up("testfan1@e.com", "testfan1", "pw-1")
        assert dup.value.status == 422 and "already been taken" in dup.value.body
        again = client.fan_sign_in("testfan1@e.com", "pw-1")
        assert again.id == fan.id and again.token == fan.token
        with pytest.raises(ApiError) as bad:
            client.fan_sign_in("testfan1@e.com", "wrong")
        assert bad.value.status == 401

        client.use_code(fan, "WELCOME")
        assert inf.id in client.marketplace(fan)
        client.follow(fan, inf.id)
        client.follow(fan, inf.id)  # idempotent
        rel = requests.post(
            f"{platform.base_url}/api/v1/influencers/relation",
            json={"influencers": [inf.id]},
            headers={"x-fan-token": fan.token},
            timeout=5,
        ).json()
        assert rel == {"relations": [{"influencer_id": inf.id, "following": True}]}

        # join: explicit URLs on the media server; edge resolution gives the same stream
        playback = client.join_stream(fan, inf.id)
        assert playback.influencer_username == inf.username
        assert playback.rtmp_url == media.rtmp_url(stream)
        assert playback.hls_url == media.hls_url(stream)
        assert client.playback_url(fan, inf, playback) == playback.rtmp_url
        assert client.playback_url(fan, inf, playback, "hls") == playback.hls_url
        edge = client.resolve_edge(
            playback.origin_ip, inf.username, inf.servers_status["edge_redirect_url"]
        )
        assert edge == playback.rtmp_url
        client.leave_stream(fan, inf.id)
        client.unfollow(fan, inf.id)

        # the HLS URL the platform gave becomes a real playlist
        deadline = time.monotonic() + 10
        playlist = ""
        while time.monotonic() < deadline and "#EXTINF" not in playlist:
            try:
                with urllib.request.urlopen(playback.hls_url, timeout=2) as r:
                    playlist = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert "#EXTINF" in playlist
    finally:
        pub.stop()
    client.end_streaming(inf)

    # every call was reported with latency and status
    assert all(c.latency_s > 0 for c in calls)
    assert all((c.status == 200) == (c.outcome == "ok") for c in calls)
    assert {c.endpoint for c in calls} >= {
        "POST /api/v1/influencers/instagram_sign_in_or_up",
        "POST /api/v1/influencers/{I}/stream_alerts",
        "GET /api/v1/influencers/{I}",
        "POST /api/v1/influencers/{I}/streamings",
        "DELETE /api/v1/influencers/{I}/streamings",
        "POST /api/v1/fans",
        "POST /api/v1/fans/sign_in",
        "POST /api/v1/codes/use",
        "GET /api/v1/influencers/general",
        "POST /api/v1/influencers/relation",
        "POST /api/v1/fan_influencers",
        "DELETE /api/v1/influencers/{I}/fan_influencer",
        "POST /streams/{I}/watchers",
        "DELETE /streams/{I}/watchers/{F}",
        "GET /redirect/live/{username}",
    }
    assert [c.status for c in calls if c.outcome == "error"] == [422, 401]
    for c in calls:  # no token anywhere in what gets logged
        assert fan.token not in c.detail and inf.token not in c.detail
        assert platform.streams_token not in c.detail


def test_auth_errors(platform: ReferencePlatform, client: PlatformClient) -> None:
    inf = client.influencer_sign_in("auth-inf@e.com", "t")
    fan = client.fan_sign_up("authfan@e.com", "authfan", "pw")
    cases = [
        (lambda: client.create_stream_alerts(Influencer(inf.id, "", "", "")), 401),
        (lambda: client.influencer_status(Influencer(inf.id, "", "", "wrong")), 401),
        (lambda: client.follow(Fan(fan.id, "", "", ""), inf.id), 401),
        (lambda: client.use_code(Fan(fan.id, "", "", "wrong"), "X"), 401),
        (lambda: client.follow(fan, 999_999), 404),
        (lambda: client.use_code(fan, ""), 422),
    ]
    for call, status in cases:
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == status, err.value
        assert err.value.body.startswith('{"error"')
    wrong_key = PlatformClient(platform.base_url, streams_token="nope")
    with pytest.raises(ApiError) as err:
        wrong_key.join_stream(fan, inf.id)
    assert err.value.status == 401
    with pytest.raises(ApiError) as err:
        client.join_stream(fan, 999_999)
    assert err.value.status == 404


def test_bad_bodies_are_422(platform: ReferencePlatform) -> None:
    url = platform.base_url
    for path, body in [
        ("/api/v1/fans", "not json"),
        ("/api/v1/fans", '{"fan": {"email": "a@e.com"}}'),
        (
            "/api/v1/fans",
            '{"fan": {"email":"b@e.com","username":"b","password":"x",'
            '"password_confirmation":"y"}}',
        ),
        ("/api/v1/influencers/instagram_sign_in_or_up", '{"influencer": {"email": ""}}'),
        ("/api/v1/fans/sign_in", "[]"),
    ]:
        r = requests.post(url + path, data=body, timeout=5)
        assert r.status_code == 422, (path, body, r.text)
        assert "error" in r.json()
    assert requests.get(url + "/nope", timeout=5).json() == {"error": "Not Found"}


def test_marketplace_pages(platform: ReferencePlatform, client: PlatformClient) -> None:
    for i in range(25):
        client.influencer_sign_in(f"page{i}@e.com", "t")
    fan = client.fan_sign_up("pager@e.com", "pager", "pw")
    h = {"x-fan-token": fan.token}
    p1 = requests.get(
        f"{platform.base_url}/api/v1/influencers/general?page=1", headers=h, timeout=5
    ).json()
    p2 = requests.get(
        f"{platform.base_url}/api/v1/influencers/general?page=2", headers=h, timeout=5
    ).json()
    assert len(p1["influencers"]) == 20 and p2["influencers"]
    assert {"id", "username"} <= set(p1["influencers"][0])
    assert not {i["id"] for i in p1["influencers"]} & {i["id"] for i in p2["influencers"]}


def test_an_influencer_signs_in_only_with_the_oauth_token_it_signed_up_with(
        client: PlatformClient) -> None:
    inf = client.influencer_sign_in("owner@e.com", "owner-oauth-1")
    with pytest.raises(ApiError) as wrong:
        client.influencer_sign_in("owner@e.com", "guessed-oauth")
    assert wrong.value.status == 401 and wrong.value.body.startswith('{"error"')
    assert inf.token not in wrong.value.body and "guessed-oauth" not in wrong.value.body
    assert client.influencer_sign_in("OWNER@e.com", "owner-oauth-1").token == inf.token


def test_only_the_platforms_own_stream_keys_can_publish(
        platform: ReferencePlatform, client: PlatformClient, clip: Path,
        tmp_path: Path) -> None:
    """nginx asks the platform (on_publish); without the influencer's key, or with
    another influencer's, ffmpeg is turned away and no stream appears."""
    inf = client.influencer_sign_in("keyed@e.com", "keyed-oauth")
    other = client.influencer_sign_in("other-keyed@e.com", "other-oauth")
    ingest = client.ingest_url(inf)
    base, _, key = ingest.partition("?key=")
    other_key = client.ingest_url(other).partition("?key=")[2]
    assert key and other_key and key != other_key
    stream = f"{inf.username}_source"
    for n, url in enumerate([base, f"{base}?key=wrong-key", f"{base}?key={other_key}",
                             platform.media.ingest_url("not_a_user_source")]):
        pub = Publisher(clip, url, tmp_path / f"refused{n}")
        with pytest.raises(PublisherError):
            pub.start(timeout=6, ready=lambda: platform.media.is_publishing(stream))
        pub.stop()
        assert stream not in platform.media.stat() or not platform.media.stat()[
            stream].publishing
    pub = Publisher(clip, ingest, tmp_path / "allowed")
    try:
        pub.start(timeout=10, ready=lambda: platform.media.is_publishing(stream))
        assert platform.media.is_publishing(stream)
    finally:
        pub.stop()


BIG = 2**63


def test_integers_of_2_63_and_more_get_a_json_4xx(platform: ReferencePlatform,
                                                  client: PlatformClient) -> None:
    url = platform.base_url
    fan = client.fan_sign_up("bigints@e.com", "bigints", "pw-big")
    fan_h = {"x-fan-token": fan.token}
    key_h = {"key": platform.streams_token}
    cases = [
        ("GET", f"/api/v1/influencers/{BIG}", {"x-influencer-token": "x"}, None),
        ("POST", f"/api/v1/influencers/{BIG * 10**30}/stream_alerts",
         {"x-influencer-token": "x"}, None),
        ("DELETE", f"/api/v1/influencers/{BIG}/fan_influencer", fan_h, None),
        ("POST", "/api/v1/fan_influencers", fan_h, {"influencer_id": BIG}),
        ("POST", "/api/v1/fan_influencers", fan_h, {"influencer_id": -BIG - 1}),
        ("POST", "/api/v1/influencers/relation", fan_h, {"influencers": [1, BIG**2]}),
        ("GET", f"/api/v1/influencers/general?page={BIG}", fan_h, None),
        ("POST", f"/streams/{BIG}/watchers", key_h, {"id": fan.id}),
        ("POST", "/streams/1/watchers", key_h, {"id": BIG}),
        ("DELETE", f"/streams/1/watchers/{BIG}", key_h, None),
    ]
    client.influencer_sign_in("bigints-inf@e.com", "t")  # so that influencer 1 exists
    for method, path, headers, body in cases:
        r = requests.request(method, url + path, headers=headers, json=body, timeout=5)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert "error" in r.json(), (method, path, r.text)
