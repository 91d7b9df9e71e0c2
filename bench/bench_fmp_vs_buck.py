"""Time per step (force evaluation) of pair_style fmp/lbs vs buck/coul/long, same numbers.

Both use fixed A, the same cutoff (10 A), pppm 1e-5 and LAMMPS's default Coulomb
table; fmp/lbs has the O-O and Si-O cores of the default file active (they cost
only the r < r0 test for the pairs outside r0). Prints the ratio (target <= 1.05).

    .venv/bin/python bench/bench_fmp_vs_buck.py [--atoms 1000 3000] [--steps 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fmp_helpers import (FIXED_FILE_TEXT, buck_commands, element_counts,  # noqa: E402
                         random_structure, set_charges_by_type, setup_box)

from pylbs.lammps_env import start_lammps  # noqa: E402

# same Buckingham numbers as buck_commands, plus the published cores
FMP_TEXT = (FIXED_FILE_TEXT
            .replace("C 192.580", "C 192.580 core 46.462 3.430 -0.32605 1.906")
            .replace("C 54.681", "C 54.681 core 28.950 3.9320 -3.059 1.168"))


def relax(box, fmp_file: Path):
    """Glass-like neighbour distances: relax the random box with fmp/lbs (cores stop collapse)."""
    lmp = start_lammps()
    try:
        setup_box(lmp, *box)
        lmp.commands_list([f"pair_style fmp/lbs 10.0", f"pair_coeff * * {fmp_file} Li B Si O",
                           "kspace_style pppm 1e-4", "minimize 1e-4 1e-4 100 1000"])
        x = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(len(box[1]), 3)
        return box[0], box[1], x % box[0]
    finally:
        lmp.close()


def time_style(style: str, box, fmp_file: Path, steps: int, repeats: int) -> float:
    lmp = start_lammps()
    try:
        setup_box(lmp, *box)
        if style == "buck":
            set_charges_by_type(lmp)
            lmp.commands_list(buck_commands(cut=10.0, kspace="pppm 1e-5", table=12))
        else:
            lmp.commands_list([f"pair_style fmp/lbs 10.0", f"pair_coeff * * {fmp_file} Li B Si O",
                               "kspace_style pppm 1e-5"])
        # no integrator: atoms stay put and every step recomputes pair + kspace
        # forces (bare Buckingham could collapse from a random start)
        lmp.commands_list(["neighbor 2.0 bin", "run 5"])
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            lmp.command(f"run {steps} pre no post no")
            best = min(best, (time.perf_counter() - t0) / steps)
        return best
    finally:
        lmp.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fmp_file = Path(tmp) / "bench.fmp"
        fmp_file.write_text(FMP_TEXT)
        for n in args.atoms:
            k = max(1, round(n / 36))  # LBS-30-30-40: (3, 3, 4) formula units = 36 atoms
            box = relax(random_structure(element_counts((3 * k, 3 * k, 4 * k)), seed=5, dmin=1.6),
                        fmp_file)
            natoms = len(box[1])
            tb = time_style("buck", box, fmp_file, args.steps, args.repeats)
            tf = time_style("fmp", box, fmp_file, args.steps, args.repeats)
            print(f"{natoms:6d} atoms: buck/coul/long {tb * 1e3:8.3f} ms/step, "
                  f"fmp/lbs {tf * 1e3:8.3f} ms/step, ratio {tf / tb:.3f}", flush=True)


if __name__ == "__main__":
    main()
