"""Benchmark: the paper-faithful (frame-averaged) analysis of 100 frames of a 10,000-atom glass.

The frames: the bonded 9,900-atom former-O network of ``bench_analysis.py`` (every former
4-fold, so the ring search meets at least the rings of a real glass), each frame jittered
anew (0.05 A), written as one LAMMPS dump (``id type x y z``), as a run leaves its last 100 ps.
Timed: ``pylbs.analysis.analyze.analyze`` over all 100 frames (coordination, rings up to 12
formers, 3MR classes and identities, bond angles) with ``jobs`` = 1 on the first 10 frames
(per-frame cost) and ``jobs`` = 2 on all 100 (target: at most 60 s on 2 cores). Prints
both and their ratio from this one run.

    python bench/bench_analysis_frames.py [--frames 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analysis import network_frame  # noqa: E402

TYPES = {"Li": 1, "B": 2, "Si": 3, "O": 4}


def write_dump(path: Path, n_frames: int, seed: int = 0) -> int:
    base = network_frame(seed)
    box = base.cell.lengths()
    types = np.array([TYPES[s] for s in base.get_chemical_symbols()])
    ids = np.arange(1, len(base) + 1)
    rng = np.random.default_rng(seed + 1)
    with open(path, "w") as f:
        for k in range(n_frames):
            x = (base.positions + rng.normal(scale=0.05, size=base.positions.shape)) % box
            f.write(f"ITEM: TIMESTEP\n{1000 * k}\nITEM: NUMBER OF ATOMS\n{len(base)}\nITEM: BOX BOUNDS pp pp pp\n")
            f.write("".join(f"0 {L:.6f}\n" for L in box) + "ITEM: ATOMS id type x y z\n")
            np.savetxt(f, np.column_stack([ids, types, x]), fmt="%d %d %.5f %.5f %.5f")
    return len(base)


def main() -> None:
    from pylbs.analysis.analyze import analyze

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "frames.lammpstrj"
        n = write_dump(dump, args.frames)
        serial_frames = min(10, args.frames)
        t = time.perf_counter()
        analyze(dump, frames=f"0:{serial_frames}", jobs=1)
        per_frame = (time.perf_counter() - t) / serial_frames
        t = time.perf_counter()
        res = analyze(dump, jobs=args.jobs)
        wall = time.perf_counter() - t
    print(f"{args.frames} frames x {n} atoms (bonded B/Si-O network), rings <= 12 formers, 3MR classes")
    print(f"  serial, first {serial_frames} frames: {per_frame:.2f} s per frame "
          f"(-> {per_frame * args.frames:.0f} s for {args.frames} frames on one core)")
    print(f"  jobs={args.jobs}, all {args.frames} frames: {wall:.1f} s  (target <= 60 s on 2 cores); "
          f"speed-up over serial {per_frame * args.frames / wall:.2f}x; mean 4B {res['fraction_4B']:.3f}")


if __name__ == "__main__":
    main()
