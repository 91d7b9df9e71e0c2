#!/usr/bin/env python
"""Fit a model's pair wall to what a stiffer reference adds at close contacts, and lay it beside the model.

    python scripts/fit_pair_wall.py DATA [DATA ...] --reference gfn1-xtb --work runs/wallfit \
        [--model lbs-chgnet-r2scan-2] [--workers 2]
    python scripts/fit_pair_wall.py HOT-DATA [...] --against-model lbs-chgnet-r2scan-2 \
        --pairs O-O Li-O Li-Si --work runs/wallfit-teacher [--model lbs-chgnet-r2scan-2]

DATA are teacher-labelled deepmd/npy sets (``train``/``test`` folders of systems, as in a shipped
model's ``training-data/``): their forces are the teacher's. Every frame is labelled again by the
reference (resumable: one file per frame under ``--work``), the close pairs of the walled element
pairs give reference-minus-teacher separating forces, and :func:`pylbs.mlp.wall_fit.fit_wall`
fits the wall. Writes ``--work/pair_wall.json`` (the wall, the fit's binned table and how it was
made); ``--model NAME`` also copies it beside that shipped model, which then runs with it
(:mod:`pylbs.potential.pair_wall`).

Wall cation-cation pairs only, and only where the reference is right: by default B-B, B-Li and
B-Si, where DFT on clusters confirms GFN1-xTB (Li-Li, Li-Si, Si-Si: xTB is 2-3x too stiff). Anion
pairs (Li-O, B-O, O-O) are bonds or near-bond distances, where a difference between two methods is
a difference in structure, not a missing wall.

``--against-model MODEL``: the reference is the teacher itself (the forces in DATA) and the soft
side is the model as it runs (network plus its wall, if any). This is for contacts the network
rarely saw in training and so pushes apart less than its teacher does (the 2000 K stops on O-O
and Li-O, docs/models.md): there the teacher is right by construction, since it is what the model
is meant to follow. DATA should then be frames of the model's own hot liquids (e.g.
``scripts/stability_frames.py`` + ``pylbs mlp label``), where such contacts occur. The new terms
are added to the model's wall; pairs it already walls cannot be fitted again this way.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from pylbs.jsonio import read_json
from pylbs.mlp.datasets import load_system
from pylbs.mlp.label import frames_of_system, label_frames
from pylbs.mlp.card import record_wall
from pylbs.mlp.wall_fit import contact_rows, fit_wall
from pylbs.potential.models import model_path
from pylbs.potential.pair_wall import WALL_FILE, PairWall, model_calculator, sorted_pair, wall_of

#: Fit window per pair (A): well past the closest contacts, up to where the two methods agree.
#: For pairs with an anion, below every real first-shell distance (Li-O bonds ~1.9-2.1 A,
#: O-O edges of BO3/BO4/SiO4 ~2.35-2.65 A): a wall there would change structure, not contacts.
WINDOWS = {"B-B": 2.4, "Li-Li": 2.5, "B-Li": 2.3, "B-Si": 2.6, "Li-Si": 2.5, "Si-Si": 2.8,
           "Li-O": 1.7, "O-O": 2.15}
#: Where DFT (scripts/cluster_contact_check.py) agrees with GFN1-xTB at close contacts; for Li-Li,
#: Li-Si and Si-Si xTB is 2-3x stiffer than DFT, so a wall fitted to it there would be wrong.
XTB_CONFIRMED = ("B-B", "B-Li", "B-Si")


def systems(data: list[Path]) -> list[Path]:
    found = sorted(p.parent for d in data for p in Path(d).glob("*/*/type.raw") if p.parent.parent.name in
                   ("train", "test"))
    if not found:
        sys.exit(f"no deepmd/npy systems (train|test/<system>/type.raw) under {' '.join(map(str, data))}")
    return found


def reference_forces(folder: Path, system, atoms, reference: str, work: Path, workers: int):
    """(kept frame indices, teacher forces, reference forces): the frames the reference labelled."""
    rel = folder.relative_to(folder.parents[2])
    # close-contact frames are where xTB's SCF fails: fit on the rest, as the frames' own failures
    label_frames(atoms, work / "labels" / rel, calculator=reference, n_workers=workers, name=str(rel), progress=False,
                 stop_when_most_fail=False)
    keep, f_teacher, f_ref = [], [], []
    for k in range(len(atoms)):
        result = json.loads((work / "labels" / rel / "frames" / f"{k:06d}.json").read_text())
        if result["status"] == "ok":
            keep.append(k)
            f_teacher.append(np.asarray(system["forces"][k]))
            f_ref.append(np.asarray(result["forces"]))
    return keep, f_teacher, f_ref


def model_forces(system, atoms, calc):
    """(every frame, the model's forces as it runs, the teacher's forces from the data)."""
    f_model = []
    for a in atoms:
        a = a.copy()
        a.calc = calc
        f_model.append(a.get_forces())
    return list(range(len(atoms))), f_model, [np.asarray(f) for f in system["forces"]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", type=Path, help="teacher-labelled deepmd/npy sets")
    p.add_argument("--reference", help="the stiffer labeller (pylbs.mlp.label; default gfn1-xtb)")
    p.add_argument("--against-model", metavar="MODEL",
                   help="fit the teacher (DATA's forces) minus this model as it runs (a shipped name or a "
                        "model file); the new terms are added to its wall")
    p.add_argument("--work", type=Path, required=True, help="folder for the reference's labels and the fit")
    p.add_argument("--pairs", nargs="+",
                   help="element pairs to wall (default with --reference: where DFT confirms GFN1-xTB, "
                        "docs/models.md; with --against-model they must be given)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", help="a shipped model to lay the wall beside (pylbs/data/models/NAME/)")
    args = p.parse_args(argv)
    if args.against_model and args.reference:
        sys.exit("--against-model fits the teacher (DATA's forces) minus the model; --reference fits a labeller "
                 "minus the teacher: give one of them")
    if args.against_model and not args.pairs:
        sys.exit(f"--against-model needs --pairs (e.g. O-O Li-O Li-Si; windows are set for {', '.join(WINDOWS)})")
    args.reference = args.reference or "gfn1-xtb"
    pairs = ["-".join(sorted_pair(k)) for k in (args.pairs or XTB_CONFIRMED)]
    unset = [k for k in pairs if k not in WINDOWS]
    if args.against_model and unset:  # B-O, O-Si: a 2.5 A default window would reach into the bonds
        sys.exit(f"no fit window is set for {', '.join(unset)} (scripts/fit_pair_wall.py WINDOWS): a wall there "
                 "would reach real bonds")
    windows = {k: WINDOWS.get(k, 2.5) for k in pairs}
    base = PairWall()
    if args.against_model:
        model_file = Path(model_path(args.against_model))
        base = wall_of(model_file) or base
        if args.model and Path(model_path(args.model)).resolve() != model_file.resolve():
            sys.exit(f"--model {args.model} is not --against-model {args.against_model}: the wall fitted against one "
                     "model (and holding its earlier terms) belongs beside that model only")
        again = sorted(set(pairs) & {"-".join(k) for k in base.terms})
        if again:
            sys.exit(f"{model_file.parent / WALL_FILE} already walls {', '.join(again)}; fitting the teacher minus "
                     "the walled model there would stack a second wall on the first: leave them out of --pairs")
        calc = model_calculator(model_file)
    frames, f_soft, f_ref, sources = [], [], [], []
    t0 = time.perf_counter()
    for folder in systems(args.data):
        system = load_system(folder)
        atoms = frames_of_system(system)
        if args.against_model:
            keep, soft, ref = model_forces(system, atoms, calc)
        else:
            keep, soft, ref = reference_forces(folder, system, atoms, args.reference, args.work, args.workers)
        frames += [atoms[k] for k in keep]
        f_soft += soft
        f_ref += ref
        info = ((read_json(folder.parents[1] / "dataset.json") or {}).get("systems") or {}).get(folder.name) or {}
        sources.append({"system": str(folder.relative_to(folder.parents[2])), "frames": len(atoms),
                        "teacher": (info.get("labeller") or {}).get("name")})
    label_s = time.perf_counter() - t0
    rows = contact_rows(frames, f_soft, f_ref, windows)
    fitted, report = fit_wall(frames, rows, pairs)
    command = "python scripts/fit_pair_wall.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    fitted = type(fitted)({k: v for k, v in fitted.terms.items() if v[0] > 0})  # A = 0: no wall, and no block
    if args.against_model:
        # the earlier command laid its wall beside the model (--model), so the two in order make this file
        about = {"made_by": " && ".join(c for c in (base.about.get("made_by"), command) if c),
                 "bins": "each bin's reference_minus_teacher is the teacher minus the model here",
                 "reference": "the teacher (DATA's forces)", "soft_side": f"{model_file} as it runs",
                 "data": [str(d) for d in args.data], "frames": len(frames), "systems": sources,
                 "model_forces_s": round(label_s, 1), "fit": report, "extends": base.about or None,
                 "meaning": ("added to the DeepMD model: for the pairs of this fit, the force by which the teacher "
                             "pushes close pairs apart harder than the model (network plus its earlier wall) does")}
        wall = PairWall({**base.terms, **fitted.terms}, about)
    else:
        wall = PairWall(fitted.terms, {
            "made_by": command, "reference": args.reference, "data": [str(d) for d in args.data],
            "frames": len(frames), "systems": sources, "labelling_s": round(label_s, 1), "fit": report,
            "meaning": ("added to the DeepMD model: the force by which the reference pushes close pairs apart "
                        "harder than the teacher the model was distilled from")})
    args.work.mkdir(parents=True, exist_ok=True)
    out = wall.write(args.work / WALL_FILE)
    soft_name = "model" if args.against_model else "teacher"
    ref_name = "teacher" if args.against_model else "reference"
    print(f"{len(frames)} frames, {report['rows']} close pairs; rms {ref_name} - {soft_name} "
          f"{report['rms_before_eV_per_A']:.3f} -> {report['rms_after_eV_per_A']:.3f} eV/A after the wall")
    for name in pairs:
        if sorted_pair(name) not in fitted.terms:
            print(f"{name}: no wall (the fit's amplitude is 0: the {ref_name} pushes no harder than the {soft_name})")
    for pair, (a, rho, r_in, rc) in sorted(fitted.terms.items()):
        name = "-".join(pair)
        print(f"{name:6s} A {a:10.4g} eV  rho {rho:.2f}  taper {r_in:.2f}-{rc:.2f} A  "
              f"E(1.6 A) {float(wall.pair_energy(pair, 1.6)):.3f} eV  F(1.6 A) {float(wall.pair_force(pair, 1.6)):.2f} eV/A")
        if report["pairs"][name]["at_grid_edge"]:
            print(f"    {', '.join(report['pairs'][name]['at_grid_edge'])} at the edge of its grid: the best fit may lie "
                  "outside it (pylbs.mlp.wall_fit.RHO_GRID / the window)")
        for b in report["pairs"][name]["bins"]:
            print(f"    {b['r_A'][0]:.1f}-{b['r_A'][1]:.1f} A  n {b['n']:4d}  {ref_name} - {soft_name} "
                  f"{b['reference_minus_teacher']:+.2f}  wall {b['wall']:+.2f} eV/A")
    print(out)
    if args.model:
        target = Path(model_path(args.model)).parent / WALL_FILE
        shutil.copy(out, target)
        if (target.parent / "card.json").exists():  # a shipped model: its card lists the wall too
            record_wall(target.parent.name, target.parent.parent)
        print(f"{target}: {args.model} now runs with this wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
