"""Exploration for active learning: short MD of an ensemble of DeepMD models under glass conditions,
each dumped frame with its model deviation.

What the loop explores (issue 11; DP-GEN's "model deviation" idea): every system (the 11
catalogue glasses and the end members B2O3, lithium diborate, lithium disilicate, SiO2)
starting from its FMP glass, under the conditions of :func:`glass_conditions`: heating from
300 K to above the remelt temperature at 10 K/ps, a hold, a 10 K/ps quench; NVT at the
measured density and at +-5 % linear strain; NPT at 1 bar. The first model drives the
MD (``pair_style deepmd m1 m2 ... out_freq N out_file F``), every model evaluates each
frame, and the maximum force deviation of a frame (eV/A) says whether the models know it.
A run that blows up (atoms overlap, lost atoms) ends there; its frames so far count.

Every frame also records whether two atoms came closer than the guard allows
(:data:`pylbs.protocols.guard.GUARD_MIN_DISTANCES`). Models trained on the same data can
agree on a wrong, too soft repulsion (measured: two models let B-B reach 1.57 A at 1190 K,
pushing apart with 3.8-4.1 eV/A where the teacher pushes with 6.3 eV/A, a deviation of only
~0.2 eV/A), so the deviation alone misses these frames; the loop labels them too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import PylbsError, SimulationError
from ..glasses import Composition, Glass, get_glass
from ..jsonio import read_json, write_json_atomic
from ..lammps_env import mpi_comm
from ..lammps_io import MODEL_DEVI_RAW, TRAJECTORY_FILE, dump_steps, read_model_devi, read_trajectory
from ..potential import deepmd_commands, required_styles, wall_of
from ..protocols.guard import GUARD_MIN_DISTANCES, closest_pairs
from ..protocols.schedules import TIMESTEP_PS, Schedule, Stage, default_t_max
from ..session import Session
from ..structure import density_of, read_lammps_data, rescaled_to_density, write_lammps_data
from .compress import md_models

#: The binary end members explored beside the catalogue: composition (mol% SiO2, B2O3, Li2O), density.
#: Densities of the glasses at room temperature (SiO2 2.20; B2O3 1.84; lithium diborate ~2.2;
#: lithium disilicate 2.35 g/cm^3), as in pylbs.mlp.generate's recipes.
END_MEMBERS = {
    "SiO2": ((100.0, 0.0, 0.0), 2.20),
    "B2O3": ((0.0, 100.0, 0.0), 1.84),
    "Li2O-2B2O3": ((0.0, 200 / 3, 100 / 3), 2.20),
    "Li2O-2SiO2": ((200 / 3, 0.0, 100 / 3), 2.35),
}


def end_member(name: str) -> Glass:
    comp, rho = END_MEMBERS[name]
    return Glass(Composition(*comp), density=rho)


@dataclass(frozen=True)
class Condition:
    """One exploration run: a schedule at a linear ``strain`` of the start box (NVT), or NPT."""

    name: str
    schedule: Schedule
    strain: float = 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "strain": self.strain, "schedule": self.schedule.to_dict()}


def glass_conditions(glass: Glass, time_scale: float = 1.0, hot_K: float | None = None) -> list[Condition]:
    """The exploration conditions of one system, durations times ``time_scale`` (1 = 10 K/ps ramps,
    holds and NVT/NPT runs of 50-100 ps); ``hot_K`` adds an NVT run of the liquid at that temperature."""
    t_high = default_t_max(glass) + 200.0  # above the remelt temperature of the MLP stage
    ramp = Schedule((Stage("heat", 300.0, t_high, (t_high - 300.0) / 10.0), Stage("hold", t_high, t_high, 50.0),
                     Stage("quench", t_high, 300.0, (t_high - 300.0) / 10.0)))
    out = [Condition("ramp", ramp)]
    for eps in (0.0, 0.05, -0.05):
        out.append(Condition(f"nvt-1000K-strain{eps:+.2f}", Schedule((Stage("nvt", 1000.0, 1000.0, 50.0),)), eps))
    out.append(Condition("npt-300K", Schedule((Stage("npt", 300.0, 300.0, 50.0, "npt", pressure_bar=1.0),))))
    if hot_K is not None:
        out.append(Condition(f"nvt-{hot_K:.0f}K", Schedule((Stage("nvt", hot_K, hot_K, 50.0),))))
    return [Condition(c.name, c.schedule.scaled(time_scale), c.strain) for c in out]


@dataclass
class Exploration:
    """What one run saw: the step and maximum force deviation (eV/A) of every dumped frame, and
    whether the frame has a pair closer than the guard allows (``overlap``)."""

    system: str
    condition: str
    steps: list
    max_devi_f: list
    blew_up: str | None = None
    overlap: list | None = None  # None: an exploration.json written before overlaps were recorded
    pair_wall: dict | None = None  # the driving model's wall terms the run had (None: none, or not recorded)

    def to_dict(self) -> dict:
        return asdict(self)


def explore(start_data, models, out_dir, condition: Condition, *, system: str, out_freq: int = 10, seed: int = 1,
            zbl_core=None, comm=None, compress: bool | None = None) -> Exploration:
    """Run ``condition`` from ``start_data`` with the first of ``models`` driving and all of them
    evaluating every ``out_freq`` steps; frames are dumped at the same steps. A finished
    exploration in ``out_dir`` (``exploration.json``) is returned without running. The models run
    as their compressed copies where deepmd-kit can make them (``compress``, :mod:`pylbs.mlp.compress`),
    with the first model's pair wall when it has one (``pair_wall.json`` beside it)."""
    out = Path(out_dir).resolve()
    done = read_json(out / "exploration.json")
    if done is not None:
        found = Exploration(**done)
        if found.overlap is None:  # finished before overlaps were recorded: add them from its frames
            found.overlap = overlapping_frames(out, found.steps)
            write_json_atomic(out / "exploration.json", found.to_dict())
        return found
    if len(models) < 2:
        raise PylbsError("exploration needs at least two models (their deviation is the measure)")
    out.mkdir(parents=True, exist_ok=True)
    start = Path(start_data)
    if condition.strain:
        atoms = read_lammps_data(start_data)
        start = out / "start_strained.data"
        write_lammps_data(rescaled_to_density(atoms, density_of(atoms) / (1 + condition.strain) ** 3), start)
    used = [m["md_model"] for m in md_models(models, comm or mpi_comm(), compress)]
    # the driving model's pair wall, as in production runs (the deviation is the models' alone)
    wall = wall_of(models[0])
    commands = deepmd_commands(used, out_freq, out / MODEL_DEVI_RAW, zbl_core=zbl_core, wall=wall)
    blew_up = None
    try:
        with Session(out, comm=comm, require=required_styles(commands), label=f"explore {system} {condition.name}") \
                as session:
            session.run_schedule(condition.schedule, potential=commands, data_file=start, seed=seed,
                                 timestep_ps=TIMESTEP_PS, restart_every_ps=condition.schedule.total_ps,
                                 thermo_every=out_freq, dump_every_ps=out_freq * TIMESTEP_PS)
    except SimulationError as exc:  # the models let the system fall apart: what it saw until then counts
        blew_up = str(exc).splitlines()[0][:300]
    devi = read_model_devi(out / MODEL_DEVI_RAW)
    dumped = set(dump_steps(out / TRAJECTORY_FILE)) if (out / TRAJECTORY_FILE).exists() else set()
    keep = [k for k, s in enumerate(devi["step"]) if int(s) in dumped]
    steps = [int(devi["step"][k]) for k in keep]
    result = Exploration(system, condition.name, steps, [float(devi["max_devi_f"][k]) for k in keep], blew_up,
                         overlapping_frames(out, steps), wall.to_dict()["terms"] if wall is not None else None)
    write_json_atomic(out / "exploration.json", result.to_dict())
    return result


def frames_at(out_dir, steps) -> list:
    """The dumped frames of an exploration at ``steps`` (wrapped positions), as ase.Atoms."""
    traj = read_trajectory(Path(out_dir) / TRAJECTORY_FILE, unwrap=False)
    index = {int(s): k for k, s in enumerate(traj.steps)}
    return [traj.atoms(index[int(s)]) for s in steps]


def overlapping_frames(out_dir, steps, table=GUARD_MIN_DISTANCES) -> list[bool]:
    """For each dumped frame at ``steps``: has it a pair closer than ``table`` (the guard's limits)?"""
    return [bool(closest_pairs(a.positions, a.cell[:], a.get_chemical_symbols(), table))
            for a in (frames_at(out_dir, steps) if steps else [])]


def classify(max_devi_f, trust_lo: float, trust_hi: float) -> np.ndarray:
    """0 = accurate (deviation < lo), 1 = candidate (lo <= deviation < hi), 2 = failed (>= hi)."""
    f = np.asarray(max_devi_f, dtype=float)
    return np.where(f < trust_lo, 0, np.where(f < trust_hi, 1, 2))


def system_glass(name: str) -> Glass:
    """A catalogue glass or an end member by name."""
    return end_member(name) if name in END_MEMBERS else get_glass(name)
