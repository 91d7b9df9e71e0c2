"""Tg from heating runs: independent glasses heated at 10 K/ps, PE and volume vs T, the fold of PE(T).

Paper (Tg paragraph): "heating simulations were conducted at a heating rate of 10 K/ps
... three independent simulations were carried out starting from the equilibrated
models at 300 K"; the MLP MD ran "under a canonical ensemble (NVT)"; Tg is the fold of
the potential energy curve, and near 2000 K the paper's model let atoms overlap.
:func:`run_tg_heating` heats each given structure (or one structure with several seeds)
after a 300 K equilibration, under NVT by default, with the unphysical-event guard for
DeepMD models; :func:`pylbs.analysis.tg.fit_tg` finds the fold. Layout::

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
from ..stats import STD_CONVENTION
from .guard import Guard, guarded_potential, run_guarded_md
from .runner import replica_dir, run_protocol, structure_label
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


def run_tg_heating(structures, out_dir, potential=None, *, models=None, replicas: int | None = None, seed: int = 1,
                   t_start: float = 300.0, t_max: float = 2000.0, rate_K_per_ps: float = 10.0, equil_ps: float = 50.0,
                   ensemble: str = "nvt", pressure_bar: float | None = None, time_scale: float = 1.0,
                   temperature: str = "target", method: str = "bilinear", fit_t_min: float | None = None,
                   prepare: Sequence[str] = (), thermo_every: int | None = None, dump_every_ps: float | None = None,
                   guard: Guard | None = None, zbl_core=None, comm=None,
                   compress: bool | None = None) -> dict:
    """Heat each structure at ``rate_K_per_ps`` and fit Tg to each PE(T) curve; Tg = mean +- std.

    Paper: "three independent simulations were carried out starting from the equilibrated
    models at 300 K" under NVT: give ``structures`` as a list (one run each; the default
    for the paper is three structures) or one structure with ``replicas`` velocity seeds
    (recorded as such: they share the structure). Each run holds ``t_start`` for
    ``equil_ps`` (the 300 K equilibration) and then heats. ``ensemble``: NVT (default, the
    paper's) or NPT. ``models``: DeepMD models (the first drives the MD): every run is
    guarded (pylbs.protocols.guard: closest approach, model deviation with two or more
    models), so a corrupted liquid branch stops the run instead of entering the fit; with
    ``potential`` commands (FMP) a ``guard`` is optional. ``temperature``: the x axis of
    the fit, ``"target"`` (the thermostat's ramp) or ``"measured"``. ``fit_t_min`` skips
    the start of the ramp (default: 5 % of the range above ``t_start``). ``time_scale``
    scales every duration (the rate becomes ``rate / time_scale``). Returns the summary
    (also ``out_dir/summary.json``).
    """
    if temperature not in ("target", "measured"):
        raise PylbsError(f"temperature={temperature!r}; use 'target' or 'measured'")
    if ensemble not in ("npt", "nvt"):
        raise PylbsError(f"ensemble={ensemble!r}; use 'npt' or 'nvt'")
    several = isinstance(structures, (list, tuple))
    inputs = list(structures) if several else [structures] * int(replicas or 3)
    if several and replicas not in (None, len(inputs)):
        raise PylbsError(f"{len(inputs)} structures and replicas={replicas}: with several structures each is one "
                         "replica; leave replicas out")
    schedule = tg_heating_schedule(t_start, t_max, rate_K_per_ps, equil_ps, ensemble, pressure_bar).scaled(time_scale)
    commands_for, guard = guarded_potential(potential, models, guard, zbl_core, compress)
    seeds = [int(seed) + k for k in range(len(inputs))]
    request = {"protocol": "tg_heating", "structures": [structure_label(x) for x in inputs],
               "independent_structures": several, "potential_commands": commands_for(Path("RUN")),
               "schedule": schedule.to_dict(), "seeds": seeds, "ensemble": ensemble,
               "pressure_bar": pressure_bar if ensemble == "npt" else None,
               "rate_K_per_ps": rate_K_per_ps / time_scale, "time_scale": time_scale, "temperature": temperature,
               "method": method, "fit_t_min": fit_t_min, "prepare": list(prepare),
               "models": None if not models else [str(Path(m).resolve()) for m in models],
               "guard": None if guard is None else guard.to_dict()}
    thermo_every = thermo_every or max(10, schedule.n_steps() // 2000)

    def run(out: Path, comm) -> dict:
        t0 = time.perf_counter()
        runs = []
        for k, (structure, s) in enumerate(zip(inputs, seeds), 1):
            runs.append(run_guarded_md(replica_dir(out, k), schedule, commands_for, guard, len(models or ()), comm,
                                       structure=structure, seed=s, thermo_every=thermo_every,
                                       dump_every_ps=dump_every_ps, prepare=prepare,
                                       label=f"Tg heating {k}/{len(inputs)}"))
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
            per.append({"seed": seeds[k - 1], "structure": structure_label(inputs[k - 1]), "n_points": int(len(x)),
                        "heating_curve": str(wd / HEATING_FILE),
                        "volume_A3_start": float(c["vol"][0]) if len(x) else None,
                        "volume_A3_end": float(c["vol"][-1]) if len(x) else None,
                        "resumed": md["resumed"]})
        rep = tg_over_replicas(curves, method=method, t_min=t_lo)
        for p, r in zip(per, rep.results):
            p["fit"] = r.to_dict()
        png = plot_tg(rep, out / "tg.png", title=f"Tg = {rep.mean:.0f} +- {rep.std:.0f} K ({len(seeds)} runs)")
        return {
            "protocol": "tg_heating", "tg_K": rep.mean, "tg_err_K": rep.std,
            "tg_err_meaning": (f"spread over {len(inputs)} independent structures" if several else
                               f"spread over {len(inputs)} velocity seeds of ONE structure (the paper used three "
                               "independent structures)") + f": {STD_CONVENTION}",
            "guarded": guard is not None,
            "tg_per_replica_K": [r.tg for r in rep.results], "method": method, "temperature_axis": temperature,
            "md_potential_commands": runs[0].get("potential_commands"),  # the compressed models where they ran
            "ensemble": ensemble, "pressure_bar": (1.0 if pressure_bar is None else pressure_bar)
            if ensemble == "npt" else None,
            "rate_K_per_ps": rate_K_per_ps / time_scale, "t_start_K": t_start, "t_max_K": t_max,
            "n_atoms": runs[0]["n_atoms"], "replicas": per, "schedule": schedule.to_dict(),
            "time_scale": time_scale, "timestep_ps": TIMESTEP_PS, "plot": str(png),
            "timing": {"wall_s": state["wall_s"], "mpi_ranks": state["ranks"]}}

    return run_protocol(out_dir, request, run=run, analyse=analyse, comm=comm)
