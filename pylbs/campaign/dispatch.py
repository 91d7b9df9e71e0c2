"""Cluster execution through dpdispatcher (Slurm, PBS, LSF, ...): no home-made scheduler.

The campaign's ``[resources.cluster]`` becomes a dpdispatcher ``Machine``
(batch_type, context_type, remote_root) and, per task kind, a ``Resources``
(nodes, ranks, GPUs, partition, walltime, modules, sources). Tasks run in
waves: every task whose dependencies are done is submitted (one submission
per kind, all submitted at once, each job one task by default), dpdispatcher
polls the scheduler until they end, the results go to the store, and the next
wave starts. Run it on the login node (e.g. inside ``tmux``); a killed
``pylbs campaign run`` started again recovers the same jobs (dpdispatcher
matches submissions by hash) and skips finished tasks.

The default context, ``LazyLocalContext``, runs in the campaign folder itself
(shared file system: the login node sees the compute nodes' files). Commands
use ``$CAMPAIGN_ROOT``, exported as dpdispatcher's ``$REMOTE_ROOT``.

:func:`render_scripts` is the dry run: it writes the submission scripts that
would be submitted (``<kind>-<n>.sub`` with the scheduler header and the task
commands inlined) without a scheduler.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..dispatcher import import_dpdispatcher
from .local import LOG_FILE, THREAD_VARS

#: Walltime directive per batch type (dpdispatcher leaves walltime to custom flags).
WALLTIME_FLAG = {"slurm": "#SBATCH --time={}", "slurmjobarray": "#SBATCH --time={}", "pbs": "#PBS -l walltime={}",
                 "torque": "#PBS -l walltime={}", "lsf": "#BSUB -W {}"}


def cluster_launcher(c) -> tuple[str, str]:
    """(mpirun template, python) on the cluster: the campaign's, else ``mpirun -np {np}`` and ``python``."""
    mp = c.resources.mpirun or "mpirun -np {np}"
    if "{np}" not in mp:
        mp += " -np {np}"
    return mp, c.resources.python or "python"


def _walltime(batch: str, wt: str) -> str | None:
    fmt = WALLTIME_FLAG.get(batch.lower())
    if fmt is None or not wt:
        return None
    if batch.lower() == "lsf":  # LSF wants [HH:]MM
        parts = wt.split(":")
        wt = f"{parts[0]}:{parts[1]}" if len(parts) == 3 else wt
    return fmt.format(wt)


def machine_dict(c, root: Path) -> dict:
    cl = c.resources.cluster
    d = {"batch_type": cl.batch_type, "context_type": cl.context_type, "local_root": str(root)}
    if cl.remote_root or cl.context_type.lower() not in ("lazylocalcontext", "lazylocal"):
        d["remote_root"] = cl.remote_root or str(root)
    if cl.remote_profile:
        d["remote_profile"] = dict(cl.remote_profile)
    return d


def resources_dict(c, task) -> dict:
    """dpdispatcher Resources of one task (its kind's ranks, GPUs and walltime)."""
    cl = c.resources.cluster
    flags = list(cl.custom_flags)
    wt = _walltime(cl.batch_type, cl.walltime or task.walltime)
    if wt and not any(("--time" in f or "walltime" in f or "-W " in f) for f in flags):
        flags.append(wt)
    envs = {v: "1" for v in THREAD_VARS}
    envs.update(cl.envs)
    return {"number_node": cl.nodes, "cpu_per_node": cl.cpus_per_node or task.np,
            "gpu_per_node": task.gpus if cl.gpus_per_node is None else (cl.gpus_per_node if task.gpus else 0),
            "queue_name": cl.partitions.get(task.kind, cl.partition), "group_size": cl.group_size,
            "custom_flags": flags,
            "module_list": list(cl.module_list), "source_list": list(cl.source_list), "envs": envs,
            "prepend_script": ['export CAMPAIGN_ROOT="$REMOTE_ROOT"']}


def _groups(tasks) -> dict[tuple, list]:
    """Tasks that share resources (kind, ranks, GPUs, walltime) go into one submission."""
    out: dict[tuple, list] = {}
    for t in tasks:
        out.setdefault((t.kind, t.np, t.gpus, t.walltime), []).append(t)
    return out


def build_submission(c, root: Path, tasks):
    """A dpdispatcher Submission for tasks with the same resources (nothing is submitted)."""
    dp = import_dpdispatcher(root)
    Machine, Resources, Submission, Task = dp.Machine, dp.Resources, dp.Submission, dp.Task
    mpirun, python = cluster_launcher(c)
    machine = Machine.load_from_dict(machine_dict(c, root))
    resources = Resources.load_from_dict(resources_dict(c, tasks[0]))
    dp_tasks = []
    for t in tasks:
        dp_tasks.append(Task(command=t.render(mpirun, python), task_work_path=t.out, forward_files=[],
                             backward_files=[], outlog=LOG_FILE, errlog=LOG_FILE))
    return Submission(work_base=".", machine=machine, resources=resources, task_list=dp_tasks)


def render_scripts(runner, tasks, out_dir: Path) -> list[Path]:
    """Dry run: write the scheduler scripts of ``tasks`` (all of them, regardless of waves) to ``out_dir``.

    Each file is dpdispatcher's job script with the per-task commands (which
    dpdispatcher keeps in a ``.run`` file it sources) inlined where it sources them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (kind, *_), group in _groups(tasks).items():
        sub = build_submission(runner.c, runner.root, group)
        sub.generate_jobs()
        for k, job in enumerate(sub.belonging_jobs):
            machine = sub.machine
            script = machine.gen_script(job)
            run_line = machine.gen_script_run_command(job)
            script = script.replace(run_line, machine.gen_script_command(job).strip("\n"))
            ids = ", ".join(runner_task.id for runner_task in group
                            if any(dt.task_work_path == runner_task.out for dt in job.job_task_list))
            stem = ids.replace("/", "_") if len(job.job_task_list) == 1 else \
                f"{kind}-{len([p for p in written if p.name.startswith(kind + '-')]) + 1}"
            path = out_dir / f"{stem}.sub"
            head, _, rest = script.partition("\n")
            path.write_text(f"{head}\n# pylbs campaign {runner.c.name}: {ids}\n{rest}")
            written.append(path)
    return written


def run_cluster(runner, todo, states: dict, rep, exit_on_submit: bool = False) -> None:
    """Submit ``todo`` in dependency waves; record each task's outcome in the store."""
    todo_ids = {t.id for t in todo}
    remaining = list(todo)
    while remaining:
        wave, later = [], []
        for t in remaining:
            dep_states = [states[d][0] for d in t.deps]
            if any(s in ("failed", "blocked") for s in dep_states):
                states[t.id] = ("blocked", "a dependency failed")
                rep.blocked[t.id] = "a dependency failed"
            elif all(s == "done" for s in dep_states):
                wave.append(t)
            elif any(d not in todo_ids and states[d][0] != "done" for d in t.deps):
                rep.blocked[t.id] = "dependency not selected"
            else:
                later.append(t)
        if not wave:
            break
        for t in wave:
            (runner.root / t.out).mkdir(parents=True, exist_ok=True)
        subs = [(g, build_submission(runner.c, runner.root, g)) for g in _groups(wave).values()]
        for t in wave:
            runner.log_event("submit", t)
            rep.executed.append(t.id)

        def go(item):
            group, sub = item
            try:
                sub.run_submission(exit_on_submit=exit_on_submit, clean=False,
                                   check_interval=runner.c.resources.cluster.check_interval)
                return group, None
            except Exception as exc:  # a failed job: outcomes are read from the files below
                return group, exc

        with ThreadPoolExecutor(max_workers=len(subs)) as pool:
            results = list(pool.map(go, subs))
        if exit_on_submit:
            rep.submitted += [t.id for t in wave]
            return
        for group, exc in results:
            for t in group:
                rc = None if runner.read_summary(t) is not None else (1 if exc else 0)
                runner.finish(t, rc, None, states, rep)
        remaining = later
