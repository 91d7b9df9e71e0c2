"""Benchmark: every structure analysis on one 10,000-atom frame (target < 2 s in total).

Two frames are timed (structure building is not timed):

* ``random``: pylbs.structure.random_structure of LBS-20-60-20 with 10,000 atoms
  (the melt-quench starting point; sparse network);
* ``network``: a fully bonded 9,900-atom former-O network (alpha-quartz 10x10x11,
  a third of the Si relabelled B, positions jittered by 0.05 A): every former is
  4-fold, so the ring search meets the ~6 rings per former of a real glass or more.

Steps: load (ase -> OVITO), coordination (pylbs.analysis.coordination), network
bonds, rings up to 12 formers with 3MR classes, partial RDFs (6 A, 300 bins),
bond angles, 3MR identities for ring formation, and analyze() end to end (which
repeats the per-frame work once more). Prints each step (wall and CPU time: the
CPU time is the figure to compare on a shared machine), the total of the steps
and the slowest step.

    python bench/bench_analysis.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from pylbs.glasses import get_glass

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def network_frame(seed=0):
    from _lbs_structures import quartz

    a = quartz((10, 10, 11))
    rng = np.random.default_rng(seed)
    sym = np.array(a.get_chemical_symbols())
    si = np.flatnonzero(sym == "Si")
    sym[rng.choice(si, size=len(si) // 3, replace=False)] = "B"
    a.set_chemical_symbols(sym.tolist())
    a.positions += rng.normal(scale=0.05, size=a.positions.shape)
    return a


def random_frame():
    from pylbs.structure import random_structure

    return random_structure(get_glass("LBS-20-60-20"), 10000, seed=1)


def bench(atoms, label):
    from ovito.io.ase import ase_to_ovito

    from pylbs.analysis.analyze import analyze
    from pylbs.analysis.coordination import coordination
    from pylbs.analysis.network import _prepare, build_network
    from pylbs.analysis.rings import rings_of_network
    from pylbs.analysis.structure_stats import angles_of_network, _rdf_data

    times, cpu = {}, {}

    def step(name, fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
        return out

    data = step("load", lambda: _prepare(ase_to_ovito(atoms)))
    coord = step("coordination", lambda: coordination(data))
    net = step("network bonds", lambda: build_network(data.clone()))
    rings = step("rings (<=12 formers)", lambda: rings_of_network(net, 12))
    step("partial RDFs", lambda: _rdf_data(data, 6.0, 300))
    step("bond angles", lambda: angles_of_network(net))
    step("3MR identities", lambda: rings_of_network(build_network(data.clone()), 3).three_ring_keys(True))
    total = sum(times.values())
    t = time.perf_counter()
    analyze(atoms)
    t_analyze = time.perf_counter() - t
    print(f"[{label}] {len(atoms)} atoms, {len(net.bonds)} network bonds, 4B={coord.fraction_4B:.3f}, "
          f"rings {dict((k, v) for k, v in rings.size_histogram.items() if v)}")
    for k, v in times.items():
        print(f"  {k:24s} {v:7.3f} s wall  {cpu[k]:7.3f} s cpu")
    slow = max(times, key=times.get)
    print(f"  TOTAL all analyses       {total:7.3f} s wall  {sum(cpu.values()):7.3f} s cpu  "
          f"(target < 2 s; slowest step: {slow} {times[slow]:.3f} s)")
    print(f"  analyze() end to end     {t_analyze:7.3f} s")
    t = time.perf_counter()
    rings_of_network(build_network(data.clone()), 10)
    print(f"  (rings <= 10 formers     {time.perf_counter() - t:7.3f} s, for comparison)")
    return total


if __name__ == "__main__":
    bench(random_frame(), "random LBS-20-60-20")
    bench(network_frame(), "bonded network")
