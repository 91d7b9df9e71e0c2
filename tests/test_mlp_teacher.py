"""The teacher labeller (pylbs.mlp.teachers) with the real pretrained model: no mocks.

TEACHER is the one pylbs ships (docs/models.md, "Teacher"); its package is pinned in
requirements/base.txt. Cells are small (12-atom Li2O) so each test takes seconds.
"""

import hashlib
import os
import json

import numpy as np
import pytest

from pylbs.errors import PylbsError
from pylbs.mlp import teachers
from pylbs.mlp.label import label_frames, make_calculator

TEACHER = "chgnet-r2scan"
os.environ.setdefault("PYLBS_TEACHER_THREADS", "1")  # small cells; a shared 2-core CI machine


def _li2o(rattle: float = 0.05, seed: int = 0):
    from pylbs.mlp.generate import li2o

    a = li2o()
    a.rattle(rattle, seed=seed)
    return a


def _labels(atoms):
    a = atoms.copy()
    a.calc = teachers.teacher_calculator(TEACHER)
    return a.get_potential_energy(), a.get_forces().copy(), a.get_stress().copy()


def test_cli_label_equals_direct_call_and_records_provenance(tmp_path):
    from ase.io import write

    from pylbs.cli import main
    from pylbs.mlp.datasets import dataset_systems, load_system

    frames = [_li2o(seed=k) for k in range(2)]
    write(tmp_path / "frames.extxyz", frames)
    out = tmp_path / "data"
    assert main(["mlp", "label", str(tmp_path / "frames.extxyz"), "--calculator", TEACHER, "--out", str(out),
                 "--name", "li2o"]) == 0
    prov = teachers.provenance(TEACHER)
    manifest = json.loads((out / "dataset.json").read_text())
    labeller = manifest["systems"]["li2o"]["labeller"]
    assert labeller["name"] == TEACHER and labeller["weight_sha256"] == prov["weight_sha256"]
    assert labeller["version"] == prov["version"] and prov["weight_sha256"] in manifest["systems"]["li2o"]["source"]
    report = json.loads((out / "labelling" / "li2o" / "report.json").read_text())
    assert report["teacher"]["weight_sha256"] == prov["weight_sha256"] and "not the paper's DFT" in report["note"]
    n_checked = 0
    for part in ("train", "test"):
        for folder in dataset_systems(out, part).values():
            s = load_system(folder)
            for k in range(len(s)):
                match = [f for f in frames if np.allclose(f.positions, s["coords"][k], atol=1e-6)]
                assert len(match) == 1
                e, f, stress = _labels(match[0])
                assert s["energies"][k] == pytest.approx(e, abs=1e-5)
                np.testing.assert_allclose(s["forces"][k], f, atol=1e-5)
                from ase.stress import voigt_6_to_full_3x3_stress

                np.testing.assert_allclose(s["virials"][k], -voigt_6_to_full_3x3_stress(stress) * match[0].get_volume(),
                                           atol=1e-4)
                n_checked += 1
    assert n_checked == 2


def test_forces_are_minus_energy_gradient():
    """Central differences, h = 0.01 A, on components of the three largest forces."""
    atoms = _li2o(0.1, seed=3)
    _, forces, _ = _labels(atoms)
    calc = teachers.teacher_calculator(TEACHER)
    h = 0.01
    picks = np.argsort(-np.abs(forces).ravel())[:4]
    for flat in picks:
        i, c = divmod(int(flat), 3)
        e = []
        for sign in (1, -1):
            a = atoms.copy()
            a.positions[i, c] += sign * h
            a.calc = calc
            e.append(a.get_potential_energy())
        fd = -(e[0] - e[1]) / (2 * h)
        assert fd == pytest.approx(forces[i, c], abs=0.02, rel=0.03), (i, c)


def test_stress_is_strain_derivative_of_energy():
    """stress_xx = (1/V) dE/d(strain_xx) (ASE sign convention), central difference +-0.3 %."""
    atoms = _li2o(0.05, seed=5)
    _, _, stress = _labels(atoms)
    calc = teachers.teacher_calculator(TEACHER)
    eps = 0.003
    e = []
    for sign in (1, -1):
        a = atoms.copy()
        strain = np.eye(3)
        strain[0, 0] += sign * eps
        a.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        a.calc = calc
        e.append(a.get_potential_energy())
    fd = (e[0] - e[1]) / (2 * eps) / atoms.get_volume()
    assert fd == pytest.approx(stress[0], abs=2e-4, rel=0.05)


def test_provenance_sha256_is_that_of_the_weight_file():
    prov = teachers.provenance(TEACHER)
    assert len(prov["weight_sha256"]) == 64 and int(prov["weight_sha256"], 16) >= 0
    with open(prov["weight_file"], "rb") as fh:
        assert prov["weight_sha256"] == hashlib.sha256(fh.read()).hexdigest()
    assert prov["package"] == teachers.TEACHERS[TEACHER].package and prov["version"]


def test_element_outside_the_teacher_is_a_clear_error(tmp_path):
    from ase import Atoms
    from ase.data import chemical_symbols

    uncovered = next(s for s in chemical_symbols[1:] if s not in teachers.covered_elements(TEACHER))
    atoms = Atoms([uncovered, "O"], positions=[[0, 0, 0], [2.0, 0, 0]], cell=[6, 6, 6], pbc=True)
    with pytest.raises(PylbsError, match=rf"{uncovered}.*\b{teachers.TEACHERS[TEACHER].package}\b|"
                                         rf"\b{teachers.TEACHERS[TEACHER].package}\b.*{uncovered}"):
        label_frames([atoms], tmp_path / "w", TEACHER, progress=False)
    assert not (tmp_path / "w" / "frames").exists()  # refused before any frame is computed


def test_missing_package_names_the_pip_package():
    ghost = teachers.Teacher("ghost", "pylbs-ghost-teacher", "pylbs_ghost_teacher", "1.0", "m", "w.pt", "none")
    with pytest.raises(PylbsError, match=r"pip install pylbs-ghost-teacher==1\.0"):
        teachers.provenance(ghost)
    for name, t in teachers.TEACHERS.items():  # an entry whose package this venv lacks fails the same way
        try:
            __import__(t.module)
        except ImportError:
            with pytest.raises(PylbsError, match=rf"pip install {t.package}=="):
                make_calculator(name)


def test_parallel_resumable_and_refuses_another_labeller(tmp_path):
    frames = [_li2o(seed=10 + k) for k in range(3)]
    work = tmp_path / "w"
    system, report = label_frames(frames, work, TEACHER, n_workers=2, progress=False)
    assert report["accepted"] == 3 and report["computed_now"] == 3
    assert report["teacher"]["weight_sha256"] == teachers.provenance(TEACHER)["weight_sha256"]
    e, f, _ = _labels(frames[1])
    assert system["energies"][1] == pytest.approx(e, abs=1e-5)
    np.testing.assert_allclose(system["forces"][1], f, atol=1e-5)
    again, report2 = label_frames(frames, work, TEACHER, progress=False)
    assert report2["computed_now"] == 0 and np.array_equal(again["energies"], system["energies"])
    with pytest.raises(PylbsError, match="labelled with chgnet-r2scan"):
        label_frames(frames, work, "lj", progress=False)
