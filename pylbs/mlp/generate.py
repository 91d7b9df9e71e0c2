"""Training configurations like the paper's (its Tables S1-S3), from FMP-LBS MD.

The paper's set: crystals (B2O3, Li2O, Li2Si2O5, Li2SiO3, LiBSiO4) from AIMD,
and amorphous silica, lithium silicate, lithium borate and LBS glasses from
classical MD (FMP-LBS or Teter) at 300-3500 K plus deformed cells. Here each
recipe runs short FMP NVT MD (:func:`pylbs.mlp.fmp_frames.sample_fmp_frames`)
and the frames carry FMP labels; relabel them with DFT (or the xTB stand-in)
through :mod:`pylbs.mlp.label` for a real potential.

Crystals shipped: only **Li2O** (antifluorite, Fm-3m, a = 4.61 A; Li at 8c
(1/4,1/4,1/4), O at 4a (0,0,0)), whose structure is certain. B2O3-I, Li2Si2O5,
Li2SiO3 and LiBSiO4 are not built in: their Wyckoff coordinates must come from
the published refinements (ICSD/COD CIFs), which are not shipped; pass a CIF
path instead (``crystal_structure("my/Li2SiO3.cif")``) and it is used as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PylbsError


def li2o(a: float = 4.61):
    """Li2O antifluorite (Fm-3m, a = 4.61 A), conventional cell of 12 atoms."""
    from ase.spacegroup import crystal

    return crystal(["Li", "O"], basis=[(0.25, 0.25, 0.25), (0, 0, 0)], spacegroup=225,
                   cellpar=[a, a, a, 90, 90, 90])


CRYSTALS = {"Li2O": li2o}
NOT_SHIPPED = ("B2O3", "Li2Si2O5", "Li2SiO3", "LiBSiO4")


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
)


def run_recipe(recipe: Recipe, scale: float = 1.0, parameter_file=None):
    """FMP-labelled frames (dpdata LabeledSystem) of one recipe; ``scale`` multiplies
    the number of frames per temperature (at least 1)."""
    from .fmp_frames import sample_fmp_frames

    kw = dict(temperatures=recipe.temperatures,
              frames_per_temperature=max(1, int(round(recipe.frames_per_temperature * scale))),
              steps_between=recipe.steps_between, seed=recipe.seed, strain=recipe.strain,
              parameter_file=parameter_file, **recipe.extra)
    if recipe.crystal:
        return sample_fmp_frames(atoms=crystal_structure(recipe.crystal, recipe.n_atoms), **kw)
    if recipe.composition is None:
        raise PylbsError(f"recipe {recipe.name}: give a composition or a crystal")
    return sample_fmp_frames(tuple(recipe.composition), n_atoms=recipe.n_atoms, density=recipe.density, **kw)


def generate(recipes=PAPER_LIKE, scale: float = 1.0, parameter_file=None, progress: bool = True) -> dict:
    """{recipe name: LabeledSystem} for each recipe."""
    import sys
    import time

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
