"""Ring formation while cooling: counts vs T and share of the final 3MRs, with ring identity by atom ids."""

from __future__ import annotations

import numpy as np
import pytest

from _lbs_structures import ring_classes
from pylbs.analysis.ring_formation import ring_formation
from pylbs.errors import AnalysisError

# (temperature, rings present); B-only rings are 0..3, "si" is the B2Si ring
SCHEDULE = [(1500, (3,)), (1200, (0, 3, "si")), (900, (0, 1)), (600, (0, 1, 2, "si")), (300, (0, 1, 2, "si"))]


def frames():
    out = []
    for t, present in SCHEDULE:
        a = ring_classes(present=present)
        a.info["temperature"] = t
        out.append(a)
    return out


def test_counts_and_share_of_final():
    res = ring_formation(frames())
    assert res.temperatures.tolist() == [1500, 1200, 900, 600, 300]
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]          # B-only 3MRs
    # final B-only rings {0,1,2}: ring 3 (present at 1500 K) is not one of them
    assert res.n_final == 3
    assert res.share_of_final.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    every = ring_formation(frames(), boron_only=False)
    assert every.n_three_membered.tolist() == [1, 3, 2, 4, 4]
    assert every.share_of_final.tolist() == pytest.approx([0, 2 / 4, 2 / 4, 1, 1])


def test_binned_every_10K():
    res = ring_formation(frames())
    t, n, share = res.binned(10.0)
    assert t.tolist() == [1505, 1205, 905, 605, 305]
    assert n.tolist() == [1, 2, 2, 3, 3]
    t, n, share = res.binned(1000.0)  # 1500/1200 -> one bin, 900/600/300 -> another
    assert t.tolist() == [1500, 500] and n.tolist() == pytest.approx([1.5, 8 / 3])


def _write_dump(path, atoms_list, seed=0):
    """LAMMPS dump (id type x y z) with the atom order shuffled in every frame."""
    rng = np.random.default_rng(seed)
    tmap = {"Li": 1, "B": 2, "Si": 3, "O": 4}
    lines = []
    for step, a in enumerate(atoms_list):
        order = rng.permutation(len(a))
        L = a.cell.lengths()
        lines += ["ITEM: TIMESTEP", str(step * 1000), "ITEM: NUMBER OF ATOMS", str(len(a)),
                  "ITEM: BOX BOUNDS pp pp pp"] + [f"0 {x}" for x in L] + ["ITEM: ATOMS id type x y z"]
        sym, pos = a.get_chemical_symbols(), a.get_positions()
        for i in order:
            lines.append(f"{i + 1} {tmap[sym[i]]} {pos[i][0]:.6f} {pos[i][1]:.6f} {pos[i][2]:.6f}")
    path.write_text("\n".join(lines) + "\n")


def test_dump_with_shuffled_atoms_and_given_temperatures(tmp_path):
    dump = tmp_path / "cooling.dump"
    _write_dump(dump, frames())
    temps = [t for t, _ in SCHEDULE]
    res = ring_formation(str(dump), temperatures=temps)
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]
    assert res.share_of_final.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    sub = ring_formation(str(dump), temperatures=temps[2:], frames="2:")
    assert sub.frames.tolist() == [2, 3, 4] and sub.share_of_final.tolist() == pytest.approx([2 / 3, 1, 1])
    with pytest.raises(AnalysisError, match="temperature"):
        ring_formation(str(dump))  # a dump carries no temperature
    with pytest.raises(AnalysisError, match="one temperature"):
        ring_formation(str(dump), temperatures=[300])


def test_plots(tmp_path):
    from pylbs.analysis.plots import plot_4B_vs_measured, plot_ring_sizes, plot_rings_vs_temperature
    from pylbs.analysis.rings import ring_statistics

    res = ring_formation(frames())
    assert plot_rings_vs_temperature(res, tmp_path / "t.png").stat().st_size > 1000
    assert plot_ring_sizes({"classes": ring_statistics(ring_classes())}, tmp_path / "r.png").stat().st_size > 1000
    p = plot_4B_vs_measured({"LBS-20-60-20": [0.35, 0.38], "LBS-10-20-70": 0.02}, tmp_path / "b.png")
    assert p.stat().st_size > 1000


def test_temperature_from_extxyz_comment_line(tmp_path):
    from ase.io import write

    path = tmp_path / "cooling.extxyz"
    write(path, frames())  # atoms.info["temperature"] -> "temperature=..." in each comment line
    res = ring_formation(str(path))
    assert res.temperatures.tolist() == [1500, 1200, 900, 600, 300]
    assert res.n_three_membered.tolist() == [1, 2, 2, 3, 3]
