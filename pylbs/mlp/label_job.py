"""One queue job of :mod:`pylbs.mlp.label_queue` (``pylbs mlp queue-job label JOB_JSON INDEX``): label
frame INDEX exactly as a local worker of :func:`pylbs.mlp.label.label_frames` would, after checking
that this node's labeller is the one the labelling recorded."""

from __future__ import annotations

import sys
from pathlib import Path

from ase.io import read

from ..errors import PylbsError
from ..jsonio import read_json
from .label import Screening, label_frame_to_file, labeller_fingerprint, labeller_provenance, write_frame_result
from .label_queue import FRAMES_FILE


def _labeller_here(job: dict) -> str | None:
    """Why this node's labeller is not the recorded one, or None. A user's module is found where it
    was on the submitting node (a shared file system), not on the job's PYTHONPATH alone."""
    recorded = job.get("labeller") or {}
    if recorded.get("module_file"):  # the folder its import name starts from; last, so it shadows nothing
        module = Path(recorded["module_file"])
        depth = job["calculator"].partition(":")[0].count(".") + (module.name == "__init__.py")
        sys.path.append(str(module.parents[depth]))
    if labeller_fingerprint(recorded) is None:
        return None
    try:
        here = labeller_provenance(job["calculator"])
    except PylbsError as exc:
        return str(exc)
    if labeller_fingerprint(here) != labeller_fingerprint(recorded):
        return (f"the labeller on this node ({here.get('module_file') or here.get('name')}, sha256 "
                f"{labeller_fingerprint(here)}) is not the recorded one (sha256 {labeller_fingerprint(recorded)}): "
                "the compute nodes must see the same module or teacher weights")
    return None


def run_label_job(job_file, index: int) -> str:
    """Label frame ``index`` of the try ``job_file`` describes; returns its status."""
    job_file = Path(job_file)
    job, k = read_json(job_file), int(index)
    path = Path(job["frames_dir"]) / f"{k:06d}.json"
    mismatch = _labeller_here(job)
    if mismatch is not None:  # a result, not a crash: the frame fails with the reason, computed again later
        write_frame_result(path, {"status": "failed", "reason": mismatch, "index": k, "queue_try": job["try"]})
        return "failed"
    atoms = read(job_file.parent / FRAMES_FILE, index=k)
    return label_frame_to_file(k, atoms, job["calculator"], Screening(**job["screening"]), path,
                               extra={"queue_try": job["try"]})
