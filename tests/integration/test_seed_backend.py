"""The seed's backend, exactly: the bundled platform in seed mode answers only the
seed's fields, and the seed path works end to end on real nginx-rtmp and ffmpeg:
origin address only -> ingest on the origin port -> Wowza-style redirect on the
same port -> SMIL base -> edge RTMP URL the viewers play.
"""

from __future__ import annotations

import csv
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from streamperf.load.broadcast import Broadcast
from streamperf.load.fans import plan_fans, seed_precreate_count
from streamperf.media.publisher import Publisher, PublisherError
from streamperf.media.server import free_port
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.reference.api import ON_PUBLISH_PATH
from streamperf.platforms.reference.server import ReferencePlatform
from streamperf.platforms.seed.adapter import SeedApiPlatform, influencer_of
from streamperf.platforms.seed.client import PlatformClient
from streamperf.platforms.seed.conventions import SEED_ORIGIN_PORT
from streamperf.platforms.seed.journey import run_journey
from streamperf.session import fans_to_prepare
from streamperf.settings import RunSettings
from tests.support.loopback_servers import port_free
from tests.support.nested_pytest import run_dirs, run_perf

pytestmark = pytest.mark.realtime


@pytest.fixture(scope="module")
def origin_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def seed_platform(tmp_path_factory: pytest.TempPathFactory,
                  origin_port: int) -> Iterator[ReferencePlatform]:
    with ReferencePlatform(tmp_path_factory.mktemp("seed"), seed=True,
                           origin_port=origin_port) as ref:
        yield ref


@pytest.fixture(scope="module")
def calls() -> list[ApiCall]:
    return []


@pytest.fixture(scope="module")
def client(seed_platform: ReferencePlatform, calls: list[ApiCall],
           origin_port: int) -> Iterator[PlatformClient]:
    with PlatformClient(seed_platform.base_url, seed_platform.base_url,
                        seed_platform.streams_token, timeout=5.0, on_call=calls.append,
                        origin_port=origin_port) as c:
        yield c


@pytest.fixture(scope="module")
def seed(seed_platform: ReferencePlatform, origin_port: int) -> SeedApiPlatform:
    """The seed API adapter, as a run against this backend uses it."""
    return SeedApiPlatform(seed_platform.base_url, seed_platform.base_url,
                           seed_platform.streams_token, email="seedstar@example.com",
                           token="any-token", timeout_s=5.0, precreate=True,
                           origin_port=origin_port,
                           ingest_ready=seed_platform.media.is_publishing)


@pytest.fixture(scope="module")
def live(seed: SeedApiPlatform, calls: list[ApiCall], clip: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broadcast]:
    b = Broadcast(seed, clip, tmp_path_factory.mktemp("pub"), report=calls.append)
    b.start()
    yield b
    b.stop()


def test_seed_mode_answers_only_the_seeds_fields(seed_platform, client, live):
    inf = influencer_of(live.live.live)
    base, key = seed_platform.base_url, {"x-influencer-token": inf.token}
    status = requests.get(f"{base}/api/v1/influencers/{inf.id}", headers=key, timeout=5).json()
    assert set(status) == {"id", "email", "username", "token", "servers_status"}
    assert set(status["servers_status"]) == {"origin_ip", "servers_launching", "servers_ready"}
    fan = client.fan_sign_up("fieldfan@e.com", "fieldfan", "Password42")
    joined = requests.post(f"{base}/streams/{inf.id}/watchers", json={"id": fan.id},
                           headers={"key": seed_platform.streams_token}, timeout=5).json()
    assert joined == {"originIp": "127.0.0.1", "influencerUsername": inf.username}
    market = requests.get(f"{base}/api/v1/influencers/general", params={"page": 1},
                          headers={"x-fan-token": fan.token}, timeout=5).json()
    assert market == {"influencers": [{"id": inf.id}]}
    # The edge redirect is the origin's, not the API's.
    assert requests.get(f"{base}/redirect/live/{inf.username}", timeout=5).status_code == 404


def test_ingest_and_edge_resolution_use_the_origin_port(seed_platform, client, calls, live,
                                                        origin_port):
    inf = influencer_of(live.live.live)
    assert live.live.ingest_url == f"rtmp://127.0.0.1:{origin_port}/live/{inf.username}"
    assert live.live.publisher.alive()
    smil = requests.get(f"http://127.0.0.1:{origin_port}/redirect/live/{inf.username}",
                        timeout=5)
    assert smil.status_code == 200 and "_definst_" in smil.text
    calls.clear()
    spec = plan_fans(1, 100, 0)[0]
    url = run_journey(client, spec, inf).playback_url
    edge = seed_platform.media.rtmp_port
    assert url == f"rtmp://127.0.0.1:{edge}/live/{inf.username}_source"
    assert [c.endpoint for c in calls][-1] == "GET /redirect/live/{username}"
    assert calls[-1].url == f"http://127.0.0.1:{origin_port}/redirect/live/{inf.username}"
    # The edge plays <username>_source, the published <username> under Wowza's name.
    played = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-rw_timeout", "5000000", "-i", url,
         "-t", "1", "-c", "copy", "-f", "null", "-"], capture_output=True, text=True, timeout=30)
    assert played.returncode == 0, played.stderr


def test_precreate_makes_the_seeds_count_and_the_rest_sign_up(seed_platform, client, calls,
                                                              live, seed):
    inf = influencer_of(live.live.live)
    users, percent_new, offset = 7, 50, 700
    count = seed_precreate_count(users, percent_new)
    assert count == 3  # 7 x 50 %, integer arithmetic as the seed
    fans = plan_fans(users, percent_new, offset)
    settings = RunSettings(users=users, percent_new=percent_new, existing_offset=offset,
                           precreate_fans=True)
    seed.prepare_fans(fans_to_prepare(settings, fans))  # what a run does before its clock
    existing = [f for f in fans if not f.new]
    assert [f.username for f in existing] == [f"testfan{offset + i}" for i in range(4)]
    calls.clear()
    for spec in existing:
        run_journey(client, spec, inf)
    sign_ins = [c for c in calls if c.endpoint == "POST /api/v1/fans/sign_in"]
    assert [c.status for c in sign_ins] == [200, 200, 200, 401]
    # testfan703 was not pre-created: refused, it walks the new fan's journey.
    assert sum(c.endpoint == "POST /api/v1/fans" for c in calls) == 1


def test_a_taken_origin_port_is_a_one_line_error_naming_the_option(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ref = ReferencePlatform(tmp_path, seed=True, origin_port=port)
        with pytest.raises(RuntimeError) as exc:
            ref.start()
    assert f"127.0.0.1:{port}" in str(exc.value) and "--origin-port" in str(exc.value)
    assert not ref.media.running


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "events.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.own_pytest
@pytest.mark.parametrize("port", [None, SEED_ORIGIN_PORT], ids=["free_port", "port_2000"])
def test_perf_scenario_passes_on_the_seed_backend_with_fans_precreated_the_seeds_way(
        tmp_path, port):
    if port is None:
        port = free_port()
    elif not port_free(port):
        pytest.skip(f"port {port} is taken on this machine")
    users, percent_new = 6, 50
    r = run_perf(tmp_path / "reports", "-k", "join_storm", "--users", str(users),
                 "--duration", "8s", "--calibration", "0", "--bundled-platform", "seed",
                 "--origin-port", str(port), "--precreatefans", "--percentnew", str(percent_new))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    run_dir = run_dirs(tmp_path / "reports")[0]
    rows = _rows(run_dir)
    publish = next(r for r in rows if r["event"] == "publish_start")["name"]
    username = publish.rsplit("/", 1)[1]
    assert publish == f"rtmp://127.0.0.1:{port}/live/{username}"  # ingest on the origin port

    new_fan = ["POST /api/v1/fans", "POST /api/v1/codes/use", "GET /api/v1/influencers/general",
               "POST /api/v1/influencers/relation", "POST /api/v1/fan_influencers"]
    existing_fan = ["POST /api/v1/fans/sign_in", "GET /api/v1/influencers/general",
                    "POST /api/v1/influencers/relation"]
    watch = ["POST /streams/{I}/watchers", "DELETE /streams/{I}/watchers/{F}",
             "GET /redirect/live/{username}"]
    fans = sorted({r["viewer"] for r in rows if r["event"] == "api"} - {"influencer"})
    assert len(fans) == users
    existing = [f"testfan{i}" for i in range(seed_precreate_count(users, percent_new))]
    for fan in fans:
        api = [r for r in rows if r["viewer"] == fan and r["event"] == "api"]
        steps = existing_fan if fan in existing else new_fan
        assert [r["name"] for r in api] == steps + watch, fan
        assert all(r["status"] == "200" for r in api), fan
        play = next(r for r in rows if r["viewer"] == fan and r["event"] == "play")
        # Where the fan played came from the SMIL base of the origin's redirect:
        # the edge (nginx's own port), the stream under Wowza's <username>_source.
        assert play["detail"].startswith("rtmp://127.0.0.1:")
        assert play["detail"].endswith(f"/live/{username}_source")
        assert f":{port}/" not in play["detail"]
    assert set(existing) <= set(fans)


def test_seed_mode_publishing_is_only_for_influencers_that_asked_for_servers(
        seed_platform, client, live, clip, tmp_path):
    """The seed's ingest has no stream key; nginx still asks the platform (on_publish)
    and takes only the stream of an influencer that created stream alerts."""
    media = seed_platform.media
    idle = client.influencer_sign_in("idle-seed@e.com", "idle-oauth")  # no stream alerts
    for n, name in enumerate(["nobody_here", idle.username]):
        pub = Publisher(clip, media.ingest_url(name), tmp_path / f"refused{n}")
        with pytest.raises(PublisherError):
            pub.start(timeout=6, ready=lambda name=name: media.is_publishing(name))
        pub.stop()
    assert live.live is not None and live.live.publisher is not None
    assert live.live.publisher.alive()  # the live influencer's stream was never refused


def test_seed_mode_takes_publishers_from_this_machine_only(seed_platform, live):
    """Issue 24: seed mode's on_publish checked no key (the seed's ingest has none), so
    anyone reaching nginx could publish a live influencer's stream. nginx names the
    publisher's address; only this machine's is let in (10.9.8.7 stands for another:
    nothing is sent beyond loopback, the check is asked as nginx asks it)."""
    name = influencer_of(live.live.live).username
    url = f"{seed_platform.base_url}{ON_PUBLISH_PATH}"
    for addr, status in (("10.9.8.7", 403), ("127.0.0.1", 200)):
        got = requests.get(url, params={"call": "publish", "app": "live", "name": name,
                                        "addr": addr}, timeout=5).status_code
        assert got == status, (addr, got)
