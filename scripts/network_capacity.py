#!/usr/bin/env python
"""Is a loop's model short of data, or of network? Trains the loop's own recipe from scratch on one
iteration's training data, once with the loop's network and once with a wider one (PAPER_SCALE's by
default), side by side (each dp on one thread, pylbs's default), and measures every model against the
teacher on the frames it trained on, on the validation frames and on the held-out glass. The loop's own model 0 of that
iteration (trained longer, from earlier weights) is measured the same way for reference.

    python scripts/network_capacity.py /work/al/run7 --iteration 5 --steps 4000 --out /work/al/capacity

Read it so:
- training error close to the validation error: the model underfits. More labelled frames (more
  iterations) will not lower its error; a larger network or longer training may.
- at equal steps, the wider network lower: width helps. Whether it pays depends on its cost per step
  (printed): give the narrow one the wider one's time (``--steps`` times the s/batch ratio,
  ``--networks loop=...``) to compare at equal time.
- ``max |dF| per frame``: the median over the held-out frames of the largest atom's force error, the
  quantity the loop's lower trust level (the deviation's stand-in for it) is compared with.

Resumable per network: a network whose frozen model exists is not trained again, and a stopped
training resumes from deepmd's checkpoint with the steps it began with (another ``--steps`` on the
same ``--out`` is refused: the learning rate decays over exactly those steps). Ctrl-C stops every
training. Writes ``capacity.json`` (with each network's training time over all its sittings) and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from pylbs.errors import PylbsError
from pylbs.jsonio import read_json, write_json_atomic
from pylbs.mlp.datasets import dataset_systems, load_joined, load_system
from pylbs.mlp.evaluate import evaluate_system, load_model, pooled_metrics, predict
from pylbs.mlp.learn import PAPER_SCALE, LearnSettings
from pylbs.mlp.train import begun_steps, seconds_per_batch, side_by_side, train_and_freeze


def network(spec: str) -> tuple[str, tuple, int, tuple]:
    """'NAME=16,32,64/8/96,96,96' -> (name, embedding, axis neurons, fitting)."""
    name, _, dims = spec.partition("=")
    try:
        emb, axis, fit = dims.split("/")
        return name, tuple(map(int, emb.split(","))), int(axis), tuple(map(int, fit.split(",")))
    except ValueError:
        raise SystemExit(f"--networks {spec}: write NAME=EMBEDDING/AXIS/FITTING, e.g. "
                         "loop=16,32,64/8/96,96,96") from None


def measure(model, sets: dict) -> dict:
    """Energy and force errors of ``model`` on each set (all frames pooled), and the held-out glass's
    median per-frame maximum atom force error."""
    dp = load_model(model)
    out = {}
    for name, folders in sets.items():
        arrays = {}
        for k, f in enumerate(folders):
            arrays[k] = evaluate_system(dp, load_system(f))[1]
        m = pooled_metrics(arrays)
        out[name] = {"frames": int(m["n_frames"]), "energy_mae_meV_per_atom": 1e3 * m["energy_mae"],
                     "force_mae": m["force_mae"], "force_rmse": m["force_rmse"]}
    held = load_joined(sets["held-out"])
    error = np.linalg.norm(predict(dp, held)[1] - np.asarray(held["forces"]), axis=-1).max(axis=-1)
    out["held-out"]["median_max_force_error"] = float(np.median(error))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("loop", type=Path)
    ap.add_argument("--iteration", type=int, required=True, help="whose training data (iter-K/train-0's input)")
    ap.add_argument("--steps", type=int, default=4000, help="training steps of each network, from scratch")
    paper = PAPER_SCALE
    ap.add_argument("--networks", nargs="+", default=None, metavar="NAME=EMB/AXIS/FIT",
                    help="networks to train (default: the loop's and PAPER_SCALE's, "
                         f"paper={','.join(map(str, paper.descriptor_neurons))}/{paper.axis_neuron}/"
                         f"{','.join(map(str, paper.fitting_neurons))})")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    loop = args.loop.resolve()
    settings = LearnSettings.from_dict(read_json(loop / "settings.json") or {})
    used = read_json(loop / f"iter-{args.iteration:03d}" / "train-0" / "input.json")
    if not used:
        raise SystemExit(f"{loop}/iter-{args.iteration:03d}/train-0/input.json: no such training")
    train = used["training"]["training_data"]["systems"]
    valid = used["training"]["validation_data"]["systems"]
    held = [str(p) for part in ("train", "test") for p in dataset_systems(loop / "heldout" / "data", part).values()]
    sets = {"training frames": train, "validation frames": valid, "held-out": held}
    # model 0's own architecture (a loop continuing a shipped model takes that model's, not its settings'):
    # the networks differ from it only in width
    descriptor, fitting = used["model"]["descriptor"], used["model"]["fitting_net"]
    sel = descriptor["sel"]

    own = ("loop", tuple(descriptor["neuron"]), descriptor["axis_neuron"], tuple(fitting["neuron"]))
    wide = ("paper", paper.descriptor_neurons, paper.axis_neuron, paper.fitting_neurons)
    nets = [network(s) for s in args.networks] if args.networks else [own, wide]

    def run(net):
        name, emb, axis, fit = net
        recipe = replace(settings, descriptor_neurons=emb, axis_neuron=axis, fitting_neurons=fit,
                         sel=sel).training(args.steps, settings.seed)
        workdir = args.out / name
        timing = workdir / "wall_s.json"
        t0, before = time.time(), (read_json(timing) or {}).get("wall_s", 0.0)
        model = train_and_freeze(train, valid, workdir, recipe)
        if not (read_json(timing) or {}).get("done"):
            write_json_atomic(timing, {"wall_s": before + time.time() - t0, "done": True})
        return name, emb, axis, fit, model, read_json(timing)["wall_s"]

    for name, *_ in nets:
        begun = begun_steps(args.out / name)
        if begun is not None and begun != args.steps:
            raise PylbsError(f"{args.out / name} holds a training of {begun} steps: run with --steps {begun} to "
                             "resume it, or give another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    trained = side_by_side(run, nets, len(nets))

    rows = []
    reference = loop / f"iter-{args.iteration:03d}" / "train-0"
    began = read_json(reference / "start.json") or {}
    rows.append({"network": f"loop model 0 of iteration {args.iteration}",
                 "embedding": list(own[1]), "axis": own[2], "fitting": list(own[3]), "steps": began.get("numb_steps"),
                 "from": began.get("init_model") or "scratch",
                 "s_per_batch": seconds_per_batch(reference / "train.log"),
                 "errors": measure(reference / "model.pth", sets)})
    for name, emb, axis, fit, model, wall in trained:
        rows.append({"network": name, "embedding": list(emb), "axis": axis, "fitting": list(fit),
                     "steps": args.steps, "from": "scratch", "wall_s": wall,
                     "s_per_batch": seconds_per_batch(Path(model).parent / "train.log"), "errors": measure(model, sets)})
    write_json_atomic(args.out / "capacity.json", {"loop": str(loop), "iteration": args.iteration,
                                                   "rows": rows})

    print("| network (embedding / axis / fitting) | steps | s/batch | force MAE, training / validation / "
          "held-out (eV/A) | energy MAE, same (meV/atom) | held-out median max dF per frame (eV/A) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        e = r["errors"]
        dims = f"{','.join(map(str, r['embedding']))} / {r['axis']} / {','.join(map(str, r['fitting']))}"
        spb = f"{r['s_per_batch']:.3f}" if r["s_per_batch"] else "–"
        f = " / ".join(f"{e[k]['force_mae']:.3f}" for k in sets)
        en = " / ".join(f"{e[k]['energy_mae_meV_per_atom']:.1f}" for k in sets)
        start = "scratch" if r["from"] == "scratch" else "earlier weights"
        print(f"| {r['network']} ({dims}) | {r['steps']} ({start}) | {spb} | {f} | {en} | "
              f"{e['held-out']['median_max_force_error']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
