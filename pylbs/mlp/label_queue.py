"""Labelling frames as queue jobs through dpdispatcher: DFT frames that each need a node.

``label_frames(..., machine="machine.json")`` sends every frame still to label as one
dpdispatcher task (Slurm, PBS, LSF, ... or ``Shell`` on one machine) and waits for them, instead
of running them in local processes. ``machine.json`` is dpdispatcher's own format, as DP-GEN's
``fp`` section has it::

    {"machine": {"batch_type": "Slurm", "context_type": "LazyLocalContext"},
     "resources": {"number_node": 1, "cpu_per_node": 64, "gpu_per_node": 0,
                   "queue_name": "cpu", "group_size": 4,
                   "module_list": ["vasp/6.4"], "envs": {"ASE_VASP_COMMAND": "srun vasp_std"}},
     "python": "/path/to/venv/bin/python", "check_interval": 60}

Each task runs ``python -m pylbs.mlp.label_job`` in ``WORKDIR/queue/try-N/NNNNNN/`` (its log
``label.log``) and writes the frame's result where a local worker would, so everything else
(screening, resuming, failed frames computed again, the report) is :mod:`pylbs.mlp.label`'s.
The jobs read and write ``WORKDIR`` itself, so the login node and the compute nodes must share
it (``LazyLocalContext``, as campaigns use by default); ``python`` (default: this one) must run
there too. Killed while it waits, the same command submitted again finds its jobs
(dpdispatcher matches a submission by its hash); once a submission has ended, the next one is
``try-N+1``, so frames that failed are computed again rather than taken as finished.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ase.io import write as write_frames

from ..dispatcher import import_dpdispatcher
from ..errors import PylbsError
from ..jsonio import read_json, write_json_atomic

QUEUE_DIR = "queue"
JOB_FILE = "job.json"
FRAMES_FILE = "frames.traj"
JOB_LOG = "label.log"
SHARED_CONTEXTS = ("lazylocalcontext", "lazylocal")


def read_machine(path) -> dict:
    """A dpdispatcher machine file (``machine`` and ``resources``; ``python``, ``check_interval``
    optional), checked for what the labeller needs before anything is submitted."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except OSError as exc:
        raise PylbsError(f"machine file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PylbsError(f"machine file {path} is not JSON: {exc}") from exc
    missing = [k for k in ("machine", "resources") if not isinstance(spec.get(k), dict)]
    if missing:
        raise PylbsError(f"machine file {path} has no {' or '.join(missing)} section: dpdispatcher's format, "
                         '{"machine": {"batch_type": "Slurm", "context_type": "LazyLocalContext"}, '
                         '"resources": {"number_node": 1, "cpu_per_node": 64, "gpu_per_node": 0, '
                         '"queue_name": "cpu", "group_size": 1}}')
    context = str(spec["machine"].get("context_type", "LazyLocalContext"))
    if context.lower() not in SHARED_CONTEXTS:
        raise PylbsError(f"machine file {path}: context_type {context}: the labelling jobs write their results "
                         "into the labelling folder itself, so they need a file system shared with this node: "
                         "use LazyLocalContext and run this command on the cluster's login node")
    return spec


def _try_folder(queue: Path) -> Path:
    """The submission folder: the last one while it has not ended (a killed wait finds its jobs again),
    else a new one (its tasks are not taken as finished by dpdispatcher's tags)."""
    state = read_json(queue / "tries.json") or {"try": 0, "ended": True}
    if state["ended"]:
        state = {"try": state["try"] + 1, "ended": False}
        write_json_atomic(queue / "tries.json", state)
    return queue / f"try-{state['try']}"


def run_on_queue(indices, frames, workdir, calculator: str, screening: dict, machine_file) -> str | None:
    """Label ``frames[k]`` for every ``k`` in ``indices`` as queue jobs and wait for them; returns why the
    submission failed (a job dpdispatcher gave up on), or None. Frames whose job gave no result are
    the caller's to mark failed."""
    spec = read_machine(machine_file)
    if not isinstance(calculator, str):
        raise PylbsError("queue jobs build their own calculator: give it as a name or module:function, "
                         "not an instance")
    workdir = Path(workdir).resolve()
    queue = workdir / QUEUE_DIR
    queue.mkdir(parents=True, exist_ok=True)
    tmp = queue / f".{FRAMES_FILE}.tmp"
    write_frames(tmp, list(frames), format="traj")  # every frame, exact: a task reads its own by index
    os.replace(tmp, queue / FRAMES_FILE)
    write_json_atomic(queue / JOB_FILE, {"calculator": calculator, "screening": screening,
                                         "frames_dir": str(workdir / "frames")})
    folder = _try_folder(queue)
    folder.mkdir(exist_ok=True)
    dp = import_dpdispatcher(queue)
    machine = dp.Machine.load_from_dict({**spec["machine"], "local_root": str(folder)})
    resources = dp.Resources.load_from_dict(spec["resources"])
    python = spec.get("python") or sys.executable
    for k in indices:  # the tasks' folders (LazyLocalContext runs in them, it does not make them)
        (folder / f"{k:06d}").mkdir(exist_ok=True)
    tasks = [dp.Task(command=f"{python} -m pylbs.mlp.label_job {queue / JOB_FILE} {k}",
                     task_work_path=f"{k:06d}", forward_files=[], backward_files=[], outlog=JOB_LOG, errlog=JOB_LOG)
             for k in indices]
    submission = dp.Submission(work_base=".", machine=machine, resources=resources, task_list=tasks)
    t0 = time.time()
    try:
        submission.run_submission(clean=False, check_interval=int(spec.get("check_interval", 30)),
                                  continue_on_failure=True)  # one lost job does not abandon the others
        error = None
    except Exception as exc:  # a job the scheduler lost or killed: its frames get no result, and fail
        error = f"{type(exc).__name__}: {exc}"
    # ended (not interrupted: Ctrl-C or a kill leaves it open, and the same command waits on its jobs again)
    write_json_atomic(queue / "tries.json", {"try": int(folder.name.split("-")[1]), "ended": True,
                                             "seconds": round(time.time() - t0, 1)})
    return error


def job_log(workdir, k: int) -> Path:
    """Where the queue job of frame ``k`` of the latest submission logged."""
    queue = Path(workdir) / QUEUE_DIR
    state = read_json(queue / "tries.json") or {"try": 1}
    return queue / f"try-{state['try']}" / f"{k:06d}" / JOB_LOG
