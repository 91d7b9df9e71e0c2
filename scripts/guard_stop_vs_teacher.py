#!/usr/bin/env python
"""Was a guard stop the model's fault or its reference's? The closest pair of each overlap stop,
with the force pushing the two atoms apart from the DeepMD model and from the teacher it was
distilled from, on the frame the guard saved.

    python scripts/guard_stop_vs_teacher.py runs/stab --model default --teacher chgnet-r2scan [--card]

Reads every ``guard/event.json`` under the folders given (a `pylbs mlp stability` OUT, a quench
run, ...). "Separating force" is half the difference of the two atoms' forces projected on the
pair axis: positive pushes them apart. It includes every other neighbour's pull, so it is the
net push on that pair in that frame, not a pair potential. A model that pushes about as hard as
the teacher has learnt the teacher there: the approach is then the teacher's, and only a
better reference (DFT) moves it. Writes ``guard_vs_teacher.json`` into the first folder; with
``--card``, also adds each stop's two forces to the shipped model's card (its ``stability`` section,
as `pylbs mlp stability --card` wrote it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pylbs.jsonio import read_json, write_json_atomic
from pylbs.mlp import wall_fit
from pylbs.mlp.card import CARD_FILE, add_section
from pylbs.mlp.teachers import teacher_calculator
from pylbs.potential import model_calculator
from pylbs.potential.models import SHIPPED_DIR, model_path


def separating_force(atoms, i: int, j: int, calc) -> float:
    """Net force (eV/A) pushing atoms i and j apart along their minimum-image axis."""
    a = atoms.copy()
    a.calc = calc
    u = a.get_distance(i, j, mic=True, vector=True)
    return float(wall_fit.separating_force(a.get_forces(), np.array([i]), np.array([j]), u[None, :])[0])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="folders to search for guard/event.json")
    p.add_argument("--model", default="default", help="the DeepMD model that ran (a shipped name or a file)")
    p.add_argument("--teacher", default="chgnet-r2scan", help="its reference (pylbs.mlp.teachers)")
    p.add_argument("--card", action="store_true", help="add the forces to the shipped model's stability section")
    args = p.parse_args(argv)
    shipped = Path(model_path(args.model)).resolve()
    if args.card and shipped.parent.parent != SHIPPED_DIR:
        sys.exit(f"--card needs a shipped model (pylbs/data/models/NAME/model.pth), not {shipped}")
    from ase.io import read
    model = model_calculator(model_path(args.model))  # as it runs: with its pair wall, if it has one
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
    if args.card:
        section = (read_json(shipped.parent / CARD_FILE) or {}).get("stability")
        if not section:
            sys.exit(f"{shipped.parent.name}'s card has no stability section; run `pylbs mlp stability --card` first")
        for row in rows:
            glass = section["glasses"].get(Path(row["run"]).name)
            if glass is not None:
                glass["separating_force_eV_per_A"] = {"model": round(row["separating_force_model"], 2),
                                                      "teacher": round(row["separating_force_teacher"], 2)}
        section["teacher_check"] = ("python scripts/guard_stop_vs_teacher.py " + " ".join(args.folders)
                                    + f" --model {args.model} --teacher {args.teacher} --card")
        add_section(shipped.parent.name, "stability", section)
        print(f"card of {shipped.parent.name}: stability section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
