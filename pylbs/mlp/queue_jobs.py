"""Queue jobs of the MLP route through dpdispatcher (Slurm, PBS, LSF, ... or ``Shell``): the machine
file and one submission waited on. DFT labels (:mod:`pylbs.mlp.label_queue`) and trainings
(:func:`pylbs.mlp.train.train_and_freeze`) use it.

The machine file is dpdispatcher's format, in sections per kind of job as DP-GEN's is, so the
labels can go to CPU nodes with the DFT code and the trainings to GPU nodes::

    {"fp":    {"machine": {"batch_type": "Slurm", "context_type": "LazyLocalContext"},
               "resources": {"number_node": 1, "cpu_per_node": 64, "gpu_per_node": 0,
                             "queue_name": "cpu", "group_size": 1, "module_list": ["vasp/6.4"]}},
     "train": {"machine": {"batch_type": "Slurm", "context_type": "LazyLocalContext"},
               "resources": {"number_node": 1, "cpu_per_node": 8, "gpu_per_node": 1,
                             "queue_name": "gpu", "group_size": 1}},
     "python": "/shared/venv/bin/python", "check_interval": 60}

A file with ``machine`` and ``resources`` at the top serves every kind; a kind with no section runs
where pylbs runs. ``python`` (default: the one running pylbs) and ``check_interval`` (s) may sit
at the top or in a section. The jobs read and write pylbs's own folders, so the compute nodes must
share them with this node: ``LazyLocalContext`` (as campaigns use by default), others are refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..dispatcher import import_dpdispatcher
from ..errors import PylbsError

KINDS = ("fp", "train")
SHARED_CONTEXTS = ("lazylocalcontext", "lazylocal")
EXAMPLE = ('{"fp": {"machine": {"batch_type": "Slurm", "context_type": "LazyLocalContext"}, "resources": '
           '{"number_node": 1, "cpu_per_node": 64, "gpu_per_node": 0, "queue_name": "cpu", "group_size": 1}}}')


def read_machine(path, kind: str = "fp", required: bool = True) -> dict | None:
    """The ``kind`` section of a machine file (``machine``, ``resources``, ``python``,
    ``check_interval``), checked before anything is submitted; None when the file has no section for
    it and ``required`` is False (that kind then runs here)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise PylbsError(f"machine file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PylbsError(f"machine file {path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PylbsError(f"machine file {path}: a JSON object is needed, e.g. {EXAMPLE}")
    if isinstance(raw.get(kind), dict):
        spec = {"python": raw.get("python"), "check_interval": raw.get("check_interval"), **raw[kind]}
    elif "machine" in raw or "resources" in raw:
        spec = raw
    elif not required:
        return None
    else:
        raise PylbsError(f"machine file {path} has no {kind} section (nor machine and resources at the top): "
                         f"dpdispatcher's format in sections as DP-GEN's, e.g. {EXAMPLE}")
    where = f"machine file {path}" + (f", section {kind}" if kind in raw else "")
    missing = [k for k in ("machine", "resources") if not isinstance(spec.get(k), dict)]
    if missing:
        raise PylbsError(f"{where} has no {' or '.join(missing)}: dpdispatcher's format, e.g. {EXAMPLE}")
    context = str(spec["machine"].get("context_type", "LazyLocalContext"))
    if context.lower() not in SHARED_CONTEXTS:
        raise PylbsError(f"{where}: context_type {context}: the jobs read and write pylbs's folders in place, so "
                         "they need a file system shared with this node: use LazyLocalContext and run pylbs on "
                         "the cluster's login node")
    return spec


def python_of(spec: dict) -> str:
    """The Python the jobs run (the machine file's, else this one: a virtual environment on a shared
    file system)."""
    return spec.get("python") or sys.executable


def submit_and_wait(spec: dict, root: Path, tasks: list[tuple[str, str, str]]) -> str | None:
    """Submit ``tasks`` (work folder relative to ``root``, command, log file) as one dpdispatcher
    submission rooted at ``root`` and wait for all of them; returns why a job failed (after the
    scheduler's retries, every other job followed to its end), or None. Killed while it waits, the
    same tasks submitted again find their jobs (dpdispatcher matches a submission by its hash)."""
    root = Path(root)
    for work, _, _ in tasks:  # LazyLocalContext runs in the tasks' folders, it does not make them
        (root / work).mkdir(parents=True, exist_ok=True)
    dp = import_dpdispatcher(root)
    machine = dp.Machine.load_from_dict({**spec["machine"], "local_root": str(root)})
    resources = dp.Resources.load_from_dict(spec["resources"])
    submission = dp.Submission(work_base=".", machine=machine, resources=resources, task_list=[
        dp.Task(command=command, task_work_path=work, forward_files=[], backward_files=[], outlog=log, errlog=log)
        for work, command, log in tasks])
    try:
        submission.run_submission(clean=False, check_interval=int(spec.get("check_interval") or 30),
                                  continue_on_failure=True)  # one lost job does not abandon the others
    except Exception as exc:  # a job the scheduler lost or killed (or dpdispatcher's own error)
        return f"{type(exc).__name__}: {exc}"
    return None
