"""Campaigns end to end on real MD (tiny): run, resume, failure with log tail, retry alone.

One ~100-atom glass at time scale 0.001 (FMP melt-quench ~4 ps), its analysis,
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
time_scale = 0.001
{parameter_file}
[mlp]
enabled = false
[tg]
enabled = {dynamics}
sizes = [100]
potential = "fmp"
replicas = 2
time_scale = 0.01
[diffusion]
enabled = {dynamics}
sizes = [100]
potential = "fmp"
temperatures = [700.0, 900.0]
time_scale = 0.005
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


def test_tiny_campaign_end_to_end_resume_and_stale_tasks(tmp_path, fmp_plugin):
    """One test, in this order (the later steps change the finished campaign): run, check, resume, stale."""
    path = _write(tmp_path)
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "run", str(path), "--report"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    stdout = res.stdout
    runner = CampaignRunner(path)
    ids = [t.id for t in runner.tasks]
    assert ids == ["fmp/LBS-20-60-20/n100/r1", "analysis/fmp/LBS-20-60-20/n100/r1",
                   "tg/fmp/LBS-20-60-20/n100", "diffusion/fmp/LBS-20-60-20/n100/r1"]
    assert "ran 4 task(s): 4 done, 0 failed" in stdout
    store = Store(runner.c.store)
    assert store.status() == {i: "done" for i in ids}
    # stored numbers equal independent recomputations from the files the runs left (tests/independent.py)
    # (4B, 3B_ring: means over the frames of the run's sample stage, the paper's last 100 ps)
    fmp = store.table(kind="fmp")[0]
    run = runner.root / "runs" / fmp["id"]
    assert fmp["glass"] == "LBS-20-60-20" and fmp["seed"] == 3
    assert fmp["fraction_4B"] == pytest.approx(independent.fmp_sample_mean(run, independent.fraction_4B), abs=1e-12)
    ana = store.table(kind="analysis")[0]
    assert ana["fraction_3B_in_3MR"] == pytest.approx(
        independent.fmp_sample_mean(run, independent.fraction_3B_in_3MR), abs=1e-12)
    assert ana["fraction_4B"] == pytest.approx(fmp["fraction_4B"])  # same frames, same cutoffs
    tg = store.table(kind="tg")[0]
    tg_summary = json.loads((runner.root / "runs" / tg["id"] / "summary.json").read_text())
    fits = [fit_tg(*np.loadtxt(r["heating_curve"])[:, [1, 3]].T, t_min=300.0 + 0.05 * 1700.0).tg
            for r in tg_summary["replicas"]]
    # (the heating curve file holds rounded numbers: refitting it moves each Tg by ~1e-4 K, which the
    # spread of two close replicas turns into a relative ~1e-5; 0.01 K is far below any real difference)
    assert len(fits) == 2 and tg["tg_K"] == pytest.approx(np.mean(fits), rel=0, abs=0.01)
    assert tg["tg_err_K"] == pytest.approx(np.std(fits, ddof=1), rel=0, abs=0.01)
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

    _resume_executes_nothing(path)
    _changed_settings_make_a_finished_task_stale_until_reset(path)


def _resume_executes_nothing(path):
    runner = CampaignRunner(path)
    starts = sum(e["event"] == "start" for e in runner.events())
    rep = runner.run()
    assert rep.executed == [] and sorted(rep.skipped) == sorted(t.id for t in runner.tasks)
    assert sum(e["event"] == "start" for e in runner.events()) == starts  # no new start in the task log
    # a store that lost a record is repaired from the run's summary.json, still without running anything
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "status", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "fmp        1 done" in out and "diffusion  1 done" in out


def _changed_settings_make_a_finished_task_stale_until_reset(path):
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
    # the parameter file edited after the run: the finished task is stale (never reported done from the
    # old file), and reset names the fix
    assert summary["inputs_sha256"][str(bad.resolve())]
    bad.write_text(bad.read_text() + "\n# edited after the run\n")
    state, why = CampaignRunner(path).task_states()[fid]
    assert state == "stale" and f"made from {bad.resolve()} as it was then" in why and "campaign reset" in why


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
time_scale = 0.0005
[mlp]
enabled = true
models = ["{model}"]
schedules = ["fast"]
t_max = {{ "LBS-20-60-20" = 1200.0 }}
time_scale = 0.001
cool_frame_every_K = 100.0
gpus = 0
# the tests' tiny model squeezes pairs: overlay a ZBL core and relax the guard
extra_args = "--zbl-core 0.9 1.3 --emin-max-iter 30 --min-distance {lenient}"
[analysis]
fmp = false
mlp = true
formation = true
[tg]
enabled = false
[diffusion]
enabled = true
sizes = [100]
potential = "mlp"
schedules = ["fast"]
temperatures = [900.0]
duration_ps = 300.0
time_scale = 0.001
extra_args = "--zbl-core 0.9 1.3 --min-distance {lenient}"
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
    # analysis: the mean over the replica's sampled frames (its last "100 ps"), recounted from the dump
    ana = store.table(kind="analysis")[0]
    replica = runner.root / runner.by_id[ana["id"]].params["run_folder"] / "replica-1"
    kept = json.loads((replica / "summary.json").read_text())["kept_steps"]
    assert ana["stage"] == "mlp-fast" and len(kept) >= 3
    assert ana["fraction_4B"] == pytest.approx(independent.frames_mean(replica / "trajectory.lammpstrj", kept,
                                                                       independent.fraction_4B), abs=1e-12)
    # formation: cooling frames every 100 K (1200 -> 300 K), each at its schedule temperature
    form = json.loads((runner.root / "runs" / "formation/mlp-fast/LBS-20-60-20/n100/r1" / "summary.json").read_text())
    # the paper's fast schedule at time scale 0.001 (1 fs steps): heat 300 -> 1200 K at 10 K/ps (90 steps),
    # hold 200 ps (200 steps), cool to 300 K at 10 K/ps from step 290 (90 steps), then 300 K
    steps, _, _ = independent.read_dump_unwrapped(replica / "trajectory.lammpstrj")
    expected = [max(300.0, 1200.0 - 900.0 * (st - 290) / 90) for st in steps if st >= 290]
    assert form["temperature"] == pytest.approx(expected)
    cooling = [t for t in expected if t > 300.0]
    assert len(cooling) >= 8 and np.allclose(np.diff(cooling), -100.0)  # a frame every 100 K while cooling
    assert store.table(kind="formation")[0]["n_final_3MR_boron"] == form["n_final"]
    prov = store.provenance("mlp-fast/LBS-20-60-20/n100/r1")
    assert prov["potential"]["kind"] == "mlp" and len(prov["potential"]["models"][0]["sha256"]) == 64
    dif = store.table(kind="diffusion")[0]
    traj = runner.root / "runs" / "diffusion/mlp-fast/LBS-20-60-20/n100/r1" / "T900" / "trajectory.lammpstrj"
    ts = 0.001  # [diffusion] time_scale: window 50-150 ps and 50 ps discarded, scaled
    d = independent.diffusion_coefficient(traj, "Li", window=(50 * ts, 150 * ts), discard_ps=50 * ts)
    assert dif["D_Li_A2_per_ps_900K"] == pytest.approx(d, rel=1e-6, abs=1e-9)
    # Emin ran with the campaign's --emin-max-iter: the stored MLP result is the capped minimisation
    mlp = json.loads((runner.root / runner.by_id["mlp-fast/LBS-20-60-20/n100/r1"].summary).read_text())
    rep = json.loads((replica / "summary.json").read_text())
    assert rep["emin"]["commands"][-1] == "minimize 0.0 1.0e-4 30 300"
    assert mlp["emin_fraction_4B"]["per_replica"][0] == pytest.approx(
        independent.fraction_4B(read_lammps_data(replica / "emin.data")), abs=1e-12)


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
