#!/usr/bin/env python
"""Does the teacher itself bring atoms as close as the guard stopped the model at? A short
teacher-driven NVT run at the check's temperature from the model's own liquid, beside the same run
with the model, both from one frame and one set of velocities.

    python scripts/teacher_hot_md.py runs/stab/LBS-20-60-20 --model default --teacher chgnet-r2scan \
        --steps 150 --before 80

Takes the dumped frame of a `pylbs mlp stability` glass folder ``--before`` steps ahead of its guard
stop (the model's liquid just before the contact), draws Maxwell-Boltzmann velocities at the check's
temperature (seeded), and runs ``--steps`` of Langevin NVT (1 fs, friction 0.01/fs, the same
random stream) once with the teacher and once with the model (ASE calculators). Prints and writes
(``teacher_hot_md.json`` in the folder) the closest approach per element pair of each run next to
the guard's limits. One short run per side: it shows whether the teacher reaches the guard's
contacts from this liquid, not how often. The teacher costs ~2 s per step at 300 atoms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pylbs.glasses import TYPE_MAP
from pylbs.jsonio import write_json_atomic
from pylbs.mlp.stability import closest_approach
from pylbs.mlp.teachers import teacher_calculator
from pylbs.potential.models import model_path
from pylbs.protocols.guard import GUARD_MIN_DISTANCES


def start_frame(folder: Path, before: int):
    from ase.io import read

    stop = json.loads((folder / "stability.json").read_text())
    traj = read(folder / "trajectory.lammpstrj", ":", format="lammps-dump-text")
    steps = [int(a.info.get("timestep", -1)) for a in traj]
    if min(steps) < 0:
        raise SystemExit(f"{folder}: the dump has no time steps")
    target = stop["step"] - before
    k = int(np.argmin([abs(s - target) for s in steps]))
    atoms = traj[k]
    atoms.set_chemical_symbols([TYPE_MAP[n - 1] for n in atoms.numbers])
    return atoms, steps[k], stop


def run(atoms, calc, steps: int, temperature: float, seed: int, every: int = 5):
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    a = atoms.copy()
    a.calc = calc
    MaxwellBoltzmannDistribution(a, temperature_K=temperature, rng=np.random.default_rng(seed))
    md = Langevin(a, 1.0 * units.fs, temperature_K=temperature, friction=0.01 / units.fs,
                  rng=np.random.default_rng(seed + 1))
    frames = []
    md.attach(lambda: frames.append(a.copy()), interval=every)
    md.run(steps)
    return closest_approach(frames)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a glass folder of a `pylbs mlp stability` OUT (with a guard stop)")
    p.add_argument("--model", default="default", help="the DeepMD model that ran (a shipped name or a file)")
    p.add_argument("--teacher", default="chgnet-r2scan")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--before", type=int, default=80, help="start this many steps before the guard stop")
    p.add_argument("--temperature", type=float, default=2000.0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    from pylbs.potential import model_calculator

    atoms, step, stop = start_frame(args.folder, args.before)
    out = {"folder": str(args.folder), "start_step": step, "guard_stop_step": stop["step"], "steps": args.steps,
           "temperature_K": args.temperature, "seed": args.seed, "stop": stop.get("why")}
    for label, calc in (("model", model_calculator(model_path(args.model))), ("teacher", teacher_calculator(args.teacher))):
        out[label] = run(atoms, calc, args.steps, args.temperature, args.seed)
    limits = {"-".join(sorted(k)): v for k, v in GUARD_MIN_DISTANCES.items()}
    out["guard_limits"] = limits
    print(f"{args.folder.name}: {args.steps} steps at {args.temperature:.0f} K from step {step} "
          f"(guard stop at {stop['step']})")
    for pair in sorted(set(out["model"]) | set(out["teacher"])):
        lim = limits.get(pair)
        row = [f"{out[k].get(pair, float('nan')):.3f}" + ("*" if lim and out[k].get(pair, 9) < lim else " ")
               for k in ("model", "teacher")]
        print(f"  {pair:6s} model {row[0]}  teacher {row[1]}  guard {lim if lim else '-'}")
    print("  (* closer than the guard allows)")
    write_json_atomic(args.folder / "teacher_hot_md.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
