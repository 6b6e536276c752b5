"""Children started through media/processes.py `popen`: they get the parent-death
signal (setpriv), and a forked process starts them too (its spawner thread is its
own: the parent's does not exist in the child)."""

from __future__ import annotations

import multiprocessing
import subprocess

from streamperf.media.processes import dying_with_parent, popen


def test_the_command_is_run_under_setpriv_with_a_parent_death_signal() -> None:
    cmd = dying_with_parent(["sleep", "1"])
    assert cmd[-2:] == ["sleep", "1"]
    if len(cmd) > 2:  # setpriv present (util-linux; Debian has it)
        assert cmd[1:4] == ["--pdeathsig", "TERM", "--"]


def _child(out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    proc = popen(["true"], stdout=subprocess.DEVNULL)
    out.put(proc.wait(10))


def test_a_forked_process_can_start_children_too() -> None:
    popen(["true"]).wait(10)  # this process's spawner thread exists now
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    p = ctx.Process(target=_child, args=(out,))
    p.start()
    p.join(20)
    assert p.exitcode == 0 and out.get(timeout=1) == 0  # no wait on a thread it lacks
