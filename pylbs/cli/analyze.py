"""``pylbs analyze``: every structure analysis of a structure, a trajectory or a run folder.

    pylbs analyze glass.data --json
    pylbs analyze cooling.lammpstrj --frames 100: --json
    pylbs analyze glass.data --plot glass.png        # coordination and ring-size histograms
    pylbs analyze runs/g1/mlp-anneal-T1700 --json    # run folder: frame means over each replica's
                                                     # last 100 ps, replica and frame spreads
    pylbs analyze glass.data --network B             # rings of the B-O network alone (Fig. S6)
    pylbs analyze runs/g1/mlp-fast-T1700-f10K/replica-1 --formation   # 3MRs vs T while cooling
                                                     # (Figs 6-7): ring_formation.json and .png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..analysis.analyze import analyze, analyze_runs
from ..analysis.plots import plot_analysis, plot_rings_vs_temperature
from ..analysis.ring_formation import ring_formation_run
from ..errors import PylbsError
from ..jsonio import write_json_atomic
from ..analysis.rings import DEFAULT_MAX_SIZE
from ..glasses import parse_pair_values
from .common import print_json


def configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("source", help="LAMMPS data file (atom_style charge, types 1..4 = Li B Si O), LAMMPS dump "
                                  "(id type x y z), extended XYZ, or a run folder (its sampled frames)")
    p.add_argument("--frames", default=None,
                   help="frames of a trajectory: 'a:b:c' slice, '-1' (last), or '0,5,9' (default: all)")
    p.add_argument("--cutoff", action="append", default=[], metavar="X-O=R",
                   help="bond cutoff in Angstrom, e.g. --cutoff B-O=1.9 --cutoff Si-O=2.0 (repeatable)")
    p.add_argument("--max-ring-size", type=int, default=DEFAULT_MAX_SIZE,
                   help=f"largest ring searched, in network formers (default {DEFAULT_MAX_SIZE}, at most 18)")
    p.add_argument("--members", action="store_true", help="list every 3MR's particle identifiers")
    p.add_argument("--network", choices=("B-Si", "B"), default="B-Si",
                   help="network formers of the ring analysis: B and Si (default), or the B-O network alone")
    p.add_argument("--formation", nargs="?", const="cool", default=None, metavar="STAGE",
                   help="run folder: 3MRs of B and O per frame from STAGE (default cool) to the end, their share "
                        "of the final 3MRs and each final ring's formation temperature (paper Figs 6-7); "
                        "writes ring_formation.json and ring_formation.png into the run folder")
    p.add_argument("-j", "--jobs", type=int, default=1, help="processes over the frames of a trajectory")
    p.add_argument("--per-frame", action="store_true", help="run folders: keep every frame's values in the JSON")
    p.add_argument("--json", action="store_true", help="print the full result as one JSON object")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="draw the coordination and ring-size histograms (frame means) to this PNG")
    p.set_defaults(func=run_analyze)
    return p


def _summary(res: dict) -> str:
    def f(x, pct=True):
        return "n/a" if x is None else (f"{100 * x:.1f} %" if pct else f"{x:g}")

    lines = [f"{res['source']}: {res['n_frames']} frame(s), {res['n_atoms']} atoms",
             f"  4B = {f(res['fraction_4B'])}   5Si = {f(res['fraction_5Si'])}   "
             f"3B in 3MR = {f(res['fraction_3B_in_3MR'])}",
             "  rings (formers: count) " + " ".join(f"{k}:{f(v, False)}" for k, v in
                                                   res["rings"]["size_histogram"].items() if v),
             "  B-only 3MRs by 4B members " + " ".join(f"{k}:{f(v, False)}" for k, v in
                                                       res["three_membered_boron"].items())
             + f"   3MRs with Si: {f(res['three_membered_with_si'], False)}"]
    return "\n".join(lines)


def run_formation(args) -> int:
    """``pylbs analyze RUN --formation``: 3MR formation while cooling."""
    run = Path(args.source)
    res = ring_formation_run(run, first_stage=args.formation,
                             cutoffs=parse_pair_values(args.cutoff, "--cutoff") or None)
    t, count, share = res.binned(10.0)
    _, classes = res.binned_classes(10.0)
    out = {"run": str(run), **res.to_dict(),
           "binned_10K": {"temperature": t.tolist(), "n_three_membered": count.tolist(),
                          "share_of_final": [None if x != x else float(x) for x in share],
                          "class_counts": {c: v.tolist() for c, v in classes.items()}}}
    write_json_atomic(run / "ring_formation.json", out)
    png = plot_rings_vs_temperature(res, args.plot or run / "ring_formation.png")
    out["plot"] = str(png)
    if args.json:
        print_json(out)
    else:
        ft = res.formation_temperatures
        print(f"{run}: {len(res.frames)} frames {res.temperatures.max():.0f} -> {res.temperatures.min():.0f} K; "
              f"{res.n_final} B-O 3MRs in the last frame"
              + (f", formed at {np.median(ft):.0f} K (median; range {ft.min():.0f}-{ft.max():.0f} K)" if len(ft) else "")
              + f"\n  {run / 'ring_formation.json'}\n  plot: {png}")
    return 0


def run_analyze(args) -> int:
    """Handler of ``pylbs analyze``."""
    if args.formation is not None:
        if not Path(args.source).is_dir():
            raise PylbsError(f"--formation needs a run folder (a replica folder of pylbs quench --mlp), "
                             f"not {args.source}")
        return run_formation(args)
    kw = dict(cutoffs=parse_pair_values(args.cutoff, "--cutoff") or None, max_ring_size=args.max_ring_size,
              members=args.members, formers=tuple(args.network.split("-")), jobs=args.jobs)
    if Path(args.source).is_dir():
        res = analyze_runs(args.source, per_frame=args.per_frame, **kw)
        res["n_frames"] = sum(res["n_frames_per_run"])
    else:
        res = analyze(args.source, frames=args.frames, **kw)
    if args.plot:
        res["plot"] = str(plot_analysis(res, args.plot))
    if args.json:
        print_json(res)
    else:
        print(_summary(res))
        if args.plot:
            print(f"  plot: {res['plot']}")
    return 0


def add_parsers(sub) -> None:
    configure(sub.add_parser("analyze", help="4B/5Si, rings and 3MR classes, bond angles of a structure or "
                                             "trajectory", description=__doc__.split("\n\n")[0]))
