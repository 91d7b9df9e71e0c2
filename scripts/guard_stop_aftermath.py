#!/usr/bin/env python
"""What would have happened after a guard stop: a collision that bounces back, or atoms falling
into each other? Continues a stopped run past its stop with the guard off and follows every pair
closer than the guard allows, step by step.

    python scripts/guard_stop_aftermath.py stab/LBS-15-25-60 [more run folders] --steps 500

Each folder is a guarded MLP run that stopped (``guard/event.json``; a `pylbs mlp stability`
glass, an anneal replica). The run is taken up again from its restart one guard check before the
last good one (the run keeps two), with the commands its own ``log.lammps`` ran (its potential and
wall, its thermostat), on one process, for ``--steps`` steps. One process instead of the run's
ranks changes the rounding only: the stop is met again (the same distance to 4e-6 A or better on
the 14 stops measured), then passed. Every step the pairs are checked against the guard limits
the run was judged by (its ``stability.json`` request, else pylbs's current ones); atoms are LAMMPS
ids, as in ``event.json``.

Per crossing pair: the steps spent under its limit, the closest distance and whether it is over the
limit again at the end. For the stop's own pair also: its distance, the push on it (the force on
its relative coordinate, mu (f_b/m_b - f_a/m_a).u, > 0 pushes apart) and the kinetic energy of its
radial motion at every step; the most radial kinetic energy it brought in while closing, and the
energy the push took from it on the way in. Atoms falling into each other (the failure the guard
is for) come in with about kT, climb nothing and stay under the limit (the radial kinetic energy is
read at post_force, where velocities lag the positions by half a step: approximate near the turn;
pull and push come from positions and forces only); a hard collision comes in
with many kT, climbs them against a steep push and is over the limit again within a few fs.

Writes ``aftermath.json`` into each folder (with ``--write-path`` also the frames of the way in, for
a check with another reference) and prints the stop pair's numbers and one line per crossing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pylbs.glasses import TYPE_MAP
from pylbs.jsonio import read_json, write_json_atomic
from pylbs.lammps_env import start_lammps
from pylbs.protocols.guard import Guard, closest_pairs

#: commands of the run's log.lammps that are replayed after read_restart (the potential, its
#: neighbour settings, the time step and the thermostat); everything else (dumps, progress
#: callbacks, velocity creation) belongs to the original run's bookkeeping
RESULT_FILE = "aftermath.json"
PATH_FILE = "aftermath_path.extxyz"
#: LAMMPS metal units: mass (g/mol) x velocity (A/ps) squared -> eV
MVV2E = 1.0364269e-4

REPLAYED = ("pair_style", "pair_coeff", "neighbor", "neigh_modify", "timestep", "fix pylbs_md_")


def replayed_commands(log: Path) -> list[str]:
    """The REPLAYED commands of ``log`` up to the stage that was running when the run stopped."""
    cmds, fix = [], None
    for line in log.read_text().splitlines():
        if line.startswith("fix pylbs_md_"):
            fix = line  # the last stage's thermostat: the one the stop happened in
        elif line.startswith(REPLAYED) and line not in cmds:
            cmds.append(line)
    if fix is None or not any(c.startswith("pair_style") for c in cmds):
        raise SystemExit(f"{log} has no pair_style or no pylbs MD fix: not a pylbs MLP run's log")
    return cmds + [fix]


def pair_push(forces, masses, a: int, b: int, u) -> float:
    """The force on the relative coordinate of atoms a and b along the unit vector u (a to b):
    mu (f_b/m_b - f_a/m_a).u in eV/A, > 0 pushes them apart (with equal masses, half the force difference)."""
    mu = masses[a] * masses[b] / (masses[a] + masses[b])
    return float(mu * (forces[b] / masses[b] - forces[a] / masses[a]) @ u)


def guard_limits(folder: Path) -> dict[tuple[str, str], float]:
    """The limits the run was judged by (its stability request), else pylbs's own."""
    request = (read_json(folder / "stability.json") or {}).get("request", {})
    recorded = request.get("guard_limits_A")
    if recorded:
        return {tuple(sorted(k.split("-"))): float(v) for k, v in recorded.items()}
    return Guard().table()


def follow(folder: Path, steps: int) -> dict:
    from ase import Atoms

    event = read_json(folder / "guard" / "event.json")
    progress = read_json(folder / "progress.json")
    if event is None or progress is None:
        raise SystemExit(f"{folder}: no guard/event.json or progress.json (not a guard-stopped run)")
    cmds = replayed_commands(folder / "log.lammps")
    limits = guard_limits(folder)

    # the run alternates two restart files: the other one is a check earlier, so the pair's approach is
    # followed for one more check interval (it is used only if it is older than the last good one)
    newest = folder / progress["restart"]
    other = newest.with_name({"restart.a": "restart.b", "restart.b": "restart.a"}.get(newest.name, newest.name))
    for restart in ([other] if other.is_file() and other != newest else []) + [newest]:
        lmp = start_lammps(log=None, require=(("pair", "deepmd"),))
        lmp.command(f"read_restart {restart}")
        if restart == newest or int(lmp.get_thermo("step")) < int(progress["step"]):
            break
        lmp.close()
    for c in cmds:
        lmp.command(c)
    lo, hi, *_ = lmp.extract_box()
    cell = np.diag(np.array(hi) - np.array(lo))
    start = int(lmp.get_thermo("step"))
    stop_ids = sorted(int(a) for a in event["closest"]["atoms"])  # LAMMPS ids (1-based), as the guard writes them
    stop_pair = (stop_ids[0] - 1, stop_ids[1] - 1)
    type_mass = np.asarray(lmp.numpy.extract_atom("mass"))  # per type, index 0 unused
    mu_amu = None
    track = {"step": [], "stop_pair_A": [], "push_eV_per_A": [], "radial_ke_eV": []}
    path = []  # the frames, kept in memory (a few hundred frames of a few hundred atoms)
    crossings: dict[tuple[int, int], dict] = {}

    def callback(_caller, step, nlocal, tag, x, _f):
        nonlocal mu_amu
        order = np.argsort(np.asarray(tag)[:nlocal])
        pos = np.asarray(x)[:nlocal][order]
        types = np.asarray(lmp.numpy.extract_atom("type"))[:nlocal][order]
        vel = np.asarray(lmp.numpy.extract_atom("v"))[:nlocal][order]
        force = np.asarray(lmp.numpy.extract_atom("f"))[:nlocal][order]  # the potential's, at post_force
        symbols = [TYPE_MAP[t - 1] for t in types]  # pylbs writes LAMMPS types in TYPE_MAP order
        atoms = Atoms(symbols=symbols, positions=pos - lo, cell=cell, pbc=True)
        a, b = stop_pair
        u = atoms.get_distance(a, b, mic=True, vector=True)
        r = float(np.linalg.norm(u))
        u /= r
        masses = type_mass[types]
        mu_amu = masses[a] * masses[b] / (masses[a] + masses[b])
        # the pair's relative coordinate: mu r'' = mu (f_b/m_b - f_a/m_a).u (> 0 pushes apart), and the
        # kinetic energy of its radial motion, 1/2 mu r'^2 (LAMMPS metal units: eV/A, A/ps, g/mol)
        track["step"].append(int(step))
        path.append(atoms)
        track["stop_pair_A"].append(r)
        track["push_eV_per_A"].append(pair_push(force, masses, a, b, u))
        rdot = float((vel[b] - vel[a]) @ u)
        track["radial_ke_eV"].append(0.5 * mu_amu * rdot ** 2 * MVV2E)
        for i, j, dist, limit in closest_pairs(atoms.positions, cell, symbols, limits):  # the guard's own test
            key = tuple(sorted((symbols[i], symbols[j])))
            c = crossings.setdefault((i, j), {
                "atoms": [i + 1, j + 1], "elements": list(key), "limit_A": limit,
                "first_step": int(step), "steps_under": 0, "closest_A": np.inf, "closest_step": None})
            c["steps_under"] += 1
            c["last_step"] = int(step)
            if dist < c["closest_A"]:
                c["closest_A"], c["closest_step"] = float(dist), int(step)

    lmp.command("fix aftermath all external pf/callback 1 1")
    lmp.set_fix_external_callback("aftermath", callback, None)
    lmp.command("thermo 10")
    blew_up = None
    try:
        lmp.command(f"run {steps}")
    except Exception as exc:  # noqa: BLE001 - a blow-up is a result here, not an error
        blew_up = str(exc).splitlines()[0]
    end = track["step"][-1] if track["step"] else start  # the first entry is the restart's own step
    final = track["stop_pair_A"][-1] if track["stop_pair_A"] else np.nan
    for c in crossings.values():
        c["fs_under"] = c["steps_under"]  # 1 fs steps: the runs pylbs makes
        c["over_again_at_end"] = c["last_step"] < end
    lmp.close()
    r = np.array(track["stop_pair_A"])
    turn = int(np.argmin(r))
    closing = np.flatnonzero(np.diff(r[:turn + 1]) < 0)
    # the kinetic energy the pair's radial motion brought in: the most it had while closing on the turn
    came_in = float(max(track["radial_ke_eV"][k] for k in closing)) if len(closing) else 0.0
    result = {"folder": str(folder), "event": event["what"], "restart_step": start, "steps": steps,
              "blew_up": blew_up,
              "stop_pair": {"atoms": stop_ids, "elements": event["closest"]["elements"], "reduced_mass_amu": mu_amu,
                            "closest_A": float(r[turn]), "closest_step": track["step"][turn], "final_A": float(final),
                            "radial_ke_in_eV": came_in, "push_at_closest_eV_per_A": track["push_eV_per_A"][turn],
                            **work_on_the_way_in(r, np.array(track["push_eV_per_A"]), turn), "every_step": track},
              "crossings": sorted(crossings.values(), key=lambda c: c["first_step"])}
    return result, path[:turn + 1]


def work_on_the_way_in(r, push, turn: int) -> dict:
    """The work of the push on the closing pair up to its turn (trapezoids over the steps), split by sign:
    ``pulled_in_eV``, what an attraction gave the pair's radial motion, and ``climbed_eV``, what a
    repulsion took from it. Atoms falling into each other climb ~nothing; a hard collision climbs the
    kinetic energy it came in with, whether that was thermal or given by a pull just before."""
    closing = np.flatnonzero(np.diff(r[:turn + 1]) < 0)
    work = -0.5 * (push[closing] + push[closing + 1]) * np.diff(r)[closing]  # > 0: against a repulsion
    return {"climbed_eV": float(work[work > 0].sum()), "pulled_in_eV": float(-work[work < 0].sum())}


def teacher_on_the_path(path, pair, teacher: str, every: int) -> dict:
    """The teacher's push on the pair on the frames of its way in (every ``every``-th and the turn)."""
    from pylbs.mlp.teachers import teacher_calculator

    calc = teacher_calculator(teacher)
    a, b = pair
    keep = sorted(set(range(0, len(path), every)) | {len(path) - 1})
    r, push = [], []
    for k in keep:
        atoms = path[k].copy()
        atoms.calc = calc
        u = atoms.get_distance(a, b, mic=True, vector=True)
        r.append(float(np.linalg.norm(u)))
        push.append(pair_push(atoms.get_forces(), atoms.get_masses(), a, b, u / r[-1]))
    return {"teacher": teacher, "path_index": keep, "stop_pair_A": r, "push_eV_per_A": push,
            **work_on_the_way_in(np.array(r), np.array(push), len(r) - 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--steps", type=int, default=500, help="steps after the restart (default 500)")
    ap.add_argument("--teacher", help="also the push of this teacher (pylbs.mlp.teachers) on the stop pair's "
                                      "way in, on the same frames")
    ap.add_argument("--teacher-every", type=int, default=2, help="every n-th frame of the way in (default 2)")
    ap.add_argument("--write-path", action="store_true",
                    help=f"also write the frames of the way in (restart to turn) to {PATH_FILE} in each folder")
    args = ap.parse_args(argv)
    for folder in args.folders:
        r, path = follow(folder.resolve(), args.steps)
        sp = r["stop_pair"]
        if args.teacher:
            sp["teacher_on_the_way_in"] = teacher_on_the_path(path, [i - 1 for i in sp["atoms"]], args.teacher,
                                                              args.teacher_every)
        write_json_atomic(folder / RESULT_FILE, r)
        if args.write_path:
            from ase.io import write

            for k, atoms in enumerate(path):
                atoms.info["step"] = r["restart_step"] + k
            write(folder / PATH_FILE, path, format="extxyz")
        print(f"{folder}: {r['event']}")
        print(f"  stop pair {'-'.join(sp['elements'])}: closest {sp['closest_A']:.3f} A (step {sp['closest_step']}, "
              f"push {sp['push_at_closest_eV_per_A']:.1f} eV/A); on the way in the model's pull gave it "
              f"{sp['pulled_in_eV']:.2f} eV and its push took {sp['climbed_eV']:.2f} eV (most radial kinetic energy "
              f"{sp['radial_ke_in_eV']:.2f} eV); {sp['final_A']:.3f} A after {r['steps']} steps"
              f"{'; BLEW UP: ' + r['blew_up'] if r['blew_up'] else ''}")
        if args.teacher:
            t = sp["teacher_on_the_way_in"]
            print(f"  {args.teacher} on the same frames: pull {t['pulled_in_eV']:.2f} eV, push {t['climbed_eV']:.2f} eV, "
                  f"{t['push_eV_per_A'][-1]:.1f} eV/A at the turn")
        for c in r["crossings"]:
            print(f"  {'-'.join(c['elements'])} {c['atoms']}: under {c['limit_A']:.2f} A for {c['fs_under']} fs "
                  f"(from step {c['first_step']}), closest {c['closest_A']:.3f} A at step {c['closest_step']}, "
                  f"{'over it again' if c['over_again_at_end'] else 'STILL UNDER at the end'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
