#!/usr/bin/env python
"""Is GFN1-xTB's repulsion at a close cation-cation contact DFT's? Separating forces on clusters.

    pip install pyscf==2.14.0   # not a pylbs dependency: its wheel carries its basis sets, no download
    python scripts/cluster_contact_check.py DATA --pairs B-B Li-Li --per-pair 3 --out runs/cluster.json

The pair wall (``scripts/fit_pair_wall.py``) is fitted to GFN1-xTB minus the teacher, so it is only
as right as xTB's repulsion at close contacts. This checks that against DFT where DFT is affordable on
2 cores: for the closest contacts of each pair in teacher-labelled frames (DATA, deepmd/npy), and one
pair at an ordinary distance, it cuts a cluster (the two cations, their O neighbours, and H caps
0.97 A from an O towards the cations bonded to it outside the cluster), and computes the separating force of
the pair (half the difference of the two atoms' forces along their axis; > 0 pushes them apart)
with DFT (PySCF, PBE/def2-SVP by default, density fitting) and with GFN1-xTB (tblite), on the same
cluster. Caps: every O keeps two network-former neighbours, the ones outside the cluster replaced by H
(B(OH)3- and Li+(H2O)n-like clusters).
Charge: formal (Li +1, B +3, Si +4, O -2, H +1), so every cluster is closed-shell.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from pylbs.mlp.datasets import load_system
from pylbs.mlp.label import frames_of_system
from pylbs.mlp.wall_fit import separating_force

BOND = {"B": 1.85, "Si": 2.0, "Li": 2.4}  # cation-O bond cutoffs (A)
FORMAL = {"Li": 1, "B": 3, "Si": 4, "O": -2, "H": 1}
HARTREE_PER_BOHR = 27.211386245988 / 0.529177210903  # eV/A
CAP_OH = 0.97


def cluster(atoms, i: int, j: int):
    """(ASE Atoms of the capped cluster, its charge, indices of i and j in it)."""
    from ase import Atoms

    sym = np.array(atoms.get_chemical_symbols())
    d = atoms.get_all_distances(mic=True)
    centre = atoms.positions[i]
    vec = atoms.get_distances(i, range(len(atoms)), mic=True, vector=True)  # minimum image around atom i
    pos = centre + vec
    cations = [c for c in (i, j) if sym[c] != "O"]
    oxygens = sorted({o for c in cations for o in np.flatnonzero((sym == "O") & (d[c] < BOND[sym[c]]))} - {i, j})
    symbols, coords = [sym[i], sym[j]], [pos[i], pos[j]]
    for o in [x for x in (i, j) if sym[x] == "O"] + oxygens:  # a pair's own O is capped like the others
        if o not in (i, j):
            symbols.append("O")
            coords.append(pos[o])
        bonded = [c for c in np.flatnonzero(np.isin(sym, list(BOND))) if c not in (i, j) and d[o, c] < BOND[sym[c]]]
        inside = [c for c in cations if d[o, c] < BOND[sym[c]]]
        slots = 2 - sum(sym[c] != "Li" for c in inside)
        towards = [atoms.get_distance(o, c, mic=True, vector=True) for c in
                   sorted(bonded, key=lambda c: (sym[c] == "Li", d[o, c]))[:max(slots, 0)]]
        if len(towards) < slots:  # nothing left to point at: water-like caps away from the cluster's cations
            back = -sum(vec[c] - vec[o] for c in inside) - sum(towards, np.zeros(3))
            back /= np.linalg.norm(back)
            perp = np.cross(back, [1.0, 0.3, 0.1])
            perp /= np.linalg.norm(perp)
            angle = np.radians(52.0) if slots - len(towards) == 2 else 0.0
            towards += [np.cos(angle) * back + sgn * np.sin(angle) * perp for sgn in (1, -1)][:slots - len(towards)]
        for u in towards:
            symbols.append("H")
            coords.append(pos[o] + CAP_OH * u / np.linalg.norm(u))
    charge = sum(FORMAL[s] for s in symbols)
    return Atoms(symbols, positions=coords), int(charge)


def separating(forces, u) -> float:
    """The pair (atoms 0 and 1 of a cluster) pushed apart along u (eV/A)."""
    return float(separating_force(np.asarray(forces), np.array([0]), np.array([1]), u[None, :])[0])


def dft_forces(mol_atoms, charge: int, xc: str, basis: str):
    try:
        from pyscf import dft, gto
    except ImportError:
        sys.exit("PySCF is not installed: pip install pyscf==2.14.0 (its wheel carries the basis sets)")
    mol = gto.M(atom=[(s, p) for s, p in zip(mol_atoms.get_chemical_symbols(), mol_atoms.positions)],
                basis=basis, charge=charge, spin=0, unit="Angstrom", verbose=0)
    mf = dft.RKS(mol).density_fit()
    mf.xc = xc
    mf.conv_tol = 1e-8
    mf.kernel()
    if not mf.converged:
        return None
    return -mf.nuc_grad_method().kernel() * HARTREE_PER_BOHR


def xtb_forces(mol_atoms, charge: int):
    from tblite.ase import TBLite

    a = mol_atoms.copy()
    a.calc = TBLite(method="GFN1-xTB", charge=charge, verbosity=0, max_iterations=300)
    return a.get_forces()


def pick(frames, pair: str, n: int):
    """The n closest pairs of that kind (distinct frames), then one at the median of the shell below 2.6 A."""
    from ase.neighborlist import neighbor_list

    a_el, b_el = pair.split("-")
    found = []
    for k, atoms in enumerate(frames):
        i, j, d = neighbor_list("ijd", atoms, 2.6)
        sym = np.array(atoms.get_chemical_symbols())
        m = (i < j) & (((sym[i] == a_el) & (sym[j] == b_el)) | ((sym[i] == b_el) & (sym[j] == a_el)))
        found += [(float(dd), k, int(ii), int(jj)) for ii, jj, dd in zip(i[m], j[m], d[m])]
    found.sort()
    out, used = [], set()
    for row in found:
        if row[1] not in used:
            out.append(row)
            used.add(row[1])
        if len(out) == n:
            break
    out.append(found[len(found) // 2 + len(found) // 4])  # an ordinary distance, for scale
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", type=Path)
    p.add_argument("--pairs", nargs="+", default=["B-B", "Li-Li"])
    p.add_argument("--per-pair", type=int, default=3)
    p.add_argument("--xc", default="pbe")
    p.add_argument("--basis", default="def2-svp")
    p.add_argument("--out", type=Path, required=True, help="results (JSON); a rerun only computes what is missing")
    p.add_argument("--teacher", help="also the separating force of a teacher (pylbs.mlp.teachers) on each cluster")
    args = p.parse_args(argv)
    frames = []
    for d in args.data:
        for t in sorted(Path(d).glob("*/*/type.raw")):
            frames += frames_of_system(load_system(t.parent))
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["pair"], r["frame"], r["i"], r["j"]): r for r in rows}
    teacher = None
    if args.teacher:
        from pylbs.mlp.teachers import teacher_calculator

        teacher = teacher_calculator(args.teacher)
    for pair in args.pairs:
        for dist, k, i, j in pick(frames, pair, args.per_pair):
            mol, charge = cluster(frames[k], i, j)
            closest = mol.get_all_distances()[np.triu_indices(len(mol), 1)].min()
            if closest < 0.85:  # two caps on top of each other: no chemistry to compare
                print(f"{pair} {dist:.3f} A: cluster skipped (two of its atoms {closest:.2f} A apart)")
                continue
            u = mol.positions[1] - mol.positions[0]
            u /= np.linalg.norm(u)
            row = done.get((pair, k, i, j))
            if row is None:
                t0 = time.perf_counter()
                f_dft = dft_forces(mol, charge, args.xc, args.basis)
                t_dft = time.perf_counter() - t0
                f_xtb = xtb_forces(mol, charge)
                row = {"pair": pair, "frame": k, "i": i, "j": j, "distance_A": round(dist, 3), "atoms": len(mol),
                       "formula": mol.get_chemical_formula(), "charge": charge, "method": f"{args.xc}/{args.basis}",
                       "dft": None if f_dft is None else round(separating(f_dft, u), 3),
                       "xtb": round(separating(f_xtb, u), 3), "dft_s": round(t_dft, 1)}
                rows.append(row)
            if teacher is not None and args.teacher not in row:
                # a universal potential on a capped cluster in vacuum (no charge input): far from its data
                boxed = mol.copy()
                boxed.center(vacuum=8.0)
                boxed.pbc = True
                boxed.calc = teacher
                row[args.teacher] = round(separating(boxed.get_forces(), u), 3)
            args.out.write_text(json.dumps(rows, indent=1))
            print(f"{pair} {dist:.3f} A  {row['formula']} (q {charge:+d}): pushed apart by {row['dft']} eV/A (DFT), "
                  f"{row['xtb']} eV/A (xTB)" + (f", {row[args.teacher]} eV/A ({args.teacher})" if teacher else ""),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
