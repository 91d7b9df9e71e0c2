"""``pylbs status PATH``: what is done, running (with ETA), stopped or failed.

    pylbs status runs/g1                      # a run folder: the protocol and its replicas
    pylbs status campaigns/laptop.toml        # a campaign: tasks per kind and state, running tasks' ETA
    pylbs status runs/campaign-laptop --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..campaign.runner import CampaignRunner, format_states
from ..errors import PylbsError
from ..run_status import folder_status
from .common import print_json


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("path", help="a run folder (pylbs quench/tg/diffusion --out) or a campaign file (.toml)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=run_status)
    return p


def _campaign(path: Path, as_json: bool) -> int:
    runner = CampaignRunner(path)
    states = runner.task_states(sync=False)
    running = {}
    for t in runner.tasks:
        if states[t.id][0] == "pending" and (runner.root / t.out).is_dir():
            live = [r for r in folder_status(runner.root / t.out) if r.state == "running"]
            if live:
                states[t.id] = ("running", "")
                running[t.id] = live
    if as_json:
        print_json({"campaign": runner.c.name, "tasks": {i: s for i, (s, _) in states.items()},
                    "running": {i: [vars(r) | {"path": str(r.path)} for r in rs] for i, rs in running.items()}})
        return 0
    print(format_states(runner, states))
    for tid, runs in running.items():
        print(f"running {tid}:")
        for r in runs:
            print("    " + r.line(runner.root / runner.by_id[tid].out))
    return 0


def run_status(args) -> int:
    path = Path(args.path)
    if path.suffix == ".toml":
        return _campaign(path, args.json)
    if not path.is_dir():
        raise PylbsError(f"{path} is neither a run folder nor a campaign file; give the --out folder of a run "
                         "or the campaign's .toml")
    runs = folder_status(path)
    if not runs:
        raise PylbsError(f"{path} holds no pylbs run (no summary.json, progress.json or heartbeat.json)")
    if args.json:
        print_json([vars(r) | {"path": str(r.path)} for r in runs])
    else:
        for r in runs:
            print(r.line(path))
    return 0


def add_parsers(sub) -> None:
    configure(sub.add_parser("status", help="what a run folder or campaign has done, runs (with ETA) or failed"))
