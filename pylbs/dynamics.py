"""Dynamics protocols of the paper: Tg heating runs and Li diffusion runs, with either potential.

Tg (paper, Tg paragraph): "heating simulations were conducted at a heating
rate of 10 K/ps ... three independent simulations were carried out starting
from the equilibrated models at 300 K"; Tg is the fold of the potential energy
curve. :func:`run_tg_heating` runs N replicas (velocity seeds ``seed + k``)
from one structure; each replica heats from ``t_start`` to ``t_max`` at
``rate_K_per_ps`` (after an optional ``equil_ps`` hold at ``t_start``) and
records PE and volume vs T; :func:`pylbs.analysis.tg.fit_tg` finds the fold.

Diffusion (paper, "Li ion conductivity"): 300 ps at 500, 600, 700 and 900 K,
NPT ("with an NPT ensemble"); the text also says NVT at the room-temperature
density was used for the activation energies: both are supported
(``ensemble="npt"`` at ``pressure_bar``, or ``"nvt"`` in the structure's own box,
i.e. its 300 K density) and the summary records which. The first
``discard_ps`` (50 ps) are dropped and D is fitted over lags of 50-150 ps.

Both go through :class:`pylbs.session.Session` (checkpointed: a killed run
started again with the same ``out_dir`` resumes) and write ``out_dir/summary.json``.
``time_scale`` multiplies every duration, dump interval and fit window (0.01:
a demo, not a result). ``potential``: LAMMPS commands (list or callable), e.g.
:func:`pylbs.potential.fmp_commands` or :func:`pylbs.potential.deepmd_commands`.

Layout::

    out_dir/summary.json, tg.png | msd.png, arrhenius.png
    out_dir/replica_1/ ... thermo.dat, heating_curve.dat, log.lammps, restarts
    out_dir/T500/ ...      thermo.dat, trajectory.lammpstrj (id type x y z ix iy iz)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import PylbsError
from .jsonio import write_json_atomic
from .mpiutil import on_rank0
from .protocol import TIMESTEP_PS, Schedule, Stage
from .session import THERMO_FILE, TRAJECTORY_FILE, Session, potential_commands, read_thermo, required_styles

SUMMARY_FILE = "summary.json"
HEATING_FILE = "heating_curve.dat"
#: Paper values.
PAPER_TEMPERATURES_K = (500.0, 600.0, 700.0, 900.0)
#: A short minimisation for structures that are not already relaxed (random starts in tests).
MINIMIZE_COMMANDS = ("min_style cg", "minimize 1.0e-4 1.0e-6 200 2000")


def _structure_kw(structure) -> dict:
    """Session.run_schedule keyword for a structure given as a data file path or ase.Atoms."""
    if isinstance(structure, (str, os.PathLike)):
        path = Path(structure).resolve()
        if not path.is_file():
            raise PylbsError(f"structure file {path} does not exist; give a LAMMPS data file "
                             "(e.g. final.data of `pylbs quench`)")
        return {"data_file": path}
    return {"atoms": structure}


def _load_summary(out: Path, request: dict, comm):
    old = None
    if comm.Get_rank() == 0 and (out / SUMMARY_FILE).exists():
        try:
            old = json.loads((out / SUMMARY_FILE).read_text())
        except json.JSONDecodeError:
            old = None
    old = comm.bcast(old, root=0)
    if old is not None and old.get("request") != request:
        raise PylbsError(f"{out / SUMMARY_FILE} holds a different run ({old.get('protocol')}); "
                         "use another output folder or delete it")
    return old


def _write_summary(out: Path, summary: dict) -> dict:
    return write_json_atomic(out / SUMMARY_FILE, summary)


# ------------------------------------------------------------------ Tg

def tg_heating_schedule(t_start: float = 300.0, t_max: float = 2000.0, rate_K_per_ps: float = 10.0,
                        equil_ps: float = 0.0, ensemble: str = "npt", pressure_bar: float | None = None) -> Schedule:
    """Optional hold at ``t_start`` (``equil``), then a linear ``heat`` ramp to ``t_max`` at ``rate_K_per_ps``."""
    if not rate_K_per_ps > 0 or not t_max > t_start:
        raise PylbsError(f"heating {t_start:g} -> {t_max:g} K at {rate_K_per_ps:g} K/ps: give t_max > t_start "
                         "and a positive rate")
    p = pressure_bar if ensemble == "npt" else None
    stages = [Stage("equil", t_start, t_start, equil_ps, ensemble, pressure_bar=p)] if equil_ps > 0 else []
    stages.append(Stage("heat", t_start, t_max, (t_max - t_start) / rate_K_per_ps, ensemble, pressure_bar=p))
    return Schedule(tuple(stages))


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
    from .analysis.tg import plot_tg, tg_over_replicas
    from .lammps_env import mpi_comm

    comm = comm if comm is not None else mpi_comm()
    out = Path(out_dir).resolve()
    if temperature not in ("target", "measured"):
        raise PylbsError(f"temperature={temperature!r}; use 'target' or 'measured'")
    if ensemble not in ("npt", "nvt"):
        raise PylbsError(f"ensemble={ensemble!r}; use 'npt' or 'nvt'")
    schedule = tg_heating_schedule(t_start, t_max, rate_K_per_ps, equil_ps, ensemble, pressure_bar).scaled(time_scale)
    commands = potential_commands(potential)
    seeds = [int(seed) + k for k in range(int(replicas))]
    request = {"protocol": "tg_heating", "structure": str(structure) if isinstance(structure, (str, os.PathLike))
               else f"atoms:{len(structure)}", "potential_commands": commands, "schedule": schedule.to_dict(),
               "seeds": seeds, "ensemble": ensemble, "pressure_bar": pressure_bar if ensemble == "npt" else None,
               "rate_K_per_ps": rate_K_per_ps / time_scale, "time_scale": time_scale, "temperature": temperature,
               "method": method, "fit_t_min": fit_t_min, "prepare": list(prepare)}
    old = _load_summary(out, request, comm)
    if old is not None:
        return old
    n_steps = schedule.n_steps()
    thermo_every = thermo_every or max(10, n_steps // 2000)
    t0 = time.perf_counter()
    runs = []
    for k, s in enumerate(seeds, 1):
        wd = out / f"replica_{k}"
        with Session(wd, comm=comm, require=required_styles(commands), log_append=True) as session:
            kw = _structure_kw(structure)
            run = session.run_schedule(schedule, potential=commands, seed=s, thermo_every=thermo_every,
                                       restart_every_ps=max(1.0, schedule.total_ps / 20),
                                       dump_every_ps=dump_every_ps, prepare=prepare, **kw)
            run["n_atoms"] = session.natoms
        runs.append(run)
    wall = time.perf_counter() - t0

    def analyse():
        curves, per = [], []
        t_lo = fit_t_min if fit_t_min is not None else t_start + 0.05 * (t_max - t_start)
        for k, run in enumerate(runs, 1):
            wd = out / f"replica_{k}"
            c = heating_curve(read_thermo(wd / THERMO_FILE), schedule, n_atoms=run["n_atoms"])
            np.savetxt(wd / HEATING_FILE, np.column_stack([c["step"], c["t_target"], c["temp"], c["pe"], c["vol"]]),
                       header="step T_target_K T_measured_K pe_eV_per_atom vol_A3", fmt="%.10g")
            x = c["t_target"] if temperature == "target" else c["temp"]
            curves.append((x, c["pe"]))
            per.append({"seed": seeds[k - 1], "n_points": int(len(x)), "heating_curve": str(wd / HEATING_FILE),
                        "volume_A3_start": float(c["vol"][0]) if len(x) else None,
                        "volume_A3_end": float(c["vol"][-1]) if len(x) else None,
                        "resumed": run["resumed"]})
        rep = tg_over_replicas(curves, method=method, t_min=t_lo)
        for p, r in zip(per, rep.results):
            p["fit"] = r.to_dict()
        png = plot_tg(rep, out / "tg.png", title=f"Tg = {rep.mean:.0f} +- {rep.std:.0f} K ({len(seeds)} runs)")
        return _write_summary(out, {
            "protocol": "tg_heating", "tg_K": rep.mean, "tg_err_K": rep.std,
            "tg_err_meaning": "standard deviation over replicas (ddof=1; 0 for one replica)",
            "tg_per_replica_K": [r.tg for r in rep.results], "method": method, "temperature_axis": temperature,
            "ensemble": ensemble, "pressure_bar": (1.0 if pressure_bar is None else pressure_bar)
            if ensemble == "npt" else None,
            "rate_K_per_ps": rate_K_per_ps / time_scale, "t_start_K": t_start, "t_max_K": t_max,
            "n_atoms": runs[0]["n_atoms"], "replicas": per, "schedule": schedule.to_dict(),
            "time_scale": time_scale, "timestep_ps": TIMESTEP_PS, "plot": str(png),
            "timing": {"wall_s": wall, "mpi_ranks": comm.Get_size()}, "request": request})
    return on_rank0(comm, analyse)


# ------------------------------------------------------------------ diffusion

def diffusion_schedule(temperature: float, duration_ps: float = 300.0, ensemble: str = "npt",
                       pressure_bar: float | None = None) -> Schedule:
    """One constant-temperature stage ``diffuse`` (NPT at ``pressure_bar`` or NVT in the given box)."""
    return Schedule((Stage("diffuse", temperature, temperature, duration_ps, ensemble,
                           pressure_bar=pressure_bar if ensemble == "npt" else None),))


def run_diffusion(structure, out_dir, potential, *, temperatures: Sequence[float] = PAPER_TEMPERATURES_K,
                  duration_ps: float = 300.0, ensemble: str = "npt", pressure_bar: float | None = None,
                  discard_ps: float = 50.0, window=(50.0, 150.0), dump_every_ps: float = 1.0,
                  time_scale: float = 1.0, seed: int = 1, prepare: Sequence[str] = (), remove_drift: bool = True,
                  thermo_every: int | None = None, comm=None) -> dict:
    """Constant-T runs of ``structure`` at each temperature, then MSD, D, C_Li*D, sigma and Ea.

    ``time_scale`` scales ``duration_ps``, ``discard_ps``, ``window`` and
    ``dump_every_ps`` together. NVT keeps the structure's box (its 300 K density);
    NPT relaxes it at ``pressure_bar`` (1 bar by default) and C_Li uses the mean
    volume of the analysed frames. Conductivity: Nernst-Einstein, Haven ratio 1.
    Returns the summary (also ``out_dir/summary.json``).
    """
    from .analysis import diffusion as dif
    from .lammps_env import mpi_comm

    comm = comm if comm is not None else mpi_comm()
    out = Path(out_dir).resolve()
    if ensemble not in ("npt", "nvt"):
        raise PylbsError(f"ensemble={ensemble!r}; use 'npt' or 'nvt'")
    temps = [float(t) for t in temperatures]
    if not temps:
        raise PylbsError("give at least one temperature")
    commands = potential_commands(potential)
    ts = float(time_scale)
    win = (window[0] * ts, window[1] * ts)
    if discard_ps * ts + win[1] > duration_ps * ts + 1e-9:
        raise PylbsError(f"discard {discard_ps:g} ps + window end {window[1]:g} ps exceed the run of "
                         f"{duration_ps:g} ps; run longer or shrink the window")
    dump_ps = max(TIMESTEP_PS, dump_every_ps * ts)
    request = {"protocol": "diffusion", "structure": str(structure) if isinstance(structure, (str, os.PathLike))
               else f"atoms:{len(structure)}", "potential_commands": commands, "temperatures_K": temps,
               "duration_ps": duration_ps * ts, "ensemble": ensemble,
               "pressure_bar": pressure_bar if ensemble == "npt" else None, "discard_ps": discard_ps * ts,
               "window_ps": list(win), "dump_every_ps": dump_ps, "time_scale": ts, "seed": int(seed),
               "prepare": list(prepare), "remove_drift": remove_drift}
    old = _load_summary(out, request, comm)
    if old is not None:
        return old
    t0 = time.perf_counter()
    runs = []
    for T in temps:
        wd = out / f"T{T:g}"
        schedule = diffusion_schedule(T, duration_ps, ensemble, pressure_bar).scaled(ts)
        te = thermo_every or max(10, schedule.n_steps() // 1000)
        with Session(wd, comm=comm, require=required_styles(commands), log_append=True) as session:
            run = session.run_schedule(schedule, potential=commands, seed=seed, thermo_every=te,
                                       restart_every_ps=max(1.0, schedule.total_ps / 20), dump_every_ps=dump_ps,
                                       prepare=prepare, **_structure_kw(structure))
            run["n_atoms"] = session.natoms
        runs.append(run)
    wall = time.perf_counter() - t0

    def analyse():
        per, msd_curves = [], {}
        for T, run in zip(temps, runs):
            wd = out / f"T{T:g}"
            res = dif.analyze_trajectory(wd / TRAJECTORY_FILE, TIMESTEP_PS, win, discard_ps * ts, remove_drift)
            th = read_thermo(wd / THERMO_FILE)
            step0 = int(round(discard_ps * ts / TIMESTEP_PS))
            sel = th["step"] >= step0
            t_mean = float(th["temp"][sel].mean()) if sel.any() else T
            entry = {"temperature_K": T, "mean_temperature_K": t_mean, "n_atoms": run["n_atoms"],
                     "volume_A3": res.volume_A3, "counts": res.counts,
                     "D": {el: f.to_dict() for el, f in res.fits.items()},
                     "trajectory": str(wd / TRAJECTORY_FILE)}
            if "Li" in res.fits:
                n_li = dif.number_density(res.counts["Li"], res.volume_A3)
                d_li = res.fits["Li"].D
                entry.update({"D_Li_A2_per_ps": d_li, "D_Li_err_A2_per_ps": res.fits["Li"].D_err,
                              "D_Li_block_err_A2_per_ps": res.block_err.get("Li"),
                              "C_Li_per_A3": n_li, "C_Li_per_cm3": n_li * 1e24,
                              "C_Li_times_D_per_cm_s": dif.c_times_d(n_li, d_li),
                              "sigma_NE_S_per_cm": dif.nernst_einstein(n_li, d_li, T)})
                msd_curves[f"{T:g} K"] = res
            np.savetxt(wd / "msd.dat", np.column_stack([res.times_ps] + list(res.msd.values())),
                       header="lag_ps " + " ".join(f"msd_{el}_A2" for el in res.msd), fmt="%.8g")
            per.append(entry)
        arr, arr_error = None, None
        if len(temps) >= 2 and all("D_Li_A2_per_ps" in p for p in per):
            try:
                fit = dif.arrhenius_fit([p["temperature_K"] for p in per], [p["D_Li_A2_per_ps"] for p in per])
                arr = fit.to_dict()
                dif.plot_arrhenius({"Li": fit}, out / "arrhenius.png")
            except PylbsError as exc:
                arr_error = str(exc)
        if msd_curves:
            dif.plot_msd(msd_curves, out / "msd.png", species=("Li",))
        return _write_summary(out, {
            "protocol": "diffusion", "ensemble": ensemble,
            "ensemble_note": ("NPT at {:g} bar: the box relaxes at each temperature".format(
                1.0 if pressure_bar is None else pressure_bar) if ensemble == "npt" else
                "NVT in the structure's own box (its room-temperature density) at every temperature"),
            "conductivity_note": "Nernst-Einstein sigma = n q^2 D / (k_B T) with Haven ratio 1, q = +1 e (Li)",
            "fit": {"discard_ps": discard_ps * ts, "window_ps": list(win), "remove_drift": remove_drift,
                    "equation": "MSD(t) = 6 D t + c (paper Eq. 6)",
                    "errors": "D_err: standard error of the slope (a lower bound, MSD points are correlated); "
                              "D_block_err: standard error over 5 independent atom blocks"},
            "temperatures": per, "arrhenius_Li": arr, "arrhenius_error": arr_error,
            "plots": {k: str(out / f) for k, f in (("msd", "msd.png"), ("arrhenius", "arrhenius.png"))
                      if (out / f).exists()},
            "time_scale": ts, "timestep_ps": TIMESTEP_PS,
            "timing": {"wall_s": wall, "mpi_ranks": comm.Get_size()}, "request": request})
    return on_rank0(comm, analyse)
