"""A model's per-pair repulsive wall (:mod:`pylbs.potential.pair_wall`): the tapered Born-Mayer term
of LAMMPS's ``pair_style buck/mdf`` with forces and stress that are its gradient, the same numbers in
LAMMPS (``hybrid/overlay deepmd ... buck/mdf``) and in Python, found beside the model, and part of a run's
input hashes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list
from mlp_helpers import lammps_deepmd_energy_forces

from pylbs.errors import PylbsError
from pylbs.glasses import TYPE_MAP
from pylbs.potential import WALL_FILE, PairWall, deepmd_commands, model_calculator, wall_of
from pylbs.potential.models import model_path
from pylbs.potential.pair_wall import wall_calculator, wall_energy_forces
from pylbs.protocols.runner import changed_inputs, input_files_sha256

WALL = PairWall({"Li-O": (900.0, 0.2, 1.6, 2.3), "B-O": (40.0, 0.3, 1.2, 1.6), "O-O": (300.0, 0.25, 2.0, 2.6),
                 "Li-Li": (2000.0, 0.18, 1.7, 2.0)})


def _glass(seed=3, n=48, box=8.0):
    """Random atoms, loosely packed (no pair under 1.2 A): every wall term has pairs inside its rc."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, box, 3)
        d = [np.linalg.norm((p - q + box / 2) % box - box / 2) for q in pos]
        if not d or min(d) > 1.2:
            pos.append(p)
    symbols = [("Li", "B", "Si", "O", "O")[k % 5] for k in range(n)]
    return Atoms(symbols, positions=pos, cell=[box, box * 1.05, box * 0.95], pbc=True)


def test_wall_is_born_mayer_tapered_between_r_in_and_rc():
    pair = Atoms("LiO", positions=[[0, 0, 0], [1.5, 0, 0]], cell=[20, 20, 20], pbc=True)
    e, f, _ = wall_energy_forces(WALL, pair)
    assert e == pytest.approx(900 * np.exp(-1.5 / 0.2), rel=1e-12)  # below r_in: the bare exponential
    push = 900 / 0.2 * np.exp(-1.5 / 0.2)  # -dE/dr: pushes Li (x=0) to -x, O to +x
    np.testing.assert_allclose(f, [[-push, 0, 0], [push, 0, 0]], rtol=1e-12)
    pair.positions[1, 0] = 1.6 + 0.7 * 0.5  # halfway through the taper: tau(1/2) = 1/2
    assert wall_energy_forces(WALL, pair)[0] == pytest.approx(0.5 * 900 * np.exp(-1.95 / 0.2), rel=1e-12)
    pair.positions[1, 0] = 1.6 + 0.7 * 0.25  # a quarter in: tau = 1 - 10/64 + 15/256 - 6/1024 (MDF, not any smoothstep)
    assert wall_energy_forces(WALL, pair)[0] == pytest.approx(0.896484375 * 900 * np.exp(-1.775 / 0.2), rel=1e-12)
    pair.positions[1, 0] = 2.3001  # beyond rc: nothing; and a pair the wall does not name: nothing
    assert wall_energy_forces(WALL, pair)[0] == 0.0
    assert WALL.pair_energy("Si-O", 1.0) == 0.0 and WALL.pair_energy("O-Li", 1.5) == WALL.pair_energy("Li-O", 1.5)


def test_wall_forces_and_stress_are_the_gradient_of_its_energy():
    atoms = _glass()
    e, f, w = wall_energy_forces(WALL, atoms)
    i, j, d = neighbor_list("ijd", atoms, WALL.cutoff)
    sym = np.array(atoms.get_chemical_symbols())
    inside = {tuple(sorted((sym[a], sym[b]))) for a, b, r in zip(i, j, d) if r < WALL.terms.get(
        tuple(sorted((sym[a], sym[b]))), (0, 1, 1, 0))[3]}
    assert inside == set(WALL.terms)  # every term acts on this glass
    h = 1e-5
    for a, k in [(0, 0), (7, 1), (23, 2), (40, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, k] += h
        minus.positions[a, k] -= h
        num = -(wall_energy_forces(WALL, plus)[0] - wall_energy_forces(WALL, minus)[0]) / (2 * h)
        assert f[a, k] == pytest.approx(num, abs=1e-6)
    atoms.calc = wall_calculator(WALL)
    stress = atoms.get_stress(voigt=False)
    for k, m in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:  # dE/d(strain_km) = V * stress_km
        def strained(eps):
            s = np.eye(3)
            s[k, m] += eps / 2
            s[m, k] += eps / 2
            out = atoms.copy()
            out.set_cell(atoms.cell @ s, scale_atoms=True)
            return wall_energy_forces(WALL, out)[0]
        num = (strained(h) - strained(-h)) / (2 * h)
        assert stress[k, m] * atoms.get_volume() == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_a_model_runs_with_its_wall_in_lammps_as_in_python(tmp_path, fmp_plugin):
    """The wall beside a model file is found, and LAMMPS (hybrid/overlay deepmd + soft) and Python
    (DeepMD + the wall's calculator) give the same energy and forces; the wall's share is its own."""
    model = tmp_path / "model.pth"
    shutil.copy(model_path("default"), model)
    assert wall_of(model) is None
    bare_e, bare_f = _lammps(model, _glass(), deepmd_commands([model]))
    WALL.write(tmp_path / WALL_FILE)
    assert wall_of(model) == WALL
    atoms = _glass()
    lines = deepmd_commands([model], wall=wall_of(model))
    assert lines[0].split()[1:3] == ["hybrid/overlay", "deepmd"] and lines[0].endswith("buck/mdf 1.2 2.6")
    e_lmp, f_lmp = _lammps(model, atoms, lines)
    atoms.calc = model_calculator(model)
    wall_e, wall_f, _ = wall_energy_forces(WALL, atoms)
    assert e_lmp - bare_e == pytest.approx(wall_e, rel=1e-9, abs=1e-7)  # float64 pair + float32 model, same
    np.testing.assert_allclose(f_lmp - bare_f, wall_f, atol=1e-7)
    assert atoms.get_potential_energy() == pytest.approx(e_lmp, rel=1e-6, abs=1e-4)  # float32 model
    np.testing.assert_allclose(atoms.get_forces(), f_lmp, atol=1e-4)


def _lammps(model, atoms, lines):
    types = np.array([TYPE_MAP.index(s) for s in atoms.get_chemical_symbols()])
    return lammps_deepmd_energy_forces(model, atoms.positions, np.asarray(atoms.cell), types, potential=lines)


def test_a_models_wall_is_part_of_its_runs_inputs(tmp_path):
    model = tmp_path / "model.pth"
    shutil.copy(model_path("default"), model)
    WALL.write(tmp_path / WALL_FILE)
    inputs = input_files_sha256({"models": [str(model)]})
    assert set(inputs) == {str(model), str(tmp_path / WALL_FILE)}
    PairWall({"Li-Li": (2000.0, 0.18, 1.7, 2.1)}).write(tmp_path / WALL_FILE)
    assert changed_inputs(inputs) == [str(tmp_path / WALL_FILE)]
    (tmp_path / WALL_FILE).unlink()  # a wall removed, or laid beside the model after a run: both change it
    assert changed_inputs(inputs) == [str(tmp_path / WALL_FILE)]
    without = input_files_sha256({"models": [str(model)]})
    assert changed_inputs(without) == []
    WALL.write(tmp_path / WALL_FILE)
    assert changed_inputs(without) == [str(tmp_path / WALL_FILE)]


def test_bad_walls_are_clear_errors(tmp_path):
    with pytest.raises(PylbsError, match="A >= 0"):
        PairWall({"Li-O": (-1.0, 0.2, 1.6, 2.0)})
    with pytest.raises(PylbsError, match="r_in < rc"):
        PairWall({"Li-O": (1.0, 0.2, 2.0, 1.6)})
    with pytest.raises(PylbsError, match="B-O"):
        PairWall({"Li-X": (1.0, 0.2, 1.6, 2.0)})
    model = tmp_path / "model.pth"
    model.write_bytes(b"")
    (tmp_path / WALL_FILE).write_text("{not json")
    with pytest.raises(PylbsError, match="remove it"):
        wall_of(model)
    (tmp_path / WALL_FILE).write_text(json.dumps({"terms": {"Li-O": {"A_eV": 1}}}))
    with pytest.raises(PylbsError, match="rho_A"):
        wall_of(model)
