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

Submissions are numbered tries (``queue/try-N``, :func:`open_try`): a try stays open until its wait
ends, so a wait that was killed (or lost track of the scheduler) is taken up again on the same jobs,
while a later try never reuses an ended one's (dpdispatcher matches submissions by their hash and
would take its jobs as done).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

from ..dispatcher import import_dpdispatcher
from ..errors import PylbsError
from ..jsonio import read_json, write_json_atomic

KINDS = ("fp", "train")
#: what dpdispatcher needs in each part (the rest has defaults there)
REQUIRED = {"machine": ("batch_type",), "resources": ("number_node", "cpu_per_node", "gpu_per_node", "queue_name",
                                                     "group_size")}
TRIES_FILE = "tries.json"
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
    absent = [f"{part}.{key}" for part, keys in REQUIRED.items() for key in keys if key not in spec[part]]
    if absent:
        raise PylbsError(f"{where} lacks {', '.join(absent)}: dpdispatcher needs them, e.g. {EXAMPLE}")
    spec = {**spec, "machine": {"context_type": "LazyLocalContext", **spec["machine"]}}
    context = str(spec["machine"]["context_type"])
    if context.lower() not in SHARED_CONTEXTS:
        raise PylbsError(f"{where}: context_type {context}: the jobs read and write pylbs's folders in place, so "
                         "they need a file system shared with this node: use LazyLocalContext and run pylbs on "
                         "the cluster's login node")
    return spec


def python_of(spec: dict) -> str:
    """The Python the jobs run (the machine file's, else this one: a virtual environment on a shared
    file system), quoted for the job script."""
    return shlex.quote(spec.get("python") or sys.executable)


def job_command(spec: dict, *args) -> str:
    """The shell command of a queue job: ``pylbs`` (its ``mlp queue-job`` subcommand) under the jobs' Python."""
    return " ".join([python_of(spec), "-m", "pylbs.cli", "mlp", "queue-job", *map(shlex.quote, map(str, args))])


def open_try(folder: Path, content: dict) -> tuple[int, dict]:
    """The try to submit: the last one with what it holds while its wait has not ended (its jobs may
    still be queued or running), else a new one holding ``content``. What a try holds includes the
    machine section it was submitted with: an open try is waited on exactly as submitted (another
    machine file or Python would make another submission, and every job would run twice)."""
    state = read_json(Path(folder) / TRIES_FILE) or {"try": 0, "ended": True}
    if not state["ended"]:
        return state["try"], state.get("content", content)  # a try opened before content was kept: as asked now
    n = state["try"] + 1
    write_json_atomic(Path(folder) / TRIES_FILE, {"try": n, "ended": False, "content": content,
                                                  "opened": time.time()})
    return n, content


def close_try(folder: Path, n: int) -> None:
    state = read_json(Path(folder) / TRIES_FILE) or {}
    write_json_atomic(Path(folder) / TRIES_FILE, {**state, "try": n, "ended": True, "closed": time.time()})


def refuse_if_open(folder: Path, what: str) -> None:
    """Stop a run here (no machine file) while queue jobs of ``folder`` may still be running: both would
    compute the same frames or write the same checkpoint."""
    state = read_json(Path(folder) / TRIES_FILE)
    if state and not state["ended"]:
        raise PylbsError(f"{what} has queue jobs (try {state['try']} in {folder}) that pylbs was waiting on when it "
                         "stopped: run the same command with its --machine to wait on them, or cancel them on the "
                         f"scheduler and delete {Path(folder) / TRIES_FILE} to run here")


def with_python(spec: dict) -> dict:
    """The machine section with the jobs' Python written out (the default is this one's, which a later run
    from another interpreter path must not change)."""
    return {**spec, "python": spec.get("python") or sys.executable}


def summary(error: str) -> str:
    """dpdispatcher's error in one line without terminal colours: its underlying cause where it names one
    (its first line is often only 'Failed while handling an unexpected submission state.')."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", error).splitlines() if ln.strip()]
    cause = [ln for ln in lines if ln.startswith("Underlying job error:")]
    return (cause[0] if cause else lines[0]) if lines else error


class NothingSubmitted(PylbsError):
    """dpdispatcher refused the submission before any job was queued: the try can be closed, and the next
    one submitted with the fixed machine file."""


def submit_and_wait(spec: dict, root: Path, tasks: list[tuple[str, str, str]], log_dir: Path | None = None) -> str | None:
    """Submit ``tasks`` (work folder relative to ``root``, command, log file) as one dpdispatcher
    submission rooted at ``root`` and wait for all of them. Returns why a job failed (after the
    scheduler's retries, every other job followed to its end), or None when all ended well. Raises
    when dpdispatcher stopped while jobs were still queued or running (the scheduler unreachable):
    the same call waits on the same jobs (dpdispatcher matches a submission by its hash)."""
    root = Path(root).resolve()
    for work, _, _ in tasks:  # LazyLocalContext runs in the tasks' folders, it does not make them
        (root / work).mkdir(parents=True, exist_ok=True)
    dp = import_dpdispatcher(Path(log_dir or root))
    try:
        machine = dp.Machine.load_from_dict({**spec["machine"], "local_root": str(root)})
        resources = dp.Resources.load_from_dict(spec["resources"])
    except Exception as exc:  # dpdispatcher's own schema check (dargs): a key it does not know, a wrong type
        raise NothingSubmitted(f"the machine file's {', '.join(spec)} do not load in dpdispatcher: {summary(str(exc))}; "
                         "fix the file (dpdispatcher's docs list each key) and run the same command again") from exc
    # an absolute work_base: the submission's hash, by which a rerun finds its jobs, must not depend on
    # the directory pylbs was started from
    submission = dp.Submission(work_base=str(root), machine=machine, resources=resources, task_list=[
        dp.Task(command=command, task_work_path=work, forward_files=[], backward_files=[], outlog=log, errlog=log)
        for work, command, log in tasks])
    try:
        submission.run_submission(clean=False, check_interval=int(spec.get("check_interval") or 30),
                                  continue_on_failure=True)  # one lost job does not abandon the others
    except Exception as exc:
        from dpdispatcher.submission import JobStatus

        ended = (JobStatus.finished, JobStatus.failed)
        if submission.belonging_jobs and all(j.job_state in ended for j in submission.belonging_jobs):
            return summary(f"{type(exc).__name__}: {exc}")  # every job ended: some failed
        cause = summary(f"{type(exc).__name__}: {exc}")
        if all(j.job_state == JobStatus.unsubmitted for j in submission.belonging_jobs):
            raise NothingSubmitted(f"dpdispatcher submitted nothing from {root} ({cause}; its log: "
                             f"{Path(log_dir or root) / 'dpdispatcher.log'}): fix the machine file or the scheduler "
                             "and run the same command again") from exc
        raise PylbsError(f"dpdispatcher stopped while jobs in {root} were still queued or running ({cause}; its log: "
                         f"{Path(log_dir or root) / 'dpdispatcher.log'}): run the same command again to wait on "
                         "the same jobs") from exc
    return None


def submit_try(queue: Path, spec: dict, content: dict, tasks_of, log_dir: Path) -> tuple[str | None, int, dict]:
    """One try in ``queue`` (:func:`open_try`): the open one as it was submitted, else a new one holding
    ``content`` and ``spec``; ``tasks_of(n, held, spec, folder)`` gives its tasks (and may write the files
    they read). Returns ``submit_and_wait``'s answer, the try's number and what it holds. The try is
    closed when its wait ends, or when dpdispatcher submitted nothing (the next command uses the fixed
    file); an interrupted wait leaves it open, for the rerun to wait on the same jobs."""
    queue.mkdir(parents=True, exist_ok=True)
    n, held = open_try(queue, {**content, "spec": with_python(spec)})
    spec = held.get("spec") or with_python(spec)
    folder = queue / f"try-{n}"
    folder.mkdir(exist_ok=True)
    try:
        error = submit_and_wait(spec, folder, tasks_of(n, held, spec, folder), log_dir=log_dir)
    except NothingSubmitted:
        close_try(queue, n)
        raise
    close_try(queue, n)
    return error, n, held
