#!/usr/bin/env python
"""Was a guard stop the model's fault or its reference's? The closest pair of each overlap stop,
with the force pushing the two atoms apart from the DeepMD model and from the teacher it was
distilled from, on the frame the guard saved.

    python scripts/guard_stop_vs_teacher.py runs/stab --model default --teacher chgnet-r2scan

Reads every ``guard/event.json`` under the folders given (a `pylbs mlp stability` OUT, a quench
run, ...). "Separating force" is half the difference of the two atoms' forces projected on the
pair axis: positive pushes them apart. It includes every other neighbour's pull, so it is the
net push on that pair in that frame, not a pair potential. A model that pushes about as hard as
the teacher has learnt the teacher there: the approach is then the teacher's, and only a
better reference (DFT) moves it. Writes ``guard_vs_teacher.json`` into the first folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pylbs.glasses import TYPE_MAP
from pylbs.jsonio import write_json_atomic
from pylbs.mlp.teachers import teacher_calculator
from pylbs.potential.models import model_path


def separating_force(atoms, i: int, j: int, calc) -> float:
    """Net force (eV/A) pushing atoms i and j apart along their minimum-image axis."""
    a = atoms.copy()
    a.calc = calc
    f = a.get_forces()
    u = a.get_distance(i, j, mic=True, vector=True)
    u /= np.linalg.norm(u)
    return float(0.5 * (np.dot(f[j], u) - np.dot(f[i], u)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="folders to search for guard/event.json")
    p.add_argument("--model", default="default", help="the DeepMD model that ran (a shipped name or a file)")
    p.add_argument("--teacher", default="chgnet-r2scan", help="its reference (pylbs.mlp.teachers)")
    args = p.parse_args(argv)
    from ase.io import read
    from deepmd.calculator import DP

    model = DP(model=model_path(args.model), type_dict={el: k for k, el in enumerate(TYPE_MAP)})
    teacher = teacher_calculator(args.teacher)
    events = sorted(e for f in args.folders for e in Path(f).rglob("guard/event.json"))
    if not events:
        sys.exit(f"no guard/event.json under {' '.join(args.folders)}")
    rows = []
    for path in events:
        ev = json.loads(path.read_text())
        if ev.get("kind") != "overlap":
            continue
        i, j = (k - 1 for k in ev["closest"]["atoms"])  # atom ids; the saved frame is ordered by id
        atoms = read(ev["frames_file"], index=-1)
        row = {"run": str(path.parent.parent), "step": ev["step"], "pair": "-".join(ev["closest"]["elements"]),
               "distance_A": ev["closest"]["distance_A"], "threshold_A": ev["closest"]["threshold_A"],
               "separating_force_model": separating_force(atoms, i, j, model),
               "separating_force_teacher": separating_force(atoms, i, j, teacher)}
        rows.append(row)
        print(f"{row['run']}: {row['pair']} {row['distance_A']:.3f} A (limit {row['threshold_A']:.2f}) at step "
              f"{row['step']}: pushed apart by {row['separating_force_model']:+.2f} eV/A (model), "
              f"{row['separating_force_teacher']:+.2f} eV/A ({args.teacher})")
    out = Path(args.folders[0]) / "guard_vs_teacher.json"
    write_json_atomic(out, {"model": str(model_path(args.model)), "teacher": args.teacher, "stops": rows})
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
