"""The frames of a 2000 K stability check (``pylbs mlp stability --out RUN``) that the next
active-learning iteration should learn from: per glass, the dumped frames where a pair came
closest to the guard's limit (smallest distance / limit), and the frame the guard stopped on.

    python scripts/stability_frames.py runs/stab [runs/stab10 ...] --per-glass 8 \
        --exclude LBS-15-25-60 --out runs/hot-frames
    pylbs mlp label runs/hot-frames/*.extxyz --calculator chgnet-r2scan --out runs/hot-data

One extxyz per glass and run folder (``GLASS-RUNNAME.extxyz``); ``--exclude`` keeps the loop's
held-out glass out of its training data. The frames' order is the trajectory's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ase.io
import numpy as np
from ase.neighborlist import neighbor_list

from pylbs.lammps_io import TRAJECTORY_FILE, read_trajectory
from pylbs.protocols.guard import GUARD_DIR, GUARD_MIN_DISTANCES


def closeness(atoms, table) -> float:
    """The smallest distance / guard limit over all pairs of ``atoms`` (< 1: the guard would stop)."""
    table = {tuple(sorted(k)): v for k, v in table.items()}  # looked up sorted, as closest_pairs does
    i, j, d = neighbor_list("ijd", atoms, max(table.values()))
    sym = np.asarray(atoms.get_chemical_symbols())
    limit = np.array([table.get(tuple(sorted((a, b))), 0.0) for a, b in zip(sym[i], sym[j])])
    keep = limit > 0
    return float(np.min(d[keep] / limit[keep])) if keep.any() else np.inf


def glass_frames(folder: Path, per_glass: int, table) -> list:
    traj = read_trajectory(folder / TRAJECTORY_FILE, unwrap=False)
    frames = [traj.atoms(k) for k in range(len(traj.steps))]
    score = np.array([closeness(a, table) for a in frames])
    picked = [frames[k] for k in sorted(np.argsort(score, kind="stable")[:per_glass])]
    stops = sorted((folder / GUARD_DIR).glob("unphysical_step*.extxyz"))
    return picked + [ase.io.read(s) for s in stops]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="stability check folders (--out of pylbs mlp stability)")
    p.add_argument("--per-glass", type=int, default=8, help="closest-contact frames per glass (default 8)")
    p.add_argument("--exclude", nargs="*", default=[], help="glasses to leave out (the loop's held-out glass)")
    p.add_argument("--out", type=Path, required=True, help="folder for the extxyz files")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for run in args.runs:
        glasses = sorted(d for d in run.iterdir() if (d / TRAJECTORY_FILE).exists() and d.name not in args.exclude)
        if not glasses:
            sys.exit(f"{run} holds no glass folder with a {TRAJECTORY_FILE}; give the --out of pylbs mlp stability")
        for g in glasses:
            frames = glass_frames(g, args.per_glass, GUARD_MIN_DISTANCES)
            path = args.out / f"{g.name}-{run.resolve().name}.extxyz"
            ase.io.write(path, frames, format="extxyz")
            print(f"{path}: {len(frames)} frames, closest contact "
                  f"{min(closeness(a, GUARD_MIN_DISTANCES) for a in frames):.3f} x the guard's limit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
