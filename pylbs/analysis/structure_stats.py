"""Partial radial distribution functions and bond-angle distributions.

* Partial RDFs g_ab(r) of all element pairs come from OVITO's
  ``CoordinationAnalysisModifier(partial=True)`` (pairs named ``"B-O"`` etc., TYPE_MAP
  order, r in Angstrom, bin centres).
* Bond-angle distributions over the B/Si-O network bonds of
  :mod:`pylbs.analysis.network` (the coordination cutoffs): the angle X-Y-Z at the
  centre Y between two bonds Y-X and Y-Z, in degrees, for O-B-O (ideal 120 deg in
  BO3, 109.5 deg in BO4), O-Si-O (109.5 deg), B-O-B, Si-O-Si and B-O-Si. They are
  computed with vectorised numpy from the exact periodic bond vectors (every pair
  of bonds at each centre), so any triplet of the network is available, not only
  the five named ones (see :data:`ANGLE_TRIPLETS`).

Plain functions :func:`partial_rdfs` and :func:`bond_angles` return dataclasses;
:func:`rdf_modifier` and :func:`bond_angle_modifier` (``make_*`` for settings) are
OVITO Python modifier functions adding the tables ``pylbs-partial-rdf`` and
``pylbs-bond-angles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import AnalysisError
from ..glasses import TYPE_MAP
from .network import Network, build_network, iter_frames, prepare_frame

#: The bond angles the paper's borosilicate analyses report (centre atom in the middle).
ANGLE_TRIPLETS = ("O-B-O", "O-Si-O", "B-O-B", "Si-O-Si", "B-O-Si")

DEFAULT_RDF_CUTOFF = 6.0  # Angstrom
DEFAULT_RDF_BINS = 300
DEFAULT_ANGLE_BINS = 180  # 1 degree wide over 0..180


@dataclass
class RDFResult:
    """Partial g_ab(r): ``r`` bin centres (Angstrom), ``g["B-O"]`` etc. (TYPE_MAP-ordered pair names)."""

    r: np.ndarray
    g: dict[str, np.ndarray]
    cutoff: float

    def first_peak(self, pair: str) -> float:
        """Position (Angstrom) of the highest value of g for ``pair``."""
        return float(self.r[int(np.argmax(self.g[_pair_name(pair)]))])

    def to_dict(self) -> dict:
        return {"r": self.r.tolist(), "g": {k: v.tolist() for k, v in self.g.items()}, "cutoff": self.cutoff}


@dataclass
class AngleResult:
    """Bond-angle distributions (degrees): counts per bin for each triplet ``"X-Y-Z"``.

    ``angles[t]`` holds every angle of triplet ``t`` (one per bond pair at a centre),
    ``histograms[t]`` their counts on ``edges``; ``mean[t]`` / ``std[t]`` in degrees.
    """

    edges: np.ndarray
    histograms: dict[str, np.ndarray]
    mean: dict[str, float]
    std: dict[str, float]
    count: dict[str, int]
    angles: dict[str, np.ndarray] = field(repr=False)

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def to_dict(self, histograms: bool = False) -> dict:
        out = {"mean": self.mean, "std": self.std, "count": self.count}
        if histograms:
            out["edges"] = self.edges.tolist()
            out["histograms"] = {k: v.tolist() for k, v in self.histograms.items()}
        return out


def _pair_name(pair: str) -> str:
    a, b = pair.split("-")
    return f"{a}-{b}" if TYPE_MAP.index(a) <= TYPE_MAP.index(b) else f"{b}-{a}"


def triplet_name(a: str, center: str, b: str) -> str:
    """Canonical name of the angle a-center-b: outer atoms in TYPE_MAP order (B-O-Si, not Si-O-B)."""
    if TYPE_MAP.index(a) > TYPE_MAP.index(b):
        a, b = b, a
    return f"{a}-{center}-{b}"


# ---------------------------------------------------------------------------
# RDF


def _rdf_data(data, cutoff: float, bins: int) -> RDFResult:
    from ovito.modifiers import CoordinationAnalysisModifier

    if not (cutoff > 0 and bins > 0):
        raise AnalysisError(f"RDF cutoff={cutoff} A, bins={bins}: give positive values")
    work = data.clone()
    work.apply(CoordinationAnalysisModifier(cutoff=float(cutoff), number_of_bins=int(bins), partial=True))
    table = work.tables["coordination-rdf"]
    xy = table.xy()
    r = np.asarray(xy[:, 0], dtype=float)
    y = np.asarray(table.y, dtype=float)
    names = table.y.component_names or ["total"]
    y = y.reshape(len(r), len(names))
    return RDFResult(r=r, g={_pair_name(n) if "-" in n else n: y[:, k].copy() for k, n in enumerate(names)},
                     cutoff=float(cutoff))


def partial_rdfs(source, frame: int = -1, cutoff: float = DEFAULT_RDF_CUTOFF,
                 bins: int = DEFAULT_RDF_BINS) -> RDFResult:
    """Partial RDFs of one frame of ``source`` up to ``cutoff`` Angstrom in ``bins`` bins."""
    for _, data in iter_frames(source, [frame]):
        return _rdf_data(data, cutoff, bins)
    raise AnalysisError("the source has no frames")


# ---------------------------------------------------------------------------
# bond angles


def angle_triplets(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of network bonds sharing a centre: (left, centre, right, angle_deg) arrays."""
    if len(net.bonds) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    center = np.concatenate([i, j])
    other = np.concatenate([j, i])
    vec = np.concatenate([net.bond_vectors, -net.bond_vectors])
    order = np.argsort(center, kind="stable")
    center, other, vec = center[order], other[order], vec[order]
    unit = vec / np.linalg.norm(vec, axis=1)[:, None]
    maxdeg = int(np.bincount(center).max())
    lefts, rights, cents, angs = [], [], [], []
    for k in range(1, maxdeg):
        a = np.arange(len(center) - k)
        same = center[a] == center[a + k]
        a = a[same]
        b = a + k
        cos = np.einsum("ij,ij->i", unit[a], unit[b])
        angs.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        lefts.append(other[a])
        rights.append(other[b])
        cents.append(center[a])
    return np.concatenate(lefts), np.concatenate(cents), np.concatenate(rights), np.concatenate(angs)


def angles_of_network(net: Network, bins: int = DEFAULT_ANGLE_BINS, triplets=ANGLE_TRIPLETS) -> AngleResult:
    left, cent, right, ang = angle_triplets(net)
    el = np.asarray(TYPE_MAP)
    edges = np.linspace(0.0, 180.0, int(bins) + 1)
    lo = np.minimum(net.element[left], net.element[right]) if len(left) else left
    hi = np.maximum(net.element[left], net.element[right]) if len(left) else left
    hists, means, stds, counts, values = {}, {}, {}, {}, {}
    wanted = list(triplets) if triplets is not None else sorted(
        {triplet_name(el[a], el[c], el[b]) for a, c, b in zip(lo, net.element[cent], hi)})
    for name in wanted:
        a, c, b = name.split("-")
        if not all(x in TYPE_MAP for x in (a, c, b)):
            raise AnalysisError(f"angle triplet {name!r}: use elements of {TYPE_MAP}, e.g. 'B-O-Si'")
        ia, ib = sorted((TYPE_MAP.index(a), TYPE_MAP.index(b)))
        sel = (net.element[cent] == TYPE_MAP.index(c)) & (lo == ia) & (hi == ib)
        v = ang[sel]
        key = triplet_name(a, c, b)
        values[key] = v
        hists[key] = np.histogram(v, bins=edges)[0]
        counts[key] = int(v.size)
        means[key] = float(v.mean()) if v.size else float("nan")
        stds[key] = float(v.std(ddof=1)) if v.size > 1 else (0.0 if v.size else float("nan"))  # STD_CONVENTION
    return AngleResult(edges=edges, histograms=hists, mean=means, std=stds, count=counts, angles=values)


def bond_angles(source, frame: int = -1, cutoffs=None, bins: int = DEFAULT_ANGLE_BINS,
                triplets=ANGLE_TRIPLETS) -> AngleResult:
    """Bond-angle distributions of one frame (``triplets=None``: every triplet present)."""
    for _, data in iter_frames(source, [frame]):
        return angles_of_network(build_network(data, cutoffs), bins, triplets)
    raise AnalysisError("the source has no frames")


# ---------------------------------------------------------------------------
# OVITO modifiers


def _store_table(data, identifier: str, title: str, x, columns) -> None:
    """An OVITO data table: x = (name, values), y = (name, {component: values})."""
    names = list(columns[1])
    table = data.tables.create(identifier=identifier, title=title)
    table.count = len(x[1])  # an earlier table of that name may have another length
    table.x = table.create_property(x[0], data=x[1])
    table.y = table.create_property(columns[0], data=np.column_stack([columns[1][n] for n in names]),
                                    components=names)


def make_rdf_modifier(cutoff: float = DEFAULT_RDF_CUTOFF, bins: int = DEFAULT_RDF_BINS):
    """OVITO modifier function adding the table ``pylbs-partial-rdf`` (x = r, y = g per pair)."""

    def modify(frame, data):
        res = _rdf_data(prepare_frame(data), cutoff, bins)
        _store_table(data, "pylbs-partial-rdf", "Partial RDFs", ("r", res.r), ("g(r)", res.g))

    return modify


def make_bond_angle_modifier(cutoffs=None, bins: int = DEFAULT_ANGLE_BINS, triplets=ANGLE_TRIPLETS):
    """OVITO modifier function adding the table ``pylbs-bond-angles`` and mean-angle attributes."""

    def modify(frame, data):
        res = angles_of_network(build_network(prepare_frame(data), cutoffs), bins, triplets)
        _store_table(data, "pylbs-bond-angles", "Bond-angle distributions", ("Angle", res.centers),
                     ("Count", res.histograms))
        for n in res.histograms:
            data.attributes[f"pylbs.angle.{n}.mean"] = res.mean[n]

    return modify


def rdf_modifier(frame, data):
    """Default-settings partial-RDF modifier: ``pipeline.modifiers.append(rdf_modifier)``."""
    make_rdf_modifier()(frame, data)


def bond_angle_modifier(frame, data):
    """Default-settings bond-angle modifier: ``pipeline.modifiers.append(bond_angle_modifier)``."""
    make_bond_angle_modifier()(frame, data)
