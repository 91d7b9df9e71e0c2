"""MD protocols as data: schedules of stages, the command blocks around them, and the ONE place a
stage becomes LAMMPS commands.

A :class:`Stage` is an ensemble (NVT or NPT), a start and end temperature (K) and a
duration (ps); a :class:`Schedule` is a list of stages. Every schedule pylbs runs is
built here (the paper's FMP melt-quench, the MLP fast/anneal remelt, Tg heating,
diffusion), with the command blocks around them (system definition, run settings,
random-start relaxation, Emin, velocities, trajectory dump). :func:`thermostat_fix` is
the only code that turns an ensemble into a fix, used both by :class:`StageRun` (what
:class:`pylbs.session.Session` runs, chunk by chunk) and by the raw decks
(:mod:`pylbs.protocols.decks`), so an NPT stage can never be rendered as NVT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ..errors import PylbsError
from ..glasses import Composition, Glass
from ..lammps_io import DUMP_COLUMNS, THERMO_COLUMNS
from ..paper_data import DIFFUSION_TEMPERATURES_K

#: MD time step (ps): 1 fs, as in the paper's Simulation Method.
TIMESTEP_PS = 0.001

#: Nose-Hoover thermostat damping time (ps): 100 time steps, the LAMMPS rule of thumb.
TDAMP_PS = 0.1

#: Nose-Hoover barostat damping time (ps) of NPT stages: 1000 time steps, the LAMMPS rule of thumb.
PDAMP_PS = 1.0

ENSEMBLES = ("nvt", "npt")


class ProtocolError(PylbsError, ValueError):
    """A schedule or stage that cannot be run."""


@dataclass(frozen=True)
class Stage:
    """One MD stage: ``duration_ps`` of ``ensemble`` with T ramped linearly t_start -> t_end (K).

    ``dump_every_ps``: trajectory frame interval for this stage (None: the
    session's default).
    """

    name: str
    t_start: float
    t_end: float
    duration_ps: float
    ensemble: str = "nvt"
    dump_every_ps: float | None = None
    #: NPT only: isotropic target pressure (bar); None = 1 bar. NVT stages keep None.
    pressure_bar: float | None = None

    def __post_init__(self):
        if self.ensemble not in ENSEMBLES:
            raise ProtocolError(f"stage {self.name!r}: ensemble {self.ensemble!r} is not supported; use one of {ENSEMBLES}")
        if self.pressure_bar is not None and (self.ensemble != "npt" or not math.isfinite(self.pressure_bar)):
            raise ProtocolError(f"stage {self.name!r}: pressure_bar={self.pressure_bar} needs ensemble 'npt' "
                                "and a finite pressure")
        for label, t in (("t_start", self.t_start), ("t_end", self.t_end)):
            if not (math.isfinite(t) and t > 0):
                raise ProtocolError(f"stage {self.name!r}: {label}={t} K; give a positive temperature")
        if not (math.isfinite(self.duration_ps) and self.duration_ps >= 0):
            raise ProtocolError(f"stage {self.name!r}: duration {self.duration_ps} ps; give a non-negative duration")
        if not self.name or any(c.isspace() for c in self.name):
            raise ProtocolError(f"stage name {self.name!r}: use a non-empty name without spaces")

    def n_steps(self, timestep_ps: float = TIMESTEP_PS) -> int:
        """Number of MD steps of this stage at ``timestep_ps``."""
        return int(round(self.duration_ps / timestep_ps))

    def temperature_at(self, t_ps: float) -> float:
        """Target temperature (K) ``t_ps`` after the stage start (linear ramp)."""
        if self.duration_ps == 0:
            return self.t_end
        f = min(max(t_ps / self.duration_ps, 0.0), 1.0)
        return self.t_start + f * (self.t_end - self.t_start)


@dataclass(frozen=True)
class Schedule:
    """An ordered list of stages."""

    stages: tuple[Stage, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ProtocolError(f"stage names {names} repeat; give each stage a unique name")

    def scaled(self, time_scale: float) -> "Schedule":
        """The same schedule with every duration (and dump interval) times ``time_scale``.

        A time scale of 0.01 keeps the temperatures and the shape of the
        protocol but cools 100x faster: for tests and previews, not production.
        """
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ProtocolError(f"time_scale={time_scale}; give a positive factor (1.0 = the paper's protocol)")
        return Schedule(tuple(replace(s, duration_ps=s.duration_ps * time_scale,
                                      dump_every_ps=None if s.dump_every_ps is None else s.dump_every_ps * time_scale)
                              for s in self.stages))

    @property
    def total_ps(self) -> float:
        return sum(s.duration_ps for s in self.stages)

    def n_steps(self, timestep_ps: float = TIMESTEP_PS) -> int:
        return sum(s.n_steps(timestep_ps) for s in self.stages)

    def stage_bounds(self, timestep_ps: float = TIMESTEP_PS) -> list[tuple[int, int]]:
        """(first step, last step) of every stage on the global step axis starting at 0."""
        bounds, step = [], 0
        for s in self.stages:
            n = s.n_steps(timestep_ps)
            bounds.append((step, step + n))
            step += n
        return bounds

    def temperature_at_step(self, step: int, timestep_ps: float = TIMESTEP_PS) -> float:
        """Target temperature (K) at global ``step``."""
        for stage, (a, b) in zip(self.stages, self.stage_bounds(timestep_ps)):
            if step <= b:
                return stage.temperature_at((step - a) * timestep_ps)
        return self.stages[-1].t_end

    def to_dict(self) -> dict:
        # pressure_bar is left out when unset so NVT schedules keep their earlier form
        return {"stages": [{k: v for k, v in asdict(s).items() if not (k == "pressure_bar" and v is None)}
                           for s in self.stages], "total_ps": self.total_ps}

    @classmethod
    def from_dict(cls, d: dict) -> "Schedule":
        return cls(tuple(Stage(**s) for s in d["stages"]))



def _fmt(x) -> str:
    return x if isinstance(x, str) else f"{x:g}"


def thermostat_fix(stage: Stage, fix_id: str = "pylbs_md", *, t_start=None, t_end=None, tdamp=TDAMP_PS,
                   pressure=None, pdamp=PDAMP_PS) -> str:
    """The fix that integrates ``stage``: Nose-Hoover NVT, or NPT with an isotropic barostat.

    The only place an ensemble becomes LAMMPS text. Values default to the stage's own;
    a raw deck passes LAMMPS variable references instead (``t_start="${T0_1}"``).
    """
    t0 = _fmt(stage.t_start if t_start is None else t_start)
    t1 = _fmt(stage.t_end if t_end is None else t_end)
    if stage.ensemble == "nvt":
        return f"fix {fix_id} all nvt temp {t0} {t1} {_fmt(tdamp)}"
    if stage.ensemble == "npt":  # isotropic barostat: glass boxes are cubic and stay so
        p = _fmt(pressure if pressure is not None else (1.0 if stage.pressure_bar is None else stage.pressure_bar))
        return f"fix {fix_id} all npt temp {t0} {t1} {_fmt(tdamp)} iso {p} {p} {_fmt(pdamp)}"
    raise ProtocolError(f"ensemble {stage.ensemble}")  # pragma: no cover - Stage checks it


@dataclass(frozen=True)
class StageRun:
    """One stage placed on the global step axis, as Session runs it: :meth:`fix` once,
    :meth:`run` for each chunk, :meth:`unfix` once.

    ``run N start S stop E`` keeps the thermostat's ramp over the whole stage however the
    stage is cut into chunks or resumed from a restart.
    """

    stage: Stage
    start_step: int
    n_steps: int
    fix_id: str = "pylbs_md"
    tdamp_ps: float = TDAMP_PS

    @property
    def stop_step(self) -> int:
        return self.start_step + self.n_steps

    def fix(self) -> str:
        return thermostat_fix(self.stage, self.fix_id, tdamp=self.tdamp_ps)

    def run(self, first: int | None = None, last: int | None = None) -> str:
        """The run command of global steps ``first`` to ``last`` (default: the whole stage)."""
        first = self.start_step if first is None else first
        last = self.stop_step if last is None else last
        if not (self.start_step <= first <= last <= self.stop_step):
            raise ProtocolError(f"chunk ({first}, {last}) lies outside stage {self.stage.name!r} steps "
                                f"{self.start_step}..{self.stop_step}")
        return f"run {last - first} start {self.start_step} stop {self.stop_step}"

    def unfix(self) -> str:
        return f"unfix {self.fix_id}"

    def commands(self) -> list[str]:
        """The whole stage as one run."""
        return [self.fix(), self.run(), self.unfix()]


def stage_runs(schedule: Schedule, timestep_ps: float = TIMESTEP_PS, tdamp_ps: float = TDAMP_PS) -> list[StageRun]:
    """Every stage of ``schedule`` on one step axis starting at 0.

    Each stage's thermostat fix has its own ID (``pylbs_md_<stage>``): a restart file stores
    the Nose-Hoover chain of the fix alive when it was written, and a fix of the same ID
    defined after ``read_restart`` takes that state over. A run resumed from a restart
    written at a stage's end must start the next stage with a fresh thermostat, as the
    uninterrupted run does (found by tests/test_resume.py: 0.07 A apart after 120 steps).
    """
    return [StageRun(s, a, b - a, fix_id=f"pylbs_md_{s.name}", tdamp_ps=tdamp_ps)
            for s, (a, b) in zip(schedule.stages, schedule.stage_bounds(timestep_ps))]


# ----------------------------------------------------------------- command blocks around the stages

#: The system definition of every pylbs run (LAMMPS types 1..4 = Li B Si O, charges per atom).
SYSTEM_COMMANDS = ("units metal", "atom_style charge", "boundary p p p", "atom_modify map array")

#: A short minimisation of a random start: random placement leaves atoms at the minimum
#: distances where forces are large; relaxing them first keeps the first 3500 K steps from
#: blowing up. Not part of the paper's description. Also ``pylbs tg|diffusion --minimize``.
RELAX_START_COMMANDS = ("min_style cg", "minimize 1.0e-4 1.0e-6 200 2000")

#: Emin of the MLP stage ("2 K/ps + Emin"): conjugate gradient to a force tolerance of
#: 1e-4 eV/A, at most 5000 iterations (LAMMPS ``minimize etol ftol maxiter maxeval``).
EMIN_MAX_ITER = 5000


def emin_commands(max_iter=EMIN_MAX_ITER, max_eval=None) -> tuple[str, ...]:
    """The Emin commands with at most ``max_iter`` CG iterations (``max_eval`` force calls, default 10x)."""
    max_eval = 10 * int(max_iter) if max_eval is None else max_eval
    return ("min_style cg", f"minimize 0.0 1.0e-4 {max_iter} {max_eval}")


EMIN_COMMANDS = emin_commands()


def run_settings(timestep_ps=TIMESTEP_PS, thermo_every=100, neighbor_skin=2.0) -> list[str]:
    """Neighbour list, time step and thermo output of every run (a lost atom stops it)."""
    return [f"neighbor {_fmt(neighbor_skin)} bin", "neigh_modify every 1 delay 0 check yes",
            f"timestep {_fmt(timestep_ps)}", "thermo_style custom " + " ".join(THERMO_COLUMNS),
            "thermo_modify lost error flush yes", f"thermo {_fmt(thermo_every)}"]


def velocity_command(temperature, seed) -> str:
    """Gaussian velocities at ``temperature`` (K), zero total momentum and angular momentum."""
    return f"velocity all create {_fmt(temperature)} {seed} mom yes rot yes dist gaussian loop geom"


def dump_commands(dump_id: str, every, path) -> list[str]:
    """The trajectory dump: unwrappable positions (image flags), sorted by atom id."""
    return [f"dump {dump_id} all custom {every} {path} " + " ".join(DUMP_COLUMNS), f"dump_modify {dump_id} sort id"]


# ----------------------------------------------------------------- the paper's schedules

def fmp_melt_quench_schedule(t_melt: float = 3500.0, melt_ps: float = 500.0, rate_K_per_ps: float = 1.0,
                             t_final: float = 300.0, final_ps: float = 300.0, ensemble: str = "nvt",
                             pressure_bar: float | None = None, sample_ps: float = 100.0,
                             sample_frames: int = 100) -> Schedule:
    """The paper's FMP-LBS melt-quench (Boron coordination section).

    "a random configuration was melted at 3500 K for 500 ps. It was then cooled
    down to 300 K at a cooling rate of 1 K/ps followed by 300 ps simulations at
    300 K", NVT at the measured density, 1 fs time step, Nose-Hoover thermostat.
    The quench lasts (t_melt - t_final) / rate = 3200 ps; 4000 ps in all. The 300 K
    stage is ``final`` (final_ps - sample_ps) then ``sample`` (the last ``sample_ps``,
    ``sample_frames`` frames: "the last 100 ps configurations were used for the
    structural analyses"). ``ensemble="npt"`` (at ``pressure_bar``, default 1 bar) is
    the other FMP ensemble of the paper's Fig. 5 legend.
    """
    if not rate_K_per_ps > 0:
        raise ProtocolError(f"cooling rate {rate_K_per_ps} K/ps; give a positive rate")
    if not t_melt >= t_final:
        raise ProtocolError(f"t_melt={t_melt} K is below t_final={t_final} K; a quench cools")
    if not 0 < sample_ps <= final_ps or int(sample_frames) < 1:
        raise ProtocolError(f"sample_ps={sample_ps} with {sample_frames} frames: give 0 < sample_ps <= "
                            f"final_ps={final_ps} and at least one frame")
    p = pressure_bar if ensemble == "npt" else None
    return Schedule((
        Stage("melt", t_melt, t_melt, melt_ps, ensemble, pressure_bar=p),
        Stage("quench", t_melt, t_final, (t_melt - t_final) / rate_K_per_ps, ensemble, pressure_bar=p),
        Stage("final", t_final, t_final, final_ps - sample_ps, ensemble, pressure_bar=p),
        Stage("sample", t_final, t_final, sample_ps, ensemble, dump_every_ps=sample_ps / int(sample_frames),
              pressure_bar=p),
    ))


#: MLP schedules of the paper's Boron coordination section.
MLP_SCHEDULE_KINDS = ("fast", "anneal")


def mlp_schedule(kind: str = "anneal", t_max: float = 1800.0, *, t_start: float = 300.0,
                 heat_rate_K_per_ps: float = 10.0, hold_ps: float = 200.0, fast_rate_K_per_ps: float = 10.0,
                 t_anneal: float = 1000.0, anneal_hold_ps: float = 200.0, slow_rate_K_per_ps: float = 2.0,
                 t_final: float = 300.0, final_ps: float = 200.0, sample_ps: float = 100.0,
                 sample_frames: int = 100, cool_frame_every_K: float | None = None) -> Schedule:
    """The paper's MLP remelt of an FMP glass (Boron coordination section).

    "The final configurations obtained by FMP-LBS were heated up to a high
    temperature at a heating rate of 10 K/ps, then [...] mixed well at high
    temperature for 200 ps [...]. one process monotonically cooled the glass
    model at a cooling rate of 10 K/ps from the melting temperature down to
    300 K, whereas the other one maintained the temperature at 1000 K for
    200 ps following the initial cooling process. The glass models were then
    cooled down to 300 K at a cooling rate of 2 K/ps. All models were
    equilibrated at 300 K for 200 ps, and the last 100 ps configurations were
    used for the structural analyses."

    Stages: ``heat`` (t_start -> t_max), ``hold`` (t_max), then for
    ``kind="fast"`` ``cool`` (t_max -> t_final); for ``kind="anneal"``
    ``cool`` (t_max -> t_anneal at the fast rate), ``anneal`` (t_anneal for
    ``anneal_hold_ps``: 200 ps, the paper's 400/600 ps variants by argument),
    ``cool2`` (t_anneal -> t_final at the slow rate). Last ``equil``
    (final_ps - sample_ps) and ``sample`` (sample_ps, ``sample_frames`` frames
    dumped: the frames kept for analysis), both at t_final. ``cool_frame_every_K``: dump a
    frame every so many kelvin in the cooling stages (paper Figs 6-7: every 10 K of a 10 K/ps
    cooling, i.e. 1 ps) for ``pylbs analyze RUN --formation``; None keeps the run's default.
    """
    if kind not in MLP_SCHEDULE_KINDS:
        raise ProtocolError(f"MLP schedule {kind!r} is unknown; use one of {MLP_SCHEDULE_KINDS}")
    for label, rate in (("heating", heat_rate_K_per_ps), ("fast cooling", fast_rate_K_per_ps),
                        ("slow cooling", slow_rate_K_per_ps)):
        if not rate > 0:
            raise ProtocolError(f"{label} rate {rate} K/ps; give a positive rate")
    if not t_max >= max(t_start, t_final):
        raise ProtocolError(f"t_max={t_max} K is below the start/final temperature; the MLP stage remelts the glass")
    if kind == "anneal" and not t_final <= t_anneal <= t_max:
        raise ProtocolError(f"t_anneal={t_anneal} K must lie between t_final={t_final} K and t_max={t_max} K")
    if not 0 < sample_ps <= final_ps:
        raise ProtocolError(f"sample_ps={sample_ps} must be positive and at most final_ps={final_ps}")
    if int(sample_frames) < 1:
        raise ProtocolError(f"sample_frames={sample_frames}; keep at least one frame for analysis")
    if cool_frame_every_K is not None and not (math.isfinite(cool_frame_every_K) and cool_frame_every_K > 0):
        raise ProtocolError(f"cool_frame_every_K={cool_frame_every_K}; give a positive temperature step (K)")

    def every(rate):  # frame interval (ps) of a cooling stage at ``rate`` K/ps
        return None if cool_frame_every_K is None else cool_frame_every_K / rate

    stages = [Stage("heat", t_start, t_max, (t_max - t_start) / heat_rate_K_per_ps),
              Stage("hold", t_max, t_max, hold_ps)]
    if kind == "fast":
        stages.append(Stage("cool", t_max, t_final, (t_max - t_final) / fast_rate_K_per_ps,
                            dump_every_ps=every(fast_rate_K_per_ps)))
    else:
        stages += [Stage("cool", t_max, t_anneal, (t_max - t_anneal) / fast_rate_K_per_ps,
                         dump_every_ps=every(fast_rate_K_per_ps)),
                   Stage("anneal", t_anneal, t_anneal, anneal_hold_ps),
                   Stage("cool2", t_anneal, t_final, (t_anneal - t_final) / slow_rate_K_per_ps,
                         dump_every_ps=every(slow_rate_K_per_ps))]
    stages += [Stage("equil", t_final, t_final, final_ps - sample_ps),
               Stage("sample", t_final, t_final, sample_ps, dump_every_ps=sample_ps / int(sample_frames))]
    return Schedule(tuple(stages))


#: Default T_max (K) of the MLP remelt: the paper used 1500-2000 K depending on
#: the glass (its Table S5, not available to us). pylbs's documented stand-in:
#: linear in the SiO2 content, the most refractory oxide, from 1500 K (no SiO2)
#: to 2000 K (50 mol% SiO2 and more), rounded to 100 K. Catalogue glasses get
#: 1600 K (SiO2 <= 15 mol%: LBS-5-35-60 ... LBS-15-25-60, LBS-10-50-40), 1700 K
#: (20 %), 1800 K (30 %), 1900 K (40 %), 2000 K (LBS-50-10-40); 1500 K only for
#: silica-free compositions. The rule follows the refractoriness of SiO2 and stays
#: inside the paper's range; it is NOT the paper's per-glass table. Always
#: overridable (``t_max=``, ``--t-max``); lower it if the guard reports overlaps.
T_MAX_RANGE_K = (1500.0, 2000.0)


def default_t_max(glass: Glass | Composition) -> float:
    """Composition-based default T_max (K) of the MLP remelt; see :data:`T_MAX_RANGE_K`."""
    sio2 = (glass.composition if isinstance(glass, Glass) else glass).sio2
    lo, hi = T_MAX_RANGE_K
    t = lo + (hi - lo) * min(max(sio2 / 50.0, 0.0), 1.0)
    return float(round(t / 100.0) * 100.0)


#: T_max the paper states for a glass and model size: {glass: (K, smallest model in atoms, where)}.
PAPER_T_MAX_K = {
    "LBS-20-60-20": (1600.0, 700, "paper Fig. 7(d): the 1000-atom LBS-20-60-20 model was cooled from 1600 K"),
}
T_MAX_RULE = ("pylbs rule 1500 K + 500 K x min(SiO2/50, 1), rounded to 100 K (the paper's per-glass Table S5 "
              "is not public)")


def t_max_for(glass: Glass, n_atoms: int | None = None) -> tuple[float, str]:
    """(T_max in K, where it comes from): the paper's value where it states one for this glass and
    model size (:data:`PAPER_T_MAX_K`), else the rule (:func:`default_t_max`)."""
    entry = PAPER_T_MAX_K.get(glass.name)
    if entry is not None and n_atoms is not None and n_atoms >= entry[1]:
        return entry[0], entry[2]
    return default_t_max(glass), T_MAX_RULE


def tg_heating_schedule(t_start: float = 300.0, t_max: float = 2000.0, rate_K_per_ps: float = 10.0,
                        equil_ps: float = 0.0, ensemble: str = "npt", pressure_bar: float | None = None) -> Schedule:
    """Tg (paper: heating at 10 K/ps): optional hold at ``t_start`` (``equil``), then a linear
    ``heat`` ramp to ``t_max`` at ``rate_K_per_ps``."""
    if not rate_K_per_ps > 0 or not t_max > t_start:
        raise ProtocolError(f"heating {t_start:g} -> {t_max:g} K at {rate_K_per_ps:g} K/ps: give t_max > t_start "
                            "and a positive rate")
    p = pressure_bar if ensemble == "npt" else None
    stages = [Stage("equil", t_start, t_start, equil_ps, ensemble, pressure_bar=p)] if equil_ps > 0 else []
    stages.append(Stage("heat", t_start, t_max, (t_max - t_start) / rate_K_per_ps, ensemble, pressure_bar=p))
    return Schedule(tuple(stages))


#: Temperatures (K) of the paper's diffusion runs (Table 3, Fig. 9b).
PAPER_TEMPERATURES_K = DIFFUSION_TEMPERATURES_K


def diffusion_schedule(temperature: float, duration_ps: float = 300.0, ensemble: str = "npt",
                       pressure_bar: float | None = None) -> Schedule:
    """One constant-temperature stage ``diffuse`` (NPT at ``pressure_bar`` or NVT in the given box)."""
    return Schedule((Stage("diffuse", temperature, temperature, duration_ps, ensemble,
                           pressure_bar=pressure_bar if ensemble == "npt" else None),))
