"""Reloads on a shared grid (viewers/reload_grid.py): never early, one timer per step.

Run on the real event loops the viewers use (asyncio and uvloop: the `run_loop` fixture).
"""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from streamperf.viewers import reload_grid
from streamperf.viewers.reload_grid import RELOAD_GRID_S, grid_step, sleep_to_grid
from tests.support.loops import RunLoop


@given(st.floats(min_value=0.0, max_value=1e7, allow_nan=False))
def test_a_grid_step_is_never_before_the_time_asked_nor_a_step_after(t: float) -> None:
    at = grid_step(t) * RELOAD_GRID_S
    assert t <= at < t + RELOAD_GRID_S + 1e-9


def test_waiters_of_one_step_share_its_timer_and_wake_on_time(run_loop: RunLoop) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05
        asked = [t0 + i * 0.1 / 60 for i in range(60)]  # 60 viewers due within 100 ms
        woke: dict[int, float] = {}

        async def viewer(i: int) -> None:
            await sleep_to_grid(asked[i])
            woke[i] = loop.time()

        tasks = [asyncio.ensure_future(viewer(i)) for i in range(60)]
        # a plain timer at the last step: how late the loop itself was (a busy machine)
        last_step = max(grid_step(t) for t in asked) * RELOAD_GRID_S
        rang: list[float] = []
        loop.call_at(last_step, lambda: rang.append(loop.time()))
        await asyncio.sleep(0)
        mine = list(reload_grid._steps.get(loop))
        assert len(mine) == len({grid_step(t) for t in asked}) <= 7  # not 60 timers
        await asyncio.gather(*tasks)
        await asyncio.sleep(0)
        loop_late = max(0.0, rang[0] - last_step) if rang else 0.0
        for i, t in enumerate(asked):
            assert woke[i] >= t - 0.001, (i, woke[i] - t)  # never early
            # a step late at most, beyond what the loop itself was late
            assert woke[i] - t < RELOAD_GRID_S + 0.05 + loop_late, (i, woke[i] - t, loop_late)
        assert not reload_grid._steps.get(loop)  # rung steps are gone

    run_loop(main())


def test_a_cancelled_waiter_leaves_the_others_and_a_past_time_wakes_at_once(
    run_loop: RunLoop,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        t = loop.time() + 0.03
        gone = asyncio.ensure_future(sleep_to_grid(t))
        stays = asyncio.ensure_future(sleep_to_grid(t))
        gone.cancel()  # a viewer closed while it waited
        await asyncio.wait_for(stays, 1.0)
        # the same (now past) step again: a new timer, not the one that already rang
        t1 = loop.time()
        await asyncio.wait_for(sleep_to_grid(t), 1.0)
        assert loop.time() - t1 < 0.5

    run_loop(main())
