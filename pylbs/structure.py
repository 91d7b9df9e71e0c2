"""Random initial structures for melt-quench: exact stoichiometry, cubic box at density.

The paper (Boron coordination section) starts every FMP-LBS melt-quench from "a
random configuration" of about 300 atoms in a cell whose volume is fixed by the
experimentally measured density of Table 1. This module builds that
configuration:

* :func:`atom_counts` picks integer numbers of SiO2, B2O3 and Li2O formula units
  in the exact mol% ratio, with the total atom count closest to the request;
* :func:`random_structure` places them at random in a cubic box at the density
  (g/cm^3), rejecting positions closer than a per-pair minimum distance
  (Angstrom), using a cell list so 10,000 atoms take about a second;
* :func:`write_lammps_data` writes LAMMPS ``atom_style charge`` data with the
  four types of :data:`pylbs.glasses.TYPE_MAP` always declared.

Command line: ``pylbs build --glass LBS-20-60-20 --atoms 300 --out initial.data``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import reduce
from pathlib import Path

import numpy as np

from .errors import StructureError
from .glasses import ATOMIC_MASS, OXIDE_ATOMS, TYPE_MAP, Composition, Glass

#: Avogadro's number / 1e24: converts g/mol per Angstrom^3 to g/cm^3.
_NA_PER_A3 = 0.602214076

#: Formal-fraction charges (e) of the Teter / FMP-LBS family (Li +0.6, B +1.8,
#: Si +2.4, O -1.2; Deng & Du). The fmp/lbs plugin sets charges from its
#: parameter file at init; these make the data file neutral and usable as is.
DEFAULT_CHARGES = {"Li": 0.6, "B": 1.8, "Si": 2.4, "O": -1.2}

#: Minimum distances (Angstrom) for random placement. They only need to keep
#: atoms out of the short-range (Buckingham-catastrophe) region of the
#: potentials: cation-O about 0.1-0.2 A below the crystalline bond lengths
#: (B-O 1.37/1.47, Si-O 1.61, Li-O 1.9-2.0), O-O below the 2.3-2.6 A edges of
#: BO3/SiO4 units (2.0 still lets every Table 1 glass pack at random), cation-cation large enough that no two network formers
#: start as a pair bound to the same O at an impossible angle. Override any
#: pair with ``min_distances={("B", "O"): 1.3, ...}``.
DEFAULT_MIN_DISTANCES = {
    ("O", "O"): 2.0,
    ("Si", "O"): 1.5,
    ("B", "O"): 1.3,
    ("Li", "O"): 1.6,
    ("Si", "Si"): 2.8,
    ("B", "B"): 2.3,
    ("Si", "B"): 2.5,
    ("Li", "Li"): 2.0,
    ("Li", "B"): 2.2,
    ("Li", "Si"): 2.4,
}

_OXIDES = ("SiO2", "B2O3", "Li2O")


def _as_glass(glass_or_composition) -> Glass:
    """The glass a structure is built for: resolved by the caller (pylbs.glasses.get_glass), never from a name here."""
    if isinstance(glass_or_composition, Glass):
        return glass_or_composition
    if isinstance(glass_or_composition, Composition):
        return Glass(glass_or_composition)
    raise StructureError(f"expected a pylbs.glasses.Glass or Composition, got {glass_or_composition!r}: resolve "
                         "a name once with pylbs.glasses.get_glass('LBS-20-60-20')")


def _oxide_units(mol: tuple[Fraction, ...]) -> tuple[int, ...]:
    """Smallest integer formula-unit numbers in the exact ratio of ``mol``."""
    denom = reduce(math.lcm, (f.denominator for f in mol), 1)
    ints = [int(f * denom) for f in mol]
    g = reduce(math.gcd, [i for i in ints if i], 0)
    return tuple(i // g for i in ints)


def _atoms_of(units: tuple[int, ...]) -> dict[str, int]:
    counts = {el: 0 for el in TYPE_MAP}
    for oxide, n in zip(_OXIDES, units):
        for el, k in OXIDE_ATOMS[oxide].items():
            counts[el] += n * k
    return counts


def atom_counts(composition, n_atoms: int, exact: bool = True,
                max_denominator: int = 1000) -> dict[str, int]:
    """Atoms per element for ``composition`` with about ``n_atoms`` atoms in total.

    ``exact=True`` (default): the formula units of SiO2, B2O3 and Li2O are an
    integer multiple of the smallest integer set in the exact mol% ratio
    (20:60:20 -> 1:3:1, 21 atoms), and the multiple whose total is closest to
    ``n_atoms`` is used (LBS-20-60-20, 300 -> 294 atoms). Compositions given
    with decimals are read as fractions with denominator <= ``max_denominator``.
    ``exact=False``: the total number of formula units whose atom count is closest
    to ``n_atoms`` is split by rounding (approximate stoichiometry, for
    compositions whose exact unit is too large).

    Returns ``{"Li": n, "B": n, "Si": n, "O": n}`` in TYPE_MAP order; the actual
    total is ``sum(counts.values())``. Raises StructureError when ``n_atoms`` is
    too small for every oxide present to appear at least once.
    """
    comp = _as_glass(composition).composition
    if not isinstance(n_atoms, (int, np.integer)) or n_atoms <= 0:
        raise StructureError(f"n_atoms={n_atoms!r}: give a positive integer number of atoms")
    present = [ox for ox, x in zip(_OXIDES, (comp.sio2, comp.b2o3, comp.li2o)) if x > 0]
    if exact:
        mol = tuple(Fraction(x).limit_denominator(max_denominator) for x in (comp.sio2, comp.b2o3, comp.li2o))
        unit = _oxide_units(mol)
        unit_atoms = sum(_atoms_of(unit).values())
        multiple = round(n_atoms / unit_atoms)
        if multiple < 1:
            raise StructureError(
                f"{comp.name} needs at least {unit_atoms} atoms for exact stoichiometry "
                f"(formula units SiO2:B2O3:Li2O = {unit[0]}:{unit[1]}:{unit[2]}), but n_atoms={n_atoms}; "
                f"ask for at least {math.ceil(unit_atoms / 2)} atoms (giving {unit_atoms}), "
                "or pass exact=False to round the composition")
        return _atoms_of(tuple(multiple * u for u in unit))
    # approximate: choose the number of formula units M whose rounded split is closest in size
    fractions = comp.mol_fractions()
    atoms_per_unit = sum(fractions[ox] * sum(OXIDE_ATOMS[ox].values()) for ox in _OXIDES)
    best = None
    m0 = max(1, round(n_atoms / atoms_per_unit))
    for m in range(max(1, m0 - 3), m0 + 4):
        units = tuple(int(round(fractions[ox] * m)) for ox in _OXIDES)
        if any(units[_OXIDES.index(ox)] == 0 for ox in present):
            continue
        total = sum(_atoms_of(units).values())
        if best is None or abs(total - n_atoms) < abs(best[0] - n_atoms):
            best = (total, units)
    if best is None:
        smallest = min(fractions[ox] for ox in present)
        need = math.ceil(0.5 / smallest * atoms_per_unit)
        raise StructureError(
            f"n_atoms={n_atoms} is too few to hold one formula unit of every oxide in {comp.name} "
            f"({', '.join(present)}); ask for at least about {need} atoms")
    return _atoms_of(best[1])


def box_length(counts: dict[str, int], density: float) -> float:
    """Edge (Angstrom) of the cube holding ``counts`` atoms at ``density`` g/cm^3."""
    mass = sum(ATOMIC_MASS[el] * n for el, n in counts.items())  # g/mol
    return (mass / (_NA_PER_A3 * density)) ** (1.0 / 3.0)


def density_of(atoms) -> float:
    """Mass density (g/cm^3) of an ase.Atoms with pylbs atomic weights."""
    mass = sum(ATOMIC_MASS[s] for s in atoms.get_chemical_symbols())
    return mass / (_NA_PER_A3 * atoms.get_volume())


def rescaled_to_density(atoms, density: float):
    """A copy of ``atoms`` with the cell (and positions) scaled isotropically to ``density`` g/cm^3."""
    out = atoms.copy()
    out.set_cell(atoms.cell * (density_of(atoms) / density) ** (1 / 3), scale_atoms=True)
    return out


def _distance_matrix(min_distances) -> np.ndarray:
    table = {tuple(sorted(k)): float(v) for k, v in DEFAULT_MIN_DISTANCES.items()}
    for (a, b), d in (min_distances or {}).items():
        for el in (a, b):
            if el not in TYPE_MAP:
                raise StructureError(f"min_distances names element {el!r}; use one of {TYPE_MAP}")
        table[tuple(sorted((a, b)))] = float(d)
    n = len(TYPE_MAP)
    mat = np.zeros((n, n))
    for i, a in enumerate(TYPE_MAP):
        for j, b in enumerate(TYPE_MAP):
            mat[i, j] = table.get(tuple(sorted((a, b))), 0.0)
    return mat


def random_structure(glass_or_composition, n_atoms: int, density: float | None = None,
                     seed: int = 0, min_distances: dict | None = None, exact: bool = True,
                     max_tries: int = 2000):
    """A random configuration of the glass in a cubic periodic box.

    ``density`` (g/cm^3) defaults to the measured density of the catalogue glass
    (paper Table 1), which the paper keeps fixed during FMP-LBS melt-quench.
    Atoms are placed one at a time at uniform random positions, network formers
    first, rejecting a trial position closer than the pair's minimum distance
    (``DEFAULT_MIN_DISTANCES`` updated with ``min_distances``, Angstrom) to any
    placed atom; a cell list keeps each trial O(1). Returns ase.Atoms sorted in
    TYPE_MAP order (Li, B, Si, O), with ``initial_charges`` set from
    ``DEFAULT_CHARGES`` and masses from ``ATOMIC_MASS``.
    """
    from ase import Atoms

    glass = _as_glass(glass_or_composition)
    if density is None:
        density = glass.density
    if density is None:
        raise StructureError(
            f"{glass.name} is not in the catalogue, so its density is unknown; give one "
            "(density=2.2 in Python, --density 2.2 on the command line) in g/cm^3")
    if not (density > 0 and math.isfinite(density)):
        raise StructureError(f"density={density!r} g/cm^3: give a positive number")
    counts = atom_counts(glass.composition, n_atoms, exact=exact)
    length = box_length(counts, density)
    dmin = _distance_matrix(min_distances)
    rng = np.random.default_rng(seed)

    # placement order: strongest exclusions first (Si, B), then Li, then O
    order = [t for el in ("Si", "B", "Li", "O") for t in [TYPE_MAP.index(el)] * counts[el]]
    types = np.array(order, dtype=np.int64)
    n = len(types)
    cutoff = float(dmin.max())
    ncell = max(1, int(length // cutoff)) if cutoff > 0 else 1
    cell_size = length / ncell
    # fixed-size slots per cell; the densest packing of spheres of the smallest
    # used distance bounds the occupancy
    smallest = dmin[dmin > 0].min() if np.any(dmin > 0) else cell_size
    cap = int(math.ceil((cell_size / smallest + 1) ** 3)) + 4
    slots = -np.ones((ncell, ncell, ncell, cap), dtype=np.int64)
    fill = np.zeros((ncell, ncell, ncell), dtype=np.int64)
    pos = np.zeros((n, 3))
    offsets = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    if ncell < 3:  # every cell is a neighbour of every other: avoid double counting
        offsets = np.array([(i, j, k) for i in range(ncell) for j in range(ncell) for k in range(ncell)])
    dmin2 = dmin ** 2
    for a in range(n):
        ta = types[a]
        placed = False
        trials = rng.random((max_tries, 3)) * length
        for trial in trials:
            c = (trial // cell_size).astype(np.int64) % ncell
            if ncell < 3:
                cells = offsets
            else:
                cells = (c + offsets) % ncell
            neigh = slots[cells[:, 0], cells[:, 1], cells[:, 2]].ravel()
            neigh = neigh[neigh >= 0]
            if neigh.size:
                d = pos[neigh] - trial
                d -= length * np.round(d / length)
                if np.any(np.einsum("ij,ij->i", d, d) < dmin2[ta, types[neigh]]):
                    continue
            pos[a] = trial
            slots[c[0], c[1], c[2], fill[c[0], c[1], c[2]]] = a
            fill[c[0], c[1], c[2]] += 1
            placed = True
            break
        if not placed:
            raise StructureError(
                f"could not place atom {a + 1} of {n} ({TYPE_MAP[ta]}) after {max_tries} random tries "
                f"in a {length:.2f} A box at {density} g/cm^3; lower the minimum distances "
                "(min_distances=...), or check the density")
    # sort in TYPE_MAP order (stable: keeps placement order within an element)
    perm = np.argsort(types, kind="stable")
    symbols = [TYPE_MAP[t] for t in types[perm]]
    atoms = Atoms(symbols=symbols, positions=pos[perm], cell=[length] * 3, pbc=True)
    atoms.set_masses([ATOMIC_MASS[s] for s in symbols])
    atoms.set_initial_charges([DEFAULT_CHARGES[s] for s in symbols])
    atoms.info.update(glass=glass.name, density_g_cm3=float(density), seed=int(seed),
                      requested_atoms=int(n_atoms))
    return atoms


def check_overlaps(atoms, min_distance) -> None:
    """Raise StructureError naming the closest offending pair closer than allowed.

    ``min_distance`` is one number (Angstrom) for every pair, or a dict
    ``{("B", "O"): 1.3, ...}`` (pairs not named are not checked). Periodic
    images are honoured through ``atoms.pbc``.
    """
    from ase.neighborlist import neighbor_list

    if isinstance(min_distance, dict):
        table = {tuple(sorted(k)): float(v) for k, v in min_distance.items()}
        rmax = max(table.values()) if table else 0.0
    else:
        table = None
        rmax = float(min_distance)
    if rmax <= 0 or len(atoms) < 2:
        return
    i, j, d = neighbor_list("ijd", atoms, rmax)
    keep = i < j
    i, j, d = i[keep], j[keep], d[keep]
    symbols = np.array(atoms.get_chemical_symbols())
    if table is None:
        limit = np.full(d.shape, rmax)
    else:
        limit = np.array([table.get(tuple(sorted((a, b))), 0.0) for a, b in zip(symbols[i], symbols[j])])
    bad = d < limit
    if np.any(bad):
        k = np.flatnonzero(bad)[np.argmin(d[bad] / limit[bad])]
        raise StructureError(
            f"atoms {i[k] + 1} ({symbols[i[k]]}) and {j[k] + 1} ({symbols[j[k]]}) are {d[k]:.3f} A apart, "
            f"closer than the allowed {limit[k]:.3f} A ({int(bad.sum())} pair(s) too close); rebuild the "
            "structure with random_structure (other seed or larger minimum distances) or minimise it first")


def write_lammps_data(atoms, path) -> Path:
    """Write ``atoms`` as LAMMPS data (atom_style charge, units metal).

    Types follow TYPE_MAP (Li=1, B=2, Si=3, O=4); the file always declares 4 atom
    types with all 4 masses, even when an element is absent, so every pylbs
    data file works with the same ``pair_coeff * * file Li B Si O``.
    """
    from ase.io import write

    for s in set(atoms.get_chemical_symbols()):
        if s not in TYPE_MAP:
            raise StructureError(f"element {s} is not one of {TYPE_MAP}; pylbs builds Li-B-Si-O glasses only")
    out = atoms.copy()
    out.set_masses([ATOMIC_MASS[s] for s in out.get_chemical_symbols()])
    if not np.any(out.get_initial_charges()):
        out.set_initial_charges([DEFAULT_CHARGES[s] for s in out.get_chemical_symbols()])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, out, format="lammps-data", atom_style="charge", units="metal",
          specorder=list(TYPE_MAP), masses=True, parallel=False)  # callers pick the writing rank
    # ASE takes masses of absent elements from its own table; use ours for all 4
    text = path.read_text().splitlines()
    start = text.index("Masses") + 2
    for k, el in enumerate(TYPE_MAP):
        text[start + k] = f"{k + 1} {ATOMIC_MASS[el]:.6f} # {el}"
    path.write_text("\n".join(text) + "\n")
    return path


def read_lammps_data(path):
    """Read a pylbs LAMMPS data file back into ase.Atoms with TYPE_MAP symbols."""
    from ase.io import read

    z = {k + 1: _atomic_number(el) for k, el in enumerate(TYPE_MAP)}
    return read(path, format="lammps-data", atom_style="charge", units="metal", Z_of_type=z, parallel=False)


def _atomic_number(el: str) -> int:
    from ase.data import atomic_numbers

    return atomic_numbers[el]
