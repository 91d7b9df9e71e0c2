"""The unphysical-event guard of MLP runs: overlapping atoms and disagreeing models stop the run.

After every chunk of ``check_every_ps`` (:meth:`pylbs.session.Session.run_schedule`'s
``check``): (1) no pair of atoms may stay closer than its per-pair limit
(:data:`GUARD_MIN_DISTANCES`); (2) with two or more models, the maximum force
deviation reported by ``pair_style deepmd m1 m2 ... out_freq N out_file F`` must be at
most ``max_devi_f``. If not, the configurations since the last good checkpoint are
written to ``guard/unphysical_step<N>.extxyz`` (for relabelling and retraining), the
event to ``guard/event.json``, and :class:`pylbs.errors.UnphysicalEventError` is raised
before the checkpoint, so ``progress.json`` still names the last good restart: the same
call with a retrained model resumes from it. The paper saw atoms overlap near 2000 K.

An overlap is a state, a collision an event. A pair seen under its limit is a *contact*: the
guard holds the checkpoint (the last good restart stays the one before it) and looks again at
every check; the pair must be back over its limit within ``confirm_ps``, or the run stops. A
contact clears when the pair is over its limit at two checks in a row (or at the run's last);
back under after one check over it, it is the same contact, so a pair held too close that vibrates
across its limit usually stops the run. A pair under
``floor_fraction`` of its limit stops the run at once, and so does a pair still under its limit
at the run's last check. Cleared contacts are kept in ``guard/contacts.json``. Where checks
are further apart than ``confirm_ps`` (0.5 ps in a 100 ps run), a contact's pair seen under its
limit at any later check before it has cleared stops the run. Why: every one of 14 guard stops of 2 ps checks at 2000 K,
replayed past the stop (``scripts/guard_stop_aftermath.py``), was a collision back over its limit
within 1-14 fs, at 0.92-0.98 of the limit at its closest, while the tiny test model's B-O overlap
(the one overlap at hand) stays under and deepens (docs/models.md, "What the stops are"); a
guard that stops on the first sighting stops on whichever collision a check happens to fall
into, and so counts its own sampling. The price: a slow approach that clears within
``confirm_ps`` is a contact, not a stop (two of the 14, O-O and Li-Si at 13-14 fs, were the
model's own softness); the contacts list keeps them in sight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PylbsError, UnphysicalEventError
from ..glasses import TYPE_MAP, element_pair
from ..jsonio import read_json, write_json_atomic
from ..lammps_io import (MODEL_DEVI_COLUMNS, MODEL_DEVI_FILE, MODEL_DEVI_RAW, PROGRESS_FILE, TRAJECTORY_FILE, file_tail,
                         read_model_devi, read_trajectory)
from ..mlp.compress import md_models
from ..mpiutil import on_rank0
from ..potential import deepmd_commands, potential_commands, required_styles, wall_of
from ..session import Session
from .runner import structure_input

GUARD_DIR = "guard"

#: Closest approach (Angstrom) the guard accepts per element pair: about 0.75 of the
#: shortest distance of each pair in oxide glasses (B-O 1.37, Si-O 1.61, Li-O 1.9,
#: O-O 2.3 in BO3/SiO4, B-B 2.4 in 3-rings, Si-Si 3.0) and below the closest
#: approach in FMP-LBS MD of LBS-20-60-20 at 1500 K (B-O 1.24, Si-O 1.47, Li-O 1.63,
#: O-O 2.11, Li-Li 1.72, B-B 2.01 A). A pair closer than this is atoms falling
#: into each other, the failure the paper met near 2000 K.
#: Li-O and Li-Li are 1.30, not 0.75 x 1.9: DFT (PBE and r2SCAN on clusters cut from 2000 K
#: frames, scripts/cluster_contact_check.py) pushes Li-O apart at 1.33 A with 11-12 eV/A and
#: Li-Li at 1.36-1.38 A with 6-7 eV/A: hard collisions a DFT-faithful liquid makes at 2000 K,
#: not overlaps (docs/models.md, "Pair wall"); below 1.30 no contact has been checked.
GUARD_MIN_DISTANCES = {
    ("O", "O"): 1.7, ("B", "O"): 1.0, ("O", "Si"): 1.2, ("Li", "O"): 1.3,
    ("B", "B"): 1.6, ("Si", "Si"): 2.0, ("B", "Si"): 1.8,
    ("Li", "Li"): 1.3, ("B", "Li"): 1.5, ("Li", "Si"): 1.7,
}

#: A contact must clear within this (ps): the longest collision measured under a limit took 14 fs.
DEFAULT_CONFIRM_PS = 0.02
#: A pair under this fraction of its limit is an overlap at once: the closest turn of the measured
#: collisions was 0.92 of its limit (Li-Li 1.194 A under 1.30 A).
DEFAULT_FLOOR_FRACTION = 0.8

#: Default stop threshold on the maximum force deviation (eV/A) between models.
#: DP-GEN style workflows treat > 0.3-0.5 eV/A as configurations the model does
#: not know; above 0.5 eV/A the trajectory itself is no longer trustworthy.
DEFAULT_MAX_DEVI_F = 0.5


@dataclass
class Guard:
    """Stop an MLP run on overlapping atoms or disagreeing models (see the module docstring).

    ``min_distances``: per element pair (Angstrom), merged over
    :data:`GUARD_MIN_DISTANCES`; ``max_devi_f``: eV/A (None: not checked; only
    used with two or more models); ``out_freq``: steps between model-deviation
    lines; ``check_every_ps``: guard (and checkpoint) interval, None = about
    1/200 of the schedule; ``confirm_ps``: how long a contact may stay under its
    limit (0: a pair under its limit at any check stops the run);
    ``floor_fraction``: under this fraction of its limit a pair stops the run at once.
    """

    min_distances: Mapping = field(default_factory=dict)
    max_devi_f: float | None = DEFAULT_MAX_DEVI_F
    out_freq: int = 100
    check_every_ps: float | None = None
    confirm_ps: float = DEFAULT_CONFIRM_PS
    floor_fraction: float = DEFAULT_FLOOR_FRACTION

    def __post_init__(self):
        if self.confirm_ps < 0 or not 0 < self.floor_fraction <= 1:
            raise PylbsError(f"guard: confirm_ps must be >= 0 (got {self.confirm_ps}) and floor_fraction in (0, 1] "
                             f"(got {self.floor_fraction})")

    def table(self) -> dict[tuple[str, str], float]:
        """Closest approach per element pair (keys sorted alphabetically, as closest_pairs looks them up)."""
        out = {tuple(sorted(k)): float(v) for k, v in GUARD_MIN_DISTANCES.items()}
        for key, v in dict(self.min_distances).items():
            out[tuple(sorted(element_pair(key)))] = float(v)
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["min_distances"] = {f"{a}-{b}": v for (a, b), v in self.table().items()}
        return d


def closest_pairs(positions, cell, symbols, table: Mapping[tuple[str, str], float]):
    """Pairs closer than their threshold: list of (i, j, d, limit), closest first (periodic cell)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    table = {tuple(sorted(k)): v for k, v in table.items()}  # looked up sorted: ("Si", "O") finds Si-O too
    atoms = Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=True)
    i, j, d = neighbor_list("ijd", atoms, max(table.values()))
    keep = i < j
    i, j, d = i[keep], j[keep], d[keep]
    sym = np.asarray(symbols)
    limit = np.array([table.get(tuple(sorted((a, b))), 0.0) for a, b in zip(sym[i], sym[j])])
    bad = np.flatnonzero(d < limit)
    bad = bad[np.argsort(d[bad])]
    return [(int(i[k]), int(j[k]), float(d[k]), float(limit[k])) for k in bad]


CONTACTS_FILE = "contacts.json"


class GuardRun:
    """The guard's state for one replica run: called by Session.run_schedule after every chunk."""

    def __init__(self, guard: Guard, workdir: Path, n_models: int, last_good_step: int):
        self.guard, self.workdir, self.n_models = guard, workdir, n_models
        self.table = guard.table()
        self.last_good = last_good_step
        # model deviation lines up to here are in model_devi.dat (a fresh run also keeps step 0)
        self.devi_checked = last_good_step if last_good_step > 0 else -1
        self.open: dict[tuple[int, int], dict] = {}  # contacts not cleared yet (rank 0)
        self.n_under = 0  # pairs under their limit at the last check

    def start(self, rank: int):
        """Keep model_devi.dat and contacts.json up to the resume step (the resumed run writes the rest again)."""
        path = self.workdir / MODEL_DEVI_FILE
        if rank == 0 and self.n_models > 1:
            lines = path.read_text().splitlines(keepends=True) if path.exists() else []
            head = "# " + " ".join(MODEL_DEVI_COLUMNS) + "  (force deviation in eV/A)\n"
            keep = [ln for ln in lines if not ln.startswith("#") and ln.strip()
                    and int(float(ln.split()[0])) <= self.last_good]
            path.write_text(head + "".join(keep))
        contacts = self.workdir / GUARD_DIR / CONTACTS_FILE
        if rank == 0 and contacts.exists():
            kept = [c for c in read_json(contacts)["contacts"] if c["cleared_step"] <= self.last_good]
            self._write_contacts(kept)

    def __call__(self, session, step: int, final: bool = False) -> bool:
        """Judge the state at ``step``; raise on an overlap or a model disagreement. Returns True while a
        contact is open: the Session then keeps its last checkpoint (the one before the contact)."""
        x = np.asarray(session.lmp.gather_atoms("x", 1, 3), dtype=float)  # collective, ordered by id
        types = np.asarray(session.lmp.gather_atoms("type", 0, 1), dtype=int)
        boxlo, boxhi, xy, yz, xz, _, _ = session.lmp.extract_box()
        dt_ps = float(session.lmp.extract_global("dt"))

        def judge():
            verdict = None
            lo, hi = np.array(boxlo), np.array(boxhi)
            cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
            symbols = [TYPE_MAP[t - 1] for t in types]
            pos = x.reshape(-1, 3) - lo
            overlap = self._follow_contacts(closest_pairs(pos, cell, symbols, self.table), step, dt_ps, final, symbols)
            devi = self._new_devi(step)
            max_f = float(devi["max_devi_f"].max()) if len(devi["step"]) else None
            if overlap is not None:
                i, j, d, lim, why = overlap
                verdict = {"kind": "overlap", "step": step, "n_pairs": self.n_under, "rule": why,
                           "closest": {"atoms": [i + 1, j + 1], "elements": [symbols[i], symbols[j]],
                                       "distance_A": d, "threshold_A": lim},
                           "what": f"atoms {i + 1} ({symbols[i]}) and {j + 1} ({symbols[j]}) at {d:.3f} A, under "
                                   f"the guard's {lim:.2f} A: {why}"}
            elif (self.guard.max_devi_f is not None and max_f is not None and max_f > self.guard.max_devi_f):
                k = int(np.argmax(devi["max_devi_f"]))
                verdict = {"kind": "model_deviation", "step": step, "devi_step": int(devi["step"][k]),
                           "max_devi_f": max_f, "threshold": self.guard.max_devi_f,
                           "what": f"the models' maximum force deviation reached {max_f:.3g} eV/A at step "
                                   f"{int(devi['step'][k])} (threshold {self.guard.max_devi_f:g} eV/A)"}
            if verdict is not None:
                verdict["last_good_step"] = self.last_good
                verdict["frames_file"] = str(self._save_frames(step, pos, cell, symbols, verdict))
                write_json_atomic(self.workdir / GUARD_DIR / "event.json", verdict)
            return verdict, bool(self.open)

        verdict, hold = on_rank0(session.comm, judge)
        if verdict is not None:
            raise UnphysicalEventError(
                f"unphysical event at step {step} in {self.workdir}: {verdict['what']}. The MLP left the region it "
                f"was trained on. What to do: lower T_max (--t-max, starts a new run folder), or add the saved "
                f"frames {verdict['frames_file']} (relabelled by DFT/FMP) to the training data, retrain, and re-run "
                f"the same command with the new model (--mlp NEW.pth): it resumes from the last good restart "
                f"(step {self.last_good}).", log_tail=file_tail(session.log_path),
                step=step, frames_file=verdict["frames_file"], last_good_step=self.last_good)
        if not hold:
            self.last_good = step  # Session writes the checkpoint right after this returns
        return hold

    def _follow_contacts(self, bad, step: int, dt_ps: float, final: bool, symbols):
        """Update the open contacts with this check's pairs under their limits (rank 0). Returns
        (i, j, d, limit, why) of an overlap, or None: a pair under the floor, a contact open for
        ``confirm_ps`` or more, any contact still under its limit at the run's last check, or any pair at
        all when ``confirm_ps`` is 0 (the strict rule). A contact clears when its pair is over the limit
        at two checks in a row (or at the last one): a pair held too close that vibrates across its limit
        is one contact that lasts, not many short ones."""
        g = self.guard
        self.n_under = len(bad)
        for i, j, d, lim in bad:  # closest first
            if d < g.floor_fraction * lim:
                return i, j, d, lim, f"under {g.floor_fraction:g} of the limit"
        if bad and g.confirm_ps == 0:
            return (*bad[0], "under the limit at a check (strict rule, confirm_ps = 0)")
        now = {(i, j): (d, lim) for i, j, d, lim in bad}
        done = []
        for key, c in list(self.open.items()):
            if key in now:
                c.pop("over_at", None)  # back under after one check over it: the same contact goes on
            elif "over_at" in c or final:
                done.append({**self.open.pop(key), "cleared_step": c.get("over_at", step)})
            else:
                c["over_at"] = step
        for (i, j), (d, lim) in now.items():
            c = self.open.setdefault((i, j), {"atoms": [i + 1, j + 1], "elements": [symbols[i], symbols[j]],
                                              "threshold_A": lim, "first_step": step, "checks": 0,
                                              "closest_A": d})
            c["checks"] += 1
            c["closest_A"] = min(c["closest_A"], d)
        if done:
            path = self.workdir / GUARD_DIR / CONTACTS_FILE
            old = read_json(path)["contacts"] if path.exists() else []
            for c in done:
                c.pop("over_at", None)
            self._write_contacts(old + done)
        for i, j, d, lim in bad:  # closest first
            c = self.open[(i, j)]
            under_ps = (step - c["first_step"]) * dt_ps
            if under_ps >= g.confirm_ps - 1e-12:
                return i, j, d, lim, (f"still under the limit {under_ps * 1000:.0f} fs after it was first seen there "
                                      f"(step {c['first_step']}); a collision clears within {g.confirm_ps * 1000:.0f} fs")
        if final and bad:
            return (*bad[0], "under the limit at the run's last check")
        return None

    def _write_contacts(self, contacts: list[dict]):
        out = self.workdir / GUARD_DIR
        out.mkdir(exist_ok=True)
        write_json_atomic(out / CONTACTS_FILE, {
            "what": "pairs seen under the guard's limit that were back over it at a later check (a collision, "
                    "not an overlap); steps are MD steps, closest_A the closest seen at a check",
            "confirm_ps": self.guard.confirm_ps, "contacts": contacts})

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
        frames = []
        if (self.workdir / TRAJECTORY_FILE).exists():
            traj = read_trajectory(self.workdir / TRAJECTORY_FILE, unwrap=False)
            frames = [traj.atoms(k) for k, s in enumerate(traj.steps) if self.last_good < s < step]
        current = Atoms(symbols=symbols, positions=pos, cell=cell, pbc=True)
        current.info.update({"step": int(step), "event": verdict["kind"]})
        frames.append(current)
        path = out / f"unphysical_step{step}.extxyz"
        write(path, frames, format="extxyz", parallel=False)  # rank 0 only: no ASE broadcast
        return path


# ----------------------------------------------------------------- guarding any protocol

def guarded_potential(potential, models, guard: Guard | None, zbl_core=None, compress: bool | None = None):
    """(commands for a run folder, guard or None): DeepMD ``models`` get the unphysical-event
    guard by default (model deviation through deepmd's out_file in that folder); a given
    command list runs as it is, guarded only when a ``guard`` is given (closest approach).
    ``commands(folder)`` names the models as given (a run's request); ``commands(folder, comm)``,
    inside the run, their compressed copies where deepmd-kit can make them (:mod:`pylbs.mlp.compress`)."""
    if models:
        guard = guard or Guard()
        wall = wall_of(models[0])  # the driving model's own wall, found beside the model as given

        def commands(folder: Path, comm=None):
            used = models if comm is None else [m["md_model"] for m in md_models(models, comm, compress)]
            return potential_commands(deepmd_commands(used, guard.out_freq, folder / MODEL_DEVI_RAW,
                                                      zbl_core=zbl_core, wall=wall))
        return commands, guard
    if potential is None:
        raise PylbsError("give a potential (LAMMPS commands) or DeepMD models")
    fixed = potential_commands(potential)
    return (lambda folder, comm=None: fixed), guard


def resume_progress(folder: Path, comm) -> dict | None:
    """The checkpoint record (progress.json) a run in ``folder`` resumes from, None where it starts
    afresh (no record, or its restart file is gone, as Session decides); every rank must call it."""
    progress = read_json(Path(folder) / PROGRESS_FILE) if comm.Get_rank() == 0 else None
    progress = comm.bcast(progress, root=0)
    return progress if progress and (Path(folder) / progress.get("restart", "")).is_file() else None


def resume_step(folder: Path, comm) -> int:
    """The step a run in ``folder`` starts from: its last checkpoint, else 0 (every rank must call it)."""
    progress = resume_progress(folder, comm)
    return int(progress["step"]) if progress else 0


def guard_check(guard: Guard | None, folder: Path, n_models: int, comm) -> GuardRun | None:
    """The Session ``check`` of a guarded run in ``folder`` (None without a guard), resumed at the
    folder's last good checkpoint; every rank must call it."""
    if guard is None:
        return None
    check = GuardRun(guard, folder, n_models, resume_step(folder, comm))
    if comm.Get_rank() == 0:
        folder.mkdir(parents=True, exist_ok=True)
    check.start(comm.Get_rank())
    comm.Barrier()
    return check


def check_interval_ps(guard: Guard | None, total_ps: float) -> float:
    """Checkpoint interval: a guarded run is checked (and checkpointed) ~200 times, others ~20."""
    if guard is None:
        return max(1.0, total_ps / 20)
    return guard.check_every_ps or max(0.01, total_ps / 200)


def run_guarded_md(folder: Path, schedule, commands_for, guard: Guard | None, n_models: int, comm, *, structure,
                   seed: int, thermo_every: int, dump_every_ps, prepare, label: str) -> dict:
    """One Session in ``folder`` running ``schedule`` from ``structure`` with the potential of
    ``commands_for(folder, comm)``, checked by the guard at every restart (none for FMP): the Tg heating
    runs and the diffusion runs. Returns Session.run_schedule's record plus ``n_atoms``."""
    folder = Path(folder).resolve()
    commands = commands_for(folder, comm)
    with Session(folder, comm=comm, require=required_styles(commands), log_append=True, label=label) as session:
        md = session.run_schedule(schedule, potential=commands, seed=seed, thermo_every=thermo_every,
                                  restart_every_ps=check_interval_ps(guard, schedule.total_ps),
                                  dump_every_ps=dump_every_ps, prepare=prepare,
                                  check=guard_check(guard, folder, n_models, comm), **structure_input(structure))
        md["n_atoms"] = session.natoms
    md["potential_commands"] = commands  # with the compressed models where they ran
    return md
