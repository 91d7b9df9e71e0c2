"""The active-learning loop end to end on tiny settings: the real teacher (CHGNet r2SCAN), real LAMMPS
explorations with a two-model ensemble, real deepmd-kit trainings; one iteration (the next
iteration's start from the previous models is tested apart, on the tests' tiny model, because a
second iteration costs the suite two more trainings).

Checked: the candidates of every exploration are exactly its frames whose model deviation
(recomputed here from deepmd's own model_devi.out) lies in the trust window, its overlaps exactly
the frames with a pair closer than the guard's limits (recomputed here by brute force); each
labelled frame is one of these, with the teacher's energy; the next iteration would train on the seed
data and these labels; the record and the figure are written; a second run redoes no training,
no labelling and no exploration. Then: a training started from an earlier model's checkpoint
(``init_model``, what iteration k > 0 does) starts from that model's weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pylbs.lammps_io import MODEL_DEVI_RAW

LO, HI, CAP = 0.05, 5.0, 4


def _settings():
    from pylbs.mlp.learn import LearnSettings

    return LearnSettings(systems=("LBS-20-60-20",), held_out="LBS-40-40-20", n_atoms=63, n_models=2, iterations=1,
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
    """One test (the loop takes a minute; separate tests would wait on each other under xdist):
    the window, the labels, then the record and a resume that redoes nothing."""
    out = tmp_path / "learn"
    _run_loop(out)
    loop = out, _settings(), json.loads((out / "record.json").read_text())
    _the_iteration_selects_exactly_the_window(loop)
    _the_deviation_is_checked_against_the_true_error(loop)
    _labelled_frames_are_candidates_with_teacher_labels(loop)
    _record_figure_and_resume_redo_nothing(loop)
    _parallel_explorations_equal_serial_ones(loop, tmp_path / "parallel")
    _shipping_the_model_writes_a_card_that_matches_the_record(loop, tmp_path / "models")
    _a_continued_models_wall_is_explored_and_shipped_with(loop, tmp_path / "walled")
    _fresh_members_start_from_their_own_weights(loop, tmp_path / "fresh")
    _refreshed_members_start_again_each_iteration(loop, tmp_path / "refreshed")
    _a_new_trust_window_applies_from_the_next_selection(loop, tmp_path / "rewindowed")
    _the_capacity_check_trains_each_network_on_the_loops_data(loop, tmp_path / "capacity")


def _the_deviation_is_checked_against_the_true_error(loop):
    """Each iteration records, on the held-out glass, the ensemble's maximum force deviation against
    model 0's true maximum force error, and counts as converged only where the deviation reads the
    error. Two models: the deviation per atom is |F0 - F1| / 2 (deepmd's standard deviation), computed
    here from each model's own forces; a record from before the check gets it on resume."""
    from pylbs.mlp.evaluate import deviation_vs_error, predict
    from pylbs.mlp.learn import ActiveLearning, _load_all

    out, s, rec = loop
    it = rec["iterations"][0]
    held = _load_all(out / "heldout" / "data")
    f0, f1 = (predict(m, held)[1] for m in it["models"])
    devi = np.linalg.norm(f0 - f1, axis=-1).max(axis=-1) / 2
    error = np.linalg.norm(f0 - held["forces"], axis=-1).max(axis=-1)
    check = it["heldout_deviation"]
    assert check["frames"] == 3 and check["median_max_devi_f"] == pytest.approx(np.median(devi), rel=1e-9)
    assert check["median_max_force_error"] == pytest.approx(np.median(error), rel=1e-9)
    # what the window asks of model 0's RMSE: 99 % of frames with their largest atom error under trust_lo
    # for independent Gaussian errors of each species' RMSE (closed form: prod_k F(trust_lo / sigma_k) = 0.99)
    from scipy.optimize import brentq
    from scipy.stats import chi

    demand = it["heldout_demand"]
    comp = f0 - held["forces"]
    assert demand["force_rmse"] == pytest.approx(np.sqrt(np.mean(comp ** 2)), rel=1e-6)
    assert demand["force_rmse"] == pytest.approx(it["heldout_errors"]["overall"]["force_rmse"], rel=1e-6)
    names = np.array([held["atom_names"][t] for t in held["atom_types"]])
    rel_sigma = np.array([np.sqrt(np.mean(comp[:, names == e] ** 2)) for e in names]) / demand["force_rmse"]
    p99 = brentq(lambda r: np.prod(chi(3).cdf(LO / (r * rel_sigma))) - 0.99, 1e-4, 10.0)
    assert demand["trust"] == LO and demand["p99"] == pytest.approx(p99, rel=0.03)
    assert check["error_over_deviation"] == pytest.approx(np.median(error / devi), rel=1e-9)
    assert check["sees_its_error"] == (check["error_over_deviation"] <= s.max_error_over_deviation)
    assert not it["converged_exploration"] or check["sees_its_error"]
    twins = deviation_vs_error([it["models"][0]] * 2, held)  # one model twice: no deviation, all error
    assert twins["median_max_devi_f"] == 0.0 and twins["error_over_deviation"] > 1e9
    old = {k: v for k, v in it.items() if k != "heldout_deviation"}
    loop_ = ActiveLearning(out, s)
    loop_.record["iterations"][0] = {**old, "converged_exploration": True}  # written before the check
    again = loop_._recheck(0, loop_.record["iterations"][0])
    assert again["heldout_deviation"]["median_max_force_error"] == pytest.approx(check["median_max_force_error"])
    assert again["converged_exploration"] == check["sees_its_error"]
    loop_.record["iterations"][0] = it
    loop_._save()


def _the_capacity_check_trains_each_network_on_the_loops_data(loop, where):
    """``scripts/network_capacity.py``: each network trains from scratch on exactly the frames and
    neighbour lists of the iteration's model 0, at its own width and the asked steps; the loop's own
    model measures what the loop recorded for it (same model, same held-out frames), so the other
    rows compare with the record."""
    import importlib.util

    from pylbs.errors import PylbsError
    from pylbs.mlp.datasets import load_system

    out, s, rec = loop
    path = Path(__file__).parents[1] / "scripts" / "network_capacity.py"
    spec = importlib.util.spec_from_file_location("network_capacity", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(out), "--iteration", "0", "--steps", "20", "--out", str(where),
                        "--networks", "narrow=4,8/2/8,8", "wide=8,16/4/16,16"]) == 0
    rows = json.loads((where / "capacity.json").read_text())["rows"]
    it = rec["iterations"][0]
    own = rows[0]["errors"]["held-out"]
    assert own["force_mae"] == pytest.approx(it["heldout_errors"]["overall"]["force_mae"], rel=1e-9)
    assert own["median_max_force_error"] == pytest.approx(it["heldout_deviation"]["median_max_force_error"], rel=1e-9)
    used = json.loads((out / "iter-000" / "train-0" / "input.json").read_text())
    frames = {part: sum(len(load_system(f)) for f in used["training"][f"{part}_data"]["systems"])
              for part in ("training", "validation")}
    assert len(rows) == 3
    for row, (emb, axis, fit) in zip(rows[1:], [([4, 8], 2, [8, 8]), ([8, 16], 4, [16, 16])]):
        folder = where / row["network"]
        trained = json.loads((folder / "input.json").read_text())
        for part in ("training_data", "validation_data"):
            assert trained["training"][part] == used["training"][part]
        # the loop's recipe, from random weights: only the width (and the steps) differ
        assert trained["loss"] == used["loss"] and json.loads((folder / "start.json").read_text())["init_model"] is None
        assert {k: trained["learning_rate"][k] for k in ("start_lr", "stop_lr")} == \
            {k: used["learning_rate"][k] for k in ("start_lr", "stop_lr")}
        ours, theirs = trained["model"]["descriptor"], used["model"]["descriptor"]
        assert (ours["sel"], ours["precision"]) == (theirs["sel"], theirs["precision"])
        assert (ours["neuron"], ours["axis_neuron"], trained["model"]["fitting_net"]["neuron"]) == (emb, axis, fit)
        last = (folder / "lcurve.out").read_text().split("\n")[-2].split()
        assert int(last[0]) == 20 and row["errors"]["held-out"]["frames"] == it["heldout_deviation"]["frames"]
        assert [row["errors"][f"{part} frames"]["frames"] for part in frames] == list(frames.values())
    # another length on the same folders would break the learning-rate schedule of a begun training
    with pytest.raises(PylbsError, match="--steps 20 to resume it"):
        script.main([str(out), "--iteration", "0", "--steps", "30", "--out", str(where),
                     "--networks", "narrow=4,8/2/8,8"])


def _a_continued_models_wall_is_explored_and_shipped_with(loop, dest):
    """A continued model's pair wall goes with the loop: kept with the model in OUT/init, laid beside
    every trained model, and in the explorations' energies (thermo pe = model + wall on the dumped
    frame). Shipping it is checked with the early ship in
    _shipping_the_model_writes_a_card_that_matches_the_record."""
    import shutil
    from dataclasses import replace

    from pylbs.hashing import file_sha256
    from pylbs.lammps_io import THERMO_FILE, read_thermo
    from pylbs.mlp.explore import explore, frames_at, glass_conditions, system_glass
    from pylbs.mlp.learn import ActiveLearning
    from pylbs.potential import WALL_FILE, PairWall, model_calculator, wall_of
    from pylbs.potential.pair_wall import wall_energy_forces

    out, s, rec = loop
    wall = PairWall({"O-O": (1000.0, 0.25, 2.3, 2.8), "Li-O": (3000.0, 0.2, 1.8, 2.2)})  # acts at ordinary distances
    parent = dest / "parent"
    parent.mkdir(parents=True)
    shutil.copyfile(rec["iterations"][0]["models"][0], parent / "model.pth")
    wall.write(parent / WALL_FILE)
    follow = ActiveLearning(dest / "follow", replace(s, init_model=str(parent / "model.pth")))
    assert file_sha256(dest / "follow" / "init" / WALL_FILE) == file_sha256(parent / WALL_FILE)
    models = []
    for m, trained in enumerate(rec["iterations"][0]["models"]):  # as train() returns them
        models.append(dest / "follow" / f"train-{m}" / "model.pth")
        models[-1].parent.mkdir(parents=True)
        shutil.copyfile(trained, models[-1])
    assert all(wall_of(m) == wall for m in follow._with_wall(models))
    cond = next(c for c in glass_conditions(system_glass(s.systems[0]), s.explore_time_scale) if c.name == "npt-300K")
    start = ActiveLearning(out, s).fmp_glass(s.systems[0])  # the loop's own start glass, made already
    run = explore(start, [str(m) for m in models], dest / "explore", cond, system=s.systems[0], out_freq=s.out_freq,
                  compress=False)
    assert run.pair_wall == wall.to_dict()["terms"]  # recorded with the run
    step = run.steps[-1]
    frame = frames_at(dest / "explore", [step])[0]
    wall_e = wall_energy_forces(wall, frame)[0]
    assert wall_e > 1.0  # so an exploration without the wall misses by far more than the tolerance
    frame.calc = model_calculator(models[0])  # the model and its wall, in Python
    thermo = read_thermo(dest / "explore" / THERMO_FILE)
    pe = float(thermo["pe"][list(thermo["step"]).index(step)])
    assert pe == pytest.approx(frame.get_potential_energy(), abs=5e-3)  # dumped positions carry 6 digits


def _fresh_members_start_from_their_own_weights(loop, dest):
    """``fresh_members``: a continued loop's model 0 starts from the model it continues (refine_steps),
    the others from random weights (init_steps) in its architecture (what each training started from
    is its start.json)."""
    import shutil
    from dataclasses import replace

    from pylbs.mlp.learn import ActiveLearning
    from pylbs.mlp.evaluate import read_lcurve
    from pylbs.mlp.train import architecture_of

    out, s, rec = loop
    shutil.copytree(out / "seed", dest / "seed")  # the same seed data, not labelled again
    parent = Path(rec["iterations"][0]["models"][0])
    fresh = ActiveLearning(dest, replace(s, init_model=str(parent), fresh_members=True))
    models = fresh.train(0)
    inputs = [json.loads((Path(m).parent / "input.json").read_text()) for m in models]
    assert [i["training"]["numb_steps"] for i in inputs] == [s.refine_steps, s.init_steps]
    assert all(architecture_of(m) == architecture_of(parent) for m in models)
    starts = [json.loads((Path(m).parent / "start.json").read_text()) for m in models]
    assert [st["init_model"] for st in starts] == [str(fresh.init_model.resolve()), None]
    assert [read_lcurve(Path(m).parent / "lcurve.out")["step"][-1] for m in models] == [s.refine_steps, s.init_steps]
    assert ActiveLearning._started_fresh(models) == [False, True]  # what the record keeps, and iteration 0 counts


def _refreshed_members_start_again_each_iteration(loop, dest):
    """``refresh_members``: in iteration 1, model 0 continues its own iteration-0 checkpoint
    (refine_steps) and model 1 trains from new random weights (init_steps, a seed of its own for this
    iteration) in model 0's architecture; switched off at a resume, a begun training keeps the start,
    seed and steps it began with (here: its model to freeze, from its finished checkpoint)."""
    import shutil
    from dataclasses import replace

    from pylbs.mlp.learn import ActiveLearning
    from pylbs.mlp.train import architecture_of

    out, s, rec = loop
    shutil.copytree(out, dest)
    models = ActiveLearning(dest, replace(s, iterations=2, refresh_members=True)).train(1)
    folders = [Path(m).parent for m in models]
    starts = [json.loads((f / "start.json").read_text()) for f in folders]
    assert [st["init_model"] for st in starts] == [str(dest / "iter-000" / "train-0" / "model.ckpt.pt"), None]
    assert [st["numb_steps"] for st in starts] == [s.refine_steps, s.init_steps]
    assert [st["seed"] for st in starts] == [s.seed, s.seed + 1000 + 1]  # iteration 0's model 1: s.seed + 1000
    assert architecture_of(models[1]) == architecture_of(models[0])
    assert ActiveLearning._started_fresh(models) == [False, True]
    (folders[1] / "model.pth").unlink()  # stopped before its freeze
    ActiveLearning(dest, replace(s, iterations=2, refresh_members=False)).train(1)
    assert json.loads((folders[1] / "start.json").read_text()) == starts[1]
    assert json.loads((folders[1] / "input.json").read_text())["training"]["seed"] == s.seed + 1000 + 1


def _overlapping(run) -> dict[int, bool]:
    """step -> has the dumped frame a pair closer than the guard's limit (minimum image, brute force)?"""
    from pylbs.lammps_io import read_trajectory
    from pylbs.protocols.guard import GUARD_MIN_DISTANCES

    traj = read_trajectory(run / "trajectory.lammpstrj", unwrap=False)
    sym = traj.symbols()
    limit = np.array([[GUARD_MIN_DISTANCES.get(tuple(sorted((a, b))), 0.0) for b in sym] for a in sym])
    out = {}
    for step, x, cell in zip(traj.steps, traj.positions, traj.cells):
        d = x[:, None, :] - x[None, :, :]
        frac = d @ np.linalg.inv(cell)
        r = np.linalg.norm((frac - np.round(frac)) @ cell, axis=-1)
        np.fill_diagonal(r, np.inf)
        out[int(step)] = bool((r < limit).any())
    return out


def _the_iteration_selects_exactly_the_window(loop):
    out, s, rec = loop
    assert [it["iteration"] for it in rec["iterations"]] == [0]
    for it in rec["iterations"]:
        folder = out / f"iter-{it['iteration']:03d}"
        assert len(it["models"]) == 2 and all((folder / f"train-{m}" / "model.pth").exists() for m in (0, 1))
        union = in_window = 0
        for system, conds in it["exploration"].items():
            for cond, c in conds.items():
                run = folder / "explore" / system / cond
                devi = np.loadtxt(run / MODEL_DEVI_RAW, ndmin=2)  # deepmd's own file: step, ..., max_devi_f at 4
                over = _overlapping(run)
                rows = [row for row in devi if int(row[0]) in over]
                f = np.array([row[4] for row in rows])
                o = np.array([over[int(row[0])] for row in rows])
                window = (f >= LO) & (f < HI)
                assert (c["frames"], c["candidates"], c["overlap"]) == (len(f), window.sum(), o.sum()), (system, cond)
                assert (c["accurate"], c["failed"]) == (int((f < LO).sum()), int((f >= HI).sum()))
                union += int((window | o).sum())
                in_window += int(window.sum())
        assert it["candidates"] == in_window  # the iteration's total, from deepmd's own files
        assert it["selected"] == min(CAP, union) and it["overlap"] > 0  # the tiny models do let atoms overlap
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
    # every labelled frame is a dumped exploration frame whose deviation is in the window, or one
    # with overlapping atoms
    run = out / "iter-000" / "explore" / "LBS-20-60-20"
    window = []
    for cond in it["exploration"]["LBS-20-60-20"]:
        devi = {int(r[0]): r[4] for r in np.loadtxt(run / cond / MODEL_DEVI_RAW, ndmin=2)}
        over = _overlapping(run / cond)
        traj = read_trajectory(run / cond / "trajectory.lammpstrj", unwrap=False)
        window += [traj.positions[k] - traj.origins[k] for k, st in enumerate(traj.steps)
                   if LO <= devi[int(st)] < HI or over[int(st)]]
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
    # the seed frames are kept, so a loop resumed mid-labelling does not run the FMP MD again
    from ase.io import read

    kept = read(out / "seed" / "frames" / "LBS-20-60-20.extxyz", ":")
    assert len(kept) == len(s.seed_temperatures) * s.seed_frames * len(s.seed_strains)
    assert json.loads((out / "record.json").read_text())["iterations"][0]["complete"]
    assert rec["iterations"][0]["started_fresh"] == [True, True]  # a loop from scratch: both from random weights
    # the next iteration trains on the seed data plus this iteration's labels
    loop_again = ActiveLearning(out, s)
    assert loop_again.datasets(1) == [loop_again.seed_data(), out / "iter-000" / "data"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and (
        p.name in ("model.pth", "lcurve.out", "exploration.json", "dataset.json") or p.parent.name == "frames")}
    again = loop_again.run()
    assert again["iterations"] == rec["iterations"]
    wall = rec["iterations"][0]["wall_s"]  # what iter-000/wall_s.json holds: a resume adds to it
    assert wall == json.loads((out / "iter-000" / "wall_s.json").read_text()) and min(wall.values()) > 0
    # the command line resumes with the loop's own settings (settings.json), only -j given
    from pylbs.cli import main
    from pylbs.mlp.learn import LearnSettings

    assert LearnSettings.from_dict(json.loads((out / "settings.json").read_text())) == s
    assert main(["mlp", "learn", str(out), "-j", "1", "--quiet"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # no training, label or exploration ran again
    # a resume may go further or use other workers; it may not change what finished work means
    from dataclasses import replace

    from pylbs.errors import PylbsError

    ActiveLearning(out, replace(s, iterations=s.iterations + 3, workers=1, train_jobs=1))
    with pytest.raises(PylbsError, match=r"other settings \(n_atoms, seed_frames\)"):
        ActiveLearning(out, replace(s, n_atoms=s.n_atoms + 3, seed_frames=s.seed_frames + 1, trust_lo=s.trust_lo / 2))


def _a_new_trust_window_applies_from_the_next_selection(loop, out3):
    """Trust levels and cap may change on resume (DP-GEN sets them per iteration): an iteration explored but
    not yet selected selects, counts and judges with the new ones, and keeps them (selection.json, its
    record); a selection once made stays, whatever the levels later, so a labelling resumes on its frames.
    The trainings and explorations are not run again."""
    import shutil
    from dataclasses import replace

    from pylbs.mlp.learn import ActiveLearning

    out, s, rec = loop
    shutil.copytree(out, out3)  # copy2: the stamps below are the original's
    for p in ("selection.json", "labels.json", "data", "label"):
        (shutil.rmtree if (out3 / "iter-000" / p).is_dir() else Path.unlink)(out3 / "iter-000" / p)
    record = json.loads((out3 / "record.json").read_text())
    (out3 / "record.json").write_text(json.dumps({**record, "iterations": []}))
    stamps = {p: p.stat().st_mtime_ns for p in (out3 / "iter-000").rglob("*")
              if p.name in ("model.pth", "exploration.json")}
    runs = out3 / "iter-000" / "explore" / "LBS-20-60-20"
    devi = {c.name: np.loadtxt(c / MODEL_DEVI_RAW, ndmin=2) for c in runs.iterdir()}
    all_f = np.concatenate([d[:, 4] for d in devi.values()])
    lo, hi, cap = float(np.quantile(all_f, 0.4)), float(np.quantile(all_f, 0.9)), CAP - 1  # other, non-empty window
    assert (lo, hi) != (LO, HI)
    new = ActiveLearning(out3, replace(s, trust_lo=lo, trust_hi=hi, max_candidates=cap)).run()["iterations"][0]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (new["trust_levels_eV_per_A"], new["max_candidates"]) == ([lo, hi], cap)
    union = 0
    for cond, c in new["exploration"]["LBS-20-60-20"].items():
        over = _overlapping(runs / cond)
        f = np.array([r[4] for r in devi[cond] if int(r[0]) in over])
        o = np.array([over[int(r[0])] for r in devi[cond] if int(r[0]) in over])
        assert (c["accurate"], c["candidates"], c["failed"]) == ((f < lo).sum(), ((f >= lo) & (f < hi)).sum(),
                                                                 (f >= hi).sum())
        union += int((((f >= lo) & (f < hi)) | o).sum())
    kept = json.loads((out3 / "iter-000" / "selection.json").read_text())
    assert new["selected"] == len(kept["picks"]) == min(cap, union) > 0
    assert (kept["trust_levels_eV_per_A"], kept["max_candidates"]) == ([lo, hi], cap)
    # resumed mid-labelling with other levels: the kept selection is labelled, not a new one. A loop whose
    # labelling began before selections were kept (no selection.json) picks with the levels its
    # settings.json holds, the ones it ran with.
    for legacy in (False, True):
        (out3 / "iter-000" / "data" / "dataset.json").unlink()
        (out3 / "record.json").write_text(json.dumps({**record, "iterations": []}))
        if legacy:
            (out3 / "iter-000" / "selection.json").unlink()
            ran_with = json.loads((out3 / "settings.json").read_text())
            (out3 / "settings.json").write_text(json.dumps({**ran_with, "trust_lo": lo, "trust_hi": hi,
                                                            "max_candidates": cap}))
            # a resume that stops after settings.json took a new window (a Ctrl-C, a changed teacher): the
            # next one still picks the frames the labelling began with
            ActiveLearning(out3, replace(s, trust_lo=3 * hi, trust_hi=4 * hi, max_candidates=2))
        labelled = {p: p.stat().st_mtime_ns for p in (out3 / "iter-000" / "label").rglob("*.json")
                    if p.parent.name == "frames"}
        assert len(labelled) == len(kept["picks"])
        again = ActiveLearning(out3, replace(s, trust_lo=hi, trust_hi=2 * hi, max_candidates=1)).run()
        assert json.loads((out3 / "iter-000" / "selection.json").read_text()) == kept
        assert (again["iterations"][0]["trust_levels_eV_per_A"], again["iterations"][0]["selected"]) == (
            [lo, hi], len(kept["picks"]))
        assert {p: p.stat().st_mtime_ns for p in labelled} == labelled  # no frame labelled twice
        s_now = json.loads((out3 / "settings.json").read_text())
        assert (s_now["trust_lo"], s_now["trust_hi"], s_now["max_candidates"]) == (hi, 2 * hi, 1)  # the next one's
    # a selection from explorations that were run again since is refused, naming what to delete
    from pylbs.errors import PylbsError

    sel_file = out3 / "iter-000" / "selection.json"
    stale = {**kept, "explored": {k: n + 1 for k, n in kept["explored"].items()}}
    sel_file.write_text(json.dumps(stale))
    loop3 = ActiveLearning(out3, replace(s, trust_lo=lo, trust_hi=hi, max_candidates=cap))
    with pytest.raises(PylbsError, match="other explorations .* delete .*selection.json"):
        loop3.selection(0, loop3.explore_all(0, [Path(m) for m in again["iterations"][0]["models"]]))
    sel_file.write_text(json.dumps(kept))
    _stability_belongs_to_the_iteration_it_checked(out3, replace(s, trust_lo=lo, trust_hi=hi, max_candidates=cap))


def _stability_belongs_to_the_iteration_it_checked(out, s):
    """An iteration that converged at one window gets its 2000 K check (in iter-<k>/stability); a resume at
    another window goes on, and when the next iteration does not converge the loop is not converged and
    the check is not the new model's, on the record or on a card."""
    from dataclasses import replace

    from pylbs.mlp.learn import ActiveLearning
    from pylbs.mlp.ship import ship

    record = json.loads((out / "record.json").read_text())
    it0 = record["iterations"][0]
    assert it0["trust_levels_eV_per_A"] == [s.trust_lo, s.trust_hi]
    converged = {**it0, "converged_exploration": True,
                 "heldout_deviation": {**it0["heldout_deviation"], "sees_its_error": True}}  # as if it had
    (out / "record.json").write_text(json.dumps({**record, "iterations": [converged]}))
    done = ActiveLearning(out, s).run()
    assert done["stability_iteration"] == 0 and (out / "iter-000" / "stability").is_dir()
    assert done["converged"] == (not any(r["stopped"] for r in done["stability"].values()))
    # another window, one more iteration allowed: iteration 0 converged at the old one, so iteration 1 runs;
    # every frame is beyond this window's upper level, so it does not converge
    later = ActiveLearning(out, replace(s, trust_lo=1e-6, trust_hi=2e-6, iterations=2)).run()
    assert [r["iteration"] for r in later["iterations"]] == [0, 1]
    assert later["iterations"][1]["failed"] == later["iterations"][1]["frames"] > 0
    assert later["stability_iteration"] == 0 and later["converged"] is False
    assert later["model"] == later["iterations"][1]["models"][0]
    card = ship(out, "last", dest_root=out / "shipped", compress=False)
    assert card["loop"]["stability"] is None and card["loop"]["converged"] is False
    card0 = ship(out, "first", dest_root=out / "shipped", compress=False, iteration=0)
    assert card0["loop"]["stability"] == later["stability"] and card0["loop"]["converged"] is False
    # a verdict left from an earlier last iteration (a loop killed before run() ended) is not the new one's
    record = json.loads((out / "record.json").read_text())
    (out / "record.json").write_text(json.dumps({**record, "converged": True}))
    assert ship(out, "last", dest_root=out / "shipped", compress=False)["loop"]["converged"] is False
    (out / "record.json").write_text(json.dumps(record))
    # back at the first window: iteration 0 converged there, but it is not the last iteration, so the loop
    # goes on from iteration 1 (which did not converge) to a new iteration 2, judged at that window; and
    # with longer refinements, which apply from that iteration's trainings on
    longer = s.refine_steps + 10
    back = ActiveLearning(out, replace(s, iterations=3, refine_steps=longer)).run()
    assert [r["iteration"] for r in back["iterations"]] == [0, 1, 2]
    assert back["iterations"][2]["trust_levels_eV_per_A"] == [s.trust_lo, s.trust_hi]
    # the tiny models' deviation is ~100x under their error: no iteration of theirs converges
    assert not back["iterations"][2]["heldout_deviation"]["sees_its_error"]
    assert back["converged"] is False and back["stability_iteration"] == 0
    _longer_refinements_apply_from_the_next_training(out, replace(s, iterations=3, refine_steps=longer), back)


def _longer_refinements_apply_from_the_next_training(out, s, record):
    """``refine_steps`` may change on resume: each iteration trains and records its own length (deepmd's
    own lcurve says how far each model went), the card sums them, and a training already begun keeps its
    length, since its learning rate decays over it."""
    from dataclasses import replace

    from pylbs.mlp.evaluate import read_lcurve
    from pylbs.mlp.learn import ActiveLearning
    from pylbs.mlp.ship import ship

    ran = [[read_lcurve(out / f"iter-{k:03d}" / f"train-{m}" / "lcurve.out")["step"][-1] for m in range(2)]
           for k in range(3)]
    before = _settings().refine_steps
    assert ran == [[s.init_steps] * 2, [before] * 2, [s.refine_steps] * 2] and s.refine_steps != before
    assert [r["training_steps"] for r in record["iterations"]] == ran
    # a record from before iterations kept their steps: read back from the training folders on resume,
    # not from today's settings
    bare = {**record, "iterations": [{k: v for k, v in r.items() if k != "training_steps"}
                                     for r in record["iterations"]]}
    (out / "record.json").write_text(json.dumps(bare))
    again = ActiveLearning(out, replace(s, refine_steps=5 * s.refine_steps)).run()
    assert [r["training_steps"] for r in again["iterations"]] == ran
    card = ship(out, "longer", dest_root=out / "shipped", compress=False)
    assert [r["training_steps"] for r in card["loop"]["iterations"]] == [m0 for m0, _ in ran]
    assert card["training"]["steps_this_loop"] == sum(m0 for m0, _ in ran)
    row = f"| 2 | [{s.trust_lo:g}, {s.trust_hi:g}) | {s.refine_steps} | "
    assert row in (out / "shipped" / "longer" / "card.md").read_text()
    # killed after model 1's steps, before its freeze: a resume with other steps freezes it as it ran
    begun = out / "iter-002" / "train-1"
    (begun / "model.pth").unlink()
    kept = (out / "iter-002" / "train-0" / "model.pth").stat().st_mtime_ns
    ActiveLearning(out, replace(s, refine_steps=3 * s.refine_steps)).train(2)
    assert read_lcurve(begun / "lcurve.out")["step"][-1] == s.refine_steps and (begun / "model.pth").exists()
    assert json.loads((begun / "start.json").read_text())["numb_steps"] == s.refine_steps
    assert (out / "iter-002" / "train-0" / "model.pth").stat().st_mtime_ns == kept


def _parallel_explorations_equal_serial_ones(loop, out2):
    """``workers`` > 1 runs explorations in spawned processes, one core each: the same run gives the
    same deviations, frame for frame, as the serial loop's."""
    import shutil
    from dataclasses import replace

    from pylbs.mlp.learn import ActiveLearning

    out, s, rec = loop
    shutil.copytree(out / "fmp", out2 / "fmp")  # the same FMP start glass
    s2 = replace(s, workers=2, conditions=("npt-300K", "nvt-1000K-strain+0.00"))
    runs = ActiveLearning(out2, s2).explore_all(0, [Path(m) for m in rec["iterations"][0]["models"]])
    assert [r.condition for r in runs] == ["nvt-1000K-strain+0.00", "npt-300K"]  # glass_conditions' order
    serial = json.loads((out / "iter-000" / "explore" / "LBS-20-60-20" / "npt-300K" / "exploration.json").read_text())
    assert (runs[1].steps, runs[1].max_devi_f) == (serial["steps"], serial["max_devi_f"])
    assert len(runs[0].steps) > 1 and runs[0].blew_up is None
    # they ran in the pool's worker processes, not quietly in this one (which worker took which run is
    # the pool's choice)
    import os

    pids = {json.loads((out2 / "iter-000" / "explore" / "LBS-20-60-20" / r.condition / "heartbeat.json").read_text())[
        "pid"] for r in runs}
    assert os.getpid() not in pids


def _shipping_the_model_writes_a_card_that_matches_the_record(loop, dest):
    """``pylbs mlp ship``: the iteration's model, the held-out frames, and a card whose errors are the
    record's (same model, same frames). Shipped uncompressed here (``dp compress`` costs the suite
    ~20 s); the real shipped model's compressed copy is checked in test_shipped_model.py."""
    from pylbs.hashing import file_sha256
    from pylbs.mlp.ship import ship

    out, s, rec = loop
    card = ship(out, "tiny", dest_root=dest, compress=False)
    model = dest / "tiny" / "model.pth"
    assert file_sha256(model) == file_sha256(rec["iterations"][0]["models"][0]) == card["files"]["model.pth"]["sha256"]
    assert sorted(p.name for p in (dest / "tiny").iterdir()) == ["card.json", "card.md", "heldout", "model.pth",
                                                                 "training-data"]
    # the model carries the data it was trained on (the seed data: iteration 0 trained on nothing else), and a
    # loop that continues it (--init-model) trains on them without being told
    from pylbs.mlp.datasets import carried_datasets, dataset_systems
    from pylbs.mlp.learn import ActiveLearning

    carried = carried_datasets(model)
    assert [d.name for d in carried] == ["00-seed"] and card["data"]["shipped"]["datasets"] == 1
    for part in ("train", "test"):
        for name, folder in dataset_systems(out / "seed" / "data", part).items():
            kept = dataset_systems(carried[0], part)[name]
            # carried as float32 (half the bytes under the 20 MB cap), rounded from the labels, energies exact
            arrays = [("force", np.float32), ("coord", np.float32), ("box", np.float32), ("energy", np.float64)]
            for array, dtype in arrays + ([("virial", np.float32)] if (folder / "set.000" / "virial.npy").exists()
                                          else []):
                shipped, labelled = (np.load(f / "set.000" / f"{array}.npy") for f in (kept, folder))
                assert shipped.dtype == dtype and np.array_equal(shipped, labelled.astype(dtype)), array
    from dataclasses import replace

    from pylbs.errors import PylbsError

    with pytest.raises(PylbsError, match="labels of chgnet-r2scan .* --teacher chgnet-r2scan"):
        ActiveLearning(dest / "mixed", replace(s, init_model=str(model), teacher="chgnet-mptrj"))
    with pytest.raises(PylbsError, match="no exploration condition is called nvt-2000"):
        ActiveLearning(dest / "typo", replace(s, conditions=("nvt-2000",)))
    follow = ActiveLearning(dest / "follow", replace(s, init_model=str(model)), initial_data=[out / "seed" / "data"])
    kept = dest / "follow" / "init"  # its own copy: a model re-shipped under the same name does not change the loop
    # the carried seed data are its seed data (made again, each frame would be trained on twice); the rest
    # of what it carries is initial data
    assert follow.seed_data() == kept / "training-data" / "00-seed"
    assert follow.initial_data == [(out / "seed" / "data").resolve()]
    assert file_sha256(kept / "model.pth") == file_sha256(model)
    # resumed after the model it continues got a wall: it keeps running its copy as kept, and says so
    import contextlib
    import io

    from pylbs.potential import WALL_FILE, PairWall, wall_file_of

    said = io.StringIO()
    with contextlib.redirect_stderr(said):  # resumed as it was: nothing to say
        ActiveLearning(dest / "follow", replace(s, init_model=str(model)), initial_data=[out / "seed" / "data"])
    assert said.getvalue() == ""
    PairWall({"O-O": (1000.0, 0.25, 2.3, 2.8)}).write(model.parent / WALL_FILE)
    try:
        with contextlib.redirect_stderr(said):
            again = ActiveLearning(dest / "follow", replace(s, init_model=str(model)), initial_data=[out / "seed" / "data"])
    finally:
        (model.parent / WALL_FILE).unlink()
    assert wall_file_of(again.init_model) is None
    assert f"now runs with {model.parent / WALL_FILE}" in said.getvalue(), said.getvalue()
    assert "with no pair wall (as it was kept)" in said.getvalue()
    assert "`training-data/` " in (dest / "tiny" / "card.md").read_text()
    # over the 20 MB (here: over 1 kB) nothing is replaced: the shipped model stays as it was
    import pylbs.mlp.ship as ship_module

    before = (dest / "tiny" / "card.json").read_text()
    cap, ship_module.MAX_SHIPPED_BYTES = ship_module.MAX_SHIPPED_BYTES, 1000
    try:
        with pytest.raises(PylbsError, match="over the 0 MB a shipped model may take"):
            ship(out, "tiny", dest_root=dest, compress=False)
    finally:
        ship_module.MAX_SHIPPED_BYTES = cap
    assert (dest / "tiny" / "card.json").read_text() == before
    for key in ("n_frames", "energy_mae", "energy_mse", "force_mae", "force_rmse"):
        assert card["errors"]["model"]["held-out"][key] == pytest.approx(
            rec["iterations"][0]["heldout_errors"]["overall"][key], rel=1e-9, abs=1e-12), key
    assert card["teacher"] == rec["teacher"] and card["teacher"]["weight_sha256"]
    # the convergence table gives each iteration its own window and whether its deviation read the error
    it = rec["iterations"][0]
    row = next(r for r in (dest / "tiny" / "card.md").read_text().splitlines() if r.startswith("| 0 | ["))
    assert row.startswith(f"| 0 | [{LO:g}, {HI:g}) | {it['training_steps'][0]} | {it['training_frames']} | "
                          f"{it['frames']} |")
    assert f"| {it['heldout_deviation']['error_over_deviation']:.2f} |" in row
    # a trained iteration whose exploration has not finished (no record yet) ships too, and says so;
    # the teacher then comes from the seed data's labeller record
    import shutil

    early = dest / "early-loop"
    shutil.copytree(out, early, ignore=shutil.ignore_patterns("explore", "label", "fmp"))
    (early / "record.json").unlink()
    from pylbs.potential import wall_of

    wall = PairWall({"O-O": (1000.0, 0.25, 2.3, 2.8), "Li-O": (3000.0, 0.2, 1.8, 2.2)})
    (early / "init").mkdir()
    wall.write(early / "init" / WALL_FILE)  # a model trained before the loop laid walls: the loop's own is shipped
    card = ship(early, "early", dest_root=dest, compress=False, iteration=0)
    # shipped: the wall beside the model, in the file list and the card
    assert wall_of(dest / "early" / "model.pth") == wall
    assert card["files"][WALL_FILE]["sha256"] == file_sha256(early / "init" / WALL_FILE)
    assert set(card["pair_wall"]["terms"]) == {"O-O", "Li-O"}
    assert "Runs with a pair wall (`pair_wall.json`" in (dest / "early" / "card.md").read_text()
    assert card["teacher"] == rec["teacher"] and card["loop"]["iteration_shipped_explored"] is False
    assert card["loop"]["iterations"] == [] and "its exploration had not finished" in (dest / "early" / "card.md").read_text()
    seed = json.loads((out / "seed" / "data" / "dataset.json").read_text())["systems"]["LBS-20-60-20"]["frames"]
    assert card["data"]["training"]["LBS-20-60-20"]["frames"] == seed
    assert card["loop"]["iteration_shipped"] == 0 and card["loop"]["converged"] == rec["converged"]
    # a wall fitted after shipping (scripts/fit_pair_wall.py --model) is entered into the card by record_wall
    from pylbs.mlp.card import record_wall

    refit = PairWall({"B-B": (600.0, 0.24, 2.0, 2.3)}, {"made_by": "scripts/fit_pair_wall.py ..."})
    refit.write(dest / "early" / WALL_FILE)
    walled = record_wall("early", dest)
    assert walled["files"][WALL_FILE]["sha256"] == file_sha256(dest / "early" / WALL_FILE)
    assert set(walled["pair_wall"]["terms"]) == {"B-B"}
    assert "`scripts/fit_pair_wall.py ...`): B-B to 2.30 A" in (dest / "early" / "card.md").read_text()
    assert "| LBS-20-60-20 |" in (dest / "tiny" / "card.md").read_text()
    # the validation sections scripts/model_validation.py and `pylbs mlp stability --card` add render as tables
    from pylbs.mlp.card import add_section

    add_section("tiny", "stability", {"command": "pylbs mlp stability ...", "guard_stops": 1, "check": {
        "temperature_K": 2000.0, "ps": 100.0, "time_scale": 0.05, "atoms": 300, "simulated_ps": 5.0}, "glasses": {
        "LBS-20-60-20": {"stopped": False, "ps": 5.0, "closest_A": {"B-O": 1.21, "O-O": 2.01, "O-Si": 1.48},
                         "contacts": [{"elements": ["Li", "Li"], "closest_A": 1.2512}]},
        "LBS-40-40-20": {"stopped": True, "ps": 2.7, "why": "B-Si at 1.765 A", "request": {
            "guard_limits_A": {"B-Si": 1.8}, "guard_confirm_ps": 0.02, "guard_floor_fraction": 0.8}}}},
        dest_root=dest)
    md = (dest / "tiny" / "card.md").read_text()
    assert "guard stops: **1 of 2**" in md and "| LBS-20-60-20 | 5 ps, no stop | 1.21, 1.48, 2.01, –, – | Li-Li 1.251 |" in md
    assert "| LBS-40-40-20 | stopped at 2.70 ps | B-Si at 1.765 A | not recorded (rule before 2026-12-03) |" in md
    assert ("Guard limits (A): B-Si 1.8. A pair under its limit at a check is a contact, which clears when the pair "
            "is over the limit at two checks in a row; the run stops when a contact's pair is under it at a check 20 fs "
            "or more after it was first seen") in md


@pytest.mark.parametrize("start", ["checkpoint", "frozen"])
def test_training_from_an_earlier_model_starts_from_its_weights(tiny_dp_model, tmp_path, start):
    """``train_and_freeze(init_model=...)``, as iteration k > 0 of the loop calls it (the previous
    model's checkpoint) and as iteration 0 of a loop that continues a shipped model does (the frozen
    ``.pth``, whose architecture wins over the settings given): two steps at a learning rate of 1e-12
    give the tiny model back (energies of 100 atoms to 1e-6 eV; they move by ~1e-8 eV); a model
    initialised at random would be eV away."""
    from dataclasses import replace

    import tiny_dp
    from deepmd.infer import DeepPot

    from pylbs.errors import PylbsError
    from pylbs.mlp.train import train_and_freeze

    model, train = tiny_dp_model
    settings = replace(tiny_dp.training_settings(), numb_steps=2, start_lr=1e-12, stop_lr=1e-13, decay_steps=1,
                       disp_freq=1, save_freq=2, seed=99)
    if start == "frozen":  # other network sizes asked for: the frozen model's own are used
        settings = replace(settings, descriptor_neurons=(4, 8), fitting_neurons=(8,), sel=[4, 4, 4, 4])
    init = model.parent / ("model.pth" if start == "frozen" else "model.ckpt.pt")
    if start == "frozen":  # the fixture's model is its compressed copy, which holds no networks to start from
        with pytest.raises(PylbsError, match="compressed copy"):
            train_and_freeze([train], [train], tmp_path / "no", settings, init_model=model)
    data = train
    if start == "frozen":  # a shipped model continues on the float32 copy of its data it carries
        import shutil

        from pylbs.mlp.datasets import copy_dataset_compact

        shutil.copytree(train, tmp_path / "labelled" / "train" / train.name)
        data = copy_dataset_compact(tmp_path / "labelled", tmp_path / "carried") / "train" / train.name
        assert np.load(data / "set.000" / "force.npy").dtype == np.float32
    again = train_and_freeze([data], [data], tmp_path / "next", settings, init_model=init)
    types = np.loadtxt(train / "type.raw", dtype=int)
    coord, box = np.load(train / "set.000" / "coord.npy")[:3], np.load(train / "set.000" / "box.npy")[:3]
    old, new = DeepPot(str(model)), DeepPot(str(again))
    e_old, e_new = old.eval(coord, box, types)[0], new.eval(coord, box, types)[0]
    assert np.allclose(e_new, e_old, rtol=0, atol=1e-6), (e_new.ravel(), e_old.ravel())
    # pylbs gives deepmd-kit the observed elements (train.observed_elements); the tiny model's were
    # found by deepmd-kit itself: the same list in the same order
    assert new.deep_eval.get_observed_types() == old.deep_eval.get_observed_types()
    assert json.loads((tmp_path / "next" / "input.json").read_text())["model"]["info"]["observed_type"] == \
        ["Li", "B", "O", "Si"]


def test_a_dp_process_stops_when_the_pylbs_process_that_started_it_dies(tmp_path):
    """A killed loop left its training running; the resumed loop then trained a second copy in the
    same folder beside the orphan. ``dp`` processes now get SIGTERM when their parent dies."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pylbs.mlp.train import _DIE_WITH_PARENT

    pid_file = tmp_path / "child.pid"
    child = (_DIE_WITH_PARENT + "import pathlib, time\npathlib.Path({f!r}).write_text(str(os.getpid()))\n"
             "time.sleep(120)\n")
    parent = ("import os, subprocess, sys, time\n"
              f"child = {child!r}.format(ppid=os.getpid(), f={str(pid_file)!r})\n"
              "subprocess.Popen([sys.executable, '-c', child])\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        os.kill(pid, 0)  # the child runs
        proc.send_signal(signal.SIGKILL)  # the driver dies without any clean-up of its own
        proc.wait()
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        proc.kill()


def test_selection_takes_half_from_overlaps_and_half_from_the_window(tmp_path):
    """The cap is shared: half for frames with overlapping atoms, half for frames in the deviation
    window; a kind with fewer frames leaves its share to the other; an overlapping frame counts once,
    as an overlap, whatever its deviation; accurate and failed frames without overlap are never picked."""
    from dataclasses import replace

    from pylbs.mlp.explore import Exploration
    from pylbs.mlp.learn import ActiveLearning

    def run(n_window, n_over, n_other=5):
        # overlapping frames: half of them in the window, half beyond it (an overlap counts as one)
        devi = [0.5 * (LO + HI)] * n_window + [0.5 * (LO + HI), 10 * HI] * (n_over // 2) + [10 * HI] * (n_over % 2) \
            + [LO / 2] * n_other + [2 * HI] * n_other
        over = [False] * n_window + [True] * n_over + [False] * 2 * n_other
        return Exploration("LBS-20-60-20", "ramp", list(range(len(devi))), devi, None, over)

    def picked(n_window, n_over, cap):
        loop = ActiveLearning(tmp_path / f"{n_window}-{n_over}-{cap}", replace(_settings(), max_candidates=cap))
        r = run(n_window, n_over)
        sel = loop.select(0, [r])
        assert sel == sorted(sel, key=lambda c: c[2]) and len(set(sel)) == len(sel)
        kinds = ["overlap" if r.overlap[st] else "window" for _, _, st in sel]
        assert all(r.overlap[st] or LO <= r.max_devi_f[st] < HI for _, _, st in sel)
        return kinds.count("overlap"), kinds.count("window")

    assert picked(10, 10, 6) == (3, 3)
    assert picked(10, 1, 6) == (1, 5)
    assert picked(2, 10, 6) == (4, 2)
    assert picked(2, 1, 6) == (1, 2)
    assert picked(0, 0, 6) == (0, 0)
    assert picked(10, 10, 7) == (3, 4)  # an odd cap: the window gets the remainder


def test_the_loop_explores_the_hot_liquid_and_an_older_loop_resumes_as_it_ran(tmp_path):
    """The loop is judged by an NVT run at 2000 K, so it explores that liquid too (the first shipped model,
    from a loop without it, was stopped by the guard at 2000 K on all 11 glasses). A loop written before
    the setting existed resumes without it; asking it for the new default is refused, not silently mixed."""
    from pylbs.errors import PylbsError
    from pylbs.mlp.explore import glass_conditions, system_glass
    from pylbs.mlp.learn import ActiveLearning, LearnSettings

    glass = system_glass("LBS-20-60-20")
    hot = {c.name: c for c in glass_conditions(glass, 0.02, 2000.0)}["nvt-2000K"].schedule.stages
    assert [(st.t_start, st.t_end, st.duration_ps, st.ensemble) for st in hot] == [(2000.0, 2000.0, 1.0, "nvt")]
    assert len(glass_conditions(glass, 0.02)) == len(glass_conditions(glass, 0.02, 2000.0)) - 1
    assert LearnSettings().hot_K == LearnSettings().stability_K == 2000.0

    old = json.loads(json.dumps(LearnSettings().to_dict()))
    del old["hot_K"], old["init_model"]
    (tmp_path / "settings.json").write_text(json.dumps(old))
    kept = LearnSettings.from_dict(json.loads((tmp_path / "settings.json").read_text()))
    assert kept.hot_K is None and kept.init_model is None
    ActiveLearning(tmp_path, kept)  # resumes
    with pytest.raises(PylbsError, match="other settings \\(hot_K\\)"):
        ActiveLearning(tmp_path, LearnSettings())


def test_a_resumed_iteration_adds_its_time_to_the_earlier_runs(tmp_path):
    """The record's wall times were this process's only: an iteration resumed after its training
    recorded ~0 s of training. Each stage now adds its time to iter-k/wall_s.json."""
    import time

    from pylbs.mlp.learn import ActiveLearning

    loop = ActiveLearning(tmp_path, _settings())
    with loop._timed(0, "train"):
        time.sleep(0.2)
    with ActiveLearning(tmp_path, _settings())._timed(0, "train"):  # the resumed process
        time.sleep(0.1)
    wall = json.loads((tmp_path / "iter-000" / "wall_s.json").read_text())
    assert 0.3 <= wall["train"] < 5 and wall["explore"] == wall["label"] == 0.0


def test_every_pair_under_the_guards_limit_is_an_overlap_whichever_atom_comes_first():
    """The loop's overlap labelling looks the guard's table up by sorted element pair: a key written
    the other way round (it once was ("Si", "O")) would never flag that pair."""
    from pylbs.protocols.guard import GUARD_MIN_DISTANCES, closest_pairs

    assert all(k == tuple(sorted(k)) for k in GUARD_MIN_DISTANCES)  # the table as every reader expects it
    cell = np.eye(3) * 20.0
    for (a, b), limit in GUARD_MIN_DISTANCES.items():
        for first, second in ((a, b), (b, a)):
            for factor, flagged in ((0.97, 1), (1.03, 0)):
                pos = np.array([[5.0, 5.0, 5.0], [5.0 + factor * limit, 5.0, 5.0]])
                assert len(closest_pairs(pos, cell, [first, second], GUARD_MIN_DISTANCES)) == flagged, (first, second)


def test_ship_refuses_a_loop_that_records_no_labeller(tmp_path):
    """A card must say what its labels came from: a loop folder with no teacher in its record and no seed
    dataset naming one is refused before anything is built, not shipped as 'a universal potential'."""
    from pylbs.errors import PylbsError
    from pylbs.mlp.ship import ship

    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "record.json").write_text(json.dumps({"iterations": [{"iteration": 0, "models": ["m.pth"]}]}))
    with pytest.raises(PylbsError, match="records no labeller"):
        ship(loop, "nolabeller", dest_root=tmp_path / "shipped")
    assert not (tmp_path / "shipped").exists()


@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (0.5, 0.5), (-0.1, 1.0)])
def test_trust_levels_outside_zero_lo_hi_are_refused_before_any_work(tmp_path, lo, hi):
    """A zero lower level would count every frame a candidate, a window with LO >= HI would select
    nothing: refused when the loop is made, naming the fix, with nothing written."""
    from dataclasses import replace

    from pylbs.errors import PylbsError
    from pylbs.mlp.learn import ActiveLearning

    with pytest.raises(PylbsError, match="give 0 < LO < HI"):
        ActiveLearning(tmp_path / "loop", replace(_settings(), trust_lo=lo, trust_hi=hi))
    assert not (tmp_path / "loop").exists()
