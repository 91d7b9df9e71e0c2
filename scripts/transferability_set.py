#!/usr/bin/env python
"""The paper's transferability test of a DeepMD model (issue 12): frames of an MLP cooling run from
2000 K to 300 K, labelled by a reference, and the model's errors on them, constant energy shift
included (the paper's 256 frames at 10 K/ps; its reference was its DFT, here the teacher stands in).
The cooling runs at 10 K/ps divided by --mlp-time-scale (1: the paper's 10 K/ps; the default 0.05:
200 K/ps); the frames stay one every 10 K whatever the rate.

    python scripts/transferability_set.py --model default --glass LBS-20-60-20 --atoms 300 --out runs/transfer

Three pylbs commands, each resumable, so a killed run continues where it stopped:
  1. ``pylbs quench --mlp MODEL --schedule fast --t-max 2000 --cool-frame-every-K 10`` (under mpirun):
     FMP glass, then the MLP heats it to 2000 K and cools it at 10 K/ps with a frame every 10 K
     (170 frames), and dumps more than FRAMES - 170 frames of the 300 K stage, of which FRAMES - 170
     evenly spaced ones join the set (the dump interval is a whole number of steps, so asking for
     exactly that many could give fewer);
  2. ``pylbs mlp label TRAJECTORY --calculator TEACHER`` (all frames held out: ``--test-fraction 0``);
  3. ``pylbs mlp test --model MODEL --held-out DATA``: MAE/RMSE/MXE and the shift per atom.
Step 2 labels the cooling frames and the kept 300 K frames only (the dump also holds heating and
2000 K frames, which are not in the set).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from pylbs.cli import main as pylbs
from pylbs.potential.models import model_path

T_HIGH, T_LOW, STEP_K = 2000.0, 300.0, 10.0


def cli(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="a shipped model's name or a model file")
    p.add_argument("--glass", default="LBS-20-60-20")
    p.add_argument("--atoms", type=int, default=300)
    p.add_argument("--frames", type=int, default=256, help="frames in the set (the paper: 256)")
    p.add_argument("--time-scale", type=float, default=0.005, help="FMP quench time scale")
    p.add_argument("--mlp-time-scale", type=float, default=0.05,
                   help="MLP stage time scale (the frame spacing stays 10 K whatever the scale)")
    p.add_argument("--teacher", default="chgnet-r2scan", help="the reference labeller (pylbs mlp label --calculator)")
    p.add_argument("--np", type=int, default=2, help="MPI ranks of the MD")
    p.add_argument("-j", "--workers", type=int, default=2, help="labelling processes")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    model = str(model_path(args.model)) if not Path(args.model).is_file() else args.model
    cooling = int(round((T_HIGH - T_LOW) / STEP_K))
    if args.frames <= cooling:
        sys.exit(f"--frames must exceed the {cooling} cooling frames (one every {STEP_K:g} K)")
    mpirun = str(Path(sys.executable).with_name("mpirun"))
    subprocess.run([mpirun, "-np", str(args.np), sys.executable, "-m", "pylbs.cli", "quench", "--glass", args.glass,
                    "--atoms", str(args.atoms), "--time-scale", f"{args.time_scale:g}", "--mlp", model,
                    "--mlp-time-scale", f"{args.mlp_time_scale:g}", "--schedule", "fast", "--t-max", f"{T_HIGH:g}",
                    "--cool-frame-every-K", f"{STEP_K:g}", "--sample-frames", str(2 * (args.frames - cooling)),
                    "--emin-max-iter", "0", "--quiet", "--out", str(out / "run")], check=True)
    (replica,) = sorted((out / "run").glob("mlp-fast-T*/replica-1"))
    frames = _the_set(replica, out / "frames.extxyz", args.frames - cooling)
    data = out / "data"
    if not (data / "dataset.json").exists():
        rc = pylbs(["mlp", "label", str(frames), "--name",
                    f"transfer-{args.glass}", "--calculator", args.teacher, "-j", str(args.workers),
                    "--test-fraction", "0", "--out", str(data)])
        if rc:
            return rc
    rc = pylbs(["mlp", "test", "--model", model, "--held-out", str(data), "--out", str(out / "test")])
    metrics = json.loads((out / "test" / "metrics.json").read_text())["metrics"]["held-out"]
    print(f"transferability set: {metrics['n_frames']} frames of {args.glass} ({T_HIGH:g} -> {T_LOW:g} K), "
          f"energy shift {1000 * metrics['energy_mse']:+.1f} meV/atom, energy MAE {1000 * metrics['energy_mae']:.1f} "
          f"meV/atom, force MAE {metrics['force_mae']:.3f} eV/A")
    return rc


def _the_set(replica: Path, path: Path, n_final: int) -> Path:
    """The cooling stage's frames (one every 10 K) and ``n_final`` evenly spaced 300 K frames of those
    the run kept, as extxyz (the dump also holds the heating and 2000 K frames, not the paper's set)."""
    if path.exists():
        return path
    from ase.io import write

    from pylbs.lammps_io import read_trajectory
    from pylbs.protocols.schedules import Schedule

    summary = json.loads((replica / "summary.json").read_text())
    schedule = Schedule.from_dict(json.loads((replica / "progress.json").read_text())["request"]["schedule"])
    (a, b), = [ab for st, ab in zip(schedule.stages, schedule.stage_bounds()) if st.name == "cool"]
    kept = summary["kept_steps"]
    if len(kept) < n_final:
        sys.exit(f"{replica} kept {len(kept)} frames at 300 K, fewer than the {n_final} the set needs; remove "
                 f"{replica.parent.parent} and run again with a larger --mlp-time-scale")
    keep = {int(kept[k]) for k in np.linspace(0, len(kept) - 1, n_final).round().astype(int)}
    traj = read_trajectory(replica / "trajectory.lammpstrj", unwrap=False)
    frames = [traj.atoms(k) for k, st in enumerate(traj.steps) if a < st <= b or int(st) in keep]
    write(path.with_suffix(".part"), frames, format="extxyz")
    path.with_suffix(".part").replace(path)
    print(f"{len(frames)} frames: {sum(a < st <= b for st in traj.steps)} while cooling, {len(keep)} at 300 K")
    return path


if __name__ == "__main__":
    sys.exit(cli())
