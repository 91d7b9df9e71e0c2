"""Fitting a pair wall (:mod:`pylbs.mlp.wall_fit`) recovers a known wall: the reference is the
teacher plus a wall, so reference minus teacher is that wall's force, noise added on top."""

from __future__ import annotations

import numpy as np
import pytest
from test_pair_wall import _glass

from pylbs.mlp.wall_fit import contact_rows, fit_wall
from pylbs.potential.pair_wall import PairWall, wall_energy_forces

#: On the fit's grid (rho in RHO_GRID, taper width 0.3), as a fitted wall would be.
TRUE = PairWall({"Li-Li": (400.0, 0.18, 1.7, 2.0), "B-B": (2500.0, 0.14, 1.8, 2.1)})


def _data(noise: float, n_frames: int = 6):
    rng = np.random.default_rng(7)
    frames = [_glass(seed=s, n=60, box=8.5) for s in range(n_frames)]
    teacher = [rng.normal(0, 1.0, (len(a), 3)) for a in frames]  # any teacher: the difference is what counts
    reference = [t + wall_energy_forces(TRUE, a)[1] + rng.normal(0, noise, t.shape) for t, a in zip(teacher, frames)]
    return frames, contact_rows(frames, teacher, reference, {"Li-Li": 2.4, "B-B": 2.4})


def test_fit_recovers_a_known_wall_exactly_without_noise():
    frames, rows = _data(noise=0.0)
    assert {"Li-Li", "B-B"} <= set(rows.pair) and rows.r.min() < 1.9
    wall, report = fit_wall(frames, rows, ["Li-Li", "B-B"])
    for pair, (a, rho, r_in, rc) in TRUE.terms.items():
        got = wall.terms[pair]
        assert got[1:] == pytest.approx((rho, r_in, rc)) and got[0] == pytest.approx(a, rel=1e-6)
    assert report["rms_after_eV_per_A"] < 1e-6 * report["rms_before_eV_per_A"]


def test_fit_with_noise_gets_the_walls_force_where_it_acts():
    """0.3 eV/A of noise per force component (the size of a model's error): the fitted wall's push
    at 1.7 A is within 15 % of the true one, and it still vanishes where the true wall does."""
    frames, rows = _data(noise=0.3, n_frames=10)
    wall, _ = fit_wall(frames, rows, ["Li-Li", "B-B"])
    for pair in TRUE.terms:
        assert float(wall.pair_force(pair, 1.7)) == pytest.approx(float(TRUE.pair_force(pair, 1.7)), rel=0.15)
        assert float(wall.pair_force(pair, 2.4)) == 0.0


def test_a_wall_against_the_model_adds_the_teachers_missing_push_to_the_models_own(tiny_dp_model, tmp_path):
    """``scripts/fit_pair_wall.py --against-model``: the data's forces are the teacher's, here the
    model as it runs (network + its wall) plus a known O-O and Li-Si wall. The fit finds that wall
    exactly and adds it to the model's own, whose terms and history it keeps. The model's own Li-O
    term acts at ordinary distances, on the fitted pairs' atoms: a fit against the bare network
    would be far off."""
    import importlib.util
    import shutil
    from pathlib import Path

    from ase.calculators.singlepoint import SinglePointCalculator

    from pylbs.mlp.datasets import frames_from_atoms, write_dataset
    from pylbs.potential.pair_wall import WALL_FILE, model_calculator, wall_of

    spec = importlib.util.spec_from_file_location("fit_pair_wall", Path(__file__).parents[1] / "scripts" / "fit_pair_wall.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model, _ = tiny_dp_model
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copyfile(model.parent / "model.pth", folder / "model.pth")
    own = PairWall({"B-B": (2500.0, 0.14, 1.8, 2.1), "Li-O": (3000.0, 0.2, 1.8, 2.2)},
                   {"made_by": "python scripts/fit_pair_wall.py first"})
    own.write(folder / WALL_FILE)
    missing = PairWall({"Li-Si": (400.0, 0.18, 1.7, 2.0), "O-O": (3000.0, 0.14, 1.8, 2.1)})
    calc = model_calculator(folder / "model.pth")
    frames = []
    for seed in range(6):
        a = _glass(seed=seed, n=60, box=8.5)
        a.calc = calc
        energy, forces = a.get_potential_energy(), a.get_forces() + wall_energy_forces(missing, a)[1]
        a.calc = SinglePointCalculator(a, energy=energy, forces=forces)
        frames.append(a)
    write_dataset({"G": frames_from_atoms(frames)}, tmp_path / "data", test_fraction=0.0)
    args = [str(tmp_path / "data"), "--against-model", str(folder / "model.pth"), "--work", str(tmp_path / "fit")]
    assert script.main(args + ["--pairs", "O-O", "Li-Si"]) == 0
    wall = wall_of(tmp_path / "fit" / "model.pth")  # the fit's pair_wall.json, read as a model beside it would
    assert set(wall.terms) == {("B", "B"), ("Li", "O"), ("O", "O"), ("Li", "Si")}
    assert all(wall.terms[pair] == own.terms[pair] for pair in own.terms)
    own_push = [wall_energy_forces(PairWall({"Li-O": own.terms[("Li", "O")]}), a)[1] for a in frames]
    assert max(np.abs(f).max() for f in own_push) > 1.0  # what leaving the model's wall out would add
    for pair, (a, rho, r_in, rc) in missing.terms.items():
        assert wall.terms[pair][1:] == pytest.approx((rho, r_in, rc)) and wall.terms[pair][0] == pytest.approx(a, rel=1e-6)
    assert wall.about["made_by"].startswith("python scripts/fit_pair_wall.py first && python scripts/fit_pair_wall.py ")
    assert wall.about["extends"] == own.about and wall.about["fit"]["rms_after_eV_per_A"] < 1e-5
    with pytest.raises(SystemExit, match="already walls Li-O"):  # a second wall stacked on the first
        script.main(args + ["--pairs", "Li-O", "O-O"])
    for wrong, why in ((["--pairs", "B-O"], "no fit window is set for B-O"), ([], "needs --pairs"),
                       (["--pairs", "O-O", "--reference", "gfn1-xtb"], "give one of them"),
                       (["--pairs", "O-O", "--model", str(model)], "belongs beside that model only")):
        with pytest.raises(SystemExit, match=why):
            script.main(args + wrong)
