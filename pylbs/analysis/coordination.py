"""Cation-oxygen coordination (4B, 5Si) through OVITO's CreateBonds with pairwise cutoffs.

The paper's central quantity is the fraction of four-fold coordinated boron,
4B = N(BO4)/N(B), compared with the NMR values of its Table 1; five-fold Si
(5Si) is the tell-tale of an over-compressed or badly quenched network. Here an
O is bonded to a cation when their distance is below a pairwise cutoff taken
from the first minimum of the cation-O pair distribution:

* B-O 1.9 A: B-O bonds are 1.37 A (BO3) and 1.47 A (BO4); g_BO(r) is zero from
  about 1.7 A to the second shell (O-O/B-O next neighbours beyond 2.3 A) in
  borate and borosilicate glasses, so any cutoff in 1.8-2.0 A gives the same 4B.
* Si-O 2.0 A: Si-O bonds are 1.61 A, g_SiO(r) has its first minimum near
  2.0-2.2 A in silicate glasses; 2.0 A keeps the second shell (Si-O >= 3 A) out.
* Li-O 2.6 A: Li-O distances spread over 1.9-2.4 A; the minimum of g_LiO(r) is
  shallow (2.6-2.8 A), so Li coordination is reported but not used for 4B.

Checked on a 294-atom LBS-20-60-20 fmp/lbs glass (time scale 0.01): g_BO peaks at
1.43 A and is below 0.1 from 1.85 to 2.2 A (4B = 26.2/27.4/28.6 % at 1.8/1.9/2.0 A,
one B of 84 per 0.1 A); g_SiO is exactly zero from 1.7 to 2.2 A.
Override with ``cutoffs={("B", "O"): 1.85, ...}``.

Usable three ways: :func:`coordination` on an ase.Atoms, an OVITO
DataCollection or a file path; :func:`coordination_modifier` (or
:func:`make_coordination_modifier` for other cutoffs) appended to an OVITO pipeline, which stores
``Coordination`` per particle, the attributes ``pylbs.fraction_4B`` /
``pylbs.fraction_5Si`` and a ``coordination-histogram`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import AnalysisError
from ..glasses import TYPE_MAP, element_pair
from .network import DEFAULT_CUTOFFS, as_data_collection, iter_frames, name_types

_MAX_CN = 12


@dataclass
class CoordinationResult:
    """Coordination of each cation species by oxygen.

    ``histograms[el][n]`` is the number of ``el`` atoms with ``n`` O neighbours
    (n = 0..12); ``per_atom`` holds the coordination number of every atom (O: 0).
    fraction_4B = N(4-fold B)/N(B) and fraction_5Si = N(5-fold Si)/N(Si) are NaN
    when the structure has no B or no Si.
    """

    fraction_4B: float
    fraction_5Si: float
    histograms: dict[str, list[int]]
    mean: dict[str, float]
    cutoffs: dict[str, float]
    per_atom: np.ndarray = field(repr=False)
    n_atoms: int = 0

    def fraction(self, element: str, n: int) -> float:
        """Fraction of ``element`` atoms with exactly ``n`` O neighbours (NaN if none of them)."""
        h = self.histograms.get(element)
        total = sum(h) if h else 0
        return h[n] / total if total and n < len(h) else float("nan")

    def to_dict(self) -> dict:
        return {"fraction_4B": self.fraction_4B, "fraction_5Si": self.fraction_5Si,
                "histograms": self.histograms, "mean": self.mean, "cutoffs": self.cutoffs,
                "n_atoms": self.n_atoms}


def _cutoff_table(cutoffs: Mapping | None) -> dict[tuple[str, str], float]:
    table = dict(DEFAULT_CUTOFFS)
    for key, value in (cutoffs or {}).items():
        cation, other = element_pair(key)
        if other != "O" or cation == "O":
            raise AnalysisError(f"cutoff {key}: pylbs counts cation-O bonds; give pairs like ('B', 'O')")
        table[(cation, "O")] = float(value)
    return table


def _analyse(data, table) -> CoordinationResult:
    """Add bonds and per-particle Coordination to ``data`` (in place) and summarise."""
    from ovito.modifiers import CreateBondsModifier

    name_types(data)
    names = {t.id: t.name for t in data.particles.particle_types.types}
    mod = CreateBondsModifier(mode=CreateBondsModifier.Mode.Pairwise)
    for (cation, o), r in table.items():
        if cation in names.values() and o in names.values():
            mod.set_pairwise_cutoff(cation, o, r)
    data.apply(mod)
    type_ids = np.asarray(data.particles.particle_types)
    symbols = np.array([names.get(int(t), "?") for t in type_ids])
    n = len(symbols)
    cn = np.zeros(n, dtype=np.int64)
    if data.particles.bonds is not None and data.particles.bonds.count:
        topo = np.asarray(data.particles.bonds.topology)
        a, b = topo[:, 0], topo[:, 1]
        # count an O partner for the non-O end of every cation-O bond
        for i, j in ((a, b), (b, a)):
            sel = (symbols[j] == "O") & (symbols[i] != "O")
            cn += np.bincount(i[sel], minlength=n)
    data.particles_.create_property("Coordination", data=cn)
    histograms, mean = {}, {}
    for el in TYPE_MAP:
        if el == "O":
            continue
        mask = symbols == el
        if mask.any():
            histograms[el] = np.bincount(cn[mask], minlength=_MAX_CN + 1).tolist()
            mean[el] = float(cn[mask].mean())
    f4 = histograms["B"][4] / sum(histograms["B"]) if "B" in histograms else float("nan")
    f5 = histograms["Si"][5] / sum(histograms["Si"]) if "Si" in histograms else float("nan")
    return CoordinationResult(fraction_4B=float(f4), fraction_5Si=float(f5), histograms=histograms, mean=mean,
                              cutoffs={f"{c}-{o}": r for (c, o), r in table.items()}, per_atom=cn, n_atoms=n)


def coordination(source, cutoffs: Mapping | None = None, frame: int = -1) -> CoordinationResult:
    """4B, 5Si and coordination histograms of ``source``.

    ``source``: ase.Atoms, OVITO DataCollection, or a path to a LAMMPS data file
    (types 1..4 = Li, B, Si, O) or dump (``frame``: index, -1 = last).
    ``cutoffs``: cation-O cutoffs in Angstrom overriding DEFAULT_CUTOFFS, keyed
    ``("B", "O")`` or ``"B-O"``. Periodic images are handled by OVITO.
    """
    return _analyse(as_data_collection(source, frame), _cutoff_table(cutoffs))


def coordination_frames(path, cutoffs: Mapping | None = None, frames=None) -> list[CoordinationResult]:
    """:func:`coordination` of several frames of a trajectory (default: all)."""
    table = _cutoff_table(cutoffs)
    return [_analyse(data, table) for _, data in iter_frames(path, frames)]


def _store(data, result: CoordinationResult) -> None:
    data.attributes["pylbs.fraction_4B"] = result.fraction_4B
    data.attributes["pylbs.fraction_5Si"] = result.fraction_5Si
    species = list(result.histograms)
    table = data.tables.create(identifier="coordination-histogram", title="Cation-O coordination")
    table.x = table.create_property("Coordination number", data=np.arange(_MAX_CN + 1))
    table.y = table.create_property("Count", data=np.array([result.histograms[s] for s in species]).T,
                                    components=species)


def coordination_modifier(frame, data, cutoffs: Mapping | None = None):
    """OVITO Python modifier function: ``pipeline.modifiers.append(coordination_modifier)``."""
    _store(data, _analyse(data, _cutoff_table(cutoffs)))


def make_coordination_modifier(cutoffs: Mapping | None = None):
    """An OVITO modifier function with custom cutoffs."""
    table = _cutoff_table(cutoffs)

    def modify(frame, data):
        _store(data, _analyse(data, table))

    return modify
