#!/usr/bin/env python
"""Where a DeepMD model's largest force errors against its labels sit (pylbs.mlp.worst_atoms):

    python scripts/worst_atoms.py MODEL DATASET [DATASET ...] [--part test] [--out FILE.json]

MODEL: a frozen .pth or a shipped name (default). DATASET: a pylbs dataset folder (dataset.json and
deepmd/npy systems: a loop's heldout/data, a shipped model's heldout or training-data/*). Per system it
prints the force RMSE and each frame's largest atom error by species and by environment (3B/4B,
4Si/5Si, O by the formers bonded to it: NBO, BO), which of them hold the frames' worst atoms, their
nearest neighbours, and the measured median of each frame's largest error against the Gaussian
reference from the same per-species RMSEs (the tail ratio: 1 when the worst atom is just the tail of
the typical error, which a lower RMSE lowers alike). Last, the overall force RMSE at which the Gaussian
reference's largest atom error reaches ``--trust`` (a trust level) in the median frame and in 99 % of
frames (the loop's goal is under 1 % candidates), with this species mix and with every atom alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pylbs.cli.common import run_guarded
from pylbs.errors import PylbsError
from pylbs.jsonio import write_json_atomic
from pylbs.mlp.datasets import dataset_systems, load_system
from pylbs.mlp.worst_atoms import CLASSES, anatomy, pool
from pylbs.potential.models import model_path


def systems_of(datasets, part: str) -> dict[str, Path]:
    """name -> deepmd/npy folder of every system in the datasets' ``part`` (train, test or all)."""
    out = {}
    for d in datasets:
        if not (Path(d) / "dataset.json").exists():
            raise PylbsError(f"{d} is not a pylbs dataset (no dataset.json): give a folder pylbs mlp label, "
                             "a loop (its heldout/data, iter-K/data) or a shipped model's heldout wrote")
        for p in ("train", "test") if part == "all" else (part,):
            for name, folder in dataset_systems(d, p).items():
                out[f"{Path(d).name}/{p}/{name}"] = folder
    if not out:
        raise PylbsError(f"no {part} frames in {', '.join(map(str, datasets))}: try --part all")
    return out


def print_table(title: str, rows: dict, names) -> None:
    print(f"  {title:<14} {'atoms':>7} {'RMSE':>7} {'of atoms':>9} {'of worst':>9}")
    for key in names:
        r = rows.get(key)
        if r:
            print(f"  {key:<14} {r['atoms']:>7} {r['force_rmse']:>7.3f} {100 * r['share_of_atoms']:>8.1f}% "
                  f"{100 * r['share_of_worst']:>8.1f}%")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("datasets", nargs="+", type=Path)
    ap.add_argument("--part", choices=("train", "test", "all"), default="all")
    ap.add_argument("--trust", type=float, default=0.25, help="a worst-atom level to translate into an RMSE (eV/A)")
    ap.add_argument("--out", type=Path, default=None, help="the numbers as JSON")
    return run_guarded(run, ap.parse_args(argv))


def run(args) -> int:
    model = model_path(args.model)
    if not Path(model).is_file():
        raise PylbsError(f"no model {args.model}: give a frozen .pth or a shipped name (default)")
    systems, datasets = {}, {}
    for d in args.datasets:
        parts = []
        for name, folder in systems_of([d], args.part).items():
            a = anatomy(model, load_system(folder), draws=20000, trust=args.trust)
            systems[name] = a
            parts.append(a)
            print(f"{name}: {a['frames']} frames x {a['atoms']} atoms, force RMSE {a['force_rmse']:.3f} eV/A per "
                  f"component; median largest atom error {a['median_largest_error']:.3f}, Gaussian reference "
                  f"{a['gaussian_median_largest_error']:.3f}, tail ratio {a['tail_ratio']:.2f}")
        p = datasets[str(d)] = pool(parts)
        print(f"\n{d} ({args.part}): {p['systems']} systems, {p['frames']} frames, force RMSE {p['force_rmse']:.3f} eV/A "
              f"per component")
        print_table("species", p["species"], ("Li", "B", "Si", "O"))
        print_table("environment", p["environment"], CLASSES)
        print(f"  median largest atom error {p['median_largest_error']:.3f} eV/A; tail ratio {p['tail_ratio']:.2f} "
              "(median of each frame's largest error over its system's Gaussian reference)")
        t = p["rmse_for_trust"]
        print(f"  largest atom error {args.trust:g} eV/A in the median frame asks for a force RMSE of {t['median']:.3f} "
              f"eV/A per component, in 99 % of frames {t['p99']:.3f} (Gaussian, this species mix; every atom "
              f"alike: {t['median_equal']:.3f} for the median)\n")
    if args.out:
        write_json_atomic(args.out, {"model": str(model), "part": args.part, "datasets": datasets, "systems": systems})
        print(f"numbers: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
