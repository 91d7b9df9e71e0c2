"""The paper's FMP-LBS melt-quench, end to end: random structure -> glass -> 4B/5Si.

Boron coordination section of the paper: "a random configuration was melted at
3500 K for 500 ps. It was then cooled down to 300 K at a cooling rate of 1 K/ps
followed by 300 ps simulations at 300 K. During the CMD simulations with
FMP-LBS, the MD cell volume was fixed according to the experimentally measured
density." (NVT, 1 fs, Nose-Hoover; about 300 atoms.)

:func:`run_fmp_melt_quench` does exactly that through :class:`pylbs.session.Session`
(checkpointed, resumable) and writes into ``out_dir``::

    initial.data          random start (pylbs.structure)
    log.lammps            LAMMPS log
    thermo.dat            step time temp pe ke etotal press vol
    trajectory.lammpstrj  dump custom id type x y z ix iy iz
    final.data            the glass at 300 K (LAMMPS data, types Li B Si O)
    summary.json          request, counts, 4B/5Si (means over the frames of the last 100 ps, with
                          their frame-to-frame spread; the final frame's too), measured 4B, potential
    progress.json, restart.a/.b   checkpoints (a killed run resumes from them)
    heartbeat.json, run.png       progress of the run (pylbs status) and T/PE vs time

``time_scale`` multiplies every duration (0.01: a 40 ps preview, not a glass
the paper would accept).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ..analysis.coordination import coordination, coordination_frames
from ..errors import StructureError
from ..glasses import Glass
from ..lammps_io import FINAL_DATA, LOG_FILE, THERMO_FILE, TRAJECTORY_FILE, dump_steps, read_thermo
from ..potential import DEFAULT_PARAMETER_FILE, fmp_commands, potential_commands, read_resolved, required_styles
from ..potential.commands import uses_style
from ..session import Session
from ..stats import STD_CONVENTION, finite, summarize
from ..structure import atom_counts, density_of, random_structure, read_lammps_data
from .runner import require_glass, run_protocol
from .schedules import RELAX_START_COMMANDS, TIMESTEP_PS, fmp_melt_quench_schedule


def run_fmp_melt_quench(glass: Glass, n_atoms: int, out_dir, time_scale: float = 1.0, seed: int = 1,
                        parameter_file=None, comm=None, *, density: float | None = None,
                        potential: Sequence[str] | None = None, restart_every_ps: float | None = None,
                        dump_every_ps: float | None = None, thermo_every: int | None = None,
                        min_distances: dict | None = None, cutoffs: dict | None = None,
                        t_melt: float = 3500.0, melt_ps: float = 500.0, rate_K_per_ps: float = 1.0,
                        t_final: float = 300.0, final_ps: float = 300.0, ensemble: str = "nvt",
                        pressure_bar: float | None = None) -> dict:
    """Melt-quench ``glass`` with ~``n_atoms`` atoms into ``out_dir``; returns the summary.

    ``potential``: LAMMPS commands (list or callable) replacing the default
    ``pylbs.potential.fmp_commands(parameter_file)``, e.g. a DeepMD pair or a
    built-in Buckingham. ``density`` (g/cm^3) defaults to the measured one
    (Table 1); with ``ensemble="npt"`` it is the start's and the box then follows
    ``pressure_bar`` (default 1 bar). ``comm``: an mpi4py communicator (default COMM_WORLD); every rank
    must call this function. If ``out_dir/summary.json`` exists for the same request
    it is returned without running; if a run with the same request was killed it resumes.
    """
    require_glass(glass)
    density = glass.density if density is None else density
    if density is None:
        raise StructureError(f"{glass.name} has no measured density in the catalogue; give density= (g/cm^3), "
                             "--density on the command line")
    schedule = fmp_melt_quench_schedule(t_melt, melt_ps, rate_K_per_ps, t_final, final_ps, ensemble,
                                        pressure_bar).scaled(time_scale)
    commands = potential_commands(potential if potential is not None else
                                  fmp_commands(parameter_file=parameter_file or DEFAULT_PARAMETER_FILE))
    c = glass.composition
    request = {"glass": glass.name, "composition_mol_percent": {"SiO2": c.sio2, "B2O3": c.b2o3, "Li2O": c.li2o},
               "n_atoms_requested": int(n_atoms), "density_g_cm3": float(density), "time_scale": float(time_scale),
               "seed": int(seed), "potential_commands": list(commands), "schedule": schedule.to_dict()}
    total_ps = schedule.total_ps
    restart_every_ps = restart_every_ps or max(1.0, total_ps / 50)
    dump_every_ps = dump_every_ps or max(TIMESTEP_PS, total_ps / 100)
    thermo_every = thermo_every or max(10, schedule.n_steps() // 1000)
    counts = atom_counts(c, n_atoms)

    def run(out: Path, comm) -> dict:
        atoms = random_structure(glass, n_atoms, density=density, seed=seed, min_distances=min_distances)
        t0 = time.perf_counter()
        with Session(out, comm=comm, require=required_styles(commands), log_append=True,
                     label=f"{glass.name} melt-quench") as session:
            md = session.run_schedule(schedule, potential=commands, atoms=atoms, seed=seed, timestep_ps=TIMESTEP_PS,
                                      restart_every_ps=restart_every_ps, thermo_every=thermo_every,
                                      dump_every_ps=dump_every_ps, prepare=RELAX_START_COMMANDS)
            session.command(f"write_data {out / FINAL_DATA}")
            state = {"md": md, "final_T": session.thermo("temp"), "final_pe": session.thermo("pe"),
                     "resolved": read_resolved(session.lmp) if uses_style(commands, "fmp/lbs") else None}
        state["wall_s"] = time.perf_counter() - t0
        state["ranks"] = comm.Get_size()
        return state

    def analyse(out: Path, state: dict) -> dict:
        coord = coordination(out / FINAL_DATA, cutoffs=cutoffs)
        a, b = schedule.stage_bounds(TIMESTEP_PS)[-1]  # the sample stage: the paper's last 100 ps
        kept = [k for k, st in enumerate(dump_steps(out / TRAJECTORY_FILE)) if a < st <= b]
        frames = coordination_frames(out / TRAJECTORY_FILE, cutoffs=cutoffs, frames=kept)
        f4 = summarize([r.fraction_4B for r in frames])
        f5 = summarize([r.fraction_5Si for r in frames])
        md = state["md"]
        n = sum(counts.values())
        return {
            "glass": glass.name,
            "composition_mol_percent": request["composition_mol_percent"],
            "R": finite(c.R), "K": finite(c.K),
            "n_atoms": n, "counts": counts,
            "fraction_4B": f4["mean"], "fraction_5Si": f5["mean"],
            "frames": {"n": len(kept), "stage": schedule.stages[-1].name, "steps": [a, b],
                       "fraction_4B_std": f4["std"], "fraction_5Si_std": f5["std"],
                       "std_convention": STD_CONVENTION, "fraction_4B": f4["values"], "fraction_5Si": f5["values"]},
            "final_frame": {"fraction_4B": finite(coord.fraction_4B), "fraction_5Si": finite(coord.fraction_5Si)},
            "measured_4B": None if glass.measured_4B is None else glass.measured_4B / 100.0,
            "measured_4B_percent": glass.measured_4B,
            "density_g_cm3": density, "ensemble": schedule.stages[0].ensemble,
            "final_density_g_cm3": density_of(read_lammps_data(out / FINAL_DATA)),
            "coordination": coord.to_dict(),
            "final_temperature_K": state["final_T"], "final_pe_eV_per_atom": state["final_pe"] / n,
            "mean_temperature_final_stage_K": _mean_last_stage(read_thermo(out / THERMO_FILE), schedule),
            "schedule": schedule.to_dict(), "time_scale": time_scale, "seed": seed,
            "timestep_ps": TIMESTEP_PS, "steps": md["steps"],
            "timing": {"wall_s": state["wall_s"], "md_wall_s": md["wall_s"], "mpi_ranks": state["ranks"],
                       "resumed": md["resumed"], "stages_skipped": md["stages_skipped"],
                       "ns_per_day": (md["steps_this_call"] * TIMESTEP_PS * 1e-3) / (md["wall_s"] / 86400)
                       if md["wall_s"] > 0 and md["stages_run"] else None},
            "potential": {"commands": commands, "parameter_file": str(parameter_file) if parameter_file else None,
                          "resolved": state["resolved"]},
            "files": {k: str(out / v) for k, v in (("final", FINAL_DATA), ("trajectory", TRAJECTORY_FILE),
                                                   ("thermo", THERMO_FILE), ("log", LOG_FILE))},
        }

    return run_protocol(out_dir, request, run=run, analyse=analyse, comm=comm)


def _mean_last_stage(thermo, schedule):
    if not schedule.stages or len(thermo["step"]) == 0:
        return None
    a, b = schedule.stage_bounds(TIMESTEP_PS)[-1]
    sel = (thermo["step"] > a) & (thermo["step"] <= b)
    return float(thermo["temp"][sel].mean()) if sel.any() else None
