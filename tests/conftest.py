"""Shared pytest fixtures.

fmp/lbs plugin section: ``fmp_plugin`` builds pylbs/_lib/fmplbsplugin.so with the
project's cmake command when it is missing or older than its sources.

The suite runs on both cores (``make test``: pytest-xdist ``-n 2 --dist load``, longest tests first).
The tiny DeepMD model is built once for
all workers (:func:`shared`, a file lock in the run's temporary folder). (xdist's
``loadgroup`` does not group tests under pytest 9 here: measured, so not used.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pylbs.glasses import get_glass

_ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/fmp_helpers.py

# (MPICH's heavy yield for the oversubscribed `mpirun -np 2` tests was measured and is not used:
# a 2-rank quench beside one busy process took 38 s with it, 23 s without.)
# DeepMD MD runs the models as given: compressing a model costs a `dp` process (~20 s here) that
# the tests' short runs would never earn back. The tiny model's fixture gives its committed
# compressed copy (tiny_dp.MD_MODEL), laid where pylbs caches it; compressing a model is tested on
# its own (test_mlp_quench: test_compressed_copy_*), and the profile test runs model.pth with
# compress=True, which finds that cached copy.
os.environ.setdefault("PYLBS_COMPRESS", "0")


# ----------------------------------------------------------------- built once for every xdist worker

@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _session_root(tmp_path_factory) -> Path:
    """The temporary folder of the whole run: shared by the xdist workers (each has a sub-folder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared(tmp_path_factory, name: str, build):
    """``build(folder)`` -> a JSON value, run once per test run whatever the number of workers:
    the first worker builds under a file lock, the others wait and read the value back."""
    root = _session_root(tmp_path_factory)
    folder, value = root / f"shared-{name}", root / f"shared-{name}" / "value.json"
    with _file_lock(root / f"shared-{name}.lock"):
        if not value.exists():
            folder.mkdir(parents=True, exist_ok=True)
            value.write_text(json.dumps(build(folder)))
    return json.loads(value.read_text())


# ----------------------------------------------------------------- fmp/lbs plugin

def _fmp_plugin_stale(plugin: Path) -> bool:
    if not plugin.exists():
        return True
    sources = [p for p in (_ROOT / "plugins" / "fmp_lbs").rglob("*") if p.suffix in (".cpp", ".h")]
    sources += [_ROOT / "CMakeLists.txt", _ROOT / "cmake" / "LammpsWheel.cmake"]
    built = plugin.stat().st_mtime
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


@pytest.fixture(scope="session")
def fmp_plugin() -> Path:
    """Path of a current fmplbsplugin.so (built with cmake + ninja if needed)."""
    plugin = _ROOT / "pylbs" / "_lib" / "fmplbsplugin.so"
    with _file_lock(_ROOT / "build" / ".fmp_plugin.lock"):  # two workers never build at once
        _build_fmp_plugin_if_stale(plugin)
    return plugin


def _build_fmp_plugin_if_stale(plugin: Path) -> None:
    if _fmp_plugin_stale(plugin):
        venv = _ROOT / ".venv" / "bin"
        cmds = [[str(venv / "cmake"), "-S", ".", "-B", "build", "-G", "Ninja",
                 f"-DPython_EXECUTABLE={venv / 'python'}"],
                [str(venv / "cmake"), "--build", "build"]]
        for cmd in cmds:
            res = subprocess.run(cmd, cwd=_ROOT, capture_output=True, text=True)
            if res.returncode != 0:
                pytest.fail(f"building the fmp/lbs plugin failed: {' '.join(cmd)}\n"
                            f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}")


# ----------------------------------------------------------------- MD protocol tests
# (structure / session / protocol / melt-quench tests; self-contained, prefixed md_)

def md_teter_commands(cutoff: float = 8.0, core: bool = True) -> list[str]:
    """Teter Buckingham + long-range Coulomb with LAMMPS built-in styles (types Li B Si O).

    A stand-in for fmp/lbs so the protocol code is tested against a second
    potential. ``core``: overlay ZBL between 0.9 and 1.3 A so hot random
    structures do not fall into the Buckingham catastrophe (fmp/lbs has its own core).
    """
    buck = [("4 4", "2029.2204 0.343640 192.580"), ("3 4", "13702.9050 0.193817 54.681"),
            ("1 4", "41051.9380 0.151160 0.0"), ("2 4", "12000.0 0.171271 28.5")]
    if not core:
        return ([f"pair_style buck/coul/long {cutoff}", "pair_coeff * * 0.0 1.0 0.0"]
                + [f"pair_coeff {ij} {abc}" for ij, abc in buck] + ["kspace_style pppm 1e-5"])
    z = {1: 3, 2: 5, 3: 14, 4: 8}
    return ([f"pair_style hybrid/overlay buck/coul/long {cutoff} zbl 0.9 1.3",
             "pair_coeff * * buck/coul/long 0.0 1.0 0.0"]
            + [f"pair_coeff {ij} buck/coul/long {abc}" for ij, abc in buck]
            + [f"pair_coeff {i} {j} zbl {z[i]} {z[j]}" for i in range(1, 5) for j in range(i, 5)]
            + ["kspace_style pppm 1e-5"])


@pytest.fixture(scope="session")
def md_teter():
    """The built-in Teter potential commands (list) for protocol tests."""
    return md_teter_commands()


@pytest.fixture(scope="session")
def md_small_glass():
    """A 105-atom random LBS-20-60-20 (5 formula-unit sets) at 2.21 g/cm^3."""
    from pylbs.structure import random_structure

    return random_structure(get_glass("LBS-20-60-20"), 105, seed=3)


# ----------------------------------------------------------------- tiny DeepMD model
# One small se_e2_a model trained on FMP-labelled frames (no downloads), committed under
# tests/data/tiny_dp (tests/tiny_dp.py says why and rebuilds it). Used wherever a test needs a
# real `pair_style deepmd`.

@pytest.fixture(scope="session")
def tiny_dp_model(tmp_path_factory, fmp_plugin):
    """(model path, training system dir): the committed model copied once per test run (runs write
    beside it); trained here (~1 min on 2 cores) only when the committed copy is missing.

    The path is the compressed copy (``tiny_dp.MD_MODEL``: the same energies to 3e-13 eV/atom, 1.7x
    faster MD), lying where pylbs caches model.pth's compressed copy; the trained model.pth and its
    checkpoint lie beside it."""
    import tiny_dp

    def get(folder: Path):
        model, train = tiny_dp.copy_committed(folder) or tiny_dp.build(folder)
        return str(tiny_dp.md_model(model)), str(train)

    model, train = shared(tmp_path_factory, "tiny_dp", get)
    return Path(model), Path(train)


@pytest.fixture(scope="session")
def start_data(tiny_dp_model, tmp_path_factory):
    """A 105-atom FMP configuration (the last training frame, 600 K) as LAMMPS data."""
    from ase import Atoms

    from pylbs.glasses import TYPE_MAP
    from pylbs.structure import write_lammps_data

    _, train = tiny_dp_model
    types = np.loadtxt(train / "type.raw", dtype=int)
    x = np.load(train / "set.000" / "coord.npy")[-1].reshape(-1, 3)
    cell = np.load(train / "set.000" / "box.npy")[-1].reshape(3, 3)
    atoms = Atoms([TYPE_MAP[t] for t in types], positions=x, cell=cell, pbc=True)
    return write_lammps_data(atoms, tmp_path_factory.mktemp("mlp_start") / "start.data")


@pytest.fixture(scope="session")
def bad_dp_model(tiny_dp_model, tmp_path_factory):
    """A deliberately bad DeepMD model: the tiny model with its fitting-net weights perturbed (seeded
    noise of 2x their scale). It loads and runs like any frozen model, and its forces disagree with
    the tiny model's by eV/A: what the model-deviation guard must catch."""
    import deepmd.pt  # noqa: F401  (registers deepmd's TorchScript ops so the frozen model loads)
    import torch

    model, _ = tiny_dp_model
    net = torch.jit.load(str(model))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "fitting" in name:
                p.add_(2.0 * p.abs().mean() * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    path = tmp_path_factory.mktemp("bad_dp") / "bad.pth"
    torch.jit.save(net, str(path))
    return path


# ----------------------------------------------------------------- order: longest first
#: Tests measured at 40 s or more on 2 cores (make test prints the slowest): started first, so
#: that the two xdist workers share them and the short tests fill the gaps at the end.
#: xdist (--maxschedchunk 1) hands out two tests per worker, then one at a time.
SLOW_FIRST = (
    "test_mlp_learn.py::test_active_learning_loop",
    "test_campaign.py::test_tiny_campaign_end_to_end_resume_and_stale_tasks",
    "test_melt_quench.py::test_fmp_4B_near_the_rule_target",
    "test_campaign.py::test_tiny_campaign_with_the_deepmd_stage",
    "test_mlp_end_to_end.py::test_generate_train_resume_test",
    "test_resume.py::test_deepmd_stage_killed_and_resumed_equals_uninterrupted",
    "test_mlp_quench.py::test_profile_emin_and_summary",
    "test_mlp_quench.py::test_resume_and_overlap_guard",
    "test_dynamics.py::test_deepmd_diffusion_run_and_cli",
    "test_mlp_quench.py::test_replicas_differ_by_seed_only_and_record_deviation",
    "test_mlp_quench.py::test_model_deviation_guard",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = f"{Path(str(item.fspath)).name}::{item.originalname}"
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
