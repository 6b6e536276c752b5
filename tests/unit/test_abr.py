"""The ABR player model (viewers/abr): estimates, buffer, the players' rules, pinned modes.

A virtual player drives each policy through live segments over a link of a given
rate, in virtual time, so what hls.js and dash.js would do under a cap is checked
without a network: the real players themselves are compared with the viewers under
a real cap in tests/integration/test_real_players.py.
"""

from __future__ import annotations

import math

import pytest

from streamperf.viewers.abr import (
    DashJsPolicy,
    HlsJsPolicy,
    PinnedPolicy,
    PlayBuffer,
    Rendition,
    make_abr,
    rendition_detail,
)
from streamperf.viewers.abr.estimate import Ewma, HlsJsEstimate, SlidingThroughput

SEG_S = 2.0


def ladder(first: str = "top") -> list[Rendition]:
    """ffmpeg's var_stream_map ladder as its master playlist declares it (BANDWIDTH is
    the average plus 10%), top rung listed first unless `first` says otherwise."""
    rungs = [Rendition("720p", 2_640_000, "v0.m3u8", (1280, 720), average_bandwidth=2_400_000),
             Rendition("480p", 1_210_000, "v1.m3u8", (854, 480), average_bandwidth=1_100_000),
             Rendition("240p", 385_000, "v2.m3u8", (426, 240), average_bandwidth=350_000)]
    return rungs if first == "top" else rungs[::-1]


def play(policy: object, link_bps: float, segments: int, ttfb_s: float = 0.005) -> list[str]:
    """Live play over a link of `link_bps`: a segment is published every SEG_S, the
    player joining three segments behind the live edge (as both players do); it
    fetches each once it exists, as fast as the link allows, the rendition its policy
    chooses. Returns the rendition of each segment."""
    assert isinstance(policy, HlsJsPolicy | DashJsPolicy | PinnedPolicy)
    r = policy.start()
    now = 0.0
    got = []
    for i in range(segments):
        now = max(now, (i - 3) * SEG_S)  # the segment is out at (i - 3) * SEG_S
        if i:
            r, _why = policy.choose(now, SEG_S)
        size = int((r.average_bandwidth or r.bandwidth) * SEG_S / 8)
        took = ttfb_s + size * 8 / link_bps
        now += took
        policy.loaded(now, r, size, took, ttfb_s, SEG_S)
        got.append(r.name)
    return got


def test_ewma_is_bias_corrected_and_halves_over_its_half_life() -> None:
    e = Ewma(3.0)
    e.sample(0.5, 1000.0)
    assert e.get() == pytest.approx(1000.0)  # one sample is itself, not 1000 * (1 - a)
    e.sample(60.0, 1000.0)  # long enough that the start no longer shows
    e.sample(3.0, 0.0)  # then a half-life of zeros
    assert e.get() == pytest.approx(500.0, rel=0.01)


def test_hlsjs_estimate_falls_fast_and_climbs_slowly() -> None:
    est = HlsJsEstimate()
    assert est.bps == 500_000 and not est.known  # abrEwmaDefaultEstimate
    for _ in range(10):
        est.sample(1.0, 1_000_000 // 8 * 4)  # 4 Mbit/s
    assert est.bps == pytest.approx(4e6, rel=0.01)
    est.sample(1.0, 1_000_000 // 8)  # one second at 1 Mbit/s
    after_drop = est.bps
    assert after_drop < 3.4e6  # the fast average leads down
    est2 = HlsJsEstimate()
    for _ in range(10):
        est2.sample(1.0, 1_000_000 // 8)
    est2.sample(1.0, 1_000_000 // 8 * 4)
    assert est2.bps < 1.8e6  # ... and the slow one holds it back up
    assert est.ttfb_s == pytest.approx(0.1)  # the default TTFB before any is sampled


def test_sliding_throughput_is_the_mean_of_the_last_three() -> None:
    t = SlidingThroughput()
    assert t.bps is None
    for mbit in (1, 2, 3, 4):
        t.sample(1.0, mbit * 125_000)
    assert t.bps == pytest.approx(3e6)


def test_play_buffer_drains_in_real_time_and_counts_stalls() -> None:
    b = PlayBuffer()
    assert b.level(0.0) == 0.0 and not b.started
    b.append(1.0, 2.0)
    assert b.level(2.5) == pytest.approx(0.5)
    assert b.level(4.0) == 0.0 and b.stalls == 1 and not b.playing
    b.append(5.0, 2.0)
    assert b.playing and b.level(5.5) == pytest.approx(1.5) and b.stalls == 1


def test_hlsjs_starts_on_the_first_listed_level_its_default_estimate_covers() -> None:
    # 1.5 raises the default estimate to the first level's bitrate (up to 5 Mbit/s)
    assert HlsJsPolicy(ladder("top")).start().name == "720p"
    assert HlsJsPolicy(ladder("bottom")).start().name == "240p"


def test_hlsjs_steps_down_under_a_cap_and_holds_the_middle() -> None:
    got = play(HlsJsPolicy(ladder()), 1.6e6, 20)
    assert got[0] == "720p"
    assert "480p" in got[:4]  # down within a few segments, as hls.js did after 5.3 s
    assert set(got[6:]) == {"480p"}  # and holds it: 0.7 x 1.6 Mbit/s never covers 720p


def test_hlsjs_climbs_when_the_link_allows() -> None:
    got = play(HlsJsPolicy(ladder("bottom")), 20e6, 12)
    assert got[0] == "240p" and got[-1] == "720p"
    assert got.index("720p") <= 3


def test_hlsjs_emergency_switch_gives_up_a_download_that_outlasts_the_buffer() -> None:
    p = HlsJsPolicy(ladder())
    top = p.start()
    p.loaded(2.0, top, 660_000, 0.5, 0.01, SEG_S)  # 2 s buffered at t=2
    # at t=3.2, 1.2 s into the next 720p segment, 60 kB of 660 kB in: 1 s of buffer left
    down = p.abandon(3.2, top, 60_000, 1.2, 0.05, 660_000, SEG_S)
    assert down is not None and down.name in ("480p", "240p")
    assert p.current is down
    healthy = HlsJsPolicy(ladder())
    top = healthy.start()
    healthy.loaded(2.0, top, 660_000, 0.5, 0.01, SEG_S)
    assert healthy.abandon(2.6, top, 400_000, 0.6, 0.05, 660_000, SEG_S) is None  # too early
    assert healthy.abandon(3.2, top, 600_000, 1.2, 0.05, 660_000, SEG_S) is None  # nearly in


def test_dashjs_starts_low_and_climbs_with_throughput() -> None:
    p = DashJsPolicy(ladder())
    assert p.start().name == "240p"  # the highest under the 1000 kbps initial bitrate
    got = play(p, 20e6, 10)
    assert got[0] == "240p" and got[-1] == "720p"


def test_dashjs_settles_on_the_middle_under_a_cap() -> None:
    got = play(DashJsPolicy(ladder()), 1.6e6, 20)
    assert set(got[8:]) == {"480p"}  # 0.9 x 1.6 Mbit/s covers 1.21 Mbit/s, not 2.64


def test_dashjs_goes_lowest_on_an_empty_buffer_and_bola_on_a_full_one() -> None:
    p = DashJsPolicy(ladder())
    r = p.start()
    for i in range(3):
        p.loaded(i * 0.1, r, 500_000, 0.1, 0.01, SEG_S)  # 40 Mbit/s measured
    assert p.choose(0.5, SEG_S)[0].name == "720p"
    assert p.choose(20.0, SEG_S)[0].name == "240p"  # the buffer ran dry
    full = DashJsPolicy(ladder())
    r = full.start()
    for _ in range(8):
        full.loaded(0.0, r, 500_000, 0.1, 0.01, SEG_S)  # 16 s buffered
    assert full.choose(0.0, SEG_S)[0].name == "720p" and full.bola


def test_dashjs_abandons_a_download_taking_longer_than_1_8_segments() -> None:
    p = DashJsPolicy(ladder())
    p.start()
    top = p.ladder[-1]
    assert p.abandon(1.0, top, 50_000, 1.0, 0.01, 660_000, SEG_S) is not None
    assert p.abandon(1.0, top, 400_000, 1.0, 0.01, 660_000, SEG_S) is None


def test_pinned_modes_and_names() -> None:
    assert play(make_abr("highest", ladder("bottom")), 1e6, 5) == ["720p"] * 5
    assert play(make_abr("lowest", ladder()), 1e9, 5) == ["240p"] * 5
    assert make_abr("480p", ladder()).start().name == "480p"
    with pytest.raises(ValueError, match=r"no rendition '1080p' in the ladder \(240p, 480p, 7"):
        make_abr("1080p", ladder())
    with pytest.raises(ValueError, match="empty ladder"):
        make_abr("hlsjs", [])


def test_rendition_detail_is_compact_json() -> None:
    r = ladder()[1]
    assert rendition_detail(r, "down", 1_790_000.0) == (
        '{"why":"down","res":"854x480","avg_kbps":1100,"est_kbps":1790}')


def test_bola_never_divides_by_zero_on_a_one_rung_ladder() -> None:
    p = DashJsPolicy([Rendition("only", 1_000_000, "a")])
    assert p._bola(30.0) == 0
    assert math.isfinite(p._for_bitrate(1e6, SEG_S))


def test_hlsjs_keeps_its_start_level_for_the_first_segment() -> None:
    p = HlsJsPolicy(ladder())
    assert p.start().name == "720p"
    assert p.choose(0.0, SEG_S) == (p.ladder[-1], "")  # firstAutoLevel, not 0.95 x default


def test_hlsjs_emergency_resets_an_estimate_that_would_go_straight_back_up() -> None:
    p = HlsJsPolicy(ladder())
    top = p.start()
    for i in range(3):  # fast loads: a 20 Mbit/s estimate
        p.loaded(0.1 * (i + 1), top, 660_000, 0.26, 0.01, SEG_S)
    down = p.abandon(6.0, top, 60_000, 1.2, 0.05, 660_000, SEG_S)  # buffer ~0.3 s left
    assert down is not None
    assert not p.est.known and p.default_bps == down.bandwidth
    assert p.choose(6.1, SEG_S)[0] is down  # no bounce back to 720p on the old estimate


def test_dashjs_leaves_out_downloads_that_look_cached_once_a_real_one_is_in() -> None:
    # A small segment let through in one burst by a shaper reads as a cached one
    # (under 50 ms first to last byte): it counts only until a real measurement comes.
    t = SlidingThroughput()
    t.sample(0.001, 88_000)  # the first: kept, there is nothing else
    assert t.bps == pytest.approx(704e6)
    t.sample(3.0, 600_000)  # a real one: the cached-looking ones before it go
    assert t.bps == pytest.approx(1.6e6)
    t.sample(0.002, 88_000)  # left out now
    t.sample(2.0, 400_000)
    assert t.bps == pytest.approx((1.6e6 + 1.6e6) / 2)
