"""Ring statistics of the B/Si-O network and the paper's three-membered-ring (3MR) classes.

The paper (section "Three-membered ring", Figs 4 and S5-S6, Table 2) counts rings
with R.I.N.G.S.: a ring is a closed path of network bonds (B-O, Si-O; Li is a
modifier and takes no part) and its size is the number of network formers (B, Si)
in it, so a 3MR is 3 formers + 3 bridging O. This module

* finds shortest-path rings with OVITO's ``FindRingsModifier`` (a ring may have no
  shortcut: the shortest path between any two of its atoms runs along the ring,
  Franzblau's criterion) on the bonds of :mod:`pylbs.analysis.network`, searched on the
  graph of the formers with each O contracted into former-former edges and the O put back
  (:func:`find_rings`: the same rings, 4x faster at 12 formers);
* drops paths that only close by wrapping the periodic box: OVITO reports them in
  small cells (a ~1000-atom quartz cell gives thousands of false 24-rings). A real
  ring's minimum-image bond vectors sum to zero; a wrapping path's sum is a
  lattice vector. (A small cell can also hide real rings: a wrapping path can be a
  shortcut across a true ring. Use cells at least two ring diameters wide.)
* counts the size distribution in formers, per oxide formula unit
  (N_Si + N_B/2 + N_Li/2, see :func:`pylbs.analysis.network.formula_units`);
* lists every 3MR with its member atoms (indices in ring order, identifiers);
* classifies B-only 3MRs by their number of 4-fold B members: 0 = boroxol ring
  (three 3B), 1 = two 3B + one 4B, 2 = one 3B + two 4B, 3 = three 4B
  (paper Fig. S5); a ring with a B of any other coordination goes to ``other``;
* counts 3MRs that contain Si;
* gives the share of 3B atoms that sit in at least one 3MR, 3B_ring/3B, the
  quantity of the paper's Table 2 (which counts 3MRs with Si-O bonds too).

Coordination of B (3B/4B) uses the same network bonds, hence the same cutoffs as
:func:`pylbs.analysis.coordination.coordination`.

Use :func:`ring_statistics` on any source (file, ase.Atoms, OVITO data), or append
:func:`rings_modifier` (:func:`make_rings_modifier` for other settings) to an OVITO
pipeline: it adds ``pylbs.rings.*`` attributes, the tables ``pylbs-ring-size-histogram``
and ``pylbs-3-rings`` and the particle property ``In 3MR``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import AnalysisError
from ..glasses import TYPE_MAP
from .network import FORMERS, Network, build_network, formula_units, iter_frames, prepare_frame

#: Largest ring searched, in network formers (OVITO's limit is 36 atoms = 18 formers).
DEFAULT_MAX_SIZE = 12

#: Tolerance (Angstrom) on the summed minimum-image bond vectors of a closed ring.
CLOSURE_TOL = 1e-3

_B, _SI, _O = TYPE_MAP.index("B"), TYPE_MAP.index("Si"), TYPE_MAP.index("O")


@dataclass
class RingResult:
    """Rings of one frame. Sizes are numbers of network formers (B, Si) per ring.

    ``size_histogram[n]``: rings with n formers (2..max_size, non-wrapping only);
    ``per_formula_unit[n]``: the same divided by ``n_formula_units``;
    ``rings[n]``: (count, 2n) atom indices (0-based, ring order) of those rings;
    ``three_rings``: (count, 6) atom indices of every 3MR, ``three_ring_ids`` the
    same as particle identifiers; ``three_membered_boron``: {"0": boroxol, "1",
    "2", "3"} B-only 3MRs by number of 4B members; ``three_membered_boron_other``:
    B-only 3MRs with a B that is neither 3- nor 4-fold; ``three_membered_with_si``:
    3MRs with at least one Si; ``fraction_3B_in_3MR`` = ``n_3B_in_3MR / n_3B`` (NaN
    without 3B); ``wrapping_excluded[n]``: paths of n formers dropped because they
    close only through the periodic boundary.
    """

    size_histogram: dict[int, int]
    per_formula_unit: dict[int, float]
    n_formula_units: float
    three_membered_boron: dict[str, int]
    three_membered_boron_other: int
    three_membered_with_si: int
    n_3B: int
    n_3B_in_3MR: int
    fraction_3B_in_3MR: float
    max_size: int
    wrapping_excluded: dict[int, int]
    rings: dict[int, np.ndarray] = field(repr=False)
    three_rings: np.ndarray = field(repr=False)
    three_ring_ids: np.ndarray = field(repr=False)
    three_ring_boron_only: np.ndarray = field(repr=False)
    n_atoms: int = 0
    network: tuple[str, ...] = ("B", "Si")

    @property
    def n_three_membered(self) -> int:
        return int(len(self.three_rings))

    def three_ring_keys(self, boron_only: bool = False) -> set[frozenset]:
        """Ring identities: the frozenset of member particle identifiers of each 3MR."""
        ids = self.three_ring_ids[self.three_ring_boron_only] if boron_only else self.three_ring_ids
        return {frozenset(int(x) for x in row) for row in ids}

    def to_dict(self, members: bool = False) -> dict:
        """JSON-ready summary; ``members=True`` adds every 3MR's particle identifiers."""
        out = {
            "size_histogram": {str(k): int(v) for k, v in self.size_histogram.items()},
            "per_formula_unit": {str(k): float(v) for k, v in self.per_formula_unit.items()},
            "n_formula_units": float(self.n_formula_units),
            "three_membered": self.n_three_membered,
            "three_membered_boron": dict(self.three_membered_boron),
            "three_membered_boron_other": int(self.three_membered_boron_other),
            "three_membered_with_si": int(self.three_membered_with_si),
            "n_3B": int(self.n_3B),
            "n_3B_in_3MR": int(self.n_3B_in_3MR),
            "fraction_3B_in_3MR": float(self.fraction_3B_in_3MR),
            "wrapping_excluded": {str(k): int(v) for k, v in self.wrapping_excluded.items() if v},
            "max_size": int(self.max_size),
            "network": "-".join(self.network) + "-O",
        }
        if members:
            out["three_membered_rings"] = [[int(x) for x in row] for row in self.three_ring_ids]
        return out


def _check_cell(net: Network) -> None:
    """Minimum-image bond vectors are exact only if every bond is shorter than half the cell width."""
    rmax = max(net.cutoffs.values(), default=0.0)
    vol = abs(np.linalg.det(net.cell))
    for k in range(3):
        if not net.pbc[k]:
            continue
        other = np.cross(net.cell[(k + 1) % 3], net.cell[(k + 2) % 3])
        width = vol / np.linalg.norm(other)
        if 2 * rmax >= width:
            raise AnalysisError(
                f"the cell is {width:.2f} A wide along cell vector {k + 1}, less than twice the "
                f"{rmax:.2f} A bond cutoff, so rings cannot be told from paths around the box; "
                "replicate the cell (ase: atoms.repeat(2)) before ring analysis")


def closes_without_wrapping(net: Network, ring: np.ndarray, tol: float = CLOSURE_TOL) -> np.ndarray:
    """Boolean per ring (rows of atom indices in ring order): minimum-image bond vectors sum to 0."""
    ring = np.asarray(ring)
    if ring.size == 0:
        return np.zeros(len(ring), dtype=bool)
    vec = net.positions[np.roll(ring, -1, axis=1)] - net.positions[ring]
    total = net.minimum_image(vec).sum(axis=1)
    return np.linalg.norm(total, axis=1) < tol


def find_rings(net: Network, max_size: int = DEFAULT_MAX_SIZE, graph: str = "formers"
               ) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Non-wrapping shortest-path rings of 2..max_size formers: ({size: rows}, {size: n_dropped}).
    Rows are atom indices in ring order, formers and their bridging O alternating.

    OVITO's FindRingsModifier does the search (a ring: no two of its atoms closer through the
    network than round the ring). ``graph="formers"`` (the default) runs it on the graph of the
    formers, each O contracted into edges between the formers it bonds: a former-O path is twice
    its former path, so the rings of n formers are the rings of 2n atoms with their O put back
    (each choice of O where two formers share several; never one O twice). Rings through an O
    bonded to three formers are kept only if that O has no shortcut to another ring atom
    (checked on the atom graph); the rings of two formers (two O bridging one pair) are counted
    directly. 4x faster than ``graph="atoms"`` (the search on formers and O, rings of up to 2 x
    max_size atoms) on the bench's 9,900-atom network, with the same rings there and on 13 FMP
    glasses (measured) and on the structures of tests/test_rings.py.
    """
    max_size = int(max_size)
    if not 2 <= max_size <= 18:
        raise AnalysisError(f"max_size={max_size}: give 2..18 network formers (OVITO searches up to 36 atoms)")
    if graph not in ("formers", "atoms"):
        raise AnalysisError(f"graph={graph!r}: choose 'formers' or 'atoms'")
    rings = {n: np.zeros((0, 2 * n), dtype=np.int64) for n in range(2, max_size + 1)}
    dropped = {n: 0 for n in rings}
    if len(net.bonds) == 0:
        return rings, dropped
    _check_cell(net)
    tables = _atom_graph_rings(net, max_size) if graph == "atoms" else _former_graph_rings(net, max_size)
    former = (net.element == _B) | (net.element == _SI)
    for idx in tables:
        ok = closes_without_wrapping(net, idx)
        nform = former[idx].sum(axis=1)
        for n in np.unique(nform):
            sel = nform == n
            n = int(n)
            if n not in rings:  # odd paths cannot occur on a former-O network; be safe anyway
                rings[n] = np.zeros((0, idx.shape[1]), dtype=np.int64)
                dropped[n] = 0
            rings[n] = np.concatenate([rings[n], idx[sel & ok]])
            dropped[n] += int(np.count_nonzero(sel & ~ok))
    return rings, dropped


def _atom_graph_rings(net: Network, max_size: int) -> list[np.ndarray]:
    """FindRings on ``net.data`` itself (formers and O; adds its tables to it): one array per size."""
    from ovito.modifiers import FindRingsModifier

    net.data.apply(FindRingsModifier(minimum_ring_size=4, maximum_ring_size=2 * max_size))
    out = []
    for size in range(4, 2 * max_size + 1):
        # FindRings writes one table per size in its range, replacing any earlier
        # table of that name (e.g. from a FindRings already in the user's pipeline)
        table = net.data.tables.get(f"{size}-rings")
        if table is None or table.count == 0:
            continue
        idx = np.asarray(table["Particle Indices"], dtype=np.int64)
        out.append(idx[:, None] if idx.ndim == 1 else idx)
    return out


def _bridges(net: Network):
    """(pair_lo, pair_hi, [O bridging each pair], O bonded to 3+ formers) of the former pairs that
    share an O."""
    import itertools

    b = net.bonds
    o_first = net.element[b[:, 0]] == _O
    f = np.where(o_first, b[:, 1], b[:, 0])
    o = np.where(o_first, b[:, 0], b[:, 1])
    order = np.argsort(o, kind="stable")
    f, o = f[order], o[order]
    oxygens, start, count = np.unique(o, return_index=True, return_counts=True)
    two = count == 2
    f1, f2, ob = [f[start[two]]], [f[start[two] + 1]], [oxygens[two]]
    for k in np.flatnonzero(count > 2):  # an O bonded to 3+ formers bridges each pair of them
        for i, j in itertools.combinations(range(start[k], start[k] + count[k]), 2):
            f1.append([f[i]])
            f2.append([f[j]])
            ob.append([oxygens[k]])
    f1, f2, ob = (np.concatenate(x).astype(np.int64) for x in (f1, f2, ob))
    keep = f1 != f2
    lo, hi, ob = np.minimum(f1, f2)[keep], np.maximum(f1, f2)[keep], ob[keep]
    n = net.n_atoms
    keys, inverse = np.unique(lo * n + hi, return_inverse=True)
    per_pair = np.split(ob[np.argsort(inverse, kind="stable")], np.cumsum(np.bincount(inverse))[:-1])
    return keys // n, keys % n, per_pair, set(oxygens[count > 2].tolist())


def _former_graph_rings(net: Network, max_size: int) -> list[np.ndarray]:
    """FindRings on the former graph (see :func:`find_rings`), rows expanded back to atoms."""
    import itertools

    from ovito.data import DataCollection
    from ovito.modifiers import FindRingsModifier

    lo, hi, per_pair, multi_o = _bridges(net)
    out = []
    # two formers, several O between them: every pair of those O closes a 4-atom ring
    for a, c, obs in zip(lo, hi, per_pair):
        if len(obs) > 1:
            out += [[a, o1, c, o2] for o1, o2 in itertools.combinations(obs, 2)]
    out = [np.array(out, dtype=np.int64).reshape(-1, 4)]
    if max_size < 3 or len(lo) == 0:
        return out
    formers = np.unique(np.concatenate([lo, hi]))
    node = np.full(net.n_atoms, -1, dtype=np.int64)
    node[formers] = np.arange(len(formers))
    dc = DataCollection()
    dc.create_cell(np.asarray(net.data.cell), pbc=net.pbc)
    particles = dc.create_particles(count=len(formers))
    particles.create_property("Position", data=net.positions[formers])
    bonds = particles.create_bonds(count=len(lo))
    bonds.create_property("Topology", data=np.column_stack([node[lo], node[hi]]))
    dc.apply(FindRingsModifier(minimum_ring_size=3, maximum_ring_size=max_size))
    n_atoms = net.n_atoms
    keys = lo * n_atoms + hi
    single = np.array([obs[0] for obs in per_pair], dtype=np.int64)
    several_o = np.array([len(obs) > 1 for obs in per_pair])
    adjacency = _adjacency(net) if multi_o else None
    for size in range(3, max_size + 1):
        table = dc.tables.get(f"{size}-rings")
        if table is None or table.count == 0:
            continue
        ring = formers[np.asarray(table["Particle Indices"], dtype=np.int64).reshape(-1, size)]
        nxt = np.roll(ring, -1, axis=1)
        query = np.minimum(ring, nxt) * n_atoms + np.maximum(ring, nxt)
        pair = np.searchsorted(keys, query)
        if not (keys[np.minimum(pair, len(keys) - 1)] == query).all():
            raise AnalysisError("a ring of the former graph uses a pair that shares no O (pylbs bug: please report)")
        rows = np.empty((len(ring), 2 * size), dtype=np.int64)
        rows[:, 0::2], rows[:, 1::2] = ring, single[pair]
        several = several_o[pair].any(axis=1)
        expanded = [rows[~several]]
        for k in np.flatnonzero(several):  # one ring per choice of bridging O
            for choice in itertools.product(*(per_pair[p] for p in pair[k])):
                row = rows[k].copy()
                row[1::2] = choice
                expanded.append(row[None, :])
        rows = np.concatenate(expanded)
        if multi_o:  # only rows through an O bonded to 3+ formers need the check on the atom graph
            through = np.isin(rows[:, 1::2], list(multi_o)).any(axis=1)
            keep = np.array([_valid_through_multi_o(r, multi_o, adjacency) for r in rows[through]], dtype=bool)
            rows = np.concatenate([rows[~through], rows[through][keep]]) if through.any() else rows
        out.append(rows)
    return out


def _adjacency(net: Network) -> list[np.ndarray]:
    """Neighbour indices of every atom in the bonded network."""
    b = np.concatenate([net.bonds, net.bonds[:, ::-1]])
    b = b[np.argsort(b[:, 0], kind="stable")]
    return np.split(b[:, 1], np.cumsum(np.bincount(b[:, 0], minlength=net.n_atoms))[:-1])


def _valid_through_multi_o(row: np.ndarray, multi_o: set, adjacency) -> bool:
    """A ring of the former graph is a ring of the atom graph if it uses each O once and every O
    in it bonded to 3+ formers is no closer to another ring atom through the network than round
    the ring (for formers and two-former O the contraction keeps the distances)."""
    if len(set(row[1::2].tolist())) < len(row) // 2:
        return False
    n = len(row)
    for pos in (k for k in range(1, n, 2) if int(row[k]) in multi_o):
        ring_dist = {int(a): min(abs(k - pos), n - abs(k - pos)) for k, a in enumerate(row)}
        seen, frontier, depth = {int(row[pos])}, [int(row[pos])], 0
        while frontier and depth < n // 2 - 1:  # a shortcut is shorter than the longest ring distance, n/2
            depth += 1
            nxt = []
            for a in frontier:
                for c in adjacency[a].tolist():
                    if c not in seen:
                        seen.add(c)
                        nxt.append(c)
                        if c in ring_dist and ring_dist[c] > depth:
                            return False  # a shortcut
            frontier = nxt
    return True


def rings_of_network(net: Network, max_size: int = DEFAULT_MAX_SIZE) -> RingResult:
    rings, dropped = find_rings(net, max_size)
    fu = formula_units(net)
    hist = {n: int(len(r)) for n, r in sorted(rings.items())}
    per_fu = {n: (c / fu if fu else float("nan")) for n, c in hist.items()}
    three = rings.get(3, np.zeros((0, 6), dtype=np.int64))
    el = net.element[three]
    is_b, is_si = el == _B, el == _SI
    b_only = is_b.sum(axis=1) == 3
    with_si = is_si.any(axis=1)
    cn = net.cn[three]
    n4 = (is_b & (cn == 4)).sum(axis=1)
    odd = (is_b & (cn != 3) & (cn != 4)).any(axis=1)
    classes = {str(k): int(np.count_nonzero(b_only & ~odd & (n4 == k))) for k in range(4)}
    three_b = (net.element == _B) & (net.cn == 3)
    in_3mr = np.zeros(net.n_atoms, dtype=bool)
    in_3mr[three.ravel()] = True
    n3b = int(three_b.sum())
    n3b_ring = int((three_b & in_3mr).sum())
    return RingResult(
        size_histogram=hist, per_formula_unit=per_fu, n_formula_units=fu,
        three_membered_boron=classes, three_membered_boron_other=int(np.count_nonzero(b_only & odd)),
        three_membered_with_si=int(np.count_nonzero(with_si)), n_3B=n3b, n_3B_in_3MR=n3b_ring,
        fraction_3B_in_3MR=n3b_ring / n3b if n3b else float("nan"), max_size=int(max_size),
        wrapping_excluded=dropped, network=net.formers, rings=rings, three_rings=three,
        three_ring_ids=net.ids[three],
        three_ring_boron_only=b_only, n_atoms=net.n_atoms)


def ring_statistics(source, frame: int = -1, cutoffs=None, max_size: int = DEFAULT_MAX_SIZE,
                    formers=FORMERS) -> RingResult:
    """Ring statistics of one frame of ``source`` (file path, ase.Atoms, OVITO Pipeline/DataCollection).

    ``frame``: index into a trajectory (-1 = last); ``cutoffs``: B-O/Si-O bond cutoffs
    in Angstrom overriding the defaults; ``max_size``: largest ring, in formers; ``formers``:
    ``("B",)`` for the rings of the B-O network alone (paper Fig. S6).
    """
    for _, data in iter_frames(source, [frame]):
        return rings_of_network(build_network(data, cutoffs, formers=formers), max_size)
    raise AnalysisError("the source has no frames")


def ring_statistics_frames(source, frames=None, cutoffs=None, max_size: int = DEFAULT_MAX_SIZE,
                           formers=FORMERS) -> list[RingResult]:
    """:func:`ring_statistics` of each selected frame (default: all)."""
    return [rings_of_network(build_network(data, cutoffs, formers=formers), max_size)
            for _, data in iter_frames(source, frames)]


# ---------------------------------------------------------------------------
# OVITO modifier


def _store(data, res: RingResult) -> None:
    attrs = data.attributes
    attrs["pylbs.rings.three_membered"] = res.n_three_membered
    for k, v in res.three_membered_boron.items():
        attrs[f"pylbs.rings.three_membered_boron_{k}"] = v
    attrs["pylbs.rings.three_membered_boron_other"] = res.three_membered_boron_other
    attrs["pylbs.rings.three_membered_with_si"] = res.three_membered_with_si
    attrs["pylbs.rings.fraction_3B_in_3MR"] = res.fraction_3B_in_3MR
    sizes = np.array(sorted(res.size_histogram), dtype=np.int64)
    table = data.tables.create(identifier="pylbs-ring-size-histogram", title="Ring sizes (network formers)")
    table.count = len(sizes)
    table.x = table.create_property("Ring size", data=sizes)
    table.y = table.create_property("Count", data=np.array([res.size_histogram[n] for n in sizes]))
    rings = data.tables.create(identifier="pylbs-3-rings", title="Three-membered rings")
    rings.count = len(res.three_ring_ids)  # a table left by an earlier modifier may hold other rows
    rings.create_property("Particle Identifiers", data=res.three_ring_ids.reshape(-1, 6), components=6)
    in3 = np.zeros(data.particles.count, dtype=np.int32)
    in3[res.three_rings.ravel()] = 1
    data.particles_.create_property("In 3MR", data=in3)


def make_rings_modifier(cutoffs=None, max_size: int = DEFAULT_MAX_SIZE):
    """An OVITO Python modifier function with the given bond cutoffs and maximum ring size.

    The pipeline's own bonds are left as they are: rings are found on a private copy
    bonded with the B-O/Si-O network cutoffs.
    """

    def modify(frame, data):
        _store(data, rings_of_network(build_network(prepare_frame(data), cutoffs), max_size))

    return modify


def rings_modifier(frame, data):
    """OVITO Python modifier function with default settings: ``pipeline.modifiers.append(rings_modifier)``."""
    make_rings_modifier()(frame, data)
