"""Run, resume, inspect and retry a campaign.

State of a task (:func:`task_states`), from the files and the store only:

* ``done``     its summary.json exists (recorded in the store; recorded now if it was not)
* ``failed``   the store says it failed (and it has no summary.json): shown with its log tail,
               skipped by ``run``; ``retry`` runs it again, alone
* ``stale``    the store holds a run of this id made by another command (the campaign file changed):
               kept, never overwritten; ``pylbs campaign reset FILE ID`` deletes it so it runs again
* ``blocked``  a dependency failed, is blocked or stale, or an input (a model file) is missing
* ``pending``  everything else

``run`` executes the pending tasks (locally in parallel, or on a cluster through
dpdispatcher) and skips the done ones, so running a finished campaign again
does nothing. Every event goes to ``ROOT/campaign.log`` (JSON lines) and every
result to the HDF5 store.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..jsonio import read_json
from ..lammps_io import file_tail
from ..progress import Progress
from ..protocols.runner import changed_inputs
from .dispatch import render_scripts, run_cluster
from .local import LOG_FILE, run_local
from .provenance import run_provenance
from .spec import Campaign, CampaignError, load_campaign
from .store import Store
from .tasks import Task, expand, select

EVENT_LOG = "campaign.log"


@dataclass
class RunReport:
    """What one ``run``/``retry`` did (ids per outcome)."""

    executed: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already done
    blocked: dict[str, str] = field(default_factory=dict)  # id -> reason
    previously_failed: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # cluster mode with exit_on_submit

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked and not self.previously_failed


def launcher(c: Campaign) -> tuple[str, str]:
    """(mpirun template with {np}, python) for local runs: the venv's own by default."""
    py = c.resources.python or sys.executable
    mp = c.resources.mpirun
    if mp is None:
        here = Path(sys.executable).parent / "mpirun"
        mp = f"{here if here.exists() else 'mpirun'} -np {{np}}"
    elif "{np}" not in mp:
        mp += " -np {np}"
    return mp, py


class CampaignRunner:
    """A loaded campaign, its task plan, its store and its event log."""

    def __init__(self, campaign: Campaign | str | Path):
        self.c = campaign if isinstance(campaign, Campaign) else load_campaign(campaign)
        self.root = self.c.root
        self.tasks = expand(self.c)
        self.by_id = {t.id: t for t in self.tasks}
        self.store = Store(self.c.store)
        self._records = None

    # ------------------------------------------------------------ bookkeeping
    def log_event(self, event: str, task: Task | None = None, **extra) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event}
        if task is not None:
            rec["task"] = task.id
        rec.update(extra)
        with open(self.root / EVENT_LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def events(self) -> list[dict]:
        p = self.root / EVENT_LOG
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []

    def summary_path(self, task: Task) -> Path:
        return self.root / task.summary

    def read_summary(self, task: Task) -> dict | None:
        return read_json(self.summary_path(task))

    def _ensure_store(self) -> None:
        self.store.write_campaign(self.c.name, self.c.text, [t.to_dict() for t in self.tasks])

    def record_done(self, task: Task, summary: dict, wall_s: float | None = None) -> None:
        self.store.record(task, "done", summary, run_provenance(task, summary), wall_s=wall_s)

    def record_failed(self, task: Task, reason: str, wall_s: float | None = None) -> str:
        tail = file_tail(self.root / task.out / LOG_FILE, 20)
        text = f"{reason}\n{tail}" if tail else reason
        self.store.record(task, "failed", None, run_provenance(task, None), log_tail=text, wall_s=wall_s)
        return text

    # ------------------------------------------------------------ state
    def task_states(self, sync: bool = True) -> dict[str, tuple[str, str]]:
        """id -> (state, reason). With ``sync``, finished runs missing from the store are recorded now."""
        records = self.store.records()
        states: dict[str, tuple[str, str]] = {}
        for t in self.tasks:
            rec = records.get(t.id)
            changed = rec is not None and bool(rec.get("command")) and rec["command"] != t.command
            if changed and rec["status"] == "done":
                states[t.id] = ("stale", f"made with other settings ({rec['command']}); to redo it with the "
                                         f"campaign's current ones: pylbs campaign reset FILE {t.id}")
                continue
            # the latest attempt's failure wins over a summary.json it (or an earlier attempt) left behind
            if rec is not None and rec["status"] == "failed" and not changed:  # changed settings: a new attempt
                states[t.id] = ("failed", rec.get("log_tail", ""))
                continue
            summary = self.read_summary(t)
            edited = changed_inputs(summary.get("inputs_sha256")) if summary is not None else []
            if edited:  # the run's parameter file, model or start structure was edited since it ran
                states[t.id] = ("stale", f"made from {edited[0]} as it was then; the file has changed since; to "
                                         f"redo it: pylbs campaign reset FILE {t.id}")
                continue
            if summary is not None:
                if sync and (rec is None or rec["status"] != "done"):
                    self._ensure_store()
                    self.record_done(t, summary)
                    self.log_event("recorded", t)
                states[t.id] = ("done", "")
                continue
            bad = [d for d in t.deps if states[d][0] in ("failed", "blocked", "stale")]
            if bad:
                states[t.id] = ("blocked", f"dependency {bad[0]} {states[bad[0]][0]}")
                continue
            missing = [p for p in t.inputs if not Path(p).exists()]
            if missing:
                states[t.id] = ("blocked", f"input {missing[0]} does not exist (train a model with "
                                           "`pylbs mlp train` and list it in [mlp] models)")
                continue
            states[t.id] = ("pending", "")
        return states

    # ------------------------------------------------------------ running
    def run(self, only: list[str] | None = None, retry: bool = False, dry_run: bool = False,
            mode: str | None = None, exit_on_submit: bool = False) -> RunReport:
        """Run what is pending (or, with ``retry``, the failed tasks among ``only``/all, alone).

        ``only``: id patterns (``fmp/*``); their dependencies are not added. ``mode``
        overrides ``[resources] mode``. ``dry_run``: cluster mode renders the
        submission scripts (``ROOT/dispatch/``) and runs nothing; local mode lists the commands.
        """
        mode = mode or self.c.resources.mode
        with self._lock():
            return self._run(only, retry, dry_run, mode, exit_on_submit)

    def _lock(self):
        """One runner per campaign root at a time (a second would start the same tasks twice)."""
        import contextlib
        import fcntl
        import os

        @contextlib.contextmanager
        def held():
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / ".campaign.lock", "a+") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.seek(0)
                    raise CampaignError(f"another `pylbs campaign` is running on {self.root} (pid "
                                        f"{f.read().strip() or '?'}); wait for it or stop it first") from None
                f.truncate(0)
                f.write(str(os.getpid()))
                f.flush()
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
        return held()

    def _run(self, only, retry, dry_run, mode, exit_on_submit) -> RunReport:
        self._ensure_store()
        states = self.task_states()
        chosen = select(self.tasks, only) if only else list(self.tasks)
        rep = RunReport()
        if retry:
            todo = [t for t in chosen if states[t.id][0] == "failed"]
            for t in todo:  # forget the failure so dependents are not blocked by it
                states[t.id] = ("pending", "")
        else:
            todo = []
            for t in chosen:
                st, why = states[t.id]
                if st == "done":
                    rep.skipped.append(t.id)
                elif st == "failed":
                    rep.previously_failed.append(t.id)
                elif st in ("blocked", "stale"):
                    rep.blocked[t.id] = why
                else:
                    todo.append(t)
        for tid in rep.skipped:
            self.log_event("skip", self.by_id[tid])
        if dry_run:  # everything not yet done, whether or not its inputs exist yet
            todo = [t for t in chosen if states[t.id][0] != "done"]
            if mode == "cluster":
                render_scripts(self, todo, self.root / "dispatch")
            rep.executed = []
            rep.submitted = [t.id for t in todo]
            return rep
        if not todo:
            return rep
        if mode == "cluster":
            run_cluster(self, todo, states, rep, exit_on_submit=exit_on_submit)
        else:
            self._run_local(todo, states, rep)
        return rep

    def _run_local(self, todo: list[Task], states: dict, rep: RunReport) -> None:
        mpirun, python = launcher(self.c)
        todo_ids = {t.id for t in todo}

        def ready(t: Task):
            for d in t.deps:
                st = states[d][0]
                if st in ("failed", "blocked", "stale"):
                    states[t.id] = ("blocked", f"dependency {d} {st}")
                    rep.blocked[t.id] = states[t.id][1]
                    self.log_event("blocked", t, reason=states[t.id][1])
                    return None
                if st != "done":
                    if d not in todo_ids and st == "pending":
                        states[t.id] = ("blocked", f"dependency {d} not run (not selected)")
                        rep.blocked[t.id] = states[t.id][1]
                        return None
                    return False
            return True

        reporter = Progress(f"campaign {self.c.name}", len(todo), unit="task", heartbeat=self.root / "heartbeat.json")

        def on_start(t: Task):
            states[t.id] = ("running", "")
            rep.executed.append(t.id)
            self.log_event("start", t, command=t.render(mpirun, python))
            reporter.update(len(rep.done) + len(rep.failed), stage=f"started {t.id}")

        def on_finish(t: Task, rc: int, wall: float):
            self.finish(t, rc, wall, states, rep)
            running = sum(1 for s, _ in states.values() if s == "running")
            reporter.update(len(rep.done) + len(rep.failed), force=True,
                            stage=f"{states[t.id][0]} {t.id} ({len(rep.failed)} failed, {running} running)")

        run_local(todo, self.root, self.c.resources.cores, mpirun, python, ready, on_start, on_finish,
                  gpus=self.c.resources.gpus)

    def finish(self, t: Task, rc: int | None, wall: float | None, states: dict, rep: RunReport) -> None:
        """Record the outcome of a task that ran (locally or on a cluster)."""
        summary = self.read_summary(t)
        if summary is not None and (rc in (0, None)):
            self.record_done(t, summary, wall)
            states[t.id] = ("done", "")
            rep.done.append(t.id)
            self.log_event("done", t, wall_s=wall)
        else:
            reason = (f"exit code {rc}" if rc not in (0, None) else "no summary.json was written") + \
                f"; log: {self.root / t.out / LOG_FILE}"
            text = self.record_failed(t, reason, wall)
            states[t.id] = ("failed", text)
            rep.failed.append(t.id)
            self.log_event("failed", t, rc=rc, wall_s=wall)

    def reset(self, patterns: list[str]) -> list[str]:
        """Delete the outputs and store records of the matching tasks (the next run makes them again)."""
        gone = []
        for t in select(self.tasks, patterns):
            d = self.root / t.out
            had = d.exists() or self.store.record_of(t.id) is not None
            if d.exists():
                shutil.rmtree(d)
            self.store.delete(t.id)
            if had:
                gone.append(t.id)
                self.log_event("reset", t)
        return gone


def format_states(runner: CampaignRunner, states: dict, tail_lines: int = 8) -> str:
    """Counts per kind and state, then each failed task with its log tail, each blocked one with why."""
    from collections import Counter

    kinds = Counter((runner.by_id[i].kind, s) for i, (s, _) in states.items())
    order = ("done", "pending", "failed", "stale", "blocked", "running")
    lines = [f"campaign {runner.c.name}: {len(states)} tasks, root {runner.root}, store {runner.c.store}"]
    for kind in dict.fromkeys(t.kind for t in runner.tasks):
        parts = [f"{kinds[(kind, s)]} {s}" for s in order if kinds[(kind, s)]]
        lines.append(f"  {kind:10s} " + ", ".join(parts))
    failed = [(i, why) for i, (s, why) in states.items() if s == "failed"]
    for i, why in failed:
        lines.append(f"FAILED {i}:")
        lines += ["    " + x for x in why.splitlines()[-tail_lines:]]
    blocked = [(i, why) for i, (s, why) in states.items() if s in ("blocked", "stale")]
    for i, why in blocked[:20]:
        lines.append(f"{states[i][0]} {i}: {why}")
    if len(blocked) > 20:
        lines.append(f"... and {len(blocked) - 20} more blocked")
    if failed:
        lines.append("retry one alone with: pylbs campaign retry FILE " + failed[0][0])
    return "\n".join(lines)
