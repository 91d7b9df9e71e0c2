"""Glass compositions and the catalogue of the paper's Table 1.

Compositions are in mol% of SiO2, B2O3 and Li2O. The paper names a glass
``LBS-<SiO2>-<B2O3>-<Li2O>`` and characterises it by K = [SiO2]/[B2O3] and
R = [Li2O]/[B2O3]. Measured 4B (%) and density (g/cm^3) are the experimental
values quoted in its Table 1 (Tsuda et al.).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .errors import CompositionError

#: Atom-type order used everywhere (LAMMPS types 1..4, DeepMD type_map).
TYPE_MAP = ("Li", "B", "Si", "O")

#: Standard atomic weights (g/mol).
ATOMIC_MASS = {"Li": 6.94, "B": 10.81, "Si": 28.085, "O": 15.999}

#: Atoms per formula unit of each oxide.
OXIDE_ATOMS = {
    "SiO2": {"Si": 1, "O": 2},
    "B2O3": {"B": 2, "O": 3},
    "Li2O": {"Li": 2, "O": 1},
}

_NAME = re.compile(r"^LBS-(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Composition:
    """mol% SiO2, B2O3, Li2O. Must be non-negative and sum to 100."""

    sio2: float
    b2o3: float
    li2o: float

    def __post_init__(self):
        values = (self.sio2, self.b2o3, self.li2o)
        if any(not math.isfinite(v) for v in values):
            raise CompositionError(f"composition {values} has a non-finite value; give mol% numbers")
        if any(v < 0 for v in values):
            raise CompositionError(
                f"composition SiO2={self.sio2}, B2O3={self.b2o3}, Li2O={self.li2o} has a negative "
                "amount; give non-negative mol% values")
        total = sum(values)
        if abs(total - 100.0) > 1e-6:
            raise CompositionError(
                f"composition SiO2={self.sio2}, B2O3={self.b2o3}, Li2O={self.li2o} sums to "
                f"{total:g} mol%, not 100; rescale the three values so they sum to 100")

    @property
    def name(self) -> str:
        return "LBS-" + "-".join(f"{v:g}" for v in (self.sio2, self.b2o3, self.li2o))

    @property
    def R(self) -> float:
        """[Li2O]/[B2O3] (inf when there is no B2O3)."""
        return self.li2o / self.b2o3 if self.b2o3 > 0 else math.inf

    @property
    def K(self) -> float:
        """[SiO2]/[B2O3] (inf when there is no B2O3)."""
        return self.sio2 / self.b2o3 if self.b2o3 > 0 else math.inf

    def mol_fractions(self) -> dict[str, float]:
        return {"SiO2": self.sio2 / 100, "B2O3": self.b2o3 / 100, "Li2O": self.li2o / 100}

    def atom_fractions(self) -> dict[str, float]:
        """Fraction of each element among all atoms."""
        counts = {el: 0.0 for el in TYPE_MAP}
        for oxide, x in self.mol_fractions().items():
            for el, n in OXIDE_ATOMS[oxide].items():
                counts[el] += x * n
        total = sum(counts.values())
        return {el: c / total for el, c in counts.items()}


@dataclass(frozen=True)
class Glass:
    """A catalogue entry: composition plus the paper's experimental values."""

    composition: Composition
    measured_4B: float | None = None  # percent
    density: float | None = None  # g/cm^3
    aliases: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.composition.name


def _g(s, b, l, f4, rho):
    return Glass(Composition(s, b, l), measured_4B=f4, density=rho)


#: The 11 glasses of the paper's Table 1 (SiO2, B2O3, Li2O mol%; 4B %; density g/cm^3).
CATALOG: dict[str, Glass] = {g.name: g for g in (
    _g(20, 60, 20, 36.7, 2.21),
    _g(40, 40, 20, 46.4, 2.26),
    _g(10, 50, 40, 41.6, 2.30),
    _g(20, 40, 40, 50.7, 2.31),
    _g(30, 30, 40, 54.4, 2.31),
    _g(40, 20, 40, 56.5, 2.34),
    _g(50, 10, 40, 56.8, 2.32),
    _g(8, 32, 60, 26.3, 2.17),
    _g(15, 25, 60, 22.0, 2.20),
    _g(10, 20, 70, 1.2, 2.10),
    _g(5, 35, 60, 23.5, 2.17),
)}


def get_glass(name_or_composition) -> Glass:
    """Look up a catalogue glass by name, or build a user glass.

    Accepts ``"LBS-20-60-20"``, a ``Composition``, a ``Glass`` or a 3-tuple of mol%
    (SiO2, B2O3, Li2O). A name of the ``LBS-a-b-c`` form that is not in the
    catalogue is accepted as a user composition (no measured values).
    """
    if isinstance(name_or_composition, Glass):
        return name_or_composition
    if isinstance(name_or_composition, Composition):
        known = CATALOG.get(name_or_composition.name)
        return known if known else Glass(name_or_composition)
    if isinstance(name_or_composition, (tuple, list)):
        if len(name_or_composition) != 3:
            raise CompositionError("a composition needs three mol% values: SiO2 B2O3 Li2O")
        return get_glass(Composition(*map(float, name_or_composition)))
    name = str(name_or_composition).strip()
    if name in CATALOG:
        return CATALOG[name]
    m = _NAME.match(name)
    if m:
        return get_glass(Composition(*map(float, m.groups())))
    raise CompositionError(
        f"unknown glass '{name}'. Use one of the paper's glasses ({', '.join(CATALOG)}) or a "
        "composition as LBS-<SiO2>-<B2O3>-<Li2O> in mol% summing to 100, e.g. LBS-25-50-25")


def glass_of_symbols(symbols) -> Glass:
    """The catalogue or user glass whose stoichiometry a structure has (mol% from its Li2O, B2O3
    and SiO2 units). For structures of unknown origin only (``pylbs quench --from`` without
    ``--glass``): everywhere else the glass is resolved once, where the user names it."""
    symbols = list(symbols)
    units = {"SiO2": symbols.count("Si"), "B2O3": symbols.count("B") / 2, "Li2O": symbols.count("Li") / 2}
    total = sum(units.values())
    if total == 0:
        raise CompositionError("the structure has no Li, B or Si; pylbs runs need a Li-B-Si-O glass")
    s, b = round(100 * units["SiO2"] / total, 4), round(100 * units["B2O3"] / total, 4)
    return get_glass((s, b, round(100 - s - b, 4)))


# --------------------------------------------------------------------------- element pairs

def element_pair(key) -> tuple[str, str]:
    """An element pair as a tuple in TYPE_MAP order: ``"O-B"``, ``"B_O"`` or ``("O", "B")`` -> ``("B", "O")``."""
    parts = key.replace("_", "-").split("-") if isinstance(key, str) else list(key)
    if len(parts) != 2 or any(p not in TYPE_MAP for p in parts):
        raise CompositionError(f"{key!r} is not a pair of elements of {'/'.join(TYPE_MAP)}; write it as B-O")
    a, b = parts
    return (a, b) if TYPE_MAP.index(a) <= TYPE_MAP.index(b) else (b, a)


def parse_pair_values(items, option: str = "PAIR=VALUE") -> dict[tuple[str, str], float]:
    """``["B-O=1.9", "Li-O=2.6"]`` -> ``{("B", "O"): 1.9, ("Li", "O"): 2.6}`` (command-line pair settings)."""
    out = {}
    for item in items or ():
        try:
            pair, value = str(item).split("=")
            out[element_pair(pair.strip())] = float(value)
        except (ValueError, CompositionError):
            raise CompositionError(f"{option} {item!r}: write it as ELEMENT-ELEMENT=NUMBER, e.g. B-O=1.9") from None
    return out
