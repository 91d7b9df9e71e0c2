#!/usr/bin/env python
"""How much of the teacher's force depends on atoms beyond the DeepMD cutoff, and how much of that a model reproduces.

For frame pairs of MD runs (LAMMPS dumps with image flags), each sampled centre atom keeps its
frame's neighbours within ``--rcut`` and every other atom moves towards where it is ``--lag`` frames
later (pylbs.mlp.locality). The calculator's change of the centre's force is its dependence on atoms
beyond ``--rcut``. A DeepMD model's force depends on atoms up to twice its cutoff (through its
neighbours' atomic energies), so run the same swaps through the teacher and through a model and
compare: the part of the teacher's change the model does not reproduce is what it has not learned
or cannot.

    python scripts/teacher_locality.py DUMP ... --out /work/al/locality/teacher.json
    python scripts/teacher_locality.py DUMP ... --calculator /work/al/run7/iter-005/train-0/model.pth \\
        --out /work/al/locality/model0.json --against /work/al/locality/teacher.json

``--calculator``: a labeller name (``chgnet-r2scan``, ...), ``module:function``, or a DeepMD model
file (``.pth``/``.pb``, run as pylbs runs it). The same ``--rcut --ramp --lag --frames --pairs
--centres --seed`` give the same swaps, so two calculators are compared centre by centre.
NPT dumps: frame b is rescaled into frame a's box (fractional coordinates kept); the largest change
of a box length is recorded. Resumable: a dump already measured with the same settings is not redone.
"""

from __future__ import annotations

import argparse
import copy
import functools
import time
from pathlib import Path

import numpy as np

from pylbs.jsonio import read_json, write_json_atomic
from pylbs.lammps_io import dump_steps, read_trajectory
from pylbs.mlp.label import make_calculator
from pylbs.mlp.locality import closest_pair, outside_force_changes, summarise
from pylbs.potential.pair_wall import model_calculator
from pylbs.protocols.schedules import TIMESTEP_PS

SWAP_KEYS = ("rcut", "ramp", "lag", "frames", "pairs", "centres", "seed")


def into_box(b, a):
    """Frame ``b`` with its fractional coordinates put into ``a``'s box (NPT frames)."""
    b = b.copy()
    frac = np.linalg.solve(b.cell[:].T, b.positions.T).T
    b.set_cell(a.cell[:], scale_atoms=False)
    b.positions = frac @ a.cell[:]
    return b


def calculator_of(spec: str):
    if Path(spec).suffix in (".pth", ".pb"):
        if not Path(spec).is_file():
            raise SystemExit(f"--calculator {spec}: no such model file")
        return model_calculator(spec)
    calc = make_calculator(spec)
    if type(calc).__module__.startswith("chgnet."):  # chgnet is an optional teacher: import it only then
        from chgnet.model.dynamics import CHGNetCalculator

        # CHGNet computes the stress and magnetic moments too unless told not to: the swaps need forces
        # alone, and the rest costs 40 % of the memory (1197 atoms: 18.1 GB against 10.9), which decides
        # how large a box fits (boxes over 24 A to see beyond 12 A). A copy: the labeller's cached one
        # keeps its stress
        calc = copy.copy(calc)
        calc.calculate = functools.partial(CHGNetCalculator.calculate, calc, task="ef")
    return calc


def pair_starts(n_frames: int, span, lag: int, pairs: int) -> np.ndarray:
    first, stop = span or (0, n_frames)
    stop = min(stop, n_frames)
    room = stop - first - lag  # frames that can start a pair
    if room < pairs:
        raise SystemExit(f"{stop - first} frames in --frames {first}:{stop} give {max(room, 0)} pairs "
                         f"{lag} frames apart, not --pairs {pairs}: give fewer --pairs, a smaller --lag "
                         "or a wider --frames")
    return np.linspace(first, stop - 1 - lag, pairs).round().astype(int)


def measure_dump(path, calculator, settings) -> dict:
    rcut, ramp, lag = settings["rcut"], settings["ramp"], settings["lag"]
    if not Path(path).is_file():
        raise SystemExit(f"{path}: no such dump; give LAMMPS dumps (dump custom id type x y z ix iy iz)")
    starts = pair_starts(len(dump_steps(path)), settings["span"], lag, settings["pairs"])
    wanted = sorted({int(k) for k in starts} | {int(k) + lag for k in starts})
    traj = read_trajectory(path, frames=wanted, unwrap=True)
    at = {k: j for j, k in enumerate(wanted)}
    rng = np.random.default_rng(settings["seed"])
    samples, forces, skipped, moved, lag_ps, box_change = [], [], 0, [], [], []
    for k in starts:
        a, b_raw = traj.atoms(at[int(k)]), traj.atoms(at[int(k) + lag])
        b = into_box(b_raw, a)
        box_change.append(float(np.abs(b_raw.cell.lengths() / a.cell.lengths() - 1).max()))
        lag_ps.append(float(traj.steps[at[int(k) + lag]] - traj.steps[at[int(k)]]) * TIMESTEP_PS)
        centres = rng.choice(len(a), size=min(settings["centres"], len(a)), replace=False)
        # a swap must not make a pair closer than the run itself had (torn bonds at the sphere's surface)
        out = outside_force_changes(a, b, calculator, rcut, centres, 0.9 * min(closest_pair(a), closest_pair(b)), ramp)
        symbols = a.get_chemical_symbols()
        samples += [{"step": int(traj.steps[at[int(k)]]), "centre": i, "species": symbols[i], "change": c.tolist()}
                    for i, c in zip(out["centres"], out["changes"])]
        forces += out["forces"].tolist()
        skipped += len(out["skipped"])
        moved += out["moved"]
    species = np.array([s["species"] for s in samples])
    c, f = np.array([s["change"] for s in samples]).reshape(-1, 3), np.array(forces).reshape(-1, 3)
    return {
        "atoms": int(len(traj.ids)), "box_A": round(float(np.cbrt(traj.volumes[0])), 3),
        "lag_ps": [round(min(lag_ps), 4), round(max(lag_ps), 4)], "largest_box_length_change": max(box_change),
        "pairs": int(len(starts)), "skipped": skipped, "moved_mean": float(np.mean(moved)) if moved else 0.0,
        "all": summarise(c, f),
        "by_species": {s: summarise(c[species == s], f[species == s]) for s in sorted(set(species))},
        "samples": samples,
    }


def compare(mine: dict, other: dict) -> dict:
    """This calculator's changes against another's on the same swaps (matched by frame and centre)."""
    theirs = {(s["step"], s["centre"]): np.array(s["change"]) for s in other["samples"]}
    pairs = [(theirs[(s["step"], s["centre"])], np.array(s["change"])) for s in mine["samples"]
             if (s["step"], s["centre"]) in theirs]
    if not pairs:
        return {"n": 0}
    ref, me = (np.array(x) for x in zip(*pairs))
    return {"n": len(pairs), "reference_rms": float(np.sqrt(np.mean(ref ** 2))),
            "this_rms": float(np.sqrt(np.mean(me ** 2))),
            "difference_rms": float(np.sqrt(np.mean((me - ref) ** 2))),
            "correlation": float(np.corrcoef(ref.ravel(), me.ravel())[0, 1])}


def parse_span(text):
    if not text:
        return None
    try:
        first, stop = (int(x) for x in text.split(":"))
    except ValueError:
        raise SystemExit(f"--frames {text}: write START:STOP, e.g. 0:16") from None
    if not 0 <= first < stop:
        raise SystemExit(f"--frames {text}: START must be >= 0 and below STOP")
    return first, stop


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dumps", nargs="+", help="LAMMPS dumps (id type x y z ix iy iz) of MD runs")
    p.add_argument("--calculator", default="chgnet-r2scan", help="labeller name, module:function, or a DeepMD model file")
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
    p.add_argument("--against", default=None, help="another calculator's --out on the same swaps, to compare")
    args = p.parse_args(argv)
    for name in ("lag", "pairs", "centres"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} {getattr(args, name)}: give 1 or more")
    if args.rcut <= 0 or args.ramp < 0:
        raise SystemExit("--rcut must be > 0 and --ramp >= 0 (A)")
    span = parse_span(args.frames)

    settings = {"calculator": args.calculator, "rcut": args.rcut, "ramp": args.ramp, "lag": args.lag,
                "frames": args.frames, "pairs": args.pairs, "centres": args.centres, "seed": args.seed}
    record = read_json(args.out) or {"runs": []}
    calculator = None
    for dump in args.dumps:
        if any(r["dump"] == dump and r["settings"] == settings for r in record["runs"]):
            continue
        calculator = calculator or calculator_of(args.calculator)
        t0 = time.perf_counter()
        result = measure_dump(dump, calculator, {**settings, "span": span})
        result.update(dump=dump, settings=settings, wall_s=round(time.perf_counter() - t0, 1))
        record["runs"] = [r for r in record["runs"] if not (r["dump"] == dump and r["settings"] == settings)]
        record["runs"].append(result)
        write_json_atomic(args.out, record)
        print(f"[pylbs] {dump}: {result['all']['n']} centres in {result['wall_s']} s", flush=True)

    runs = [next(r for r in record["runs"] if r["dump"] == d and r["settings"] == settings) for d in args.dumps]
    print(f"\n{args.calculator}: atoms beyond {args.rcut} A (ramp {args.ramp} A) moved by {args.lag} frames "
          "(eV/A; rms per component)\n")
    print("| dump | atoms | species | n | change rms | median / p90 / max size per atom | force rms |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        for name, s in [("all", r["all"]), *r["by_species"].items()]:
            if s["n"]:
                print(f"| {r['dump']} | {r['atoms']} | {name} | {s['n']} | {s['component_rms']:.3f} | "
                      f"{s['norm_median']:.3f} / {s['norm_p90']:.3f} / {s['norm_max']:.3f} | "
                      f"{s['force_component_rms']:.3f} |")
    if args.against:
        other = read_json(args.against) or {"runs": []}
        swap = {k: settings[k] for k in SWAP_KEYS}
        print(f"\nagainst {args.against} (its change is the reference)\n")
        print("| dump | n | reference rms | this rms | difference rms | correlation |")
        print("|---|---|---|---|---|---|")
        for r in runs:
            ref = next((o for o in other["runs"] if o["dump"] == r["dump"]
                        and {k: o["settings"][k] for k in SWAP_KEYS} == swap), None)
            if ref is None:
                print(f"| {r['dump']} | no run with the same swaps in {args.against} | | | | |")
                continue
            c = compare(r, ref)
            r["against"] = {"file": args.against, **c}
            if c["n"]:
                print(f"| {r['dump']} | {c['n']} | {c['reference_rms']:.3f} | {c['this_rms']:.3f} | "
                      f"{c['difference_rms']:.3f} | {c['correlation']:.2f} |")
        write_json_atomic(args.out, record)


if __name__ == "__main__":
    main()
