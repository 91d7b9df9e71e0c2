"""Importing labelled frames (a real VASP OUTCAR, extended XYZ), type-map remapping,
the reproducible 90/10 split, and paper-like FMP configurations (B-free, strained, crystal)."""

from pathlib import Path

import numpy as np
import pytest

from pylbs.errors import PylbsError
from pylbs.glasses import TYPE_MAP
from pylbs.mlp.datasets import (copy_dataset_compact, dataset_systems, load_system, read_frames, split_indices,
                                 write_dataset)

OUTCAR = Path(__file__).parent / "data" / "vasp" / "OUTCAR_Ni18_ase"  # from ASE's sdist (LGPL), see README


def test_real_outcar_import_and_type_map():
    # Ni is not in the Li-B-Si-O type map: a clear error naming it
    with pytest.raises(PylbsError, match="Ni"):
        read_frames(OUTCAR)
    # with a type map that holds Ni, the frame is remapped into it (Li, O get zero atoms)
    s = read_frames(OUTCAR, "outcar", type_map=("Li", "Ni", "O"))
    assert s["atom_names"] == ["Li", "Ni", "O"] and list(s["atom_numbs"]) == [0, 18, 0]
    assert len(s) == 1 and set(s["atom_types"]) == {1}
    assert s["energies"][0] == pytest.approx(-68.22868532, abs=1e-6)  # free energy TOTEN of the OUTCAR
    assert s["forces"].shape == (1, 18, 3) and s["virials"].shape == (1, 3, 3)
    assert np.abs(s["forces"]).max() > 0


def test_extxyz_in_other_element_order_is_remapped(tmp_path):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for k in range(3):  # elements in "POTCAR order" O, Si, Li
        a = Atoms("O4Si2Li2", positions=rng.random((8, 3)) * 6, cell=[6, 6, 6], pbc=True)
        f = rng.normal(size=(8, 3))
        stress = rng.normal(size=6) * 1e-3
        a.calc = SinglePointCalculator(a, energy=-10.0 - k, forces=f, stress=stress)
        frames.append(a)
    write(tmp_path / "frames.extxyz", frames)
    s = read_frames(tmp_path / "frames.extxyz")
    assert s["atom_names"] == list(TYPE_MAP) and list(s["atom_numbs"]) == [2, 0, 2, 4]
    names = [s["atom_names"][t] for t in s["atom_types"]]
    assert names == frames[0].get_chemical_symbols()  # atom order kept, types remapped
    np.testing.assert_allclose(s["energies"], [-10, -11, -12])
    np.testing.assert_allclose(s["forces"][1], frames[1].calc.results["forces"])
    vol = 216.0
    assert s["virials"][0][0, 0] == pytest.approx(-frames[0].calc.results["stress"][0] * vol)


def test_split_is_reproducible_and_per_system():
    tr, te = split_indices(30, 0.1, seed=7, key="silica")
    tr2, te2 = split_indices(30, 0.1, seed=7, key="silica")
    assert list(te) == list(te2) and list(tr) == list(tr2)
    assert len(te) == 3 and sorted(np.concatenate([tr, te])) == list(range(30))
    assert list(split_indices(30, 0.1, seed=8, key="silica")[1]) != list(te)
    assert list(split_indices(30, 0.1, seed=7, key="Li2O")[1]) != list(te)
    assert len(split_indices(5, 0.1, seed=1)[1]) == 1  # at least one test frame


def test_fmp_configurations_bfree_strained_crystal(tmp_path, fmp_plugin):
    from pylbs.mlp.fmp_frames import sample_fmp_frames
    from pylbs.mlp.generate import Recipe, crystal_structure, generate

    recipes = [Recipe("silica", composition=(100, 0, 0), density=2.2, n_atoms=60, temperatures=(3500.0,),
                      frames_per_temperature=4, steps_between=10, strain=(0.04, -0.02, 0.0, 0.03, 0.0, 0.02)),
               Recipe("Li2O", crystal="Li2O", n_atoms=90, temperatures=(300.0,), frames_per_temperature=3,
                      steps_between=10)]
    systems = generate(recipes, progress=False)
    silica, li2o = systems["silica"], systems["Li2O"]
    assert list(silica["atom_numbs"]) == [0, 0, 20, 40]
    assert abs(silica["cells"][0][1, 0]) > 0.05  # sheared, triclinic
    assert li2o.get_natoms() == 96 and np.allclose(li2o["cells"][0], np.diag([9.22] * 3))
    assert np.all(np.abs(li2o["virials"]) < 1e3) and np.abs(silica["virials"]).max() > 0
    with pytest.raises(PylbsError, match="CIF"):
        crystal_structure("LiBSiO4")
    manifest = write_dataset(systems, tmp_path / "ds", seed=3)
    assert manifest["systems"]["silica"]["test"] == 1
    assert set(dataset_systems(tmp_path / "ds", "test")) == {"silica", "Li2O"}
    back = load_system(tmp_path / "ds" / "train" / "silica")
    assert back["atom_names"] == list(TYPE_MAP) and len(back) == 3

    # the virial label is -dE/d(strain) (central difference of single points)
    start = sample_fmp_frames(atoms=crystal_structure("Li2O"), temperatures=(1.0,), frames_per_temperature=1,
                              steps_between=0, minimize=False)
    from pylbs.mlp.label import frames_of_system

    atoms = frames_of_system(start)[0]
    atoms.rattle(0.1, seed=2)

    def single(strain):
        s = sample_fmp_frames(atoms=atoms, temperatures=(1.0,), frames_per_temperature=1, steps_between=0,
                              minimize=False, strain=strain)
        return s["energies"][0], s["virials"][0]

    _, w = single(None)
    d = 1e-4
    for k in range(3):
        v = np.zeros(6)
        v[k] = d
        ep, _ = single(v)
        v[k] = -d
        em, _ = single(v)
        assert -(ep - em) / (2 * d) == pytest.approx(w[k, k], abs=0.05 * abs(w[k, k]) + 0.05)


def test_a_carried_copy_is_float32_where_it_can_be_and_leaves_the_label_cache(tmp_path):
    """What a shipped model carries (pylbs.mlp.ship): positions, forces, boxes and virials rounded to
    float32, energies exact, the labelling cache (JSON copies of every label) left out, its report kept."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from pylbs.mlp.datasets import frames_from_atoms

    rng = np.random.default_rng(3)
    frames = []
    for k in range(10):
        a = Atoms("Li2B2Si2O8", positions=rng.random((14, 3)) * 7, cell=[7, 7.1, 6.9], pbc=True)
        a.calc = SinglePointCalculator(a, energy=-1234.567891234 - k, forces=rng.normal(size=(14, 3)),
                                       stress=rng.normal(size=6) * 1e-3)
        frames.append(a)
    write_dataset({"G": frames_from_atoms(frames), "frames": frames_from_atoms(frames)}, tmp_path / "data")
    for name in ("frames/000000.json", "heartbeat.json", "report.json"):
        (tmp_path / "data" / "labelling" / "G" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "labelling" / "G" / name).write_text("{}")
    copy = copy_dataset_compact(tmp_path / "data", tmp_path / "carried")
    assert sorted(p.name for p in (copy / "labelling" / "G").iterdir()) == ["report.json"]
    assert dataset_systems(copy, "train")["frames"].is_dir()  # a system of that name is data, not cache
    for part in ("train", "test"):
        a, b = dataset_systems(tmp_path / "data", part)["G"], dataset_systems(copy, part)["G"]
        for array in ("coord", "force", "box", "virial", "energy"):
            old, new = np.load(a / "set.000" / f"{array}.npy"), np.load(b / "set.000" / f"{array}.npy")
            want = np.float64 if array == "energy" else np.float32
            assert new.dtype == want and np.array_equal(new, old.astype(want)), array
        s_old, s_new = load_system(a), load_system(b)  # dpdata reads it as the same frames
        np.testing.assert_allclose(s_new["forces"], s_old["forces"], rtol=1e-6, atol=1e-6)
        assert np.array_equal(s_new["energies"], s_old["energies"])
