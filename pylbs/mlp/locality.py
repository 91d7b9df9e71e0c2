"""How much of a calculator's force on an atom depends on atoms beyond a cutoff.

A DeepMD se_e2_a model's energy is a sum of atomic energies, each a function of the atom's
neighbours within ``rcut`` (6.0 A in the paper). Its force on atom *i* is ``-sum_j dE_j/dr_i``
over the neighbours *j*, so it depends on atoms up to ``2 rcut`` away, and nothing farther.
A message-passing teacher (CHGNet: four graph-convolution layers on a 6 A graph) reaches
farther still. This module measures how a calculator's force on a centre atom changes when
only atoms beyond ``rcut`` of it move. Run with the teacher and with a student on the same
swaps, the two changes say how much of that dependence the student reproduces; the part it
cannot is label noise to it.

For a centre *i* and two frames ``a`` and ``b`` of one MD run (unwrapped, same atom order,
same box), the *swap* keeps frame ``a``'s positions of every atom within ``rcut`` of *i* (in
either frame, minimum image) and moves the others towards their frame ``b`` positions: the
whole way beyond ``rcut + ramp``, a fraction ``(d - rcut) / ramp`` in between. The ramp keeps
bonds that cross the sphere's surface near their length (a sharp cut puts one end of a B-O
bond at ``a`` and the other at ``b`` and makes 0.8 A contacts at 2000 K). An atom whose way
would cut through the sphere stays at ``a``. So the centre's environment within ``rcut`` is
exactly frame ``a``'s. Atoms in the ramp move only part of the way, and two frames of one run
are correlated, so the change is less than that of a fully new outside. Swaps that make a pair
closer than a given distance are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import get_distances

from ..errors import PylbsError


@dataclass(frozen=True)
class Swap:
    """Frame ``a`` with the atoms beyond ``rcut`` of ``centre`` moved towards frame ``b``."""

    atoms: Atoms
    centre: int
    moved: np.ndarray  # indices of the atoms that moved (any fraction)
    weight: np.ndarray  # per atom: 0 kept at a, 1 at b
    min_distance: float  # closest pair of the swapped frame (A)


def closest_pair(atoms) -> float:
    """The shortest interatomic distance of a periodic frame (A, minimum image)."""
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def _check_pair(a, b) -> None:
    if len(a) != len(b) or a.get_chemical_symbols() != b.get_chemical_symbols():
        raise PylbsError("a locality swap needs two frames of one run: the same atoms in the same order")
    if not np.allclose(a.cell[:], b.cell[:], atol=1e-6):
        raise PylbsError("a locality swap needs two frames with the same box: frames of an NVT run, or "
                         "frame b rescaled into frame a's box first (scripts/teacher_locality.py does)")


def swap_outside(a, b, centre: int, rcut: float, ramp: float = 0.0) -> Swap:
    """Frame ``a`` with the atoms farther than ``rcut`` from ``centre`` (in ``a`` and from the
    centre's ``a`` position in ``b``) moved towards their ``b`` positions (``b`` unwrapped like
    ``a``): fully beyond ``rcut + ramp``, by ``(d_a - rcut) / ramp`` within the ramp."""
    _check_pair(a, b)
    x_a, x_b = a.positions, b.positions
    _, d_a = get_distances(x_a[centre], x_a, cell=a.cell, pbc=a.pbc)
    _, d_b = get_distances(x_a[centre], x_b, cell=a.cell, pbc=a.pbc)
    outside = (d_a[0] > rcut) & (d_b[0] > rcut)
    fraction = np.ones(len(a)) if ramp <= 0 else np.clip((d_a[0] - rcut) / ramp, 0.0, 1.0)
    weight = np.where(outside, fraction, 0.0)
    x = x_a + weight[:, None] * (x_b - x_a)
    # part of the way from a to b can cut through the sphere (a displacement longer than the ramp):
    # such an atom stays at a, so the centre's environment is exactly frame a's
    _, d_x = get_distances(x_a[centre], x, cell=a.cell, pbc=a.pbc)
    weight[d_x[0] <= rcut] = 0.0
    swapped = a.copy()
    swapped.calc = None
    swapped.positions = x_a + weight[:, None] * (x_b - x_a)
    return Swap(swapped, int(centre), np.flatnonzero(weight > 0), weight, closest_pair(swapped))


def _forces(atoms, calculator) -> np.ndarray:
    atoms = atoms.copy()
    atoms.calc = calculator
    return np.asarray(atoms.get_forces(), dtype=float)


def outside_force_changes(a, b, calculator, rcut: float, centres, min_distance: float, ramp: float = 0.0) -> dict:
    """The calculator's force change on each centre when only atoms beyond ``rcut`` move.

    Returns ``centres`` (those measured), ``skipped`` (swaps with a pair closer than
    ``min_distance``), ``changes`` (n, 3) in eV/A and ``forces`` (n, 3) the centres' forces in
    frame ``a`` (the scale the changes compare with), and ``moved`` (atoms moved per swap).
    """
    f_a = _forces(a, calculator)
    done, skipped, changes, forces, moved = [], [], [], [], []
    for i in centres:
        swap = swap_outside(a, b, int(i), rcut, ramp)
        if swap.min_distance < min_distance:
            skipped.append(int(i))
            continue
        f_s = _forces(swap.atoms, calculator)
        done.append(int(i))
        changes.append(f_s[i] - f_a[i])
        forces.append(f_a[i])
        moved.append(len(swap.moved))
    return {"centres": done, "skipped": skipped, "changes": np.reshape(changes, (-1, 3)),
            "forces": np.reshape(forces, (-1, 3)), "moved": moved}


def summarise(changes, forces) -> dict:
    """Per-component and per-atom statistics of outside force changes (eV/A).

    ``noise_component_rms`` is the change's RMS per component divided by sqrt(2): the change is
    the difference of two draws of the outside, so for uncorrelated draws this is the spread of
    the force's dependence on the outside (less for correlated draws). It is not by itself what a
    local model cannot fit: a DeepMD force reaches twice its cutoff (compare calculators instead).
    """
    c = np.asarray(changes, dtype=float).reshape(-1, 3)
    f = np.asarray(forces, dtype=float).reshape(-1, 3)
    if not len(c):
        return {"n": 0}
    norm = np.linalg.norm(c, axis=1)
    return {
        "n": int(len(c)),
        "component_mae": float(np.mean(np.abs(c))),
        "component_rms": float(np.sqrt(np.mean(c ** 2))),
        "noise_component_rms": float(np.sqrt(np.mean(c ** 2) / 2)),
        "norm_median": float(np.median(norm)),
        "norm_p90": float(np.percentile(norm, 90)),
        "norm_max": float(norm.max()),
        "force_component_rms": float(np.sqrt(np.mean(f ** 2))),
    }
