#!/usr/bin/env python
"""Does the ensemble's force deviation say how wrong the model is? Explored frames of one loop
iteration, sampled per condition, labelled by the loop's teacher: each frame's maximum force
deviation (what the loop selects on) next to model 0's true maximum force error against the teacher.

    python scripts/deviation_vs_error.py /work/al/run6 --iteration 0 --per-condition 8 -j 2

The loop's convergence test reads only the deviation: "under 1 % of frames in [trust_lo, trust_hi)".
That says the model is right only if a frame the model gets wrong is one where the models disagree.
An ensemble whose models share their starting weights (a continued model: iteration 0 trains every
model from the shipped one) can agree on a wrong answer. Per condition this prints the median
deviation, the median true error (max over atoms of |F_model0 - F_teacher|), their ratio, the share
of frames whose true error reaches trust_lo, against the share whose deviation does, and the rank
correlation of the two. Labels are resumable (``OUT/deviation_vs_error/label/iter-<k>-seed<s>-n<n>``);
the table also goes to ``OUT/deviation_vs_error/iter-<k>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from pylbs.jsonio import read_json, write_json_atomic
from pylbs.mlp.explore import frames_at
from pylbs.mlp.label import label_frames
from pylbs.potential.pair_wall import run_models_unoptimised


def sample(loop: Path, k: int, per_condition: int, seed: int) -> dict:
    """(condition -> [(system, step, max_devi_f)]): ``per_condition`` frames of every system and condition
    of iteration ``k``'s exploration, spread over the whole run, the same ones on every call."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    for path in sorted((loop / f"iter-{k:03d}" / "explore").glob("*/*/exploration.json")):
        rec = read_json(path)
        if not rec["steps"]:
            continue
        take = sorted(rng.choice(len(rec["steps"]), min(per_condition, len(rec["steps"])), replace=False))
        out.setdefault(rec["condition"], []).extend((rec["system"], int(rec["steps"][i]), float(rec["max_devi_f"][i]))
                                                    for i in take)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("loop", type=Path)
    ap.add_argument("--iteration", type=int, default=0)
    ap.add_argument("--per-condition", type=int, default=8, help="frames per system and condition")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-j", "--workers", type=int, default=1)
    args = ap.parse_args(argv)
    loop, k = args.loop, args.iteration
    settings = read_json(loop / "settings.json")
    teacher = settings["teacher"]
    # the iteration's own window (a resumed loop may change it, pylbs.mlp.learn.RESUMABLE_CHANGES)
    done = (read_json(loop / "record.json") or {}).get("iterations", [])
    trust_lo = next((it["trust_levels_eV_per_A"][0] for it in done if it["iteration"] == k), settings["trust_lo"])
    out = loop / "deviation_vs_error"
    picks = sample(loop, k, args.per_condition, args.seed)

    from deepmd.calculator import DP

    from pylbs.glasses import TYPE_MAP

    run_models_unoptimised()
    model = loop / f"iter-{k:03d}" / "train-0" / "model.pth"
    dp = DP(model=str(model), type_dict={el: t for t, el in enumerate(TYPE_MAP)})
    rows, table = {}, []
    for cond, items in sorted(picks.items()):
        devi, err = [], []
        for system in sorted({s for s, _, _ in items}):
            steps = [st for s, st, _ in items if s == system]
            frames = frames_at(loop / f"iter-{k:03d}" / "explore" / system / cond, steps)
            # one folder per sample: labels are found again by frame number, so another sample needs its own
            work = out / "label" / f"iter-{k:03d}-seed{args.seed}-n{args.per_condition}" / f"{system}--{cond}"
            labelled, report = label_frames(frames, work, teacher, args.workers, name=f"{system} {cond}",
                                            progress=False)
            accepted = [i for i in range(len(frames))  # the labelled system's frames, in order
                        if read_json(work / "frames" / f"{i:06d}.json")["status"] == "ok"]
            for j, i in enumerate(accepted):
                a = frames[i].copy()
                a.calc = dp
                f_model = a.get_forces()
                err.append(float(np.linalg.norm(f_model - labelled["forces"][j], axis=1).max()))
                devi.append([d for s, st, d in items if s == system][i])
        devi, err = np.array(devi), np.array(err)
        rho = float(spearmanr(devi, err).statistic) if len(devi) > 2 else float("nan")
        rows[cond] = {"frames": len(devi), "median_max_devi_f": float(np.median(devi)),
                      "median_max_force_error": float(np.median(err)), "error_over_deviation": float(np.median(err / devi)),
                      "share_error_at_or_above_trust_lo": float(np.mean(err >= trust_lo)),
                      "share_deviation_at_or_above_trust_lo": float(np.mean(devi >= trust_lo)), "spearman": rho}
        r = rows[cond]
        table.append(f"| {cond} | {r['frames']} | {r['median_max_devi_f']:.3f} | {r['median_max_force_error']:.3f} | "
                     f"{r['error_over_deviation']:.1f} | {100 * r['share_deviation_at_or_above_trust_lo']:.0f} % | "
                     f"{100 * r['share_error_at_or_above_trust_lo']:.0f} % | {rho:+.2f} |")
    write_json_atomic(out / f"iter-{k:03d}.json", {"loop": str(loop), "iteration": k, "model": str(model),
                                                   "teacher": teacher, "trust_lo": trust_lo, "conditions": rows})
    print(f"iteration {k}, model 0 ({model}) against {teacher}; trust_lo {trust_lo} eV/A; per frame, max over atoms")
    print("| condition | frames | median deviation (eV/A) | median true error (eV/A) | error / deviation (median) | "
          "deviation >= trust_lo | true error >= trust_lo | Spearman |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
