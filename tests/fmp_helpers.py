"""Helpers for the fmp/lbs plugin tests: a tiny random LBS structure and LAMMPS setup.

Kept local on purpose (no dependency on pylbs.structure): exact element counts,
cubic box at a given density, random positions with a minimum distance.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from pylbs.glasses import ATOMIC_MASS, OXIDE_ATOMS, TYPE_MAP

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
MPIRUN = ROOT / ".venv" / "bin" / "mpirun"

#: Teter numbers of the default file, as plain Buckingham for buck/coul/long comparisons.
CHARGES = {"Li": 0.6, "B": 1.8, "Si": 2.4, "O": -1.2}
FIXED_FILE_TEXT = """\
# test file: fixed A, no cores (so buck/coul/long can reproduce it)
charge Li 0.6
charge B 1.8
charge Si 2.4
charge O -1.2
pair O  O  A 2029.2204  rho 0.343640 C 192.580
pair Si O  A 13702.9050 rho 0.193817 C 54.681
pair Li O  A 41051.9380 rho 0.151160 C 0.0
pair B  O  A 12362.78   rho 0.171271 C 28.500
"""
BUCK = {("O", "O"): (2029.2204, 0.343640, 192.580), ("Si", "O"): (13702.9050, 0.193817, 54.681),
        ("Li", "O"): (41051.9380, 0.151160, 0.0), ("B", "O"): (12362.78, 0.171271, 28.500)}


def element_counts(units: tuple[int, int, int]) -> dict[str, int]:
    """Element counts of (SiO2, B2O3, Li2O) formula units, e.g. (3, 3, 4) -> 108 atoms."""
    counts = {el: 0 for el in TYPE_MAP}
    for oxide, k in zip(("SiO2", "B2O3", "Li2O"), units):
        for el, n in OXIDE_ATOMS[oxide].items():
            counts[el] += int(k) * n
    return counts


def random_structure(counts: dict[str, int], density: float = 2.3, seed: int = 1,
                     dmin: float = 1.5):
    """(box length, types 1..4, positions) for exact counts at density g/cm^3."""
    rng = np.random.default_rng(seed)
    types = np.concatenate([np.full(counts[el], i + 1) for i, el in enumerate(TYPE_MAP)])
    mass = sum(counts[el] * ATOMIC_MASS[el] for el in TYPE_MAP) / 6.02214076e23  # g
    L = (mass / density) ** (1 / 3) * 1e8  # Angstrom
    pos = np.empty((len(types), 3))
    n = 0
    tries = 0
    while n < len(types):
        p = rng.random(3) * L
        d = pos[:n] - p
        d -= L * np.round(d / L)
        if n == 0 or np.min(np.einsum("ij,ij->i", d, d)) >= dmin * dmin or tries > 20000:
            pos[n] = p
            n += 1
            tries = 0
        tries += 1
    perm = rng.permutation(len(types))
    return L, types[perm], pos[perm]


def squeeze_pairs(box):
    """Move a few atoms so B-O, Si-O and O-O pairs sit inside their core radius r0.

    Returns the new box and the moved atoms (indices)."""
    L, types, pos = box
    pos = pos.copy()
    idx = {el: np.where(types == i + 1)[0] for i, el in enumerate(TYPE_MAP)}
    o = idx["O"]
    moves = [(idx["B"][0], o[0], 1.00), (idx["Si"][0], o[1], 1.10), (o[2], o[3], 1.70),
             (idx["Li"][0], o[4], 1.20)]
    picked = []
    for a, b, r in moves:
        d = np.array([0.6, 0.48, 0.64])
        pos[a] = (pos[b] + r * d) % L
        picked += [int(a), int(b)]
    return (L, types, pos), picked


def squeezed_box216():
    """216-atom LBS-30-30-40 (seed 11) with B-O, Si-O, O-O pairs inside r0 (see squeeze_pairs)."""
    return squeeze_pairs(random_structure(element_counts((6, 6, 8)), seed=11))[0]


def setup_box(lmp, L, types, pos, newton="on"):
    lmp.commands_list([
        "units metal", "atom_style charge", "boundary p p p", "atom_modify map array",
        f"newton {newton}",
        f"region box block 0 {L!r} 0 {L!r} 0 {L!r}", "create_box 4 box",
    ])
    n = len(types)
    lmp.create_atoms(n, list(range(1, n + 1)), [int(t) for t in types],
                     [float(v) for v in np.asarray(pos).ravel()])
    for i, el in enumerate(TYPE_MAP, start=1):
        lmp.command(f"mass {i} {ATOMIC_MASS[el]}")


def set_charges_by_type(lmp):
    for i, el in enumerate(TYPE_MAP, start=1):
        lmp.command(f"set type {i} charge {CHARGES[el]}")


def buck_commands(cut=8.0, kspace="ewald 1e-8", table=0):
    lines = [f"pair_style buck/coul/long {cut}"]
    for i, ei in enumerate(TYPE_MAP, start=1):
        for j, ej in enumerate(TYPE_MAP, start=1):
            if j < i:
                continue
            abc = BUCK.get((ei, ej)) or BUCK.get((ej, ei))
            lines.append(f"pair_coeff {i} {j} " + (" ".join(map(repr, abc)) if abc else "0.0 1.0 0.0"))
    return lines + [f"pair_modify table {table}", f"kspace_style {kspace}"]


def fmp_commands_plain(path, cut=8.0, kspace="ewald 1e-8", table=0, extra="", fmp_table=0):
    """fmp/lbs commands; ``table``: pair_modify table (Coulomb, as coul/long),
    ``fmp_table``: the pair_style's merged table (0 = analytic, the default here
    because these commands are compared with buck/coul/long to 1e-10)."""
    return [f"pair_style fmp/lbs {cut} table {fmp_table} {extra}".strip(),
            f"pair_coeff * * {path} Li B Si O",
            f"pair_modify table {table}", f"kspace_style {kspace}"]


def gather(lmp):
    """Total pe, ecoul+evdwl (pair), elong, forces sorted by id, pressure tensor."""
    lmp.command("run 0")
    natoms = lmp.get_natoms()
    f = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(natoms, 3)
    return {
        "pe": lmp.get_thermo("pe"),
        "evdwl": lmp.get_thermo("evdwl"),
        "ecoul": lmp.get_thermo("ecoul"),
        "elong": lmp.get_thermo("elong"),
        "press": [lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")],
        "f": f.tolist(),
    }


def run_mpi(script: Path, args: list[str], np_: int = 2, timeout: int = 300) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [str(MPIRUN), "-np", str(np_), str(PYTHON), str(script), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n"
                           f"{res.stderr[-3000:]}")
    return res.stdout


def resolved_in_plugin(composition, parameter_file=None) -> dict:
    """What fmp/lbs resolves (R, K, N4, every pair's A and core) for a ~60-atom random box of
    ``composition``'s exact stoichiometry, read back through pylbs.potential.read_resolved."""
    import math

    from pylbs.lammps_env import start_lammps
    from pylbs.potential import fmp_commands, read_resolved

    c = composition
    g = math.gcd(math.gcd(int(c.sio2), int(c.b2o3)), int(c.li2o))
    units = tuple(int(v) // g for v in (c.sio2, c.b2o3, c.li2o))
    scale = max(1, math.ceil(60 / sum(element_counts(units).values())))
    counts = element_counts(tuple(u * scale for u in units))
    lmp = start_lammps()
    try:
        setup_box(lmp, *random_structure(counts, seed=3, dmin=1.2))
        lmp.commands_list(fmp_commands(parameter_file=parameter_file, cutoff=5.0, kspace="ewald", accuracy=1e-4))
        lmp.command("run 0")
        return read_resolved(lmp)
    finally:
        lmp.close()
