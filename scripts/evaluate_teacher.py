#!/usr/bin/env python
"""Measure every installed teacher (pylbs.mlp.teachers) on LBS-relevant structures.

One command, resumable (each measurement is cached as JSON under OUT/<teacher>/)::

    python scripts/evaluate_teacher.py                      # full run, all installed teachers
    python scripts/evaluate_teacher.py --quick              # a couple of minutes per teacher
    python scripts/evaluate_teacher.py --teachers chgnet-r2scan,chgnet-mptrj --out runs/teacher-eval
    python scripts/evaluate_teacher.py --report-only        # table from the cached results

Measurements per teacher (energies eV, forces eV/A, stress GPa, ASE sign: pressure = -trace/3):

1. crystals at their experimental structure (pylbs.mlp.generate: Li2O, alpha-quartz, Li2SiO3,
   Li2Si2O5; no borate is built in, see generate.py): energy/atom, max |F|, pressure, max |stress|;
   then a full cell + position relaxation (ASE FrechetCellFilter + FIRE): lattice parameters and
   density vs experiment (%), mean Si-O / Li-O bond lengths vs the experimental structure.
2. FMP glasses (pylbs.melt_quench, ~100 atoms, time_scale 0.01, at the measured density) of
   catalogue compositions: 4B, mean B-O / Si-O before and after a fixed-cell FIRE relaxation,
   and the teacher's pressure on the relaxed glass (its preferred density vs the measured one).
3. a short teacher-driven quench (ASE Langevin NVT, 1 fs): FMP glass heated to 1500 K, held,
   cooled linearly to 300 K, held, then FIRE-relaxed; 4B vs the measured value (pylbs.glasses.CATALOG).
   Skipped, with the reason recorded, when the measured cost per step times the number of steps
   exceeds --quench-budget-min.
4. labelling speed: seconds per energy+forces+stress call at ~100 and ~300 atoms on 1 and 2 torch
   threads (median of --speed-reps calls, after one warm-up; the 1-minute load average is recorded,
   since the machine may be shared).

Writes OUT/results.json and OUT/results.md. Deterministic: fixed seeds for velocities and Langevin noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GPA_PER_EV_A3 = 160.21766208

#: Bond cutoffs (A) used for mean bond lengths: pylbs.analysis.coordination's cation-O cutoffs.
BOND_CUTOFFS = {"B": 1.9, "Si": 2.0, "Li": 2.6}


# ------------------------------------------------------------------ structures

def alpha_quartz():
    """alpha-quartz SiO2 (P3_121, No. 152), 9 atoms: a = 4.914, c = 5.406 A; Si 3a (x, 0, 1/3),
    O 6c. Numbers from the AFLOW prototype A2B_hP9_152_c_a (``--params=4.914,1.10012210012,0.4699,
    0.413,0.2668,0.214``, AFLOW Library of Crystallographic Prototypes Part 1, Mehl et al., Comp. Mat.
    Sci. 136, S1 (2017), source file aflow_anrl.cpp). As built: Si-O 1.606 and 1.612 A (published
    1.605/1.614 A, Levien et al., Am. Mineral. 65, 920 (1980)), 2.648 g/cm^3 (published 2.648)."""
    from ase.spacegroup import crystal

    a = 4.914
    return crystal(["Si", "O"], basis=[(0.4699, 0.0, 1 / 3), (0.413, 0.2668, 0.214)], spacegroup=152,
                   cellpar=[a, a, a * 1.10012210012, 90, 90, 120])


def crystals() -> dict:
    from pylbs.mlp.generate import CRYSTALS

    out = {name: make() for name, make in CRYSTALS.items()}
    out["alpha-quartz"] = alpha_quartz()
    return out


def density_g_cm3(atoms) -> float:
    return float(atoms.get_masses().sum() * 1.66053907 / atoms.get_volume())


def mean_bonds(atoms) -> dict:
    """Mean cation-O distance (A) below BOND_CUTOFFS, per cation present."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, max(BOND_CUTOFFS.values()))
    sym = np.array(atoms.get_chemical_symbols())
    out = {}
    for el, rc in BOND_CUTOFFS.items():
        m = (sym[i] == el) & (sym[j] == "O") & (d < rc)
        if m.any():
            out[f"{el}-O"] = float(d[m].mean())
    return out


def fmp_glass(name: str, workdir: Path, n_atoms: int = 100):
    """A ~n_atoms FMP glass (pylbs.melt_quench, time_scale 0.01, seed 1), cached in workdir."""
    from pylbs.melt_quench import FINAL_DATA, run_fmp_melt_quench
    from pylbs.structure import read_lammps_data

    out = workdir / "fmp-glasses" / name
    if not (out / FINAL_DATA).exists():
        run_fmp_melt_quench(name, n_atoms, out, time_scale=0.01, seed=1)
    atoms = read_lammps_data(out / FINAL_DATA)
    atoms.pbc = True
    return atoms


def fraction_4B(atoms) -> float:
    from pylbs.analysis.coordination import coordination

    return float(coordination(atoms).fraction_4B)


# ------------------------------------------------------------------ measurements

def static(atoms, calc) -> dict:
    a = atoms.copy()
    a.calc = calc
    e = a.get_potential_energy()
    f = a.get_forces()
    s = a.get_stress() * GPA_PER_EV_A3
    return {"energy_eV_per_atom": float(e / len(a)), "max_force_eV_A": float(np.abs(f).max()),
            "pressure_GPa": float(-s[:3].mean()), "max_abs_stress_GPa": float(np.abs(s).max()),
            "stress_voigt_GPa": [float(x) for x in s]}


def relax_crystal(atoms, calc, fmax: float, steps: int) -> dict:
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    exp = atoms.copy()
    a = atoms.copy()
    a.calc = calc
    opt = FIRE(FrechetCellFilter(a), logfile=None)
    t0 = time.perf_counter()
    converged = bool(opt.run(fmax=fmax, steps=steps))
    par_exp, par = exp.cell.cellpar(), a.cell.cellpar()
    rho_exp, rho = density_g_cm3(exp), density_g_cm3(a)
    b_exp, b = mean_bonds(exp), mean_bonds(a)
    return {"converged": converged, "steps": int(opt.nsteps), "seconds": time.perf_counter() - t0,
            "fmax": fmax, "energy_eV_per_atom": float(a.get_potential_energy() / len(a)),
            "cellpar": [float(x) for x in par], "cellpar_exp": [float(x) for x in par_exp],
            "lattice_error_percent": [float(100 * (p / q - 1)) for p, q in zip(par[:3], par_exp[:3])],
            "density_g_cm3": rho, "density_exp_g_cm3": rho_exp,
            "density_error_percent": float(100 * (rho / rho_exp - 1)),
            "bonds_A": b, "bonds_exp_A": b_exp,
            "bond_error_A": {k: float(b[k] - b_exp[k]) for k in b if k in b_exp}}


def relax_glass(atoms, calc, fmax: float, steps: int) -> dict:
    from ase.optimize import FIRE

    before = {"fraction_4B": fraction_4B(atoms), "bonds_A": mean_bonds(atoms)}
    a = atoms.copy()
    a.calc = calc
    e0 = float(a.get_potential_energy() / len(a))
    opt = FIRE(a, logfile=None)
    t0 = time.perf_counter()
    converged = bool(opt.run(fmax=fmax, steps=steps))
    s = a.get_stress() * GPA_PER_EV_A3
    return {"n_atoms": len(a), "density_g_cm3": density_g_cm3(a), "converged": converged,
            "steps": int(opt.nsteps), "seconds": time.perf_counter() - t0, "fmax": fmax,
            "energy_before_eV_per_atom": e0, "energy_after_eV_per_atom": float(a.get_potential_energy() / len(a)),
            "before": before, "after": {"fraction_4B": fraction_4B(a), "bonds_A": mean_bonds(a)},
            "pressure_after_GPa": float(-s[:3].mean())}


def quench(atoms, calc, steps: tuple, seed: int, t_high: float = 1500.0, t_low: float = 300.0,
           timestep_fs: float = 1.0, friction_per_fs: float = 0.02, relax_steps: int = 100) -> dict:
    """Langevin NVT: hold t_high for steps[0], cool linearly to t_low over steps[1], hold steps[2];
    then FIRE (fmax 0.05, relax_steps). 4B sampled every 25 steps of the high-T hold."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.optimize import FIRE

    n_hold, n_cool, n_final = steps
    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(a, temperature_K=t_high, rng=rng)
    Stationary(a)
    dyn = Langevin(a, timestep_fs * units.fs, temperature_K=t_high, friction=friction_per_fs / units.fs,
                   rng=rng, logfile=None)
    t0 = time.perf_counter()
    hot_4b, temps = [], []
    for k in range(0, n_hold, 25):
        dyn.run(min(25, n_hold - k))
        hot_4b.append(fraction_4B(a))
        temps.append(float(a.get_temperature()))
    chunk = 25
    for k in range(0, n_cool, chunk):
        n = min(chunk, n_cool - k)
        dyn.set_temperature(temperature_K=t_high + (t_low - t_high) * (k + n) / n_cool)
        dyn.run(n)
    dyn.set_temperature(temperature_K=t_low)
    dyn.run(n_final)
    md_seconds = time.perf_counter() - t0
    f4_md = fraction_4B(a)
    opt = FIRE(a, logfile=None)
    opt.run(fmax=0.05, steps=relax_steps)
    s = a.get_stress() * GPA_PER_EV_A3
    return {"n_atoms": len(a), "steps": {"hold_high": n_hold, "cool": n_cool, "hold_low": n_final},
            "t_high_K": t_high, "t_low_K": t_low, "timestep_fs": timestep_fs, "friction_per_fs": friction_per_fs,
            "cooling_rate_K_per_ps": (t_high - t_low) / (n_cool * timestep_fs * 1e-3) if n_cool else None,
            "seed": seed, "md_seconds": md_seconds, "seconds_per_step": md_seconds / max(1, sum(steps)),
            "fraction_4B_during_high_T_hold": hot_4b, "temperature_during_hold_K": temps,
            "fraction_4B_end_of_md": f4_md, "fraction_4B_relaxed": fraction_4B(a),
            "bonds_relaxed_A": mean_bonds(a), "pressure_relaxed_GPa": float(-s[:3].mean()),
            "relax_steps": int(opt.nsteps)}


def speed(teacher: str, glass, sizes=(1, 3), threads=(1, 2), reps: int = 3) -> dict:
    import torch

    from pylbs.mlp.teachers import teacher_calculator

    calc = teacher_calculator(teacher)
    rng = np.random.default_rng(7)
    out = {}
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for rep in sizes:
            base = glass.repeat((rep, 1, 1))
            times = []
            for k in range(reps + 1):
                a = base.copy()
                a.positions += rng.normal(0, 0.02, a.positions.shape)
                a.calc = calc
                t0 = time.perf_counter()
                a.get_forces()
                a.get_stress()
                if k:  # the first call is a warm-up
                    times.append(time.perf_counter() - t0)
            out[f"{len(base)}_atoms_{n_threads}_threads"] = {
                "n_atoms": len(base), "threads": n_threads, "seconds_per_frame": float(np.median(times)),
                "all_seconds": times, "load_average_1min": os.getloadavg()[0]}
    torch.set_num_threads(max(threads))
    return out


def speed_interleaved(teacher_names, glass, rounds: int = 3, threads: int = 1) -> dict:
    """Seconds per energy+forces+stress call of several teachers on the same frame, called in turn
    (A B A B ...) in one process on ``threads`` torch threads, so that a varying machine load
    affects each alike; median per teacher and the ratio to the first one."""
    import torch

    from pylbs.mlp.teachers import teacher_calculator

    torch.set_num_threads(threads)
    calcs = {n: teacher_calculator(n) for n in teacher_names}
    times = {n: [] for n in teacher_names}
    rng = np.random.default_rng(11)
    for k in range(rounds + 1):
        a0 = glass.copy()
        a0.positions += rng.normal(0, 0.02, a0.positions.shape)
        for n, calc in calcs.items():
            a = a0.copy()
            a.calc = calc
            t0 = time.perf_counter()
            a.get_forces()
            a.get_stress()
            if k:  # first round: warm-up
                times[n].append(time.perf_counter() - t0)
    med = {n: float(np.median(t)) for n, t in times.items()}
    first = teacher_names[0]
    return {"n_atoms": len(glass), "threads": threads, "rounds": rounds, "seconds": times,
            "median_seconds": med, "ratio_to_" + first: {n: med[n] / med[first] for n in med},
            "load_average_1min": os.getloadavg()[0]}


# ------------------------------------------------------------------ driver

def cached(path: Path, compute):
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)
    return value


def evaluate(teacher: str, args, workdir: Path) -> dict:
    import torch

    from pylbs.glasses import CATALOG
    from pylbs.mlp.teachers import provenance, teacher_calculator

    torch.set_num_threads(args.threads)
    d = workdir / teacher
    res = {"provenance": cached(d / "provenance.json", lambda: provenance(teacher))}
    calc = teacher_calculator(teacher)
    log = lambda msg: print(f"[{teacher}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    res["crystals"] = {}
    for name, atoms in crystals().items():
        if "crystals" not in args.stages or (args.crystals and name not in args.crystals):
            continue
        log(f"crystal {name}")
        res["crystals"][name] = {
            "n_atoms": len(atoms),
            "experimental": cached(d / f"crystal-{name}-static.json", lambda: static(atoms, calc)),
            "relaxed": cached(d / f"crystal-{name}-relax.json",
                              lambda: relax_crystal(atoms, calc, args.crystal_fmax, args.crystal_steps))}
    res["glasses"] = {}
    for g in (args.glasses if "glasses" in args.stages else []):
        log(f"glass {g}")
        atoms = fmp_glass(g, workdir)
        r = cached(d / f"glass-{g}-relax.json", lambda: relax_glass(atoms, calc, args.glass_fmax, args.glass_steps))
        r["measured_4B"] = CATALOG[g].measured_4B / 100 if g in CATALOG else None
        res["glasses"][g] = r
    res["speed"] = {}
    if "speed" in args.stages or (d / "speed.json").exists():
        res["speed"] = cached(d / "speed.json", lambda: speed(teacher, fmp_glass(args.speed_glass, workdir),
                                                              sizes=args.speed_sizes, threads=args.speed_threads,
                                                              reps=args.speed_reps))
    torch.set_num_threads(args.threads)
    res["quench"] = {}
    steps = tuple(args.quench_steps)
    for g in (args.quench_glasses if "quench" in args.stages else []):
        path = d / f"quench-{g}-{'-'.join(map(str, steps))}.json"
        atoms = fmp_glass(g, workdir)
        if not path.exists() and res["speed"]:  # estimate the cost from this teacher's measured speed first
            per_step = _seconds_per_step(res["speed"], len(atoms), args.threads)
            est_min = per_step * sum(steps) / 60
            if est_min > args.quench_budget_min:
                res["quench"][g] = {"skipped": f"estimated {est_min:.0f} min ({per_step:.2f} s/step x {sum(steps)} "
                                               f"steps) > --quench-budget-min {args.quench_budget_min}"}
                log(res["quench"][g]["skipped"])
                continue
        log(f"quench {g} {steps}")
        r = cached(path, lambda: quench(atoms, calc, steps, seed=args.seed, relax_steps=args.quench_relax_steps))
        r["measured_4B"] = CATALOG[g].measured_4B / 100 if g in CATALOG else None
        res["quench"][g] = r
    return res


def _seconds_per_step(speed_result: dict, n_atoms: int, threads: int) -> float:
    rows = [v for v in speed_result.values() if v["threads"] == threads] or list(speed_result.values())
    best = min(rows, key=lambda v: abs(v["n_atoms"] - n_atoms))
    return best["seconds_per_frame"] * n_atoms / best["n_atoms"]


def _f(x, fmt="{:.3f}"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def markdown(results: dict) -> str:
    lines = ["# Teacher evaluation (scripts/evaluate_teacher.py)", ""]
    names = list(results)
    lines += ["## Provenance", "", "| teacher | package | version | training | weight sha256 |", "|---|---|---|---|---|"]
    for n in names:
        p = results[n]["provenance"]
        lines.append(f"| {n} | {p['package']} | {p['version']} | {p['training']} | `{p['weight_sha256'][:16]}...` |")
    crystals_ = sorted({c for n in names for c in results[n]["crystals"]})
    lines += ["", "## Crystals at the experimental structure: pressure (GPa), max |F| (eV/A)", "",
              "| teacher | " + " | ".join(crystals_) + " |", "|---|" + "---|" * len(crystals_)]
    for n in names:
        cells = []
        for c in crystals_:
            r = results[n]["crystals"].get(c)
            cells.append("-" if r is None else f"{_f(r['experimental']['pressure_GPa'], '{:+.2f}')} / "
                         f"{_f(r['experimental']['max_force_eV_A'], '{:.2f}')}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "## Crystals relaxed (FrechetCellFilter + FIRE): density error %, mean Si-O / Li-O error (A)", "",
              "| teacher | " + " | ".join(crystals_) + " | mean abs density error % |", "|---|" + "---|" * (len(crystals_) + 1)]
    for n in names:
        cells, errs = [], []
        for c in crystals_:
            r = results[n]["crystals"].get(c)
            if r is None:
                cells.append("-")
                continue
            rr = r["relaxed"]
            errs.append(abs(rr["density_error_percent"]))
            be = rr["bond_error_A"]
            cells.append(f"{rr['density_error_percent']:+.1f} % (Si-O {_f(be.get('Si-O'), '{:+.3f}')}, "
                         f"Li-O {_f(be.get('Li-O'), '{:+.3f}')}){'' if rr['converged'] else ' *'}")
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {_f(float(np.mean(errs)) if errs else None, '{:.1f}')} |")
    lines += ["", "(* = not converged within the step limit)", "",
              "## FMP glasses, fixed-cell FIRE relaxation: 4B before -> after (measured), mean B-O / Si-O after (A), "
              "pressure after (GPa)", "", "| teacher | glass | 4B FMP | 4B relaxed | 4B measured | B-O | Si-O | P (GPa) |",
              "|---|---|---|---|---|---|---|---|"]
    for n in names:
        for g, r in results[n]["glasses"].items():
            b = r["after"]["bonds_A"]
            lines.append(f"| {n} | {g} ({r['n_atoms']} at.) | {100 * r['before']['fraction_4B']:.1f} | "
                         f"{100 * r['after']['fraction_4B']:.1f} | {_f(100 * r['measured_4B'] if r['measured_4B'] else None, '{:.1f}')} | "
                         f"{_f(b.get('B-O'))} | {_f(b.get('Si-O'))} | {r['pressure_after_GPa']:+.2f} |")
    lines += ["", "## Teacher-driven quench (Langevin NVT 1 fs, 1500 K -> 300 K, then FIRE): 4B (%)", "",
              "| teacher | glass | steps hold/cool/hold | cooling rate (K/ps) | 4B at 1500 K (mean) | 4B end of MD | "
              "4B relaxed | 4B measured | s/step |", "|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        for g, r in results[n]["quench"].items():
            if "skipped" in r:
                lines.append(f"| {n} | {g} | skipped: {r['skipped']} | | | | | | |")
                continue
            st = r["steps"]
            lines.append(f"| {n} | {g} | {st['hold_high']}/{st['cool']}/{st['hold_low']} | "
                         f"{_f(r['cooling_rate_K_per_ps'], '{:.0f}')} | {100 * np.mean(r['fraction_4B_during_high_T_hold']):.1f} | "
                         f"{100 * r['fraction_4B_end_of_md']:.1f} | {100 * r['fraction_4B_relaxed']:.1f} | "
                         f"{_f(100 * r['measured_4B'] if r['measured_4B'] else None, '{:.1f}')} | {r['seconds_per_step']:.2f} |")
    keys = sorted({k for n in names for k in results[n]["speed"]}, key=lambda k: (results[names[0]]["speed"].get(k, {}).get("n_atoms", 0), k))
    lines += ["", "## Labelling speed: s per energy+forces+stress call (median; 1-min load average in brackets)", "",
              "| teacher | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for n in names:
        sp = results[n]["speed"]
        lines.append(f"| {n} | " + " | ".join(
            f"{sp[k]['seconds_per_frame']:.2f} ({sp[k]['load_average_1min']:.1f})" if k in sp else "-" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from pylbs.mlp.teachers import TEACHERS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teachers", default=",".join(TEACHERS), help="comma list (default: every teacher)")
    p.add_argument("--out", default=str(ROOT / "runs" / "teacher-eval"))
    p.add_argument("--quick", action="store_true", help="small step counts, two crystals, one glass")
    p.add_argument("--threads", type=int, default=1, help="torch threads for relaxations and MD")
    p.add_argument("--crystals", nargs="*", default=None, help="subset of crystal names")
    p.add_argument("--crystal-fmax", type=float, default=0.02)
    p.add_argument("--crystal-steps", type=int, default=300)
    p.add_argument("--glasses", nargs="*", default=["LBS-20-60-20", "LBS-30-30-40", "LBS-8-32-60"])
    p.add_argument("--glass-fmax", type=float, default=0.05)
    p.add_argument("--glass-steps", type=int, default=150)
    p.add_argument("--quench-glasses", nargs="*", default=["LBS-20-60-20"])
    p.add_argument("--quench-steps", type=int, nargs=3, default=(150, 300, 50), metavar=("HOLD", "COOL", "FINAL"))
    p.add_argument("--quench-budget-min", type=float, default=40.0)
    p.add_argument("--quench-relax-steps", type=int, default=100, help="FIRE steps after the quench (fmax 0.05)")
    p.add_argument("--stages", nargs="*", default=["crystals", "glasses", "speed", "quench"],
                   help="subset of crystals glasses speed quench (cached stages are always reported); "
                   "speed-pair: time all --teachers in turn on one frame")
    p.add_argument("--speed-glass", default="LBS-20-60-20", help="FMP glass timed (repeated along x)")
    p.add_argument("--speed-sizes", type=int, nargs="*", default=[1, 3], help="glass repeats along x (1: ~100 atoms)")
    p.add_argument("--speed-threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--speed-reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report-only", action="store_true", help="only collect cached results into the table")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.quick:
        out = out / "quick" if not args.out.endswith("quick") else out
        args.crystals = args.crystals or ["Li2O", "alpha-quartz"]
        args.glasses, args.quench_glasses = args.glasses[:1], args.quench_glasses[:1]
        args.crystal_steps, args.glass_steps = 40, 20
        args.quench_steps = (20, 20, 10)
        args.speed_sizes, args.speed_threads, args.speed_reps = [1], [1], 1
    out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.teachers.split(",") if n.strip()]
    if "speed-pair" in args.stages and not args.report_only:  # every teacher on one frame, in turn
        pair = cached(out / f"speed-interleaved-{'-'.join(names)}.json",
                      lambda: speed_interleaved(names, fmp_glass(args.speed_glass, out), rounds=args.speed_reps))
        print(json.dumps(pair["median_seconds"]), file=sys.stderr)
        args.stages = [s for s in args.stages if s != "speed-pair"]
        if not args.stages:
            return 0
    results, failures = {}, {}
    for name in names:
        if args.report_only:
            if (out / name / "provenance.json").exists():
                try:
                    results[name] = evaluate_cached_only(name, out)
                except FileNotFoundError as exc:
                    failures[name] = f"incomplete cache: {exc}"
            continue
        try:
            results[name] = evaluate(name, args, out)
        except Exception as exc:  # a missing package: record and go on with the others
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"[{name}] not evaluated: {failures[name]}", file=sys.stderr)
    summary = {"results": results, "not_evaluated": failures,
               "settings": {k: v for k, v in vars(args).items() if k != "report_only"}}
    if not args.report_only:
        (out / f"results-{'-'.join(names)}.json" if len(names) < len(TEACHERS) else out / "results.json").write_text(
            json.dumps(summary, indent=1, default=list))
    if results:
        text = markdown(results)
        for f in sorted(out.glob("speed-interleaved-*.json")):
            pair = json.loads(f.read_text())
            text += (f"\nInterleaved timing ({pair['n_atoms']} atoms, {pair['threads']} thread, median of "
                     f"{pair['rounds']} rounds, load {pair['load_average_1min']:.1f}): " + ", ".join(
                         f"{n} {t:.2f} s ({r:.1f}x)" for (n, t), r in zip(pair["median_seconds"].items(),
                                                                      next(v for k, v in pair.items() if k.startswith("ratio_to_")).values())) + "\n")
        if failures:
            text += "\nNot evaluated: " + "; ".join(f"{k}: {v}" for k, v in failures.items()) + "\n"
        (out / "results.md").write_text(text)
        if args.report_only:
            (out / "results.json").write_text(json.dumps(summary, indent=1, default=list))
        print(text)
    return 0 if results else 1


def evaluate_cached_only(name: str, out: Path) -> dict:
    """Results of one teacher from its cache files alone (no calculation)."""
    from pylbs.glasses import CATALOG

    d = out / name
    res = {"provenance": json.loads((d / "provenance.json").read_text()), "crystals": {}, "glasses": {},
           "quench": {}, "speed": json.loads((d / "speed.json").read_text()) if (d / "speed.json").exists() else {}}
    for f in sorted(d.glob("crystal-*-static.json")):
        c = f.name[len("crystal-"):-len("-static.json")]
        relax = d / f"crystal-{c}-relax.json"
        if relax.exists():
            res["crystals"][c] = {"experimental": json.loads(f.read_text()), "relaxed": json.loads(relax.read_text())}
    for f in sorted(d.glob("glass-*-relax.json")):
        g = f.name[len("glass-"):-len("-relax.json")]
        r = json.loads(f.read_text())
        r["measured_4B"] = CATALOG[g].measured_4B / 100 if g in CATALOG else None
        res["glasses"][g] = r
    for f in sorted(d.glob("quench-*.json")):
        r = json.loads(f.read_text())
        g = "-".join(f.stem.split("-")[1:5])
        r["measured_4B"] = CATALOG[g].measured_4B / 100 if g in CATALOG else None
        res["quench"][g] = r
    return res


if __name__ == "__main__":
    sys.exit(main())
