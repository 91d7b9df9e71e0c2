"""The paper's FMP-LBS melt-quench, end to end: random structure -> glass -> 4B/5Si.

Boron coordination section of the paper: "a random configuration was melted at
3500 K for 500 ps. It was then cooled down to 300 K at a cooling rate of 1 K/ps
followed by 300 ps simulations at 300 K. During the CMD simulations with
FMP-LBS, the MD cell volume was fixed according to the experimentally measured
density." (NVT, 1 fs, Nose-Hoover; about 300 atoms.)

:func:`run_fmp_melt_quench` does exactly that through :mod:`pylbs.session`
(checkpointed, resumable) and writes into ``out_dir``::

    initial.data          random start (pylbs.structure)
    log.lammps            LAMMPS log
    thermo.dat            step time temp pe ke etotal press vol
    trajectory.lammpstrj  dump custom id type x y z ix iy iz
    final.data            the glass at 300 K (LAMMPS data, types Li B Si O)
    summary.json          request, counts, 4B/5Si, measured 4B, potential, timing
    progress.json, restart.a/.b   checkpoints (a killed run resumes from them)

``time_scale`` multiplies every duration (0.01: a 40 ps preview, not a glass
the paper would accept).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import PylbsError
from .glasses import get_glass
from .jsonio import write_json_atomic
from .mpiutil import on_rank0
from .protocol import TIMESTEP_PS, fmp_melt_quench_schedule
from .session import Session, potential_commands, read_thermo, required_styles

SUMMARY_FILE = "summary.json"
FINAL_DATA = "final.data"

#: A short energy minimisation before melting: random placement leaves atoms at
#: the minimum distances where forces are large; relaxing them first keeps the
#: first 3500 K steps from blowing up. Not part of the paper's description.
PREPARE_COMMANDS = ("min_style cg", "minimize 1.0e-4 1.0e-6 200 2000")


def default_potential(parameter_file=None, **kw):
    """The fmp/lbs commands of :mod:`pylbs.potential` (imported here, lazily)."""
    from . import potential

    return potential.fmp_commands(parameter_file=parameter_file or potential.DEFAULT_PARAMETER_FILE, **kw)


def _request(glass, n_atoms, density, time_scale, seed, commands, schedule) -> dict:
    c = glass.composition
    return {"glass": glass.name, "composition_mol_percent": {"SiO2": c.sio2, "B2O3": c.b2o3, "Li2O": c.li2o},
            "n_atoms_requested": int(n_atoms), "density_g_cm3": float(density), "time_scale": float(time_scale),
            "seed": int(seed), "potential_commands": list(commands), "schedule": schedule.to_dict()}


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def run_fmp_melt_quench(glass, n_atoms: int, out_dir, time_scale: float = 1.0, seed: int = 1,
                        parameter_file=None, comm=None, *, density: float | None = None,
                        potential: Sequence[str] | None = None, restart_every_ps: float | None = None,
                        dump_every_ps: float | None = None, thermo_every: int | None = None,
                        min_distances: dict | None = None, cutoffs: dict | None = None,
                        t_melt: float = 3500.0, melt_ps: float = 500.0, rate_K_per_ps: float = 1.0,
                        t_final: float = 300.0, final_ps: float = 300.0) -> dict:
    """Melt-quench ``glass`` (name, Composition, Glass or mol% triple) with ~``n_atoms`` atoms.

    ``potential``: LAMMPS commands (list or callable) replacing the default
    ``pylbs.potential.fmp_commands(parameter_file)``, e.g. a DeepMD pair or a
    built-in Buckingham. ``density`` (g/cm^3) defaults to the measured one
    (Table 1). ``comm``: an mpi4py communicator (default COMM_WORLD); every rank
    must call this function. Returns the summary dict (also in summary.json).
    If ``out_dir/summary.json`` exists for the same request it is returned
    without running; if a run with the same request was killed it resumes.
    """
    from .lammps_env import mpi_comm
    from .structure import atom_counts, random_structure

    comm = comm if comm is not None else mpi_comm()
    rank = comm.Get_rank()
    glass = get_glass(glass)
    if density is None:
        density = glass.density
    if density is None:
        from .errors import StructureError

        raise StructureError(f"{glass.name} has no measured density in the catalogue; give density= (g/cm^3), "
                             "--density on the command line")
    out = Path(out_dir).resolve()
    schedule = fmp_melt_quench_schedule(t_melt, melt_ps, rate_K_per_ps, t_final, final_ps).scaled(time_scale)
    commands = potential_commands(potential if potential is not None else default_potential(parameter_file))
    uses_fmp = any(c.split()[0] == "pair_style" and "fmp/lbs" in c.split() for c in commands)
    request = _request(glass, n_atoms, density, time_scale, seed, commands, schedule)

    summary_path = out / SUMMARY_FILE
    old = None
    if rank == 0 and summary_path.exists():
        try:
            old = json.loads(summary_path.read_text())
        except json.JSONDecodeError:
            old = None
    old = comm.bcast(old, root=0)
    if old is not None:
        if old.get("request") == request:
            return old
        raise PylbsError(f"{summary_path} holds a different run ({old.get('request', {}).get('glass')}, "
                         f"time_scale {old.get('request', {}).get('time_scale')}, seed "
                         f"{old.get('request', {}).get('seed')}); use another --out folder or delete it")

    total_ps = schedule.total_ps
    restart_every_ps = restart_every_ps or max(1.0, total_ps / 50)
    dump_every_ps = dump_every_ps or max(TIMESTEP_PS, total_ps / 100)
    thermo_every = thermo_every or max(10, schedule.n_steps() // 1000)
    counts = atom_counts(glass.composition, n_atoms)
    atoms = random_structure(glass, n_atoms, density=density, seed=seed, min_distances=min_distances)

    t0 = time.perf_counter()
    resolved = None
    with Session(out, comm=comm, require=required_styles(commands), log_append=True) as session:
        run = session.run_schedule(schedule, potential=commands, atoms=atoms, seed=seed, timestep_ps=TIMESTEP_PS,
                                   restart_every_ps=restart_every_ps, thermo_every=thermo_every,
                                   dump_every_ps=dump_every_ps, prepare=PREPARE_COMMANDS)
        session.command(f"write_data {out / FINAL_DATA}")
        final_T, final_pe = session.thermo("temp"), session.thermo("pe")
        if uses_fmp:
            from .potential import read_resolved

            resolved = read_resolved(session.lmp)
    wall = time.perf_counter() - t0

    def analyse():
        from .analysis.coordination import coordination

        coord = coordination(out / FINAL_DATA, cutoffs=cutoffs)
        thermo = read_thermo(out / "thermo.dat")
        c = glass.composition
        n = sum(counts.values())
        summary = {
            "glass": glass.name,
            "composition_mol_percent": request["composition_mol_percent"],
            "R": _finite(c.R), "K": _finite(c.K),
            "n_atoms": n, "counts": counts,
            "fraction_4B": _finite(coord.fraction_4B), "fraction_5Si": _finite(coord.fraction_5Si),
            "measured_4B": None if glass.measured_4B is None else glass.measured_4B / 100.0,
            "measured_4B_percent": glass.measured_4B,
            "density_g_cm3": density,
            "coordination": coord.to_dict(),
            "final_temperature_K": final_T, "final_pe_eV_per_atom": final_pe / n,
            "mean_temperature_final_stage_K": _mean_last_stage(thermo, schedule),
            "schedule": schedule.to_dict(), "time_scale": time_scale, "seed": seed,
            "timestep_ps": TIMESTEP_PS, "steps": run["steps"],
            "timing": {"wall_s": wall, "md_wall_s": run["wall_s"], "mpi_ranks": comm.Get_size(),
                       "resumed": run["resumed"], "stages_skipped": run["stages_skipped"],
                       "ns_per_day": (run["steps_this_call"] * TIMESTEP_PS * 1e-3) / (run["wall_s"] / 86400)
                       if run["wall_s"] > 0 and run["stages_run"] else None},
            "potential": {"commands": commands, "parameter_file": str(parameter_file) if parameter_file else None,
                          "resolved": resolved},
            "files": {k: str(out / v) for k, v in (("final", FINAL_DATA), ("trajectory", "trajectory.lammpstrj"),
                                                   ("thermo", "thermo.dat"), ("log", "log.lammps"))},
            "request": request,
        }
        return write_json_atomic(summary_path, summary)  # the same plain-JSON view on every call

    return on_rank0(comm, analyse)


def _mean_last_stage(thermo, schedule):
    if not schedule.stages or len(thermo["step"]) == 0:
        return None
    a, b = schedule.stage_bounds(TIMESTEP_PS)[-1]
    sel = (thermo["step"] > a) & (thermo["step"] <= b)
    return float(thermo["temp"][sel].mean()) if sel.any() else None
