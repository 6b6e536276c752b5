"""Markers, not file paths, decide which phase of `make test` a test runs in.

The phases keep what loads the CPU away from runs whose figures are judged (Makefile):
read from `make -n test` as make would run them, each phase's pytest is collected
here in a subprocess of its own, and the selections must split tests/ with no test
in two and none left out, and no test that plays or judges a stream in real time in
the unjudged phase, nor beside it unless it says its checks hold there (busy_ok).
"""

from __future__ import annotations

import itertools
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from _pytest.mark.expression import Expression

from tests.support.collected import Collected, collect
from tests.support.nested_pytest import ROOT

# xdist's options: the phases' collections are compared here in one process each.
XDIST = {"-n", "--numprocesses", "--dist", "--maxschedchunk"}
SHELL = ";()<>&|"  # the characters of the shell's operators
#: the phase of the unjudged, CPU-heavy tests, and the one that runs beside it
UNJUDGED = "not realtime and not loads_cpu"
BESIDE = "busy_ok"
# Fixtures that start something in real time: a judged run (the plugin's), a live stream,
# a media server a viewer plays from, a bandwidth cap (tc) on lo.
REALTIME_FIXTURES = {"streamperf_run", "streamperf_session", "published_stream", "nms_stream",
                     "media_server", "node_media_server", "capped_port"}


def phase_commands() -> list[list[str]]:
    """The arguments of each pytest `make test` runs, in order, xdist's left out."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    dry = subprocess.run(["make", "-n", "-s", "test"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    commands = []
    for line in dry.stdout.replace("\\\n", " ").splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
        starts = [i for i, t in enumerate(tokens) if t.endswith("/pytest")]
        if not starts:
            continue
        # its arguments, up to the shell's next operator (`;`, `)`, a redirection, `&`)
        argv = list(itertools.takewhile(lambda t: not set(t) <= set(SHELL), tokens[starts[0]:]))
        args, rest = [], iter(argv[1:])
        for arg in rest:
            if arg in XDIST:
                next(rest)
            elif not arg.startswith(tuple(f"{x}=" for x in XDIST)):
                args.append(arg)
        commands.append(args)
    return commands


def marker_expression(args: list[str]) -> str:
    return args[args.index("-m") + 1]


def selects(expression: str, test: Collected) -> bool:
    """Whether `-m EXPRESSION` selects the test: pytest's own evaluator on its marks."""
    return Expression.compile(expression).evaluate(lambda name, **kw: name in test.marks)


@pytest.fixture(scope="module")
def phases() -> tuple[list[list[str]], list[dict[str, Collected]], dict[str, Collected]]:
    """(each phase's arguments, what each phase selects, all of tests/). tests/ is
    collected once and each phase's marker expression applied to it; one phase (the
    shortest expression's) is also collected as make runs it, and must select the same."""
    commands = phase_commands()
    smallest = min(commands, key=lambda args: len(marker_expression(args)))
    with ThreadPoolExecutor(2) as pool:
        real = pool.submit(collect, *smallest)
        everything = collect("tests")
    selected = [{n: t for n, t in everything.items() if selects(marker_expression(args), t)}
                for args in commands]
    assert real.result().keys() == selected[commands.index(smallest)].keys()
    return commands, selected, everything


def test_make_test_has_five_phases_chosen_by_marker_not_by_path(phases) -> None:
    commands, selected, _ = phases
    assert len(commands) == 5, commands
    for args in commands:
        paths = [a for a in args if not a.startswith("-") and (ROOT / a).exists()]
        assert paths == ["tests"], args  # the whole suite, a marker expression picks
        assert "-m" in args, args
    assert all(selected), [len(s) for s in selected]  # no phase is empty


def test_every_test_runs_in_exactly_one_phase(phases) -> None:
    _, selected, everything = phases
    assert len(everything) > 1000  # the suite, not a collection that failed quietly
    for i, a in enumerate(selected):
        for j, b in enumerate(selected[i + 1:], i + 1):
            both = sorted(a.keys() & b.keys())
            assert not both, f"{len(both)} tests in phases {i + 1} and {j + 1}: {both[:10]}"
    missed = sorted(everything.keys() - set().union(*(s.keys() for s in selected)))
    assert not missed, f"{len(missed)} tests in no phase: {missed[:10]}"


def test_no_real_time_test_runs_in_or_beside_the_unjudged_phase(phases) -> None:
    commands, selected, everything = phases
    by_marker = {marker_expression(args): s for args, s in zip(commands, selected, strict=True)}
    first, beside = by_marker[UNJUDGED], by_marker[BESIDE]
    live = {nodeid for nodeid, test in everything.items()
            if nodeid.startswith("tests/perf/") or test.fixtures & REALTIME_FIXTURES}
    # the perf scenarios and the integration tests that play real streams are among them
    assert any(n.startswith("tests/perf/") for n in live)
    assert any(n.startswith("tests/integration/test_rtmp_viewer.py") for n in live)
    assert sorted(n for n in live if "realtime" not in everything[n].marks) == []
    assert sorted(live & first.keys()) == []
    # the tests with a pytest of their own run in a phase of their own, two at a time
    own = [s for args, s in zip(commands, selected, strict=True)
           if "own_pytest" in marker_expression(args).replace("not own_pytest", "")]
    assert len(own) == 1 and all("own_pytest" in everything[n].marks for n in own[0])
    # beside it, only what says its checks hold on a busy machine (the truth run, ...)
    assert beside and all("busy_ok" in everything[n].marks for n in beside)
    assert any(n.startswith("tests/integration/test_measurement_truth.py") for n in beside)
