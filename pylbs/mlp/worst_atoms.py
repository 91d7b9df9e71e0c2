"""Where a model's largest force errors sit: per species and local environment, and whether a frame's
worst atom is just the tail of the typical error or an outlier of its own.

Why: the loop's trust levels bound each frame's *largest* atom deviation (run7 used 0.25 eV/A as the
lower one), so a loop converges only where each frame's largest atom error is near that level too, if
the deviation reads the error. If the worst atom is the tail of independent Gaussian errors of each
species' size, it falls with the RMSE, and the level is a demand on the RMSE; if it is an outlier,
more training of the same kind may leave it. This module tells the two apart: which species and
environment (3B/4B, 4Si/5Si, O by the number of network formers bonded to it) hold the largest errors,
how close their nearest neighbour is, and how far the measured median of each frame's largest error
lies from the Gaussian reference built from the same per-species RMSEs (the tail ratio).
"""

from __future__ import annotations

import numpy as np

from ..analysis.network import networks
from ..glasses import TYPE_MAP
from .evaluate import predict

#: Environment classes, in report order.
CLASSES = ("Li", "3B", "4B", "B other", "4Si", "5Si", "Si other", "O, no former", "NBO", "BO", "O, 3+ formers")


def environments(symbols, positions, cell, cutoffs=None) -> tuple[list[str], np.ndarray]:
    """(class of each atom, distance to its nearest neighbour within 3 A, else inf) in one periodic
    frame. Coordination is the network's (:func:`pylbs.analysis.network.build_network`, OVITO's bonds
    at B-O 1.9 and Si-O 2.0 A, the cutoffs 4B is measured with): a cation's O neighbours, an O's
    B and Si neighbours."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(symbols=list(symbols), positions=np.asarray(positions), cell=np.asarray(cell), pbc=True)
    _, net = next(networks(atoms, cutoffs=cutoffs))
    out = []
    for el, cn in zip(atoms.get_chemical_symbols(), net.cn):
        if el == "Li":
            out.append("Li")
        elif el == "B":
            out.append({3: "3B", 4: "4B"}.get(int(cn), "B other"))
        elif el == "Si":
            out.append({4: "4Si", 5: "5Si"}.get(int(cn), "Si other"))
        else:
            out.append(("O, no former", "NBO", "BO")[cn] if cn < 3 else "O, 3+ formers")
    nearest = np.full(len(atoms), np.inf)
    i, d = neighbor_list("id", atoms, 3.0)  # every species; a bonded pair is well within 3 A
    np.minimum.at(nearest, i, d)
    return out, nearest


def gaussian_max(sigmas, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """Samples of a frame's largest atom error |e| when atom k's error vector is independent Gaussian,
    sigma_k per component: the reference a worst atom is measured against."""
    rng = np.random.default_rng(seed)
    sigmas = np.asarray(sigmas, dtype=float)
    e = rng.standard_normal((draws, len(sigmas), 3)) * sigmas[None, :, None]
    return np.linalg.norm(e, axis=-1).max(axis=-1)


def anatomy(model, system, cutoffs=None, draws: int = 4000, trust: float | None = None) -> dict:
    """The error anatomy of ``model`` on a labelled dpdata system (see the module docstring). With
    ``trust``: the overall force RMSE at which, with this system's species mix of RMSEs, the median and
    the 99th percentile over frames of the largest atom error would be ``trust`` (``rmse_for_trust``)."""
    _, forces, _ = predict(model, system)
    comp = forces - np.asarray(system["forces"])  # (frames, atoms, 3)
    err = np.linalg.norm(comp, axis=-1)
    names = list(system["atom_names"])
    symbols = [names[t] for t in system["atom_types"]]
    classes, nearest = [], []
    for f in range(len(system)):
        c, n = environments(symbols, system["coords"][f], system["cells"][f], cutoffs)
        classes.append(c)
        nearest.append(n)
    classes, nearest = np.array(classes), np.array(nearest)
    species = np.broadcast_to(np.array(symbols), err.shape)
    worst = err.argmax(axis=1)
    rows = np.arange(len(err))
    sigma = {el: float(np.sqrt(np.mean(comp[species == el] ** 2))) for el in TYPE_MAP if (species == el).any()}

    def table(labels, order):
        out = {}
        for key in order:
            sel = labels == key
            if not sel.any():
                continue
            out[key] = {"atoms": int(sel.sum()), "force_rmse": float(np.sqrt(np.mean(comp[sel] ** 2))),
                        "mean_error": float(err[sel].mean()), "p99_error": float(np.percentile(err[sel], 99)),
                        "share_of_worst": float(np.mean(labels[rows, worst] == key)),
                        "share_of_atoms": float(sel.mean()),
                        "median_nearest_A": float(np.median(nearest[sel]))}
        return out

    reference = gaussian_max([sigma[s] for s in symbols], draws)  # one system: one composition
    measured = err.max(axis=1)
    overall = float(np.sqrt(np.mean(comp ** 2)))
    relative = [sigma[s] / overall for s in symbols]
    return {"frames": int(len(err)), "atoms": int(err.shape[1]), "force_rmse": overall,
            **({"rmse_for_trust": {"trust": trust, "median": rmse_for_largest(trust, relative, 0.5, draws),
                                   "p99": rmse_for_largest(trust, relative, 0.99, draws),
                                   "median_equal": rmse_for_largest(trust, np.ones(len(symbols)), 0.5, draws)}}
               if trust is not None else {}),
            "species": table(species, TYPE_MAP), "environment": table(classes, CLASSES),
            "median_largest_error": float(np.median(measured)),
            "gaussian_median_largest_error": float(np.median(reference)),
            "tail_ratio": float(np.median(measured) / np.median(reference)),
            "worst_nearest_A": float(np.median(nearest[rows, worst])),
            "all_nearest_A": float(np.median(nearest)),
            "worst": [{"frame": int(f), "atom": int(a), "class": str(classes[f, a]), "error": float(err[f, a]),
                       "nearest_A": float(nearest[f, a])} for f, a in zip(rows, worst)]}


def pool(parts: list[dict]) -> dict:
    """Anatomies of several systems (one composition each) as one: RMSEs pooled over atoms, shares of
    the worst atoms over frames, the tail ratio as the median over all frames of each frame's largest
    error over its own system's Gaussian reference, and the RMSEs a trust level asks for (when every
    part has them) as their frame-weighted means."""
    frames = sum(a["frames"] for a in parts)

    def merged(key):
        out = {}
        for a in parts:
            for name, r in a[key].items():
                o = out.setdefault(name, {"atoms": 0, "sq": 0.0, "worst": 0.0})
                o["atoms"] += r["atoms"]
                o["sq"] += r["atoms"] * r["force_rmse"] ** 2
                o["worst"] += r["share_of_worst"] * a["frames"]
        total = sum(o["atoms"] for o in out.values())
        return {name: {"atoms": o["atoms"], "force_rmse": float(np.sqrt(o["sq"] / o["atoms"])),
                       "share_of_worst": o["worst"] / frames, "share_of_atoms": o["atoms"] / total}
                for name, o in out.items()}

    ratios = [w["error"] / a["gaussian_median_largest_error"] for a in parts for w in a["worst"]]
    atoms = sum(a["frames"] * a["atoms"] for a in parts)
    trusts = [a["rmse_for_trust"] for a in parts if "rmse_for_trust" in a]
    if len(trusts) == len(parts) and trusts:  # frame-weighted: each system's own species mix and size
        demand = {key: sum(a["frames"] * a["rmse_for_trust"][key] for a in parts) / frames
                  for key in ("median", "p99", "median_equal")}
        trusts = {"rmse_for_trust": {"trust": trusts[0]["trust"], **demand}}
    else:
        trusts = {}
    return {"systems": len(parts), "frames": frames, **trusts,
            "force_rmse": float(np.sqrt(sum(a["frames"] * a["atoms"] * a["force_rmse"] ** 2 for a in parts) / atoms)),
            "species": merged("species"), "environment": merged("environment"),
            "median_largest_error": float(np.median([w["error"] for a in parts for w in a["worst"]])),
            "tail_ratio": float(np.median(ratios))}


def rmse_for_largest(target: float, relative_sigmas, q: float = 0.5, draws: int = 20000) -> float:
    """The overall per-component RMSE at which the ``q`` quantile over frames of a frame's largest atom
    error is ``target``, for atoms whose sigmas are ``relative_sigmas`` times that RMSE (their root mean
    square 1; all ones: every atom alike): what a worst-atom level asks of the model's RMSE. The largest
    error scales with the sigmas, so one reference draw says it."""
    rel = np.asarray(relative_sigmas, dtype=float)
    rel = rel / np.sqrt(np.mean(rel ** 2))
    return float(target / np.quantile(gaussian_max(rel, draws), q))
