"""A per-pair repulsive wall laid over a DeepMD model, where its reference is too soft.

Universal potentials, and so the models distilled from them, are too soft at contacts much
shorter than a bond (Deng et al., npj Comput. Mater. 2025): a model that follows its teacher
faithfully still lets two Li, or two B, come closer in a 2000 K liquid than the guard accepts.
A wall adds, per element pair, LAMMPS's ``pair_style buck/mdf`` term with C = 0: a Born-Mayer
repulsion tapered to zero between r_in and rc by the Mei-Davenport-Fernando function

    E(r) = A exp(-r / rho) tau(x),  x = (r - r_in) / (rc - r_in),  tau = 1 - 10x^3 + 15x^4 - 6x^5

(tau = 1 below r_in, 0 beyond rc) (smooth: energy and force go to zero at rc), fitted to the force a stiffer reference adds on
close contacts (``scripts/fit_pair_wall.py``). It is part of the model: a model folder that holds
``pair_wall.json`` beside its ``model.pth`` runs as DeepMD + wall in LAMMPS
(``pair_style hybrid/overlay deepmd ... buck/mdf``) and in Python (:func:`model_calculator`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..glasses import TYPE_MAP, element_pair
from ..torchscript import run_models_unoptimised

WALL_FILE = "pair_wall.json"


def sorted_pair(pair) -> tuple[str, str]:
    """``"O-Li"``, ``("Li", "O")`` -> ``("Li", "O")`` (alphabetical, as the guard's table)."""
    return tuple(sorted(element_pair(pair)))


@dataclass(frozen=True)
class PairWall:
    """``terms``: {(el1, el2) sorted: (A eV, rho A, r_in A, rc A)}; ``about``: how it was made."""

    terms: dict = field(default_factory=dict)
    about: dict = field(default_factory=dict)

    def __post_init__(self):
        clean = {}
        for key, values in dict(self.terms).items():
            pair = sorted_pair(key)
            a, rho, r_in, rc = map(float, values)
            if not (math.isfinite(a) and a >= 0 and rho > 0 and 0 < r_in < rc < math.inf):
                raise PylbsError(f"pair wall {'-'.join(pair)}: A={a} eV, rho={rho}, r_in={r_in}, rc={rc} A; a wall "
                                 "needs A >= 0, rho > 0 and 0 < r_in < rc")
            clean[pair] = (a, rho, r_in, rc)
        object.__setattr__(self, "terms", clean)

    @property
    def cutoff(self) -> float:
        return max((t[3] for t in self.terms.values() if t[0] > 0), default=0.0)

    def pair_energy(self, pair, r):
        """E(r) in eV of one element pair (``"Li-O"`` or a tuple), r in Angstrom (array or float)."""
        return self._energy_force(pair, r)[0]

    def pair_force(self, pair, r):
        """-dE/dr in eV/A (positive: pushes the two atoms apart)."""
        return self._energy_force(pair, r)[1]

    def _energy_force(self, pair, r):
        r = np.asarray(r, dtype=float)
        a, rho, r_in, rc = self.terms.get(sorted_pair(pair), (0.0, 1.0, 1.0, 2.0))
        x = np.clip((r - r_in) / (rc - r_in), 0.0, 1.0)
        taper = 1 - 10 * x**3 + 15 * x**4 - 6 * x**5
        dtaper = -30 * x**2 * (1 - x) ** 2 / (rc - r_in)
        born = a * np.exp(-r / rho)
        return born * taper, born * (taper / rho - dtaper)

    def lammps_coeffs(self, elements=TYPE_MAP, style: str = "buck/mdf") -> list[str]:
        """``pair_coeff i j buck/mdf A rho 0 r_in rc`` lines for the pairs with a wall."""
        lines = []
        for i, ei in enumerate(elements, start=1):
            for j, ej in enumerate(elements[i - 1:], start=i):
                a, rho, r_in, rc = self.terms.get(sorted_pair((ei, ej)), (0.0, 1.0, 1.0, 2.0))
                if a > 0:
                    lines.append(f"pair_coeff {i} {j} {style} {a:.10g} {rho:.10g} 0.0 {r_in:.10g} {rc:.10g}")
        return lines

    def to_dict(self) -> dict:
        return {"form": "A exp(-r/rho) tapered to 0 between r_in and rc (LAMMPS pair_style buck/mdf, C = 0)",
                "terms": {f"{a}-{b}": dict(zip(_FIELDS, v)) for (a, b), v in self.terms.items()},
                "about": self.about}

    @classmethod
    def from_dict(cls, d: dict) -> PairWall:
        try:
            terms = {k: tuple(float(v[f]) for f in _FIELDS) for k, v in d["terms"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise PylbsError(f"a pair wall needs terms {{'Li-Li': {{{', '.join(repr(f) + ': ...' for f in _FIELDS)}}}}}; "
                             f"got {d!r}") from exc
        return cls(terms, dict(d.get("about") or {}))

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path


_FIELDS = ("A_eV", "rho_A", "r_in_A", "rc_A")


def wall_file_of(model) -> Path | None:
    """The ``pair_wall.json`` beside a model file, if there is one."""
    p = Path(model).resolve().parent / WALL_FILE
    return p if p.is_file() else None


def wall_of(model) -> PairWall | None:
    """The wall a model file runs with (its folder's ``pair_wall.json``), or None."""
    p = wall_file_of(model)
    if p is None:
        return None
    try:
        return PairWall.from_dict(json.loads(p.read_text()))
    except json.JSONDecodeError as exc:
        raise PylbsError(f"{p} is not valid JSON ({exc}); fix it or remove it to run the model without a wall") from exc


def wall_energy_forces(wall: PairWall, atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy (eV), forces (eV/A) and virial (eV, 3x3, sum of r_ij (x) f_ij) of the wall on ASE ``atoms``."""
    from ase.neighborlist import neighbor_list

    forces = np.zeros((len(atoms), 3))
    virial = np.zeros((3, 3))
    if wall.cutoff <= 0:
        return 0.0, forces, virial
    i, j, d, vec = neighbor_list("ijdD", atoms, wall.cutoff)
    keep = i < j  # each pair once
    i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]
    sym = np.array(atoms.get_chemical_symbols())
    energy = 0.0
    for pair in wall.terms:
        m = ((sym[i] == pair[0]) & (sym[j] == pair[1])) | ((sym[i] == pair[1]) & (sym[j] == pair[0]))
        if not m.any():
            continue
        energy += float(wall.pair_energy(pair, d[m]).sum())
        f = (wall.pair_force(pair, d[m]) / d[m])[:, None] * vec[m]  # on j, along i -> j
        np.add.at(forces, j[m], f)
        np.add.at(forces, i[m], -f)
        virial += vec[m].T @ f
    return energy, forces, virial


def wall_calculator(wall: PairWall):
    """An ASE calculator of the wall alone (energy, forces, stress)."""
    from ase.calculators.calculator import Calculator, all_changes

    class PairWallCalculator(Calculator):
        implemented_properties = ["energy", "free_energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            e, f, w = wall_energy_forces(wall, self.atoms)
            stress = -w / self.atoms.get_volume()
            self.results = {"energy": e, "free_energy": e, "forces": f,
                            "stress": stress.flat[[0, 4, 8, 5, 2, 1]]}

    return PairWallCalculator()


def model_calculator(model):
    """The ASE calculator of a DeepMD model file as pylbs runs it: DeepMD, plus its wall if it has one."""
    from deepmd.calculator import DP

    run_models_unoptimised()
    dp = DP(model=str(model), type_dict={el: k for k, el in enumerate(TYPE_MAP)})
    wall = wall_of(model)
    if wall is None:
        return dp
    from ase.calculators.mixing import SumCalculator

    return SumCalculator([dp, wall_calculator(wall)])
