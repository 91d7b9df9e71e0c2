"""The LAMMPS session layer every pylbs protocol runs through.

A :class:`Session` owns one LAMMPS instance (created by
:func:`pylbs.lammps_env.start_lammps`) and adds what a long melt-quench needs:

* errors: a failing command raises :class:`~pylbs.errors.SimulationError` with the
  last lines of the LAMMPS log and a message naming the fix (lost atoms, PPPM
  out-of-range atoms, temperature/energy blow-up);
* checkpoints: :meth:`Session.run_schedule` runs a :class:`~pylbs.protocols.schedules.Schedule`
  in chunks, writes a restart file after every chunk (two alternating files, so
  a kill during a write never destroys the last good one) and ``progress.json``;
  a run started again with the same work folder continues from the last restart
  and skips finished stages;
* progress: a line every ~20 s from rank 0 (stage, target and measured T, step/total,
  ns/day, elapsed, ETA; :mod:`pylbs.progress`) through a ``fix external`` callback that
  adds no force (the trajectory is bit for bit the same), the same numbers in
  ``heartbeat.json`` for ``pylbs status``, and ``run.png`` (T, PE, density under NPT vs time);
* output: ``thermo.dat`` and ``trajectory.lammpstrj`` (:mod:`pylbs.lammps_io`).

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

from .errors import PylbsError, SimulationError, StructureError
from .glasses import TYPE_MAP
from .jsonio import write_json_atomic
from .lammps_env import mpi_comm, start_lammps
from .lammps_io import (
    HEARTBEAT_FILE,
    LOG_FILE,
    PROGRESS_FILE,
    RESTART_FILES,
    RUN_PLOT,
    THERMO_COLUMNS,
    THERMO_FILE,
    TRAJECTORY_FILE,
    file_tail,
    truncate_dump,
    truncate_thermo,
)
from .plotting import plot_thermo
from .potential.commands import PotentialSpec, potential_commands
from .progress import Progress
from .protocols.schedules import (
    SYSTEM_COMMANDS,
    TDAMP_PS,
    TIMESTEP_PS,
    Schedule,
    dump_commands,
    run_settings,
    stage_runs,
    velocity_command,
)
from .structure import check_overlaps, read_lammps_data, write_lammps_data

#: Any two atoms closer than this (Angstrom) in a structure given to setup() are an
#: input error: no potential here survives them (the first MD step would blow up).
OVERLAP_FLOOR_A = 0.5

_FIX_LOST = ("use a smaller time step (timestep_ps), check the initial structure for overlapping "
             "atoms (pylbs.structure.check_overlaps) or start at a lower temperature")


#: LAMMPS error texts of a system that blew up (atoms flew apart), as opposed to a bad input
BLOW_UP_SIGNS = ("Lost atoms", "Out of range atoms", "cannot compute PPPM", "Fix halt condition", "pylbs_halt",
                 "Too many neighbor bins", "Neighbor list overflow", "Non-numeric atom coords")


def is_blow_up(lammps_message: str) -> bool:
    """Does this LAMMPS error say the system blew up (see :data:`BLOW_UP_SIGNS`)?"""
    return any(sign in lammps_message for sign in BLOW_UP_SIGNS)


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
                 log_append: bool = False, screen: bool = False, label: str | None = None):
        self.label = label or Path(workdir).resolve().name
        self.mass_g_mol = None
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
                                  log_tail=file_tail(self.log_path)) from None

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
            self.commands([*SYSTEM_COMMANDS, f"read_data {data_file}"])
        ntypes = int(self.lmp.extract_global("ntypes"))
        if ntypes != len(TYPE_MAP):
            raise PylbsError(f"the data declares {ntypes} atom types, pylbs needs {len(TYPE_MAP)} ({' '.join(TYPE_MAP)}); "
                             "write it with pylbs.structure.write_lammps_data")
        self.commands(potential_commands(potential))
        self.natoms = int(self.lmp.get_natoms())
        self.commands(run_settings(timestep_ps, int(thermo_every), neighbor_skin))
        self.command("variable pylbs_mass equal mass(all)")
        self.mass_g_mol = float(self.lmp.extract_variable("pylbs_mass"))

    def _check_overlaps(self, data_file) -> None:
        """Refuse a structure with overlapping atoms before LAMMPS turns it into a blow-up."""
        error = None
        if self.rank == 0:
            try:
                check_overlaps(read_lammps_data(data_file), OVERLAP_FLOOR_A)
            except PylbsError as exc:
                error = f"{data_file}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error:
            raise StructureError(error)

    # -- schedule -------------------------------------------------------
    def run_schedule(self, schedule: Schedule, *, potential: PotentialSpec, data_file=None, atoms=None,
                     seed: int = 1, timestep_ps: float = TIMESTEP_PS, tdamp_ps: float = TDAMP_PS,
                     restart_every_ps: float = 10.0, thermo_every: int = 100, dump_every_ps: float | None = 1.0,
                     prepare: Sequence[str] = (), t_bound_K: float | None = None,
                     pe_bound_eV_per_atom: float = 1000.0,
                     check: Callable[..., bool | None] | None = None) -> dict:
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
        ``check(session, step, final=...)``, if given, runs on every rank after every chunk
        and before its checkpoint (``final``: the schedule's last chunk): an exception it
        raises stops the run with ``progress.json`` still pointing at the last good
        restart; a true return skips this chunk's checkpoint, so a state under review is
        never the one a resume starts from (used by the MLP guard, pylbs.protocols.guard).
        Returns a dict: steps, resumed (bool), stages_run, stages_skipped, wall_s.
        """
        wd = self.workdir
        t0 = time.perf_counter()
        plan = stage_runs(schedule, timestep_ps, tdamp_ps)
        total = plan[-1].stop_step if plan else 0
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
                truncate_thermo(wd / THERMO_FILE, step0 - 1)  # fix ave/time writes step0 again
                truncate_dump(wd / TRAJECTORY_FILE, step0)
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
                self.command(velocity_command(schedule.stages[0].t_start, int(seed)))
        # thermo file, blow-up guard, trajectory, progress
        t_bound = t_bound_K or max(10_000.0, 10 * max((max(s.t_start, s.t_end) for s in schedule.stages), default=0))
        names = [f"pylbs_{c}" for c in THERMO_COLUMNS]
        self.commands([f"variable {n} equal {c}" for n, c in zip(names, THERMO_COLUMNS)])
        # fix ave/time (not fix print): it does not repeat the first step of every chunk's run
        self.command(f"fix pylbs_thermo all ave/time 1 1 {int(thermo_every)} "
                     + " ".join(f"v_{n}" for n in names[1:]) + f' append {wd / THERMO_FILE} format " %.10g"')
        # fix halt stops a run the moment T passes the bound instead of at the chunk end
        self.command(f"fix pylbs_halt all halt {int(thermo_every)} v_pylbs_temp > {t_bound:g} error hard")
        if dump_every:
            self.commands(dump_commands("pylbs_traj", dump_every, wd / TRAJECTORY_FILE))
            self.command("dump_modify pylbs_traj append yes")
            if resumed:  # the frame at the restart step is already in the file
                self.command(f"dump_modify pylbs_traj delay {step0 + 1}")
        reporter = Progress(self.label, total, start=step0, timestep_ps=timestep_ps, rank=self.rank,
                            heartbeat=wd / HEARTBEAT_FILE)
        self._watch(reporter, plan, int(thermo_every))

        stages_run, stages_skipped = [], []
        step = step0
        last_plot = time.perf_counter()
        for k, sr in enumerate(plan):
            if step >= sr.stop_step:  # finished before (or zero length)
                stages_skipped.append(sr.stage.name)
                continue
            if dump_every and sr.stage.dump_every_ps:
                self.command(f"dump_modify pylbs_traj every {max(1, int(round(sr.stage.dump_every_ps / timestep_ps)))}")
            # the thermostat fix lives for the whole stage (its Nose-Hoover state must not be reset at
            # every chunk; write_restart stores it, so a resumed run continues it too); one run per chunk
            self.command(sr.fix())
            while True:
                last = min(sr.stop_step, (step // every_step + 1) * every_step)
                self.command(sr.run(step, last))
                step = last
                self._check_blowup(t_bound, pe_bound_eV_per_atom)
                final = step >= total  # (a zero-length last stage must not hide the last chunk)
                hold = check(self, step, final=final) if check is not None else False
                if not hold:
                    self._checkpoint(step, k, sr.stage.name, request, done=final,
                                     extra={"total_steps": total, "label": self.label, "rate": reporter.rates(step)})
                if step >= sr.stop_step:
                    break
            self.command(sr.unfix())
            stages_run.append(sr.stage.name)
            if dump_every and sr.stage.dump_every_ps:
                self.command(f"dump_modify pylbs_traj every {dump_every}")
            reporter.update(step, force=True, stage=f"{sr.stage.name} done")
            if time.perf_counter() - last_plot > 30.0:  # long stages: keep run.png current
                self.plot(timestep_ps, plan)
                last_plot = time.perf_counter()
        progress = self._read_progress()
        if progress is None or not progress.get("done"):
            self._checkpoint(step, len(plan) - 1, "", request, done=True, extra={"total_steps": total})
        if dump_every:
            self.command("undump pylbs_traj")
        self.commands(["unfix pylbs_thermo", "unfix pylbs_halt", "unfix pylbs_progress"])
        if stages_run:
            self.plot(timestep_ps, plan)
        return {"steps": step, "total_steps": total, "steps_this_call": step - step0, "resumed": resumed,
                "stages_run": stages_run, "stages_skipped": stages_skipped, "wall_s": time.perf_counter() - t0}

    def _watch(self, reporter: Progress, plan, every: int) -> None:
        """Progress from inside the MD: a ``fix external`` callback every ``every`` steps that adds
        zero force (bit-identical trajectories) and reports on rank 0."""
        stages = [(sr.start_step, sr.stop_step, sr.stage) for sr in plan]
        thermo = self.workdir / THERMO_FILE

        def callback(caller, step, nlocal, tag, x, fext):
            fext[:] = 0.0
            if self.rank != 0:
                return
            stage = next((s for a, b, s in stages if a <= step < b), stages[-1][2] if stages else None)
            a = next((a for a, b, s in stages if s is stage), 0)
            reporter.update(int(step), stage=stage.name if stage else None,
                            temperature=stage.temperature_at((step - a) * self._timestep()) if stage else None,
                            measured=_last_temperature(thermo))

        self.command(f"fix pylbs_progress all external pf/callback {max(1, every)} 1")
        self.lmp.set_fix_external_callback("pylbs_progress", callback, None)

    def _timestep(self) -> float:
        return float(self.lmp.extract_global("dt"))

    def plot(self, timestep_ps: float = TIMESTEP_PS, plan=()) -> Path | None:
        """``run.png`` of this folder's thermo.dat (rank 0; a plotting failure never stops a run)."""
        path = None
        if self.rank == 0 and (self.workdir / THERMO_FILE).exists():
            try:
                path = plot_thermo(self.workdir / THERMO_FILE, self.workdir / RUN_PLOT, n_atoms=self.natoms or None,
                                   mass_g_mol=self.mass_g_mol, timestep_ps=timestep_ps,
                                   stages=[(sr.stage.name, sr.start_step, sr.stop_step) for sr in plan])
            except Exception as exc:  # noqa: BLE001 - a figure is a courtesy, the run is the result
                print(f"[pylbs] could not draw {self.workdir / RUN_PLOT}: {exc}", flush=True)
        return path

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

    def _checkpoint(self, step: int, stage_index: int, stage_name: str, request: dict, done: bool, extra=None):
        """write_restart to the older of two files, then record it in progress.json (with ``extra``:
        total steps, elapsed time, ns/day and ETA, for ``pylbs status``)."""
        prev = self._read_progress()
        name = RESTART_FILES[0] if (prev or {}).get("restart") != RESTART_FILES[0] else RESTART_FILES[1]
        self.command(f"write_restart {self.workdir / name}")
        if self.rank == 0:
            data = {"step": step, "stage_index": stage_index, "stage": stage_name, "restart": name,
                    "done": done, "request": request, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **(extra or {})}
            write_json_atomic(self.workdir / PROGRESS_FILE, data)  # a kill leaves old or new, never half
        self.barrier()

    def _check_blowup(self, t_bound: float, pe_bound: float):
        temp, pe = self.thermo("temp"), self.thermo("pe")
        n = max(self.natoms, 1)
        if not (math.isfinite(temp) and math.isfinite(pe)) or temp > t_bound or abs(pe) / n > pe_bound:
            raise SimulationError(
                f"the system blew up at step {int(self.thermo('step'))}: T = {temp:g} K, pe = {pe / n:g} eV/atom "
                f"(bounds {t_bound:g} K, {pe_bound:g} eV/atom): {_FIX_LOST}. Restarts written so far are kept "
                f"in {self.workdir}", log_tail=file_tail(self.log_path))


def _last_temperature(thermo: Path) -> float | None:
    """Temperature of the last row of thermo.dat (read from its end; None before the first row)."""
    try:
        with open(thermo, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 400))
            rows = [ln for ln in f.read().decode(errors="replace").splitlines() if ln and not ln.startswith("#")]
        return float(rows[-1].split()[THERMO_COLUMNS.index("temp")]) if rows else None
    except (OSError, ValueError, IndexError):
        return None
