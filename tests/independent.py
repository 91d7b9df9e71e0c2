"""Independent re-implementations the end-to-end tests check pylbs against.

Each function recomputes a number pylbs reports from the raw files a run leaves
(LAMMPS dump, data file, heating curve) with plain numpy/ASE and none of pylbs's
analysis code, so a wrong window, a wrong file, a swapped column or a lost
drift correction in the pipeline makes the comparison fail, whatever the sign or
size of the (noisy) physical value of a tiny run.
"""

from __future__ import annotations

import numpy as np

TYPE_MAP = ("Li", "B", "Si", "O")
MASSES = {"Li": 6.94, "B": 10.81, "Si": 28.085, "O": 15.999}


def read_dump_unwrapped(path):
    """(steps, element symbols sorted by id, unwrapped positions (frames, atoms, 3)) of an
    orthogonal ``dump custom id type x y z ix iy iz`` file."""
    steps, frames, symbols = [], [], None
    lines = open(path).read().splitlines()
    k = 0
    while k < len(lines):
        if not lines[k].startswith("ITEM: TIMESTEP"):
            k += 1
            continue
        steps.append(int(lines[k + 1]))
        n = int(lines[k + 3])
        lo_hi = np.array([[float(v) for v in lines[k + 5 + d].split()[:2]] for d in range(3)])
        cols = lines[k + 8].split()[2:]
        data = np.array([ln.split() for ln in lines[k + 9:k + 9 + n]], dtype=float)
        data = data[np.argsort(data[:, cols.index("id")])]
        box = lo_hi[:, 1] - lo_hi[:, 0]
        x = data[:, [cols.index(c) for c in ("x", "y", "z")]]
        img = data[:, [cols.index(c) for c in ("ix", "iy", "iz")]]
        frames.append(x + img * box)
        if symbols is None:
            symbols = np.array([TYPE_MAP[int(t) - 1] for t in data[:, cols.index("type")]])
        k += 9 + n
    return np.array(steps), symbols, np.array(frames)


def diffusion_coefficient(dump_path, element="Li", timestep_ps=0.001, window=(50.0, 150.0), discard_ps=0.0,
                          remove_drift=True):
    """D (A^2/ps) of ``element``: MSD averaged over every time origin by explicit loops,
    then a least-squares line over lags in ``window``; D = slope / 6."""
    steps, sym, r = read_dump_unwrapped(dump_path)
    t = (steps - steps[0]) * timestep_ps
    keep = t >= discard_ps - 1e-9
    r, t = r[keep], t[keep] - t[keep][0]
    if remove_drift:
        m = np.array([MASSES[s] for s in sym])
        com = (r * m[None, :, None]).sum(axis=1) / m.sum()
        r = r - (com - com[0])[:, None, :]
    r = r[:, sym == element]
    n = len(t)
    msd = np.array([((r[m:] - r[:n - m]) ** 2).sum(axis=2).mean() for m in range(n)])
    sel = (t >= window[0] - 1e-9) & (t <= window[1] + 1e-9)
    slope = np.polyfit(t[sel], msd[sel], 1)[0]
    return slope / 6.0


def coordination_share(atoms, element, n, cutoff):
    """Share of ``element`` atoms with exactly ``n`` O within ``cutoff`` (A), by ASE's neighbour list."""
    from ase.neighborlist import neighbor_list

    i, j = neighbor_list("ij", atoms, cutoff)
    sym = np.array(atoms.get_chemical_symbols())
    sel = (sym[i] == element) & (sym[j] == "O")
    cn = np.bincount(i[sel], minlength=len(atoms))[sym == element]
    return float(np.mean(cn == n)) if len(cn) else float("nan")


def fraction_4B(atoms, cutoff=1.9):
    """Share of four-fold B (B-O cutoff 1.9 A)."""
    return coordination_share(atoms, "B", 4, cutoff)


def fraction_5Si(atoms, cutoff=2.0):
    """Share of five-fold Si (Si-O cutoff 2.0 A)."""
    return coordination_share(atoms, "Si", 5, cutoff)


def fraction_3B_in_3MR(atoms, cutoffs=None):
    """Share of 3-fold B that sit in a three-membered ring of the B/Si-O network.

    Brute force: former-O bonds from ASE's neighbour list (B-O 1.9, Si-O 2.0 A),
    former-former edges through a bridging O, every triangle of distinct O bridges
    whose periodic bond vectors close (sum to zero, so no path around the box).
    """
    from ase.neighborlist import neighbor_list

    cut = {("B", "O"): 1.9, ("Si", "O"): 2.0, **(cutoffs or {})}
    sym = np.array(atoms.get_chemical_symbols())
    i, j, vec = neighbor_list("ijD", atoms, max(cut.values()))
    d = np.linalg.norm(vec, axis=1)
    limit = np.array([cut.get((a, b), 0.0) for a, b in zip(sym[i], sym[j])])
    keep = d < limit  # i a former, j an O, within its cutoff
    i, j, vec = i[keep], j[keep], vec[keep]
    cn = np.bincount(i, minlength=len(atoms))
    by_oxygen = {}
    for a, o, v in zip(i, j, vec):
        by_oxygen.setdefault(int(o), []).append((int(a), v))
    edges = {}  # former a -> list of (former b, oxygen, vector a->b)
    for o, formers in by_oxygen.items():
        for a, va in formers:
            for b, vb in formers:
                if a != b:
                    edges.setdefault(a, []).append((b, o, va - vb))
    in_ring = set()
    for a, out_a in edges.items():
        for b, o1, v1 in out_a:
            for c, o2, v2 in edges.get(b, []):
                if c in (a, b) or o2 == o1:
                    continue
                for a2, o3, v3 in edges.get(c, []):
                    if a2 == a and o3 not in (o1, o2) and np.linalg.norm(v1 + v2 + v3) < 1e-6:
                        in_ring.update((a, b, c))
    three_b = [k for k in range(len(atoms)) if sym[k] == "B" and cn[k] == 3]
    return sum(k in in_ring for k in three_b) / len(three_b) if three_b else float("nan")


def frames_mean(dump_path, steps, quantity):
    """Mean of ``quantity(ase.Atoms)`` over the frames of an orthogonal dump at ``steps``."""
    from ase import Atoms

    all_steps, sym, pos = read_dump_unwrapped(dump_path)
    with open(dump_path) as f:  # box of the first frame (NVT: every frame)
        lines = [next(f) for _ in range(8)]
    box = np.array([float(x.split()[1]) - float(x.split()[0]) for x in lines[5:8]])
    wanted = set(int(s) for s in steps)
    vals = [quantity(Atoms(sym, positions=p % box, cell=box, pbc=True))
            for st, p in zip(all_steps, pos) if int(st) in wanted]
    assert len(vals) == len(wanted), "some steps are not in the dump"
    return float(np.mean(vals))


def fmp_sample_mean(run_dir, quantity):
    """Mean of ``quantity(ase.Atoms)`` over the frames of an FMP melt-quench's sample stage (the
    window ``frames.steps`` of its summary.json: first step exclusive, last inclusive)."""
    import json
    from pathlib import Path

    run_dir = Path(run_dir)
    a, b = json.loads((run_dir / "summary.json").read_text())["frames"]["steps"]
    steps, _, _ = read_dump_unwrapped(run_dir / "trajectory.lammpstrj")
    return frames_mean(run_dir / "trajectory.lammpstrj", [s for s in steps if a < s <= b], quantity)
