"""Faults in the log: reconnects and republishes stitched into one media timeline (the
gap is stall time, drift restarts), each fault named, a republished publisher not an
invalid run; and the shard's --reconnect loop with its backoff."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from streamperf.load.fans import fan_spec
from streamperf.load.messages import shard_plan
from streamperf.load.shard import (
    RECONNECT_FIRST_S,
    RECONNECT_MAX_S,
    ArrivalPlan,
    Shard,
    reconnect_wait_s,
)
from streamperf.platforms.api_calls import ApiCall
from streamperf.platforms.journeys import JourneyResult
from streamperf.platforms.seed.client import ApiTimeout, PlatformClient
from streamperf.results.analysis.faults import REPUBLISH, fault_figures
from streamperf.results.analysis.figures import analyse
from streamperf.results.analysis.validity import invalid_reason
from streamperf.results.eventlog import schema as ev
from streamperf.results.eventlog.schema import Event
from streamperf.viewers.base import EventCallback
from tests.support.loopback_servers import loopback_server
from tests.support.timelines import BYTES_PER_S, Timeline


def by_viewer(a):  # type: ignore[no-untyped-def]
    return a.viewers.set_index("viewer")


def reconnected_viewer(tl: Timeline, name: str, gap_s: int) -> None:
    """Plays 10 s (media 15..25), is dropped, reconnects and gets its first frame
    `gap_s` s after the drop, live (media has moved on by the gap), then 10 s more."""
    tl.viewer(name, play_at=100, seconds=10, end=False)  # samples at 101.5 .. 110.5
    tl.add(110.6, name, ev.VIEWER_ERROR, "disconnect", 0.0, "", "server closed")
    tl.add(110.6 + gap_s - 1.0, name, ev.RECONNECT, "rtmp", 1.0)
    back, ts = 110.6 + gap_s, 25.0 + gap_s
    tl.add(back, name, ev.FIRST_AUDIO, "", ts)
    tl.add(back, name, ev.FIRST_VIDEO, "", ts)
    for i in range(1, 11):
        tl.add(back + i, name, ev.SAMPLE_BYTES, "", BYTES_PER_S)
        tl.add(back + i, name, ev.SAMPLE_MEDIA_TS, "", ts + i)


@pytest.mark.parametrize("gap_s", [3, 6])
def test_a_reconnect_gap_is_stall_time_and_drift_starts_again(gap_s):
    tl = Timeline(t0=85.0)
    reconnected_viewer(tl, "r", gap_s)
    tl.viewer("ok", play_at=100, seconds=25)
    a = analyse(tl.frame(), lag_threshold_s=3.0)
    v = by_viewer(a)
    # Media received end to end: 10 s before the drop, 10 s after (not the ts jump).
    assert v.loc["r", "media_s"] == pytest.approx(20.0)
    # One stall: the 1 s buffer runs dry 1 s after the drop; playing again once 1 s is
    # buffered after the first frame: gap - 1 + 1 s of stall.
    assert v.loc["r", "stalls"] == 1
    assert v.loc["r", "stall_s"] == pytest.approx(gap_s, abs=0.5)
    # The new connection joined live: no drift carried over, so not lagged.
    assert v.loc["r", "max_drift_s"] == pytest.approx(0.0, abs=1e-9)
    assert v.loc["r", "lagged_s"] == 0
    assert (v.loc["ok", "stalls"], v.loc["ok", "stall_s"]) == (0, 0.0)
    assert a.summary()["reconnects"] == 1 and a.summary()["viewers_reconnected"] == 1


def test_a_republished_stream_on_the_same_connection_starts_a_new_media_clock():
    tl = Timeline(t0=85.0)
    tl.viewer("p", play_at=100, seconds=10, end=False)  # media 15..25, samples 101.5..110.5
    for t in (111.5, 112.5):  # publisher dead: nothing new arrives
        tl.add(t, "p", ev.SAMPLE_BYTES, "", 0)
        tl.add(t, "p", ev.SAMPLE_MEDIA_TS, "", 25.0)
    tl.add(112.9, "", ev.PUBLISH_START, "rtmp://x/live/s", 112.6, REPUBLISH)
    for i in range(8):  # the new ffmpeg's timestamps, from 0 again
        tl.add(113.5 + i, "p", ev.SAMPLE_BYTES, "", BYTES_PER_S)
        tl.add(113.5 + i, "p", ev.SAMPLE_MEDIA_TS, "", 0.5 + i)
    a = analyse(tl.frame(), lag_threshold_s=3.0)
    v = by_viewer(a)
    assert v.loc["p", "media_s"] == pytest.approx(10.0 + 7.0)
    assert v.loc["p", "stalls"] == 1 and v.loc["p", "stall_s"] > 1.0
    assert v.loc["p", "max_drift_s"] < 3.0  # the step back is a new clock, not lag
    # Latency against the publish clock in force: the first T0, then the new one.
    s = a.samples[a.samples["viewer"] == "p"].set_index("t")
    assert s.loc[110.5, "latency_s"] == pytest.approx(110.5 - (85.0 + 25.0))
    assert s.loc[115.5, "latency_s"] == pytest.approx(115.5 - (112.6 + 2.5))


def log(*rows: tuple) -> object:  # type: ignore[type-arg]
    tl = Timeline()
    tl.rows = [Event(*r) for r in rows]  # type: ignore[misc]
    return tl.frame()


def test_each_fault_is_named_with_when_and_how_long():
    df = log(
        (100.0, "h", "", ev.RUN_START, "run"),
        (105.0, "h", "", ev.PUBLISHER_EXIT, "", -9.0, "", "killed"),
        (106.0, "h", "", ev.PUBLISHER_EXIT, "", 1.0, REPUBLISH, "connection refused"),
        (107.5, "h", "", ev.PUBLISH_START, "rtmp://x/live/s", 107.2, REPUBLISH),
        (108.0, "h", "a", ev.RECONNECT, "rtmp", 1.0),
        (109.0, "h", "a", ev.RECONNECT, "rtmp", 2.0),
        (109.5, "h", "b", ev.RECONNECT, "hls", 1.0),
        (120.0, "h", "", ev.RUN_END, "interrupted", 0.0, "", "SIGTERM"),
    )
    f = fault_figures(df, 100.0)
    assert (f["publisher_deaths"], f["publisher_restarts"]) == (1, 1)
    assert f["publisher_gap_max_s"] == pytest.approx(2.5)
    assert (f["reconnects"], f["viewers_reconnected"]) == (3, 2)
    assert f["faults"] == [
        "publisher died, seen at +5.0 s (exit -9); republished at +7.5 s after 2 attempts "
        "(2.5 s without a publisher)",
        "3 reconnects by 2 viewers, the first at +8.0 s",
        "interrupted at +20.0 s (SIGTERM)",
    ]
    assert invalid_reason(df) is None  # republished: the viewers' figures judge the run


def test_a_publisher_that_stayed_dead_makes_the_run_invalid():
    died = (105.0, "h", "", ev.PUBLISHER_EXIT, "", -9.0)
    back = (107.5, "h", "", ev.PUBLISH_START, "rtmp://x/live/s", 107.2, REPUBLISH)
    again = (110.0, "h", "", ev.PUBLISHER_EXIT, "", 1.0)
    assert invalid_reason(log(died)) == "publisher died"
    assert invalid_reason(log(died, back)) is None
    assert invalid_reason(log(died, back, again)) == "publisher died"
    assert fault_figures(log(died), 100.0)["faults"] == [
        "publisher died, seen at +5.0 s (exit -9); not republished"]
    assert fault_figures(log(), 0.0)["faults"] == []


def test_reconnect_waits_double_to_a_cap():
    waits = [reconnect_wait_s(n) for n in range(8)]
    assert waits[0] == RECONNECT_FIRST_S and waits[1] == 2 * RECONNECT_FIRST_S
    assert waits[-1] == RECONNECT_MAX_S and waits == sorted(waits)
    assert reconnect_wait_s(10_000) == RECONNECT_MAX_S


class DroppingViewers:
    """A viewer factory: the first `drops` viewers lose their connection at once, the
    next plays its time; `raise_on` makes that one raise (a hostile stream)."""

    def __init__(self, drops: int, raise_on: int | None = None) -> None:
        self.drops = drops
        self.raise_on = raise_on
        self.made = 0

    def __call__(self, protocol: str, url: str, on_event: EventCallback,
                 name: str = "") -> object:
        self.made += 1
        n = self.made
        factory = self

        class Viewer:
            bytes_received = 0
            playing = False
            media_ts_ms = -1

            async def run(self, duration: float) -> None:
                if n == factory.raise_on:
                    raise RuntimeError("garbage")
                if n <= factory.drops:
                    on_event(ev.VIEWER_ERROR, "disconnect", 0.0, f"{url}: dropped")
                    return
                await asyncio.sleep(duration)

            def close(self) -> None:
                pass

        return Viewer()

    async def aclose(self) -> None:
        pass


def run_shard(factory: DroppingViewers, reconnect: bool, duration_s: float) -> list[Event]:
    rows: list[Event] = []
    plan = ArrivalPlan([fan_spec(0, "fan", new=False)], 0.0, duration_s,
                       start_at=time.time(), reconnect=reconnect)
    shard = Shard(plan, lambda spec: JourneyResult("rtmp://h/live/s", 0.0), factory,
                  rows.extend, "here")  # type: ignore[arg-type]
    asyncio.run(shard.run())
    return rows


def kinds(rows: list[Event], kind: str) -> list[Event]:
    return [r for r in rows if r.event == kind]


def test_with_reconnect_a_dropped_viewer_plays_again_after_backoff_until_its_time():
    started = time.monotonic()
    rows = run_shard(DroppingViewers(drops=2), reconnect=True, duration_s=3.0)
    took = time.monotonic() - started
    assert [r.value for r in kinds(rows, ev.RECONNECT)] == [1.0, 2.0]
    assert len(kinds(rows, ev.VIEWER_ERROR)) == 2 and len(kinds(rows, ev.PLAY_END)) == 1
    gaps = [b.t - a.t for a, b in zip(kinds(rows, ev.VIEWER_ERROR), kinds(rows, ev.RECONNECT),
                                      strict=True)]
    assert gaps[0] == pytest.approx(RECONNECT_FIRST_S, abs=0.15)
    assert gaps[1] == pytest.approx(2 * RECONNECT_FIRST_S, abs=0.15)
    assert took == pytest.approx(3.0, abs=0.5)  # the third viewer played out the rest


def test_without_reconnect_or_after_a_raise_a_viewer_stays_stopped():
    rows = run_shard(DroppingViewers(drops=2), reconnect=False, duration_s=3.0)
    assert not kinds(rows, ev.RECONNECT) and len(kinds(rows, ev.VIEWER_ERROR)) == 1
    rows = run_shard(DroppingViewers(drops=0, raise_on=1), reconnect=True, duration_s=3.0)
    assert not kinds(rows, ev.RECONNECT)
    [error] = kinds(rows, ev.VIEWER_ERROR)
    assert "garbage" in error.detail


@pytest.fixture
def dripping_server() -> Iterator[int]:
    """Answers 200 at once, then its 50-byte body one byte every 0.2 s (10 s in all)."""

    def drip(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 50\r\n\r\n")
            with contextlib.suppress(OSError):
                for _ in range(50):
                    if stop.wait(0.2):
                        break
                    conn.sendall(b" ")

    with loopback_server(drip) as port:
        yield port


def test_an_answer_dripping_past_the_timeout_is_a_timeout_not_a_hung_fan(dripping_server):
    calls: list[ApiCall] = []
    with PlatformClient(f"http://127.0.0.1:{dripping_server}", timeout=1.0,
                        on_call=calls.append) as client:
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            client.health()
        took = time.monotonic() - started
    # requests alone times each read out, and a byte comes every 0.2 s: 10 s.
    assert 1.0 <= took < 2.0
    [call] = calls
    assert call.outcome == "timeout" and call.status is None and 1.0 <= call.latency_s < 2.0


def test_shard_plan_carries_reconnect_to_worker_shards():
    fans = [fan_spec(0, "fan", new=False)]
    assert shard_plan(0, "", fans, 0.1, 5.0, None, reconnect=True)["reconnect"] is True
    assert shard_plan(0, "", fans, 0.1, 5.0, None)["reconnect"] is False
