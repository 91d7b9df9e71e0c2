"""Built-in crystal structures of pylbs.mlp.generate: stoichiometry, density against
the published value, coordination and bond lengths, and stability of that
coordination under a short FMP-LBS energy minimisation."""

from collections import Counter

import numpy as np
import pytest

from pylbs.errors import PylbsError
from pylbs.mlp.generate import CRYSTALS, NOT_SHIPPED, PUBLISHED_DENSITY, crystal_structure

AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660


def density(atoms) -> float:
    return atoms.get_masses().sum() / atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3


def bonds(atoms, center: str, cut: float):
    """{index of each `center` atom: sorted center-O distances below `cut`}."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cut)
    sym = np.array(atoms.get_chemical_symbols())
    return {k: np.sort(d[(i == k) & (sym[j] == "O")]) for k in np.where(sym == center)[0]}


def min_distance(atoms) -> float:
    from ase.neighborlist import neighbor_list

    return float(neighbor_list("d", atoms, 3.0).min())


def fmp_minimised(atoms, R=1.0, K=1.0):
    """Positions after a fixed-cell FMP-LBS minimisation (B-free: any R/K, the B-O
    composition rule is never used; with B pass the crystal's own R and K)."""
    from pylbs.glasses import TYPE_MAP
    from pylbs.lammps_env import start_lammps
    from pylbs.mlp.fmp_frames import _setup_commands, lammps_cell
    from pylbs.potential import fmp_commands

    atoms, _ = lammps_cell(atoms)
    atoms = atoms[np.argsort([TYPE_MAP.index(s) for s in atoms.get_chemical_symbols()], kind="stable")]
    n = len(atoms)
    lmp = start_lammps()
    try:
        lmp.commands_string(_setup_commands(atoms))
        lmp.commands_list(fmp_commands(None, cutoff=8.0, kspace="ewald", accuracy=1e-6, R=R, K=K))
        lmp.command("run 0")
        e0 = lmp.get_thermo("pe")
        lmp.command("minimize 1e-8 1e-6 500 5000")
        e1 = lmp.get_thermo("pe")
        ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
        x = np.asarray(lmp.numpy.extract_atom("x"))[:n][np.argsort(ids)]
    finally:
        lmp.close()
    out = atoms.copy()
    out.positions = x
    out.wrap()
    return atoms, out, e0 / n, e1 / n


def test_registry(tmp_path):
    assert set(CRYSTALS) == {"Li2O", "Li2Si2O5", "Li2SiO3"}
    assert set(PUBLISHED_DENSITY) <= set(CRYSTALS)
    assert not set(NOT_SHIPPED) & set(CRYSTALS)
    for name in NOT_SHIPPED:
        with pytest.raises(PylbsError, match="CIF"):
            crystal_structure(name)
    # n x n x n repeats: 2 x 2 x 2 of the 36-atom cell for the recipe's 288 atoms
    assert len(crystal_structure("Li2Si2O5", 288)) == 288
    assert len(crystal_structure("Li2SiO3", 192)) == 192
    # the CIF route stays: a file path is read as is
    from ase.io import write

    write(tmp_path / "x.cif", crystal_structure("Li2SiO3"))
    back = crystal_structure(str(tmp_path / "x.cif"))
    assert Counter(back.get_chemical_symbols()) == {"Li": 8, "Si": 4, "O": 12}
    assert density(back) == pytest.approx(density(crystal_structure("Li2SiO3")), rel=1e-6)


def test_li2si2o5_composition_density_geometry():
    at = crystal_structure("Li2Si2O5")
    assert Counter(at.get_chemical_symbols()) == {"Li": 8, "Si": 8, "O": 20}  # Z = 4
    assert np.allclose(at.cell.cellpar(), [5.8072, 14.5824, 4.7731, 90, 90, 90], atol=1e-3)
    rho = density(at)
    assert rho == pytest.approx(2.466, abs=2e-3)
    assert abs(rho / PUBLISHED_DENSITY["Li2Si2O5"] - 1) < 0.03
    assert min_distance(at) > 1.3
    si = bonds(at, "Si", 2.0)
    assert len(si) == 8 and all(len(d) == 4 for d in si.values())
    allb = np.concatenate(list(si.values()))
    # published tetrahedron: 1.562 (non-bridging), 1.604, 1.632, 1.685 A; mean 1.621 A.
    # The refinement's extremes sit just outside the 1.58-1.68 A window of the checklist
    # (by -0.018 / +0.005 A); the mean and all but those two are inside it.
    assert allb.min() == pytest.approx(1.562, abs=2e-3) and allb.max() == pytest.approx(1.685, abs=2e-3)
    assert 1.60 < allb.mean() < 1.64
    assert np.all((allb > 1.55) & (allb < 1.70))
    # Q3 sheets: 3 bridging O (2 Si neighbours) + 1 non-bridging O (bonded to Li) per Si
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", at, 2.0)
    sym = np.array(at.get_chemical_symbols())
    o_si = {k: int(((i == k) & (sym[j] == "Si")).sum()) for k in np.where(sym == "O")[0]}
    assert sorted(Counter(o_si.values()).items()) == [(1, 8), (2, 12)]
    li = bonds(at, "Li", 2.25)  # LiO4 tetrahedra
    assert all(len(d) == 4 for d in li.values())


def test_li2si2o5_survives_fmp_minimisation(fmp_plugin):
    at = crystal_structure("Li2Si2O5")
    start, relaxed, e0, e1 = fmp_minimised(at)  # B-free: R/K irrelevant (B-O pair unused)
    assert e1 < e0
    assert min_distance(relaxed) > 1.3
    for el, cut, n in (("Si", 2.0, 4), ("Li", 2.25, 4)):
        b = bonds(relaxed, el, cut)
        assert all(len(d) == n for d in b.values()), el
    allb = np.concatenate(list(bonds(relaxed, "Si", 2.0).values()))
    assert np.all((allb > 1.5) & (allb < 1.7))  # measured 1.555-1.632 A
    assert o_si_counts(relaxed) == {1: 8, 2: 12}
    disp = relaxed.positions - start.positions
    disp -= np.round(disp @ np.linalg.inv(start.cell)) @ np.asarray(start.cell)
    assert np.linalg.norm(disp, axis=1).max() < 0.3  # measured 0.157 A


def o_si_counts(atoms, cut=2.0):
    """Counter of the number of Si neighbours of each O (1: non-bridging, 2: bridging)."""
    from ase.neighborlist import neighbor_list

    i, j, _ = neighbor_list("ijd", atoms, cut)
    sym = np.array(atoms.get_chemical_symbols())
    return Counter(int(((i == k) & (sym[j] == "Si")).sum()) for k in np.where(sym == "O")[0])


def test_li2sio3_composition_density_geometry():
    at = crystal_structure("Li2SiO3")
    assert Counter(at.get_chemical_symbols()) == {"Li": 8, "Si": 4, "O": 12}  # Z = 4
    assert np.allclose(at.cell.cellpar(), [9.38, 5.40, 4.68, 90, 90, 90])
    rho = density(at)
    assert rho == pytest.approx(2.521, abs=2e-3)
    assert abs(rho / PUBLISHED_DENSITY["Li2SiO3"] - 1) < 0.03
    assert min_distance(at) > 1.3
    si = bonds(at, "Si", 2.0)
    assert len(si) == 4 and all(len(d) == 4 for d in si.values())
    allb = np.concatenate(list(si.values()))
    assert np.all((allb > 1.58) & (allb < 1.68))  # measured 1.636-1.664 A
    assert o_si_counts(at) == {1: 8, 2: 4}  # Q2 chains: 2 NBO + 2 BO per Si
    li = bonds(at, "Li", 2.25)  # LiO4, measured 1.915-2.123 A
    assert all(len(d) == 4 for d in li.values())


def test_li2sio3_survives_fmp_minimisation(fmp_plugin):
    start, relaxed, e0, e1 = fmp_minimised(crystal_structure("Li2SiO3"))  # B-free: R/K unused
    assert e1 < e0
    assert min_distance(relaxed) > 1.3
    b = bonds(relaxed, "Si", 2.0)
    assert all(len(d) == 4 for d in b.values())
    assert o_si_counts(relaxed) == {1: 8, 2: 4}
    li = bonds(relaxed, "Li", 2.45)  # measured 1.907-2.376 A after minimisation
    assert all(len(d) == 4 for d in li.values())
    disp = relaxed.positions - start.positions
    disp -= np.round(disp @ np.linalg.inv(start.cell)) @ np.asarray(start.cell)
    assert np.linalg.norm(disp, axis=1).max() < 0.3  # measured 0.199 A
