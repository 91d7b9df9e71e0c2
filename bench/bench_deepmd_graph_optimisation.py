"""DeepMD in a pylbs LAMMPS session with and without TorchScript's graph optimisation
(pylbs.torchscript.run_models_unoptimised; ``PYLBS_TORCH_OPTIMIZE=1`` keeps it).

Each case runs in its own process (the start-up cost is per process), alternating the two modes:
the time from starting LAMMPS to the end of the first 10 MD steps (model load plus the first
calls, which is where the optimisation is paid), then ms/step over ``--steps`` NVT steps at 300 K,
and the potential energy of the first step (the same model must give the same energy).

    .venv/bin/python bench/bench_deepmd_graph_optimisation.py [--steps 200] [--repeats 2]

Cases: the tests' tiny model (compressed, 105 atoms) twice with model deviation every 10 steps
(what the guard, the tests and the loop's explorations run), and the shipped default model,
compressed and not, on its first held-out frame, alone and twice with model deviation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_dp"

CHILD = r"""
import json, sys, time
from pylbs.lammps_env import start_lammps
data, models, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()  # from the start of LAMMPS: whatever the switch costs is counted
lmp = start_lammps(require=(("pair", "deepmd"),))
lmp.commands_list(["units metal", "atom_style charge", "boundary p p p", f"read_data {data}"])
lmp.commands_list([f"pair_style deepmd {models}", "pair_coeff * * Li B Si O", "timestep 0.001",
                   "velocity all create 300 1", "fix 1 all nvt temp 300 300 0.1", "thermo_style custom step pe",
                   "run 0"])
pe0 = lmp.get_thermo("pe")
lmp.command("run 10")
t1 = time.perf_counter()
lmp.command(f"run {steps}")
t2 = time.perf_counter()
print(json.dumps({"start_s": t1 - t0, "ms_per_step": 1e3 * (t2 - t1) / steps, "pe0": pe0}))
"""


def frame_data(system: Path, work: Path, name: str) -> Path:
    """The first frame of a deepmd/npy system as LAMMPS data."""
    import numpy as np
    from ase import Atoms

    from pylbs.glasses import TYPE_MAP
    from pylbs.structure import write_lammps_data

    names = (system / "type_map.raw").read_text().split() if (system / "type_map.raw").exists() else TYPE_MAP
    types = np.loadtxt(system / "type.raw", dtype=int, ndmin=1)
    x = np.load(system / "set.000" / "coord.npy")[0].reshape(-1, 3)
    cell = np.load(system / "set.000" / "box.npy")[0].reshape(3, 3)
    return write_lammps_data(Atoms([names[t] for t in types], positions=x, cell=cell, pbc=True), work / name)


def one(data: Path, models: str, steps: int, optimise: bool) -> dict:
    env = dict(os.environ)
    env.pop("PYLBS_TORCH_OPTIMIZE", None)
    if optimise:
        env["PYLBS_TORCH_OPTIMIZE"] = "1"
    res = subprocess.run([sys.executable, "-c", CHILD, str(data), models, str(steps)], env=env,
                         cwd=data.parent, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    from pylbs.mlp.compress import md_models
    from pylbs.potential.models import model_path

    default = Path(model_path("default"))
    default_c = Path(md_models([default], compress=True)[0]["md_model"])
    held = next(p for p in sorted((default.parent / "heldout").rglob("type.raw"))).parent
    tiny_c = TINY / "model" / "model-compressed.pth"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tiny_data = frame_data(TINY / "train", work, "tiny.data")
        glass = frame_data(held, work, "glass.data")
        cases = [("tiny model x2, deviation, 105 atoms", tiny_data, f"{tiny_c} {tiny_c} out_freq 10 out_file md.out"),
                 ("default compressed", glass, str(default_c)),
                 ("default compressed x2, deviation", glass, f"{default_c} {default_c} out_freq 10 out_file md.out"),
                 ("default uncompressed", glass, str(default))]
        print(f"{'case':40s} {'mode':>12s} {'start s':>8s} {'ms/step':>8s}  pe0 (eV)")
        for label, data, models in cases:
            runs = {True: [], False: []}
            for _ in range(args.repeats):
                for optimise in (True, False):
                    runs[optimise].append(one(data, models, args.steps, optimise))
            for optimise in (True, False):
                r = runs[optimise]
                print(f"{label:40s} {'optimised' if optimise else 'unoptimised':>12s} "
                      f"{statistics.median(x['start_s'] for x in r):8.2f} "
                      f"{statistics.median(x['ms_per_step'] for x in r):8.1f}  {r[0]['pe0']:.8f}")
            on, off = (statistics.median(x["ms_per_step"] for x in runs[o]) for o in (True, False))
            s_on, s_off = (statistics.median(x["start_s"] for x in runs[o]) for o in (True, False))
            same = runs[True][0]["pe0"] == runs[False][0]["pe0"]
            print(f"{'':40s} start {s_on / s_off:.1f}x shorter unoptimised, steps {off / on:.2f}x the optimised "
                  f"time, first-step energy {'identical' if same else 'DIFFERS'}")


if __name__ == "__main__":
    main()
