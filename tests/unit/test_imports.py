"""The package's layers: no import cycle between subpackages, data moving forward only.

Reads every module's imports from its source (ast), lazy ones inside
functions included, so a cycle hidden behind a function-level import is
caught too.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import streamperf

PACKAGE = Path(streamperf.__file__).parent


def _unit(module: str) -> str:
    """streamperf.load.run -> load; streamperf.settings -> settings."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: [importing modules]}, streamperf's own imports only."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "streamperf":
                    names = [f"streamperf.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("streamperf.") and _unit(name) != _unit(module):
                    graph[_unit(module)][_unit(name)].append(module)
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
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


def test_no_import_cycle_between_subpackages() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"{a} -> {b} ({', '.join(sorted(set(graph[a][b])))})"
                 for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle: " + "; ".join(edges))


def test_the_cycle_finder_finds_one() -> None:
    """The check itself can fail: a planted back edge is reported with its modules."""
    graph = import_graph()
    graph["viewers"]["load"].append("streamperf.viewers.planted")
    assert find_cycle(graph) is not None


def test_data_moves_forward() -> None:
    """Viewers report through their own interface; the event log and what reads it never
    reach back into the machinery that produced the rows."""
    graph = import_graph()
    assert "results" not in graph["viewers"], graph["viewers"]["results"]
    for lower in ("viewers", "results", "platform", "media", "hosts"):
        for upper in ("load", "session", "pytest_plugin", "cli"):
            assert upper not in graph[lower], (lower, upper, graph[lower][upper])


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


VIEWERS = "streamperf.viewers"
PROTOCOL_PACKAGES = ("rtmp", "flv", "hls")  # one room each; more (dash, llhls) join here


def viewers_module_graph() -> dict[str, set[str]]:
    """module -> the viewers modules it imports (lazy and TYPE_CHECKING ones included)."""
    paths = {_module_name(path): path for path in (PACKAGE / "viewers").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from a.b import c` is a.b, or a.b.c when c is a module
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            deps.update(n for n in names if n in paths and n != module)
        graph[module] = deps
    return graph


def test_no_file_level_import_cycle_in_viewers() -> None:
    graph = viewers_module_graph()
    cycle = find_cycle({module: {dep: [module] for dep in deps} for module, deps in graph.items()})
    assert cycle is None, " -> ".join(cycle or [])


def test_protocol_packages_import_no_other_protocol() -> None:
    """rtmp/, flv/ and hls/ take from the shared rooms (base, per_loop, read_batching,
    formats/, http/), never from each other nor from the package's front (__init__)."""
    offenders = []
    for module, deps in viewers_module_graph().items():
        room = module.split(".")[2] if module.count(".") >= 2 else ""
        if room not in PROTOCOL_PACKAGES:
            continue
        for dep in deps:
            parts = dep.split(".")
            other = parts[2] if len(parts) > 2 else ""
            if dep == VIEWERS or (other in PROTOCOL_PACKAGES and other != room):
                offenders.append(f"{module} -> {dep}")
    assert offenders == []


SHARD_PROBE = """
import importlib.abc, sys
class OnlyWorkerDeps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in ("pandas", "numpy", "matplotlib", "paramiko", "boto3", "pytest", "_pytest"):
            raise ImportError("a load host does not have " + top)
        return None
sys.meta_path.insert(0, OnlyWorkerDeps())
import streamperf.load.remote_shard, streamperf.viewers.rtmp.viewer, streamperf.viewers.hls.viewer
import streamperf.viewers.flv.viewer
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
