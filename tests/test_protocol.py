"""Schedules as data; the raw deck equals the Python schedule; a real run follows the ramp."""

from pathlib import Path

import numpy as np
import pytest

from pylbs.protocol import (ProtocolError, Schedule, Stage, deck_variables, fmp_melt_quench_schedule,
                            parse_deck_variables, stage_commands)

DECK = Path(__file__).resolve().parents[1] / "lammps_inputs" / "melt_quench_fmp.in"


def test_paper_schedule():
    s = fmp_melt_quench_schedule()
    assert [(x.name, x.t_start, x.t_end, x.duration_ps) for x in s.stages] == [
        ("melt", 3500, 3500, 500), ("quench", 3500, 300, 3200), ("final", 300, 300, 300)]
    assert s.total_ps == 4000 and s.n_steps() == 4_000_000  # 1 fs
    assert s.temperature_at_step(500_000 + 1_600_000) == pytest.approx(1900)  # half way down at 1 K/ps
    fast = s.scaled(0.01)
    assert fast.total_ps == pytest.approx(40) and fast.n_steps() == 40_000
    assert [x.t_start for x in fast.stages] == [x.t_start for x in s.stages]
    assert Schedule.from_dict(fast.to_dict()) == fast


def test_stage_commands_single_place():
    q = fmp_melt_quench_schedule().stages[1]
    assert stage_commands(q, 0.001, 1, start_step=500_000) == [
        "fix pylbs_md all nvt temp 3500 300 0.1", "run 3200000 start 500000 stop 3700000", "unfix pylbs_md"]
    # a chunk keeps the whole-stage ramp through start/stop
    assert stage_commands(q, 0.001, 1, start_step=0, n_steps=100, chunk=(40, 60))[1] == "run 20 start 0 stop 100"
    with pytest.raises(ProtocolError):
        stage_commands(q, 0.001, 1, start_step=0, n_steps=100, chunk=(40, 160))


def test_invalid_stages():
    with pytest.raises(ProtocolError, match="positive temperature"):
        Stage("a", -1, 300, 1)
    with pytest.raises(ProtocolError, match="ensemble"):
        Stage("a", 300, 300, 1, ensemble="npt-ish")
    with pytest.raises(ProtocolError, match="unique"):
        Schedule((Stage("a", 300, 300, 1), Stage("a", 300, 300, 1)))
    with pytest.raises(ProtocolError, match="time_scale"):
        fmp_melt_quench_schedule().scaled(0)


def test_raw_deck_matches_schedule():
    deck = parse_deck_variables(DECK.read_text())
    expected = deck_variables(fmp_melt_quench_schedule())
    for key, value in expected.items():
        assert key in deck, f"{DECK.name} lacks variable {key}"
        if key.startswith("name_"):
            assert deck[key] == value
        else:
            assert float(deck[key]) == pytest.approx(float(value)), key
    # every stage variable is used by a fix nvt / run line
    text = DECK.read_text()
    for i in range(1, int(expected["nstages"]) + 1):
        assert f"fix             md all nvt temp ${{T0_{i}}} ${{T1_{i}}} ${{tdamp}}" in text
        assert f"variable n_{i} equal round(v_ps_{i}*v_scale/v_dt)" in text


def test_real_run_follows_ramp(tmp_path, md_teter, md_small_glass):
    """Thermo temperature tracks hold 1500 K -> cool to 600 K in a real (chunked) LAMMPS run."""
    from pylbs.session import Session, read_thermo

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
