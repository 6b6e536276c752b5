"""The package's layers: no import cycle, stages and protocols in their rooms, data
moving forward only (DESIGN.md section 2).

Reads every module's imports from its source (ast), lazy ones inside functions
and type-only ones included, so a cycle hidden behind a function-level import
is caught too. Units are the top-level modules and packages, except that
`results`, `viewers` and `platforms` count each subpackage (a stage, a
protocol, a platform) and each flat module as a unit of its own.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import streamperf

PACKAGE = Path(streamperf.__file__).parent
#: packages whose rooms are units of their own
REFINED = ("results", "viewers", "platforms")
#: results' stages, in the order data moves through them
STAGES = ("results.eventlog", "results.analysis", "results.judging", "results.report")
PROTOCOLS = ("viewers.rtmp", "viewers.flv", "viewers.hls", "viewers.dash", "viewers.llhls")
#: a protocol that extends another: LL-HLS playlists are HLS's with parts (master
#: playlists, attributes, dates and the ladder are HLS's own)
EXTENDS = {"viewers.llhls": ("viewers.hls",)}
#: modules of the top level that import nothing of streamperf, for every layer
STANDALONE = ("streamperf", "redact", "redirects")
#: what the viewers of every protocol may share
VIEWER_SHARED = ("viewers.base", "viewers.per_loop", "viewers.read_batching",
                 "viewers.formats", "viewers.http", "viewers.abr", "viewers.cmcd",
                 "viewers.reload_grid", "viewers.parse_memo")
SPECIFIC_PLATFORMS = ("platforms.seed", "platforms.reference")
#: what drives a run, above everything it drives
UPPER = ("load", "session", "pytest_plugin", "cli")

Graph = dict[str, dict[str, list[str]]]


def _unit(module: str) -> str:
    """streamperf.load.run -> load; streamperf.results.judging.sla -> results.judging;
    streamperf.viewers.base -> viewers.base; streamperf.settings -> settings."""
    parts = module.split(".")[1:]
    if not parts or parts[0].startswith("__"):
        return "streamperf"
    if parts[0] in REFINED and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The streamperf modules a file imports: `from pkg import submodule` names the
    submodule, `from pkg import name` the package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name.startswith("streamperf.")}


def module_graph() -> Graph:
    """module -> {imported module: [itself]}, streamperf's own imports only."""
    graph: Graph = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for name in _imports(path):
            if name != module:
                graph[module][name].append(module)
    return graph


def import_graph() -> Graph:
    """unit -> {imported unit: [importing modules]}."""
    graph: Graph = defaultdict(lambda: defaultdict(list))
    for module, names in module_graph().items():
        for name in names:
            if _unit(name) != _unit(module):
                graph[_unit(module)][_unit(name)].append(module)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def _cycle_text(graph: Graph, cycle: list[str]) -> str:
    return "; ".join(f"{a} -> {b} ({', '.join(sorted(set(graph[a][b])))})"
                     for a, b in itertools.pairwise(cycle))


def _edges(graph: Graph, frm: str, to: str) -> list[str]:
    """Importing modules of every edge from units under `frm` to units under `to`."""
    return sorted({m for a, targets in graph.items() if a == frm or a.startswith(frm + ".")
                   for b, modules in targets.items() if b == to or b.startswith(to + ".")
                   for m in modules})


def test_no_import_cycle_between_units() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + _cycle_text(graph, cycle or [])


def test_no_import_cycle_between_files() -> None:
    graph = module_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + _cycle_text(graph, cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    """The checks themselves can fail: a planted back edge is reported with its modules."""
    graph = import_graph()
    graph["viewers.rtmp"]["load"].append("streamperf.viewers.rtmp.planted")
    cycle = find_cycle(graph)
    assert cycle is not None and "streamperf.viewers.rtmp.planted" in _cycle_text(graph, cycle)
    files = module_graph()
    files["streamperf.results.eventlog.schema"]["streamperf.results.report.html"].append(
        "streamperf.results.eventlog.schema")
    assert find_cycle(files) is not None
    assert _edges({"results.eventlog": {"results.report": ["planted"]}},
                  "results.eventlog", "results.report") == ["planted"]


def test_results_stages_import_only_downwards() -> None:
    """The event log, then analysis, judging and report: each imports only the stages
    below it; number formatting (results.formatting) is below judging and report."""
    graph = import_graph()
    for i, lower in enumerate(STAGES):
        for upper in STAGES[i + 1:]:
            assert not _edges(graph, lower, upper), (lower, upper, _edges(graph, lower, upper))
    for stage in STAGES[:2]:
        assert not _edges(graph, stage, "results.formatting"), stage
    assert not graph.get("results.formatting"), graph.get("results.formatting")


def test_a_protocol_is_a_room() -> None:
    """No protocol's viewer imports another protocol's package, nor the viewers' face
    (viewers/__init__, which chooses among them): what they share has its own home."""
    graph = import_graph()
    for protocol in PROTOCOLS:
        imported = set(graph.get(protocol, {}))
        allowed = {*VIEWER_SHARED, *EXTENDS.get(protocol, ()), *STANDALONE}
        assert imported <= allowed, (protocol, imported)
    for shared in VIEWER_SHARED:
        for protocol in PROTOCOLS:
            assert not _edges(graph, shared, protocol), (shared, protocol)


def test_generic_platform_code_never_imports_a_specific_platform() -> None:
    """The adapter interface, choosing an adapter and the direct adapter know no
    platform; a capability (journeys on load hosts) is declared, not found by type.
    The bundled platform speaks the seed's API, never the other way round."""
    graph = import_graph()
    generic = [u for u in graph if u.split(".")[0] == "platforms" and u not in SPECIFIC_PLATFORMS]
    assert "platforms.adapter" in generic and "platforms.choose" in generic
    for unit in generic:
        wrong = {b: graph[unit][b] for b in graph[unit] if b in SPECIFIC_PLATFORMS}
        assert not wrong, (unit, wrong)
    assert not _edges(graph, "platforms.seed", "platforms.reference")
    for specific in SPECIFIC_PLATFORMS:  # nor does what drives a run ask by type
        assert not _edges(graph, "load.dispatch", specific)


def test_data_moves_forward() -> None:
    """Viewers report through their own interface; the event log and what reads it never
    reach back into the machinery that produced the rows."""
    graph = import_graph()
    assert not _edges(graph, "viewers", "results"), _edges(graph, "viewers", "results")
    for lower in ("viewers", "results", "platforms", "media", "hosts", "settings", "fleet"):
        for upper in UPPER:
            assert not _edges(graph, lower, upper), (lower, upper, _edges(graph, lower, upper))


def test_core_modules_do_not_import_pytest() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "pytest_plugin.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "pytest" or n.startswith("_pytest") for n in names):
                offenders.append(_module_name(path))
    assert offenders == []


def test_no_module_over_500_lines() -> None:
    long = {_module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


SHARD_PROBE = """
import importlib.abc, sys
class OnlyWorkerDeps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in ("pandas", "numpy", "matplotlib", "paramiko", "boto3", "pytest", "_pytest",
                   "jinja2"):
            raise ImportError("a load host does not have " + top)
        return None
sys.meta_path.insert(0, OnlyWorkerDeps())
import streamperf.load.remote_shard, streamperf.viewers.rtmp.viewer
import streamperf.viewers.hls.viewer, streamperf.viewers.flv.viewer
import streamperf.viewers.dash.viewer
import streamperf.platforms.seed.journey  # the seed's WorkerJourneys walker
print("ok")
"""


def test_a_shard_needs_only_the_worker_requirements() -> None:
    """Load hosts get streamperf without its analysis stack (hosts/prepare.py
    WORKER_REQUIREMENTS): what a shard imports must not need it."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SHARD_PROBE], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
