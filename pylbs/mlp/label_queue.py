"""Labelling frames as queue jobs through dpdispatcher: DFT frames that each need a node.

``label_frames(..., machine="machine.json")`` sends every frame still to label as one task of the
machine file's ``fp`` section (:mod:`pylbs.mlp.queue_jobs`: dpdispatcher's format, sections as
DP-GEN's) and waits for them, instead of running them in local processes.

Each task runs ``pylbs mlp queue-job label`` (:mod:`pylbs.mlp.label_job`) in
``WORKDIR/queue/try-N/NNNNNN/`` (its log ``label.log``) and writes the frame's result where a local
worker would, marked with its try, so everything else (screening, resuming, failed frames computed
again, the report) is :mod:`pylbs.mlp.label`'s. Killed while it waits, the same command waits on the
same try's jobs again; once a try's wait has ended, the next run submits ``try-N+1``
(:func:`pylbs.mlp.queue_jobs.open_try`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ase.io import write as write_frames

from ..errors import PylbsError
from ..jsonio import write_json_atomic
from .queue_jobs import job_command, read_machine, submit_try

QUEUE_DIR = "queue"
JOB_FILE = "job.json"
FRAMES_FILE = "frames.traj"
JOB_LOG = "label.log"


def run_on_queue(indices, frames, workdir, calculator: str, screening: dict, machine_file,
                 labeller: dict | None = None) -> tuple[str | None, int, list[int]]:
    """Label ``frames[k]`` for every ``k`` in ``indices`` as queue jobs and wait for them. Returns why a
    job failed (one dpdispatcher gave up on) or None, the try's number (the jobs write it into their
    results) and the frames it holds: a try that is still open (a killed wait) is waited on again with
    its own frames and machine section. Frames of the try with no result of it are the caller's to mark
    failed. ``labeller``: the calculator's provenance, which each job checks on its node."""
    if not isinstance(calculator, str):
        raise PylbsError("queue jobs build their own calculator: give it as a name or module:function, "
                         "not an instance")
    workdir = Path(workdir).resolve()

    def tasks_of(n, held, spec, folder):
        job = folder / JOB_FILE
        if not job.exists():  # written once per try: the jobs of a try all read the same frames and labeller
            tmp = folder / f".{FRAMES_FILE}.tmp"
            write_frames(tmp, list(frames), format="traj")  # every frame, exact: a task reads its own by index
            os.replace(tmp, folder / FRAMES_FILE)
            write_json_atomic(job, {"calculator": calculator, "screening": screening, "labeller": labeller,
                                    "frames_dir": str(workdir / "frames"), "try": n})
        return [(f"{k:06d}", job_command(spec, "label", job, k), JOB_LOG) for k in held["frames"]]

    error, n, held = submit_try(workdir / QUEUE_DIR, read_machine(machine_file, "fp"),
                                {"frames": [int(k) for k in indices]}, tasks_of, log_dir=workdir / QUEUE_DIR)
    return error, n, held["frames"]


def job_log(workdir, n: int, k: int) -> Path:
    """Where the queue job of frame ``k`` in try ``n`` logged."""
    return Path(workdir) / QUEUE_DIR / f"try-{n}" / f"{k:06d}" / JOB_LOG
