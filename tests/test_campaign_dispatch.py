"""Cluster submission through dpdispatcher, rendered without a cluster (dry run)."""

from __future__ import annotations

import re
import subprocess
import sys

from pylbs.campaign import CampaignRunner
from pylbs.campaign.dispatch import build_submission

CAMPAIGN = """
[campaign]
name = "hpc"
root = "hpc"
[glasses]
names = ["LBS-20-60-20"]
[fmp]
sizes = [300]
replicas = 1
np = 4
walltime = "12:00:00"
[mlp]
models = ["model.pth"]
schedules = ["fast"]
np = 1
gpus = 1
[tg]
enabled = false
[diffusion]
enabled = false
[resources]
mode = "cluster"
python = "python"
[resources.cluster]
batch_type = "{batch}"
partition = "gpu"
partitions = {{ analysis = "short" }}
nodes = 1
source_list = ["venv/bin/activate"]
custom_flags = ["#SBATCH --account=lbs"]
"""


def _campaign(tmp_path, batch="Slurm"):
    path = tmp_path / "hpc.toml"
    path.write_text(CAMPAIGN.format(batch=batch))
    return path


def test_slurm_dry_run_renders_the_scripts(tmp_path):
    path = _campaign(tmp_path)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "campaign", "run", str(path), "--dry-run"],
                         capture_output=True, text=True, timeout=60, cwd=cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    assert list(cwd.iterdir()) == [] and "INFO" not in res.stdout  # dpdispatcher's log goes to the root
    d = tmp_path / "hpc" / "dispatch"
    scripts = {p.name: p.read_text() for p in d.glob("*.sub")}
    # every task, the model-less MLP ones included (the model may be trained later)
    assert set(scripts) == {"fmp_LBS-20-60-20_n300_r1.sub", "mlp-fast_LBS-20-60-20_n300_r1.sub",
                            "analysis_fmp_LBS-20-60-20_n300_r1.sub", "analysis_mlp-fast_LBS-20-60-20_n300_r1.sub"}
    fmp = scripts["fmp_LBS-20-60-20_n300_r1.sub"]
    assert fmp.startswith("#!/bin/bash")
    sbatch = [line for line in fmp.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --nodes 1" in sbatch and "#SBATCH --ntasks-per-node 4" in sbatch
    assert "#SBATCH --partition gpu" in sbatch and "#SBATCH --time=12:00:00" in sbatch
    assert "#SBATCH --account=lbs" in sbatch and not any("gres" in s for s in sbatch)  # FMP: no GPU
    assert f"source {tmp_path / 'venv/bin/activate'}" in fmp
    assert 'export CAMPAIGN_ROOT="$REMOTE_ROOT"' in fmp and "export OMP_NUM_THREADS=1" in fmp
    assert re.search(r'mpirun -np 4 python -m pylbs.cli quench --glass LBS-20-60-20 --atoms 300 .*'
                     r'--out "\$CAMPAIGN_ROOT/runs/fmp/LBS-20-60-20/n300/r1"', fmp)
    assert "cd runs/fmp/LBS-20-60-20/n300/r1" in fmp and "task.log" in fmp
    mlp = scripts["mlp-fast_LBS-20-60-20_n300_r1.sub"]
    assert "#SBATCH --gres=gpu:1" in mlp and "#SBATCH --ntasks-per-node 1" in mlp
    assert "#SBATCH --time=24:00:00" in mlp and "--mlp" in mlp and "mpirun -np 1 python" in mlp
    assert "#SBATCH --partition short" in scripts["analysis_fmp_LBS-20-60-20_n300_r1.sub"]
    # a dry run submits nothing and records nothing as run
    assert not (tmp_path / "hpc" / "runs").exists()


def test_pbs_and_lsf_headers(tmp_path):
    for batch, expect in (("PBS", "#PBS -l walltime=12:00:00"), ("LSF", "#BSUB -W 12:00")):
        runner = CampaignRunner(_campaign(tmp_path, batch))
        fmp = [t for t in runner.tasks if t.kind == "fmp"]
        sub = build_submission(runner.c, runner.root, fmp)
        sub.generate_jobs()
        script = sub.machine.gen_script(sub.belonging_jobs[0])
        assert expect in script, script


SHELL = """
[campaign]
name = "shell"
root = "run"
[glasses]
names = ["LBS-20-60-20"]
[fmp]
sizes = [100]
replicas = 1
time_scale = 0.0005
[mlp]
enabled = false
[tg]
enabled = false
[diffusion]
enabled = false
[resources]
mode = "cluster"
python = "{python}"
mpirun = "{mpirun} -np {{np}}"
[resources.cluster]
batch_type = "Shell"
check_interval = 1
"""


def test_cluster_mode_runs_through_dpdispatcher(tmp_path, fmp_plugin):
    """The cluster path for real, with dpdispatcher's Shell batch type standing in for a scheduler."""
    from pathlib import Path

    from pylbs.campaign import Store

    py = Path(sys.executable)
    path = tmp_path / "shell.toml"
    path.write_text(SHELL.format(python=py, mpirun=py.parent / "mpirun"))
    runner = CampaignRunner(path)
    rep = runner.run()
    assert rep.failed == [] and rep.done == ["fmp/LBS-20-60-20/n100/r1", "analysis/fmp/LBS-20-60-20/n100/r1"]
    assert [e["event"] for e in runner.events()] == ["submit", "done", "submit", "done"]  # two waves
    assert Store(runner.c.store).table(kind="analysis")[0]["fraction_4B"] is not None
    assert CampaignRunner(path).run().executed == []  # resumable in cluster mode too
