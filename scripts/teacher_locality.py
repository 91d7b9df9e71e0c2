#!/usr/bin/env python
"""How much of the teacher's force comes from beyond the DeepMD cutoff: a floor under the student's error.

For frame pairs of MD runs (LAMMPS dumps with image flags), each centre atom keeps its frame's
neighbours within ``--rcut`` and every other atom is moved to where it is ``--lag`` frames later
(pylbs.mlp.locality). The teacher's force change on the centre is what a model with that cutoff
cannot see; its spread is label noise no training length or width removes.

    python scripts/teacher_locality.py /work/al/run7/iter-005/explore/LBS-20-60-20/nvt-2000K/trajectory.lammpstrj \\
        --calculator chgnet-r2scan --out /work/al/locality.json

Compare ``noise rms`` with the model's force error (per component, as ``dp test`` reports it) and
the per-frame largest change with the loop's lower trust level. NPT dumps: frame ``b`` is rescaled
into frame ``a``'s box (fractional coordinates kept), which for a 300 K NPT run changes lengths by
well under 1 %. Resumable per dump: a dump already in ``--out`` with the same settings is not redone.
Writes per-dump results and per-species statistics to ``--out`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pylbs.jsonio import read_json, write_json_atomic
from pylbs.lammps_io import read_trajectory
from pylbs.mlp.label import make_calculator
from pylbs.mlp.locality import outside_force_changes, summarise
from pylbs.protocols.schedules import TIMESTEP_PS


def into_box(b, a):
    """Frame ``b`` with its fractional coordinates put into ``a``'s box (NPT frames)."""
    b = b.copy()
    frac = np.linalg.solve(b.cell[:].T, b.positions.T).T
    b.set_cell(a.cell[:], scale_atoms=False)
    b.positions = frac @ a.cell[:]
    return b


def closest(atoms) -> float:
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def measure_dump(path, calculator, rcut, ramp, lag, pairs, centres_per_pair, seed, span=None) -> dict:
    traj = read_trajectory(path, unwrap=True)
    first, stop = span or (0, len(traj.steps))
    stop = min(stop, len(traj.steps))
    if stop - first <= lag:
        raise SystemExit(f"{path}: {stop - first} frames in --frames, not more than --lag {lag}; "
                         "give a smaller --lag or a wider --frames")
    rng = np.random.default_rng(seed)
    starts = np.linspace(first, stop - 1 - lag, pairs).round().astype(int)
    changes, forces, symbols, skipped, moved = [], [], [], 0, []
    for k in starts:
        a, b = traj.atoms(int(k)), traj.atoms(int(k) + lag)
        b = into_box(b, a)
        centres = rng.choice(len(a), size=min(centres_per_pair, len(a)), replace=False)
        # the swap must not create a pair closer than the run itself had
        out = outside_force_changes(a, b, calculator, rcut, centres, 0.9 * min(closest(a), closest(b)), ramp)
        changes.extend(out["changes"].tolist())
        forces.extend(out["forces"].tolist())
        symbols.extend(a.get_chemical_symbols()[i] for i in out["centres"])
        skipped += len(out["skipped"])
        moved.extend(out["moved"])
    symbols = np.array(symbols)
    c, f = np.array(changes).reshape(-1, 3), np.array(forces).reshape(-1, 3)
    return {
        "atoms": int(len(traj.ids)), "box_A": float(np.cbrt(traj.volumes[0])),
        "steps": [int(traj.steps[starts[0]]), int(traj.steps[starts[-1] + lag])],
        "lag_ps": round(float(traj.steps[lag] - traj.steps[0]) * TIMESTEP_PS, 4),
        "pairs": int(len(starts)), "skipped": skipped,
        "moved_mean": float(np.mean(moved)) if moved else 0.0,
        "all": summarise(c, f),
        "by_species": {s: summarise(c[symbols == s], f[symbols == s]) for s in sorted(set(symbols))},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dumps", nargs="+", help="LAMMPS dumps (id type x y z ix iy iz) of MD runs")
    p.add_argument("--calculator", default="chgnet-r2scan")
    p.add_argument("--rcut", type=float, default=6.0, help="the student's cutoff (A); the paper's is 6.0")
    p.add_argument("--ramp", type=float, default=2.0,
                   help="width (A) over which outside atoms go from kept to fully moved (keeps bonds whole)")
    p.add_argument("--lag", type=int, default=3, help="frames between a and b")
    p.add_argument("--frames", default=None, help="START:STOP, the dumped frames to draw pairs from "
                   "(e.g. the first frames of a heating ramp, still near 300 K)")
    p.add_argument("--pairs", type=int, default=4, help="frame pairs per dump")
    p.add_argument("--centres", type=int, default=12, help="centre atoms per frame pair")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    span = tuple(int(x) for x in args.frames.split(":")) if args.frames else None
    settings = {"calculator": args.calculator, "rcut": args.rcut, "ramp": args.ramp, "lag": args.lag,
                "frames": args.frames, "pairs": args.pairs,
                "centres": args.centres, "seed": args.seed}
    record = read_json(args.out) or {}
    calculator = None
    for dump in args.dumps:
        done = record.get(dump)
        if done and done.get("settings") == settings:
            continue
        calculator = calculator or make_calculator(args.calculator)
        t0 = time.perf_counter()
        result = measure_dump(dump, calculator, args.rcut, args.ramp, args.lag, args.pairs, args.centres, args.seed,
                              span)
        result["settings"], result["wall_s"] = settings, round(time.perf_counter() - t0, 1)
        record[dump] = result
        write_json_atomic(args.out, record)
        print(f"[pylbs] {dump}: {result['all']['n']} centres in {result['wall_s']} s", flush=True)

    print(f"\n{args.calculator}: atoms beyond {args.rcut} A (ramp {args.ramp} A) moved by {args.lag} frames (eV/A)\n")
    print("| dump | atoms | species | n | change rms/comp | noise rms/comp | median abs change | p90 | max | "
          "force rms/comp |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dump in args.dumps:
        r = record[dump]
        for name, s in [("all", r["all"]), *r["by_species"].items()]:
            if s["n"]:
                print(f"| {dump} | {r['atoms']} | {name} | {s['n']} | {s['component_rms']:.3f} | "
                      f"{s['noise_component_rms']:.3f} | {s['norm_median']:.3f} | {s['norm_p90']:.3f} | "
                      f"{s['norm_max']:.3f} | {s['force_component_rms']:.3f} |")


if __name__ == "__main__":
    main()
