from __future__ import annotations

import random

from streamperf.load.fans import plan_fans, seed_precreate_count, spread_protocols
from streamperf.session import fans_to_prepare
from streamperf.settings import RunSettings


def test_percent_new_is_spread_and_existing_names_follow_offset():
    fans = plan_fans(10, 30, existing_offset=100, rng=random.Random(1))
    assert sum(f.new for f in fans) == 3
    existing = [f.username for f in fans if not f.new]
    assert existing == [f"testfan{n}" for n in range(100, 107)]
    # New fans are spread over the arrival order, not bunched at the end.
    assert [f.index for f in fans if f.new] == [3, 6, 9]
    assert all(f.email == f"{f.username}@e.com" for f in fans)


def test_all_new_names_are_distinct_from_existing():
    fans = plan_fans(50, 100, existing_offset=0, rng=random.Random(2))
    names = {f.username for f in fans}
    assert len(names) == 50
    assert all(int(n.removeprefix("testfan")) >= 10**9 for n in names)


def test_no_new_fans():
    fans = plan_fans(3, 0, existing_offset=5)
    assert [f.username for f in fans] == ["testfan5", "testfan6", "testfan7"]


def test_protocol_mix_is_spread_over_the_arrival_order():
    fans = plan_fans(10, 0, 0, protocols=(("rtmp", 70), ("hls", 30)))
    protocols = [f.protocol for f in fans]
    assert protocols.count("hls") == 3
    # Not bunched: no two HLS fans in a row.
    assert "hls,hls" not in ",".join(protocols)
    assert spread_protocols(4, [("hls", 100)]) == ["hls"] * 4


def test_fans_have_the_seeds_password_unless_told_otherwise():
    assert {f.password for f in plan_fans(4, 50, 0)} == {"Password42"}
    assert {f.password for f in plan_fans(4, 50, 0, password="other")} == {"other"}


def test_precreatefans_makes_users_times_100_minus_percentnew_percent_as_the_seed():
    assert seed_precreate_count(10, 0) == 10
    assert seed_precreate_count(10, 30) == 7
    assert seed_precreate_count(7, 50) == 3  # integer arithmetic: 3.5 -> 3
    assert seed_precreate_count(5, 100) == 0
    planned = plan_fans(7, 50, existing_offset=700, rng=random.Random(3))
    seeded = fans_to_prepare(RunSettings(users=7, percent_new=50, existing_offset=700,
                                         precreate_fans=True, fan_password="pw"), planned)
    assert [(f.username, f.password, f.new) for f in seeded] == [
        ("testfan700", "pw", False), ("testfan701", "pw", False), ("testfan702", "pw", False)]
    # The bundled platform starts empty: without the flag, every fan of the run that signs in.
    assert fans_to_prepare(RunSettings(users=7, percent_new=50), planned) == [
        f for f in planned if not f.new]
