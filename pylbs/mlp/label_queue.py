"""Labelling frames as queue jobs through dpdispatcher: DFT frames that each need a node.

``label_frames(..., machine="machine.json")`` sends every frame still to label as one task of the
machine file's ``fp`` section (:mod:`pylbs.mlp.queue_jobs`: dpdispatcher's format, sections as
DP-GEN's) and waits for them, instead of running them in local processes.

Each task runs ``python -m pylbs.mlp.label_job`` in ``WORKDIR/queue/try-N/NNNNNN/`` (its log
``label.log``) and writes the frame's result where a local worker would, so everything else
(screening, resuming, failed frames computed again, the report) is :mod:`pylbs.mlp.label`'s.
Killed while it waits, the same command submitted again finds its jobs (dpdispatcher matches a
submission by its hash); once a submission has ended, the next one is ``try-N+1``: a labelling
job always succeeds (a failed frame is a result), so dpdispatcher's finished tags would otherwise
skip the frames to compute again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ase.io import write as write_frames

from ..errors import PylbsError
from ..jsonio import read_json, write_json_atomic
from .queue_jobs import python_of, read_machine, submit_and_wait

QUEUE_DIR = "queue"
JOB_FILE = "job.json"
FRAMES_FILE = "frames.traj"
JOB_LOG = "label.log"


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
    spec = read_machine(machine_file, "fp")
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
    t0 = time.time()
    error = submit_and_wait(spec, folder, [(f"{k:06d}", f"{python_of(spec)} -m pylbs.mlp.label_job "
                                            f"{queue / JOB_FILE} {k}", JOB_LOG) for k in indices])
    # ended (not interrupted: Ctrl-C or a kill leaves it open, and the same command waits on its jobs again)
    write_json_atomic(queue / "tries.json", {"try": int(folder.name.split("-")[1]), "ended": True,
                                             "seconds": round(time.time() - t0, 1)})
    return error


def job_log(workdir, k: int) -> Path:
    """Where the queue job of frame ``k`` of the latest submission logged."""
    queue = Path(workdir) / QUEUE_DIR
    state = read_json(queue / "tries.json") or {"try": 1}
    return queue / f"try-{state['try']}" / f"{k:06d}" / JOB_LOG
