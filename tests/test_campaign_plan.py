"""Campaign files and their expansion into tasks (no MD): the shipped campaigns, ids, dependencies, errors."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from pylbs.campaign import CampaignError, CampaignRunner, expand, load_campaign
from pylbs.campaign.spec import parse_campaign
from pylbs.glasses import CATALOG
from pylbs.protocols.schedules import default_t_max
from pylbs.glasses import get_glass

ROOT = Path(__file__).resolve().parents[1]


def test_paper_campaign_is_the_full_protocol():
    c = load_campaign(ROOT / "campaigns" / "paper.toml")
    assert c.glasses == tuple(CATALOG) and c.fmp.sizes == (300, 1000) and c.fmp.replicas == 3
    assert c.mlp.schedules == ("fast", "anneal") and c.fmp.time_scale == 1.0
    assert c.diffusion.temperatures == (500.0, 600.0, 700.0, 900.0)
    tasks = expand(c)
    kinds = Counter(t.kind for t in tasks)
    # 11 glasses x 2 sizes x 3 replicas; x 2 schedules; analysis of each run; 3MR formation of each MLP run;
    # Tg per glass; 5 x 2 x 2 diffusion
    assert kinds == {"fmp": 66, "mlp": 132, "analysis": 198, "formation": 132, "tg": 11, "diffusion": 20}
    ids = [t.id for t in tasks]
    assert len(set(ids)) == len(ids)
    pos = {t.id: i for i, t in enumerate(tasks)}
    assert all(pos[d] < pos[t.id] for t in tasks for d in t.deps)
    m = next(t for t in tasks if t.id == "mlp-anneal/LBS-20-60-20/n1000/r2")
    assert m.deps == ("fmp/LBS-20-60-20/n1000/r2",) and m.gpus == 1
    cmd = m.render("mpirun -np {np}", "python")
    assert cmd.startswith("mpirun -np 1 python -m pylbs.cli quench --from")
    assert "--schedule anneal" in cmd and "--seed 2" in cmd and "model.pth" in cmd
    # T_max: the paper's 1600 K for the 1000-atom LBS-20-60-20 (Fig. 7(d)), the rule's 1700 K at 300 atoms;
    # no --t-max in the command, so pylbs quench picks the same value and records where it came from
    assert default_t_max(get_glass("LBS-20-60-20")) == 1700.0 and m.params["t_max_K"] == 1600.0
    assert "--t-max" not in cmd
    assert next(t for t in tasks if t.id == "mlp-anneal/LBS-20-60-20/n300/r2").params["t_max_K"] == 1700.0
    folder = "runs/mlp-anneal/LBS-20-60-20/n1000/r2/mlp-anneal-T1600-f10K"  # the folder pylbs quench --mlp writes
    # T_max follows the atoms the glass will have: 700 requested gives 693 (33 units of 21), under the
    # paper's 700-atom threshold, so quench picks 1700 K and the task waits for that folder
    from dataclasses import replace as dc_replace

    c700 = dc_replace(c, fmp=dc_replace(c.fmp, sizes=(300, 700, 1000)))
    t700 = next(t for t in expand(c700) if t.id == "mlp-anneal/LBS-20-60-20/n700/r1")
    assert t700.params["t_max_K"] == 1700.0 and "/mlp-anneal-T1700-f10K/" in t700.summary
    assert m.summary == f"{folder}/summary.json" and "--cool-frame-every-K 10" in cmd
    # analysis averages the run folder's sampled frames; formation reads the replica's cooling frames
    a = next(t for t in tasks if t.id == "analysis/mlp-anneal/LBS-20-60-20/n1000/r2")
    assert f'analyze "$CAMPAIGN_ROOT/{folder}" --json' in a.command
    f = next(t for t in tasks if t.id == "formation/mlp-anneal/LBS-20-60-20/n1000/r2")
    assert f'analyze "$CAMPAIGN_ROOT/{folder}/replica-1" --formation' in f.command and f.deps == (m.id,)
    # Tg: one heating run per structure (the three 2 K/ps glasses), NVT as in the paper
    tg = next(t for t in tasks if t.id == "tg/mlp-anneal/LBS-20-60-20/n300")
    assert tg.deps == tuple(f"mlp-anneal/LBS-20-60-20/n300/r{r}" for r in (1, 2, 3))
    assert tg.command.count("md_final.data") == 3 and "--ensemble nvt" in tg.command
    d = next(t for t in tasks if t.kind == "diffusion")
    assert "--temperatures 500 600 700 900" in d.command and d.deps[0].startswith("mlp-")


def test_laptop_campaign_is_small_and_runs_the_shipped_model():
    from pylbs.potential.models import model_path

    c = load_campaign(ROOT / "campaigns" / "laptop.toml")
    tasks = expand(c)
    assert c.resources.mode == "local" and c.resources.cores == 2
    assert max(c.fmp.sizes) <= 300 and c.fmp.time_scale <= 0.01 and c.mlp.time_scale <= 0.005
    assert {t.kind for t in tasks} == {"fmp", "mlp", "analysis", "tg", "diffusion"}
    mlp = [t for t in tasks if t.kind == "mlp"]
    assert len(mlp) == 11 * 2 * 2  # glasses x FMP replicas x schedules
    assert all(t.inputs == (str(model_path("default")),) for t in mlp)  # the only file it needs ships with pylbs


def test_anneal_holds_are_a_replica_axis_beside_the_seeds_and_the_fmp_ensemble(tmp_path):
    """[mlp] anneal_hold_ps = [200, 400, 600] (the paper's error bars of the 2 K/ps glasses): every seed's
    anneal task runs the three holds (one folder, three replicas); the fast schedule ignores them."""
    spec = {"campaign": {"name": "h"}, "glasses": {"names": ["LBS-20-60-20"]},
            "fmp": {"sizes": [300], "replicas": 2},
            "mlp": {"models": ["m.pth"], "schedules": ["fast", "anneal"], "anneal_hold_ps": [200, 400, 600],
                    "t_max": {"LBS-20-60-20": 1800}},
            "tg": {"enabled": False}, "diffusion": {"enabled": False}}
    tasks = {t.id: t for t in expand(parse_campaign(spec, tmp_path / "h.toml"))}
    for r in (1, 2):  # the seeds axis: one task per FMP replica, each with all three holds
        a = tasks[f"mlp-anneal/LBS-20-60-20/n300/r{r}"]
        assert "--anneal-hold-ps 200 400 600" in a.command and f"--seed {r}" in a.command
        assert "--t-max 1800" in a.command  # the campaign's own T_max is passed on
        assert a.summary.endswith("/mlp-anneal-T1800-a200-400-600/summary.json")
    fast = tasks["mlp-fast/LBS-20-60-20/n300/r1"]
    assert "--anneal-hold-ps" not in fast.command and fast.summary.endswith("/mlp-fast-T1800/summary.json")
    from pylbs.campaign.estimate import task_work
    from pylbs.protocols.schedules import mlp_schedule

    c = parse_campaign(spec, tmp_path / "h.toml")
    kind, work = task_work(c, tasks["mlp-anneal/LBS-20-60-20/n300/r1"])
    assert kind == "mlp" and work == 300 * sum(mlp_schedule("anneal", 1800.0, anneal_hold_ps=h).n_steps()
                                               for h in (200.0, 400.0, 600.0))
    from pylbs.campaign.estimate import SAMPLE_FRAMES

    # the analysis averages one run per hold: three times the frames of one
    assert task_work(c, tasks["analysis/mlp-anneal/LBS-20-60-20/n300/r1"]) == ("analysis", 300 * 3 * SAMPLE_FRAMES)
    assert task_work(c, tasks["analysis/mlp-fast/LBS-20-60-20/n300/r1"]) == ("analysis", 300 * SAMPLE_FRAMES)
    fmp = tasks["fmp/LBS-20-60-20/n300/r1"]
    assert "--ensemble" not in fmp.command and fmp.params["ensemble"] == "nvt"  # the paper's NVT by default
    spec["fmp"]["ensemble"] = "npt"  # the Fig. 5 comparison
    npt = {t.id: t for t in expand(parse_campaign(spec, tmp_path / "h.toml"))}["fmp/LBS-20-60-20/n300/r1"]
    assert "--ensemble npt" in npt.command
    spec["fmp"]["ensemble"] = "nve"
    with pytest.raises(CampaignError, match="ensemble"):
        parse_campaign(spec, tmp_path / "h.toml")
    spec["fmp"]["ensemble"] = "nvt"
    for bad in ([], [200, -1], "long"):
        spec["mlp"]["anneal_hold_ps"] = bad
        with pytest.raises(CampaignError, match="anneal_hold_ps"):
            parse_campaign(spec, tmp_path / "h.toml")


def test_ids_do_not_depend_on_order_or_other_glasses(tmp_path):
    a = parse_campaign({"campaign": {"name": "a"}, "glasses": {"names": ["LBS-20-60-20", "LBS-40-40-20"]},
                        "mlp": {"enabled": False}, "tg": {"enabled": False}, "diffusion": {"enabled": False}},
                       tmp_path / "a.toml")
    b = parse_campaign({"campaign": {"name": "a"}, "glasses": {"names": ["LBS-40-40-20"]},
                        "mlp": {"enabled": False}, "tg": {"enabled": False}, "diffusion": {"enabled": False}},
                       tmp_path / "a.toml")
    ta = {t.id: t.command for t in expand(a)}
    tb = {t.id: t.command for t in expand(b)}
    assert set(tb) < set(ta) and all(ta[i] == tb[i] for i in tb)


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(CampaignError, match="unknown key.*'replica'.*allowed"):
        parse_campaign({"campaign": {"name": "x"}, "fmp": {"replica": 3}}, tmp_path / "x.toml")
    with pytest.raises(CampaignError, match="lists no models"):
        parse_campaign({"campaign": {"name": "x"}}, tmp_path / "x.toml")
    with pytest.raises(CampaignError, match="unknown glass"):
        parse_campaign({"campaign": {"name": "x"}, "glasses": {"names": ["LBS-nope"]}}, tmp_path / "x.toml")
    with pytest.raises(CampaignError, match="schedules"):
        parse_campaign({"campaign": {"name": "x"}, "mlp": {"models": ["m.pth"], "schedules": ["slow"]}},
                       tmp_path / "x.toml")


def test_missing_model_blocks_only_its_tasks(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nname = "c"\n[glasses]\nnames = ["LBS-20-60-20"]\n[fmp]\nsizes = [100]\n'
                    'replicas = 1\n[mlp]\nmodels = ["missing.pth"]\nschedules = ["fast"]\n[tg]\nenabled = false\n'
                    '[diffusion]\nenabled = false\n')
    states = CampaignRunner(path).task_states(sync=False)
    assert states["fmp/LBS-20-60-20/n100/r1"][0] == "pending"
    st, why = states["mlp-fast/LBS-20-60-20/n100/r1"]
    assert st == "blocked" and "missing.pth does not exist" in why and "pylbs mlp train" in why
    assert states["analysis/mlp-fast/LBS-20-60-20/n100/r1"][0] == "blocked"


def test_local_executor_shares_out_gpus_and_cores(tmp_path):
    from pylbs.campaign.local import run_local
    from pylbs.campaign.tasks import Task

    cmd = 'echo "${CUDA_VISIBLE_DEVICES-none} $(date +%s.%N)" > gpu.txt; sleep 0.3; echo "$(date +%s.%N)" >> gpu.txt'
    tasks = [Task(f"t{i}", "fmp", cmd, f"t{i}", f"t{i}/summary.json", gpus=g, np=1)
             for i, g in enumerate((1, 1, 1, 0))]
    finished = []
    run_local(tasks, tmp_path, cores=3, mpirun="", python="", ready=lambda t: True, on_start=lambda t: None,
              on_finish=lambda t, rc, wall: finished.append((t.id, rc)), gpus=2)
    assert sorted(finished) == [("t0", 0), ("t1", 0), ("t2", 0), ("t3", 0)]
    lines = {t.id: (tmp_path / t.out / "gpu.txt").read_text().split() for t in tasks}
    assert {lines["t0"][0], lines["t1"][0]} == {"0", "1"} and lines["t2"][0] in ("0", "1")
    assert lines["t3"][0] == os.environ.get("CUDA_VISIBLE_DEVICES", "none")  # a CPU task gets no GPU of ours
    # the third GPU task waited for a free GPU: it started after one of the first two ended
    assert float(lines["t2"][1]) >= min(float(lines["t0"][2]), float(lines["t1"][2]))


def test_one_runner_per_root(tmp_path):
    import fcntl

    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nname = "c"\nroot = "r"\n[glasses]\nnames = ["LBS-20-60-20"]\n[mlp]\nenabled = false\n'
                    '[tg]\nenabled = false\n[diffusion]\nenabled = false\n')
    runner = CampaignRunner(path)
    (tmp_path / "r").mkdir()
    with open(tmp_path / "r" / ".campaign.lock", "a+") as f:  # as if another runner held it
        f.write("4242")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(CampaignError, match=r"another `pylbs campaign` is running .*pid 4242"):
            runner.run(dry_run=True)
    assert runner.run(dry_run=True).submitted  # free again


def test_estimate_prices_the_schedules_work():
    """Core-hours = atoms x steps (from the paper's schedules, recomputed here) x the cost per atom-step."""
    from pylbs.campaign.estimate import estimate

    c = load_campaign(ROOT / "campaigns" / "paper.toml")
    costs = {"fmp_s_per_atom_step": 2e-5, "mlp_s_per_atom_step": 1e-4, "analysis_s_per_atom_frame": 1e-4}
    est = estimate(c, expand(c), costs)
    # FMP: 3500 K 500 ps + 3200 K at 1 K/ps + 300 ps = 4000 ps = 4e6 steps of 1 fs; 11 glasses x 3 replicas
    # at 300 and at 1000 atoms (requested sizes: what the task records)
    fmp_atom_steps = 11 * 3 * (300 + 1000) * 4.0e6
    assert est["per_kind"]["fmp"]["core_h"] == pytest.approx(fmp_atom_steps * 2e-5 / 3600)
    # diffusion (GPU tasks): 5 glasses x 2 schedules x 2 replicas, 1000 atoms, 4 temperatures x 300 ps
    assert est["per_kind"]["diffusion"]["gpu_h"] == pytest.approx(20 * 1000 * 4 * 300_000 * 1e-4 / 3600)
    assert est["per_kind"]["diffusion"]["core_h"] == 0.0 and est["unpriced_tasks"] == 0
    assert est["core_hours"] == pytest.approx(sum(r["core_h"] for r in est["per_kind"].values()))
    assert est["wall_hours_local"] is None  # cluster mode: no local packing


def test_estimate_cli_calibrates_once_and_leaves_mlp_unpriced_without_a_model(tmp_path, fmp_plugin, monkeypatch):
    import json
    import subprocess
    import sys

    monkeypatch.setenv("PYLBS_CACHE", str(tmp_path / "cache"))
    campaign = tmp_path / "laptop-fmp.toml"  # laptop.toml without its MLP stage
    campaign.write_text((ROOT / "campaigns" / "laptop.toml").read_text().replace(
        'models = ["default"]', 'enabled = false').replace('root = "../runs', f'root = "{ROOT}/runs'))
    cmd = [sys.executable, "-m", "pylbs.cli", "campaign", "plan", str(campaign), "--estimate"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    cal = next(iter(json.loads((tmp_path / "cache" / "calibration.json").read_text()).values()))
    assert cal["mlp_s_per_atom_step"] is None and cal["fmp_s_per_atom_step"] > 0  # MLP off
    assert "total" in first.stdout and "wall time on this campaign's resources (2 cores" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "cached" in second.stdout and second.stdout.splitlines()[-4:] == first.stdout.splitlines()[-4:]


def test_tg_with_fewer_structures_than_replicas_runs_one_per_structure(tmp_path):
    """[fmp] replicas 2, [tg] replicas 3: the Tg task heats the 2 structures (one run each), not 3."""
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nname = "t"\n[glasses]\nnames = ["LBS-20-60-20"]\n[fmp]\nsizes = [100]\n'
                    'replicas = 2\n[mlp]\nenabled = false\n[tg]\npotential = "fmp"\nsizes = [100]\nreplicas = 3\n'
                    '[diffusion]\nenabled = false\n')
    tg = next(t for t in expand(load_campaign(path)) if t.kind == "tg")
    assert tg.command.count("final.data") == 2 and "--replicas 2 " in tg.command
    assert tg.deps == ("fmp/LBS-20-60-20/n100/r1", "fmp/LBS-20-60-20/n100/r2")


def test_formation_needs_cooling_frames(tmp_path):
    from pylbs.campaign.spec import CampaignError

    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nname = "t"\n[glasses]\nnames = ["LBS-20-60-20"]\n[mlp]\nmodels = ["m.pth"]\n'
                    '[analysis]\nformation = true\n')
    with pytest.raises(CampaignError, match="cool_frame_every_K"):
        load_campaign(path)
