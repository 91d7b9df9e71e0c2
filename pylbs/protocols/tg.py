"""Tg from heating runs: N replicas heated at 10 K/ps, PE and volume vs T, the fold of PE(T).

Paper (Tg paragraph): "heating simulations were conducted at a heating rate of 10 K/ps
... three independent simulations were carried out starting from the equilibrated
models at 300 K"; Tg is the fold of the potential energy curve.
:func:`run_tg_heating` runs N replicas (velocity seeds ``seed + k``) from one structure;
each replica heats from ``t_start`` to ``t_max`` at ``rate_K_per_ps`` (after an optional
``equil_ps`` hold at ``t_start``) and records PE and volume vs T;
:func:`pylbs.analysis.tg.fit_tg` finds the fold. Layout::

    out_dir/summary.json, tg.png
    out_dir/replica-<k>/ thermo.dat, heating_curve.dat, log.lammps, restarts, run.png
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..analysis.tg import plot_tg, tg_over_replicas
from ..errors import PylbsError
from ..lammps_io import THERMO_FILE, read_thermo
from ..potential import potential_commands, required_styles
from ..session import Session
from ..stats import STD_CONVENTION
from .runner import replica_dir, run_protocol, structure_input, structure_label
from .schedules import TIMESTEP_PS, Schedule, tg_heating_schedule

HEATING_FILE = "heating_curve.dat"


def heating_curve(thermo: dict, schedule: Schedule, stage: str = "heat", timestep_ps: float = TIMESTEP_PS,
                  n_atoms: int | None = None) -> dict[str, np.ndarray]:
    """Rows of ``thermo`` (from :func:`read_thermo`) inside ``stage``: target and measured T, pe, vol.

    ``pe`` is per atom when ``n_atoms`` is given.
    """
    names = [s.name for s in schedule.stages]
    a, b = schedule.stage_bounds(timestep_ps)[names.index(stage)]
    sel = (thermo["step"] > a) & (thermo["step"] <= b)
    steps = thermo["step"][sel]
    target = np.array([schedule.temperature_at_step(int(s), timestep_ps) for s in steps])
    pe = thermo["pe"][sel] / (n_atoms or 1)
    return {"step": steps, "t_target": target, "temp": thermo["temp"][sel], "pe": pe, "vol": thermo["vol"][sel]}


def run_tg_heating(structure, out_dir, potential, *, replicas: int = 3, seed: int = 1, t_start: float = 300.0,
                   t_max: float = 2000.0, rate_K_per_ps: float = 10.0, equil_ps: float = 0.0,
                   ensemble: str = "npt", pressure_bar: float | None = None, time_scale: float = 1.0,
                   temperature: str = "target", method: str = "bilinear", fit_t_min: float | None = None,
                   prepare: Sequence[str] = (), thermo_every: int | None = None, dump_every_ps: float | None = None,
                   comm=None) -> dict:
    """Heat ``structure`` (data file or ase.Atoms) in ``replicas`` runs and fit Tg to each PE(T) curve.

    ``temperature``: the x axis of the fit, ``"target"`` (the thermostat's linear
    ramp, smooth) or ``"measured"`` (instantaneous T). ``fit_t_min`` skips the
    start of the ramp (default: 5 % of the range above ``t_start``, where the
    thermostat is still catching up with the ramp). ``time_scale`` scales the
    ramp duration (so the rate becomes ``rate / time_scale``). Returns the summary
    (also ``out_dir/summary.json``): tg, tg_err (std over replicas), per-replica fits.
    """
    if temperature not in ("target", "measured"):
        raise PylbsError(f"temperature={temperature!r}; use 'target' or 'measured'")
    if ensemble not in ("npt", "nvt"):
        raise PylbsError(f"ensemble={ensemble!r}; use 'npt' or 'nvt'")
    schedule = tg_heating_schedule(t_start, t_max, rate_K_per_ps, equil_ps, ensemble, pressure_bar).scaled(time_scale)
    commands = potential_commands(potential)
    seeds = [int(seed) + k for k in range(int(replicas))]
    request = {"protocol": "tg_heating", "structure": structure_label(structure), "potential_commands": commands,
               "schedule": schedule.to_dict(), "seeds": seeds, "ensemble": ensemble,
               "pressure_bar": pressure_bar if ensemble == "npt" else None,
               "rate_K_per_ps": rate_K_per_ps / time_scale, "time_scale": time_scale, "temperature": temperature,
               "method": method, "fit_t_min": fit_t_min, "prepare": list(prepare)}
    thermo_every = thermo_every or max(10, schedule.n_steps() // 2000)

    def run(out: Path, comm) -> dict:
        t0 = time.perf_counter()
        runs = []
        for k, s in enumerate(seeds, 1):
            with Session(replica_dir(out, k), comm=comm, require=required_styles(commands), log_append=True,
                         label=f"Tg heating {k}/{len(seeds)}") as session:
                md = session.run_schedule(schedule, potential=commands, seed=s, thermo_every=thermo_every,
                                          restart_every_ps=max(1.0, schedule.total_ps / 20),
                                          dump_every_ps=dump_every_ps, prepare=prepare, **structure_input(structure))
                md["n_atoms"] = session.natoms
            runs.append(md)
        return {"runs": runs, "wall_s": time.perf_counter() - t0, "ranks": comm.Get_size()}

    def analyse(out: Path, state: dict) -> dict:
        runs = state["runs"]
        curves, per = [], []
        t_lo = fit_t_min if fit_t_min is not None else t_start + 0.05 * (t_max - t_start)
        for k, md in enumerate(runs, 1):
            wd = replica_dir(out, k)
            c = heating_curve(read_thermo(wd / THERMO_FILE), schedule, n_atoms=md["n_atoms"])
            np.savetxt(wd / HEATING_FILE, np.column_stack([c["step"], c["t_target"], c["temp"], c["pe"], c["vol"]]),
                       header="step T_target_K T_measured_K pe_eV_per_atom vol_A3", fmt="%.10g")
            x = c["t_target"] if temperature == "target" else c["temp"]
            curves.append((x, c["pe"]))
            per.append({"seed": seeds[k - 1], "n_points": int(len(x)), "heating_curve": str(wd / HEATING_FILE),
                        "volume_A3_start": float(c["vol"][0]) if len(x) else None,
                        "volume_A3_end": float(c["vol"][-1]) if len(x) else None,
                        "resumed": md["resumed"]})
        rep = tg_over_replicas(curves, method=method, t_min=t_lo)
        for p, r in zip(per, rep.results):
            p["fit"] = r.to_dict()
        png = plot_tg(rep, out / "tg.png", title=f"Tg = {rep.mean:.0f} +- {rep.std:.0f} K ({len(seeds)} runs)")
        return {
            "protocol": "tg_heating", "tg_K": rep.mean, "tg_err_K": rep.std,
            "tg_err_meaning": f"spread over replicas: {STD_CONVENTION}",
            "tg_per_replica_K": [r.tg for r in rep.results], "method": method, "temperature_axis": temperature,
            "ensemble": ensemble, "pressure_bar": (1.0 if pressure_bar is None else pressure_bar)
            if ensemble == "npt" else None,
            "rate_K_per_ps": rate_K_per_ps / time_scale, "t_start_K": t_start, "t_max_K": t_max,
            "n_atoms": runs[0]["n_atoms"], "replicas": per, "schedule": schedule.to_dict(),
            "time_scale": time_scale, "timestep_ps": TIMESTEP_PS, "plot": str(png),
            "timing": {"wall_s": state["wall_s"], "mpi_ranks": state["ranks"]}}

    return run_protocol(out_dir, request, run=run, analyse=analyse, comm=comm)
