"""The active-learning loop end to end on tiny settings: the real teacher (CHGNet r2SCAN), real LAMMPS
explorations with a two-model ensemble, real deepmd-kit trainings; two iterations.

Checked: the candidates of every exploration are exactly its frames whose model deviation
(recomputed here from deepmd's own model_devi.out) lies in the trust window; each labelled
frame is one of them, with the teacher's energy; the record and the figure are written;
a second run redoes no training, no labelling and no exploration.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pylbs.lammps_io import MODEL_DEVI_RAW, dump_steps

LO, HI, CAP = 0.05, 5.0, 4


def _settings():
    from pylbs.mlp.learn import LearnSettings

    return LearnSettings(systems=("LBS-20-60-20",), held_out="LBS-40-40-20", n_atoms=63, n_models=2, iterations=2,
                      seed_temperatures=(1200.0,), seed_frames=3, seed_strains=(0.0,), init_steps=40,
                      refine_steps=20, descriptor_neurons=(8, 16), axis_neuron=4, fitting_neurons=(16, 16),
                      sel=(12, 24, 12, 60), explore_time_scale=0.001, fmp_time_scale=0.0005, max_candidates=CAP,
                      trust_lo=LO, trust_hi=HI, stability_glasses=("LBS-20-60-20",), stability_atoms=63,
                      stability_time_scale=0.001, workers=1, zbl_core=(0.9, 1.3), conditions=("npt-300K",))


def _run_loop(out):
    from pylbs.mlp.learn import ActiveLearning

    ActiveLearning(out, _settings()).run()
    return str(out)


def test_active_learning_loop(tmp_path, fmp_plugin):
    """One test (the loop takes two minutes; separate tests would wait on each other under xdist):
    the windows, the labels, then the record and a resume that redoes nothing."""
    out = tmp_path / "learn"
    _run_loop(out)
    loop = out, _settings(), json.loads((out / "record.json").read_text())
    _two_iterations_select_exactly_the_window(loop)
    _labelled_frames_are_candidates_with_teacher_labels(loop)
    _record_figure_and_resume_redo_nothing(loop)


def _two_iterations_select_exactly_the_window(loop):
    out, s, rec = loop
    assert [it["iteration"] for it in rec["iterations"]] == [0, 1]
    for it in rec["iterations"]:
        folder = out / f"iter-{it['iteration']:03d}"
        assert len(it["models"]) == 2 and all((folder / f"train-{m}" / "model.pth").exists() for m in (0, 1))
        total = 0
        for system, conds in it["exploration"].items():
            for cond, c in conds.items():
                run = folder / "explore" / system / cond
                devi = np.loadtxt(run / MODEL_DEVI_RAW, ndmin=2)  # deepmd's own file: step, ..., max_devi_f at 4
                dumped = set(dump_steps(run / "trajectory.lammpstrj"))
                f = np.array([row[4] for row in devi if int(row[0]) in dumped])
                window = int(((f >= LO) & (f < HI)).sum())
                assert (c["frames"], c["candidates"]) == (len(f), window), (system, cond)
                assert (c["accurate"], c["failed"]) == (int((f < LO).sum()), int((f >= HI).sum()))
                total += window
        assert it["candidates"] == total and it["selected"] == min(CAP, total)
        assert it["trust_levels_eV_per_A"] == [LO, HI] and it["heldout_errors"]["overall"]["n_frames"] == 3


def _labelled_frames_are_candidates_with_teacher_labels(loop):
    from pylbs.lammps_io import read_trajectory
    from pylbs.mlp.datasets import dataset_systems, load_system
    from pylbs.mlp.teachers import provenance, teacher_calculator

    out, s, rec = loop
    it = rec["iterations"][0]
    data = out / "iter-000" / "data"
    manifest = json.loads((data / "dataset.json").read_text())
    assert manifest["systems"]["LBS-20-60-20"]["labeller"]["weight_sha256"] == provenance(s.teacher)["weight_sha256"]
    frames = [load_system(f) for part in ("train", "test") for f in dataset_systems(data, part).values()]
    assert sum(len(x) for x in frames) == it["selected"]
    # every labelled frame is a dumped exploration frame whose deviation is in the window
    run = out / "iter-000" / "explore" / "LBS-20-60-20"
    window = []
    for cond in it["exploration"]["LBS-20-60-20"]:
        devi = {int(r[0]): r[4] for r in np.loadtxt(run / cond / MODEL_DEVI_RAW, ndmin=2)}
        traj = read_trajectory(run / cond / "trajectory.lammpstrj", unwrap=False)
        window += [traj.positions[k] - traj.origins[k] for k, st in enumerate(traj.steps) if LO <= devi[int(st)] < HI]
    calc = teacher_calculator(s.teacher)
    for system in frames:
        for k in range(len(system)):
            x = system["coords"][k]
            assert any(np.allclose(x, w, atol=1e-5) for w in window)
    # the label is the teacher's energy of that frame
    atoms = frames[0].to("ase/structure")[0]
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(float(frames[0]["energies"][0]), abs=1e-4)


def _record_figure_and_resume_redo_nothing(loop):
    from pylbs.mlp.learn import ActiveLearning

    out, s, rec = loop
    assert (out / "candidate_fraction.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "record.json").read_text())["iterations"][1]["complete"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and (
        p.name in ("model.pth", "lcurve.out", "exploration.json", "dataset.json") or p.parent.name == "frames")}
    again = ActiveLearning(out, s).run()
    assert again["iterations"] == rec["iterations"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # no training, label or exploration ran again
