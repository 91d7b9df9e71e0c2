"""The paper's DeepMD stage: FMP glass -> MLP remelt, (anneal), quench, 300 K, Emin; with replicas and a guard.

Boron coordination section of the paper: the FMP-LBS glass is heated with the
MLP at 10 K/ps to T_max (1500-2000 K, composition dependent), held 200 ps, then
cooled ``fast`` (10 K/ps to 300 K) or ``anneal`` (10 K/ps to 1000 K, 200 ps
there, 2 K/ps to 300 K), kept 200 ps at 300 K; the last 100 ps are analysed;
"2 K/ps + Emin" is the same structure after an energy minimisation with the
MLP. NVT at the measured density, 1 fs, Nose-Hoover. The schedule is
:func:`pylbs.protocols.schedules.mlp_schedule`; the default T_max is
:func:`pylbs.protocols.schedules.default_t_max` (a documented stand-in for the
paper's unpublished Table S5).

MD runs in LAMMPS with ``pair_style deepmd`` (never ASE) through
:class:`pylbs.session.Session`, so every replica is checkpointed and resumable.
Layout of ``out_dir``::

    summary.json                 mean/std of 4B and 5Si over replicas (MD frames and Emin)
    replica-1/ ...               one folder per seed: log.lammps, thermo.dat,
                                 trajectory.lammpstrj, progress.json, restart.a/.b,
                                 model_devi.dat (step, max/min/avg force deviation, eV/A),
                                 md_final.data, emin.data, summary.json, run.png,
                                 guard/ (only after an unphysical event, pylbs.protocols.guard)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..analysis.coordination import coordination, coordination_frames
from ..errors import PylbsError
from ..glasses import Glass
from ..lammps_io import (
    EMIN_DATA,
    MD_FINAL_DATA,
    MODEL_DEVI_FILE,
    MODEL_DEVI_RAW,
    THERMO_FILE,
    TRAJECTORY_FILE,
    dump_steps,
    read_model_devi,
    read_thermo,
)
from ..mlp.compress import md_models
from ..potential import deepmd_commands, potential_commands, required_styles, wall_of
from ..session import Session
from ..stats import STD_CONVENTION, finite, mean_std
from ..structure import (
    density_of,
    read_lammps_data,
    rescaled_to_density,
    write_lammps_data,
)
from .guard import Guard, check_interval_ps, guard_check
from .runner import replica_dir, require_glass, run_protocol
from .schedules import EMIN_COMMANDS, TIMESTEP_PS, Schedule, default_t_max, mlp_schedule, t_max_for


def _holds(anneal_holds_ps) -> tuple[float, ...]:
    holds = (anneal_holds_ps,) if isinstance(anneal_holds_ps, (int, float)) else tuple(anneal_holds_ps)
    if not holds or any(not h > 0 for h in holds):
        raise PylbsError(f"anneal holds {anneal_holds_ps} ps: give positive durations, e.g. 200 400 600")
    return tuple(float(h) for h in holds)


def mlp_folder_name(schedule: str, t_max: float, anneal_holds_ps=200.0, cool_frame_every_K=None) -> str:
    """The sub-folder of ``--out`` the MLP stage of ``pylbs quench --mlp`` writes (campaign tasks find
    their summaries by it): ``mlp-<schedule>-T<T_max>``, plus ``-a<hold>[-<hold>...]`` for anneal
    holds other than the paper's 200 ps alone, plus ``-f<K>K`` for cooling frames every K kelvin."""
    name = f"mlp-{schedule}-T{t_max:g}"
    holds = _holds(anneal_holds_ps)
    name += "-a" + "-".join(f"{h:g}" for h in holds) if schedule == "anneal" and holds != (200.0,) else ""
    return name + (f"-f{cool_frame_every_K:g}K" if cool_frame_every_K else "")


def _model_list(models) -> list[str]:
    return [str(Path(m).resolve()) for m in ([models] if isinstance(models, (str, os.PathLike)) else models)]


def run_mlp_replica(start_data, models, out_dir, schedule: Schedule, *, seed: int = 1, guard: Guard | None = None,
                    emin: bool = True, emin_commands: Sequence[str] = EMIN_COMMANDS,
                    zbl_core: tuple[float, float] | None = None, comm=None, cutoffs=None,
                    thermo_every: int | None = None, dump_every_ps: float | None = None,
                    request_extra: Mapping | None = None, compress: bool | None = None) -> dict:
    """One replica: ``schedule`` with the DeepMD ``models`` from ``start_data``, then Emin.

    Returns (and writes to ``out_dir/summary.json``) 4B/5Si averaged over the
    frames of the ``sample`` stage (or the last stage), before and after Emin,
    the energies, the model deviation maximum and timing. A finished replica
    with the same request is returned without running; a killed one resumes.
    Raises UnphysicalEventError when the guard fires (see :mod:`pylbs.protocols.guard`).
    The MD runs each model's compressed copy when it can (:mod:`pylbs.mlp.compress`; ``compress``).
    """
    guard = guard or Guard()
    models = _model_list(models)
    out = Path(out_dir).resolve()
    request = {"start_data": str(Path(start_data).resolve()), "schedule": schedule.to_dict(), "seed": int(seed),
               "models": models, "emin": list(emin_commands) if emin else None,
               "zbl_core": None if zbl_core is None else list(zbl_core), **dict(request_extra or {})}
    total = schedule.total_ps
    check_every = check_interval_ps(guard, total)
    dump_every_ps = dump_every_ps or max(TIMESTEP_PS, total / 100)
    thermo_every = thermo_every or max(10, schedule.n_steps() // 1000)

    def run(out: Path, comm) -> dict:
        used = md_models(models, comm, compress)
        commands = potential_commands(deepmd_commands([m["md_model"] for m in used], guard.out_freq,
                                                      out / MODEL_DEVI_RAW, zbl_core=zbl_core,
                                                      wall=wall_of(models[0])))
        checker = guard_check(guard, out, len(models), comm)
        t0 = time.perf_counter()
        with Session(out, comm=comm, require=required_styles(commands), log_append=True,
                     label=f"{out.parent.name}/{out.name}") as session:
            md = session.run_schedule(schedule, potential=commands, data_file=Path(start_data).resolve(), seed=seed,
                                      timestep_ps=TIMESTEP_PS, restart_every_ps=check_every,
                                      thermo_every=thermo_every, dump_every_ps=dump_every_ps, check=checker)
            session.command(f"write_data {out / MD_FINAL_DATA}")
            state = {"md": md, "pe_md": session.thermo("pe"), "pe_emin": None, "n": session.natoms or 1}
            if emin:
                session.commands(list(emin_commands))
                state["pe_emin"] = session.thermo("pe")
                session.command(f"write_data {out / EMIN_DATA}")
        state.update(wall_s=time.perf_counter() - t0, ranks=comm.Get_size(), md_models=used, commands=commands)
        return state

    def analyse(out: Path, state: dict) -> dict:
        bounds = schedule.stage_bounds(TIMESTEP_PS)
        names = [s.name for s in schedule.stages]
        a, b = bounds[names.index("sample")] if "sample" in names else bounds[-1]
        steps = dump_steps(out / TRAJECTORY_FILE)
        kept = [k for k, s in enumerate(steps) if a < s <= b]
        frames = coordination_frames(out / TRAJECTORY_FILE, cutoffs=cutoffs, frames=kept) if kept else []
        f4 = [r.fraction_4B for r in frames]
        f5 = [r.fraction_5Si for r in frames]
        before = coordination(out / MD_FINAL_DATA, cutoffs=cutoffs)
        after = coordination(out / EMIN_DATA, cutoffs=cutoffs) if emin else None
        devi = read_model_devi(out / MODEL_DEVI_FILE) if len(models) > 1 else None
        thermo = read_thermo(out / THERMO_FILE)
        md, n, pe_md, pe_emin = state["md"], state["n"], state["pe_md"], state["pe_emin"]
        return {
            "seed": int(seed), "n_atoms": n, "frames_kept": len(kept), "kept_steps": [steps[k] for k in kept],
            "fraction_4B": finite(np.nanmean(f4)) if f4 else None,
            "fraction_5Si": finite(np.nanmean(f5)) if f5 else None,
            "fraction_4B_frames": f4, "fraction_5Si_frames": f5,
            "fraction_4B_frame_std": mean_std(f4)[1], "fraction_5Si_frame_std": mean_std(f5)[1],
            "md_final": {"fraction_4B": finite(before.fraction_4B), "fraction_5Si": finite(before.fraction_5Si),
                         "pe_eV": pe_md, "pe_eV_per_atom": pe_md / n},
            "emin": None if after is None else {
                "fraction_4B": finite(after.fraction_4B), "fraction_5Si": finite(after.fraction_5Si),
                "pe_eV": pe_emin, "pe_eV_per_atom": pe_emin / n, "commands": list(emin_commands)},
            "mean_temperature_sample_K": float(thermo["temp"][(thermo["step"] > a) & (thermo["step"] <= b)].mean())
            if len(thermo["step"]) else None,
            "model_deviation": None if devi is None else {
                "max_devi_f": float(devi["max_devi_f"].max()) if len(devi["step"]) else None,
                "file": str(out / MODEL_DEVI_FILE), "out_freq": guard.out_freq},
            "guard": guard.to_dict(), "steps": md["steps"],
            "timing": {"wall_s": state["wall_s"], "md_wall_s": md["wall_s"], "mpi_ranks": state["ranks"],
                       "resumed": md["resumed"], "stages_skipped": md["stages_skipped"]},
            "potential_commands": state["commands"], "md_models": state["md_models"],
            "files": {k: str(out / v) for k, v in (("md_final", MD_FINAL_DATA), ("emin", EMIN_DATA),
                                                   ("trajectory", TRAJECTORY_FILE), ("thermo", THERMO_FILE))},
        }

    return run_protocol(out, request, run=run, analyse=analyse, comm=comm)


def run_mlp_quench(start_data, models, out_dir, *, glass: Glass, kind: str = "anneal", t_max: float | None = None,
                   replicas: int = 1, seed: int = 1, time_scale: float = 1.0, anneal_holds_ps=(200.0,),
                   sample_frames: int = 100, density: float | None = None, guard: Guard | None = None,
                   emin: bool = True, comm=None, cutoffs=None, schedule: Schedule | None = None,
                   thermo_every: int | None = None, zbl_core: tuple[float, float] | None = None,
                   emin_commands: Sequence[str] = EMIN_COMMANDS, t_max_source: str | None = None,
                   cool_frame_every_K: float | None = None, compress: bool | None = None) -> dict:
    """The paper's MLP stage from one FMP glass, for several replicas.

    Replicas: with ``kind="anneal"`` every hold of ``anneal_holds_ps`` (the paper's error bars
    of the 2 K/ps glasses: "varying the equilibration time at 1000 K as 200, 400, and 600 ps")
    times ``replicas`` velocity seeds (seed, seed+1, ...); with ``kind="fast"`` the seeds alone.
    ``start_data``: LAMMPS data of the FMP glass (e.g. the melt-quench's final.data).
    ``glass``: the glass (its measured density; the default T_max, :func:`t_max_for`, which
    uses the paper's value where it states one for the model size). ``density`` (g/cm^3,
    default: the measured one): the start structure is rescaled to it if it differs by more
    than 0.1 % (NVT at the experimental density). ``schedule`` replaces the paper's (then
    ``time_scale`` still applies). Writes ``out_dir/summary.json`` with every replica's
    result, and the mean and sample standard deviation over replicas (and over holds).
    ``cool_frame_every_K``: a frame every so many kelvin while cooling (3MR formation, Figs 6-7).
    ``compress``: run the models' compressed copies (default: yes where deepmd-kit can compress
    them, :mod:`pylbs.mlp.compress`); the summary's ``md_models`` says what ran.
    """
    require_glass(glass)
    if not Path(start_data).is_file():
        raise PylbsError(f"start structure {start_data} does not exist; run the FMP melt-quench first "
                         "(pylbs quench / scripts/quench.py) or give its final.data")
    if int(replicas) < 1:
        raise PylbsError(f"replicas={replicas}; give at least 1")
    holds = _holds(anneal_holds_ps) if kind == "anneal" and schedule is None else (None,)
    if t_max is None:
        t_max, t_max_source = t_max_for(glass, len(read_lammps_data(start_data)))
    t_max = float(t_max)
    plan = [(h, int(seed) + k) for h in holds for k in range(int(replicas))]
    schedules = {h: (schedule or mlp_schedule(kind, t_max, anneal_hold_ps=200.0 if h is None else h,
                                              sample_frames=sample_frames, cool_frame_every_K=cool_frame_every_K)
                     ).scaled(time_scale) for h in holds}
    density = density if density is not None else glass.density
    guard = guard or Guard()
    models = _model_list(models)
    base = {"glass": glass.name, "t_max_K": t_max, "kind": kind, "time_scale": float(time_scale),
            "density_g_cm3": density}
    request = {**base, "start_data": str(Path(start_data).resolve()), "models": models,
               "replicas": [{"anneal_hold_ps": h, "seed": s} for h, s in plan],
               "schedules": {str(h): sc.to_dict() for h, sc in schedules.items()},
               "emin": list(emin_commands) if emin else None,
               "zbl_core": None if zbl_core is None else list(zbl_core), "guard": guard.to_dict()}

    def run(out: Path, comm) -> dict:
        atoms = read_lammps_data(start_data) if comm.Get_rank() == 0 else None
        rho0 = comm.bcast(None if atoms is None else density_of(atoms), root=0)
        start = Path(start_data).resolve()
        if density is not None and abs(rho0 / density - 1) > 1e-3:
            start = out / "start_rescaled.data"
            if comm.Get_rank() == 0:
                write_lammps_data(rescaled_to_density(atoms, density), start)
            comm.Barrier()
        results = [run_mlp_replica(start, models, replica_dir(out, k + 1), schedules[h], seed=s, guard=guard,
                                   emin=emin, emin_commands=emin_commands, comm=comm, cutoffs=cutoffs,
                                   zbl_core=zbl_core, thermo_every=thermo_every, request_extra=base,
                                   compress=compress)
                   for k, (h, s) in enumerate(plan)]
        return {"results": results, "rho0": rho0}

    def analyse(out: Path, state: dict) -> dict:
        results = state["results"]
        stats = {}
        for key, get in (("fraction_4B", lambda r: r["fraction_4B"]), ("fraction_5Si", lambda r: r["fraction_5Si"]),
                         ("emin_fraction_4B", lambda r: (r["emin"] or {}).get("fraction_4B")),
                         ("emin_fraction_5Si", lambda r: (r["emin"] or {}).get("fraction_5Si"))):
            values = [get(r) for r in results]
            m, s, _ = mean_std(values)
            stats[key] = {"mean": m, "std": s, "per_replica": values}
            if not key.startswith("emin"):  # the spread inside each replica's sampled frames, averaged
                stats[key]["frame_std"] = mean_std([r.get(f"{key}_frame_std") for r in results])[0]
            if len(holds) > 1:  # the paper's axis: the mean over seeds at each hold
                stats[key]["by_anneal_hold_ps"] = {f"{h:g}": mean_std([v for (hh, _), v in zip(plan, values)
                                                                      if hh == h])[0] for h in holds}
        c = glass.composition
        return {
            **base, "composition_mol_percent": {"SiO2": c.sio2, "B2O3": c.b2o3, "Li2O": c.li2o},
            "t_max_source": t_max_source or "given (--t-max)", "t_max_default_K": default_t_max(glass),
            "measured_4B": None if glass.measured_4B is None else glass.measured_4B / 100.0,
            "start_data": str(Path(start_data).resolve()), "start_density_g_cm3": state["rho0"],
            "replicas": len(results), "seeds": [s for _, s in plan],
            "anneal_holds_ps": None if holds == (None,) else list(holds),
            "replica_plan": [{"dir": str(replica_dir(out, k + 1)), "anneal_hold_ps": h, "seed": s}
                             for k, (h, s) in enumerate(plan)],
            **stats, "std_convention": STD_CONVENTION,
            "spreads": "std: between replicas of their frame means; frame_std: frame to frame within a replica "
                       "(last 100 ps), averaged over the replicas",
            "schedule": next(iter(schedules.values())).to_dict(), "models": models,
            "md_models": results[0].get("md_models"),
            "replica_dirs": [str(replica_dir(out, k + 1)) for k in range(len(results))],
            "wall_s": sum(r["timing"]["wall_s"] for r in results),
        }

    return run_protocol(out_dir, request, run=run, analyse=analyse, comm=comm)
