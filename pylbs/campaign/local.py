"""Local execution: independent tasks in parallel, each a subprocess (``mpirun -np N ...``) in its folder.

:func:`run_local` starts ready tasks while the MPI ranks of the running ones
fit in ``cores`` (a task wider than ``cores`` runs alone), and calls
``on_finish(task, returncode, wall_s)`` as each one ends. Each task runs as
``bash -c COMMAND`` in ``root/<task.out>`` with ``CAMPAIGN_ROOT=root`` and one
OpenMP/torch thread per rank; stdout and stderr go to ``task.log`` there.
Ctrl-C stops the tasks this function started (their process groups) and
re-raises: the runs resume from their checkpoints next time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LOG_FILE = "task.log"
THREAD_VARS = ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS", "DP_INTER_OP_PARALLELISM_THREADS")


def task_env(root: Path) -> dict:
    env = dict(os.environ)
    env["CAMPAIGN_ROOT"] = str(root)
    for v in THREAD_VARS:
        env.setdefault(v, "1")
    return env


def run_local(tasks, root: Path, cores: int, mpirun: str, python: str,
              ready: Callable[[object], bool], on_start: Callable, on_finish: Callable,
              gpus: int = 0, poll_s: float = 0.2) -> None:
    """Run ``tasks`` (in order of preference) as their dependencies allow.

    ``ready(task)``: True when the task may start now (its dependencies are done),
    None when it never will (a dependency failed: it is dropped), False to wait.
    ``gpus``: GPUs of this machine; a task asking for GPUs gets its own through
    ``CUDA_VISIBLE_DEVICES`` and waits for free ones. With ``gpus=0`` every task
    runs on the CPU (``CUDA_VISIBLE_DEVICES`` is left as it is).
    """
    waiting = list(tasks)
    running: dict = {}  # task id -> (task, Popen, t0, logfile, gpu ids)
    free_gpus = list(range(int(gpus)))
    env = task_env(root)
    try:
        while waiting or running:
            used = sum(r[0].np for r in running.values())
            for task in list(waiting):
                state = ready(task)
                if state is None:
                    waiting.remove(task)
                    continue
                if not state:
                    continue
                if running and used + task.np > cores:
                    continue
                need = min(task.gpus, gpus) if gpus else 0
                if need > len(free_gpus):
                    continue
                mine, free_gpus = free_gpus[:need], free_gpus[need:]
                task_env_ = dict(env)
                if mine:
                    task_env_["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, mine))
                wd = root / task.out
                wd.mkdir(parents=True, exist_ok=True)
                log = open(wd / LOG_FILE, "a")
                cmd = task.render(mpirun, python)
                log.write(f"=== pylbs campaign: {time.strftime('%Y-%m-%d %H:%M:%S')} task {task.id}\n$ {cmd}\n")
                log.flush()
                proc = subprocess.Popen(["bash", "-c", cmd], cwd=wd, env=task_env_, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
                running[task.id] = (task, proc, time.perf_counter(), log, mine)
                waiting.remove(task)
                used += task.np
                on_start(task)
            for tid, (task, proc, t0, log, mine) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                log.close()
                free_gpus += mine
                del running[tid]
                on_finish(task, rc, time.perf_counter() - t0)
            if running:
                time.sleep(poll_s)
            elif waiting and not any(ready(t) for t in waiting):
                break  # nothing can start and nothing runs: the rest waits on something that never comes
    except BaseException:
        for task, proc, *_ in running.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for task, proc, _, log, _ in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
        raise
