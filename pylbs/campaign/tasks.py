"""Campaign -> tasks: each task is a command line, an output folder and a summary.json.

:func:`expand` turns a :class:`~pylbs.campaign.spec.Campaign` into a list of
:class:`Task` in dependency order. Ids are stable (built from the campaign's
values only, never from counters) so a re-run, a retry or a cluster job refers
to the same task::

    fmp/<glass>/n<size>/r<k>                        FMP melt-quench (pylbs quench)
    mlp-<schedule>/<glass>/n<size>/r<k>             DeepMD stage from that glass (pylbs quench --from --mlp)
    analysis/<stage>/<glass>/n<size>/r<k>           4B, 5Si, rings, 3B in 3MRs: means over the run's last
                                                    100 ps of frames (pylbs analyze RUN_FOLDER --json)
    formation/mlp-<schedule>/<glass>/n<size>/r<k>   3MRs vs T while cooling (pylbs analyze REPLICA --formation)
    tg/<stage>/<glass>/n<size>                      heating runs of the stage's replicas, Tg (pylbs tg --data)
    diffusion/<stage>/<glass>/n<size>/r<k>          Li diffusion, C_Li*D, Ea (pylbs diffusion --data)

``<stage>`` is ``fmp`` or ``mlp-<schedule>``: the structure a task starts from.
Commands refer to files through ``$CAMPAIGN_ROOT`` (set by the local executor,
and to dpdispatcher's ``$REMOTE_ROOT`` in cluster scripts) and run in their
own output folder ``$CAMPAIGN_ROOT/runs/<id>``. A task is finished when its
summary.json exists (every pylbs protocol writes it last, atomically).
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..glasses import get_glass
from ..protocols.mlp_quench import mlp_folder_name
from ..protocols.schedules import t_max_for
from ..structure import atom_counts
from .spec import Campaign

ROOT_VAR = "$CAMPAIGN_ROOT"
KINDS = ("fmp", "mlp", "analysis", "formation", "tg", "diffusion")


@dataclass(frozen=True)
class Task:
    """One run. ``out`` and ``summary`` are relative to the campaign root."""

    id: str
    kind: str  # one of KINDS
    command: str  # shell command; uses $CAMPAIGN_ROOT, {mpirun} and {python} placeholders
    out: str
    summary: str
    deps: tuple[str, ...] = ()
    np: int = 1
    gpus: int = 0
    walltime: str = "24:00:00"
    inputs: tuple[str, ...] = ()  # files outside the campaign the task needs (models): missing -> blocked
    params: dict = field(default_factory=dict)  # glass, n_atoms, replica, seed, schedule, potential, ...

    def render(self, mpirun: str, python: str) -> str:
        """The command with the launcher filled in (``mpirun``: a template with ``{np}``, e.g.
        ``"mpirun -np {np}"`` or ``"srun -n {np}"``)."""
        return self.command.replace("{mpirun}", mpirun.replace("{np}", str(self.np))).replace("{python}", python)

    def to_dict(self) -> dict:
        return asdict(self)


def _q(path: str) -> str:
    """A path under the campaign root, quoted for the shell but with $CAMPAIGN_ROOT expanded."""
    return f'"{ROOT_VAR}/{path}"'


def _run(id_: str) -> str:
    return f"runs/{id_}"


def _mpi(np: int, args: str) -> str:
    """``{mpirun}`` becomes the campaign's launcher with the task's ``np`` (see :meth:`Task.render`)."""
    return f"{{mpirun}} {{python}} -m pylbs.cli {args}"


def _t_max(c: Campaign, glass: str, n: int) -> float:
    """The campaign's [mlp] t_max for the glass, else what ``pylbs quench`` picks for ``n`` atoms
    (the paper's value where it states one, e.g. 1600 K for the 1000-atom LBS-20-60-20, else the rule)."""
    if glass in c.mlp.t_max:
        return float(c.mlp.t_max[glass])
    g = get_glass(glass)
    return t_max_for(g, sum(atom_counts(g.composition, n).values()))[0]  # the atoms quench will find


def mlp_summary_dir(c: Campaign, glass: str, schedule: str, n: int) -> str:
    """The sub-folder ``pylbs quench --mlp`` writes (pylbs.protocols.mlp_quench.mlp_folder_name)."""
    return mlp_folder_name(schedule, _t_max(c, glass, n), c.mlp.anneal_hold_ps, c.mlp.cool_frame_every_K)


def _run_folder(c: Campaign, stage: str, glass: str, n: int, r: int) -> str:
    """The folder (relative to root) whose sampled frames ``pylbs analyze`` averages for ``stage``."""
    if stage == "fmp":
        return _run(f"fmp/{glass}/n{n}/r{r}")
    return f"{_run(f'{stage}/{glass}/n{n}/r{r}')}/{mlp_summary_dir(c, glass, stage.split('-', 1)[1], n)}"


def _analyze_task(id_: str, kind: str, folder: str, flags: str, dep: str, params: dict) -> Task:
    """A one-core ``pylbs analyze FOLDER --json`` task whose JSON becomes its summary.json."""
    return Task(id_, kind, f"{{python}} -m pylbs.cli analyze {_q(folder)}{flags} --json > summary.json.part "
                           "&& mv summary.json.part summary.json",
                _run(id_), f"{_run(id_)}/summary.json", (dep,), 1, 0, "01:00:00", params=params)


def _structure(c: Campaign, stage: str, glass: str, n: int, r: int) -> tuple[str, str]:
    """(task id, structure file relative to root) of the 300 K glass made by ``stage``."""
    fmp_id = f"fmp/{glass}/n{n}/r{r}"
    if stage == "fmp":
        return fmp_id, f"{_run(fmp_id)}/final.data"
    schedule = stage.split("-", 1)[1]
    mid = f"{stage}/{glass}/n{n}/r{r}"
    return mid, f"{_run(mid)}/{mlp_summary_dir(c, glass, schedule, n)}/replica-1/md_final.data"


def expand(c: Campaign) -> list[Task]:
    """Every task of the campaign, dependencies first."""
    tasks: list[Task] = []
    seed = lambda r: c.seed + r - 1  # noqa: E731  replica k -> seed (same for every glass and stage)
    stages = ["fmp"] + ([f"mlp-{s}" for s in c.mlp.schedules] if c.mlp.enabled else [])
    models = " ".join(shlex.quote(m) for m in c.mlp.models)

    for glass in c.glasses:
        for n in c.fmp.sizes:
            for r in range(1, c.fmp.replicas + 1):
                base = {"glass": glass, "n_atoms": n, "replica": r, "seed": seed(r)}
                fid = f"fmp/{glass}/n{n}/r{r}"
                pf = f" --parameter-file {shlex.quote(str(Path(c.fmp.parameter_file).resolve()))}" \
                    if c.fmp.parameter_file else ""
                pf += " --ensemble npt" if c.fmp.ensemble == "npt" else ""
                tasks.append(Task(
                    fid, "fmp", _mpi(c.fmp.np, f"quench --glass {glass} --atoms {n} --time-scale {c.fmp.time_scale:g} "
                                               f"--seed {seed(r)} --out {_q(_run(fid))}{pf}"),
                    _run(fid), f"{_run(fid)}/summary.json", (), c.fmp.np, 0, c.fmp.walltime,
                    params={**base, "stage": "fmp", "potential": "fmp", "time_scale": c.fmp.time_scale,
                            "parameter_file": c.fmp.parameter_file, "ensemble": c.fmp.ensemble}))
                if c.mlp.enabled:
                    for s in c.mlp.schedules:
                        mid = f"mlp-{s}/{glass}/n{n}/r{r}"
                        hold = f" --anneal-hold-ps {' '.join(f'{h:g}' for h in c.mlp.anneal_hold_ps)}" \
                            if s == "anneal" and c.mlp.anneal_hold_ps != (200.0,) else ""
                        # --t-max only where the campaign sets it: pylbs quench then records where its own came from
                        if glass in c.mlp.t_max:
                            hold = f" --t-max {_t_max(c, glass, n):g}" + hold
                        if c.mlp.cool_frame_every_K:
                            hold += f" --cool-frame-every-K {c.mlp.cool_frame_every_K:g}"
                        tasks.append(Task(
                            mid, "mlp",
                            _mpi(c.mlp.np, f"quench --from {_q(_run(fid) + '/final.data')} --glass {glass} "
                                           f"--mlp {models} --schedule {s}{hold} "
                                           f"--replicas 1 --seed {seed(r)} --time-scale {c.mlp.time_scale:g} "
                                           f"--out {_q(_run(mid))}"
                                           + (f" {c.mlp.extra_args}" if c.mlp.extra_args else "")),
                            _run(mid), f"{_run(mid)}/{mlp_summary_dir(c, glass, s, n)}/summary.json", (fid,),
                            c.mlp.np, c.mlp.gpus, c.mlp.walltime, inputs=c.mlp.models,
                            params={**base, "stage": f"mlp-{s}", "schedule": s, "potential": "mlp",
                                    "time_scale": c.mlp.time_scale, "t_max_K": _t_max(c, glass, n),
                                    "anneal_hold_ps": list(c.mlp.anneal_hold_ps), "models": list(c.mlp.models),
                                    "extra_args": c.mlp.extra_args}))
                if c.analysis.enabled:
                    for stage in stages:
                        if (stage == "fmp" and not c.analysis.fmp) or (stage != "fmp" and not c.analysis.mlp):
                            continue
                        dep, struct = _structure(c, stage, glass, n, r)
                        folder = _run_folder(c, stage, glass, n, r)
                        # the run folder: means over the frames of its last 100 ps (paper), not one snapshot
                        tasks.append(_analyze_task(
                            f"analysis/{stage}/{glass}/n{n}/r{r}", "analysis", folder, "", dep,
                            {**base, "stage": stage, "structure": struct, "run_folder": folder,
                             "time_scale": c.fmp.time_scale if stage == "fmp" else c.mlp.time_scale}))
                if c.analysis.enabled and c.analysis.formation and c.mlp.enabled:
                    for s in c.mlp.schedules:
                        replica = f"{_run_folder(c, f'mlp-{s}', glass, n, r)}/replica-1"
                        tasks.append(_analyze_task(
                            f"formation/mlp-{s}/{glass}/n{n}/r{r}", "formation", replica, " --formation",
                            f"mlp-{s}/{glass}/n{n}/r{r}",
                            {**base, "stage": f"mlp-{s}", "run_folder": replica, "time_scale": c.mlp.time_scale,
                             "t_max_K": _t_max(c, glass, n)}))

    def dyn_stages(sec, schedules):
        return ["fmp"] if sec.potential == "fmp" else [f"mlp-{s}" for s in schedules]

    def pot(sec):
        return f"--mlp {shlex.quote(c.mlp.models[0])}" if sec.potential == "mlp" else "--fmp" + (
            f" {shlex.quote(str(Path(c.fmp.parameter_file).resolve()))}" if c.fmp.parameter_file else "")

    tg = c.tg
    if tg.enabled:
        for glass in tg.glasses or c.glasses:
            for n in tg.sizes:
                for stage in dyn_stages(tg, [tg.schedule]):
                    # the paper: "three independent simulations ... starting from the equilibrated models":
                    # one heating run per structure (replicas 1..k of the stage); one structure -> seeds
                    k = max(1, min(tg.replicas, c.fmp.replicas))
                    deps, structs = zip(*(_structure(c, stage, glass, n, r) for r in range(1, k + 1)))
                    tid = f"tg/{stage}/{glass}/n{n}"
                    data = " ".join(_q(x) for x in structs)
                    tasks.append(Task(
                        tid, "tg",
                        # several structures: one run each; one structure: tg.replicas velocity seeds
                        _mpi(tg.np, f"tg --data {data} {pot(tg)} --replicas {tg.replicas if k == 1 else k} "
                                    f"--rate {tg.rate_K_per_ps:g} --t-max {tg.t_max:g} --ensemble {tg.ensemble} "
                                    f"--time-scale {tg.time_scale:g} --seed {c.seed} --out {_q(_run(tid))}"
                                    + (f" {tg.extra_args}" if tg.extra_args else "")),
                        _run(tid), f"{_run(tid)}/summary.json", tuple(deps), tg.np,
                        tg.gpus if tg.potential == "mlp" else 0,
                        tg.walltime, inputs=c.mlp.models[:1] if tg.potential == "mlp" else (),
                        params={"glass": glass, "n_atoms": n, "replica": 1, "seed": c.seed, "stage": stage,
                                "potential": tg.potential, "replicas": tg.replicas, "structures": k,
                                "time_scale": tg.time_scale,
                                "rate_K_per_ps": tg.rate_K_per_ps, "ensemble": tg.ensemble,
                                "extra_args": tg.extra_args}))

    d = c.diffusion
    if d.enabled:
        temps = " ".join(f"{t:g}" for t in d.temperatures)
        for glass in d.glasses or c.glasses:
            for n in d.sizes:
                for r in range(1, min(d.replicas or c.fmp.replicas, c.fmp.replicas) + 1):
                    for stage in dyn_stages(d, d.schedules):
                        dep, struct = _structure(c, stage, glass, n, r)
                        did = f"diffusion/{stage}/{glass}/n{n}/r{r}"
                        tasks.append(Task(
                            did, "diffusion",
                            _mpi(d.np, f"diffusion --data {_q(struct)} {pot(d)} --temperatures {temps} "
                                       f"--ensemble {d.ensemble} --duration-ps {d.duration_ps:g} "
                                       f"--time-scale {d.time_scale:g} --seed {seed(r)} --out {_q(_run(did))}"
                                       + (f" {d.extra_args}" if d.extra_args else "")),
                            _run(did), f"{_run(did)}/summary.json", (dep,), d.np,
                            d.gpus if d.potential == "mlp" else 0, d.walltime,
                            inputs=c.mlp.models[:1] if d.potential == "mlp" else (),
                            params={"glass": glass, "n_atoms": n, "replica": r, "seed": seed(r), "stage": stage,
                                    "potential": d.potential, "temperatures_K": list(d.temperatures),
                                    "ensemble": d.ensemble, "time_scale": d.time_scale,
                                    "extra_args": d.extra_args}))
    _check_unique(tasks)
    return tasks


def _check_unique(tasks: list[Task]) -> None:
    seen = set()
    for t in tasks:
        if t.id in seen:  # pragma: no cover - a bug in expand
            raise AssertionError(f"duplicate task id {t.id}")
        seen.add(t.id)
        missing = [d for d in t.deps if d not in seen]
        if missing:  # pragma: no cover
            raise AssertionError(f"task {t.id} depends on {missing}, which come later")


def select(tasks: list[Task], patterns) -> list[Task]:
    """Tasks whose id matches one of the shell-style ``patterns`` (``fmp/*``, ``*/LBS-20-60-20/*``)."""
    from fnmatch import fnmatchcase

    pats = list(patterns)
    return [t for t in tasks if any(fnmatchcase(t.id, p) or t.id == p for p in pats)]
