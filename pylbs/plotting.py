"""Matplotlib set up once for every pylbs figure: the Agg backend (no display) and one saver."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .lammps_io import read_thermo


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only; works on clusters without a display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (parents created, tight layout) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


#: Avogadro's number / 1e24: g/mol per A^3 -> g/cm^3.
_NA_PER_A3 = 0.602214076


def plot_thermo(thermo_file, path, *, n_atoms: int | None = None, mass_g_mol: float | None = None,
                timestep_ps: float = 0.001, stages=()) -> Path:
    """The run at a glance: temperature, potential energy (per atom with ``n_atoms``) and, when the
    volume changed (NPT) and ``mass_g_mol`` is known, the density against time. ``stages``:
    (name, first step, last step) drawn as shaded bands."""
    th = read_thermo(thermo_file)
    t = th["step"] * timestep_ps
    npt = len(th["vol"]) > 1 and float(np.ptp(th["vol"])) > 1e-9 * float(th["vol"].max()) and mass_g_mol
    plt = pyplot()
    fig, axes = plt.subplots(3 if npt else 2, 1, figsize=(6, 6.5 if npt else 4.8), sharex=True)
    axes[0].plot(t, th["temp"], lw=0.7)
    axes[0].set_ylabel("T (K)")
    axes[1].plot(t, th["pe"] / (n_atoms or 1), lw=0.7, color="C1")
    axes[1].set_ylabel("PE (eV/atom)" if n_atoms else "PE (eV)")
    if npt:
        axes[2].plot(t, mass_g_mol / (_NA_PER_A3 * th["vol"]), lw=0.7, color="C2")
        axes[2].set_ylabel("density (g/cm³)")
    for k, (name, a, b) in enumerate(stages):
        for ax in axes:
            if k % 2:
                ax.axvspan(a * timestep_ps, b * timestep_ps, color="0.93", lw=0)
        axes[0].annotate(name, ((a + b) / 2 * timestep_ps, 1.0), xycoords=("data", "axes fraction"),
                         ha="center", va="bottom", fontsize=7)
    axes[-1].set_xlabel("time (ps)")
    return save(fig, path)
