"""Ring formation while cooling: counts vs T and share of the final 3MRs, with ring identity by atom ids."""

from __future__ import annotations

import pytest

from _lbs_structures import ring_classes, write_dump
from pylbs.analysis.ring_formation import ring_formation
from pylbs.errors import AnalysisError

# (temperature, rings present); B-only rings are 0..3, "si" is the B2Si ring
SCHEDULE = [(1500, (3,)), (1200, (0, 3, "si")), (900, (0, 1)), (600, (0, 1, 2, "si")), (300, (0, 1, 2, "si"))]


def frames():
    out = []
    for t, present in SCHEDULE:
        a = ring_classes(present=present)
        a.info["temperature"] = t
        out.append(a)
    return out


def test_counts_and_share_of_final():
    res = ring_formation(frames())
    assert res.temperatures.tolist() == [1500, 1200, 900, 600, 300]
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]          # B-only 3MRs
    # final B-only rings {0,1,2}: ring 3 (present at 1500 K) is not one of them
    assert res.n_final == 3
    assert res.share_of_final.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    every = ring_formation(frames(), boron_only=False)
    assert every.n_three_membered.tolist() == [1, 3, 2, 4, 4]
    assert every.share_of_final.tolist() == pytest.approx([0, 2 / 4, 2 / 4, 1, 1])


def test_counts_by_class_vs_temperature():
    """Each frame's 3MRs by class (paper Fig. 7): ring k of ring_classes has k 4B members, "si" has Si."""
    res = ring_formation(frames())
    assert {c: v.tolist() for c, v in res.class_counts.items()} == {
        "0": [0, 1, 1, 1, 1], "1": [0, 0, 1, 1, 1], "2": [0, 0, 0, 1, 1], "3": [1, 1, 0, 0, 0],
        "other": [0, 0, 0, 0, 0], "with_Si": [0, 1, 0, 1, 1]}
    # B-only classes add up to the B-only count of every frame
    assert sum(res.class_counts[c] for c in ("0", "1", "2", "3", "other")).tolist() == res.n_three_membered.tolist()
    t, classes = res.binned_classes(1000.0)  # 1500/1200 K -> one bin, 900/600/300 K -> another
    assert t.tolist() == [1500, 500]
    assert classes["3"].tolist() == pytest.approx([1.0, 0.0]) and classes["with_Si"].tolist() == pytest.approx(
        [0.5, 2 / 3])
    assert res.to_dict()["class_counts"]["1"] == [0, 0, 1, 1, 1]


def test_binned_every_10K():
    res = ring_formation(frames())
    t, n, share = res.binned(10.0)
    assert t.tolist() == [1505, 1205, 905, 605, 305]
    assert n.tolist() == [1, 2, 2, 3, 3]
    t, n, share = res.binned(1000.0)  # 1500/1200 -> one bin, 900/600/300 -> another
    assert t.tolist() == [1500, 500] and n.tolist() == pytest.approx([1.5, 8 / 3])


def test_dump_with_shuffled_atoms_and_given_temperatures(tmp_path):
    dump = tmp_path / "cooling.dump"
    write_dump(dump, frames())
    temps = [t for t, _ in SCHEDULE]
    res = ring_formation(str(dump), temperatures=temps)
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]
    assert res.share_of_final.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    sub = ring_formation(str(dump), temperatures=temps[2:], frames="2:")
    assert sub.frames.tolist() == [2, 3, 4] and sub.share_of_final.tolist() == pytest.approx([2 / 3, 1, 1])
    with pytest.raises(AnalysisError, match="temperature"):
        ring_formation(str(dump))  # a dump carries no temperature
    with pytest.raises(AnalysisError, match="one temperature"):
        ring_formation(str(dump), temperatures=[300])


def test_plots(tmp_path):
    from pylbs.analysis.plots import plot_4B_vs_measured, plot_ring_sizes, plot_rings_vs_temperature
    from pylbs.analysis.rings import ring_statistics

    res = ring_formation(frames())
    assert plot_rings_vs_temperature(res, tmp_path / "t.png").stat().st_size > 1000
    assert plot_ring_sizes({"classes": ring_statistics(ring_classes())}, tmp_path / "r.png").stat().st_size > 1000
    p = plot_4B_vs_measured({"LBS-20-60-20": [0.35, 0.38], "LBS-10-20-70": 0.02}, tmp_path / "b.png")
    assert p.stat().st_size > 1000
    two = plot_4B_vs_measured({"FMP": {"LBS-20-60-20": 0.25, "LBS-40-40-20": None}, "MLP": {"LBS-20-60-20": 0.3}},
                              tmp_path / "c.png")  # several series; a glass without a value is left out
    assert two.stat().st_size > 1000


def test_temperature_from_extxyz_comment_line(tmp_path):
    from ase.io import write

    path = tmp_path / "cooling.extxyz"
    write(path, frames())  # atoms.info["temperature"] -> "temperature=..." in each comment line
    res = ring_formation(str(path))
    assert res.temperatures.tolist() == [1500, 1200, 900, 600, 300]
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]


def test_run_folder_formation_temperatures_from_the_schedule(tmp_path):
    """`pylbs analyze RUN --formation`: frames from the cooling stage on, each at its schedule
    temperature; every final ring's formation T is where its unbroken presence starts."""
    import json
    import subprocess
    import sys

    from pylbs.protocols.schedules import Schedule, Stage

    dt = 0.001
    # hold 1500 K for 4 steps, then cool 1500 -> 300 K in 4 steps: 300 K per step
    sched = Schedule((Stage("hold", 1500, 1500, 4 * dt), Stage("cool", 1500, 300, 4 * dt)))
    (tmp_path / "progress.json").write_text(json.dumps({"request": {"schedule": sched.to_dict(), "timestep_ps": dt}}))
    hold_frame = ring_classes(present=(0, 1, 2, 3, "si"))  # step 2, before the cooling: not analysed
    write_dump(tmp_path / "trajectory.lammpstrj", [hold_frame] + frames(), steps=[2, 4, 5, 6, 7, 8])
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "analyze", str(tmp_path), "--formation", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["temperature"] == [1500, 1200, 900, 600, 300] and out["frames"] == [1, 2, 3, 4, 5]
    assert out["n_three_membered"] == [1, 2, 2, 3, 3] and out["n_final"] == 3
    # rings 0 (from 1200 K), 1 (900 K), 2 (600 K); ring 3 vanished and the B2Si ring is not B-only
    assert sorted(r["formation_temperature_K"] for r in out["final_rings"]) == [600.0, 900.0, 1200.0]
    assert all(len(r["ids"]) == 6 for r in out["final_rings"])  # 3 B + 3 O
    assert (tmp_path / "ring_formation.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "ring_formation.json").read_text())["n_final"] == 3


def test_run_folder_without_cooling_frames_names_the_fix(tmp_path):
    import json

    from pylbs.analysis.ring_formation import ring_formation_run
    from pylbs.protocols.schedules import Schedule, Stage

    sched = Schedule((Stage("hold", 1500, 1500, 0.004), Stage("cool", 1500, 300, 0.004)))
    (tmp_path / "progress.json").write_text(json.dumps({"request": {"schedule": sched.to_dict(), "timestep_ps": 0.001}}))
    write_dump(tmp_path / "trajectory.lammpstrj", [frames()[-1]], steps=[8])
    with pytest.raises(AnalysisError, match="--cool-frame-every-K 10"):
        ring_formation_run(tmp_path)
    with pytest.raises(AnalysisError, match="no stage 'quench'"):
        ring_formation_run(tmp_path, first_stage="quench")
