"""The FMP parameter file: its format (``docs/fmp_file_format.md``) as dataclasses, and its reader.

The same grammar and checks as the C++ plugin's reader (``plugins/fmp_lbs``), so a bad
file fails in Python with the line number and the fix before LAMMPS starts.
Units are LAMMPS ``metal``: eV, Angstrom, e.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterFileError
from ..glasses import TYPE_MAP

#: The shipped default set (Teter + Deng-Du; NOT the paper's unpublished FMP-LBS values).
DEFAULT_PARAMETER_FILE = Path(__file__).resolve().parents[1] / "data" / "lbs_default.fmp"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CoreSpec:
    """``kind``: "none", "fixed" (B, n, D, r0 given) or "auto" (solved)."""

    kind: str = "none"
    B: float = 0.0
    n: float = 0.0
    D: float = 0.0
    r0: float = 0.0


@dataclass(frozen=True)
class PairSpec:
    el1: str
    el2: str
    a_source: str  # "fixed", "rule" or "table"
    A: float | None  # for "fixed"
    a_name: str | None  # rule/table name
    rho: float
    C: float
    core: CoreSpec
    line: int


@dataclass(frozen=True)
class DbxRule:
    A1: float
    A2: float
    T1: float
    T2: float
    line: int = 0


@dataclass(frozen=True)
class Table:
    """A(R, K) on a grid, ``A`` stored R-major: ``A[iR * len(K) + iK]``."""

    R: tuple[float, ...]
    K: tuple[float, ...]
    A: tuple[float, ...]
    line: int = 0


@dataclass
class FmpParameters:
    path: str
    charges: dict[str, float] = field(default_factory=dict)
    pairs: list[PairSpec] = field(default_factory=list)
    rules: dict[str, DbxRule] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(self.charges)

    def find_pair(self, a: str, b: str) -> PairSpec | None:
        for p in self.pairs:
            if {p.el1, p.el2} == {a, b} and (a == b or p.el1 != p.el2):
                return p
        return None

    @property
    def needs_composition(self) -> bool:
        return any(p.a_source != "fixed" for p in self.pairs)


@dataclass(frozen=True)
class ResolvedPair:
    A: float
    rho: float
    C: float
    core: tuple[float, float, float, float] | None  # (B, n, D, r0)

    def as_dict(self) -> dict:
        d = {"A": self.A, "rho": self.rho, "C": self.C, "core": None}
        if self.core:
            d["core"] = dict(zip(("B", "n", "D", "r0"), self.core))
        return d


def pair_key(a: str, b: str) -> str:
    """Canonical name of an element pair, cation first in TYPE_MAP order: 'B-O'."""
    order = {el: i for i, el in enumerate(TYPE_MAP)}
    x, y = sorted((a, b), key=lambda e: (order.get(e, len(order)), e))
    return f"{x}-{y}"



# --------------------------------------------------------------------------- parsing


def _num(tok: str, where: str, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise ParameterFileError(f"{where}'{tok}' is not a number ({what}); fix the value")
    return v


def load_parameter_file(path: str | os.PathLike | None = None) -> FmpParameters:
    """Read an FMP parameter file (same grammar and checks as the C++ plugin).

    ``None`` reads :data:`DEFAULT_PARAMETER_FILE`. Raises
    :class:`~pylbs.errors.ParameterFileError` naming the line and the fix.
    """
    path = Path(path) if path is not None else DEFAULT_PARAMETER_FILE
    if not path.is_file():
        raise ParameterFileError(
            f"file not found: {path}: give a path to an FMP parameter file or use the default "
            f"(pylbs.potential.DEFAULT_PARAMETER_FILE = {DEFAULT_PARAMETER_FILE})")
    return parse_parameter_text(path.read_text(), str(path))


def parse_parameter_text(text: str, name: str = "<text>") -> FmpParameters:
    pf = FmpParameters(path=name)
    seen: dict[str, int] = {}
    tables: dict[str, dict] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        t = raw.split("#", 1)[0].split()
        if not t:
            continue
        w = f"{name} line {lineno}: "
        kw = t[0]
        if kw == "charge":
            if len(t) != 3:
                raise ParameterFileError(w + "expected 'charge <element> <q>'")
            if t[1] in pf.charges:
                raise ParameterFileError(w + f"second charge line for {t[1]}; keep one")
            pf.charges[t[1]] = _num(t[2], w, "charge")
        elif kw == "pair":
            if len(t) < 3:
                raise ParameterFileError(
                    w + "expected 'pair <el1> <el2> A <value|rule:NAME|table:NAME> rho <value> "
                    "C <value> [core auto|none|<B> <n> <D> <r0>]'")
            vals: dict = {}
            core = CoreSpec()
            i = 3
            while i < len(t):
                k = t[i]
                if k == "core":
                    if i + 1 >= len(t):
                        raise ParameterFileError(w + "'core' needs 'auto', 'none' or B n D r0")
                    if t[i + 1] in ("auto", "none"):
                        core = CoreSpec(kind=t[i + 1])
                        i += 2
                        continue
                    if i + 4 >= len(t):
                        raise ParameterFileError(w + "'core' needs four numbers B n D r0 (or auto)")
                    B, n, D, r0 = (_num(x, w, f"core {lab}")
                                   for x, lab in zip(t[i + 1:i + 5], ("B", "n", "D", "r0")))
                    if r0 <= 0:
                        raise ParameterFileError(w + "core r0 must be > 0")
                    core = CoreSpec("fixed", B, n, D, r0)
                    i += 5
                    continue
                if i + 1 >= len(t):
                    raise ParameterFileError(w + f"keyword '{k}' has no value")
                v = t[i + 1]
                if k == "A":
                    if v.startswith("rule:"):
                        vals["A"] = ("rule", None, v[5:])
                    elif v.startswith("table:"):
                        vals["A"] = ("table", None, v[6:])
                    else:
                        vals["A"] = ("fixed", _num(v, w, "A"), None)
                elif k == "rho":
                    vals["rho"] = _num(v, w, "rho")
                    if vals["rho"] <= 0:
                        raise ParameterFileError(w + "rho must be > 0")
                elif k == "C":
                    vals["C"] = _num(v, w, "C")
                else:
                    raise ParameterFileError(w + f"unknown pair keyword '{k}' (use A, rho, C, core)")
                i += 2
            if not {"A", "rho", "C"} <= vals.keys():
                raise ParameterFileError(w + f"pair {t[1]} {t[2]} needs all of A, rho and C")
            key = "-".join(sorted((t[1], t[2])))
            if key in seen:
                raise ParameterFileError(w + f"pair {key} already given on line {seen[key]}; keep one")
            seen[key] = lineno
            src, A, aname = vals["A"]
            pf.pairs.append(PairSpec(t[1], t[2], src, A, aname, vals["rho"], vals["C"], core, lineno))
        elif kw == "rule":
            if len(t) < 2 or t[1] != "dbx":
                raise ParameterFileError(w + "only 'rule dbx A1 <v> A2 <v> T1 <v> T2 <v>' is known")
            if len(t) != 10:
                raise ParameterFileError(w + "expected 'rule dbx A1 <v> A2 <v> T1 <v> T2 <v>'")
            got = {}
            for k, v in zip(t[2::2], t[3::2]):
                if k not in ("A1", "A2", "T1", "T2"):
                    raise ParameterFileError(w + f"unknown rule keyword '{k}' (A1 A2 T1 T2)")
                got[k] = _num(v, w, k)
            if len(got) != 4:
                raise ParameterFileError(w + "rule dbx needs each of A1 A2 T1 T2 once")
            pf.rules[t[1]] = DbxRule(line=lineno, **got)
        elif kw == "table":
            if len(t) < 4 or t[2] not in ("R", "K", "A"):
                raise ParameterFileError(w + "expected 'table <name> R|K|A <values...>'")
            tb = tables.setdefault(t[1], {"line": lineno})
            if t[2] in tb:
                raise ParameterFileError(w + f"table {t[1]} {t[2]} given twice")
            tb[t[2]] = tuple(_num(x, w, "table value") for x in t[3:])
        else:
            raise ParameterFileError(
                w + f"unknown keyword '{kw}' (lines start with charge, pair, rule or table)")

    for p in pf.pairs:
        w = f"{name} line {p.line}: "
        for el in (p.el1, p.el2):
            if el not in pf.charges:
                raise ParameterFileError(w + f"element {el} has no charge line; add 'charge {el} <q>'")
        if p.a_source == "rule" and p.a_name not in pf.rules:
            raise ParameterFileError(
                w + f"A uses rule:{p.a_name} but there is no 'rule {p.a_name} ...' line")
        if p.a_source == "table" and p.a_name not in tables:
            raise ParameterFileError(
                w + f"A uses table:{p.a_name} but there are no 'table {p.a_name} ...' lines")
    for tname, tb in tables.items():
        w = f"{name} line {tb['line']}: "
        R, K, A = tb.get("R", ()), tb.get("K", ()), tb.get("A", ())
        if len(R) < 2 or len(K) < 2 or len(A) != len(R) * len(K):
            raise ParameterFileError(
                w + f"table {tname} needs R and K lines with >= 2 values each and an A line with "
                "nR*nK values (R-major)")
        for ax in (R, K):
            if any(b <= a for a, b in zip(ax, ax[1:])):
                raise ParameterFileError(w + f"table {tname} grid values must be strictly increasing")
        pf.tables[tname] = Table(R, K, A, tb["line"])
    return pf
