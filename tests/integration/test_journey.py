"""Fan journeys, pre-creation and the influencer's broadcast, on the bundled platform."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from streamperf.load.broadcast import Broadcast
from streamperf.load.fans import existing_fan, fan_spec
from streamperf.option_values import SEED_THINK
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.journeys import FanAborted
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.adapter import SeedApiPlatform, influencer_of
from streamperf.platforms.seed.client import PlatformClient
from streamperf.platforms.seed.journey import ThinkTimes, run_journey

pytestmark = pytest.mark.realtime


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferencePlatform]:
    with ReferencePlatform(tmp_path_factory.mktemp("platform")) as ref:
        yield ref


@pytest.fixture
def seed(platform: ReferencePlatform) -> SeedApiPlatform:
    return SeedApiPlatform(platform.base_url, platform.base_url, platform.streams_token,
                           email="star@example.com", token="any-token", timeout_s=5.0,
                           precreate=True, renew_every_s=0.5,
                           ingest_ready=platform.media.is_publishing)


@pytest.fixture
def live(seed, calls, clip, tmp_path) -> Iterator[Broadcast]:
    b = Broadcast(seed, clip, tmp_path, report=calls.append)
    b.start()
    yield b
    b.stop()


def endpoints(calls: list[ApiCall]) -> list[str]:
    return [c.endpoint for c in calls]


def test_broadcast_goes_live_and_renews_its_streaming_record(live, calls):
    assert live.live is not None and live.live.publisher.alive()
    assert live.live.ingest_url.startswith("rtmp://127.0.0.1:")
    time.sleep(1.3)
    posts = endpoints(calls).count("POST /api/v1/influencers/{I}/streamings")
    # The first record plus at least two renewals at a 0.5 s period.
    assert posts >= 3
    assert live.platform.renewals == posts - 1


def test_journey_walks_the_seed_steps_in_order(live, client, calls):
    calls.clear()
    inf = influencer_of(live.live.live)
    result = run_journey(client, fan_spec(0, "journeyfan1", new=True), inf)
    assert endpoints(calls) == [
        "POST /api/v1/fans",
        "POST /api/v1/codes/use",
        "GET /api/v1/influencers/general",
        "POST /api/v1/influencers/relation",
        "POST /api/v1/fan_influencers",
        "POST /streams/{I}/watchers",
        "DELETE /streams/{I}/watchers/{F}",
    ]
    # the bundled platform plays what it ingests (less the stream key)
    assert result.playback_url == live.live.ingest_url.split("?")[0]
    assert all(c.outcome == "ok" for c in calls)


NEW_FAN_STEPS = ["POST /api/v1/fans", "POST /api/v1/codes/use",
                 "GET /api/v1/influencers/general", "POST /api/v1/influencers/relation",
                 "POST /api/v1/fan_influencers"]
WATCH_STEPS = ["POST /streams/{I}/watchers", "DELETE /streams/{I}/watchers/{F}"]


def test_refused_existing_fan_walks_the_new_fan_journey_then_signs_in(live, client, calls):
    inf = influencer_of(live.live.live)
    spec = existing_fan(987654)
    calls.clear()
    run_journey(client, spec, inf)
    # The seed: a refused sign-in falls back to the whole new-fan journey.
    assert endpoints(calls) == ["POST /api/v1/fans/sign_in", *NEW_FAN_STEPS, *WATCH_STEPS]
    assert calls[0].outcome == "error" and calls[0].status == 401
    assert all(c.outcome == "ok" for c in calls[1:])
    calls.clear()
    run_journey(client, spec, inf)
    # Now it exists: sign in, browse the marketplace, join, leave.
    assert endpoints(calls) == ["POST /api/v1/fans/sign_in", "GET /api/v1/influencers/general",
                                "POST /api/v1/influencers/relation", *WATCH_STEPS]


def test_a_duration_of_think_time_pauses_after_every_step_up_to_the_join(live, client):
    pauses: list[float] = []
    run_journey(client, fan_spec(0, "sleepyfan", new=True), influencer_of(live.live.live),
                think=ThinkTimes.from_setting(0.25), sleep=pauses.append)
    assert pauses == [0.25] * 5  # sign-up, code, marketplace, follow, join


def test_seed_think_times_are_the_seeds_per_step_pauses(live, client):
    inf = influencer_of(live.live.live)
    seed = ThinkTimes.from_setting(SEED_THINK)
    new: list[float] = []
    run_journey(client, fan_spec(0, "seedthinker", new=True), inf, think=seed, sleep=new.append)
    assert new == [3.0, 5.0, 5.0, 1.0]
    existing: list[float] = []
    run_journey(client, fan_spec(0, "seedthinker", new=False), inf, think=seed,
                sleep=existing.append)
    assert existing == [5.0]


def test_the_code_used_is_the_code_text_given(live, client, platform):
    run_journey(client, fan_spec(0, "codefan", new=True), influencer_of(live.live.live),
                code_text="SPRING24")
    rows = platform.store.db.execute(
        "SELECT code_text FROM codes_used JOIN fans ON fans.id = fan_id WHERE username = ?",
        ("codefan",)).fetchall()
    assert [r[0] for r in rows] == ["SPRING24"]


def test_critical_failure_aborts_the_fan_naming_the_step(live, platform, calls):
    bad = PlatformClient(platform.base_url, platform.base_url, "wrong-streams-key",
                         timeout=5.0, on_call=calls.append)
    with pytest.raises(FanAborted) as exc:
        run_journey(bad, fan_spec(0, "lockedout", new=True), influencer_of(live.live.live))
    assert exc.value.step == "join"
    assert "401" in str(exc.value) and "wrong-streams-key" not in str(exc.value)
    bad.close()


def test_precreate_is_concurrent_safe_and_idempotent(live, client, platform, seed):
    inf = influencer_of(live.live.live)
    fans = [existing_fan(5000 + i, i) for i in range(30)]
    seed.prepare_fans(fans)
    followers = platform.store.followers(inf.id)
    assert followers >= 30
    seed._precreated.clear()  # forget: the platform must take the same fans again
    seed.prepare_fans(fans)
    assert platform.store.followers(inf.id) == followers
    fan = client.fan_sign_in("testfan5029@e.com", existing_fan(5029).password)
    assert fan.username == "testfan5029"
