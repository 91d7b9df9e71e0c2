"""scripts/locality_frames.py: FMP NVT frames a few fs apart, with image flags, read by
scripts/teacher_locality.py with each atom where it moved, not where the box wraps it."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from pylbs.lammps_io import dump_steps, read_trajectory

ROOT = Path(__file__).resolve().parents[1]


def test_frames_are_evenly_spaced_and_unwrap_without_jumps(tmp_path, fmp_plugin):
    from pylbs.cli import main

    # a quenched glass, as the script expects (a random packing would heat far past the target)
    assert main(["quench", "--glass", "LBS-20-60-20", "--atoms", "105", "--time-scale", "0.0005", "--seed", "3",
                 "--out", str(tmp_path / "fmp"), "--quiet"]) == 0
    data = tmp_path / "fmp" / "final.data"
    out = tmp_path / "nvt"
    cmd = [sys.executable, str(ROOT / "scripts" / "locality_frames.py"), str(data), "--temperature", "2000",
           "--equilibrate", "300", "--frames", "21", "--every", "5", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    dump = out / "trajectory.lammpstrj"
    assert list(dump_steps(dump)) == list(range(0, 101, 5))
    assert dump.read_text().count("ITEM: ATOMS id type x y z ix iy iz\n") == 21
    wrapped = read_trajectory(dump, unwrap=False).positions
    unwrapped = read_trajectory(dump).positions
    box = read_trajectory(dump, unwrap=False).cells[0][0, 0]
    # some atom crossed a face in 100 fs at 2000 K (else this test would prove nothing) ...
    assert np.abs(np.diff(wrapped, axis=0)).max() > box / 2
    # ... and as read, no atom moved more than 0.5 A in 5 fs
    assert np.abs(np.diff(unwrapped, axis=0)).max() < 0.5
    # the thermostat's target: the mean temperature of the dumped run (log.lammps thermo every 100 steps,
    # and at the run's end) within a quarter of 2000 K (105 atoms fluctuate by ~10 %)
    temps = _thermo_temperatures(out / "log.lammps")
    assert abs(np.mean(temps[-2:]) - 2000) < 500
    stamp = dump.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "done already" in again.stdout and dump.stat().st_mtime_ns == stamp
    other = subprocess.run([*cmd, "--temperature", "1000"], capture_output=True, text=True)
    assert other.returncode != 0 and "temperature_K" in other.stderr and dump.stat().st_mtime_ns == stamp
    bad = subprocess.run([*cmd[:2], str(tmp_path / "none.data"), "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode != 0 and "pylbs quench" in bad.stderr


def _thermo_temperatures(log: Path) -> list[float]:
    """The Temp column of every thermo line in a LAMMPS log (found by its header)."""
    temps, header = [], None
    for line in log.read_text().splitlines():
        words = line.split()
        if words[:1] == ["Step"] and "Temp" in words:
            header = words
        elif header and len(words) == len(header) and words[0].isdigit():
            temps.append(float(words[header.index("Temp")]))
        else:
            header = None
    return temps
