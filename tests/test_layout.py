"""The package layout holds (docs/DESIGN.md): imports flow one way through the layers, no cycles,
no pylbs import hidden inside a function, nothing imports the command line."""

from __future__ import annotations

import ast
import functools
import os
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pylbs"

#: The data flow composition -> structure -> potential -> protocol -> session -> trajectory ->
#: analysis -> report, as layers; a module may import only from its own or lower layers.
LAYERS = [
    ("base", ["errors", "hashing", "jsonio", "stats", "mpiutil", "paper_data", "progress", "torchscript",
              "dispatcher"]),
    ("composition", ["glasses"]),
    ("run files (written by the session, read by the analyses)", ["lammps_io", "plotting", "run_status"]),
    ("structure", ["structure"]),
    ("potential", ["potential", "potential.*"]),
    ("protocol (schedules as data)", ["protocols", "protocols.schedules", "protocols.decks"]),
    ("session", ["lammps_env", "session"]),
    ("analysis", ["analysis", "analysis.*"]),
    ("workflows (protocol drivers, MLP training)", ["protocols.*", "mlp", "mlp.*"]),
    ("campaign and report", ["campaign", "campaign.*"]),
    ("command line", ["cli", "cli.*"]),
]


@functools.lru_cache(maxsize=None)
def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = path
    return out


def _layer(module: str) -> int:
    best = None
    for k, (_, patterns) in enumerate(LAYERS):
        for p in patterns:
            exact = p == module
            prefix = p.endswith(".*") and module.startswith(p[:-1])
            if exact or (prefix and best is None):
                best = k if exact or best is None else best
                if exact:
                    return k
    if best is None:
        raise AssertionError(f"pylbs.{module} is in no layer of tests/test_layout.py: place it")
    return best


def _imports(module: str, path: Path):
    """(imported pylbs module, line, inside a function) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(x) for f in funcs for x in ast.walk(f)}
    known = _modules()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("pylbs"):
                target = node.module.removeprefix("pylbs").lstrip(".")
            else:
                continue
            # "from . import x" / "from .pkg import mod": the submodule itself when it is one
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                names.append(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("pylbs").lstrip(".") for a in node.names if a.name.startswith("pylbs")]
        for name in names:
            if name:
                yield name, node.lineno, id(node) in inside


def test_every_import_goes_down_the_layers():
    bad = []
    for module, path in _modules().items():
        own = _layer(module)
        for target, line, _ in _imports(module, path):
            if _layer(target) > own:
                bad.append(f"pylbs/{path.relative_to(PKG)}:{line} ({LAYERS[own][0]}) imports pylbs.{target} "
                           f"({LAYERS[_layer(target)][0]})")
    assert not bad, "imports against the data flow:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(m, p) if t != m} for m, p in _modules().items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in graph.get(m, ()):
            if t not in graph:
                continue
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_no_pylbs_import_hidden_in_a_function():
    hidden = [f"pylbs/{p.relative_to(PKG)}:{line} imports pylbs.{t}"
              for m, p in _modules().items() for t, line, inside in _imports(m, p) if inside]
    assert not hidden, "\n".join(hidden)


def test_no_module_main_outside_the_cli():
    """Every command, queue jobs' included, goes through ``pylbs`` (run_guarded: one-line errors)."""
    mains = [m for m, path in _modules().items() if not m.startswith("cli") and "__main__" in path.read_text()]
    assert mains == []


def test_import_pylbs_selects_the_legacy_torchscript_executor_on_cpu():
    """DeepMD with model deviation ran 3x faster with it (pylbs.torchscript); torch reads the variable
    once, so it must be set by ``import pylbs``; PYLBS_TORCH_EXECUTOR=profiling keeps torch's."""
    import subprocess
    import sys

    if Path("/dev/nvidiactl").exists():
        pytest.skip("a GPU machine keeps torch's default executor")
    probe = "import os, pylbs; print(os.environ.get('TORCH_JIT_DISABLE_NEW_EXECUTOR'))"
    ours = ("TORCH_JIT_DISABLE_NEW_EXECUTOR", "PYLBS_TORCH_EXECUTOR", "PYLBS_TORCH_EXECUTOR_SET")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    out = [subprocess.run([sys.executable, "-c", probe], env=dict(env, **extra), capture_output=True, text=True,
                          check=True).stdout.strip() for extra in ({}, {"PYLBS_TORCH_EXECUTOR": "profiling"})]
    assert out == ["1", "None"]
