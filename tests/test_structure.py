"""Initial structures: exact stoichiometry, density, minimum distances, data files."""

from fractions import Fraction

import numpy as np
import pytest

from pylbs.errors import StructureError
from pylbs.glasses import CATALOG, Composition
from pylbs.structure import (DEFAULT_MIN_DISTANCES, atom_counts, check_overlaps, density_of,
                             random_structure, read_lammps_data, write_lammps_data)
from pylbs.glasses import get_glass


def _formula_units(c):
    """(SiO2, B2O3, Li2O) formula units from element counts."""
    return c["Si"], c["B"] // 2, c["Li"] // 2


@pytest.mark.parametrize("name", list(CATALOG))
def test_atom_counts_exact_ratio_and_closest(name):
    comp = CATALOG[name].composition
    c = atom_counts(get_glass(name), 300)
    si, b, li = _formula_units(c)
    assert c["B"] % 2 == 0 and c["Li"] % 2 == 0
    assert c["O"] == 2 * si + 3 * b + li  # neutral oxide stoichiometry
    # mol ratio exactly as in the name
    total = si + b + li
    assert (Fraction(si, total), Fraction(b, total), Fraction(li, total)) == tuple(
        Fraction(x).limit_denominator(1000) / 100 for x in (comp.sio2, comp.b2o3, comp.li2o))
    # the total is the multiple of the smallest unit closest to 300
    unit = sum(c.values()) // np.gcd.reduce([si, b, li])
    assert abs(sum(c.values()) - 300) <= unit / 2


def test_atom_counts_lbs_20_60_20():
    assert atom_counts(get_glass("LBS-20-60-20"), 300) == {"Li": 28, "B": 84, "Si": 14, "O": 168}  # 294 atoms, 14 x (1:3:1)
    assert sum(atom_counts(get_glass("LBS-20-60-20"), 10000).values()) == 9996


def test_atom_counts_too_few_atoms_names_fix():
    with pytest.raises(StructureError, match="at least 11 atoms"):
        atom_counts(get_glass("LBS-20-60-20"), 5)  # smallest exact unit is 21 atoms
    with pytest.raises(StructureError, match="exact=False"):
        atom_counts(Composition(33.3, 33.3, 33.4), 30)
    with pytest.raises(StructureError, match="too few"):
        atom_counts(Composition(1, 1, 98), 20, exact=False)


def test_atom_counts_approximate():
    c = atom_counts(Composition(33.3, 33.3, 33.4), 300, exact=False)
    assert abs(sum(c.values()) - 300) <= 6 and min(c.values()) > 0


@pytest.mark.parametrize("name", ["LBS-20-60-20", "LBS-10-20-70", "LBS-50-10-40"])
def test_random_structure_density_box_and_distances(name):
    atoms = random_structure(get_glass(name), 300, seed=7)
    cell = atoms.cell.array
    assert np.allclose(cell, np.diag([cell[0, 0]] * 3))  # cubic
    assert density_of(atoms) == pytest.approx(CATALOG[name].density, rel=1e-12)
    types = [("Li", "B", "Si", "O").index(s) for s in atoms.get_chemical_symbols()]
    assert types == sorted(types)  # TYPE_MAP order
    assert atoms.get_initial_charges().sum() == pytest.approx(0.0, abs=1e-9)
    check_overlaps(atoms, {k: v - 1e-9 for k, v in DEFAULT_MIN_DISTANCES.items()})
    # a real periodic minimum-distance check, independent of check_overlaps
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, 2.0 - 1e-9)
    sym = np.array(atoms.get_chemical_symbols())
    oo = (sym[i] == "O") & (sym[j] == "O")
    assert not np.any(oo)  # O-O >= 2.0 A


def test_random_structure_overrides_and_errors():
    atoms = random_structure(get_glass("LBS-20-60-20"), 105, seed=1, min_distances={("O", "O"): 2.1}, density=2.0)
    assert density_of(atoms) == pytest.approx(2.0)
    check_overlaps(atoms, {("O", "O"): 2.1 - 1e-9})
    with pytest.raises(StructureError, match="density"):
        random_structure(Composition(25, 50, 25), 300)
    assert len(random_structure(Composition(25, 50, 25), 300, density=2.2)) > 0
    with pytest.raises(StructureError, match="could not place"):
        random_structure(get_glass("LBS-20-60-20"), 105, min_distances={("O", "O"): 3.5}, max_tries=200)


def test_check_overlaps_names_pair():
    atoms = random_structure(get_glass("LBS-20-60-20"), 105, seed=2)
    atoms.positions[-1] = atoms.positions[-2] + [0.5, 0, 0]
    with pytest.raises(StructureError, match=r"\(O\) and .* \(O\) are 0\.500 A apart"):
        check_overlaps(atoms, 1.0)


def test_ten_thousand_atoms_keep_the_minimum_distances():
    """The cell-list placement at 10,000 atoms: exact count, density, no pair closer than allowed
    (its speed is bench/, not a test)."""
    from pylbs.structure import DEFAULT_MIN_DISTANCES, density_of

    atoms = random_structure(get_glass("LBS-20-60-20"), 10000, seed=1)
    assert len(atoms) == 9996 and density_of(atoms) == pytest.approx(2.21, rel=1e-9)
    check_overlaps(atoms, {k: v - 1e-9 for k, v in DEFAULT_MIN_DISTANCES.items()})


def test_write_lammps_data_declares_four_types(tmp_path):
    silica = random_structure(Composition(100, 0, 0), 60, density=2.2, seed=1)
    path = write_lammps_data(silica, tmp_path / "silica.data")
    text = path.read_text()
    assert "4 atom types" in text
    masses = text.split("Masses")[1].split("Atoms")[0].split("\n")
    assert [ln.split("#")[1].strip() for ln in masses if "#" in ln] == ["Li", "B", "Si", "O"]
    back = read_lammps_data(path)
    assert back.get_chemical_symbols() == silica.get_chemical_symbols()
    assert np.allclose(back.get_initial_charges(), [2.4] * 20 + [-1.2] * 40)


def test_data_file_reads_in_lammps(tmp_path):
    from pylbs.lammps_env import start_lammps

    atoms = random_structure(get_glass("LBS-40-40-20"), 300, seed=1)
    path = write_lammps_data(atoms, tmp_path / "a.data")
    lmp = start_lammps(require=())
    try:
        for c in ["units metal", "atom_style charge", f"read_data {path}"]:
            lmp.command(c)
        assert lmp.get_natoms() == len(atoms) and lmp.extract_global("ntypes") == 4
        vol = lmp.get_thermo("vol")
        assert vol == pytest.approx(atoms.get_volume(), rel=1e-10)
    finally:
        lmp.close()
