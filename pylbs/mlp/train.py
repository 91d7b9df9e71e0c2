"""DeepMD training input and the train -> freeze (-> compress) route (PyTorch backend).

The descriptor follows the paper: se_e2_a with rcut 6.0 A and rcut_smth 5.8 A.
Training runs ``dp --pt`` in a subprocess so torch's threads and memory stay
out of the driver process (and out of LAMMPS under MPI).

``sel`` (max neighbours per type inside rcut): ``"neighbor-stat"`` runs
deepmd-kit's neighbor-stat (NumPy backend, in process) on the training systems and adds a 10 % margin
(rounded up to a multiple of 4), ``"auto"`` lets deepmd do the same inside
training, or give a list. Loss weights: energy/force/virial prefactors go from
``start`` to ``limit`` as the learning rate decays; the paper attributes its
constant energy shift to under-weighting energy, so ``pref_e`` is the knob to
raise (e.g. ``(1.0, 10.0)``) when the energy shift matters more than forces.
Progress: with ``progress=True`` a progress line (batch/total, batches per s, ETA, the
last validation and training RMSE of ``lcurve.out``) is printed every ~20 s, and
``heartbeat.json`` in the training folder holds the same numbers. Resume: an interrupted training restarts from
``model.ckpt.pt``; a finished one (lcurve at numb_steps) is only frozen.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import PylbsError
from ..glasses import TYPE_MAP
from ..jsonio import read_json, write_json_atomic
from ..lammps_env import THREAD_DEFAULTS
from ..progress import Progress
from .queue_jobs import TRIES_FILE, job_command, refuse_if_open, submit_try


@dataclass
class TrainingSettings:
    """Knobs of the DeepMD input. Energy is a visible weight: the paper notes a
    constant energy shift it attributes to under-weighting energy vs force."""

    rcut: float = 6.0
    rcut_smth: float = 5.8
    sel: object = "auto"  # "auto" (deepmd), "neighbor-stat" (deepmd-kit neighbor-stat + 10 %), or a list
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
    precision: str = "float64"  # of the networks; "float32" trains 1.4-1.8x faster on CPU (docs/mlp.md)


def observed_elements(systems) -> list[str] | None:
    """The elements present in deepmd/npy ``systems``, by atomic number (what deepmd-kit records as the
    model's ``observed_type``); None when a system has no type_map.raw/type.raw to read."""
    from ase.data import atomic_numbers

    seen = set()
    for system in systems:
        system = Path(system)
        names, types = system / "type_map.raw", system / "type.raw"
        if not (names.is_file() and types.is_file()) or any(system.glob("set.*/real_atom_types.npy")):
            return None  # not plain deepmd/npy (mixed-type systems keep their types per frame): deepmd finds them
        names = names.read_text().split()
        indices = {int(t) for t in types.read_text().split()}
        if not indices <= set(range(len(names))):
            return None
        seen.update(names[t] for t in indices)
    return sorted(seen, key=lambda el: atomic_numbers.get(el, 10**6))


def deepmd_input(train_systems, valid_systems, settings: TrainingSettings | None = None) -> dict:
    """The deepmd-kit input dictionary (se_e2_a, energy loss with e/f/v weights)."""
    s = settings or TrainingSettings()
    # deepmd-kit 3.2 finds the observed elements itself through mendeleev's database, 2.3 s per
    # training on 2 cores: given here, it skips that (same list, same order)
    observed = observed_elements(train_systems)
    return {
        "model": {
            **({"info": {"observed_type": observed}} if observed else {}),
            "type_map": list(s.type_map),
            "descriptor": {"type": "se_e2_a", "sel": s.sel, "rcut": s.rcut, "rcut_smth": s.rcut_smth,
                           "neuron": list(s.descriptor_neurons), "axis_neuron": s.axis_neuron,
                           "resnet_dt": False, "seed": s.seed, "precision": s.precision},
            "fitting_net": {"neuron": list(s.fitting_neurons), "resnet_dt": True, "seed": s.seed,
                            "precision": s.precision},
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


#: Set by a caller that runs trainings in worker threads when it is interrupted (Ctrl-C reaches only
#: the main thread): every running ``dp`` stops within ``every_s`` and its thread raises.
STOP = threading.Event()


def side_by_side(train, items, workers: int) -> list:
    """``[train(item) for item in items]``, ``workers`` at a time in threads (each waits on its ``dp``
    process). Ctrl-C reaches the calling thread only: it stops every running ``dp`` too (their
    checkpoints stay, so a re-run resumes them)."""
    pool = ThreadPoolExecutor(max(1, workers))
    try:
        return list(pool.map(train, items))
    except BaseException:
        STOP.set()
        pool.shutdown(wait=True, cancel_futures=True)
        STOP.clear()
        raise
    finally:
        pool.shutdown(wait=True)

#: First lines of a ``dp`` process: on Linux it is stopped when the pylbs process that started it
#: dies (killed, out of time), so a resumed run never trains beside an orphan in the same folder. The
#: signal follows the THREAD that started the process: :func:`_run_dp` waits in that thread until dp ends.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                    "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
                    "except (OSError, AttributeError):\n    pass\n"
                    "if os.getppid() != {ppid}:\n    sys.exit('the pylbs process that started dp is gone')\n")


def _dp_steps_command(steps) -> list[str]:
    """One Python process running several ``dp`` commands in turn: deepmd and torch are imported
    once (about 20 s saved per train + freeze pair on 2 cores)."""
    script = (_DIE_WITH_PARENT.format(ppid=os.getpid()) + "import json, sys\nfrom deepmd.main import main\n"
              "for args in json.loads(sys.argv[1]):\n    main(args)\n")
    return [sys.executable, "-c", script, json.dumps([list(map(str, a)) for a in steps])]


def _run_dp(args, workdir: Path, log_name: str, progress: bool = False, every_s: float = 10.0,
            total_steps: int | None = None):
    """Run ``dp ARGS`` (or, given a list of argument lists, those commands in one process) in
    ``workdir``, logging to ``log_name``; a progress line every ~20 s while a training runs."""
    env = dict(os.environ)
    for key, value in THREAD_DEFAULTS.items():
        env.setdefault(key, value)
    env.setdefault("NUM_WORKERS", "0")  # deepmd's data-loader processes (4 by default): one core per dp
    log = workdir / log_name
    steps = args if args and isinstance(args[0], (list, tuple)) else [args]
    command = _dp_steps_command(steps)
    reporter = Progress(f"dp train {workdir.name}", total_steps or 1, start=_last_step(workdir), unit="step",
                        heartbeat=workdir / "heartbeat.json", lines=progress)
    with open(log, "w") as fh:
        proc = subprocess.Popen(command, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            while True:
                try:
                    proc.wait(timeout=every_s)
                    break
                except subprocess.TimeoutExpired:
                    if STOP.is_set():  # the main thread was interrupted: this dp runs in a worker thread
                        raise KeyboardInterrupt from None
                    if total_steps:
                        line = lcurve_tail(workdir / "lcurve.out").split()
                        if line:  # step, rmse_val, rmse_trn, ...: show the validation and training RMSE
                            reporter.update(_last_step(workdir), stage=f"rmse val {line[1]} trn {line[2]}")
        except BaseException:  # Ctrl-C: stop dp too; the checkpoint lets a re-run resume
            proc.terminate()
            proc.wait()
            raise
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        what = "; ".join(" ".join(map(str, a)) for a in steps)
        raise PylbsError(f"`dp {what}` failed in {workdir} (see {log}):\n{tail}")
    return log


def seconds_per_batch(log) -> float | None:
    """deepmd-kit's "average training time: X s/batch" of a training log (None before it ends)."""
    log = Path(log)
    found = re.findall(r"average training time: ([0-9.eE+-]+) s/batch", log.read_text(errors="replace")) \
        if log.exists() else []
    return float(found[-1]) if found else None


def lcurve_tail(path) -> str:
    """The last data line of lcurve.out ('' if none yet)."""
    path = Path(path)
    if not path.exists():
        return ""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[-1].strip() if lines else ""


def _last_step(workdir: Path) -> int:
    line = lcurve_tail(workdir / "lcurve.out")
    try:
        return int(float(line.split()[0])) if line else 0
    except ValueError:
        return 0


def neighbor_stat(systems, rcut: float = 6.0, type_map=TYPE_MAP, workdir=None) -> tuple[float, list[int]]:
    """(min neighbour distance, max neighbours per type within ``rcut``) over all
    ``systems`` (deepmd/npy folders): deepmd-kit's ``neighbor-stat`` with its NumPy backend, in this
    process (measured: 2.4 s, where a ``dp --pt neighbor-stat`` process took 10 s to import torch, for
    the same numbers)."""
    import tempfile

    from deepmd.entrypoints.neighbor_stat import neighbor_stat as dp_neighbor_stat

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        links = Path(tmp) / "systems"  # deepmd finds the systems under one root folder
        links.mkdir()
        for k, s in enumerate(systems):
            (links / f"s{k:04d}").symlink_to(Path(s).resolve(), target_is_directory=True)
        try:
            dist, counts = dp_neighbor_stat(system=str(links), rcut=rcut, type_map=list(type_map), backend="numpy")
        except Exception as exc:  # noqa: BLE001 - deepmd's data loader raises many kinds: one clear error
            raise PylbsError(f"deepmd-kit's neighbor-stat failed on {len(systems)} systems: {exc}") from exc
    return float(dist), [int(x) for x in counts]


def sel_from_counts(counts, margin: float = 1.1) -> list[int]:
    """``sel`` from max neighbour counts: a margin, rounded up to a multiple of 4 (at least 4)."""
    return [max(4, int(math.ceil(c * margin / 4.0)) * 4) for c in counts]


def is_compressed_copy(path) -> bool:
    """Is ``path`` a model's compressed copy (tables, no networks), by the names pylbs gives them:
    ``<stem>-compressed.pth`` here, ``<stem>.compressed-<sha>.pth`` in :mod:`pylbs.mlp.compress`?"""
    return "compressed" in Path(path).stem


def architecture_of(model) -> dict:
    """The TrainingSettings fields a training started from ``model`` must share with it: read from
    the ``input.json`` beside a checkpoint (``model.ckpt.pt``), or from the model definition a frozen
    ``.pth`` carries (deepmd-kit's ``get_model_def_script``)."""
    model = Path(model).resolve()
    if not model.is_file():
        raise PylbsError(f"initial model {model} does not exist; give a model.ckpt.pt of an earlier training or a "
                         "frozen .pth model (a shipped model's name works where the CLI takes --init-model)")
    if model.suffix == ".pth" and is_compressed_copy(model):
        raise PylbsError(f"initial model {model} is a compressed copy (tables, not networks): training cannot start "
                         "from it; give the model.pth it was made from")
    if model.suffix == ".pth":
        import deepmd.pt.model  # noqa: F401  (registers the custom ops a frozen model's graph calls)
        import torch

        spec = json.loads(torch.jit.load(str(model), map_location="cpu").get_model_def_script())
    else:
        spec = json.loads((model.parent / "input.json").read_text())["model"]
    d, f = spec["descriptor"], spec["fitting_net"]
    if list(spec.get("type_map", ())) != list(TYPE_MAP):
        raise PylbsError(f"initial model {model} has type map {spec.get('type_map')}; pylbs's is {list(TYPE_MAP)}")
    if d.get("type") not in ("se_e2_a", "se_a") or (d["rcut"], d["rcut_smth"]) != (6.0, 5.8):
        raise PylbsError(f"initial model {model} is not an se_e2_a model with rcut 6.0 / rcut_smth 5.8 A "
                         f"(descriptor {d.get('type')}, rcut {d.get('rcut')}): pylbs's loop cannot continue it")
    return {"sel": list(d["sel"]), "descriptor_neurons": tuple(d["neuron"]), "axis_neuron": d["axis_neuron"],
            "fitting_neurons": tuple(f["neuron"]), "precision": d.get("precision", "float64")}


def begun_steps(workdir, model_name: str = "model.pth") -> int | None:
    """The number of steps the training in ``workdir`` began with, None when none began (no checkpoint,
    learning curve or frozen model, and no open queue job, which has read its input already). A resumed
    training must keep it: deepmd decays the learning rate over exactly that many steps, so another number
    would jump the rate mid-way. From ``start.json``; for a training begun before that file existed, from
    its own ``input.json``."""
    workdir = Path(workdir)
    queued = read_json(workdir / "queue" / TRIES_FILE)  # a queue job may be in deepmd's set-up, before its lcurve
    if not any((workdir / f).exists() for f in ("model.ckpt.pt", "lcurve.out", model_name)) and not (
            queued and not queued["ended"]):
        return None
    steps = (read_json(workdir / "start.json") or {}).get("numb_steps")
    if steps is None:
        steps = ((read_json(workdir / "input.json") or {}).get("training") or {}).get("numb_steps")
    return None if steps is None else int(steps)


def dp_steps(workdir: Path, numb_steps: int, init_model=None, model_name: str = "model.pth",
             compress: bool = False) -> list[list[str]]:
    """The ``dp`` commands that finish the training in ``workdir`` from its state now: train (again from
    its checkpoint when it has one, else from ``init_model`` if given), freeze, and compress."""
    steps = []
    if _last_step(workdir) < numb_steps or not (workdir / "model.ckpt.pt").exists():
        args = ["--pt", "train", "input.json"]
        if (workdir / "model.ckpt.pt").exists():
            args += ["--restart", "model.ckpt.pt"]
        elif init_model is not None:
            frozen = Path(init_model).suffix == ".pth"
            args += ["--init-frz-model" if frozen else "--init-model", str(Path(init_model).resolve())]
        steps.append(args)
    steps.append(["--pt", "freeze", "-o", model_name])
    if compress:
        stem = Path(model_name)
        steps.append(["--pt", "compress", "-i", model_name, "-o", stem.stem + "-compressed" + stem.suffix])
    return steps


TRAIN_JOB_FILE = "train_job.json"


def run_training_job(workdir) -> None:
    """A training as a queue job (``pylbs mlp queue-job train WORKDIR``): the steps are decided when the
    job starts, so a job the scheduler restarts (walltime, a lost node) resumes from the checkpoint."""
    from deepmd.main import main as dp_main

    workdir = Path(workdir).resolve()
    job = json.loads((workdir / TRAIN_JOB_FILE).read_text())
    os.chdir(workdir)  # deepmd writes its checkpoints and lcurve.out to the working directory
    for args in dp_steps(workdir, job["numb_steps"], job["init_model"], job["model_name"], job["compress"]):
        dp_main(args)


def _train_on_queue(workdir: Path, spec: dict, job: dict) -> None:
    """The training in ``workdir`` as one queue job (:mod:`pylbs.mlp.queue_jobs`: a GPU node, say), waited
    on; a try the job ended becomes the next try (dpdispatcher would take its job as done), an open one
    (a killed wait) is waited on as it was submitted."""
    write_json_atomic(workdir / TRAIN_JOB_FILE, job)
    def tasks_of(n, held, spec, folder):  # a new command per try: dpdispatcher takes an ended job as done
        return [("job", job_command(spec, "train", workdir, n), "train.log")]

    error, n, _ = submit_try(workdir / "queue", spec, {}, tasks_of,
                             log_dir=workdir.parent)  # one log for the loop's models, trained from threads
    log = workdir / "queue" / f"try-{n}" / "job" / "train.log"
    if error is not None:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else "(no log)"
        raise PylbsError(f"the training job in {workdir} failed ({error}; see {log}); the same command submits "
                         f"it again, from its checkpoint:\n{tail}")


def train_and_freeze(train_systems, valid_systems, workdir, settings: TrainingSettings | None = None,
                     model_name: str = "model.pth", compress: bool = False, progress: bool = False,
                     init_model=None, machine: dict | None = None) -> Path:
    """Train with the PyTorch backend, freeze to ``workdir/model_name`` (and with
    ``compress`` also write ``<stem>-compressed.pth``, which is returned then).

    Resumes from ``model.ckpt.pt`` when an earlier training in ``workdir`` was
    interrupted; returns the frozen model without retraining when it exists.
    ``init_model``: the ``model.ckpt.pt`` of an earlier training to start from (``dp --pt
    train --init-model``, the active-learning loop's next iteration), or a frozen ``.pth`` model
    (``--init-frz-model``: a shipped model a new loop continues from); its architecture (``sel``,
    network sizes, precision) is kept. ``machine``: the ``train`` section of a machine file
    (:func:`pylbs.mlp.queue_jobs.read_machine`): the training runs as a queue job there.
    """
    settings = settings or TrainingSettings()
    workdir = Path(workdir).resolve()  # a queue job runs elsewhere: every path it reads is absolute
    workdir.mkdir(parents=True, exist_ok=True)
    if machine is None:
        refuse_if_open(workdir / "queue", f"the training in {workdir}")
    model = workdir / model_name
    compressed = model.with_name(model.stem + "-compressed" + model.suffix)
    if not model.exists():
        old = workdir / "input.json"
        if init_model is not None:  # the architecture (sel included) must be the initial model's
            settings = replace(settings, **architecture_of(init_model))
        elif settings.sel == "neighbor-stat":
            if (workdir / "model.ckpt.pt").exists() and old.exists():  # resuming: the checkpoint's sel
                sel = json.loads(old.read_text())["model"]["descriptor"]["sel"]
            else:
                sel = sel_from_counts(neighbor_stat(train_systems, settings.rcut, settings.type_map, workdir)[1])
            settings = replace(settings, sel=sel)
        # what the training starts from, for its record (a resumed one restarts from its own checkpoint)
        write_json_atomic(workdir / "start.json", {"init_model": str(Path(init_model).resolve()) if init_model else None,
                                                   "numb_steps": settings.numb_steps, "seed": settings.seed})
        (workdir / "input.json").write_text(json.dumps(deepmd_input(
            [Path(p).resolve() for p in train_systems], [Path(p).resolve() for p in valid_systems],
            settings), indent=2))
        if machine is not None:
            _train_on_queue(workdir, machine, {"numb_steps": settings.numb_steps, "model_name": model_name,
                                               "init_model": str(Path(init_model).resolve()) if init_model else None,
                                               "compress": compress})
            if not model.exists():
                raise PylbsError(f"the training job in {workdir} ended without {model_name}: see "
                                 f"{workdir / 'queue'}/try-*/job/train.log")
        else:
            _run_dp(dp_steps(workdir, settings.numb_steps, init_model, model_name, compress), workdir, "train.log",
                    progress=progress, total_steps=settings.numb_steps)
    if compress:
        if not compressed.exists():
            _run_dp(["--pt", "compress", "-i", model_name, "-o", compressed.name], workdir, "compress.log")
        return compressed
    return model
