"""Schedules as data; one place renders a stage; both raw decks are the renderer's output; a real run
follows the ramp."""

from pathlib import Path

import numpy as np
import pytest

from pylbs.protocols.decks import DECKS, deck_variables, mlp_deck, parse_deck_variables
from pylbs.protocols.schedules import (ProtocolError, Schedule, Stage, StageRun, fmp_melt_quench_schedule, stage_runs,
                                       thermostat_fix)

INPUTS = Path(__file__).resolve().parents[1] / "lammps_inputs"
DECK = INPUTS / "melt_quench_fmp.in"


def test_paper_schedule():
    s = fmp_melt_quench_schedule()
    assert [(x.name, x.t_start, x.t_end, x.duration_ps) for x in s.stages] == [
        ("melt", 3500, 3500, 500), ("quench", 3500, 300, 3200), ("final", 300, 300, 200),
        ("sample", 300, 300, 100)]  # the last 100 ps: 100 frames for the structure analyses
    assert s.stages[-1].dump_every_ps == 1.0
    assert s.total_ps == 4000 and s.n_steps() == 4_000_000  # 1 fs
    assert s.temperature_at_step(500_000 + 1_600_000) == pytest.approx(1900)  # half way down at 1 K/ps
    fast = s.scaled(0.01)
    assert fast.total_ps == pytest.approx(40) and fast.n_steps() == 40_000
    assert [x.t_start for x in fast.stages] == [x.t_start for x in s.stages]
    assert Schedule.from_dict(fast.to_dict()) == fast


def test_stage_commands_single_place():
    q = fmp_melt_quench_schedule().stages[1]
    sr = stage_runs(fmp_melt_quench_schedule())[1]
    assert (sr.start_step, sr.stop_step) == (500_000, 3_700_000)
    assert sr.commands() == ["fix pylbs_md_quench all nvt temp 3500 300 0.1",
                             "run 3200000 start 500000 stop 3700000", "unfix pylbs_md_quench"]
    # a chunk keeps the whole-stage ramp through start/stop
    part = StageRun(q, 0, 100)
    assert part.run(40, 60) == "run 20 start 0 stop 100"
    with pytest.raises(ProtocolError):
        part.run(40, 160)


def test_npt_is_never_rendered_as_nvt():
    npt = fmp_melt_quench_schedule(ensemble="npt", pressure_bar=2.0)
    assert {st.ensemble for st in npt.stages} == {"npt"}
    assert StageRun(npt.stages[0], 0, 10).fix() == "fix pylbs_md all npt temp 3500 3500 0.1 iso 2 2 1"
    assert thermostat_fix(npt.stages[1], "md", t_start="${T0_2}", t_end="${T1_2}", tdamp="${tdamp}",
                          pressure="${P_2}") == "fix md all npt temp ${T0_2} ${T1_2} ${tdamp} iso ${P_2} ${P_2} 1"
    # the same schedule as a deck: every stage's fix is npt, with its pressure as a variable
    deck = mlp_deck(npt)
    assert deck.count("fix             md all npt temp") == 4 and "all nvt" not in deck
    assert parse_deck_variables(deck)["P_1"] == "2"


def test_invalid_stages():
    with pytest.raises(ProtocolError, match="positive temperature"):
        Stage("a", -1, 300, 1)
    with pytest.raises(ProtocolError, match="ensemble"):
        Stage("a", 300, 300, 1, ensemble="npt-ish")
    with pytest.raises(ProtocolError, match="unique"):
        Schedule((Stage("a", 300, 300, 1), Stage("a", 300, 300, 1)))
    with pytest.raises(ProtocolError, match="time_scale"):
        fmp_melt_quench_schedule().scaled(0)


@pytest.mark.parametrize("name", sorted(DECKS))
def test_raw_decks_are_the_renderers_output(name):
    """Each whole deck file equals pylbs.protocols.decks' rendering of the Python schedule."""
    assert (INPUTS / name).read_text() == DECKS[name](), f"lammps_inputs/{name} is stale: run `pylbs deck --write`"


def test_fmp_deck_variables_are_the_papers_schedule():
    deck = parse_deck_variables(DECK.read_text())
    expected = deck_variables(fmp_melt_quench_schedule())
    assert {k: deck[k] for k in expected} == expected
    assert (deck["T0_2"], deck["T1_2"], deck["ps_2"]) == ("3500", "300", "3200")  # 1 K/ps


def test_real_run_follows_ramp(tmp_path, md_teter, md_small_glass):
    """Thermo temperature tracks hold 1500 K -> cool to 600 K in a real (chunked) LAMMPS run."""
    from pylbs.lammps_io import read_thermo
    from pylbs.session import Session

    sched = Schedule((Stage("hold", 1500, 1500, 1.0), Stage("cool", 1500, 600, 2.0)))
    with Session(tmp_path, require=()) as s:
        res = s.run_schedule(sched, potential=md_teter, atoms=md_small_glass, seed=2, restart_every_ps=0.7,
                             thermo_every=10, dump_every_ps=None, prepare=["minimize 1e-4 1e-6 100 1000"])
    assert res["steps"] == 3000
    th = read_thermo(tmp_path / "thermo.dat")
    assert np.array_equal(th["step"], np.arange(0, 3001, 10))
    target = np.array([sched.temperature_at_step(int(k)) for k in th["step"]])
    # 0.5 ps windows after the first 0.5 ps: mean T within 10 % of the target (105 atoms fluctuate ~8 %)
    for a in range(500, 3000, 500):
        w = (th["step"] > a) & (th["step"] <= a + 500)
        assert th["temp"][w].mean() == pytest.approx(target[w].mean(), rel=0.10), a
    # the ramp really happens: last 0.5 ps far below the hold
    assert th["temp"][th["step"] > 2500].mean() < 900
