"""DeepMD training input and the train -> freeze route (PyTorch backend).

The descriptor follows the paper: se_e2_a with rcut 6.0 A and rcut_smth 5.8 A.
Training runs ``dp --pt`` in a subprocess so torch's threads and memory stay
out of the driver process (and out of LAMMPS under MPI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PylbsError
from ..glasses import TYPE_MAP
from ..lammps_env import THREAD_DEFAULTS


@dataclass
class TrainingSettings:
    """Knobs of the DeepMD input. Energy is a visible weight: the paper notes a
    constant energy shift it attributes to under-weighting energy vs force."""

    rcut: float = 6.0
    rcut_smth: float = 5.8
    sel: object = "auto"  # deepmd computes it from the data (like `dp neighbor-stat`)
    descriptor_neurons: tuple = (25, 50, 100)
    axis_neuron: int = 16
    fitting_neurons: tuple = (240, 240, 240)
    numb_steps: int = 1_000_000
    start_lr: float = 1e-3
    stop_lr: float = 3.5e-8
    decay_steps: int = 5000
    batch_size: object = "auto"
    pref_e: tuple = (0.02, 1.0)  # (start, limit)
    pref_f: tuple = (1000.0, 1.0)
    pref_v: tuple = (0.02, 1.0)
    disp_freq: int = 1000
    save_freq: int = 10000
    seed: int = 1
    type_map: tuple = field(default=TYPE_MAP)


def deepmd_input(train_systems, valid_systems, settings: TrainingSettings | None = None) -> dict:
    """The deepmd-kit input dictionary (se_e2_a, energy loss with e/f/v weights)."""
    s = settings or TrainingSettings()
    return {
        "model": {
            "type_map": list(s.type_map),
            "descriptor": {"type": "se_e2_a", "sel": s.sel, "rcut": s.rcut, "rcut_smth": s.rcut_smth,
                           "neuron": list(s.descriptor_neurons), "axis_neuron": s.axis_neuron,
                           "resnet_dt": False, "seed": s.seed},
            "fitting_net": {"neuron": list(s.fitting_neurons), "resnet_dt": True, "seed": s.seed},
        },
        "learning_rate": {"type": "exp", "decay_steps": s.decay_steps, "start_lr": s.start_lr,
                          "stop_lr": s.stop_lr},
        "loss": {"type": "ener",
                 "start_pref_e": s.pref_e[0], "limit_pref_e": s.pref_e[1],
                 "start_pref_f": s.pref_f[0], "limit_pref_f": s.pref_f[1],
                 "start_pref_v": s.pref_v[0], "limit_pref_v": s.pref_v[1]},
        "training": {
            "training_data": {"systems": [str(p) for p in train_systems], "batch_size": s.batch_size},
            "validation_data": {"systems": [str(p) for p in valid_systems], "batch_size": s.batch_size},
            "numb_steps": s.numb_steps, "seed": s.seed, "disp_file": "lcurve.out",
            "disp_freq": s.disp_freq, "save_freq": s.save_freq,
        },
    }


def dp_command() -> list[str]:
    """The ``dp`` entry point of this environment."""
    exe = Path(sys.executable).with_name("dp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "deepmd"]


def _run_dp(args, workdir: Path, log_name: str):
    env = dict(os.environ)
    for key, value in THREAD_DEFAULTS.items():
        env.setdefault(key, value)
    log = workdir / log_name
    with open(log, "w") as fh:
        res = subprocess.run(dp_command() + args, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if res.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise PylbsError(f"`dp {' '.join(args)}` failed in {workdir} (see {log}):\n{tail}")


def train_and_freeze(train_systems, valid_systems, workdir, settings: TrainingSettings | None = None,
                     model_name: str = "model.pth") -> Path:
    """Train with the PyTorch backend, then freeze to ``workdir/model_name``.

    Resumes from ``model.ckpt.pt`` when an earlier training in ``workdir`` was
    interrupted; returns the frozen model without retraining when it exists.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = workdir / model_name
    if model.exists():
        return model
    (workdir / "input.json").write_text(json.dumps(deepmd_input(
        [Path(p).resolve() for p in train_systems], [Path(p).resolve() for p in valid_systems],
        settings), indent=2))
    args = ["--pt", "train", "input.json"]
    if (workdir / "model.ckpt.pt").exists():
        args += ["--restart", "model.ckpt.pt"]
    _run_dp(args, workdir, "train.log")
    _run_dp(["--pt", "freeze", "-o", model_name], workdir, "freeze.log")
    return model
