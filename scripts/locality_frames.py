#!/usr/bin/env python
"""Closely spaced FMP MD frames of a glass, for scripts/teacher_locality.py on boxes of any size.

    pylbs quench --glass LBS-20-60-20 --atoms 1700 --time-scale 0.005 --seed 3 --out big/fmp
    python scripts/locality_frames.py big/fmp/final.data --temperature 1000 --out big/nvt1000
    python scripts/teacher_locality.py big/nvt1000/trajectory.lammpstrj --rcut 12 --lag 10 ...

The loop's explorations give dumps of its ~120-atom boxes; measuring the teacher's dependence on
atoms beyond 12 A (what no 6 A DeepMD model can fit) needs a box over 24 A, ~1700 atoms. This runs
NVT with fmp/lbs at ``--temperature`` from a LAMMPS data file (``--equilibrate`` steps), then dumps
``--frames`` frames every ``--every`` steps (1 fs) with image flags (``trajectory.lammpstrj``: id
type x y z ix iy iz). A finished dump (``settings.json`` beside it, written when the run ends) is
not run again; another run's frames in ``--out`` are refused, so a dump always says how it was made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pylbs.cli.common import run_guarded
from pylbs.errors import PylbsError
from pylbs.hashing import file_sha256
from pylbs.jsonio import read_json, write_json_atomic
from pylbs.lammps_env import start_lammps
from pylbs.potential.commands import fmp_commands
from pylbs.potential.fmp_file import DEFAULT_PARAMETER_FILE
from pylbs.protocols.schedules import (SYSTEM_COMMANDS, Stage, dump_commands, run_settings, thermostat_fix,
                                       velocity_command)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="LAMMPS data file (atom_style charge, types Li B Si O), e.g. final.data")
    ap.add_argument("--temperature", type=float, default=1000.0)
    ap.add_argument("--equilibrate", type=int, default=2000, help="NVT steps before the first frame")
    ap.add_argument("--frames", type=int, default=31)
    ap.add_argument("--every", type=int, default=10, help="steps between frames (1 fs each)")
    ap.add_argument("--parameter-file", default=None, help="FMP parameter file (default: pylbs's)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    return run_guarded(run, ap.parse_args(argv))


def run(args) -> int:
    if not args.data.is_file():
        raise PylbsError(f"no data file {args.data}: give the final.data of a `pylbs quench` run")
    dump = args.out / "trajectory.lammpstrj"
    made = {"data": str(args.data.resolve()), "data_sha256": file_sha256(args.data), "temperature_K": args.temperature,
            "equilibrate_steps": args.equilibrate, "frames": args.frames, "every_steps": args.every,
            "parameter_file": str(Path(args.parameter_file or DEFAULT_PARAMETER_FILE).resolve()), "seed": args.seed}
    done = read_json(args.out / "settings.json")
    if done == made and dump.exists():
        print(f"{dump}: done already")
        return 0
    if done:
        changed = sorted(k for k in made if done.get(k) != made[k])
        raise PylbsError(f"{args.out} holds frames made with other settings ({', '.join(changed)}): give another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    hold = Stage("hold", args.temperature, args.temperature, 0.0)
    lmp = start_lammps(log=args.out / "log.lammps")
    try:  # the system, potential, run settings and thermostat every pylbs run uses (pylbs.protocols.schedules)
        lmp.commands_list([*SYSTEM_COMMANDS, f"read_data {args.data.resolve()}", *fmp_commands(args.parameter_file),
                           *run_settings(), velocity_command(args.temperature, args.seed), thermostat_fix(hold),
                           f"run {args.equilibrate}", "reset_timestep 0",
                           *dump_commands("traj", args.every, dump.resolve()), f"run {args.every * (args.frames - 1)}"])
    finally:
        lmp.close()
    write_json_atomic(args.out / "settings.json", made)  # the run ended: its dump is whole
    print(f"{dump}: {args.frames} frames every {args.every} fs at {args.temperature:g} K")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
