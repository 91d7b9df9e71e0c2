"""What a campaign will cost before it runs: ``pylbs campaign plan FILE --estimate``.

Each task's work is counted from its schedule (MD steps x atoms; analysed frames x atoms),
and priced with costs measured on THIS machine by short calibration runs on one core:

* FMP-LBS MD: 300 steps of a 300-atom LBS-20-60-20 melt at 2000 K (pair_style fmp/lbs, pppm),
  after 50 unmeasured ones;
* DeepMD MD: 50 steps of the same structure with the campaign's first model, as the runs will
  use it: its compressed copy unless ``PYLBS_COMPRESS=0`` (:mod:`pylbs.mlp.compress`; made and
  cached now if missing). Only if the file exists; otherwise the MLP tasks are left unpriced and
  say so;
* analysis: ``pylbs analyze`` of one frame of that structure (per frame, scaled by atoms).

The calibration is cached in ``~/.cache/pylbs/calibration.json`` per host, pylbs version and
model hash and compression (``--recalibrate`` redoes it). Core-hours assume cost linear in atoms and steps
(pppm is N log N: a mild underestimate for 1000+ atoms) and perfect MPI scaling; GPU runs
are priced at the CPU cost (no GPU was measured), so read MLP GPU-hours as an upper bound.
Wall time: the core-hours of all tasks over ``[resources] cores`` (local mode), i.e. the
ideal packing the local executor approaches.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

from ..analysis.analyze import analyze
from ..glasses import get_glass
from ..hashing import file_sha256
from ..jsonio import read_json, write_json_atomic
from ..mlp.compress import compression_on, md_models
from ..potential import deepmd_commands, fmp_commands, potential_commands, required_styles
from ..protocols.schedules import (Stage, diffusion_schedule, fmp_melt_quench_schedule, mlp_schedule,
                                   thermostat_fix, tg_heating_schedule, velocity_command)
from ..session import Session
from ..structure import random_structure
from .spec import Campaign
from .tasks import Task

CACHE = Path(os.environ.get("PYLBS_CACHE", Path.home() / ".cache" / "pylbs")) / "calibration.json"
CAL_ATOMS, FMP_STEPS, MLP_STEPS = 300, 300, 50
#: frames of a run's sample stage that ``pylbs analyze RUN`` averages (the paper's last 100 ps)
SAMPLE_FRAMES = 100


def _sha(path: Path) -> str:
    return file_sha256(path)[:16]


def _time_md(commands, steps: int, folder: Path) -> tuple[float, Path]:
    """Seconds per atom-step of ``steps`` NVT steps at 2000 K after 50 unmeasured ones (set-up,
    kspace tuning and the first neighbour lists are not the cost of a long run)."""
    atoms = random_structure(get_glass("LBS-20-60-20"), CAL_ATOMS, seed=1)
    stage = Stage("cal", 2000.0, 2000.0, steps * 1e-3)
    with Session(folder, require=required_styles(commands), label="calibration") as s:
        s.setup(atoms=atoms, potential=commands, thermo_every=steps)
        s.commands([velocity_command(2000.0, 1), thermostat_fix(stage), "run 50"])
        t = time.perf_counter()
        s.command(f"run {steps}")
        wall = time.perf_counter() - t
        s.command(f"write_data {folder / 'cal.data'}")
        n = s.natoms
    return wall / (steps * n), folder / "cal.data"


def calibrate(model: str | None = None, recalibrate: bool = False) -> dict:
    """Seconds per atom-step (FMP, DeepMD) and per atom-frame (analysis) on one core of this machine."""
    try:
        version = metadata.version("pylbs")
    except metadata.PackageNotFoundError:  # a source tree that was not installed
        version = "source"
    compress = compression_on()  # the runs' MD model: its compressed copy unless switched off
    key = (f"{socket.gethostname()}|pylbs {version}|model {_sha(Path(model)) if model else None}"
           f"|compress {compress}")
    cache = read_json(CACHE) or {}
    if key in cache and not recalibrate:
        return {**cache[key], "cached": True}
    with tempfile.TemporaryDirectory() as tmp:
        fmp, data = _time_md(potential_commands(fmp_commands()), FMP_STEPS, Path(tmp) / "fmp")
        t = time.perf_counter()
        analyze(data)
        per_frame = time.perf_counter() - t
        mlp, ran = None, None
        if model:  # time the file the DeepMD stage will run (pylbs.mlp.compress), not the one given
            ran = md_models([model], compress=compress)[0]
            mlp, _ = _time_md(potential_commands(deepmd_commands([ran["md_model"]], 10**9, Path(tmp) / "devi.out")),
                              MLP_STEPS, Path(tmp) / "mlp")
    out = {"fmp_s_per_atom_step": fmp, "mlp_s_per_atom_step": mlp,
           "mlp_timed_model": ran and {"file": ran["md_model"], "compressed": ran["compressed"]},
           "analysis_s_per_atom_frame": per_frame / CAL_ATOMS, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "model": model, "calibration": f"{CAL_ATOMS} atoms LBS-20-60-20 at 2000 K, 1 core"}
    cache[key] = out
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(CACHE, cache)
    return {**out, "cached": False}


def task_work(c: Campaign, task: Task) -> tuple[str, float]:
    """(cost kind, amount): ("fmp"|"mlp", atom-steps) or ("analysis", atom-frames) of one task."""
    p = task.params
    n, ts = int(p.get("n_atoms") or 0), float(p.get("time_scale") or 1.0)
    if task.kind == "fmp":
        return "fmp", n * fmp_melt_quench_schedule().scaled(ts).n_steps()
    if task.kind == "mlp":
        holds = (p.get("anneal_hold_ps") or [200.0]) if p["schedule"] == "anneal" else [200.0]
        return "mlp", n * sum(mlp_schedule(p["schedule"], p["t_max_K"], anneal_hold_ps=h).scaled(ts).n_steps()
                              for h in holds)
    if task.kind in ("analysis", "formation"):
        frames = SAMPLE_FRAMES
        if task.kind == "analysis" and p.get("stage", "").startswith("mlp-anneal"):
            frames *= len(c.mlp.anneal_hold_ps)  # one run per anneal hold
        if task.kind == "formation" and c.mlp.cool_frame_every_K:  # else only the run's usual ~100 frames
            frames += int((float(p["t_max_K"]) - 300.0) / c.mlp.cool_frame_every_K) + 1
        return "analysis", n * frames
    if task.kind == "tg":
        tg = c.tg
        sched = tg_heating_schedule(300.0, tg.t_max, tg.rate_K_per_ps, equil_ps=50.0, ensemble=tg.ensemble)
        k = int(p.get("structures") or 1)  # one heating run per structure, or tg.replicas seeds of one
        runs = k if k > 1 else tg.replicas
        return p["potential"], n * runs * sched.scaled(tg.time_scale).n_steps()
    if task.kind == "diffusion":
        d = c.diffusion
        steps = sum(diffusion_schedule(T, d.duration_ps, d.ensemble).scaled(d.time_scale).n_steps()
                    for T in d.temperatures)
        return p["potential"], n * steps
    return "analysis", 0.0


def estimate(c: Campaign, tasks: list[Task], costs: dict) -> dict:
    """Core-hours (and GPU-hours) per task kind and in total, and the wall time on [resources]."""
    price = {"fmp": costs["fmp_s_per_atom_step"], "mlp": costs.get("mlp_s_per_atom_step"),
             "analysis": costs["analysis_s_per_atom_frame"]}
    rows: dict = defaultdict(lambda: {"tasks": 0, "work": 0.0, "core_h": 0.0, "gpu_h": 0.0, "unpriced": 0})
    for t in tasks:
        kind, work = task_work(c, t)
        r = rows[t.kind]
        r["tasks"] += 1
        r["work"] += work
        if price.get(kind) is None:
            r["unpriced"] += 1
            continue
        hours = work * price[kind] / 3600.0
        # a GPU task runs on the CPU locally when the machine has no GPU ([resources] gpus = 0)
        on_gpu = bool(t.gpus) and (c.resources.mode != "local" or c.resources.gpus > 0)
        r["gpu_h" if on_gpu else "core_h"] += hours
    total_core = sum(r["core_h"] for r in rows.values())
    total_gpu = sum(r["gpu_h"] for r in rows.values())
    cores, gpus = max(1, c.resources.cores), c.resources.gpus
    wall_h = max(total_core / cores, total_gpu / gpus if gpus else 0.0) if c.resources.mode == "local" else None
    return {"per_kind": dict(rows), "core_hours": total_core, "gpu_hours": total_gpu,
            "wall_hours_local": wall_h, "cores": cores, "gpus": gpus, "costs": costs,
            "unpriced_tasks": sum(r["unpriced"] for r in rows.values())}


def format_estimate(est: dict) -> str:
    c = est["costs"]
    lines = [f"cost estimate (costs measured here on 1 core{', cached' if c.get('cached') else ''}: "
             f"FMP {c['fmp_s_per_atom_step'] * 1e6:.2f} us/atom-step, DeepMD "
             + (f"{c['mlp_s_per_atom_step'] * 1e6:.2f} us/atom-step"
                + (" compressed" if (c.get("mlp_timed_model") or {}).get("compressed") else "")
                if c.get("mlp_s_per_atom_step") else "not measured (no model file)")
             + f", analysis {c['analysis_s_per_atom_frame'] * 1e3:.3f} ms/atom-frame)",
             f"{'kind':10s} {'tasks':>6s} {'core-hours':>11s} {'GPU-hours':>10s}"]
    for kind, r in est["per_kind"].items():
        note = f"  ({r['unpriced']} unpriced: no model to calibrate)" if r["unpriced"] else ""
        lines.append(f"{kind:10s} {r['tasks']:6d} {r['core_h']:11.1f} {r['gpu_h']:10.1f}{note}")
    lines.append(f"{'total':10s} {sum(r['tasks'] for r in est['per_kind'].values()):6d} "
                 f"{est['core_hours']:11.1f} {est['gpu_hours']:10.1f}")
    if est["wall_hours_local"] is not None:
        lines.append(f"wall time on this campaign's resources ({est['cores']} cores, {est['gpus']} GPUs, ideal "
                     f"packing): {est['wall_hours_local']:.1f} h")
    lines.append("GPU-hours are priced at this machine's CPU cost per core (no GPU measured): an upper bound.")
    return "\n".join(lines)
