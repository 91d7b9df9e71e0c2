"""Hand-built structures with known coordination and rings, shared by the analysis tests."""

from __future__ import annotations

import numpy as np
from ase import Atoms

B_O = 1.37  # planar BO3 / ring B-O distance (A)
B4_O = 1.47  # out-of-plane O of a 4B (A)


def quartz(rep=1):
    """alpha-quartz, P3_221 (Levien et al. 1980: a=4.913, c=5.405 A; Si x=0.4697, O 0.4135 0.2669 0.1191).

    The published coordinates use an origin on the 2-fold axis; ASE's setting of
    space group 154 needs z shifted by 1/6 to put Si on Wyckoff 3a (3 Si + 6 O per cell,
    Si-O 1.604/1.613 A).
    """
    from ase.spacegroup import crystal

    q = crystal(["Si", "O"], basis=[(0.4697, 0, 1 / 6), (0.4135, 0.2669, 0.1191 + 1 / 6)], spacegroup=154,
                cellpar=[4.913, 4.913, 5.405, 90, 90, 120])
    return q.repeat(rep) if rep != 1 else q


def three_ring(center, n4, si=False):
    """A planar B3O3 (or B2SiO3) ring in the xy plane around ``center``.

    Formers on a regular hexagon (side = radius 1.37 A) alternate with ring O. The
    first ``n4`` B get two O above/below (4-fold), the others one exocyclic O in the
    plane (3-fold). ``si=True`` makes the last former Si with two extra O (4-fold).
    Returns (symbols, positions).
    """
    c = np.asarray(center, dtype=float)
    sym, pos = [], []
    for k in range(3):
        a = np.radians(120 * k)
        radial = np.array([np.cos(a), np.sin(a), 0.0])
        is_si = si and k == 2
        sym.append("Si" if is_si else "B")
        pos.append(c + B_O * radial)
        if is_si or k < n4:  # two O out of plane
            th = np.radians(55)
            for s in (1, -1):
                sym.append("O")
                pos.append(c + B_O * radial + B4_O * (np.cos(th) * radial + s * np.sin(th) * np.array([0, 0, 1.0])))
        else:
            sym.append("O")
            pos.append(c + 2 * B_O * radial)
        b = np.radians(120 * k + 60)
        sym.append("O")
        pos.append(c + B_O * np.array([np.cos(b), np.sin(b), 0.0]))
    return sym, pos


def bo3(center):
    c = np.asarray(center, dtype=float)
    sym, pos = ["B"], [c]
    for k in range(3):
        a = np.radians(120 * k)
        sym.append("O")
        pos.append(c + B_O * np.array([np.cos(a), np.sin(a), 0.0]))
    return sym, pos


def ring_classes(box=40.0, present=(0, 1, 2, 3, "si"), li=True):
    """One 3MR of each class (0..3 4B members, and one B2Si ring), two isolated BO3, a Li
    hovering over the boroxol ring (Li-O 1.70 A, inside the Li-O coordination cutoff; must
    not make network rings). Known: 3B = 10 (8 in 3MRs), 4B = 6 of 16 B, one 4-fold Si.
    ``present`` drops rings (a dropped ring is replaced by its atoms pulled apart:
    its third former moved 4 A out), keeping the same atoms and order for trajectories.
    """
    sym, pos = [], []
    specs = [(0, False), (1, False), (2, False), (3, False), (0, True)]
    keys = [0, 1, 2, 3, "si"]
    for k, ((n4, si), key) in enumerate(zip(specs, keys)):
        center = np.array([8.0 + 12.0 * (k % 3), 8.0 + 12.0 * (k // 3), 10.0])
        s, p = three_ring(center, n4, si)
        if key not in present:
            # break the ring: move the third former and its own O (not the ring O) outwards
            p = [np.array(x) for x in p]
            third = [i for i, x in enumerate(s) if x in ("B", "Si")][2]
            n_own = 2 if (si or n4 >= 3) else 1
            for i in range(third, third + 1 + n_own):
                p[i] = p[i] + np.array([0, 0, 4.0])
        sym += s
        pos += list(p)
    for c in ([8.0, 32.0, 25.0], [25.0, 32.0, 25.0]):
        s, p = bo3(c)
        sym += s
        pos += p
    if li:
        sym.append("Li")
        pos.append([8.0, 8.0, 11.0])
    return Atoms(sym, positions=pos, cell=[box] * 3, pbc=True)


def write_dump(path, atoms_list, seed=0, steps=None):
    """LAMMPS dump (id type x y z) with the atom order shuffled in every frame; ``steps``: the
    timestep of each frame (default 0, 1000, 2000, ...)."""
    rng = np.random.default_rng(seed)
    tmap = {"Li": 1, "B": 2, "Si": 3, "O": 4}
    lines = []
    steps = [k * 1000 for k in range(len(atoms_list))] if steps is None else steps
    for step, a in zip(steps, atoms_list):
        order = rng.permutation(len(a))
        L = a.cell.lengths()
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(a)),
                  "ITEM: BOX BOUNDS pp pp pp"] + [f"0 {x}" for x in L] + ["ITEM: ATOMS id type x y z"]
        sym, pos = a.get_chemical_symbols(), a.get_positions()
        for i in order:
            lines.append(f"{i + 1} {tmap[sym[i]]} {pos[i][0]:.6f} {pos[i][1]:.6f} {pos[i][2]:.6f}")
    path.write_text("\n".join(lines) + "\n")
