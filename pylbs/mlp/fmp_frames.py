"""Labelled frames from FMP-LBS MD: the cheap, self-consistent training data.

The paper trained on DFT labels; FMP labels make a dataset with no external
code, used by the tests and as a smoke test of the whole training route.
Frames are sampled from NVT MD at the given temperatures; energy, forces and
virial of each frame come from the same LAMMPS instance. Returns a
``dpdata.LabeledSystem`` (type map = pylbs.glasses.TYPE_MAP).

The start can be a random glass (``glass``, any composition, also B-free ones
such as silica ``(100, 0, 0)``), or any ``ase.Atoms`` (a crystal, see
:mod:`pylbs.mlp.generate`). ``strain`` deforms the cell before the MD (the
paper's "deformed configurations"); general triclinic cells are handled.

B-free compositions: the B-O Buckingham A of the default parameter file comes
from the composition rule A(R, K), which needs B. With no B atom that pair is
never evaluated, so pylbs passes fixed ``R 1 K 1`` keywords to the pair style
(any value gives the same energies); user ``R``/``K`` always win.
"""

from __future__ import annotations

import numpy as np

from ..errors import PylbsError
from ..glasses import ATOMIC_MASS, TYPE_MAP, Glass
from ..lammps_env import start_lammps
from ..potential import fmp_commands
from ..structure import random_structure

# bar -> eV/A^3 (LAMMPS metal pressure unit to energy density)
BAR_TO_EV_PER_A3 = 1.0 / 1602176.6208


def lammps_cell(atoms):
    """(atoms copy rotated into LAMMPS' lower-triangular cell, (lx, ly, lz, xy, xz, yz)).

    The cell keeps its lengths and angles (only the frame rotates), so labels
    computed in the new frame are a valid training frame.
    """
    from ase.geometry import cellpar_to_cell

    out = atoms.copy()
    std = cellpar_to_cell(atoms.cell.cellpar())  # a along x, b in the xy plane
    std[np.abs(std) < 1e-12] = 0.0
    out.set_cell(std, scale_atoms=True)
    out.wrap()
    return out, (std[0, 0], std[1, 1], std[2, 2], std[1, 0], std[2, 0], std[2, 1])


def strained(atoms, strain):
    """Copy of ``atoms`` with the cell deformed by ``strain`` (3x3 or 6 Voigt
    ``(exx, eyy, ezz, eyz, exz, exy)``, engineering shear halved): h' = h (I + eps)."""
    eps = np.asarray(strain, dtype=float)
    if eps.shape == (6,):
        xx, yy, zz, yz, xz, xy = eps
        eps = np.array([[xx, xy / 2, xz / 2], [xy / 2, yy, yz / 2], [xz / 2, yz / 2, zz]])
    if eps.shape != (3, 3):
        raise PylbsError(f"strain must be 6 Voigt components or a 3x3 matrix, got shape {eps.shape}")
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return out


def sample_fmp_frames(glass: Glass | None = None, n_atoms: int = 100, temperatures=(1500.0, 600.0),
                      frames_per_temperature: int = 10, steps_between: int = 50, seed: int = 1,
                      parameter_file=None, cutoff: float = 8.0, timestep_ps: float = 0.001,
                      density: float | None = None, atoms=None, strain=None, minimize: bool = True,
                      R: float | None = None, K: float | None = None):
    """Run short FMP NVT MD and return labelled frames as a ``dpdata.LabeledSystem``.

    ``atoms`` (ase.Atoms of Li/B/Si/O) replaces the random ``glass`` start;
    ``density`` (g/cm^3) is needed for glasses outside the catalogue. The
    virial follows deepmd/dpdata: W_ab = sum_i r_ia f_ib in eV (configurational
    pressure tensor times volume).
    """
    import dpdata

    if atoms is None:
        atoms = random_structure(glass, n_atoms, density=density, seed=seed)
    bad = sorted(set(atoms.get_chemical_symbols()) - set(TYPE_MAP))
    if bad:
        raise PylbsError(f"elements {bad} are not in the FMP-LBS type map {TYPE_MAP}")
    if strain is not None:
        atoms = strained(atoms, strain)
    atoms, _ = lammps_cell(atoms)
    order0 = np.argsort([TYPE_MAP.index(s) for s in atoms.get_chemical_symbols()], kind="stable")
    atoms = atoms[order0]
    n = len(atoms)
    if "B" not in atoms.get_chemical_symbols() and R is None and K is None:
        R, K = 1.0, 1.0  # B-O pair unused without B; the rule only needs finite values
    from mpi4py import MPI

    lmp = start_lammps(comm=MPI.COMM_SELF)  # serial: frames are gathered from one rank's arrays
    try:
        lmp.commands_string(_setup_commands(atoms))
        lmp.commands_list(fmp_commands(parameter_file, cutoff=cutoff, kspace="ewald", accuracy=1e-6,
                                       R=R, K=K))
        lmp.commands_list([
            f"timestep {timestep_ps}",
            "compute pvir all pressure NULL virial",
            "thermo_style custom step temp pe c_pvir[1] c_pvir[2] c_pvir[3] c_pvir[4] c_pvir[5] c_pvir[6] vol",
        ])
        if minimize:
            lmp.command("minimize 1e-6 1e-6 200 2000")
        lmp.command(f"velocity all create {temperatures[0]} {seed} dist gaussian")
        cells, coords, energies, forces, virials = [], [], [], [], []
        for temp in temperatures:
            lmp.command(f"fix md all nvt temp {temp} {temp} 0.1")
            lmp.command(f"run {steps_between * 2}")  # settle to this temperature
            for _ in range(frames_per_temperature):
                lmp.command(f"run {steps_between}")
                ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
                order = np.argsort(ids)
                x = np.asarray(lmp.numpy.extract_atom("x"))[:n][order]
                f = np.asarray(lmp.numpy.extract_atom("f"))[:n][order]
                lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
                lo, hi = np.array(lo), np.array(hi)
                vol = lmp.get_thermo("vol")
                # get_thermo() cannot read compute columns (it returns 0): read the compute itself,
                # current because thermo output on the run's last step invoked it
                pxx, pyy, pzz, pxy, pxz, pyz = np.array(lmp.numpy.extract_compute("pvir", 0, 1))[:6]
                w = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]]) * BAR_TO_EV_PER_A3 * vol
                ln = hi - lo
                cells.append(np.array([[ln[0], 0, 0], [xy, ln[1], 0], [xz, yz, ln[2]]]))
                coords.append(x - lo)
                energies.append(lmp.get_thermo("pe"))
                forces.append(f.copy())
                virials.append(w)
            lmp.command("unfix md")
    finally:
        lmp.close()
    types = np.array([TYPE_MAP.index(s) for s in atoms.get_chemical_symbols()])
    return dpdata.LabeledSystem(data={
        "atom_names": list(TYPE_MAP),
        "atom_numbs": [int((types == t).sum()) for t in range(len(TYPE_MAP))],
        "atom_types": types,
        "orig": np.zeros(3),
        "cells": np.array(cells),
        "coords": np.array(coords),
        "energies": np.array(energies),
        "forces": np.array(forces),
        "virials": np.array(virials),
        "nopbc": False,
    })


def _setup_commands(atoms, seed: int = 0) -> str:
    """Create the box and atoms directly (no data file), types in TYPE_MAP order.

    ``atoms`` must already be in LAMMPS' lower-triangular cell (see :func:`lammps_cell`).
    """
    c = np.asarray(atoms.cell)
    lx, ly, lz, xy, xz, yz = (float(v) for v in (c[0, 0], c[1, 1], c[2, 2], c[1, 0], c[2, 0], c[2, 1]))
    lines = ["units metal", "atom_style charge", "boundary p p p", "box tilt large"]
    if abs(xy) + abs(xz) + abs(yz) > 1e-12:
        lines.append(f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r}")
    else:
        lines.append(f"region box block 0 {lx!r} 0 {ly!r} 0 {lz!r}")
    lines.append(f"create_box {len(TYPE_MAP)} box")
    lines += [f"mass {i + 1} {ATOMIC_MASS[el]}" for i, el in enumerate(TYPE_MAP)]
    for sym, pos in zip(atoms.get_chemical_symbols(), atoms.positions):
        lines.append(f"create_atoms {TYPE_MAP.index(sym) + 1} single {pos[0]:.10f} {pos[1]:.10f} "
                     f"{pos[2]:.10f} units box remap yes")
    return "\n".join(lines)
