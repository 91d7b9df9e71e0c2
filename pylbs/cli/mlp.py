"""``pylbs mlp import|generate|label|train|test``: build a DeepMD potential like the paper.

A typical route (FMP labels, runs anywhere)::

    pylbs mlp generate --out data/fmp --scale 0.3          # paper-like systems, FMP MD
    pylbs mlp train --data data/fmp --out model --steps 200000
    pylbs mlp test --model model/model.pth --data data/fmp --out model/test \\
        --held-out heldout/LBS-20-60-20 ...

With DFT data: ``pylbs mlp import OUTCAR ... --out data/dft``; to relabel
frames: ``pylbs mlp label FRAMES --calculator gfn1-xtb --out data/xtb -j 2``
(xTB is a stand-in for DFT, not ground truth).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import PylbsError
from ..glasses import CATALOG, get_glass
from ..jsonio import read_json, write_json_atomic
from ..lammps_env import mpi_comm
from .common import add_quiet
from ..mlp.datasets import dataset_systems, load_system, read_frames, write_dataset
from ..mlp.evaluate import evaluate_model, format_table
from ..mlp.generate import PAPER_LIKE, generate
from ..mlp.learn import ActiveLearning, LearnSettings, model0_steps
from ..mlp.label import TEACHER_NOTE, XTB_NOTE, Screening, frames_of_system, label_frames
from ..mlp.card import CRITERION_SECTION, criterion_summary, enter_stability
from ..mlp.label_job import run_label_job
from ..mlp.queue_jobs import KINDS, read_machine
from ..mlp.ship import ship
from ..mlp.stability import StabilityCheck, fmp_start_glass, run_stability, summary_lines
from ..mlp.teachers import TEACHERS
from ..mlp.train import TrainingSettings, run_training_job, train_and_freeze
from ..mpiutil import on_rank0
from ..potential.models import ALIASES, SHIPPED_DIR, model_path, shipped_models
from ..protocols.guard import DEFAULT_CONFIRM_PS, Guard
from ..potential.pair_wall import wall_of


def add_parsers(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("mlp", help="DeepMD potential: import/generate/label data, train, test")
    p.set_defaults(func=run_mlp)
    msub = p.add_subparsers(dest="mlp_cmd", required=True)

    q = msub.add_parser("import", help="labelled frames (OUTCAR, vasprun.xml, extxyz, deepmd) -> dataset")
    q.add_argument("files", nargs="+", help="one system per file (or deepmd folder)")
    q.add_argument("--fmt", default="auto", help="outcar, vasprun, extxyz, deepmd or a dpdata format (default: guess)")
    q.add_argument("--name", action="append", default=None, help="system name per file (default: file stem)")
    _split_args(q)

    q = msub.add_parser("generate", help="paper-like configurations from FMP MD (FMP-labelled)")
    q.add_argument("--out", required=True)
    q.add_argument("--scale", type=float, default=1.0, help="multiply frames per temperature")
    q.add_argument("--only", nargs="*", default=None, help="recipe names to run (default: all)")
    q.add_argument("--parameter-file", default=None)
    _split_args(q, out=False)

    q = msub.add_parser("label", help="(re)label frames with an ASE calculator -> dataset")
    q.add_argument("files", nargs="+", help="frames: a pylbs dataset (all its systems), deepmd folder, "
                   "extxyz, OUTCAR, LAMMPS dump ...")
    q.add_argument("--fmt", default="auto")
    q.add_argument("--name", action="append", default=None, help="system name per file (default: file stem)")
    q.add_argument("--calculator", default="gfn1-xtb",
                   help="gfn1-xtb (default; a stand-in for DFT), gfn2-xtb, lj (toy), a teacher "
                   "(chgnet-r2scan, chgnet-mptrj, sevennet-0, sevennet-mf-0-r2scan, sevennet-l3i5: "
                   "pylbs.mlp.teachers) or module:function")
    q.add_argument("-j", "--workers", type=int, default=1)
    q.add_argument("--work", default=None, help="folder of per-frame results (default: OUT/labelling)")
    q.add_argument("--machine", default=None, metavar="MACHINE_JSON",
                   help="label as queue jobs through dpdispatcher (Slurm, PBS, LSF, Shell): a machine file, its fp "
                        "section (or machine and resources at the top) as DP-GEN's; docs/mlp.md")
    q.add_argument("--min-distance", type=float, default=0.7, help="reject frames with a closer pair (A)")
    q.add_argument("--max-force", type=float, default=50.0, help="reject frames with a larger force (eV/A)")
    _split_args(q)

    q = msub.add_parser("train", help="train + freeze a se_e2_a model on a dataset")
    q.add_argument("--data", nargs="+", required=True, help="dataset folder(s) from import/generate/label")
    q.add_argument("--out", required=True, help="training folder (re-running resumes)")
    q.add_argument("--steps", type=int, default=1_000_000)
    q.add_argument("--sel", default="neighbor-stat", help="neighbor-stat, auto, or comma list e.g. 88,32,32,60")
    q.add_argument("--descriptor-neurons", default="25,50,100")
    q.add_argument("--axis-neuron", type=int, default=16)
    q.add_argument("--fitting-neurons", default="240,240,240")
    q.add_argument("--pref-e", nargs=2, type=float, default=(0.02, 1.0), metavar=("START", "LIMIT"),
                   help="energy loss weight (raise it against a constant energy shift)")
    q.add_argument("--pref-f", nargs=2, type=float, default=(1000.0, 1.0), metavar=("START", "LIMIT"))
    q.add_argument("--pref-v", nargs=2, type=float, default=(0.02, 1.0), metavar=("START", "LIMIT"))
    q.add_argument("--decay-steps", type=int, default=5000)
    q.add_argument("--start-lr", type=float, default=1e-3)
    q.add_argument("--stop-lr", type=float, default=3.5e-8)
    q.add_argument("--batch-size", default="auto")
    q.add_argument("--disp-freq", type=int, default=1000)
    q.add_argument("--save-freq", type=int, default=10000)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--compress", action="store_true", help="also write a compressed model")
    q.add_argument("--machine", default=None, metavar="MACHINE_JSON",
                   help="train as a queue job through dpdispatcher (a GPU node, say): a machine file, its train "
                        "section (or machine and resources at the top) as DP-GEN's; docs/mlp.md")

    q = msub.add_parser("learn", help="active learning: ensemble, teacher labels, glass exploration (resumable)")
    q.add_argument("out", help="the loop's folder; re-running resumes it with its own settings (OUT/settings.json), "
                               "options given override them where a resume allows")
    d = LearnSettings()
    q.add_argument("--teacher", default=None, help=f"labeller: a teacher (pylbs.mlp.teachers), default {d.teacher}, or "
                   "module:function returning an ASE calculator (your DFT, e.g. a configured VASP; its module's "
                   "sha256 is recorded)")
    q.add_argument("--iterations", type=int, default=None, help=f"default {d.iterations}")
    q.add_argument("--models", type=int, default=None, help=f"ensemble size (different seeds), default {d.n_models}")
    q.add_argument("--trust", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help=f"candidates: max force deviation in [LO, HI) eV/A (default {d.trust_lo} {d.trust_hi}); "
                        "a resume may change it, from the next selection on")
    q.add_argument("--max-candidates", type=int, default=None, help=f"labelled per iteration (default "
                                                                     f"{d.max_candidates})")
    q.add_argument("--systems", nargs="+", default=None, help="catalogue glasses / end members (default: all but "
                                                              "the held-out glass, plus the end members)")
    q.add_argument("--held-out", default=None, help=f"glass never trained on (the transferability test), default "
                                                    f"{d.held_out}")
    q.add_argument("--atoms", type=int, default=None, help=f"atoms per explored system (default {d.n_atoms})")
    q.add_argument("--explore-scale", type=float, default=None,
                   help=f"time scale of the exploration conditions (1 = 10 K/ps ramps, 50 ps holds; default "
                        f"{d.explore_time_scale})")
    q.add_argument("--init-steps", type=int, default=None, help=f"training steps of the first iteration (default "
                                                                 f"{d.init_steps})")
    q.add_argument("--refine-steps", type=int, default=None,
                   help=f"later iterations, from the previous (default {d.refine_steps}); a resume may change it, "
                        "from the next training on (one begun keeps its own)")
    q.add_argument("--initial-data", nargs="*", default=(), help="extra labelled datasets to train on")
    q.add_argument("--init-model", default=None, metavar="MODEL",
                   help="continue a model: iteration 0 trains from it (--refine-steps, its architecture) instead "
                        "of from scratch; a shipped name (default) or a frozen .pth. A shipped model's training "
                        "data are trained on too")
    q.add_argument("--fresh-members", action="store_true", default=None,
                   help="with --init-model: only model 0 continues it, the others train from their own random "
                        "weights (--init-steps), so the ensemble's deviation can read its error (docs/mlp.md)")
    q.add_argument("--refresh-members", action=argparse.BooleanOptionalAction, default=None,
                   help="every model but model 0 trains again from its own random weights (--init-steps) in "
                        "every iteration, as DP-GEN's members do, so the members do not come to agree where "
                        "they are wrong; a resume may switch it, from the next training on (docs/mlp.md)")
    q.add_argument("--hot-K", type=float, default=None,
                   help=f"also explore NVT at this temperature, 0 for none (default {d.hot_K}: the "
                        "stability check's liquid)")
    q.add_argument("--conditions", nargs="+", default=None, metavar="NAME",
                   help="explore only these conditions (ramp, nvt-1000K-strain+0.00, nvt-1000K-strain+0.05, "
                        "nvt-1000K-strain-0.05, npt-300K, nvt-2000K; default all)")
    q.add_argument("-j", "--workers", type=int, default=None,
                   help=f"labelling processes, and explorations run at once (one core each; default {d.workers})")
    q.add_argument("--machine", default=None, metavar="MACHINE_JSON",
                   help="queue jobs through dpdispatcher (Slurm, PBS, LSF, Shell): a machine file whose fp "
                        "section labels the teacher's frames and whose train section trains the models "
                        "(sections as DP-GEN's); exploration stays here; none: take a resumed loop's away; "
                        "docs/mlp.md")
    q.add_argument("--train-jobs", type=int, default=None, help=f"models trained at once, one core each (default "
                                                                 f"{d.train_jobs})")
    q.add_argument("--no-compress", dest="compress", action="store_const", const=False, default=None,
                   help="explore with the models as trained (default: their compressed copies)")
    add_quiet(q)

    q = msub.add_parser("queue-job", help="what a queue job of --machine runs (not for typing: pylbs writes it)")
    q.add_argument("kind", choices=["label", "train"])
    q.add_argument("where", help="label: the try's job.json; train: the training folder")
    q.add_argument("index", type=int, help="label: the frame; train: the try (a new job per try)")

    q = msub.add_parser("stability", help="NVT at 2000 K of every catalogue glass under the guard (the "
                                          "hot-liquid check; resumable)")
    c = StabilityCheck()
    q.add_argument("--mlp", nargs="+", required=True, metavar="MODEL",
                   help="model file(s) or a shipped name (default); several add the model-deviation guard")
    q.add_argument("--glasses", nargs="+", default=["all"], help="catalogue names, or all (default)")
    q.add_argument("--temperature", type=float, default=c.temperature_K, help=f"K (default {c.temperature_K:g})")
    q.add_argument("--ps", type=float, default=c.ps, help=f"hold at time scale 1 (default {c.ps:g} ps)")
    q.add_argument("--time-scale", type=float, default=c.time_scale,
                   help="shortens the hold (0.05: 5 ps of a 100 ps check); default 1")
    q.add_argument("--atoms", type=int, default=c.atoms, help=f"atoms per glass (default {c.atoms})")
    q.add_argument("--fmp-time-scale", type=float, default=0.005,
                   help="time scale of the FMP melt-quench that makes each start glass (default 0.005)")
    q.add_argument("--guard-confirm-fs", type=float, default=DEFAULT_CONFIRM_PS * 1000,
                   help="fs a pair may stay under its guard limit before it is an overlap (default %(default)g: "
                        "collisions clear sooner); 0: stop at the first check under it (the rule before 2026-12-03)")
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", required=True, help="folder: OUT/fmp/ start glasses, OUT/<glass>/ runs, "
                                                "OUT/stability.json")
    q.add_argument("--card", action="store_true",
                   help="also write the result into the shipped model's card: a shortened check replaces its "
                        "section 'stability'; the full 100 ps adds its glasses to the section "
                        "'stability_criterion', which collects them run by run")
    add_quiet(q)

    q = msub.add_parser("ship", help="an active-learning loop's model -> pylbs/data/models/NAME with its card")
    q.add_argument("loop", help="the loop's folder (pylbs mlp learn OUT)")
    q.add_argument("--name", required=True, help="model name (`--mlp NAME`); `default` points at "
                                                 "pylbs.potential.models.DEFAULT_MODEL")
    q.add_argument("--iteration", type=int, default=None, help="ship this iteration's model (default: the last)")
    q.add_argument("--dest", default=None, help="models folder (default: pylbs/data/models)")

    q = msub.add_parser("test", help="MAE/MXE/shift table + JSON, parity plots, learning curve")
    q.add_argument("--model", required=True, help="model file, or a shipped name (default, lbs-chgnet-r2scan-2)")
    q.add_argument("--data", nargs="*", default=[], help="dataset folder(s): their test parts are evaluated")
    q.add_argument("--held-out", nargs="*", default=[], help="held-out datasets/folders (transferability)")
    q.add_argument("--lcurve", default=None, help="lcurve.out (default: next to the model)")
    q.add_argument("--out", required=True)
    q.add_argument("--no-plots", action="store_true")
    return p


def _split_args(q, out: bool = True):
    if out:
        q.add_argument("--out", required=True, help="dataset folder (train/, test/, dataset.json)")
    q.add_argument("--test-fraction", type=float, default=0.1)
    q.add_argument("--seed", type=int, default=1, help="split seed")


def _names(args):
    if args.name and len(args.name) != len(args.files):
        raise PylbsError("give one --name per file")
    if args.name:
        return args.name
    names = []
    for f in args.files:
        p = Path(f)
        base = p.name if p.is_dir() else p.stem or p.name
        name = base if base not in names else f"{base}-{len(names)}"
        names.append(name.replace("/", "_"))
    return names


def _print_manifest(manifest, out):
    for name, s in manifest["systems"].items():
        print(f"{name}: {s['frames']} frames x {s['atoms']} atoms -> {s['train']} train / {s['test']} test")
    print(f"dataset: {out}")


def cmd_import(args) -> int:
    systems, sources = {}, {}
    for name, f in zip(_names(args), args.files):
        systems[name] = read_frames(f, args.fmt)
        sources[name] = str(Path(f).resolve())
    _print_manifest(write_dataset(systems, args.out, args.test_fraction, args.seed, sources), args.out)
    return 0


def cmd_generate(args) -> int:
    recipes = [r for r in PAPER_LIKE if args.only is None or r.name in args.only]
    if not recipes:
        raise PylbsError(f"no recipe named {args.only}; known: {', '.join(r.name for r in PAPER_LIKE)}")
    systems = generate(recipes, args.scale, args.parameter_file)
    _print_manifest(write_dataset(systems, args.out, args.test_fraction, args.seed,
                                  {n: "FMP-LBS MD (pylbs mlp generate)" for n in systems}), args.out)
    return 0


def cmd_label(args) -> int:
    if "xtb" in args.calculator:
        print(f"note: {XTB_NOTE}", file=sys.stderr)
    if args.calculator in TEACHERS:
        print(f"note: {TEACHER_NOTE}", file=sys.stderr)
    work = Path(args.work or Path(args.out) / "labelling")
    inputs = []  # (name, frames System, source)
    for name, f in zip(_names(args), args.files):
        if (Path(f) / "dataset.json").exists():  # a pylbs dataset: every system, train + test frames
            for sname in json.loads((Path(f) / "dataset.json").read_text())["systems"]:
                merged = None
                for part in ("train", "test"):
                    if (Path(f) / part / sname / "type.raw").exists():
                        s = read_frames(Path(f) / part / sname, "deepmd", labelled=False)
                        if merged is None:
                            merged = s
                        else:
                            merged.append(s)
                inputs.append((sname, merged, f"{Path(f).resolve()}:{sname}"))
        else:
            inputs.append((name, read_frames(f, args.fmt, labelled=False), str(Path(f).resolve())))
    systems, sources, labellers = {}, {}, {}
    for name, frames_system, f in inputs:
        frames = frames_of_system(frames_system)
        system, report = label_frames(frames, work / name, args.calculator, args.workers,
                                      Screening(args.min_distance, args.max_force), name=name, machine=args.machine)
        failed = (f", {report['failed']} failed in the calculator (computed again when you rerun this command)"
                  if report["failed"] else "")
        print(f"{name}: {report['accepted']}/{report['frames']} accepted{failed}, report {work / name / 'report.json'}")
        if system is not None:
            systems[name] = system
            t = report.get("teacher")
            sources[name] = f"{f} labelled with {args.calculator}" + (
                f" ({t['package']} {t['version']}, weights sha256 {t['weight_sha256']})" if t else "")
            labellers[name] = t or report.get("labeller") or {"name": args.calculator}
    if not systems:
        raise PylbsError(f"no frame was accepted; see the reports under {work}")
    _print_manifest(write_dataset(systems, args.out, args.test_fraction, args.seed, sources, labellers), args.out)
    return 0


def _ints(text):
    return tuple(int(x) for x in str(text).split(","))


def cmd_train(args) -> int:
    train, valid = [], []
    for d in args.data:
        train += list(dataset_systems(d, "train").values())
        valid += list(dataset_systems(d, "test").values())
    if not train:
        raise PylbsError(f"no training systems found in {args.data}")
    sel = args.sel if args.sel in ("auto", "neighbor-stat") else list(_ints(args.sel))
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    s = TrainingSettings(sel=sel, descriptor_neurons=_ints(args.descriptor_neurons), axis_neuron=args.axis_neuron,
                         fitting_neurons=_ints(args.fitting_neurons), numb_steps=args.steps,
                         start_lr=args.start_lr, stop_lr=args.stop_lr, decay_steps=args.decay_steps,
                         batch_size=batch, pref_e=tuple(args.pref_e), pref_f=tuple(args.pref_f),
                         pref_v=tuple(args.pref_v), disp_freq=args.disp_freq, save_freq=args.save_freq,
                         seed=args.seed)
    model = train_and_freeze(train, valid or train, args.out, s, compress=args.compress, progress=True,
                             machine=read_machine(args.machine, "train") if args.machine else None)
    print(f"model: {model}")
    return 0


def cmd_queue_job(args) -> int:
    if args.kind == "label":
        print(f"frame {args.index}: {run_label_job(args.where, args.index)}")
    else:
        run_training_job(args.where)
    return 0  # a failed frame is a result (computed again by the next run), not a failed job


def cmd_test(args) -> int:
    args.model = model_path(args.model)  # a shipped name (default, lbs-chgnet-r2scan-2) or a file
    if not Path(args.model).is_file():
        raise PylbsError(f"no model {args.model}: give a model file (model.pth) or a shipped name "
                         f"({', '.join(['default', *shipped_models()])})")
    sets, held = {}, []
    for d in args.data:
        sets.update(dataset_systems(d, "test"))
    for d in args.held_out:  # a held-out dataset is evaluated on all its frames (train + test parts)
        parts = {}
        for part in (("train",) if (Path(d) / "type.raw").exists() else ("train", "test")):
            for name, folder in dataset_systems(d, part).items():
                system = load_system(folder)
                if name in parts:
                    parts[name].append(system)
                else:
                    parts[name] = system
        for name, system in parts.items():
            key = f"heldout-{name}"
            sets[key] = system
            held.append(key)
    lcurve = args.lcurve or Path(args.model).parent / "lcurve.out"
    result = evaluate_model(args.model, sets, args.out, lcurve=lcurve, plots=not args.no_plots, held_out=held)
    print(format_table(result["metrics"]))
    print(f"metrics: {Path(args.out) / 'metrics.json'}")
    return 0


def _init_model_setting(spec: str) -> str:
    """What ``--init-model`` is recorded as: a shipped model's name, or a file's absolute path."""
    path = Path(model_path(spec)).resolve()
    if not path.is_file():
        raise PylbsError(f"--init-model {spec}: no such model file or shipped model (shipped: "
                         f"{', '.join(shipped_models()) or 'none'})")
    return ALIASES.get(spec, spec) if path.parent.parent == SHIPPED_DIR.resolve() else str(path)


def cmd_learn(args) -> int:
    if args.machine not in (None, "none") and not any(read_machine(args.machine, k, required=False) for k in KINDS):
        read_machine(args.machine)  # a file with neither section fails now, not hours later; its error names it
    kept = read_json(Path(args.out) / "settings.json")
    s = LearnSettings.from_dict(kept) if kept else LearnSettings()
    given = {"teacher": args.teacher, "iterations": args.iterations, "n_models": args.models,
             "trust_lo": args.trust[0] if args.trust else None, "trust_hi": args.trust[1] if args.trust else None,
             "max_candidates": args.max_candidates, "systems": tuple(args.systems) if args.systems else None,
             "held_out": args.held_out, "n_atoms": args.atoms, "explore_time_scale": args.explore_scale,
             "init_steps": args.init_steps, "refine_steps": args.refine_steps, "workers": args.workers,
             "train_jobs": args.train_jobs, "compress": args.compress,
             "machine": str(Path(args.machine).resolve()) if args.machine and args.machine != "none" else None,
             # a shipped name as given (the same setting from any checkout; the loop keeps its own copy)
             "init_model": _init_model_setting(args.init_model) if args.init_model else None,
             "conditions": tuple(args.conditions) if args.conditions else None,
             "fresh_members": args.fresh_members, "refresh_members": args.refresh_members}
    s = replace(s, **{k: v for k, v in given.items() if v is not None})
    if args.hot_K is not None:
        s = replace(s, hot_K=args.hot_K or None)
    if s.fresh_members and not s.init_model:
        raise PylbsError("--fresh-members splits a continued ensemble (model 0 continues --init-model, the others "
                         "start fresh): give --init-model too; a loop from scratch starts every model fresh")
    if args.machine == "none":  # a resumed loop's queue jobs taken away: all runs here again
        s = replace(s, machine=None)
    rec = ActiveLearning(args.out, s, initial_data=args.initial_data).run()
    for it in rec["iterations"]:
        lo, hi = it["trust_levels_eV_per_A"]
        seen = it.get("heldout_deviation")  # recorded since the loop checks the deviation against the error
        steps = model0_steps(it)
        print(f"iteration {it['iteration']} [{lo:g}, {hi:g}) eV/A" + (f", {steps} steps" if steps else "")
              + f": {it['frames']} frames explored, {it['candidates']} "
              f"candidates ({100 * (it['candidate_fraction'] or 0):.2f} %), {it['failed']} failed, {it['selected']} "
              f"labelled; held-out force MAE {it['heldout_errors']['overall']['force_mae']:.3f} eV/A"
              + (f", error / deviation {seen['error_over_deviation']:.2f}" if seen else "")
              + (f"; force RMSE {it['heldout_demand']['force_rmse']:.3f} eV/A, the window asks "
                 f"{it['heldout_demand']['p99']:.3f}" if "heldout_demand" in it else ""))
    print(("converged" if rec["converged"] else "not converged") + f"; model {rec['model']}; record "
          f"{Path(args.out) / 'record.json'}")
    return 0


def cmd_ship(args) -> int:
    card = ship(args.loop, args.name, Path(args.dest) if args.dest else SHIPPED_DIR, iteration=args.iteration)
    dest = Path(args.dest) if args.dest else SHIPPED_DIR
    print(card["error_table"]["model"])
    print(f"shipped {args.name} (iteration {card['loop']['iteration_shipped']}, converged: "
          f"{card['loop']['converged']}) -> {dest / args.name}; card: {dest / args.name / 'card.md'}")
    return 0


def cmd_stability(args) -> int:
    names = list(CATALOG) if args.glasses == ["all"] else list(args.glasses)
    check = StabilityCheck(temperature_K=args.temperature, ps=args.ps, time_scale=args.time_scale,
                           atoms=args.atoms, glasses=tuple(names))
    models = [model_path(m) for m in args.mlp]
    first = Path(models[0]).resolve()
    if args.card and (first.parent.parent != SHIPPED_DIR or len(models) > 1):
        raise PylbsError("--card writes into a shipped model's card: give that one model (--mlp default), or "
                         "leave --card out")
    out = Path(args.out)
    comm = mpi_comm()

    results = run_stability(models, out, check, lambda name, n: fmp_start_glass(
        out, name, get_glass(name), n, args.fmp_time_scale, args.seed, comm), comm=comm, seed=args.seed,
        guard=Guard(confirm_ps=args.guard_confirm_fs / 1000))
    command = (f"pylbs mlp stability --mlp {' '.join(args.mlp)} --glasses {' '.join(args.glasses)} --temperature "
               f"{args.temperature:g} --ps {args.ps:g} --time-scale {args.time_scale:g} --atoms {args.atoms} "
               f"--fmp-time-scale {args.fmp_time_scale:g} --seed {args.seed} --guard-confirm-fs "
               f"{args.guard_confirm_fs:g} --out {args.out}" + (" --card" if args.card else ""))
    summary = {"command": f"mpirun -np {comm.Get_size()} {command}" if comm.Get_size() > 1 else command,
               "models": models, "check": check.to_dict(), "fmp_time_scale": args.fmp_time_scale,
               "ranks": comm.Get_size(), "guard_stops": sum(r["stopped"] for r in results.values()),
               "glasses": results}
    wall = wall_of(models[0])
    if wall is not None:
        summary["pair_wall"] = wall.to_dict()

    def report():
        write_json_atomic(out / "stability.json", summary)
        print("\n".join(summary_lines(results)))  # before the card: a refused entry still shows the result
        card = enter_stability(first.parent.name, summary, check.full_length) if args.card else None
        if card and check.full_length:  # the criterion's own runs joined its record: say how far it is
            print(criterion_summary(card[CRITERION_SECTION]))  # the README's sentence (sync_model_docs.py)
    on_rank0(comm, report)
    return 1 if summary["guard_stops"] else 0


HANDLERS = {"import": cmd_import, "generate": cmd_generate, "label": cmd_label, "train": cmd_train,
            "learn": cmd_learn, "ship": cmd_ship, "stability": cmd_stability, "test": cmd_test,
            "queue-job": cmd_queue_job}


def run_mlp(args) -> int:
    return HANDLERS[args.mlp_cmd](args)
