"""scripts/locality_frames.py: FMP NVT frames a few fs apart, with image flags, read by
scripts/teacher_locality.py with each atom where it moved, not where the box wraps it."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from pylbs.lammps_io import dump_steps, read_trajectory
from pylbs.structure import write_lammps_data

ROOT = Path(__file__).resolve().parents[1]


def test_frames_are_evenly_spaced_and_unwrap_without_jumps(tmp_path, md_small_glass, fmp_plugin):
    data = write_lammps_data(md_small_glass, tmp_path / "glass.data")
    out = tmp_path / "nvt"
    cmd = [sys.executable, str(ROOT / "scripts" / "locality_frames.py"), str(data), "--temperature", "2000",
           "--equilibrate", "50", "--frames", "21", "--every", "5", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    dump = out / "trajectory.lammpstrj"
    assert list(dump_steps(dump)) == list(range(0, 101, 5))
    assert dump.read_text().count("ITEM: ATOMS id type x y z ix iy iz\n") == 21
    wrapped = read_trajectory(dump, unwrap=False).positions
    unwrapped = read_trajectory(dump).positions
    box = md_small_glass.cell.lengths()[0]
    # some atom crossed a face in 100 fs at 2000 K (else this test would prove nothing) ...
    assert np.abs(np.diff(wrapped, axis=0)).max() > box / 2
    # ... and as read, no atom moved more than 0.5 A in 5 fs
    assert np.abs(np.diff(unwrapped, axis=0)).max() < 0.5
    stamp = dump.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "done already" in again.stdout and dump.stat().st_mtime_ns == stamp
    bad = subprocess.run([*cmd[:2], str(tmp_path / "none.data"), "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode != 0 and "pylbs quench" in bad.stderr
