"""The shape of the package (issue 15): layers import downward only, no import cycles, small
modules, one process pool, and that pool's workers stay quiet. Static checks (unit) read the source
with ``ast``; the pool test (integration) spawns two workers; nothing here trains a model."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

import unlearnlab
from unlearnlab.core import parallel

SRC = Path(unlearnlab.__file__).resolve().parent
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The module ``name`` stands for: itself, or (for ``from pkg import attr``) its package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, top_level_only: bool) -> set[str]:
    """unlearnlab modules ``module`` imports (at import time only, with ``top_level_only``)."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        found |= {r for n in names if n.startswith("unlearnlab") and (r := _resolve(n))}
    return found - {module}


def _graph() -> dict[str, set[str]]:
    """Import-time edges, plus each imported module's packages (importing ``a.b.c`` runs
    ``a/__init__`` and ``a/b/__init__`` first), except the importer's own packages."""
    graph = {}
    for module in MODULES:
        own = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}
        edges = set()
        for target in _imports(module, top_level_only=True):
            parts = target.split(".")
            edges |= {".".join(parts[:k]) for k in range(2, len(parts) + 1)} - own - {module}
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.mark.unit
def test_the_import_graph_sees_the_imports():
    assert "unlearnlab.core.training" in _imports("unlearnlab.attacks.relearn", top_level_only=True)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.unit
def test_no_import_cycles():
    assert not _cycles(_graph())


@pytest.mark.unit
def test_data_imports_only_core_and_data():
    allowed = ("unlearnlab.core", "unlearnlab.data")
    bad = {m: sorted(t for t in _imports(m, top_level_only=False) if not t.startswith(allowed) and t != "unlearnlab")
           for m in MODULES if m.startswith("unlearnlab.data")}
    assert not {m: t for m, t in bad.items() if t}


@pytest.mark.unit
def test_no_module_over_500_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


@pytest.mark.unit
def test_one_process_pool():
    pools = [m for m, p in MODULES.items() if ".Pool(" in p.read_text() and m != "unlearnlab.core.parallel"]
    assert not pools


def _worker_state(job: int) -> tuple:
    import torch
    import transformers

    quiet = any(f[0] == "ignore" and f[2] is FutureWarning for f in warnings.filters)
    return job, torch.get_num_threads(), transformers.utils.logging.is_progress_bar_enabled(), quiet, _FLAG


_FLAG: list = []


def _set_flag(value: str) -> None:
    _FLAG.append(value)


@pytest.mark.integration
def test_worker_pool_runs_quiet_one_thread_workers_with_an_initializer():
    out = parallel.map_jobs(_worker_state, range(3), workers=2, initializer=_set_flag, initargs=("ready",))
    assert [o[0] for o in out] == [0, 1, 2]
    assert all(o[1:] == (1, False, True, ["ready"]) for o in out)


@pytest.mark.unit
def test_serial_pool_on_a_gpu_or_one_worker():
    with parallel.worker_pool(1) as pool:
        assert pool.map(abs, [-1, 2]) == [1, 2] and pool.apply_async(max, (1, 3)).get() == 3
    assert parallel.map_jobs(abs, [-4], device="cuda") == [4]
