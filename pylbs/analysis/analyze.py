"""``pylbs analyze``: every structure analysis of a structure or trajectory as one JSON object.

For each selected frame: coordination (per species {CN: count}, fraction_4B,
fraction_5Si; :mod:`pylbs.analysis.coordination`), rings (size histogram in network
formers, per formula unit, the 3MR classes and 3B_ring/3B; :mod:`pylbs.analysis.rings`)
and mean bond angles (:mod:`pylbs.analysis.structure_stats`). The top level holds
the issue's keys (``n_atoms``, ``fraction_4B``, ``fraction_5Si``, ``coordination``,
``rings``, ``three_membered_boron``, ``three_membered_with_si``,
``fraction_3B_in_3MR``) for a single frame, or their means over frames for a
trajectory; ``per_frame`` has every frame's values and ``mean``/``std`` the
statistics of the scalar quantities (std = 0 for one frame). NaN (no B, no 3B) is
written as JSON ``null``.

Run folders: :func:`analyze_run` averages over the frames of a run's ``sample`` stage (the
paper's "last 100 ps configurations were used for the structural analyses") and
:func:`analyze_runs` over every run (replica) of a protocol folder, with the replica-to-replica
and the frame-to-frame spreads reported separately.

Command line: ``pylbs analyze glass.data --json``, ``pylbs analyze cooling.dump --frames 100: --json``,
``pylbs analyze runs/g1/mlp-anneal-T1700 --json`` (:mod:`pylbs.cli.analyze`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

from ..errors import AnalysisError
from ..jsonio import json_safe
from ..lammps_io import PROGRESS_FILE, TRAJECTORY_FILE, dump_steps
from ..protocols.schedules import Schedule
from ..stats import STD_CONVENTION, mean_std
from .coordination import coordination
from .network import FORMERS, build_network, iter_frames, n_frames, network_cutoffs, select_frames
from .rings import DEFAULT_MAX_SIZE, rings_of_network
from .structure_stats import angles_of_network


def _coordination(data, cutoffs):
    """Coordination of one prepared frame through pylbs.analysis.coordination (its own bonds)."""
    res = coordination(data, cutoffs=cutoffs)
    hist = {el: {str(n): int(c) for n, c in enumerate(h) if c} for el, h in res.histograms.items()}
    return res, hist


def analyze_frame(data, cutoffs=None, max_ring_size: int = DEFAULT_MAX_SIZE, members: bool = False,
                  formers=FORMERS) -> dict:
    """All analyses of one prepared frame (see :func:`pylbs.analysis.network.iter_frames`)."""
    coord, hist = _coordination(data, cutoffs)
    net = build_network(data, cutoffs, formers=formers)
    rings = rings_of_network(net, max_ring_size)
    angles = angles_of_network(net)
    r = rings.to_dict(members=members)
    return {
        "n_atoms": net.n_atoms,
        "temperature": net.temperature,
        "fraction_4B": coord.fraction_4B,
        "fraction_5Si": coord.fraction_5Si,
        "coordination": hist,
        "rings": r,
        "three_membered_boron": r["three_membered_boron"],
        "three_membered_with_si": r["three_membered_with_si"],
        "fraction_3B_in_3MR": r["fraction_3B_in_3MR"],
        "bond_angles": {"mean": angles.mean, "std": angles.std, "count": angles.count},
    }


def _scalars(frame: dict) -> dict[str, float]:
    """The per-frame numbers averaged over a trajectory (flat keys)."""
    out = {"fraction_4B": frame["fraction_4B"], "fraction_5Si": frame["fraction_5Si"],
           "fraction_3B_in_3MR": frame["fraction_3B_in_3MR"],
           "three_membered": frame["rings"]["three_membered"],
           "three_membered_with_si": frame["three_membered_with_si"]}
    for k, v in frame["three_membered_boron"].items():
        out[f"three_membered_boron.{k}"] = v
    for k, v in frame["rings"]["size_histogram"].items():
        out[f"rings.size_histogram.{k}"] = v
    for k, v in frame["rings"]["per_formula_unit"].items():
        out[f"rings.per_formula_unit.{k}"] = v
    for el, h in frame["coordination"].items():
        for n, c in h.items():
            out[f"coordination.{el}.{n}"] = c
    for k, v in frame["bond_angles"]["mean"].items():
        out[f"bond_angles.{k}"] = v
    return out


def _stats(per_frame: list[dict]) -> tuple[dict, dict]:
    rows = [_scalars(f) for f in per_frame]
    keys = sorted({k for r in rows for k in r})
    mean, std = {}, {}
    for k in keys:
        # a CN or ring size absent from a frame counts as 0 there; NaN fractions are skipped
        default = float("nan") if k.startswith(("fraction", "bond_angles")) else 0.0
        mean[k], std[k], _ = mean_std([r.get(k, default) for r in rows])
    return mean, std


def _frames_worker(job):
    """One worker's share of a trajectory (runs in a spawned process: OVITO state is not forked)."""
    source, frames, cutoffs, max_ring_size, members, formers = job
    return [(f, analyze_frame(data, cutoffs, max_ring_size, members, formers))
            for f, data in iter_frames(source, frames)]


def _analyze_frames(source, frames, cutoffs, max_ring_size, members, formers, jobs) -> list[tuple[int, dict]]:
    """(frame index, analysis) of the selected frames, over ``jobs`` processes for a file with many frames."""
    if jobs > 1 and isinstance(source, (str, os.PathLike)):
        idx = select_frames(n_frames(source), frames)
        if len(idx) >= 2 * jobs:
            chunks = [idx[k::jobs] for k in range(jobs)]
            work = [(str(source), c, cutoffs, max_ring_size, members, formers) for c in chunks]
            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                done = [r for part in pool.map(_frames_worker, work) for r in part]
            return sorted(done, key=lambda fr: fr[0])
    return [(f, analyze_frame(data, cutoffs, max_ring_size, members, formers))
            for f, data in iter_frames(source, frames)]


def _means_as_result(mean: dict, network: str) -> dict:
    """The top-level keys of a one-frame result (4B, rings, 3MR classes, coordination) from the
    flat means of :func:`_stats`: what the report, the store and the figures read."""
    out = {k: mean.get(k) for k in ("fraction_4B", "fraction_5Si", "fraction_3B_in_3MR", "three_membered_with_si")}
    out["three_membered_boron"] = {k.split(".")[1]: v for k, v in mean.items() if k.startswith("three_membered_boron.")}
    sizes = sorted({int(k.rsplit(".", 1)[1]) for k in mean if k.startswith("rings.size_histogram.")})
    out["rings"] = {"size_histogram": {str(n): mean.get(f"rings.size_histogram.{n}", 0.0) for n in sizes},
                    "per_formula_unit": {str(n): mean.get(f"rings.per_formula_unit.{n}", 0.0) for n in sizes},
                    "three_membered": mean.get("three_membered"), "three_membered_boron": out["three_membered_boron"],
                    "three_membered_with_si": out["three_membered_with_si"],
                    "fraction_3B_in_3MR": out["fraction_3B_in_3MR"], "network": network}
    coord: dict = {}
    for k, v in mean.items():
        if k.startswith("coordination."):
            _, el, n = k.split(".")
            coord.setdefault(el, {})[n] = v
    out["coordination"] = {el: dict(sorted(h.items(), key=lambda kv: int(kv[0]))) for el, h in coord.items()}
    return out


def analyze(source, frames=None, cutoffs=None, max_ring_size: int = DEFAULT_MAX_SIZE,
            members: bool = False, formers=FORMERS, jobs: int = 1, per_frame: bool = True) -> dict:
    """Every analysis of the selected frames of ``source`` as a JSON-ready dict.

    ``source``: file path (LAMMPS data/dump, extended XYZ), ase.Atoms, list of
    ase.Atoms, OVITO Pipeline/DataCollection. ``frames``: None (all), an int, a
    slice, a list, or a string ``"a:b:c"`` / ``"-1"`` / ``"0,5,9"``. ``cutoffs``:
    B-O / Si-O (/ Li-O for coordination) cutoffs in Angstrom. ``members``: add every
    3MR's particle identifiers to ``rings``. ``formers``: ``("B",)`` for the rings of the
    B-O network alone (paper Fig. S6). ``jobs``: processes over the frames of a file.
    For several frames the top-level numbers are frame means; ``std`` holds the
    frame-to-frame spread (:data:`pylbs.stats.STD_CONVENTION`) and, with
    ``per_frame``, every frame's values are kept.
    """
    results = _analyze_frames(source, frames, cutoffs, max_ring_size, members, formers, int(jobs))
    if not results:
        raise AnalysisError("no frames selected; check --frames against the number of frames in the file")
    idx = [f for f, _ in results]
    frames_out = [r for _, r in results]
    mean, std = _stats(frames_out)
    out = {"source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
           "n_frames": len(frames_out), "frames": idx,
           "cutoffs": {f"{a}-{b}": r for (a, b), r in network_cutoffs(cutoffs, formers).items()},
           "max_ring_size": int(max_ring_size), "network": "-".join(formers) + "-O"}
    if len(frames_out) == 1:
        out.update({k: v for k, v in frames_out[0].items()})
    else:
        out.update(_means_as_result(mean, out["network"]), n_atoms=frames_out[0]["n_atoms"])
    if per_frame:
        out["per_frame"] = frames_out
    out["mean"], out["std"] = mean, std
    out["std_convention"] = STD_CONVENTION
    return json_safe(out)


def sample_window(run_dir) -> tuple[int, int, str]:
    """(first step exclusive, last step, stage name) of the frames a run keeps for structure analysis.

    The paper: "the last 100 ps configurations were used for the structural analyses".
    A run's schedule (``progress.json``) names that stage ``sample``; a run without one
    (FMP runs before pylbs 0.2) is sampled over its last stage.
    """
    try:
        request = json.loads((Path(run_dir) / PROGRESS_FILE).read_text())["request"]
        schedule, dt = Schedule.from_dict(request["schedule"]), float(request["timestep_ps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnalysisError(f"{run_dir} is not a finished pylbs run ({PROGRESS_FILE}: {exc}); give a run folder "
                            "(the --out of pylbs quench/tg/diffusion, or a replica folder)") from None
    names = [st.name for st in schedule.stages]
    k = names.index("sample") if "sample" in names else len(names) - 1
    return (*schedule.stage_bounds(dt)[k], names[k])


def analyze_run(run_dir, **kw) -> dict:
    """:func:`analyze` of the frames a run folder keeps for structure analysis: its ``sample``
    stage (the paper's "last 100 ps configurations"), see :func:`sample_window`."""
    run_dir = Path(run_dir)
    a, b, stage = sample_window(run_dir)
    steps = dump_steps(run_dir / TRAJECTORY_FILE) if (run_dir / TRAJECTORY_FILE).exists() else []
    frames = [k for k, s in enumerate(steps) if a < s <= b]
    if not frames:
        raise AnalysisError(f"{run_dir / TRAJECTORY_FILE} has no frame in its {stage} stage (steps {a}-{b}); "
                            "the run is unfinished or dumped no frames there")
    out = analyze(run_dir / TRAJECTORY_FILE, frames=frames, **kw)
    out.update(run=str(run_dir), sample_stage=stage, sample_steps=[a, b])
    return out


def run_folders(folder) -> list[Path]:
    """The run folders of a protocol folder: itself when it is one, else its sub-folders that are
    (``replica-1``, ...), in name order."""
    folder = Path(folder)
    if (folder / PROGRESS_FILE).exists():
        return [folder]
    return sorted((p for p in folder.iterdir() if (p / PROGRESS_FILE).exists()), key=lambda p: p.name)


def analyze_runs(folder, **kw) -> dict:
    """Frame-averaged analysis of every run of a protocol folder and the spread between them.

    Each run (replica) is averaged over its sampled frames (:func:`analyze_run`); then
    ``mean`` and ``std`` are over the runs (replica-to-replica spread) and ``frame_std``
    is the mean over runs of each run's frame-to-frame spread, so the two are reported
    separately. The top-level numbers (4B, 3B_ring, ...) are the replica means.
    """
    runs = run_folders(folder)
    if not runs:
        raise AnalysisError(f"{folder} holds no pylbs run (no progress.json in it or its sub-folders)")
    per_run = [analyze_run(r, **kw) for r in runs]
    reps = replica_statistics(per_run)
    frame_std = {k: mean_std([r["std"].get(k) for r in per_run])[0] for k in reps["mean"]}
    out = {"source": str(folder), "n_runs": len(per_run), "runs": [str(r) for r in runs],
           "n_frames_per_run": [r["n_frames"] for r in per_run], "mean": reps["mean"], "std": reps["std"],
           "frame_std": frame_std, "std_convention": STD_CONVENTION,
           "spreads": "std: between runs (replicas) of their frame means; frame_std: within a run, "
                      "frame to frame, averaged over the runs",
           "per_run": per_run}
    out.update(_means_as_result(reps["mean"], per_run[0]["network"]))
    out["n_atoms"] = per_run[0]["n_atoms"]
    return json_safe(out)


def replica_statistics(results: list[dict]) -> dict:
    """Mean and standard deviation over replicas of each run's frame-averaged values.

    ``results``: :func:`analyze` outputs of independent runs (paper Fig. 2: error bars =
    std of three quenches). Returns ``{"n_replicas", "mean", "std"}`` over the flat keys
    of each run's ``mean`` (a key missing from a run counts as absent, not 0).
    """
    if not results:
        raise AnalysisError("no replica results given; pass a list of analyze() outputs")
    keys = sorted({k for r in results for k in r["mean"]})
    mean, std = {}, {}
    for k in keys:
        mean[k], std[k], _ = mean_std([r["mean"].get(k) for r in results])
    return json_safe({"n_replicas": len(results), "mean": mean, "std": std, "std_convention": STD_CONVENTION})
