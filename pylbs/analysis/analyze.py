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

Command line: ``pylbs analyze glass.data --json``, ``pylbs analyze cooling.dump --frames 100: --json``
(:mod:`pylbs.cli.analyze`).
"""

from __future__ import annotations

from pathlib import Path


from ..errors import AnalysisError
from ..jsonio import json_safe
from ..stats import STD_CONVENTION, mean_std
from .coordination import coordination
from .network import build_network, iter_frames, network_cutoffs
from .rings import DEFAULT_MAX_SIZE, rings_of_network
from .structure_stats import angles_of_network


def _coordination(data, cutoffs):
    """Coordination of one prepared frame through pylbs.analysis.coordination (its own bonds)."""
    res = coordination(data, cutoffs=cutoffs)
    hist = {el: {str(n): int(c) for n, c in enumerate(h) if c} for el, h in res.histograms.items()}
    return res, hist


def analyze_frame(data, cutoffs=None, max_ring_size: int = DEFAULT_MAX_SIZE, members: bool = False) -> dict:
    """All analyses of one prepared frame (see :func:`pylbs.analysis.network.iter_frames`)."""
    coord, hist = _coordination(data, cutoffs)
    net = build_network(data, cutoffs)
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


def analyze(source, frames=None, cutoffs=None, max_ring_size: int = DEFAULT_MAX_SIZE,
            members: bool = False) -> dict:
    """Every analysis of the selected frames of ``source`` as a JSON-ready dict.

    ``source``: file path (LAMMPS data/dump, extended XYZ), ase.Atoms, list of
    ase.Atoms, OVITO Pipeline/DataCollection. ``frames``: None (all), an int, a
    slice, a list, or a string ``"a:b:c"`` / ``"-1"`` / ``"0,5,9"``. ``cutoffs``:
    B-O / Si-O (/ Li-O for coordination) cutoffs in Angstrom. ``members``: add every
    3MR's particle identifiers to ``rings``.
    """
    per_frame, idx = [], []
    for f, data in iter_frames(source, frames):
        per_frame.append(analyze_frame(data, cutoffs, max_ring_size, members))
        idx.append(f)
    if not per_frame:
        raise AnalysisError("no frames selected; check --frames against the number of frames in the file")
    mean, std = _stats(per_frame)
    out = {"source": str(source) if isinstance(source, (str, Path)) else type(source).__name__,
           "n_frames": len(per_frame), "frames": idx,
           "cutoffs": {f"{a}-{b}": r for (a, b), r in network_cutoffs(cutoffs).items()},
           "max_ring_size": int(max_ring_size)}
    if len(per_frame) == 1:
        out.update({k: v for k, v in per_frame[0].items()})
    else:
        first = per_frame[0]
        out["n_atoms"] = first["n_atoms"]
        for k in ("fraction_4B", "fraction_5Si", "fraction_3B_in_3MR", "three_membered_with_si"):
            out[k] = mean[k]
        out["three_membered_boron"] = {k: mean[f"three_membered_boron.{k}"] for k in first["three_membered_boron"]}
        sizes = sorted({int(k) for f in per_frame for k in f["rings"]["size_histogram"]})
        out["rings"] = {
            "size_histogram": {str(n): mean.get(f"rings.size_histogram.{n}", 0.0) for n in sizes},
            "per_formula_unit": {str(n): mean.get(f"rings.per_formula_unit.{n}", 0.0) for n in sizes},
            "three_membered": mean["three_membered"],
            "three_membered_boron": out["three_membered_boron"],
            "three_membered_with_si": out["three_membered_with_si"],
            "fraction_3B_in_3MR": out["fraction_3B_in_3MR"],
        }
        coord: dict = {}
        for k, v in mean.items():
            if k.startswith("coordination."):
                _, el, n = k.split(".")
                coord.setdefault(el, {})[n] = v
        out["coordination"] = {el: dict(sorted(h.items(), key=lambda kv: int(kv[0]))) for el, h in coord.items()}
    out["per_frame"] = per_frame
    out["mean"], out["std"] = mean, std
    out["std_convention"] = STD_CONVENTION
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
