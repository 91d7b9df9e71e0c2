"""Coordination (4B, 5Si) with known answers on hand-built structures."""

import numpy as np
import pytest
from ase import Atoms

from pylbs.analysis import coordination, coordination_modifier, make_coordination_modifier
from pylbs.structure import random_structure, write_lammps_data
from pylbs.glasses import get_glass

TRI = np.array([[1, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]])
TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
TBP = np.vstack([TRI, [[0, 0, 1], [0, 0, -1]]])  # trigonal bipyramid


def _unit(center, dirs, r, symbol):
    return [symbol], [center] + [list(np.asarray(center) + r * d) for d in dirs]


def _build(units, box=30.0):
    symbols, positions = [], []
    for center_symbol, center, dirs, r in units:
        symbols += [center_symbol] + ["O"] * len(dirs)
        positions += [center] + [list(np.asarray(center) + r * d) for d in dirs]
    return Atoms(symbols, positions=positions, cell=[box] * 3, pbc=True)


def test_bo3_and_bo4_give_half():
    atoms = _build([("B", [5, 5, 5], TRI, 1.37), ("B", [15, 15, 15], TET, 1.47)])
    r = coordination(atoms)
    assert r.fraction_4B == 0.5
    assert r.histograms["B"][3] == 1 and r.histograms["B"][4] == 1
    assert np.isnan(r.fraction_5Si)  # no Si


def test_five_fold_si():
    atoms = _build([("Si", [5, 5, 5], TBP, 1.70), ("Si", [15, 15, 15], TET, 1.61),
                    ("Si", [25, 25, 25], TET, 1.61), ("B", [5, 20, 5], TET, 1.47)])
    r = coordination(atoms)
    assert r.fraction_5Si == pytest.approx(1 / 3)
    assert r.histograms["Si"][4] == 2 and r.histograms["Si"][5] == 1
    assert r.fraction_4B == 1.0
    assert r.mean["Si"] == pytest.approx(13 / 3)


def test_periodic_boundaries():
    # B sits at a corner: its four O are wrapped to the other side of the box
    atoms = _build([("B", [0.1, 0.1, 0.1], TET, 1.47), ("B", [29.95, 15, 15], TRI, 1.37)])
    atoms.wrap()
    assert (atoms.positions > 25).any()
    r = coordination(atoms)
    assert r.histograms["B"][4] == 1 and r.histograms["B"][3] == 1


def test_cutoffs_and_what_is_not_counted():
    # an extra O at 1.95 A: outside the default B-O 1.9 A, inside a 2.0 A override
    atoms = _build([("B", [5, 5, 5], TRI, 1.37)])
    atoms += Atoms("O", positions=[[5, 5, 5 + 1.95]])
    atoms += Atoms("B", positions=[[5, 5, 5 - 1.6]])  # a B-B contact is never a bond to O
    assert coordination(atoms).histograms["B"][:5] == [1, 0, 0, 1, 0]  # second B: the O at 1.95+1.6 too far
    r = coordination(atoms, cutoffs={"B-O": 2.0})
    assert r.histograms["B"][4] == 1
    assert r.cutoffs["B-O"] == 2.0 and r.cutoffs["Si-O"] == 2.0


def test_matches_brute_force_and_file_inputs(tmp_path):
    from ase.neighborlist import neighbor_list

    atoms = random_structure(get_glass("LBS-20-60-20"), 294, seed=4, density=2.6,
                             min_distances={("B", "O"): 1.2, ("Si", "O"): 1.4})
    r = coordination(atoms)
    sym = np.array(atoms.get_chemical_symbols())
    cn = np.zeros(len(atoms), int)
    for el, rc in (("B", 1.9), ("Si", 2.0), ("Li", 2.6)):
        i, j = neighbor_list("ij", atoms, rc)
        sel = (sym[i] == el) & (sym[j] == "O")
        cn += np.bincount(i[sel], minlength=len(atoms))
    assert np.array_equal(r.per_atom, cn)
    path = write_lammps_data(atoms, tmp_path / "g.data")
    from_file = coordination(path)
    assert from_file.histograms == r.histograms and from_file.fraction_4B == r.fraction_4B


def test_ovito_modifier():
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline, StaticSource

    atoms = _build([("B", [5, 5, 5], TRI, 1.37), ("B", [15, 15, 15], TET, 1.47), ("Si", [25, 5, 5], TBP, 1.7)])
    pipe = Pipeline(source=StaticSource(data=ase_to_ovito(atoms)))
    pipe.modifiers.append(coordination_modifier)
    data = pipe.compute()
    assert data.attributes["pylbs.fraction_4B"] == 0.5
    assert data.attributes["pylbs.fraction_5Si"] == 1.0
    assert list(data.particles["Coordination"][:1]) == [3]
    pipe.modifiers[0] = make_coordination_modifier({("B", "O"): 1.4})  # BO4 bonds at 1.47 now too long
    assert pipe.compute().attributes["pylbs.fraction_4B"] == 0.0


def test_errors():
    from pylbs.errors import PylbsError

    with pytest.raises(PylbsError, match="cation-O"):
        coordination(_build([("B", [5, 5, 5], TRI, 1.37)]), cutoffs={("B", "B"): 2.0})
    with pytest.raises(PylbsError, match="no file"):
        coordination("/nonexistent/file.data")
