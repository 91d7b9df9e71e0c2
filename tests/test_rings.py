"""Ring statistics with known answers: hand-built 3MR classes, alpha-quartz, wrap exclusion,
and a brute-force cross-check of 3MRs on a random glass-like structure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from scipy.spatial import cKDTree

from _lbs_structures import quartz, ring_classes
from pylbs.analysis.rings import make_rings_modifier, ring_statistics, rings_modifier
from pylbs.errors import AnalysisError
from pylbs.glasses import get_glass


def test_three_ring_classes_known():
    r = ring_statistics(ring_classes())
    assert {k: v for k, v in r.size_histogram.items() if v} == {3: 5}
    assert r.three_membered_boron == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert r.three_membered_boron_other == 0
    assert r.three_membered_with_si == 1
    # 3B: 3+2+1+0 in the B rings, 2 in the B2Si ring, 2 isolated BO3 -> 8 of 10 in a 3MR
    assert (r.n_3B, r.n_3B_in_3MR) == (10, 8)
    assert r.fraction_3B_in_3MR == pytest.approx(0.8)
    # formula units: 1 SiO2 + 16/2 B2O3 + 1/2 Li2O
    assert r.n_formula_units == pytest.approx(9.5)
    assert r.per_formula_unit[3] == pytest.approx(5 / 9.5)
    # every 3MR lists 3 formers alternating with 3 O, consecutive atoms bonded
    sym = np.array(ring_classes().get_chemical_symbols())
    assert r.three_rings.shape == (5, 6)
    for row in r.three_rings:
        kinds = ["O" if s == "O" else "F" for s in sym[row]]
        assert kinds in (["F", "O"] * 3, ["O", "F"] * 3)
    assert len(r.three_ring_keys()) == 5 and len(r.three_ring_keys(boron_only=True)) == 4


def test_li_bonds_are_not_network_bonds():
    # the Li sits 1.70 A from the three O of the boroxol ring: inside the Li-O
    # coordination cutoff, but Li-O bonds must not create rings
    with_li = ring_statistics(ring_classes(li=True))
    without = ring_statistics(ring_classes(li=False))
    assert with_li.size_histogram == without.size_histogram


def test_broken_rings_are_not_counted():
    r = ring_statistics(ring_classes(present=(0, 3)))
    assert r.three_membered_boron == {"0": 1, "1": 0, "2": 0, "3": 1}
    assert r.three_membered_with_si == 0


def test_quartz_rings():
    q = quartz(3)  # 81 Si, 243 atoms
    r = ring_statistics(q)
    found = {k: v for k, v in r.size_histogram.items() if v}
    # alpha-quartz: each Si in 6 six-rings and 40 eight-rings -> 1 and 5 rings per SiO2
    assert found == {6: 81, 8: 405}
    assert r.per_formula_unit[6] == pytest.approx(1.0)
    assert r.per_formula_unit[8] == pytest.approx(5.0)
    assert r.n_three_membered == 0 and r.three_membered_with_si == 0
    assert all(len(v) == 0 for k, v in r.rings.items() if k not in (6, 8))
    assert r.rings[6].shape == (81, 12)


def test_quartz_unit_cell_wrapping_paths_excluded():
    # in one unit cell OVITO's ring finder returns 2- and 3-"rings" that only close
    # through the periodic boundary (the SiO4 helix along c)
    r = ring_statistics(quartz(1))
    assert sum(r.size_histogram.values()) == 0
    assert r.wrapping_excluded[2] > 0 and r.wrapping_excluded[3] > 0


def test_chain_across_box_is_not_a_three_ring():
    # -Si-O-Si-O-Si-O- along x, periodic after 3 Si: a 6-atom path that closes only
    # through the boundary would be a false 3MR
    d = 1.6
    atoms = Atoms("SiOSiOSiO", positions=[[k * d, 5, 5] for k in range(6)], cell=[6 * d, 10, 10], pbc=True)
    r = ring_statistics(atoms)
    assert r.n_three_membered == 0
    assert r.wrapping_excluded[3] == 1


def test_cell_too_small_is_an_error():
    atoms = Atoms("SiO", positions=[[0, 0, 0], [1.6, 0, 0]], cell=[3.5, 10, 10], pbc=True)
    with pytest.raises(AnalysisError, match="replicate"):
        ring_statistics(atoms)


def test_modifier_in_user_pipeline():
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline, StaticSource

    p = Pipeline(source=StaticSource(data=ase_to_ovito(ring_classes())))
    p.modifiers.append(rings_modifier)
    d = p.compute()
    assert d.attributes["pylbs.rings.three_membered_boron_0"] == 1
    assert d.attributes["pylbs.rings.three_membered_with_si"] == 1
    assert int(np.asarray(d.particles["In 3MR"]).sum()) == 30  # 5 rings x 6 atoms
    assert d.particles.bonds is None  # the user's data gets results, not our bonds
    # same pipeline twice, and with other settings: no state carried between calls
    p.modifiers.append(make_rings_modifier(cutoffs={"B-O": 1.0}))
    d = p.compute()
    assert d.attributes["pylbs.rings.three_membered"] == 0


# --- independent cross-check ---------------------------------------------------------


def _brute_force_three_rings(atoms, cut=2.4):
    """3MRs by enumeration on a scipy bond graph: formers A,B,C pairwise bridged by three
    distinct O, no chord (a ring atom bonded to the opposite O), closing without wrapping."""
    pos = atoms.get_positions() % atoms.cell.lengths()
    box = atoms.cell.lengths()
    sym = np.array(atoms.get_chemical_symbols())
    pairs = cKDTree(pos, boxsize=box).query_pairs(cut, output_type="ndarray")
    former = np.isin(sym, ["B", "Si"])
    i, j = pairs[:, 0], pairs[:, 1]
    keep = (former[i] & (sym[j] == "O")) | (former[j] & (sym[i] == "O"))
    nbr = {k: set() for k in range(len(atoms))}
    for a, b in pairs[keep]:
        nbr[a].add(b)
        nbr[b].add(a)

    def vec(a, b):
        v = pos[b] - pos[a]
        return v - box * np.round(v / box)

    rings = set()
    for a in np.flatnonzero(former):
        for o1, o3 in itertools.permutations(nbr[a], 2):
            for b in nbr[o1] - {a}:
                for o2 in nbr[b] - {o1, o3}:
                    for c in (nbr[o2] & nbr[o3]) - {a, b}:
                        if o2 in nbr[a] or o3 in nbr[b] or o1 in nbr[c]:
                            continue  # chord: not a shortest-path ring
                        cyc = [a, o1, b, o2, c, o3]
                        s = sum(vec(cyc[k], cyc[(k + 1) % 6]) for k in range(6))
                        if np.linalg.norm(s) < 1e-6:
                            rings.add(frozenset(int(x) for x in cyc))
    return rings


def test_three_rings_match_brute_force_on_random_glass():
    from pylbs.structure import random_structure

    atoms = random_structure(get_glass("LBS-20-60-20"), 600, seed=3)
    cut = 2.4  # generous cutoffs: a dense random network with many 3MRs and chords
    r = ring_statistics(atoms, cutoffs={"B-O": cut, "Si-O": cut}, max_size=6)
    ours = {frozenset(int(x) for x in row) for row in r.three_rings}
    ref = _brute_force_three_rings(atoms, cut)
    assert len(ref) >= 20
    assert ours == ref
    assert r.n_three_membered == len(ref)  # no ring reported twice


def _ring_sets(result):
    """{size: set of member sets}, after checking that no ring is listed twice; the wrapping counts."""
    rings, dropped = result
    sets = {n: {frozenset(int(x) for x in row) for row in rows} for n, rows in rings.items() if len(rows)}
    assert all(len(sets[n]) == len(rings[n]) for n in sets)
    return sets, {n: d for n, d in dropped.items() if d}


def test_former_graph_search_finds_the_atom_graph_rings():
    """find_rings contracts each bridging O into a former-former edge (4x faster on the bench's
    9,900-atom network, with the same rings measured there): the same rings as the search on the
    atom graph, on alpha-quartz up to 12 formers and on an edge-sharing pair (two O between two B,
    a 2-ring) inside a 3-ring, where each choice of bridging O is its own ring."""
    from pylbs.analysis.network import as_data_collection, build_network, prepare_frame
    from pylbs.analysis.rings import find_rings

    def both(atoms, max_size, cutoffs=None):
        return [_ring_sets(find_rings(build_network(prepare_frame(as_data_collection(atoms)), cutoffs), max_size,
                                      graph=g)) for g in ("atoms", "formers")]

    (a, wrap_a), (f, wrap_f) = both(quartz(2), 12)
    assert a == f and sum(map(len, a.values())) > 0 and wrap_a == wrap_f and sum(wrap_a.values()) > 0
    x = 0.6
    atoms = Atoms("BBBOOOO", positions=[(0, 0, 0), (2.4, 0, 0), (1.2, 0, 2.6), (1.2, 0.8, 0), (1.2, -0.8, 0),
                                        (x, 0, 1.3), (2.4 - x, 0, 1.3)], cell=[20, 20, 20], pbc=True)
    atoms.positions += 5.0
    (a, _), (f, _) = both(atoms, 6)
    assert a == f == {2: {frozenset({0, 1, 3, 4})}, 3: {frozenset({0, 1, 2, 3, 5, 6}), frozenset({0, 1, 2, 4, 5, 6})}}
    # an O (3) bonded to three B (0-2); O 4 bridges B1-B2, O 5 bridges B2-B0: two 2-rings, and the
    # 3-ring 0-3-1-4-2-5 is not a ring (O 3 is bonded to B2, three steps away round it)
    r, h = 1.45, 0.7246
    b = [(r * np.cos(t), r * np.sin(t), 0.0) for t in np.radians([90.0, 210.0, 330.0])]
    mid = lambda i, j: (np.add(b[i], b[j]) / 2)  # noqa: E731
    tri = Atoms("BBBOOO", positions=[*b, (0, 0, 0), mid(1, 2) + (0, 0, h), mid(2, 0) - (0, 0, h)], cell=[20, 20, 20],
                pbc=True)
    tri.positions += 5.0
    (a, _), (f, _) = both(tri, 6)
    assert a == f == {2: {frozenset({1, 2, 3, 4}), frozenset({0, 2, 3, 5})}}
    # a dense random network: O bonded to three formers (where a ring through them must be checked
    # for shortcuts on the atom graph), edge-sharing pairs, chords
    from pylbs.analysis.rings import _bridges
    from pylbs.structure import random_structure

    dense = random_structure(get_glass("LBS-20-60-20"), 600, seed=3)
    cut = {"B-O": 2.4, "Si-O": 2.4}
    net = build_network(prepare_frame(as_data_collection(dense)), cut)
    assert len(_bridges(net)[3]) >= 20  # O with 3+ formers
    (a, wrap_a), (f, wrap_f) = both(dense, 8, cut)
    assert wrap_a == wrap_f and a == f and len(a[2]) >= 50 and sum(map(len, a.values())) >= 250  # measured 72 and 275
