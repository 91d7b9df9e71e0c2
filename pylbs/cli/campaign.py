"""``pylbs campaign run|status|retry|plan FILE`` and ``pylbs report STORE``.

    pylbs campaign plan campaigns/laptop.toml           # the tasks and their commands, nothing runs
    pylbs campaign plan campaigns/paper.toml --estimate # + core-hours and wall time from costs measured here
    pylbs campaign run campaigns/laptop.toml            # run/resume locally (or on the cluster: mode)
    pylbs campaign run campaigns/paper.toml --cluster --dry-run   # render the Slurm/PBS/LSF scripts
    pylbs campaign status campaigns/laptop.toml         # counts, failed tasks with their log tail
    pylbs campaign retry campaigns/laptop.toml ID       # run one failed task again, alone
    pylbs campaign reset campaigns/laptop.toml ID       # delete a task's outputs (after changing settings)
    pylbs report runs/campaign-laptop/results.h5        # markdown + PNG next to the paper's numbers

Do not start ``pylbs campaign`` under mpirun: it starts its runs under MPI itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..campaign.estimate import calibrate, estimate, format_estimate
from ..campaign.report import write_report
from ..campaign.runner import CampaignRunner, format_states, launcher


def add_campaign_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("campaign", help="run the whole study from a campaign file (local or cluster), resumable")
    csub = p.add_subparsers(dest="campaign_cmd", required=True)
    r = csub.add_parser("run", help="run or resume the campaign (finished tasks are skipped)")
    r.add_argument("file", help="campaign TOML file, e.g. campaigns/laptop.toml")
    r.add_argument("--only", nargs="+", default=None, metavar="PATTERN",
                   help="only tasks whose id matches (shell patterns, e.g. 'fmp/*' '*/LBS-20-60-20/*')")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--local", dest="mode", action="store_const", const="local", help="run here (default)")
    mode.add_argument("--cluster", dest="mode", action="store_const", const="cluster",
                      help="submit through dpdispatcher ([resources.cluster])")
    r.add_argument("--dry-run", action="store_true",
                   help="cluster: write the submission scripts to ROOT/dispatch/; local: print the commands")
    r.add_argument("--exit-on-submit", action="store_true", help="cluster: submit the first wave and return")
    r.add_argument("--report", action="store_true", help="write the report (ROOT/report/) afterwards")
    s = csub.add_parser("status", help="counts per kind and state; failed tasks with their log tail")
    s.add_argument("file")
    s.add_argument("--tail", type=int, default=8, help="log lines shown per failed task")
    t = csub.add_parser("retry", help="run failed tasks again, alone (default: every failed task)")
    t.add_argument("file")
    t.add_argument("ids", nargs="*", help="task ids or patterns (default: all failed)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--local", dest="mode", action="store_const", const="local")
    mode.add_argument("--cluster", dest="mode", action="store_const", const="cluster")
    rs = csub.add_parser("reset", help="delete the outputs and records of tasks so the next run makes them again")
    rs.add_argument("file")
    rs.add_argument("ids", nargs="+", help="task ids or patterns")
    pl = csub.add_parser("plan", help="list the tasks (id, dependencies, command); runs nothing")
    pl.add_argument("file")
    pl.add_argument("--commands", action="store_true", help="print each task's command")
    pl.add_argument("--estimate", action="store_true",
                    help="core-hours per task kind and the wall time, from costs measured here by a short "
                         "calibration run (cached; pylbs.campaign.estimate)")
    pl.add_argument("--recalibrate", action="store_true", help="with --estimate: measure the costs again")
    p.set_defaults(func=run_campaign)
    return p


def run_campaign(args) -> int:
    runner = CampaignRunner(args.file)
    cmd = args.campaign_cmd
    if cmd == "plan":
        mpirun, python = launcher(runner.c)
        states = runner.task_states(sync=False)
        for t in runner.tasks:
            deps = f"  <- {', '.join(t.deps)}" if t.deps else ""
            print(f"{states[t.id][0]:8s} {t.id}{deps}")
            if args.commands:
                print(f"         $ {t.render(mpirun, python)}")
        print(f"{len(runner.tasks)} tasks")
        if args.estimate:
            model = next((m for m in runner.c.mlp.models if Path(m).is_file()), None) if runner.c.mlp.enabled else None
            costs = calibrate(model, recalibrate=args.recalibrate)
            print(format_estimate(estimate(runner.c, runner.tasks, costs)))
        return 0
    if cmd == "reset":
        gone = runner.reset(args.ids)
        print(f"reset {len(gone)} task(s)" + "".join(f"\n  {i}" for i in gone))
        return 0
    if cmd == "status":
        print(format_states(runner, runner.task_states(), tail_lines=args.tail))
        return 0
    if cmd == "retry":
        rep = runner.run(only=args.ids or None, retry=True, mode=args.mode)
        if not rep.executed:
            print("nothing to retry: no failed task matches" + (f" {args.ids}" if args.ids else ""))
            return 0
        _print_report(runner, rep)
        return 0 if not rep.failed else 1
    # run
    if args.dry_run and (args.mode or runner.c.resources.mode) == "local":
        mpirun, python = launcher(runner.c)
        states = runner.task_states(sync=False)
        for t in runner.tasks:
            if states[t.id][0] == "pending":
                print(f"cd {runner.root / t.out} && {t.render(mpirun, python)}")
        return 0
    rep = runner.run(only=args.only, dry_run=args.dry_run, mode=args.mode, exit_on_submit=args.exit_on_submit)
    if args.dry_run:
        print(f"{len(rep.submitted)} task(s) would be submitted; scripts in {runner.root / 'dispatch'}")
        return 0
    _print_report(runner, rep)
    if args.report and runner.c.store.exists():
        md = write_report(runner.c.store, runner.root / "report")
        print(f"report: {md}")
    return 0 if rep.ok else 1


def _print_report(runner, rep) -> None:
    print(f"ran {len(rep.executed)} task(s): {len(rep.done)} done, {len(rep.failed)} failed; "
          f"{len(rep.skipped)} already done (skipped)")
    if rep.failed or rep.previously_failed or rep.blocked:
        print(format_states(runner, runner.task_states(sync=False)))


def add_report_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="markdown + PNG report of a campaign store next to the paper's numbers")
    p.add_argument("store", help="the campaign's HDF5 store (ROOT/results.h5)")
    p.add_argument("--out", default=None, help="output folder (default: report/ next to the store)")
    p.add_argument("--experiment", default=None,
                   help="TOML with [experiment] tg_K / conductivity_S_cm tables (default: the campaign's)")
    p.set_defaults(func=run_report)
    return p


def run_report(args) -> int:
    out = Path(args.out) if args.out else Path(args.store).resolve().parent / "report"
    md = write_report(args.store, out, experiment_file=args.experiment)
    print(f"report: {md}")
    return 0


def add_parsers(sub) -> None:
    add_campaign_parser(sub)
    add_report_parser(sub)
