"""Campaigns end to end on real MD (tiny): run, resume, failure with log tail, retry alone.

One ~100-atom glass at time scale 0.002 (FMP melt-quench ~8 ps), its analysis,
a 2-replica Tg heating and a 2-temperature diffusion run with the FMP potential
(and, below, the DeepMD stage with the tests' tiny model: FMP -> MLP -> analysis, diffusion).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pylbs.analysis.tg import fit_tg
from pylbs.campaign import CampaignRunner, Store
from pylbs.campaign.runner import format_states
from pylbs.potential import DEFAULT_PARAMETER_FILE
from pylbs.structure import read_lammps_data

import independent

TINY = """
[campaign]
name = "tiny"
root = "run"
seed = 3
[glasses]
names = ["LBS-20-60-20"]
[fmp]
sizes = [100]
replicas = 1
time_scale = 0.002
{parameter_file}
[mlp]
enabled = false
[tg]
enabled = {dynamics}
sizes = [100]
potential = "fmp"
replicas = 2
time_scale = 0.02
[diffusion]
enabled = {dynamics}
sizes = [100]
potential = "fmp"
temperatures = [700.0, 900.0]
time_scale = 0.01
[resources]
cores = 2
[experiment]
tg_K = {{ "LBS-20-60-20" = 750.0 }}
"""


def _write(tmp: Path, dynamics=True, parameter_file=None) -> Path:
    pf = f'parameter_file = "{parameter_file}"' if parameter_file else ""
    path = tmp / "tiny.toml"
    path.write_text(TINY.format(dynamics=str(dynamics).lower(), parameter_file=pf))
    return path


@pytest.fixture(scope="module")
def tiny_done(tmp_path_factory, fmp_plugin):
    """The tiny campaign, run once through the command line (as a user would)."""
    tmp = tmp_path_factory.mktemp("campaign")
    path = _write(tmp)
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "run", str(path), "--report"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return path, res.stdout


def test_tiny_campaign_end_to_end(tiny_done):
    path, stdout = tiny_done
    runner = CampaignRunner(path)
    ids = [t.id for t in runner.tasks]
    assert ids == ["fmp/LBS-20-60-20/n100/r1", "analysis/fmp/LBS-20-60-20/n100/r1",
                   "tg/fmp/LBS-20-60-20/n100", "diffusion/fmp/LBS-20-60-20/n100/r1"]
    assert "ran 4 task(s): 4 done, 0 failed" in stdout
    store = Store(runner.c.store)
    assert store.status() == {i: "done" for i in ids}
    # stored numbers equal independent recomputations from the files the runs left (tests/independent.py)
    fmp = store.table(kind="fmp")[0]
    glass = read_lammps_data(runner.root / "runs" / fmp["id"] / "final.data")
    assert fmp["glass"] == "LBS-20-60-20" and fmp["seed"] == 3
    assert fmp["fraction_4B"] == pytest.approx(independent.fraction_4B(glass))
    ana = store.table(kind="analysis")[0]
    assert ana["fraction_3B_in_3MR"] == pytest.approx(independent.fraction_3B_in_3MR(glass), nan_ok=True)
    assert ana["fraction_4B"] == pytest.approx(fmp["fraction_4B"])  # same structure, same cutoffs
    tg = store.table(kind="tg")[0]
    tg_summary = json.loads((runner.root / "runs" / tg["id"] / "summary.json").read_text())
    fits = [fit_tg(*np.loadtxt(r["heating_curve"])[:, [1, 3]].T, t_min=300.0 + 0.05 * 1700.0).tg
            for r in tg_summary["replicas"]]
    assert len(fits) == 2 and tg["tg_K"] == pytest.approx(np.mean(fits))
    assert tg["tg_err_K"] == pytest.approx(np.std(fits, ddof=1))
    dif = store.table(kind="diffusion")[0]
    assert "C_Li_times_D_per_cm_s_700K" in dif and "D_Li_A2_per_ps_900K" in dif
    # provenance of a real run
    prov = store.provenance("fmp/LBS-20-60-20/n100/r1")
    assert prov["seeds"] == [3] and prov["schedule"]["stages"]
    assert prov["potential"]["parameter_file_sha256"] and prov["potential"]["resolved_parameters"]
    assert prov["versions"]["lammps"] and prov["versions"]["numpy"] and "commit" in prov["git"]
    # the report was written with the experimental columns
    report = (runner.root / "report" / "report.md").read_text()
    assert "4B exp. (Table 1)" in report and "750" in report
    assert (runner.root / "report" / "fig_4B.png").stat().st_size > 1000


def test_resume_executes_nothing(tiny_done):
    path, _ = tiny_done
    runner = CampaignRunner(path)
    starts = sum(e["event"] == "start" for e in runner.events())
    rep = runner.run()
    assert rep.executed == [] and sorted(rep.skipped) == sorted(t.id for t in runner.tasks)
    assert sum(e["event"] == "start" for e in runner.events()) == starts  # no new start in the task log
    # a store that lost a record is repaired from the run's summary.json, still without running anything
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "status", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "fmp        1 done" in out and "diffusion  1 done" in out


def test_changed_settings_make_a_finished_task_stale_until_reset(tiny_done):
    path, _ = tiny_done
    changed = path.with_name("tiny_changed.toml")  # same folder, so the same root and store
    changed.write_text(path.read_text().replace("replicas = 2", "replicas = 3"))
    runner = CampaignRunner(changed)
    tid = "tg/fmp/LBS-20-60-20/n100"
    states = runner.task_states()
    assert states[tid][0] == "stale" and "pylbs campaign reset" in states[tid][1]
    assert states["diffusion/fmp/LBS-20-60-20/n100/r1"][0] == "done"
    rep = runner.run()
    assert rep.executed == [] and tid in rep.blocked and not rep.ok  # never overwritten silently
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "reset", str(changed), "tg/*"],
                         capture_output=True, text=True, check=True).stdout
    assert tid in out and not (runner.root / "runs" / tid).exists()
    assert CampaignRunner(changed).task_states()[tid][0] == "pending"


def test_failed_task_reported_and_retried_alone(tmp_path, fmp_plugin):
    bad = tmp_path / "broken.fmp"
    bad.write_text("this is not an fmp file\n")
    path = _write(tmp_path, dynamics=False, parameter_file="broken.fmp")
    runner = CampaignRunner(path)
    rep = runner.run()
    fid, aid = "fmp/LBS-20-60-20/n100/r1", "analysis/fmp/LBS-20-60-20/n100/r1"
    assert rep.failed == [fid] and aid in rep.blocked and not rep.ok
    rec = Store(runner.c.store).record_of(fid)
    assert rec["status"] == "failed" and "unknown keyword 'this'" in rec["log_tail"]
    status = format_states(runner, runner.task_states())
    assert f"FAILED {fid}" in status and "unknown keyword 'this'" in status
    assert f"blocked {aid}: dependency {fid} failed" in status

    # a plain run does not hammer the failed task again
    assert CampaignRunner(path).run().previously_failed == [fid]

    shutil.copy(DEFAULT_PARAMETER_FILE, bad)  # the fix
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "retry", str(path), fid],
                         capture_output=True, text=True, timeout=200)
    assert out.returncode == 0, out.stdout + out.stderr
    runner = CampaignRunner(path)
    events = [e for e in runner.events() if e["event"] == "start"]
    assert [e["task"] for e in events] == [fid, fid]  # failed attempt + the retry, nothing else
    states = runner.task_states()
    assert states[fid][0] == "done" and states[aid][0] == "pending"
    rec = Store(runner.c.store).record_of(fid)
    assert rec["status"] == "done" and rec["attempts"] == 2
    summary = json.loads((runner.root / "runs" / fid / "summary.json").read_text())
    assert summary["potential"]["parameter_file"] == str(bad.resolve())


TINY_MLP = """
[campaign]
name = "tiny-mlp"
root = "run"
seed = 5
[glasses]
names = ["LBS-20-60-20"]
[fmp]
sizes = [100]
replicas = 1
time_scale = 0.002
[mlp]
enabled = true
models = ["{model}"]
schedules = ["fast"]
t_max = {{ "LBS-20-60-20" = 1200.0 }}
time_scale = 0.002
gpus = 0
# the tests' tiny model squeezes pairs: overlay a ZBL core and relax the guard
extra_args = "--zbl-core 0.9 1.3 --emin-max-iter 30 --min-distance {lenient}"
[analysis]
fmp = false
mlp = true
[tg]
enabled = false
[diffusion]
enabled = true
sizes = [100]
potential = "mlp"
schedules = ["fast"]
temperatures = [900.0]
duration_ps = 300.0
time_scale = 0.005
[resources]
cores = 2
"""


def test_tiny_campaign_with_the_deepmd_stage(tmp_path, tiny_dp_model):
    """FMP quench -> DeepMD stage -> analysis and Li diffusion with the MLP, through the CLI."""
    model, _ = tiny_dp_model
    path = tmp_path / "tiny_mlp.toml"
    els = ("Li", "B", "Si", "O")
    lenient = " ".join(f"{a}-{b}=0.6" for i, a in enumerate(els) for b in els[i:])
    path.write_text(TINY_MLP.format(model=model, lenient=lenient))
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "run", str(path)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    runner = CampaignRunner(path)
    store = Store(runner.c.store)
    ids = [t.id for t in runner.tasks]
    assert "mlp-fast/LBS-20-60-20/n100/r1" in ids
    assert store.status() == {i: "done" for i in ids}
    # every stored number equals an independent recomputation from the raw files the runs left
    # (tests/independent.py), whatever its sign or size in a run this short
    ana = store.table(kind="analysis")[0]
    glass = read_lammps_data(runner.root / runner.by_id[ana["id"]].params["structure"])
    assert ana["stage"] == "mlp-fast" and ana["fraction_4B"] == pytest.approx(independent.fraction_4B(glass))
    prov = store.provenance("mlp-fast/LBS-20-60-20/n100/r1")
    assert prov["potential"]["kind"] == "mlp" and len(prov["potential"]["models"][0]["sha256"]) == 64
    dif = store.table(kind="diffusion")[0]
    traj = runner.root / "runs" / "diffusion/mlp-fast/LBS-20-60-20/n100/r1" / "T900" / "trajectory.lammpstrj"
    ts = 0.005  # [diffusion] time_scale: window 50-150 ps and 50 ps discarded, scaled
    d = independent.diffusion_coefficient(traj, "Li", window=(50 * ts, 150 * ts), discard_ps=50 * ts)
    assert dif["D_Li_A2_per_ps_900K"] == pytest.approx(d, rel=1e-6, abs=1e-9)
    # Emin ran with the campaign's --emin-max-iter: the stored MLP result is the capped minimisation
    mlp = json.loads((runner.root / runner.by_id["mlp-fast/LBS-20-60-20/n100/r1"].summary).read_text())
    assert mlp["emin_fraction_4B"]["mean"] is not None


def test_failed_exit_code_wins_over_a_summary_left_behind(tmp_path):
    """A task that wrote summary.json and then exited non-zero stays failed (no silent 'done')."""
    from pylbs.campaign.runner import RunReport

    campaign = _write(tmp_path, dynamics=False)
    runner = CampaignRunner(campaign)
    task = runner.tasks[0]
    path = runner.summary_path(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fraction_4B": 0.3}))
    runner._ensure_store()
    states = {}
    runner.finish(task, 1, 0.1, states, RunReport())
    assert states[task.id][0] == "failed"
    assert CampaignRunner(campaign).task_states()[task.id][0] == "failed"  # a fresh look agrees
