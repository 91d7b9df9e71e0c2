#!/usr/bin/env python
"""A loop's exploration per condition, iteration by iteration, from its record and exploration files:
what the trust window selected, where the deviations lie, and what another window would select.

    python scripts/loop_conditions.py /work/al/run7                       # every finished iteration
    python scripts/loop_conditions.py /work/al/run7 --window 0.5 2.0      # ... and what [0.5, 2.0) selects

Per condition (all systems together): runs, frames, candidates in the iteration's window, frames at or
beyond its upper level, frames with a pair under the guard's limits, and the 10th/50th/90th percentiles
of the maximum force deviation. With ``--window`` the same frames are counted against that window too:
read it before resuming a loop with another ``--trust`` (a resume may change it from the next selection
on, docs/mlp.md). The held-out check (``heldout_deviation``) is printed under each iteration.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pylbs.jsonio import read_json
from pylbs.mlp.explore import classify


def by_condition(loop: Path, k: int) -> dict:
    """condition -> {runs, max_devi_f (all frames), overlap (count)} from iteration k's exploration files."""
    out: dict = {}
    for path in sorted((loop / f"iter-{k:03d}" / "explore").glob("*/*/exploration.json")):
        rec = read_json(path)
        c = out.setdefault(rec["condition"], {"runs": 0, "max_devi_f": [], "overlap": 0})
        c["runs"] += 1
        c["max_devi_f"] += list(rec["max_devi_f"])
        c["overlap"] += int(sum(rec.get("overlap") or ()))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("loop", type=Path)
    ap.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                    help="also count the frames against this window (eV/A)")
    args = ap.parse_args(argv)
    record = read_json(args.loop / "record.json")
    if not record or not record.get("iterations"):
        raise SystemExit(f"{args.loop / 'record.json'}: no finished iteration yet")
    for it in record["iterations"]:
        k, (lo, hi) = it["iteration"], it["trust_levels_eV_per_A"]
        conds = by_condition(args.loop, k)
        extra = f" | in [{args.window[0]:g}, {args.window[1]:g}) | beyond {args.window[1]:g}" if args.window else ""
        print(f"\niteration {k}, window [{lo:g}, {hi:g}) eV/A, {it['selected']} labelled\n")
        print(f"| condition | runs | frames | candidates | at or beyond {hi:g} | pair under the guard's limits "
              f"| deviation p10 / p50 / p90 (eV/A){extra} |")
        print("|---|---|---|---|---|---|---|" + ("---|---|" if args.window else ""))
        for name, c in sorted(conds.items()):
            f = np.asarray(c["max_devi_f"], dtype=float)
            n = len(f)
            cls = classify(f, lo, hi)
            p10, p50, p90 = np.percentile(f, [10, 50, 90]) if n else (np.nan,) * 3
            row = (f"| {name} | {c['runs']} | {n} | {(cls == 1).sum()} ({100 * (cls == 1).mean():.1f} %) | "
                   f"{(cls == 2).sum()} ({100 * (cls == 2).mean():.0f} %) | {c['overlap']} | "
                   f"{p10:.3f} / {p50:.3f} / {p90:.3f} |")
            if args.window:
                other = classify(f, *args.window)
                row += (f" {(other == 1).sum()} ({100 * (other == 1).mean():.1f} %) | "
                        f"{(other == 2).sum()} ({100 * (other == 2).mean():.0f} %) |")
            print(row)
        held = it.get("heldout_deviation")
        if held:
            print(f"\nheld-out glass: median max deviation {held['median_max_devi_f']:.3f} eV/A, model 0's median max "
                  f"error {held['median_max_force_error']:.3f} eV/A, median error / deviation "
                  f"{held['error_over_deviation']:.2f} (limit {held['limit']:g}); held-out force MAE "
                  f"{it['heldout_errors']['overall']['force_mae']:.3f} eV/A")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
