"""The LAMMPS session layer every pylbs protocol runs through.

A :class:`Session` owns one LAMMPS instance (created by
:func:`pylbs.lammps_env.start_lammps`) and adds what a long melt-quench needs:

* errors: a failing command raises :class:`~pylbs.errors.SimulationError` with the
  last lines of the LAMMPS log and a message naming the fix (lost atoms, PPPM
  out-of-range atoms, temperature/energy blow-up);
* checkpoints: :meth:`Session.run_schedule` runs a :class:`~pylbs.protocol.Schedule`
  in chunks, writes a restart file after every chunk (two alternating files, so
  a kill during a write never destroys the last good one) and ``progress.json``;
  a run started again with the same work folder continues from the last restart
  and skips finished stages;
* output: ``thermo.dat`` (step time temp pe ke etotal press vol, read with
  :func:`read_thermo`) and ``trajectory.lammpstrj`` (``dump custom id type x y z
  ix iy iz``).

The potential is an input: a list of LAMMPS commands, or a callable returning
one (``pylbs.potential.fmp_commands``, a DeepMD ``pair_style deepmd`` pair, or
plain ``buck/coul/long``), so protocols do not depend on the force field.

MPI: every rank runs LAMMPS; only rank 0 writes JSON, data and text files.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import PylbsError, SimulationError
from .glasses import TYPE_MAP
from .protocol import TDAMP_PS, TIMESTEP_PS, Schedule, stage_commands

PotentialSpec = Sequence[str] | Callable[[], Sequence[str]]

THERMO_COLUMNS = ("step", "time", "temp", "pe", "ke", "etotal", "press", "vol")
PROGRESS_FILE = "progress.json"
THERMO_FILE = "thermo.dat"
TRAJECTORY_FILE = "trajectory.lammpstrj"
LOG_FILE = "log.lammps"
RESTART_FILES = ("restart.a", "restart.b")
#: Any two atoms closer than this (Angstrom) in a structure given to setup() are an
#: input error: no potential here survives them (the first MD step would blow up).
OVERLAP_FLOOR_A = 0.5

#: Styles LAMMPS has built in need no check; these come from plugins and are
#: checked with has_style when a potential names them.
_PLUGIN_PAIR_STYLES = ("fmp/lbs", "deepmd")

_FIX_LOST = ("use a smaller time step (timestep_ps), check the initial structure for overlapping "
             "atoms (pylbs.structure.check_overlaps) or start at a lower temperature")


def potential_commands(potential: PotentialSpec) -> list[str]:
    """The list of LAMMPS commands of a potential given as a list or a callable."""
    cmds = potential() if callable(potential) else potential
    if isinstance(cmds, str):
        cmds = cmds.splitlines()
    cmds = [c.strip() for c in cmds if c and c.strip()]
    if not any(c.split()[0] == "pair_style" for c in cmds):
        raise PylbsError(f"potential commands {cmds} have no pair_style line; give the pair_style/pair_coeff "
                         "(and kspace_style) commands of the force field")
    return cmds


def required_styles(commands: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(category, style) pairs a potential needs from plugins (fmp/lbs, deepmd)."""
    req = []
    for c in commands:
        tok = c.split()
        if tok[0] == "pair_style":
            for style in tok[1:]:
                if style in _PLUGIN_PAIR_STYLES and ("pair", style) not in req:
                    req.append(("pair", style))
    return tuple(req)


def _tail(path: Path, n: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200 * n))
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return ""


def _explain(lammps_message: str) -> str:
    """One sentence naming what happened and the fix, from a LAMMPS error text."""
    m = lammps_message
    if "Lost atoms" in m:
        return f"LAMMPS lost atoms (they moved too far in one step): {_FIX_LOST}"
    if "Out of range atoms" in m or "cannot compute PPPM" in m:
        return f"atoms left the PPPM grid range, the system blew up: {_FIX_LOST}"
    if "Fix halt condition" in m or "pylbs_halt" in m:
        return f"temperature exceeded the blow-up bound, the system blew up: {_FIX_LOST}"
    if "Unrecognized pair style" in m:
        return "the pair style is not available in this LAMMPS; check the plugin is built (make plugin)"
    if "not found in the model" in m:
        return ("type-map mismatch: the DeepMD model lacks an element of the box; pylbs maps LAMMPS types "
                f"1..{len(TYPE_MAP)} to {' '.join(TYPE_MAP)}, so train the model with that type_map "
                "(pylbs.mlp.train does)")
    return "LAMMPS stopped with an error; see the log tail below"


class Session:
    """One LAMMPS instance with pylbs error handling, MPI awareness and checkpoints.

    Use as a context manager::

        with Session(workdir, require=required_styles(cmds)) as s:
            s.setup(atoms=atoms, potential=cmds)
            s.command("run 100")

    ``workdir``: folder for ``log.lammps`` and outputs (created). ``log_append``:
    keep an existing log (resumed runs).
    """

    def __init__(self, workdir: str | os.PathLike = ".", *, comm=None, require=(), log: str = LOG_FILE,
                 log_append: bool = False, screen: bool = False):
        from .lammps_env import mpi_comm, start_lammps

        self.workdir = Path(workdir).resolve()
        self.comm = comm if comm is not None else mpi_comm()
        self.rank = self.comm.Get_rank()
        if self.rank == 0:
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.comm.Barrier()
        self.log_path = self.workdir / log
        # the log is opened by a command so a resumed run can append to it
        self.lmp = start_lammps(log=None, screen=screen, comm=self.comm, require=tuple(require))
        self.command(f"log {self.log_path}{' append' if log_append else ''}")
        self.natoms = 0

    # -- basic commands -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if getattr(self, "lmp", None) is not None:
            self.lmp.close()
            self.lmp = None

    def command(self, cmd: str) -> None:
        """Run one LAMMPS command; a failure raises SimulationError with the log tail."""
        try:
            self.lmp.command(cmd)
        except Exception as exc:  # LAMMPS raises a bare Exception
            text = str(exc).strip()
            raise SimulationError(f"{_explain(text)}. Command: `{cmd}`. LAMMPS said: {text.splitlines()[0] if text else '?'}",
                                  log_tail=_tail(self.log_path)) from None

    def commands(self, cmds: Sequence[str]) -> None:
        for c in cmds:
            self.command(c)

    def thermo(self, keyword: str) -> float:
        """Current value of a thermo keyword (temp, pe, ...), computed on demand."""
        return float(self.lmp.get_thermo(keyword))

    def barrier(self):
        self.comm.Barrier()

    # -- setup ----------------------------------------------------------
    def setup(self, *, potential: PotentialSpec, data_file=None, atoms=None, restart_file=None,
              timestep_ps: float = TIMESTEP_PS, thermo_every: int = 100, neighbor_skin: float = 2.0) -> None:
        """Define the system from one of ``data_file``, ``atoms`` (ase.Atoms) or ``restart_file``.

        Then issue the potential commands, the time step and the thermo settings
        (``thermo_modify lost error``: a lost atom stops the run).
        """
        given = [x is not None for x in (data_file, atoms, restart_file)]
        if sum(given) != 1:
            raise PylbsError("give exactly one of data_file, atoms or restart_file to Session.setup")
        if atoms is not None:
            from .structure import write_lammps_data

            data_file = self.workdir / "initial.data"
            if self.rank == 0:
                write_lammps_data(atoms, data_file)
            self.barrier()
        if restart_file is not None:
            self.command(f"read_restart {restart_file}")
        else:
            if not Path(data_file).exists():
                raise PylbsError(f"data file {data_file} does not exist; build one with `pylbs build` "
                                 "or pylbs.structure.write_lammps_data")
            self._check_overlaps(data_file)
            self.commands(["units metal", "atom_style charge", "boundary p p p", "atom_modify map array",
                           f"read_data {data_file}"])
        ntypes = int(self.lmp.extract_global("ntypes"))
        if ntypes != len(TYPE_MAP):
            raise PylbsError(f"the data declares {ntypes} atom types, pylbs needs {len(TYPE_MAP)} ({' '.join(TYPE_MAP)}); "
                             "write it with pylbs.structure.write_lammps_data")
        self.commands(potential_commands(potential))
        self.natoms = int(self.lmp.get_natoms())
        self.commands([
            f"neighbor {neighbor_skin:g} bin",
            "neigh_modify every 1 delay 0 check yes",
            f"timestep {timestep_ps:g}",
            "thermo_style custom " + " ".join(THERMO_COLUMNS),
            "thermo_modify lost error flush yes",
            f"thermo {int(thermo_every)}",
        ])

    def _check_overlaps(self, data_file) -> None:
        """Refuse a structure with overlapping atoms before LAMMPS turns it into a blow-up."""
        from .structure import check_overlaps, read_lammps_data

        error = None
        if self.rank == 0:
            try:
                check_overlaps(read_lammps_data(data_file), OVERLAP_FLOOR_A)
            except PylbsError as exc:
                error = f"{data_file}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error:
            from .errors import StructureError

            raise StructureError(error)

    # -- schedule -------------------------------------------------------
    def run_schedule(self, schedule: Schedule, *, potential: PotentialSpec, data_file=None, atoms=None,
                     seed: int = 1, timestep_ps: float = TIMESTEP_PS, tdamp_ps: float = TDAMP_PS,
                     restart_every_ps: float = 10.0, thermo_every: int = 100, dump_every_ps: float | None = 1.0,
                     prepare: Sequence[str] = (), t_bound_K: float | None = None,
                     pe_bound_eV_per_atom: float = 1000.0,
                     check: Callable[["Session", int], None] | None = None) -> dict:
        """Run ``schedule`` stage by stage with checkpoints in ``self.workdir``; resume if possible.

        Fresh start: read ``data_file``/``atoms``, run ``prepare`` commands (e.g. a
        minimisation), create velocities at the first stage's start
        temperature (``seed``). Every ``restart_every_ps`` a restart file and
        ``progress.json`` are written. If ``progress.json`` exists (a previous run
        of the same schedule in this folder), the last restart is read instead,
        finished stages are skipped and the interrupted one continues with its
        temperature ramp intact (``run N start S stop E``).

        A temperature above ``t_bound_K`` (default 10x the hottest stage, at least
        10,000 K), a non-finite or ``|pe|`` above ``pe_bound_eV_per_atom`` raises
        SimulationError; the restarts written so far are kept.
        ``check(session, step)``, if given, runs on every rank after every chunk
        and before its checkpoint: an exception it raises stops the run with
        ``progress.json`` still pointing at the last good restart (used by the
        MLP guard, pylbs.mlp_quench).
        Returns a dict: steps, resumed (bool), stages_run, stages_skipped, wall_s.
        """
        wd = self.workdir
        t0 = time.perf_counter()
        bounds = schedule.stage_bounds(timestep_ps)
        total = bounds[-1][1] if bounds else 0
        request = {"schedule": schedule.to_dict(), "timestep_ps": timestep_ps, "seed": int(seed),
                   "natoms_requested": None if atoms is None else len(atoms),
                   "dump_every_ps": dump_every_ps, "thermo_every": thermo_every}
        progress = self._read_progress()
        if progress is not None:
            # a resume must continue the same run: mixing dump/thermo intervals or seeds corrupts the outputs
            # (keys absent from an older progress file are not compared)
            before = progress.get("request", {})
            changed = [k for k in ("schedule", "timestep_ps", "seed", "dump_every_ps", "thermo_every")
                       if k in before and before[k] != request[k]]
            if changed:
                raise PylbsError(f"{wd / PROGRESS_FILE} belongs to a run with a different {', '.join(changed)}; "
                                 "use a new work folder, or delete that folder to start over")
        resumed = progress is not None
        every_step = max(1, int(round(restart_every_ps / timestep_ps)))
        dump_every = None if dump_every_ps is None else max(1, int(round(dump_every_ps / timestep_ps)))

        if resumed:
            step0 = int(progress["step"])
            restart = wd / progress["restart"]
            if self.rank == 0:
                _truncate_thermo(wd / THERMO_FILE, step0 - 1)  # fix ave/time writes step0 again
                _truncate_dump(wd / TRAJECTORY_FILE, step0)
            self.barrier()
            self.setup(potential=potential, restart_file=restart, timestep_ps=timestep_ps, thermo_every=thermo_every)
        else:
            step0 = 0
            if self.rank == 0:
                for name in (THERMO_FILE, TRAJECTORY_FILE):
                    (wd / name).unlink(missing_ok=True)
            self.barrier()
            self.setup(potential=potential, data_file=data_file, atoms=atoms, timestep_ps=timestep_ps,
                       thermo_every=thermo_every)
            self.commands(list(prepare))
            self.command("reset_timestep 0")
            if schedule.stages:
                self.command(f"velocity all create {schedule.stages[0].t_start:g} {int(seed)} "
                             "mom yes rot yes dist gaussian loop geom")
        # thermo file, blow-up guard, trajectory
        t_bound = t_bound_K or max(10_000.0, 10 * max((max(s.t_start, s.t_end) for s in schedule.stages), default=0))
        names = [f"pylbs_{c}" for c in THERMO_COLUMNS]
        self.commands([f"variable {n} equal {c}" for n, c in zip(names, THERMO_COLUMNS)])
        # fix ave/time (not fix print): it does not repeat the first step of every chunk's run
        self.command(f"fix pylbs_thermo all ave/time 1 1 {int(thermo_every)} "
                     + " ".join(f"v_{n}" for n in names[1:]) + f' append {wd / THERMO_FILE} format " %.10g"')
        # fix halt stops a run the moment T passes the bound instead of at the chunk end
        self.command(f"fix pylbs_halt all halt {int(thermo_every)} v_pylbs_temp > {t_bound:g} error hard")
        if dump_every:
            self.command(f"dump pylbs_traj all custom {dump_every} {wd / TRAJECTORY_FILE} id type x y z ix iy iz")
            self.command("dump_modify pylbs_traj sort id append yes")
            if resumed:  # the frame at the restart step is already in the file
                self.command(f"dump_modify pylbs_traj delay {step0 + 1}")

        stages_run, stages_skipped = [], []
        step = step0
        for k, (stage, (a, b)) in enumerate(zip(schedule.stages, bounds)):
            if step >= b:  # finished before (or zero length)
                stages_skipped.append(stage.name)
                continue
            if dump_every and stage.dump_every_ps:
                self.command(f"dump_modify pylbs_traj every {max(1, int(round(stage.dump_every_ps / timestep_ps)))}")
            # the thermostat fix lives for the whole stage (its Nose-Hoover state must not be reset at
            # every chunk; write_restart stores it, so a resumed run continues it too); one run per chunk
            first_chunk = True
            while True:
                last = min(b, (step // every_step + 1) * every_step)
                cmds = stage_commands(stage, timestep_ps, seed, start_step=a, n_steps=b - a,
                                      tdamp_ps=tdamp_ps, chunk=(step, last))
                runs = [c for c in cmds if c.split()[0] == "run"]
                fixes = [c for c in cmds if c.split()[0] == "fix"]
                unfixes = [c for c in cmds if c.split()[0] == "unfix"]
                self.commands((fixes if first_chunk else []) + runs)
                first_chunk = False
                step = last
                self._check_blowup(t_bound, pe_bound_eV_per_atom)
                if check is not None:
                    check(self, step)
                self._checkpoint(step, k, stage.name, request, done=(k == len(bounds) - 1 and step >= b))
                if step >= b:
                    break
            self.commands(unfixes)
            stages_run.append(stage.name)
            if dump_every and stage.dump_every_ps:
                self.command(f"dump_modify pylbs_traj every {dump_every}")
        progress = self._read_progress()
        if progress is None or not progress.get("done"):
            self._checkpoint(step, len(bounds) - 1, "", request, done=True)
        if dump_every:
            self.command("undump pylbs_traj")
        self.commands(["unfix pylbs_thermo", "unfix pylbs_halt"])
        return {"steps": step, "total_steps": total, "steps_this_call": step - step0, "resumed": resumed,
                "stages_run": stages_run, "stages_skipped": stages_skipped, "wall_s": time.perf_counter() - t0}

    def _read_progress(self):
        progress = None
        if self.rank == 0:
            path = self.workdir / PROGRESS_FILE
            if path.exists():
                try:
                    progress = json.loads(path.read_text())
                except json.JSONDecodeError:
                    progress = None  # killed mid-write of the very first checkpoint: start over
                if progress is not None and not (self.workdir / progress.get("restart", "")).is_file():
                    progress = None
        return self.comm.bcast(progress, root=0)

    def _checkpoint(self, step: int, stage_index: int, stage_name: str, request: dict, done: bool):
        """write_restart to the older of two files, then record it in progress.json."""
        prev = self._read_progress()
        name = RESTART_FILES[0] if (prev or {}).get("restart") != RESTART_FILES[0] else RESTART_FILES[1]
        self.command(f"write_restart {self.workdir / name}")
        if self.rank == 0:
            data = {"step": step, "stage_index": stage_index, "stage": stage_name, "restart": name,
                    "done": done, "request": request, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
            tmp = self.workdir / (PROGRESS_FILE + ".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.workdir / PROGRESS_FILE)  # atomic: a kill leaves old or new, never half
        self.barrier()

    def _check_blowup(self, t_bound: float, pe_bound: float):
        temp, pe = self.thermo("temp"), self.thermo("pe")
        n = max(self.natoms, 1)
        if not (math.isfinite(temp) and math.isfinite(pe)) or temp > t_bound or abs(pe) / n > pe_bound:
            raise SimulationError(
                f"the system blew up at step {int(self.thermo('step'))}: T = {temp:g} K, pe = {pe / n:g} eV/atom "
                f"(bounds {t_bound:g} K, {pe_bound:g} eV/atom): {_FIX_LOST}. Restarts written so far are kept "
                f"in {self.workdir}", log_tail=_tail(self.log_path))


def read_thermo(path) -> dict[str, np.ndarray]:
    """Columns of a pylbs ``thermo.dat`` as numpy arrays keyed by THERMO_COLUMNS.

    Repeated steps (possible only if a file was appended to by hand) keep the last row.
    """
    rows = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            vals = [float(x) for x in line.split()]
            rows[int(vals[0])] = vals
    arr = np.array([rows[k] for k in sorted(rows)]) if rows else np.zeros((0, len(THERMO_COLUMNS)))
    return {c: arr[:, i] for i, c in enumerate(THERMO_COLUMNS)}


def dump_steps(path) -> list[int]:
    """Time steps of the frames in a LAMMPS dump file."""
    steps = []
    with open(path) as f:
        prev = ""
        for line in f:
            if prev.startswith("ITEM: TIMESTEP"):
                steps.append(int(line))
            prev = line
    return steps


def _truncate_thermo(path: Path, step: int):
    """Drop thermo rows after ``step`` (they are re-run after a resume)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines(keepends=True)
            if ln.startswith("#") or not ln.strip() or int(float(ln.split()[0])) <= step]
    path.write_text("".join(keep))


def _truncate_dump(path: Path, step: int):
    """Drop dump frames after ``step`` (the resumed run writes them again)."""
    if not path.exists():
        return
    out, cut = [], None
    with open(path) as f:
        lines = f.readlines()
    for i, ln in enumerate(lines):
        if ln.startswith("ITEM: TIMESTEP") and i + 1 < len(lines) and int(lines[i + 1]) > step:
            cut = i
            break
    out = lines if cut is None else lines[:cut]
    path.write_text("".join(out))
