"""``pylbs deck``: the raw LAMMPS decks of lammps_inputs/, rendered from the Python schedules.

    pylbs deck --write                                   # regenerate lammps_inputs/*.in
    pylbs deck mlp --schedule fast --t-max 1900 > d.in   # another schedule or T_max
    pylbs deck melt-quench --time-scale 1 > d.in
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..glasses import get_glass
from ..protocols.decks import DECKS, MLP_DECK_GLASS, melt_quench_deck, mlp_deck
from ..protocols.schedules import default_t_max, mlp_schedule

ROOT_INPUTS = Path(__file__).resolve().parents[2] / "lammps_inputs"


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("kind", nargs="?", choices=("melt-quench", "mlp"), default=None,
                   help="print one deck (default with --write: write both shipped decks)")
    p.add_argument("--write", action="store_true", help=f"write the shipped decks into {ROOT_INPUTS}")
    p.add_argument("--schedule", choices=("fast", "anneal"), default="anneal", help="mlp: the cooling schedule")
    p.add_argument("--t-max", type=float, default=None, help="mlp: remelt temperature (K)")
    p.add_argument("--glass", default=MLP_DECK_GLASS, help="mlp: glass whose default T_max is used")
    p.add_argument("--anneal-hold-ps", type=float, default=200.0, help="mlp: hold at 1000 K (ps)")
    p.set_defaults(func=run_deck)
    return p


def run_deck(args) -> int:
    if args.write:
        for name, render in DECKS.items():
            (ROOT_INPUTS / name).write_text(render())
            print(f"wrote {ROOT_INPUTS / name}")
        return 0
    if args.kind == "melt-quench":
        print(melt_quench_deck(), end="")
    else:
        t_max = args.t_max if args.t_max is not None else default_t_max(get_glass(args.glass))
        print(mlp_deck(mlp_schedule(args.schedule, t_max, anneal_hold_ps=args.anneal_hold_ps)), end="")
    return 0


def add_parsers(sub) -> None:
    configure(sub.add_parser("deck", help="print or write the raw LAMMPS decks (generated from the schedules)"))
