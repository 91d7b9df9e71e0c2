"""`analyze` end to end: JSON keys and known values for a data file, a trajectory and ase input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from ase.io import write

from _lbs_structures import quartz, ring_classes, write_dump
from pylbs.analysis.analyze import analyze
from pylbs.cli import main
from pylbs.structure import write_lammps_data

ISSUE_KEYS = {"n_atoms", "fraction_4B", "fraction_5Si", "coordination", "rings", "three_membered_boron",
              "three_membered_with_si", "fraction_3B_in_3MR"}


def _check_ring_classes(res):
    assert res["n_atoms"] == 61
    assert res["fraction_4B"] == pytest.approx(6 / 16)
    assert res["fraction_5Si"] == 0.0
    assert res["coordination"]["B"] == {"3": 10, "4": 6}
    assert res["coordination"]["Si"] == {"4": 1}
    assert res["rings"]["size_histogram"]["3"] == 5
    assert res["three_membered_boron"] == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert res["three_membered_with_si"] == 1
    assert res["fraction_3B_in_3MR"] == pytest.approx(0.8)


def test_cli_json_on_lammps_data(tmp_path):
    path = write_lammps_data(ring_classes(), tmp_path / "rings.data")
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "analyze", str(path), "--json", "--members",
                          "--plot", str(tmp_path / "rings.png")], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert ISSUE_KEYS <= set(res)
    _check_ring_classes(res)
    assert res["plot"] == str(tmp_path / "rings.png") and (tmp_path / "rings.png").read_bytes()[:4] == b"\x89PNG"
    assert len(res["rings"]["three_membered_rings"]) == 5
    assert res["n_frames"] == 1 and res["std"]["fraction_4B"] == 0.0
    assert res["bond_angles"]["mean"]["B-O-B"] == pytest.approx(120.0)


def test_trajectory_mean_and_std(tmp_path):
    frames = [ring_classes(present=(0, 1, 2, 3, "si")), ring_classes(present=(0,)), ring_classes(present=(0, 1))]
    path = tmp_path / "traj.extxyz"
    write(path, frames)
    res = analyze(str(path))
    assert res["n_frames"] == 3 and len(res["per_frame"]) == 3
    assert [f["three_membered_boron"]["0"] for f in res["per_frame"]] == [1, 1, 1]
    assert [f["rings"]["size_histogram"]["3"] for f in res["per_frame"]] == [5, 1, 2]
    assert res["mean"]["rings.size_histogram.3"] == pytest.approx(8 / 3)
    assert res["std"]["three_membered_boron.1"] == pytest.approx((1 / 3) ** 0.5)  # [1, 0, 1], ddof = 1
    assert res["std_convention"].startswith("sample standard deviation (ddof=1)")
    assert res["rings"]["size_histogram"]["3"] == pytest.approx(8 / 3)
    assert res["three_membered_boron"]["1"] == pytest.approx(2 / 3)
    _check_ring_classes(res["per_frame"][0])
    # a broken ring's moved B keeps only its own O: 3B/4B go to 1- or 2-fold.
    # B CN counts per frame: {3: 10, 4: 6}, {1: 2, 2: 1, 3: 8, 4: 5}, {1: 1, 2: 1, 3: 9, 4: 5}
    assert res["coordination"]["B"] == pytest.approx({"1": 1.0, "2": 2 / 3, "3": 9.0, "4": 16 / 3})
    assert res["fraction_4B"] == pytest.approx((6 + 5 + 5) / 3 / 16)
    last = analyze(str(path), frames="-1")
    assert last["frames"] == [2] and last["rings"]["size_histogram"]["3"] == 2
    json.dumps(res, allow_nan=False)  # strict JSON (NaN written as null)


def test_run_folders_separate_frame_and_replica_spreads(tmp_path):
    """`pylbs analyze FOLDER` of two replica runs: each run is averaged over the frames of its sample
    stage only (the paper's last 100 ps), then mean and std (ddof=1) over the runs; frame_std is the
    runs' mean frame-to-frame spread, reported apart from the replica spread."""
    from pylbs.analysis.analyze import analyze_runs
    from pylbs.protocols.schedules import Schedule, Stage

    dt = 0.001
    sched = Schedule((Stage("melt", 3000, 3000, 4 * dt), Stage("sample", 300, 300, 4 * dt)))
    # 3MRs per frame: all five rings 5, (0,) 1, (0, 1) 2, (0, 1, 2) 3
    runs = {"replica-1": [(0, 1, 2, 3, "si"), (0, 1, 2, 3, "si"), (0,)],   # first frame: melt stage, left out
            "replica-2": [(0, 1, 2, 3, "si"), (0, 1), (0, 1, 2)]}
    for name, present in runs.items():
        d = tmp_path / name
        d.mkdir()
        (d / "progress.json").write_text(json.dumps({"request": {"schedule": sched.to_dict(), "timestep_ps": dt}}))
        write_dump(d / "trajectory.lammpstrj", [ring_classes(present=p) for p in present], steps=[3, 6, 8])
    res = analyze_runs(tmp_path)
    assert res["n_runs"] == 2 and res["n_frames_per_run"] == [2, 2]
    # ring counts: run 1 frames [5, 1] (mean 3, std 8 ** 0.5), run 2 [2, 3] (mean 2.5, std 0.5 ** 0.5)
    assert res["mean"]["rings.size_histogram.3"] == pytest.approx(2.75)
    assert res["std"]["rings.size_histogram.3"] == pytest.approx(0.125 ** 0.5)  # std of [3, 2.5], ddof=1
    assert res["frame_std"]["rings.size_histogram.3"] == pytest.approx((8 ** 0.5 + 0.5 ** 0.5) / 2)
    # 4B and 3B_ring: frame means of each run's own frames (checked one frame at a time), then over runs
    one = {p: analyze(ring_classes(present=p)) for p in ((0, 1, 2, 3, "si"), (0,), (0, 1), (0, 1, 2))}
    for key in ("fraction_4B", "fraction_3B_in_3MR"):
        per_run = [np.mean([one[p][key] for p in present[1:]]) for present in runs.values()]
        assert res[key] == pytest.approx(np.mean(per_run)) and res["std"][key] == pytest.approx(np.std(per_run, ddof=1))
    assert one[(0, 1, 2, 3, "si")]["fraction_3B_in_3MR"] == pytest.approx(0.8)  # 8 of the 10 3B (known answer)
    assert res["std_convention"].startswith("sample standard deviation (ddof=1)")


def test_boron_network_rings_leave_si_out():
    """--network B (paper Fig. S6): rings of the B-O network alone; the B2Si ring is not one of them."""
    both = analyze(ring_classes())
    b_only = analyze(ring_classes(), formers=("B",))
    assert both["rings"]["size_histogram"]["3"] == 5 and b_only["network"] == "B-O"
    assert b_only["rings"]["size_histogram"]["3"] == 4  # the four B-only 3MRs (0..3 4B members)
    assert b_only["fraction_4B"] == both["fraction_4B"]


def test_quartz_and_parser_wiring(capsys):
    res = analyze(quartz(3))
    assert res["fraction_4B"] is None  # no B
    assert res["fraction_3B_in_3MR"] is None
    assert res["coordination"]["Si"] == {"4": 81}
    assert {k: v for k, v in res["rings"]["size_histogram"].items() if v} == {"6": 81, "8": 405}
    assert res["rings"]["per_formula_unit"]["8"] == pytest.approx(5.0)

    assert main(["analyze", "missing.data", "--cutoff", "B-O=1.8", "--frames", "0:2"]) == 2
    assert "no file missing.data" in capsys.readouterr().err  # one line, exit status 2
    assert main(["analyze", "missing.data", "--cutoff", "B-O:1.8"]) == 2
    assert "--cutoff 'B-O:1.8': write it as ELEMENT-ELEMENT=NUMBER" in capsys.readouterr().err


def test_replica_statistics():
    from pylbs.analysis.analyze import replica_statistics

    runs = [analyze(ring_classes(present=p)) for p in ((0, 1, 2, 3, "si"), (0, 1))]
    rep = replica_statistics(runs)
    assert rep["n_replicas"] == 2
    assert rep["mean"]["rings.size_histogram.3"] == pytest.approx(3.5)
    assert rep["std"]["rings.size_histogram.3"] == pytest.approx(np.std([5, 2], ddof=1))
    assert rep["mean"]["fraction_4B"] == pytest.approx((6 / 16 + 5 / 16) / 2)
