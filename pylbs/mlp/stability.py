"""The hot-liquid stability check of DeepMD models: NVT at 2000 K of every catalogue glass under the guard.

Why 2000 K: the paper's own DFT-trained model let atoms overlap there, and every remelt of
the anneal and Tg schedules passes through the liquid. A model that keeps each glass's liquid
physical for the whole run passes; the active-learning loop requires it to call itself
converged (:mod:`pylbs.mlp.learn`), and ``pylbs mlp stability`` runs it on any model (the
shipped one's card keeps the result).

One run per glass (``OUT/<glass>/``) from an FMP glass of ``atoms`` atoms made once by the
caller's ``start_glass(name, atoms)``: NVT at ``temperature_K`` for ``ps`` x ``time_scale``,
checked by :class:`pylbs.protocols.guard.Guard` (closest approach per element pair; the
models' force deviation too when several are given). A guard stop ends that glass's run with
its reason and saved frames; the other glasses still run. A finished glass writes
``stability.json`` and is skipped on resume; an unfinished one resumes at its last checkpoint.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import PylbsError, SimulationError, UnphysicalEventError
from ..glasses import CATALOG
from ..hashing import file_sha256
from ..jsonio import differing_keys, read_json, write_json_atomic
from ..lammps_env import mpi_comm
from ..lammps_io import FINAL_DATA, TRAJECTORY_FILE, read_trajectory
from ..mpiutil import on_rank0
from ..potential import wall_of
from ..protocols.guard import (CONTACTS_FILE, GUARD_DIR, Guard, check_interval_ps, guarded_potential,
                               resume_progress, run_guarded_md)
from ..protocols.melt_quench import run_fmp_melt_quench
from ..protocols.runner import portable_request
from ..protocols.schedules import Schedule, Stage
from ..session import is_blow_up

RESULT_FILE = "stability.json"
#: LAMMPS's line after each ``run``: one per MD chunk (a guard check ends each), with its step count
_LOOP_LINE = re.compile(r"^Loop time of \S+ on \d+ procs for (\d+) steps", re.M)
#: pairs closer than this (A) are looked for when the run's closest approach is measured
CLOSEST_CUTOFF_A = 2.5


@dataclass(frozen=True)
class StabilityCheck:
    """What the check runs: the issue's 100 ps at 2000 K on ~300 atoms of every catalogue glass;
    ``time_scale`` shortens the hold (0.1: 10 ps) where the full run costs too much."""

    temperature_K: float = 2000.0
    ps: float = 100.0
    time_scale: float = 1.0
    atoms: int = 300
    glasses: tuple[str, ...] = tuple(CATALOG)

    def __post_init__(self):
        unknown = [g for g in self.glasses if g not in CATALOG]
        if unknown:
            raise PylbsError(f"unknown glass(es) {unknown} for the stability check; use catalogue names "
                             f"({', '.join(CATALOG)})")
        if self.ps <= 0 or self.time_scale <= 0 or self.atoms < 20:
            raise PylbsError("the stability check needs ps > 0, time_scale > 0 and at least 20 atoms")

    def schedule(self) -> Schedule:
        return Schedule((Stage("hot", self.temperature_K, self.temperature_K, self.ps),)).scaled(self.time_scale)

    def to_dict(self) -> dict:
        return {**asdict(self), "glasses": list(self.glasses), "simulated_ps": self.schedule().total_ps}

    @property
    def full_length(self) -> bool:
        """Whether this check is the criterion's own run (the defaults: 100 ps at 2000 K on 300 atoms, or
        longer or larger), as opposed to a shortened one: the card keeps the two apart."""
        criterion = StabilityCheck()
        return (self.temperature_K == criterion.temperature_K and self.atoms >= criterion.atoms
                and self.schedule().total_ps >= criterion.ps - 1e-9)


def closest_approach(frames, cutoff: float = CLOSEST_CUTOFF_A) -> dict[str, float]:
    """The smallest distance of each element pair (``"B-O"``, keys sorted) over ``frames`` (ase.Atoms,
    periodic); pairs never closer than ``cutoff`` are left out."""
    from ase.neighborlist import neighbor_list

    best: dict[str, float] = {}
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        sym = np.asarray(atoms.get_chemical_symbols())
        keep = i < j
        for a, b, dist in zip(sym[i[keep]], sym[j[keep]], d[keep]):
            key = "-".join(sorted((a, b)))
            if dist < best.get(key, np.inf):
                best[key] = float(dist)
    return dict(sorted(best.items()))


def fmp_start_glass(root, name: str, glass, n_atoms: int, time_scale: float, seed: int, comm=None) -> Path:
    """The FMP glass a DeepMD run starts from (``root/fmp/<name>-n<atoms>/final.data``), melt-quenched
    once at ``time_scale``; the stability check and the active-learning loop both take theirs here."""
    folder = Path(root) / "fmp" / f"{name}-n{n_atoms}"
    run_fmp_melt_quench(glass, n_atoms, folder, time_scale=time_scale, seed=seed, comm=comm)
    return folder / FINAL_DATA


def run_stability(models, out, check: StabilityCheck, start_glass, *, comm=None, seed: int = 1,
                  guard: Guard | None = None, compress: bool | None = None, zbl_core=None) -> dict[str, dict]:
    """Run ``check`` with ``models`` (paths; the first drives the MD) into ``out``; every rank calls it.

    ``start_glass(name, atoms) -> Path`` gives each glass's starting LAMMPS data file. Returns, per
    glass, ``stopped`` (a guard stop), the steps and ps run, the wall time of the last sitting (its steps
    in ``sitting_steps``, its MPI ranks and OpenMP threads), the driving model's sha256, how often the
    guard looked, and, for runs that finished, the closest approach per element pair over the
    ``closest_frames`` frames dumped at the guard's checks (runs started before commit e7d2941 dump
    51, every 1/50 of the run), next to the guard's limits."""
    comm = comm or mpi_comm()
    out = Path(out)
    schedule = check.schedule()
    commands_for, guard = guarded_potential(None, [Path(m) for m in models], guard, zbl_core, compress)
    # what a glass's result belongs to: a rerun with other models or settings must not read it back
    request = {"models": [str(Path(m).resolve()) for m in models], "temperature_K": check.temperature_K,
               "simulated_ps": schedule.total_ps, "atoms": check.atoms, "seed": int(seed),
               "guard_limits_A": {f"{a}-{b}": v for (a, b), v in guard.table().items()},  # the verdict's rule
               "guard_confirm_ps": guard.confirm_ps, "guard_floor_fraction": guard.floor_fraction}
    wall = wall_of(models[0])
    if wall is not None:  # the driving model's wall is part of it (only recorded when there is one)
        request["pair_wall"] = wall.to_dict()["terms"]
    commands_for(out)  # a missing model file stops here, before any start glass is made
    # how the verdict was reached, kept beside the request (not in it, so finished runs still read back)
    how = {"model_sha256": file_sha256(models[0]), "guard_every_ps": check_interval_ps(guard, schedule.total_ps)}
    results = {}
    for name in check.glasses:
        folder = (out / name).resolve()
        done = read_json(folder / RESULT_FILE) if comm.Get_rank() == 0 else None
        done = comm.bcast(done, root=0)
        if done is not None and portable_request(done.get("request")) != portable_request(request):
            if "request" not in done:
                what = "was written by an earlier pylbs, which did not record its models and settings"
            else:
                old, new = portable_request(done["request"]), portable_request(request)
                keys = differing_keys(old, new)
                what = (f"holds a run of other models or settings: {', '.join(keys)} differ (recorded: "
                        + "; ".join(f"{k} = {old.get(k, 'not recorded')}" for k in keys) + ")")
            raise PylbsError(f"{folder} {what}; give another --out, or remove {folder} to run it again")
        if done is not None and "model_sha256" not in done:
            done = on_rank0(comm, lambda done=done, folder=folder: _recorded_after_the_run(folder, done, how))
        if done is None:
            start = start_glass(name, check.atoms)
            resumed = resume_progress(folder, comm)
            step0 = int(resumed["step"]) if resumed else 0  # where this sitting starts: a resume's last checkpoint
            # a frame at every guard check; a resumed run keeps the interval it started with (Session refuses
            # another), so a run begun when frames were dumped every 1/50 of the run still resumes
            dump_ps = ((resumed or {}).get("request") or {}).get("dump_every_ps") or how["guard_every_ps"]
            t0 = time.perf_counter()
            try:
                md = run_guarded_md(folder, schedule, commands_for, guard, len(models), comm,
                               structure=start, seed=seed, thermo_every=max(10, schedule.n_steps() // 500),
                               dump_every_ps=dump_ps, prepare=(),
                               label=f"stability {name} {check.temperature_K:g} K")
                done = {"stopped": False, "steps": schedule.n_steps(), "ps": schedule.total_ps,
                        "sitting_steps": md["steps_this_call"]}
            except UnphysicalEventError as exc:
                what = str(exc).splitlines()[0].split(" The MLP left")[0]  # the event, without the advice
                done = {"stopped": True, "step": exc.step, "ps": exc.step * schedule.total_ps / schedule.n_steps(),
                        "why": what, "frames_file": exc.frames_file, "sitting_steps": exc.step - step0}
            except SimulationError as exc:
                if not is_blow_up(str(exc)):  # blown up between two guard checks: a stop of that glass
                    raise  # a bad command, a missing file, a full disk: not the model's verdict, never kept
                done = {"stopped": True, "step": None, "ps": None, "why": f"LAMMPS stopped: {str(exc).splitlines()[0]}",
                        "frames_file": None, "sitting_steps": None}
            done["wall_s"] = time.perf_counter() - t0  # this sitting's: a resumed run's earlier ones are not in it
            threads = os.environ.get("OMP_NUM_THREADS", "")  # pylbs.lammps_env sets 1 where the user set none
            done.update(how, ranks=comm.Get_size(), omp_threads=int(threads) if threads.isdigit() else None,
                        request=request)

            def measure(done=done, folder=folder):
                contacts = folder / GUARD_DIR / CONTACTS_FILE
                done["contacts"] = read_json(contacts)["contacts"] if contacts.exists() else []
                if not done["stopped"]:
                    traj = read_trajectory(folder / TRAJECTORY_FILE, unwrap=False)
                    done["closest_A"] = closest_approach(traj.atoms(k) for k in range(len(traj.steps)))
                    done["closest_frames"] = len(traj.steps)  # dumped at each guard check: not every step
                    done["guard_limits_A"] = {f"{a}-{b}": v for (a, b), v in guard.table().items()}
                write_json_atomic(folder / RESULT_FILE, done)
                return done
            done = on_rank0(comm, measure)
        results[name] = done
    return results


def _recorded_after_the_run(folder: Path, done: dict, how: dict) -> dict:
    """A glass finished by a pylbs that did not yet record the model's sha256, the guard's interval, the
    ranks, the last sitting's steps or the frame count: each taken from the run's own files where they
    prove it, and listed in ``recorded_after_the_run``. The sha256 is the model's only when every
    ``pair_style`` line of the run's log names its compressed copy, whose name carries that sha256's
    first 12 digits; the guard's interval is the length of the log's MD chunks (a check ends each); ranks
    and threads are LAMMPS's own count (OMP_NUM_THREADS, which pylbs.lammps_env sets to 1 where unset)."""
    log = folder / "log.lammps"
    text = log.read_text(errors="replace") if log.is_file() else ""
    styles = re.findall(r"^pair_style .*$", text, re.M)
    filled = []
    if styles and all(f".compressed-{how['model_sha256'][:12]}." in line for line in styles):
        done["model_sha256"] = how["model_sha256"]
        filled.append("model_sha256 (log.lammps names the model's compressed copy)")
    tasks = re.findall(r"CPU use with (\d+) MPI tasks x (\d+) OpenMP threads", text)
    if tasks and "ranks" not in done:
        done["ranks"], done["omp_threads"] = (int(x) for x in tasks[-1])
        filled.append("ranks and omp_threads (log.lammps, last sitting)")
    chunks = [int(n) for n in _LOOP_LINE.findall(text)]
    timestep = re.findall(r"^timestep (\S+)", text, re.M)
    if "guard_every_ps" not in done and chunks and timestep:
        done["guard_every_ps"] = round(max(set(chunks), key=chunks.count) * float(timestep[-1]), 9)
        filled.append("guard_every_ps (log.lammps: its MD chunks, a guard check after each)")
    if not done.get("stopped") and "sitting_steps" not in done and styles:
        starts = [m.start() for m in re.finditer(r"^(units|read_restart) ", text, re.M)]  # each sitting's first
        sitting = text[starts[-1]:] if starts else text
        done["sitting_steps"] = sum(int(n) for n in _LOOP_LINE.findall(sitting))
        filled.append("sitting_steps (log.lammps, the steps run in its last sitting)")
    if "closest_A" in done and "closest_frames" not in done and (folder / TRAJECTORY_FILE).is_file():
        done["closest_frames"] = len(read_trajectory(folder / TRAJECTORY_FILE, unwrap=False).steps)
        filled.append("closest_frames (the trajectory)")
    if filled:
        done["recorded_after_the_run"] = done.get("recorded_after_the_run", []) + filled
        write_json_atomic(folder / RESULT_FILE, done)
    return done


def summary_lines(results: dict[str, dict]) -> list[str]:
    """One line per glass, then the count of guard stops."""
    lines = []
    for name, r in results.items():
        contacts = r.get("contacts", [])
        seen = "" if not contacts else "; contacts that cleared: " + ", ".join(
            f"{'-'.join(c['elements'])} {c['closest_A']:.3f}" for c in contacts)
        if r["stopped"]:
            at = "" if r.get("ps") is None else f" at {r['ps']:.2f} ps"
            lines.append(f"{name:<14} STOPPED{at}: {r['why']}{seen}")
        else:
            close = ", ".join(f"{k} {v:.2f}" for k, v in r.get("closest_A", {}).items())
            lines.append(f"{name:<14} {r['ps']:.2f} ps, no guard stop ({r['wall_s']:.0f} s); closest (A): {close}{seen}")
    stops = sum(r["stopped"] for r in results.values())
    n_contacts = sum(len(r.get("contacts", [])) for r in results.values())
    lines.append(f"guard stops: {stops} of {len(results)} glasses; contacts under a limit that cleared: {n_contacts}")
    return lines
