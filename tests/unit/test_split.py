"""Splitting a plan over shards: interleaving, ramp spread, distinct accounts."""

from __future__ import annotations

import itertools
import os
import random

import pytest

from streamperf.hosts.processes import resolve_procs
from streamperf.load.fans import plan_fans
from streamperf.load.messages import plan_secrets, row_tuple, shard_plan
from streamperf.load.split import split_plan
from streamperf.platforms import GoLive
from streamperf.platforms.seed.adapter import SeedApiPlatform
from streamperf.platforms.seed.client import Influencer
from streamperf.results.eventlog.schema import Event


def fans(n: int, percent_new: int = 30, offset: int = 100):
    return plan_fans(n, percent_new, offset, random.Random(1), (("rtmp", 50), ("hls", 50)))


def test_fan_i_goes_to_shard_i_mod_n_keeping_index_and_name():
    plan = fans(10)
    slices = split_plan(plan, 0.5, 3)
    assert [s.shard_id for s in slices] == [0, 1, 2]
    assert [[f.index for f in s.fans] for s in slices] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted((f for s in slices for f in s.fans), key=lambda f: f.index) == plan


def test_accounts_are_distinct_across_shards():
    slices = split_plan(fans(50, percent_new=20, offset=7), 0.1, 4)
    names = [f.username for s in slices for f in s.fans]
    assert len(names) == len(set(names)) == 50
    existing = sorted(int(n[7:]) for s in slices for f in s.fans if not f.new
                      for n in [f.username])
    assert existing == list(range(7, 7 + 40))  # the seed's testfan offsets, each once


def test_ramp_is_spread_so_global_arrivals_stay_one_per_ramp():
    ramp, n = 0.2, 3
    slices = split_plan(fans(9), ramp, n)
    for s in slices:
        times = s.arrivals(1000.0)
        gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
        assert gaps == {round(ramp * n, 9)} == {round(s.shard_ramp_s, 9)}
        assert times[0] == pytest.approx(1000.0 + s.offset_s)
    merged = sorted(t for s in slices for t in s.arrivals(1000.0))
    assert merged == pytest.approx([1000.0 + i * ramp for i in range(9)])


def test_more_shards_than_fans_leaves_no_empty_slice():
    slices = split_plan(fans(2), 1.0, 5)
    assert [len(s.fans) for s in slices] == [1, 1]


def test_one_shard_is_the_whole_plan():
    plan = fans(4)
    (only,) = split_plan(plan, 0.5, 1)
    assert only.fans == plan and only.shard_ramp_s == 0.5 and only.offset_s == 0.0


def test_bad_splits_are_refused():
    with pytest.raises(ValueError, match="shards"):
        split_plan(fans(3), 0.5, 0)
    plan = fans(2)
    with pytest.raises(ValueError, match="unique"):
        split_plan([plan[0], plan[0]], 0.5, 2)


def test_resolve_procs():
    assert resolve_procs("auto") == (os.cpu_count() or 1)
    assert resolve_procs("AUTO") == (os.cpu_count() or 1)
    assert resolve_procs(3) == 3
    assert resolve_procs("4") == 4
    for bad in (0, -1, "0", "many", ""):
        with pytest.raises(ValueError, match="procs"):
            resolve_procs(bad)


def test_shard_plan_and_rows_are_plain_values():
    import execnet.gateway_base as gb

    inf = Influencer(1, "i@e.com", "inf", "planted-session-token", {"a": 1})
    seed = SeedApiPlatform("http://127.0.0.1:1", streams_token="tok")
    journeys = seed.worker_journeys(GoLive("rtmp://h/live/inf", "inf", extra={"influencer": inf}))
    msg = shard_plan(0, "proc-0", fans(3), 0.5, 10.0, 1000.0, journeys)
    row = row_tuple(Event(1.0, "h", "v", "bytes", "", 5))
    # execnet refuses what it cannot serialise; round-trip both through it.
    assert gb.loads_internal(gb.dumps_internal(msg)) == msg
    assert gb.loads_internal(gb.dumps_internal(row)) == row
    assert Event(*row).value == 5.0
    # The influencer's session token stays on the controller; the streams key is a
    # secret the worker's log masks.
    assert "planted-session-token" not in repr(msg)
    assert "tok" in plan_secrets(msg)


def test_an_adapter_without_worker_journeys_has_the_controller_walk_them():
    from streamperf.platforms.adapter import worker_journeys
    from streamperf.platforms.direct import DirectPlatform

    direct = DirectPlatform(("rtmp://h/live/s",))
    live = direct.go_live(lambda call: None)
    assert worker_journeys(direct, live) is None
    assert worker_journeys(object(), live) is None  # no such method: none declared
    plan = shard_plan(0, "", fans(600), 0.1, 5.0, None)
    assert plan["journeys"] is None and plan["journey_workers"] == 512


def test_lost_rows_name_every_unfinished_viewer():
    from streamperf.load.workers import lost_rows

    rows = lost_rows("proc-1", "worker process exited", ["a", "b"], t=5.0)
    assert rows == [Event(5.0, "proc-1", v, "error", "lost_host", 0.0, "", "worker process exited")
                    for v in ("a", "b")]
