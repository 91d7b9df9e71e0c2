"""Labelled frames from FMP-LBS MD: the cheap, self-consistent training data.

The paper trained on DFT labels; FMP labels make a dataset with no external
code, used by the tests and as a smoke test of the whole training route.
Frames are sampled from NVT MD of a random glass at the given temperatures;
energy, forces and virial of each frame come from the same LAMMPS instance.
Returns a ``dpdata.LabeledSystem`` (type map = pylbs.glasses.TYPE_MAP).
"""

from __future__ import annotations

import numpy as np

from ..glasses import TYPE_MAP
from ..lammps_env import start_lammps
from ..potential import fmp_commands
from ..structure import random_structure

# bar -> eV/A^3 (LAMMPS metal pressure unit to energy density)
BAR_TO_EV_PER_A3 = 1.0 / 1602176.6208


def sample_fmp_frames(glass="LBS-20-60-20", n_atoms: int = 100, temperatures=(1500.0, 600.0),
                      frames_per_temperature: int = 10, steps_between: int = 50, seed: int = 1,
                      parameter_file=None, cutoff: float = 8.0, timestep_ps: float = 0.001):
    """Run short FMP NVT MD and return labelled frames as a ``dpdata.LabeledSystem``.

    Virial convention (deepmd/dpdata): W_ab = sum_i r_ia f_ib in eV, i.e. the
    configurational part of the pressure tensor times the volume.
    """
    import dpdata

    atoms = random_structure(glass, n_atoms, seed=seed)
    n = len(atoms)
    lmp = start_lammps()
    try:
        lmp.commands_string(_setup_commands(atoms, seed))
        lmp.commands_list(fmp_commands(parameter_file, cutoff=cutoff, kspace="ewald", accuracy=1e-6))
        lmp.commands_list([
            f"timestep {timestep_ps}",
            "compute pvir all pressure NULL virial",
            "thermo_style custom step temp pe c_pvir[1] c_pvir[2] c_pvir[3] c_pvir[4] c_pvir[5] c_pvir[6] vol",
            "minimize 1e-6 1e-6 200 2000",
            f"velocity all create {temperatures[0]} {seed} dist gaussian",
        ])
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
                box = lmp.extract_box()
                lo, hi = np.array(box[0]), np.array(box[1])
                vol = lmp.get_thermo("vol")
                pxx, pyy, pzz, pxy, pxz, pyz = (lmp.get_thermo(f"c_pvir[{k}]") for k in range(1, 7))
                w = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]]) * BAR_TO_EV_PER_A3 * vol
                cells.append(np.diag(hi - lo))
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


def _setup_commands(atoms, seed: int) -> str:
    """Create the box and atoms directly (no data file), types in TYPE_MAP order."""
    length = atoms.cell.lengths()
    lines = ["units metal", "atom_style charge", "boundary p p p",
             f"region box block 0 {length[0]} 0 {length[1]} 0 {length[2]}",
             f"create_box {len(TYPE_MAP)} box"]
    from ..glasses import ATOMIC_MASS
    lines += [f"mass {i + 1} {ATOMIC_MASS[el]}" for i, el in enumerate(TYPE_MAP)]
    for sym, pos in zip(atoms.get_chemical_symbols(), atoms.positions):
        lines.append(f"create_atoms {TYPE_MAP.index(sym) + 1} single {pos[0]:.10f} {pos[1]:.10f} "
                     f"{pos[2]:.10f} units box")
    return "\n".join(lines)
