"""Ship the model of an active-learning loop: ``pylbs mlp ship LOOP --name NAME``.

Copies the loop's last model (iteration k, ensemble member 0) into
``pylbs/data/models/NAME/`` with its compressed copy (``dp --pt compress -s STEP``, laid where
:mod:`pylbs.mlp.compress` finds it), evaluates it against the teacher on the loop's held-out
glass and on the test part of every dataset it was trained on, and writes ``card.json``: the
model card's numbers (teacher, data, hyperparameters, training, errors, convergence record).
``card.md`` renders them; docs/models.md carries that text, so every number in the card comes
from this command and the loop's ``record.json``, none typed by hand. Validation runs (4B of the
catalogue glasses, guard stops, MD speed) add their own sections to ``card.json`` later
(:mod:`pylbs.mlp.card`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..errors import PylbsError
from ..hashing import file_sha256
from ..jsonio import read_json
from ..potential.models import MODEL_FILE, SHIPPED_DIR
from ..potential.pair_wall import WALL_FILE, wall_file_of
from .card import CARD_FILE, wall_entries, write_card
from .compress import cached_copy_path
from .datasets import TRAINING_DATA_DIR, copy_dataset_compact, dataset_systems, load_joined
from .evaluate import evaluate_model, format_table
from .learn import model0_steps, stability_iteration
from .train import _run_dp, begun_steps, seconds_per_batch

#: The held-out glass's teacher-labelled frames, shipped so anyone can recompute the card's errors.
HELDOUT_DIR = "heldout"
#: Table step of the shipped compressed copy: 10x deepmd's default, as for the tests' model (whose copy
#: it made 8x smaller, 1.7 vs 14 MB); the card records the copy's own errors next to the model's.
TABLE_STEP = 0.1
#: The issue's cap on a shipped model's folder (model, compressed copy, held-out frames, training data, card).
MAX_SHIPPED_BYTES = 20e6


def ship(loop, name: str, dest_root=SHIPPED_DIR, table_step: float = TABLE_STEP, iteration: int | None = None,
         compress: bool = True) -> dict:
    """Ship the loop's model as ``dest_root/name`` and return its card (also written there).
    ``compress=False`` ships the model alone (first use then runs ``dp compress``)."""
    loop = Path(loop).resolve()
    record = read_json(loop / "record.json") or {"iterations": []}
    its = record["iterations"]
    it = (its[-1] if its else None) if iteration is None else next((r for r in its if r["iteration"] == iteration),
                                                                      None)
    trained = loop / f"iter-{iteration if iteration is not None else 0:03d}" / "train-0" / MODEL_FILE
    if it is None and iteration is not None and trained.exists():  # trained, its exploration not finished
        it = {"iteration": iteration, "models": [str(trained)], "explored": False}
    if it is None:
        raise PylbsError(f"{loop} has no finished iteration{'' if iteration is None else f' {iteration}'} "
                         f"(finished: {[r['iteration'] for r in its]}); run `pylbs mlp learn {loop}`, or give "
                         "--iteration K of a trained model")
    teacher = record.get("teacher") or _seed_labeller(loop)
    if not teacher:  # a card must say what its labels came from: never guess "a universal potential"
        raise PylbsError(f"{loop} records no labeller (record.json has no 'teacher' and no seed dataset names "
                         "one), so the card could not say what the model reproduces. If you know it, add it to "
                         "record.json as \"teacher\": pylbs.mlp.label.labeller_provenance(NAME) and ship again")
    source = Path(it["models"][0])
    final = Path(dest_root) / name
    dest = final.with_name(f".{name}.new")  # built aside, then swapped in: a failure leaves the old model whole
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    model = dest / MODEL_FILE
    shutil.copyfile(source, model)
    sha = file_sha256(model)
    files = {MODEL_FILE: {"sha256": sha, "bytes": model.stat().st_size}}
    compressed = model.parent / f"{model.stem}.compressed-{sha[:12]}.pth"
    if compress:
        work = dest / ".compress"
        work.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        _run_dp(["--pt", "compress", "-i", str(model), "-o", "part.pth", "-s", str(table_step)], work, "compress.log")
        (work / "part.pth").replace(compressed)
        shutil.rmtree(work, ignore_errors=True)
        if cached_copy_path(model, sha) != compressed:
            raise PylbsError(f"pylbs.mlp.compress would not find {compressed.name} beside {model}; the naming rule "
                             "changed: update pylbs.mlp.ship")
        files[compressed.name] = {"sha256": file_sha256(compressed), "bytes": compressed.stat().st_size,
                                  "table_step": table_step, "compress_s": round(time.perf_counter() - t0, 1)}

    # laid beside the loop's models when the continued model had one (OUT/init: models trained before that)
    wall_src = wall_file_of(source) or wall_file_of(loop / "init" / MODEL_FILE)
    if wall_src:
        shutil.copyfile(wall_src, dest / WALL_FILE)
    wall = wall_entries(dest)
    if wall is not None:
        files[WALL_FILE] = wall[0]

    settings = read_json(loop / "settings.json")
    datasets = [loop / "seed" / "data", *map(Path, record.get("initial_data", [])),
                *[loop / f"iter-{k:03d}" / "data" for k in range(it["iteration"])]]
    datasets = [d for d in datasets if (d / "dataset.json").exists()]
    sets = {}
    for d in datasets:
        for sys_name, folder in dataset_systems(d, "test").items():
            sets.setdefault(sys_name, []).append(folder)
    sets = {k: load_joined(v) for k, v in sets.items()}
    carried = dest / TRAINING_DATA_DIR  # so a loop elsewhere can continue this model (--init-model NAME)
    for j, d in enumerate(datasets):
        copy_dataset_compact(d, carried / f"{j:02d}-{_dataset_label(loop, d)}")
    carried_bytes = sum(p.stat().st_size for p in carried.rglob("*") if p.is_file()) if datasets else 0
    held = f"heldout-{settings['held_out']}"
    shutil.rmtree(dest / HELDOUT_DIR, ignore_errors=True)  # shipped with the model: its card's check set
    shutil.copytree(loop / "heldout" / "data", dest / HELDOUT_DIR)
    _check_size(dest, name)  # before the evaluation, which takes minutes on a real model
    sets[held] = load_joined(f for part in ("train", "test")
                             for f in dataset_systems(dest / HELDOUT_DIR, part).values())
    errors = {}
    for label, path in {"model": model, **({"compressed": compressed} if compress else {})}.items():
        errors[label] = evaluate_model(path, sets, dest / ".eval" / label, plots=False, held_out=(held,))["metrics"]
    shutil.rmtree(dest / ".eval", ignore_errors=True)

    train_dir = source.parent
    dp_input = json.loads((train_dir / "input.json").read_text())
    parent = read_json(loop / "init" / CARD_FILE) if settings.get("init_model") else None  # the model it continued
    recorded = {r["iteration"]: model0_steps(r) for r in its}
    steps = sum(recorded.get(j) or _model0_steps(loop, settings, j) for j in range(it["iteration"] + 1))
    card = {
        "name": name,
        "what": _what(teacher),
        "command": f"pylbs mlp ship {loop} --name {name}" + (f" --iteration {iteration}" if iteration is not None
                                                            else ""),
        "files": files,
        "teacher": teacher,
        "loop": {"folder": str(loop), "settings": settings, "iteration_shipped": it["iteration"],
                 "iteration_shipped_explored": it.get("explored", True),
                 # the loop's verdict is its last iteration's
                 "converged": bool(record.get("converged") and its and it["iteration"] == its[-1]["iteration"]
                                   and stability_iteration(record) == it["iteration"]),
                 # the loop's 2000 K check only where it checked the shipped iteration's models
                 "stability": record.get("stability") if stability_iteration(record) == it["iteration"] else None,
                 "iterations": [_iteration_summary(r) for r in its]},
        "data": {**_data_summary(datasets, loop / "heldout" / "data"),
                 "shipped": {"folder": TRAINING_DATA_DIR, "datasets": len(datasets), "bytes": carried_bytes}},
        "hyperparameters": {"descriptor": dp_input["model"]["descriptor"],
                            "fitting_net": dp_input["model"]["fitting_net"],
                            "learning_rate": dp_input["learning_rate"], "loss": dp_input["loss"],
                            "numb_steps": dp_input["training"]["numb_steps"],
                            "init_model": "previous iteration's model" if it["iteration"] > 0
                            else settings.get("init_model"),
                            "continued_from": ({"model": settings["init_model"], "name": (parent or {}).get("name"),
                                                "sha256": file_sha256(loop / "init" / MODEL_FILE)}
                                               if settings.get("init_model") else None)},
        "training": {"wall_s_per_iteration": {r["iteration"]: round(r["wall_s"]["train"], 1) for r in its},
                     "s_per_batch": seconds_per_batch(train_dir / "train.log"),
                     "steps_this_loop": steps,
                     "steps_total": steps + ((parent or {}).get("training") or {}).get("steps_total", 0)},
        "errors": errors,
        "error_table": {k: format_table(v) for k, v in errors.items()},
        "pair_wall": wall[1] if wall is not None else None,
    }
    write_card(dest, card)
    _check_size(dest, name)  # and again with the card, before the swap: the shipped model stays as it was
    old = final.with_name(f".{name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    dest.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return card


def _what(teacher: dict) -> str:
    """The card's first line: what the labels came from, and that this is not the paper's model."""
    if "weight_sha256" not in teacher:  # a user's labeller (their DFT): pylbs.mlp.label.labeller_provenance
        return (f"a DeepMD se_e2_a model trained by pylbs's active learning on labels of {teacher['name']} (a "
                "user-supplied calculator); NOT the paper's DFT-trained model")
    return ("a DeepMD se_e2_a model distilled from a universal potential (the teacher) by pylbs's active "
            "learning; NOT the paper's DFT-trained model")


def _seed_labeller(loop: Path) -> dict | None:
    """The teacher's provenance as the seed data recorded it (a loop begun before the loop wrote its
    record at the start has none until its first iteration finished)."""
    systems = (read_json(loop / "seed" / "data" / "dataset.json") or {}).get("systems", {})
    return next((m.get("labeller") for m in systems.values() if m.get("labeller")), None)


def _model0_steps(loop: Path, settings: dict, k: int) -> int:
    """The steps iteration ``k`` trained model 0 for, where its record does not say: its training folder's
    (a resumed loop may change ``refine_steps``, pylbs.mlp.learn.RESUMABLE_CHANGES), else the loop's
    settings (a loop recorded before it could)."""
    return begun_steps(loop / f"iter-{k:03d}" / "train-0") or (
        settings["refine_steps"] if k > 0 or settings.get("init_model") else settings["init_steps"])


def _iteration_summary(r: dict) -> dict:
    steps = model0_steps(r)
    return {"iteration": r["iteration"], **({"training_steps": steps} if steps else {}),
            # which members trained from random weights (refresh_members may change on a resume)
            **({"started_fresh": r["started_fresh"]} if "started_fresh" in r else {}),
            "training_frames": r["training_frames"], "explored_frames": r["frames"],
            "candidates": r["candidates"], "failed": r["failed"], "overlap": r.get("overlap"),
            "candidate_fraction": r["candidate_fraction"],
            "worst_condition_fraction": r["worst_condition_fraction"], "labelled": r["selected"],
            "blew_up": sorted(f"{s} {c}" for s, conds in r["exploration"].items() for c, v in conds.items()
                              if v["blew_up"]),
            # each iteration's own window (a resumed loop may change it, pylbs.mlp.learn.RESUMABLE_CHANGES)
            "trust_levels": r.get("trust_levels_eV_per_A"),
            # does the deviation read the error? (recorded since the check existed; None before)
            "heldout_error_over_deviation": (r.get("heldout_deviation") or {}).get("error_over_deviation"),
            "heldout_error_over_deviation_limit": (r.get("heldout_deviation") or {}).get("limit"),
            "heldout_force_mae": r["heldout_errors"]["overall"]["force_mae"],
            "heldout_energy_mae": r["heldout_errors"]["overall"]["energy_mae"],
            "wall_s": {k: round(v, 1) for k, v in r["wall_s"].items()}}


def _check_size(dest: Path, name: str) -> None:
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    if size > MAX_SHIPPED_BYTES:
        data = sum(p.stat().st_size for p in (dest / TRAINING_DATA_DIR).rglob("*") if p.is_file())
        raise PylbsError(f"{name} would take {size / 1e6:.1f} MB, over the {MAX_SHIPPED_BYTES / 1e6:.0f} MB a shipped "
                         f"model may take (training data {data / 1e6:.1f} MB); ship a smaller loop or keep its data "
                         f"elsewhere (left in {dest})")


def _dataset_label(loop: Path, dataset: Path) -> str:
    """seed, iter-003, a continued model's dataset under its own name (``init/training-data/00-seed`` ->
    seed), or an initial dataset's own folder names (what the copy is called in the card)."""
    try:
        rel = dataset.resolve().relative_to(loop)
        if rel.parts[0] == "init" and len(rel.parts) > 2:
            return rel.parts[-1].split("-", 1)[-1]
        return rel.parts[0]
    except ValueError:
        return "-".join(dataset.resolve().parts[-2:])


def _data_summary(datasets, heldout) -> dict:
    out = {"training": {}, "held_out": {}}
    for d in datasets:
        for sys_name, m in (read_json(d / "dataset.json") or {}).get("systems", {}).items():
            row = out["training"].setdefault(sys_name, {"frames": 0, "atoms": m["atoms"], "sources": []})
            row["frames"] += m["frames"]
            row["sources"].append(f"{m['frames']}: {m['source']}")
    for sys_name, m in (read_json(Path(heldout) / "dataset.json") or {}).get("systems", {}).items():
        out["held_out"][sys_name] = {"frames": m["frames"], "atoms": m["atoms"], "source": m["source"]}
    return out
