"""MD protocols as data: a schedule of stages, turned into LAMMPS commands in one place.

A :class:`Stage` is an ensemble, a start and end temperature (K) and a duration
(ps); a :class:`Schedule` is a list of stages. :func:`stage_commands` is the
single place that turns a stage into LAMMPS commands, and :func:`deck_variables`
renders the same schedule as the ``variable`` lines of the raw deck
``lammps_inputs/melt_quench_fmp.in`` so the Python driver and the deck cannot
drift apart (tests compare them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from .errors import PylbsError

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


def fmp_melt_quench_schedule(t_melt: float = 3500.0, melt_ps: float = 500.0, rate_K_per_ps: float = 1.0,
                             t_final: float = 300.0, final_ps: float = 300.0) -> Schedule:
    """The paper's FMP-LBS melt-quench (Boron coordination section).

    "a random configuration was melted at 3500 K for 500 ps. It was then cooled
    down to 300 K at a cooling rate of 1 K/ps followed by 300 ps simulations at
    300 K", NVT at the measured density, 1 fs time step, Nose-Hoover thermostat.
    The quench lasts (t_melt - t_final) / rate = 3200 ps; 4000 ps in all.
    """
    if not rate_K_per_ps > 0:
        raise ProtocolError(f"cooling rate {rate_K_per_ps} K/ps; give a positive rate")
    if not t_melt >= t_final:
        raise ProtocolError(f"t_melt={t_melt} K is below t_final={t_final} K; a quench cools")
    return Schedule((
        Stage("melt", t_melt, t_melt, melt_ps),
        Stage("quench", t_melt, t_final, (t_melt - t_final) / rate_K_per_ps),
        Stage("final", t_final, t_final, final_ps),
    ))


def stage_commands(stage: Stage, timestep_ps: float = TIMESTEP_PS, seed: int = 1, *,
                   start_step: int, n_steps: int | None = None, tdamp_ps: float = TDAMP_PS,
                   fix_id: str = "pylbs_md", chunk: tuple[int, int] | None = None) -> list[str]:
    """LAMMPS commands that run (part of) ``stage``: the single place a stage becomes commands.

    ``start_step`` is the global step the stage starts at. The run uses
    ``run N start S stop E`` so the thermostat ramps over the whole stage even
    when it is run in chunks (``chunk=(first, last)`` global steps) or resumed
    from a restart. ``seed`` is unused by Nose-Hoover NVT and kept for
    stochastic ensembles.
    """
    del seed
    total = stage.n_steps(timestep_ps) if n_steps is None else n_steps
    stop = start_step + total
    first, last = chunk if chunk is not None else (start_step, stop)
    if not (start_step <= first <= last <= stop):
        raise ProtocolError(f"chunk {chunk} lies outside stage {stage.name!r} steps {start_step}..{stop}")
    if stage.ensemble == "nvt":
        cmds = [f"fix {fix_id} all nvt temp {stage.t_start:g} {stage.t_end:g} {tdamp_ps:g}"]
    elif stage.ensemble == "npt":  # isotropic Nose-Hoover barostat, cubic glass boxes
        p = 1.0 if stage.pressure_bar is None else stage.pressure_bar
        cmds = [f"fix {fix_id} all npt temp {stage.t_start:g} {stage.t_end:g} {tdamp_ps:g} "
                f"iso {p:g} {p:g} {PDAMP_PS:g}"]
    else:  # pragma: no cover - guarded by Stage.__post_init__
        raise ProtocolError(f"ensemble {stage.ensemble}")
    cmds.append(f"run {last - first} start {start_step} stop {stop}")
    cmds.append(f"unfix {fix_id}")
    return cmds


def deck_variables(schedule: Schedule, timestep_ps: float = TIMESTEP_PS, tdamp_ps: float = TDAMP_PS) -> dict[str, str]:
    """The ``variable`` values of a raw deck that runs ``schedule`` (unscaled durations).

    Keys: ``dt``, ``tdamp``, ``nstages`` and for each stage i (1-based)
    ``name_i``, ``T0_i``, ``T1_i`` (K), ``ps_i`` (ps), and ``dump_i`` (ps) for a
    stage with its own trajectory interval.
    """
    out = {"dt": f"{timestep_ps:g}", "tdamp": f"{tdamp_ps:g}", "nstages": str(len(schedule.stages))}
    for i, s in enumerate(schedule.stages, 1):
        out[f"name_{i}"] = s.name
        out[f"T0_{i}"] = f"{s.t_start:g}"
        out[f"T1_{i}"] = f"{s.t_end:g}"
        out[f"ps_{i}"] = f"{s.duration_ps:g}"
        if s.dump_every_ps is not None:
            out[f"dump_{i}"] = f"{s.dump_every_ps:g}"
    return out


def deck_variable_lines(schedule: Schedule, **kw) -> list[str]:
    """``variable`` lines of :func:`deck_variables` for a deck: ``equal`` for numbers, ``string`` for names."""
    return [f"variable {k:<8s} {'string' if k.startswith('name_') else 'equal'} {v}"
            for k, v in deck_variables(schedule, **kw).items()]


def parse_deck_variables(text: str) -> dict[str, str]:
    """``variable NAME equal|string|index VALUE`` definitions of a LAMMPS deck (last one wins)."""
    out = {}
    for line in text.splitlines():
        tok = line.split("#", 1)[0].split()
        if len(tok) >= 4 and tok[0] == "variable" and tok[2] in ("equal", "string", "index"):
            out[tok[1]] = " ".join(tok[3:])
    return out


# ----------------------------------------------------------------- DeepMD (MLP) stage

#: MLP schedules of the paper's Boron coordination section.
MLP_SCHEDULE_KINDS = ("fast", "anneal")


def mlp_schedule(kind: str = "anneal", t_max: float = 1800.0, *, t_start: float = 300.0,
                 heat_rate_K_per_ps: float = 10.0, hold_ps: float = 200.0, fast_rate_K_per_ps: float = 10.0,
                 t_anneal: float = 1000.0, anneal_hold_ps: float = 200.0, slow_rate_K_per_ps: float = 2.0,
                 t_final: float = 300.0, final_ps: float = 200.0, sample_ps: float = 100.0,
                 sample_frames: int = 100) -> Schedule:
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
    dumped: the frames kept for analysis), both at t_final.
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
    stages = [Stage("heat", t_start, t_max, (t_max - t_start) / heat_rate_K_per_ps),
              Stage("hold", t_max, t_max, hold_ps)]
    if kind == "fast":
        stages.append(Stage("cool", t_max, t_final, (t_max - t_final) / fast_rate_K_per_ps))
    else:
        stages += [Stage("cool", t_max, t_anneal, (t_max - t_anneal) / fast_rate_K_per_ps),
                   Stage("anneal", t_anneal, t_anneal, anneal_hold_ps),
                   Stage("cool2", t_anneal, t_final, (t_anneal - t_final) / slow_rate_K_per_ps)]
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


def default_t_max(composition) -> float:
    """Composition-based default T_max (K) of the MLP remelt; see :data:`T_MAX_RANGE_K`.

    ``composition``: anything :func:`pylbs.glasses.get_glass` accepts.
    """
    from .glasses import get_glass

    sio2 = get_glass(composition).composition.sio2
    lo, hi = T_MAX_RANGE_K
    t = lo + (hi - lo) * min(max(sio2 / 50.0, 0.0), 1.0)
    return float(round(t / 100.0) * 100.0)
