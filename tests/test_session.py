"""Session layer: errors with log tail, blow-up detection, checkpoint + resume after a kill."""

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pylbs.errors import PylbsError, SimulationError
from pylbs.lammps_io import dump_steps, read_thermo
from pylbs.potential import required_styles
from pylbs.protocols.schedules import Schedule, Stage
from pylbs.session import Session

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")

THREE = Schedule((Stage("warm", 300, 1200, 1.0), Stage("hot", 1200, 1200, 1.0), Stage("cool", 1200, 300, 1.0)))

RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from conftest import md_teter_commands
    from pylbs.glasses import get_glass
    from pylbs.protocols.schedules import Schedule, Stage
    from pylbs.session import Session
    from pylbs.structure import random_structure
    sched = Schedule((Stage("warm", 300, 1200, 1.0), Stage("hot", 1200, 1200, 1.0), Stage("cool", 1200, 300, 1.0)))
    with Session(sys.argv[1], require=(), log_append=True) as s:
        r = s.run_schedule(sched, potential=md_teter_commands(), atoms=random_structure(get_glass("LBS-20-60-20"), 105, seed=3),
                           seed=5, restart_every_ps=0.25, thermo_every=50, dump_every_ps=0.1,
                           prepare=["minimize 1e-4 1e-6 100 1000"])
    print(r)
""")


def test_command_error_has_log_tail(tmp_path):
    with Session(tmp_path, require=()) as s:
        s.command("units metal")
        with pytest.raises(SimulationError) as err:
            s.command("this_is_not_a_command 1 2")
    assert "this_is_not_a_command" in str(err.value)
    assert "units metal" in err.value.log_tail  # from log.lammps
    assert (tmp_path / "log.lammps").exists()


def test_required_styles():
    assert required_styles(["pair_style fmp/lbs 10", "kspace_style pppm 1e-5"]) == (("pair", "fmp/lbs"),)
    assert required_styles(["pair_style deepmd model.pth", "pair_coeff * *"]) == (("pair", "deepmd"),)
    assert required_styles(["pair_style buck/coul/long 8"]) == ()


def test_overlap_blowup_names_fix(tmp_path, md_small_glass):
    """Bare Buckingham (no core) with an Si-O pair at 0.6 A: the catastrophe must become a SimulationError."""
    from conftest import md_teter_commands

    atoms = md_small_glass.copy()
    si = atoms.get_chemical_symbols().index("Si")
    atoms.positions[-1] = atoms.positions[si] + [0.6, 0, 0]
    with Session(tmp_path, require=()) as s:
        with pytest.raises(SimulationError) as err:
            s.run_schedule(Schedule((Stage("hot", 3000, 3000, 2.0),)), potential=md_teter_commands(core=False),
                           atoms=atoms, thermo_every=10, restart_every_ps=0.5)
    msg = str(err.value)
    assert "smaller time step" in msg and "overlapping" in msg
    assert err.value.log_tail.strip()


def test_temperature_bound_keeps_restarts(tmp_path, md_teter, md_small_glass):
    sched = Schedule((Stage("cold", 300, 300, 0.2), Stage("heat", 300, 6000, 1.0)))
    with Session(tmp_path, require=()) as s:
        with pytest.raises(SimulationError, match="blew up"):
            s.run_schedule(sched, potential=md_teter, atoms=md_small_glass, thermo_every=10,
                           restart_every_ps=0.2, t_bound_K=2000, prepare=["minimize 1e-4 1e-6 100 1000"])
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert progress["step"] >= 200 and not progress["done"]
    assert (tmp_path / progress["restart"]).stat().st_size > 0


def test_kill_and_resume(tmp_path):
    """SIGKILL a real run in stage 2, resume in the same folder: finished stages skipped, nothing lost."""
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(tests=str(ROOT / "tests")))
    work = tmp_path / "run"
    proc = subprocess.Popen([PY, str(script), str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    progress = work / "progress.json"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if progress.exists():
                try:
                    if json.loads(progress.read_text())["step"] >= 1250:
                        break
                except (json.JSONDecodeError, KeyError):
                    pass
            if proc.poll() is not None:
                pytest.fail("the run ended before it could be killed:\n" + proc.stdout.read().decode())
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = json.loads(progress.read_text())
    assert 1250 <= killed_at["step"] < 3000 and killed_at["stage_index"] >= 1

    res = subprocess.run([PY, str(script), str(work)], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    result = eval(res.stdout.strip().splitlines()[-1])
    assert result["resumed"] and result["steps"] == 3000
    assert "warm" in result["stages_skipped"] and result["stages_run"][-1] == "cool"
    assert json.loads(progress.read_text())["done"]
    th = read_thermo(work / "thermo.dat")
    raw = [ln for ln in (work / "thermo.dat").read_text().splitlines() if not ln.startswith("#")]
    assert len(raw) == len(th["step"])  # no duplicated rows after the resume
    assert np.array_equal(th["step"], np.arange(0, 3001, 50))
    assert dump_steps(work / "trajectory.lammpstrj") == list(range(0, 3001, 100))
    # the resumed cool ramp still ends near 300 K, the hot stage stayed hot
    assert th["temp"][-4:].mean() < 550
    assert th["temp"][(th["step"] > 1200) & (th["step"] <= 2000)].mean() == pytest.approx(1200, rel=0.15)

    # a third call: everything done, nothing run
    again = subprocess.run([PY, str(script), str(work)], capture_output=True, text=True, timeout=60)
    assert eval(again.stdout.strip().splitlines()[-1])["stages_run"] == []


def test_schedule_mismatch_refuses_resume(tmp_path, md_teter, md_small_glass):
    sched = Schedule((Stage("a", 300, 300, 0.05),))
    with Session(tmp_path, require=()) as s:
        s.run_schedule(sched, potential=md_teter, atoms=md_small_glass, restart_every_ps=0.05)
    with Session(tmp_path, require=(), log_append=True) as s:
        with pytest.raises(PylbsError, match="different schedule"):
            s.run_schedule(Schedule((Stage("a", 400, 400, 0.05),)), potential=md_teter, atoms=md_small_glass)


def test_overlapping_input_refused_before_md(tmp_path, md_teter, md_small_glass):
    """Two atoms 0.2 A apart in a user's structure: a StructureError naming them, no MD run."""
    from pylbs.errors import StructureError

    atoms = md_small_glass.copy()
    atoms.positions[5] = atoms.positions[4] + [0.2, 0, 0]
    with Session(tmp_path, require=()) as s:
        with pytest.raises(StructureError, match=r"atoms 5 \(\w+\) and 6 \(\w+\) are 0.200 A apart"):
            s.run_schedule(Schedule((Stage("hot", 1000, 1000, 0.1),)), potential=md_teter, atoms=atoms)
    assert not (tmp_path / "restart.a").exists()
