"""Fit a model's pair wall (:mod:`pylbs.potential.pair_wall`) to what a stiffer reference adds at
close contacts.

The data are frames labelled by the teacher (its forces) and by a reference (GFN1-xTB here; DFT
where one is at hand). For every pair of a walled element pair closer than the fit window, the
*separating force* (half the difference of the two atoms' forces along their axis: positive pushes
them apart) is taken from both; the wall is fitted to reference minus teacher. Only that projection
is used, so the two methods' differences elsewhere (bond lengths, angles) do not enter: the fit
asks only how much harder the reference pushes two atoms apart at each distance. For fixed rho,
r_in and rc the wall is linear in its amplitudes, which are fitted jointly and kept >= 0
(non-negative least squares); rho and rc are chosen per pair on a grid, one pair at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from ..errors import PylbsError
from ..potential.pair_wall import PairWall, sorted_pair

#: The taper's width (rc - r_in, Angstrom): the wall reaches zero smoothly over this distance.
TAPER_WIDTH = 0.3
RHO_GRID = (0.1, 0.14, 0.18, 0.24, 0.3)
#: rc is searched on multiples of RC_STEP from the closest contact in the data + 0.2 A to the window's end.
RC_STEP = 0.1


@dataclass
class ContactRows:
    """Per close pair: frame index, atoms i, j, element pair, distance, vector i -> j (minimum
    image), reference-minus-teacher separating force (eV/A)."""

    frame: np.ndarray
    i: np.ndarray
    j: np.ndarray
    pair: np.ndarray
    r: np.ndarray
    vec: np.ndarray
    dforce: np.ndarray


def separating_force(forces: np.ndarray, i: np.ndarray, j: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Half the difference of atoms j's and i's forces along i -> j (eV/A; > 0 pushes them apart)."""
    u = vec / np.linalg.norm(vec, axis=1)[:, None]
    return 0.5 * np.einsum("kd,kd->k", forces[j] - forces[i], u)


def contact_rows(frames: Sequence, teacher_forces: Sequence[np.ndarray], reference_forces: Sequence[np.ndarray],
                 windows: Mapping) -> ContactRows:
    """The close pairs of ``frames`` (ASE atoms) within ``windows`` ({pair: r_max in A}) and their
    reference-minus-teacher separating forces."""
    from ase.neighborlist import neighbor_list

    windows = {sorted_pair(p): float(r) for p, r in windows.items()}
    cols = {k: [] for k in ("frame", "i", "j", "pair", "r", "vec", "dforce")}
    for k, (atoms, ft, fr) in enumerate(zip(frames, teacher_forces, reference_forces)):
        if np.shape(ft) != (len(atoms), 3) or np.shape(fr) != (len(atoms), 3):
            raise PylbsError(f"frame {k}: forces of shape {np.shape(ft)} / {np.shape(fr)} for {len(atoms)} atoms")
        i, j, d, vec = neighbor_list("ijdD", atoms, max(windows.values()))
        sym = np.array(atoms.get_chemical_symbols())
        pairs = np.array(["-".join(sorted(p)) for p in zip(sym[i], sym[j])])
        keep = (i < j) & np.array([d_ < windows.get(tuple(p.split("-")), -1.0) for p, d_ in zip(pairs, d)], dtype=bool)
        if not keep.any():
            continue
        dsep = separating_force(np.asarray(fr) - np.asarray(ft), i[keep], j[keep], vec[keep])
        for name, v in (("frame", np.full(keep.sum(), k)), ("i", i[keep]), ("j", j[keep]), ("pair", pairs[keep]),
                        ("r", d[keep]), ("vec", vec[keep]), ("dforce", dsep)):
            cols[name].append(v)
    if not cols["r"]:
        raise PylbsError(f"no pair of {sorted(windows)} within its window in {len(frames)} frames: nothing to fit")
    return ContactRows(**{k: np.concatenate(v) for k, v in cols.items()})


def _pairs_within(frames, rows: ContactRows, pair: tuple[str, str], r_max: float) -> dict:
    """Per frame with rows: (i, j, d, vec) of every ``pair`` closer than ``r_max`` (each once)."""
    from ase.neighborlist import neighbor_list

    out = {}
    for k in np.unique(rows.frame):
        atoms = frames[k]
        i, j, d, vec = neighbor_list("ijdD", atoms, r_max)
        sym = np.array(atoms.get_chemical_symbols())
        m = (i < j) & (((sym[i] == pair[0]) & (sym[j] == pair[1])) | ((sym[i] == pair[1]) & (sym[j] == pair[0])))
        out[k] = (i[m], j[m], d[m], vec[m], len(atoms))
    return out


def _design(rows: ContactRows, terms: Mapping, near: Mapping) -> np.ndarray:
    """Column per wall term at unit amplitude: its separating force on every row's pair (every
    walled pair of the two atoms counts, not only their own)."""
    x = np.zeros((len(rows.r), len(terms)))
    for c, (pair, (rho, r_in, rc)) in enumerate(terms.items()):
        unit = PairWall({pair: (1.0, rho, r_in, rc)})
        for k, (i, j, d, vec, n) in near[pair].items():
            forces = np.zeros((n, 3))
            f = (unit.pair_force(pair, d) / d)[:, None] * vec  # on j, along i -> j
            np.add.at(forces, j, f)
            np.add.at(forces, i, -f)
            m = rows.frame == k
            x[m, c] = separating_force(forces, rows.i[m], rows.j[m], rows.vec[m])
    return x


def fit_wall(frames: Sequence, rows: ContactRows, pairs: Iterable, *, rho_grid=RHO_GRID,
             taper_width: float = TAPER_WIDTH, passes: int = 2) -> tuple[PairWall, dict]:
    """The wall on ``pairs`` that best matches ``rows`` (least squares on the separating-force
    differences, amplitudes >= 0), and a report: per pair the rows, the chosen rho/rc, and the
    binned mean difference next to the wall's force."""
    pairs = [sorted_pair(p) for p in pairs]
    names = np.array(["-".join(p) for p in pairs])
    if not np.isin(names, rows.pair).all():
        raise PylbsError(f"no contacts of {sorted(set(names) - set(rows.pair))} in the data: leave them out")
    window = {p: float(rows.r[rows.pair == "-".join(p)].max()) for p in pairs}
    rc_grid = {p: np.round(np.arange(np.ceil((rows.r[rows.pair == "-".join(p)].min() + 0.2) / RC_STEP) * RC_STEP,
                                     window[p] + 1e-9, RC_STEP), 6) for p in pairs}
    for p in pairs:
        if not len(rc_grid[p]):
            raise PylbsError(f"{'-'.join(p)}: its closest contact + 0.2 A lies past its window "
                             f"({window[p]:.2f} A): widen the window so the data reach where the wall ends")
    shape = {p: (rho_grid[len(rho_grid) // 2], rc_grid[p][len(rc_grid[p]) // 2]) for p in pairs}
    near = {p: _pairs_within(frames, rows, p, window[p] + 1e-6) for p in pairs}

    def solve(choice):
        terms = {p: (rho, rc - taper_width, rc) for p, (rho, rc) in choice.items()}
        x = _design(rows, terms, near)
        amp, resid = nnls(x, rows.dforce)
        return amp, resid, terms

    for _ in range(passes):
        for p in pairs:
            best = None
            for rho in rho_grid:
                for rc in rc_grid[p]:
                    trial = {**shape, p: (rho, float(rc))}
                    amp, resid, _ = solve(trial)
                    if best is None or resid < best[0]:
                        best = (resid, (rho, float(rc)))
            shape[p] = best[1]
    amp, resid, terms = solve(shape)
    wall = PairWall({p: (float(a), *terms[p]) for p, a in zip(pairs, amp)})
    report = {"rows": int(len(rows.r)), "rms_before_eV_per_A": float(np.sqrt(np.mean(rows.dforce ** 2))),
              "rms_after_eV_per_A": float(resid / np.sqrt(len(rows.r))), "pairs": {}}
    fitted = _design(rows, terms, near) @ amp
    for p in pairs:
        m = rows.pair == "-".join(p)
        edges = np.arange(np.floor(rows.r[m].min() * 10) / 10, window[p] + 0.1, 0.1)
        bins = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            b = m & (rows.r >= lo) & (rows.r < hi)
            if b.any():
                bins.append({"r_A": [round(float(lo), 2), round(float(hi), 2)], "n": int(b.sum()),
                             "reference_minus_teacher": round(float(rows.dforce[b].mean()), 3),
                             "wall": round(float(fitted[b].mean()), 3)})
        rho, rc = shape[p]
        edge = [name for name, x, grid in (("rho", rho, rho_grid), ("rc", rc, rc_grid[p]))
                if len(grid) > 1 and x in (grid[0], grid[-1])]  # the best may lie outside the grid
        report["pairs"]["-".join(p)] = {"contacts": int(m.sum()), "closest_A": round(float(rows.r[m].min()), 3),
                                        "at_grid_edge": edge, "bins": bins}
    return wall, report
