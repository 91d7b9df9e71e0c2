"""Training configurations like the paper's (its Tables S1-S3), from FMP-LBS MD.

The paper's set: crystals (B2O3, Li2O, Li2Si2O5, Li2SiO3, LiBSiO4) from AIMD,
and amorphous silica, lithium silicate, lithium borate and LBS glasses from
classical MD (FMP-LBS or Teter) at 300-3500 K plus deformed cells. Here each
recipe runs short FMP NVT MD (:func:`pylbs.mlp.fmp_frames.sample_fmp_frames`)
and the frames carry FMP labels; relabel them with DFT (or the xTB stand-in)
through :mod:`pylbs.mlp.label` for a real potential.

Crystals shipped: **Li2O** (antifluorite, Fm-3m, a = 4.61 A; Li at 8c
(1/4,1/4,1/4), O at 4a (0,0,0)), **Li2Si2O5** (orthorhombic Ccc2, Wyckoff data
from the AFLOW prototype library, see :func:`li2si2o5`) and **Li2SiO3**
(orthorhombic Cmc2_1, see :func:`li2sio3`; coordinates to 0.01 only). B2O3-I
and LiBSiO4 are not built in: no published Wyckoff set for them was sourced
that passes the checks; pass a CIF path instead
(``crystal_structure("my/B2O3.cif")``) and it is used as is.
"""

from __future__ import annotations

import sys
import time

from dataclasses import dataclass, field

import numpy as np

from ..errors import PylbsError
from ..glasses import get_glass
from .fmp_frames import sample_fmp_frames


def li2o(a: float = 4.61):
    """Li2O antifluorite (Fm-3m, a = 4.61 A), conventional cell of 12 atoms."""
    from ase.spacegroup import crystal

    return crystal(["Li", "O"], basis=[(0.25, 0.25, 0.25), (0, 0, 0)], spacegroup=225,
                   cellpar=[a, a, a, 90, 90, 90])


def li2si2o5():
    """Li2Si2O5 (stable lithium disilicate, orthorhombic Ccc2, No. 37), conventional
    cell of 36 atoms (Z = 4): a = 5.807, b = 14.582, c = 4.773 A, 2.466 g/cm^3.

    Sheets of Q3 SiO4 tetrahedra (each Si: 3 bridging O + 1 non-bridging O), Li in
    LiO4 tetrahedra between the sheets. As built: Si-O 1.562-1.685 A (mean 1.621).

    Source (numbers only): AFLOW Library of Crystallographic Prototypes, Part 2
    (Hicks et al., Comp. Mat. Sci. 161, S1 (2019)), prototype A2B5C2_oC36_37_d_c2d_d
    "Li2Si2O5" (aflow.org/p/JE1T, source given there: ICSD 78562), parameter line
    ``--params=5.8071602545,2.51110728429,0.821939039086,0.0,0.654,0.0584,0.0469,
    0.6705,0.0718,0.471,0.0932,0.1377,0.4004,0.1552,0.14836,0.0571`` in AFLOW's
    source, repository ksyang2013/AFLOW, file
    aflow.3.1.212/ANRL_CPPS_20180710/aflow_anrl.cpp (prototype 47 of part 2).
    Published X-ray density of Li2Si2O5 for comparison: 2.47 g/cm^3 (ICSD 280481,
    de Jong et al., Acta Cryst. B54, 568 (1998)).
    Parameter order (a, b/a, c/a, O1 4c z, Li 8d xyz, O2 8d xyz, O3 8d xyz,
    Si 8d xyz) follows AFLOW's atom function for that label (4c = (1/4, 1/4, z)).
    """
    from ase.spacegroup import crystal

    a, b, c = 5.8071602545, 5.8071602545 * 2.51110728429, 5.8071602545 * 0.821939039086
    return crystal(["O", "Li", "O", "O", "Si"],
                   basis=[(0.25, 0.25, 0.0),            # O1 4c
                          (0.654, 0.0584, 0.0469),      # Li 8d
                          (0.6705, 0.0718, 0.471),      # O2 8d
                          (0.0932, 0.1377, 0.4004),     # O3 8d
                          (0.1552, 0.14836, 0.0571)],   # Si 8d
                   spacegroup=37, cellpar=[a, b, c, 90, 90, 90])


def li2sio3():
    """Li2SiO3 (lithium metasilicate, orthorhombic Cmc2_1, No. 36, Na2SiO3 type),
    conventional cell of 24 atoms (Z = 4): a = 9.38, b = 5.40, c = 4.68 A, 2.521 g/cm^3.

    Chains of Q2 SiO4 tetrahedra along c (each Si: 2 bridging + 2 non-bridging O),
    Li in LiO4 tetrahedra. As built: Si-O 1.636-1.664 A, Li-O 1.915-2.123 A.

    Sources (numbers only):
    - lattice: Maksimov, Kharitonov, Ilyukhin & Belov, "Crystal structure of Li
      metasilicate Li2SiO3" (Doklady, 1968; English translation at
      russiarxiv.org/items/ru-196801.03024): a = 9.38, b = 5.40, c = 4.68 A, Z = 4, Cmc2_1.
    - fractional coordinates: AFLOW prototype A2B3C_oC24_36_b_ab_a, first parameter
      set (labelled "Li2O3Si (ICSD #28192)"), repository oscarlindbul/AFLOW, file
      aflow_anrl_list.cpp: ``10.2764819278,0.576935497153,0.499471075467,0.108,0.155,
      0.167,0.504,0.33,0.83,0.0,0.353,0.81,0.594`` = a, b/a, c/a, O1 4a (y, z),
      Si 4a (y, z), Li 8b (x, y, z), O2 8b (x, y, z). That entry's cell is rescaled
      (its volume gives 1.91 g/cm^3) but its axis ratios are Maksimov's (0.577/0.499
      vs 0.576/0.499), so the coordinates are used with Maksimov's lattice.
      Coordinates are given to 0.01 only (bond lengths to ~0.05 A); the Li sites
      agree with the DFT-relaxed Materials Project mp-5012 cell (Li at 0.174, 0.343
      vs 0.17, 0.33 here, within 0.013; POSCAR.yaml in phonondb.mtl.kyoto-u.ac.jp
      /_sources/ph20180417/d005/mp-5012.rst.txt).
    Published X-ray density for comparison: 2.53 g/cm^3 (ICSD 853, "Refinement of
    the crystal structure of lithium polysilicate", Acta Cryst. B).
    """
    from ase.spacegroup import crystal

    return crystal(["O", "Si", "Li", "O"],
                   basis=[(0.0, 0.108, 0.155),     # O1 4a
                          (0.0, 0.167, 0.504),     # Si 4a
                          (0.33, 0.83, 0.0),       # Li 8b
                          (0.353, 0.81, 0.594)],   # O2 8b
                   spacegroup=36, cellpar=[9.38, 5.40, 4.68, 90, 90, 90])


CRYSTALS = {"Li2O": li2o, "Li2Si2O5": li2si2o5, "Li2SiO3": li2sio3}
#: Published (X-ray) densities of the built-in crystals, g/cm^3, for checks.
#: Li2Si2O5: ICSD 280481 (de Jong et al., Acta Cryst. B54, 568 (1998)), _exptl_crystal_density_diffrn 2.47.
#: Li2SiO3: ICSD 853 ("Refinement of the crystal structure of lithium polysilicate"), 2.53.
PUBLISHED_DENSITY = {"Li2Si2O5": 2.47, "Li2SiO3": 2.53}
NOT_SHIPPED = ("B2O3", "LiBSiO4")


def crystal_structure(name_or_cif, n_atoms: int = 0):
    """A crystal by name (``Li2O``) or from a CIF/POSCAR file, repeated n x n x n with the
    atom count closest to ``n_atoms`` (at least the cell itself)."""
    from pathlib import Path

    if name_or_cif in CRYSTALS:
        atoms = CRYSTALS[name_or_cif]()
    elif Path(str(name_or_cif)).exists():
        from ase.io import read

        atoms = read(str(name_or_cif))
    elif name_or_cif in NOT_SHIPPED:
        raise PylbsError(f"no built-in {name_or_cif} structure (its Wyckoff data is not shipped); "
                         "give the path of a CIF of the published structure instead")
    else:
        raise PylbsError(f"unknown crystal '{name_or_cif}': use {', '.join(CRYSTALS)} or a CIF path")
    reps = max(1, int(round((n_atoms / len(atoms)) ** (1 / 3)))) if n_atoms > 0 else 1
    return atoms.repeat(reps) if reps > 1 else atoms


@dataclass
class Recipe:
    """One system of the training set: a glass composition (mol% SiO2, B2O3, Li2O)
    or a crystal, sampled by FMP NVT MD at ``temperatures`` (K), optionally strained."""

    name: str
    composition: tuple | None = None
    density: float | None = None  # g/cm^3, needed outside the paper's catalogue
    crystal: str | None = None
    n_atoms: int = 100
    temperatures: tuple = (300.0, 1500.0, 3500.0)
    frames_per_temperature: int = 10
    steps_between: int = 50
    strain: tuple | None = None  # Voigt (exx, eyy, ezz, eyz, exz, exy)
    seed: int = 1
    extra: dict = field(default_factory=dict)


#: Densities (g/cm^3) of the B-free / binary end members, approximate literature
#: values for the glasses: silica 2.20, Li2O.2SiO2 2.35, Li2O.2B2O3 2.20.
PAPER_LIKE = (
    Recipe("silica", composition=(100, 0, 0), density=2.20),
    Recipe("lithium-disilicate-glass", composition=(200 / 3, 0, 100 / 3), density=2.35),
    Recipe("lithium-diborate-glass", composition=(0, 200 / 3, 100 / 3), density=2.20),
    Recipe("LBS-20-40-40", composition=(20, 40, 40)),
    Recipe("LBS-30-30-40", composition=(30, 30, 40)),
    Recipe("LBS-8-32-60", composition=(8, 32, 60)),
    Recipe("LBS-30-30-40-strained", composition=(30, 30, 40), temperatures=(300.0, 1500.0),
           strain=(0.05, -0.03, 0.02, 0.03, 0.0, -0.02)),
    Recipe("Li2O-crystal", crystal="Li2O", temperatures=(300.0, 900.0)),
    Recipe("Li2Si2O5-crystal", crystal="Li2Si2O5", n_atoms=288, temperatures=(300.0, 900.0)),
    Recipe("Li2SiO3-crystal", crystal="Li2SiO3", n_atoms=192, temperatures=(300.0, 900.0)),
)


def run_recipe(recipe: Recipe, scale: float = 1.0, parameter_file=None):
    """FMP-labelled frames (dpdata LabeledSystem) of one recipe; ``scale`` multiplies
    the number of frames per temperature (at least 1)."""
    kw = dict(temperatures=recipe.temperatures,
              frames_per_temperature=max(1, int(round(recipe.frames_per_temperature * scale))),
              steps_between=recipe.steps_between, seed=recipe.seed, strain=recipe.strain,
              parameter_file=parameter_file, **recipe.extra)
    if recipe.crystal:
        return sample_fmp_frames(atoms=crystal_structure(recipe.crystal, recipe.n_atoms), **kw)
    if recipe.composition is None:
        raise PylbsError(f"recipe {recipe.name}: give a composition or a crystal")
    return sample_fmp_frames(get_glass(tuple(recipe.composition)), n_atoms=recipe.n_atoms, density=recipe.density,
                             **kw)


def generate(recipes=PAPER_LIKE, scale: float = 1.0, parameter_file=None, progress: bool = True) -> dict:
    """{recipe name: LabeledSystem} for each recipe."""
    out = {}
    for k, r in enumerate(recipes):
        t0 = time.perf_counter()
        out[r.name] = run_recipe(r, scale, parameter_file)
        if progress:
            s = out[r.name]
            print(f"[{k + 1}/{len(recipes)}] {r.name}: {len(s)} frames x {s.get_natoms()} atoms "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return out


def energy_per_atom_range(system) -> tuple[float, float]:
    e = np.asarray(system["energies"]) / system.get_natoms()
    return float(e.min()), float(e.max())
