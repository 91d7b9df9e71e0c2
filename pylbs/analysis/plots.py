"""Figures of the structure analyses (matplotlib, Agg backend, PNG files).

* :func:`plot_4B_vs_measured` - simulated vs measured 4B for a set of glasses with
  error bars (paper Figs 2a and 3); the measured values default to the catalogue
  (paper Table 1).
* :func:`plot_ring_sizes` - ring size distribution(s) in network formers, per
  formula unit (paper Fig. S6).
* :func:`plot_rings_vs_temperature` - 3MR count and share of final 3MRs vs T while
  cooling (paper Figs 6 and 7e).

Each takes plain data (dicts, :class:`~pylbs.analysis.rings.RingResult`,
:class:`~pylbs.analysis.ring_formation.RingFormationResult`) and a PNG path, and
returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..glasses import get_glass
from ..stats import mean_std
from ..plotting import pyplot, save


def plot_4B_vs_measured(simulated: dict, path, measured: dict | None = None) -> Path:
    """``simulated``: {glass name: 4B fraction, or (mean, std), or list of replica fractions}, or
    several such series by label ({"FMP": {...}, "MLP": {...}}), each its own marker.

    ``measured``: {glass name: 4B in %}; default the catalogue's (paper Table 1). Plots
    simulated vs measured 4B in % with the y = x line.
    """
    plt = pyplot()
    several = bool(simulated) and all(isinstance(v, dict) for v in simulated.values())
    series = simulated if several else {None: simulated}
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for k, (label, values) in enumerate(series.items()):
        xs, ys, es, names = [], [], [], []
        for name, value in values.items():
            meas = (measured or {}).get(name)
            if meas is None:
                meas = get_glass(name).measured_4B  # a report labels glasses by name
            if meas is None or value is None:
                continue
            if isinstance(value, (list, np.ndarray)):
                m, s, _ = mean_std(value)  # replicas: sample std (ddof=1), as everywhere
            elif isinstance(value, tuple):
                m, s = map(float, value)
            else:
                m, s = float(value), 0.0
            xs.append(meas)
            ys.append(100 * m)
            es.append(100 * s)
            names.append(name)
        ax.errorbar(xs, ys, yerr=es, fmt="osD^v"[k % 5], capsize=3, label=label)
        for x, y, n in zip(xs, ys, names):
            ax.annotate(n.removeprefix("LBS-") if several else n, (x, y), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.plot([0, 70], [0, 70], "k--", lw=0.8)
    ax.set_xlim(0, 70)
    ax.set_ylim(0, 70)
    ax.set_xlabel("measured 4B (%)")
    ax.set_ylabel("simulated 4B (%)")
    if several:
        ax.legend(fontsize=7)
    return save(fig, path)


def plot_ring_sizes(results: dict, path, per_formula_unit: bool = True) -> Path:
    """``results``: {label: RingResult or {size: value}}; bars of ring counts by size in formers."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    n = max(1, len(results))
    width = 0.8 / n
    for k, (label, res) in enumerate(results.items()):
        if hasattr(res, "size_histogram"):
            hist = res.per_formula_unit if per_formula_unit else res.size_histogram
        else:
            hist = res
        sizes = np.array(sorted(int(s) for s in hist))
        vals = np.array([float(hist[s] if s in hist else hist[str(s)]) for s in sizes])
        ax.bar(sizes + (k - (n - 1) / 2) * width, vals, width=width, label=str(label))
    ax.set_xlabel("ring size (network formers)")
    ax.set_ylabel("rings per formula unit" if per_formula_unit else "rings")
    if len(results) > 1:
        ax.legend(fontsize=7)
    return save(fig, path)


def plot_rings_vs_temperature(result, path, bin_width: float | None = 10.0) -> Path:
    """Left: 3MR count and share of the final 3MRs (right axis) vs temperature (paper Fig. 6, 7(e));
    right: 3MRs by class, i.e. by the number of 4B among the ring's three B (paper Fig. 7)."""
    plt = pyplot()
    if bin_width:
        t, count, share = result.binned(bin_width)
        tc, classes = result.binned_classes(bin_width)
    else:
        t, count, share = result.temperatures, result.n_three_membered, result.share_of_final
        tc, classes = result.temperatures, result.class_counts
    fig, (ax, ax3) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax.plot(t, count, "o-", ms=3, label="3MRs")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("B-only 3MRs" if result.boron_only else "3MRs")
    ax.invert_xaxis()
    ax2 = ax.twinx()
    ax2.plot(t, 100 * np.asarray(share), "s--", ms=3, color="C1", label="share of final 3MRs")
    ax2.set_ylabel("share of final 3MRs present (%)")
    ax2.set_ylim(0, 105)
    names = {"0": "0 x 4B (boroxol)", "1": "1 x 4B", "2": "2 x 4B", "3": "3 x 4B", "other": "B, other CN",
             "with_Si": "with Si"}
    for c, v in classes.items():
        if np.any(np.asarray(v) > 0):
            ax3.plot(tc, v, "o-", ms=2, label=names.get(c, c))
    ax3.set_xlabel("temperature (K)")
    ax3.set_ylabel("3MRs by class")
    ax3.invert_xaxis()
    if ax3.lines:
        ax3.legend(fontsize=7)
    return save(fig, path)


def plot_analysis(result: dict, path) -> Path:
    """Coordination and ring-size histograms of a :func:`pylbs.analysis.analyze.analyze` result
    (frame means for a trajectory): left, share of each cation species per O coordination
    number with 4B and 5Si marked; right, rings per formula unit by size in network formers."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    coord = result.get("coordination") or {}
    species = [el for el in ("B", "Si", "Li") if coord.get(el)]
    width = 0.8 / max(1, len(species))
    for k, el in enumerate(species):
        hist = {int(n): float(c) for n, c in coord[el].items()}
        total = sum(hist.values()) or 1.0
        ns = np.array(sorted(hist))
        a1.bar(ns + (k - (len(species) - 1) / 2) * width, [100 * hist[n] / total for n in ns], width, label=el)
    a1.set_xlabel("O neighbours")
    a1.set_ylabel("share of the species (%)")
    f4, f5 = result.get("fraction_4B"), result.get("fraction_5Si")
    a1.set_title(("4B = n/a" if f4 is None else f"4B = {100 * f4:.1f} %")
                 + ("" if f5 is None else f", 5Si = {100 * f5:.1f} %"), fontsize=9)
    if species:
        a1.legend(fontsize=8)
    per_fu = (result.get("rings") or {}).get("per_formula_unit") or {}
    sizes = sorted(int(n) for n in per_fu)
    a2.bar(sizes, [float(per_fu[str(n)] if str(n) in per_fu else per_fu[n]) for n in sizes], color="C2")
    a2.set_xlabel("ring size (network formers)")
    a2.set_ylabel("rings per formula unit")
    b3 = result.get("fraction_3B_in_3MR")
    a2.set_title("3B in 3MR = n/a" if b3 is None else f"3B in 3MR = {100 * b3:.1f} %", fontsize=9)
    fig.suptitle(f"{result.get('source', '')} ({result.get('n_frames', 1)} frame(s))", fontsize=8)
    return save(fig, path)
