"""DeepMD in LAMMPS under TorchScript's two executors: torch's default (profiling) one and the legacy
one that ``import pylbs`` selects on CPU machines (pylbs.torchscript.use_legacy_torch_jit_executor).

Three cases, each in its own ``lmp`` process (torch reads the switch once per process), NVT at
300 K, 1 fs, after 5 warm-up steps: one model; two models with model deviation every 10 steps
(what the guard and the active-learning exploration run); the time of the 5 warm-up steps. Prints
ms/step per executor and the ratio, and whether both gave the same final energy.

    .venv/bin/python bench/bench_deepmd_executor.py [--model model.pth] [--steps 100]

Without --model it runs the tests' committed tiny model (tests/data/tiny_dp) on its 105-atom frame.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_dp"
LMP = Path(sys.executable).parent / "lmp"

DECK = """units metal
atom_style charge
read_data {data}
pair_style deepmd {models}
pair_coeff * * Li B Si O
velocity all create 300 1
fix 1 all nvt temp 300 300 0.1
timestep 0.001
thermo_style custom step pe
run 5
run {steps}
"""


def start_data(work: Path) -> Path:
    """The tiny model's last training frame as LAMMPS data."""
    import numpy as np
    from ase import Atoms

    from pylbs.glasses import TYPE_MAP
    from pylbs.structure import write_lammps_data

    types = np.loadtxt(TINY / "train" / "type.raw", dtype=int)
    x = np.load(TINY / "train" / "set.000" / "coord.npy")[-1].reshape(-1, 3)
    cell = np.load(TINY / "train" / "set.000" / "box.npy")[-1].reshape(3, 3)
    return write_lammps_data(Atoms([TYPE_MAP[t] for t in types], positions=x, cell=cell, pbc=True),
                             work / "start.data")


def run(work: Path, data: Path, models: str, steps: int, legacy: bool) -> tuple[float, float, float]:
    """(warm-up s, ms/step, final pe) of one lmp process."""
    deck = work / "in.bench"
    deck.write_text(DECK.format(data=data, models=models, steps=steps))
    drop = ("TORCH_JIT_DISABLE_NEW_EXECUTOR", "PYLBS_TORCH_EXECUTOR_SET")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(OMP_NUM_THREADS="1", PYLBS_TORCH_EXECUTOR="legacy" if legacy else "profiling")
    if legacy:
        env["TORCH_JIT_DISABLE_NEW_EXECUTOR"] = "1"
    log = work / "log.bench"
    subprocess.run([str(LMP), "-in", str(deck), "-log", str(log), "-screen", "none"], cwd=work, env=env, check=True)
    text = log.read_text()
    loops = [float(t) for t in re.findall(r"Loop time of ([0-9.eE+-]+)", text)]
    pe = float(re.findall(r"^\s+\d+\s+(-?[0-9.eE+-]+)\s*$", text, re.M)[-1])
    return loops[0], 1000.0 * loops[1] / steps, pe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=TINY / "model" / "model.pth")
    ap.add_argument("--data", type=Path, help="LAMMPS data file (default: the tiny model's 105-atom frame)")
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = a.data or start_data(work)
        m = str(a.model.resolve())
        cases = {"one model": m, "two models, deviation every 10 steps": f"{m} {m} out_freq 10 out_file devi.out"}
        print(f"model {a.model}, {a.steps} steps, 1 core")
        for name, models in cases.items():
            (w0, p, e0), (w1, q, e1) = (run(work, data, models, a.steps, legacy) for legacy in (False, True))
            print(f"{name:38s} profiling {p:7.1f} ms/step (warm-up {w0:4.1f} s) | legacy {q:7.1f} ms/step "
                  f"(warm-up {w1:4.1f} s) | ratio {p / q:4.2f} | same final pe: {abs(e0 - e1) < 1e-6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
