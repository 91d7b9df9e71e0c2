"""One queue job of :mod:`pylbs.mlp.label_queue`: ``python -m pylbs.mlp.label_job JOB_JSON INDEX``
labels frame INDEX exactly as a local worker of :func:`pylbs.mlp.label.label_frames` would."""

from __future__ import annotations

import sys
from pathlib import Path

from ase.io import read

from ..jsonio import read_json
from .label import Screening, label_frame_to_file
from .label_queue import FRAMES_FILE


def main(argv=None) -> int:
    job_file, index = (argv or sys.argv[1:])[:2]
    job, k = read_json(Path(job_file)), int(index)
    atoms = read(Path(job_file).parent / FRAMES_FILE, index=k)
    status = label_frame_to_file(k, atoms, job["calculator"], Screening(**job["screening"]),
                                 Path(job["frames_dir"]) / f"{k:06d}.json")
    print(f"frame {k}: {status}")
    return 0  # a failed frame is a result (computed again by the next run), not a failed job


if __name__ == "__main__":
    sys.exit(main())
