"""The playhead model on timelines whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from streamperf.results.analysis.playhead import buffered_at, simulate


def test_steady_arrival_never_stalls():
    times = [float(i) for i in range(31)]
    r = simulate(times, times, startup_buffer_s=1.0, rebuffer_goal_s=1.0)
    assert r.started_at == pytest.approx(1.0)
    assert (r.stalls, r.stall_s) == (0, 0.0)
    assert r.play_s == pytest.approx(29.0)
    assert r.rebuffer_ratio == 0.0


def test_media_frozen_four_seconds_is_one_four_second_stall():
    # Received media stops at 10 s for wall 10..14, then arrives in real time again.
    # The 1 s buffer runs dry at 11; stalled until 1 s is buffered again at 15.
    times = [float(i) for i in range(31)]
    received = [min(t, 10.0) if t <= 14 else t - 4.0 for t in times]
    r = simulate(times, received, startup_buffer_s=1.0, rebuffer_goal_s=1.0)
    assert r.stalls == 1
    assert r.stall_starts == [pytest.approx(11.0)]
    assert r.stall_s == pytest.approx(4.0)
    assert r.play_s == pytest.approx(25.0)
    assert r.rebuffer_ratio == pytest.approx(4.0 / 29.0)


def test_backlog_burst_shortens_the_stall():
    # As after a TCP stall: the frozen 4 s then arrive within one second (5x).
    times = [float(i) for i in range(21)]
    received = [min(t, 10.0) if t <= 14 else min(10.0 + 5 * (t - 14), t) for t in times]
    r = simulate(times, received, startup_buffer_s=1.0, rebuffer_goal_s=1.0)
    assert r.stalls == 1
    # Stalled from 11 to 14, then 1 s of buffer arrives within 0.2 s.
    assert r.stall_s == pytest.approx(3.2)


def test_half_rate_stalls_repeatedly():
    times = [float(i) for i in range(41)]
    received = [t / 2 for t in times]
    r = simulate(times, received, startup_buffer_s=1.0, rebuffer_goal_s=1.0)
    # Start at 2 s (1 s buffered); each cycle plays 2 s (buffer drains at 0.5/s) and
    # waits 2 s to rebuffer: stalls begin at 4, 8, ..., 36; the last ends at 38.
    assert r.started_at == pytest.approx(2.0)
    assert r.stall_starts == pytest.approx([4.0 * k for k in range(1, 10)])
    assert r.stall_s == pytest.approx(18.0)
    assert r.play_s == pytest.approx(20.0)
    assert r.rebuffer_ratio == pytest.approx(18.0 / 38.0)


def test_slow_start_waits_for_the_startup_buffer():
    times = [0.0, 1.0, 2.0, 3.0, 4.0]
    received = [0.0, 0.25, 0.5, 1.5, 2.5]
    r = simulate(times, received, startup_buffer_s=1.0, rebuffer_goal_s=1.0)
    # 1 s buffered halfway between 2 and 3 s (0.5 + 1.0 * 0.5).
    assert r.started_at == pytest.approx(2.5)
    assert r.stalls == 0


def test_buffer_ahead_of_the_playhead_is_what_arrived_less_what_played():
    # three 2 s segments at once (a live join three targets back), then one every 2 s
    t = np.arange(0.0, 12.0)
    received = np.where(t == 0, 0.0, 6.0 + 2 * np.floor(t / 2))
    r = simulate(t.tolist(), received.tolist())
    buf = buffered_at(t, received, r)
    assert np.isnan(buf[0])  # before the playhead starts: no latency at it yet
    # about 6 s ahead all along: what hls.js's latency adds to the newest media's
    assert buf[1:] == pytest.approx(received[1:] - (t[1:] - r.started_at))
    assert buf[1:].min() >= 5.0 and buf[1:].max() <= 7.0


def test_no_buffer_is_left_during_a_stall_and_the_playhead_holds():
    t = np.arange(0.0, 16.0)
    received = np.array([0, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 7, 8, 9, 10, 11.0])
    r = simulate(t.tolist(), received.tolist())
    buf = buffered_at(t, received, r)
    assert r.stalls == 1 and r.stall_starts[0] == pytest.approx(5.5)
    assert buf[6:11] == pytest.approx([0, 0, 0, 0, 0])  # stalled: the picture is the newest
    # resumed at 10.5 with 1 s buffered, played on in real time as media arrives at 1x
    assert buf[11:] == pytest.approx([1.5] * 5)
