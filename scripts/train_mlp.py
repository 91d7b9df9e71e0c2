#!/usr/bin/env python
"""Build a DeepMD potential for Li-B-Si-O glasses the way the paper did, in one go.

    python scripts/train_mlp.py --out runs/mlp --generate 0.3 --steps 200000
    python scripts/train_mlp.py --out runs/mlp --import OUTCAR_1 OUTCAR_2 --steps 1000000
    python scripts/train_mlp.py --out runs/mlp --generate 0.1 --label gfn1-xtb -j 2 --steps 50000

Steps (each skipped when its output exists, so a re-run resumes):
1. data: ``--import`` labelled files (OUTCAR, vasprun.xml, extxyz, deepmd) and/or
   ``--generate SCALE`` paper-like FMP-MD configurations (FMP labels), optionally
   relabelled with ``--label CALC`` (gfn1-xtb is a stand-in for DFT, not ground truth);
   90/10 split per system (``--seed``) -> OUT/data
2. train + freeze (PyTorch backend, se_e2_a, rcut 6.0/5.8 A, sel from dp neighbor-stat)
   -> OUT/train/model.pth
3. test: MAE/MXE/shift table + JSON, parity plots, learning curve -> OUT/test; held-out
   glasses (``--held-out`` dataset folders) report transferability.
"""

import argparse
import sys
from pathlib import Path

from pylbs.cli.common import run_guarded
from pylbs.cli.mlp import cmd_generate, cmd_import, cmd_label, cmd_test, cmd_train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--import", dest="imports", nargs="*", default=[], help="labelled files to import")
    p.add_argument("--generate", type=float, default=None, metavar="SCALE", help="paper-like FMP configurations")
    p.add_argument("--label", default=None, metavar="CALC", help="relabel generated frames (gfn1-xtb, module:function)")
    p.add_argument("-j", "--workers", type=int, default=1)
    p.add_argument("--held-out", nargs="*", default=[])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--pref-e", nargs=2, type=float, default=(0.02, 1.0), metavar=("START", "LIMIT"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--compress", action="store_true")
    a = p.parse_args(argv)
    out = Path(a.out)

    def run(func, **kw):
        return run_guarded(func, argparse.Namespace(**kw))

    datasets = []
    if a.imports:
        d = out / "data-imported"
        if not (d / "dataset.json").exists() and run(cmd_import, files=a.imports, fmt="auto", name=None, out=str(d),
                                                     test_fraction=0.1, seed=a.seed):
            return 2
        datasets.append(d)
    if a.generate is not None:
        d = out / "data-fmp"
        if not (d / "dataset.json").exists() and run(cmd_generate, out=str(d), scale=a.generate, only=None,
                                                     parameter_file=None, test_fraction=0.1, seed=a.seed):
            return 2
        if a.label:
            lab = out / f"data-{a.label.replace(':', '_')}"
            if not (lab / "dataset.json").exists() and run(
                    cmd_label, files=[str(d)], fmt="auto", name=None, calculator=a.label, workers=a.workers,
                    work=None, min_distance=0.7, max_force=50.0, out=str(lab), test_fraction=0.1, seed=a.seed):
                return 2
            d = lab
        datasets.append(d)
    if not datasets:
        p.error("give --import FILES and/or --generate SCALE")
    if run(cmd_train, data=[str(d) for d in datasets], out=str(out / "train"), steps=a.steps, sel="neighbor-stat",
           descriptor_neurons="25,50,100", axis_neuron=16, fitting_neurons="240,240,240", pref_e=a.pref_e,
           pref_f=(1000.0, 1.0), pref_v=(0.02, 1.0), decay_steps=5000, start_lr=1e-3, stop_lr=3.5e-8,
           batch_size="auto", disp_freq=1000, save_freq=10000, seed=a.seed, compress=a.compress):
        return 2
    model = out / "train" / ("model-compressed.pth" if a.compress else "model.pth")
    return run(cmd_test, model=str(model), data=[str(d) for d in datasets], held_out=a.held_out, lcurve=None,
               out=str(out / "test"), no_plots=False)


if __name__ == "__main__":
    sys.exit(main())
