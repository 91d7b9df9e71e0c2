"""FMP-LBS potential: parameter files, reference rules and LAMMPS commands.

This is an independent Python implementation of what the C++ plugin
(``plugins/fmp_lbs``, ``pair_style fmp/lbs``) does, so each can check the other:

* the parameter-file format (``docs/fmp_file_format.md``);
* N4(R, K) of Dell, Bray & Xiao, J. Non-Cryst. Solids 58 (1983) 1-16;
* A(R, K) of B-O from Deng & Du, J. Am. Ceram. Soc. 102 (2019) 2482,
  with T3 from the erratum (doi 10.1111/jace.16897);
* the repulsive core ``B/r^n + D r^2`` for r <= r0: r0 is the inner root of
  the third derivative of ``A exp(-r/rho) - C/r^6``, B, n, D make V, V', V''
  continuous at r0 (this reproduces the published Teter O-O and Si-O cores).

Units are LAMMPS ``metal``: eV, Angstrom, e.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .errors import ParameterFileError, PylbsError
from .glasses import TYPE_MAP, Composition

#: The shipped default set (Teter + Deng-Du; NOT the paper's unpublished FMP-LBS values).
DEFAULT_PARAMETER_FILE = Path(__file__).resolve().parent / "data" / "lbs_default.fmp"


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


# --------------------------------------------------------------------------- rules


def dbx_n4(R: float, K: float) -> float:
    """Fraction of 4-coordinated boron, Dell-Bray-Xiao (1983); valid for K <= 8.

    Clamped to [0, 1] (the K = 0 branch 1 - R of the reference goes negative for R > 1).
    """
    Rmax = K / 16 + 0.5
    Rd1 = K / 4 + 0.5
    Rd3 = 2 + K
    if R < Rmax:
        n4 = R
    elif R < Rd1:
        n4 = Rmax
    elif R < Rd3:
        if K == 0:
            n4 = 1 - R
        else:
            x = (2 - K / 4) / (K + K / 4)
            m1 = x / (1 + x) * (R - Rd1)
            m2 = R - Rd1 - m1
            n4 = (0.5 - K / 16 - m1 / 3) + (K / 8 - 2 * m2 / 15)
    else:
        n4 = 0.0
    return min(1.0, max(0.0, n4))


def deng_du_A(R: float, K: float, A1: float = 11900.0, A2: float = 12525.0,
              T1: float = 4350.0, T2: float = 85.0) -> float:
    """Buckingham A (eV) of B-O at R = [Li2O]/[B2O3], K = [SiO2]/[B2O3] (Deng & Du 2019 + erratum)."""
    Rmax = K / 16 + 0.5
    n4 = dbx_n4(R, K)
    if R <= Rmax:
        return A1 + T1 * (Rmax - (Rmax - n4) ** 2 / Rmax) + T2 * K * K
    T3 = (A1 + T2 * K * K - A2) / Rmax + T1  # erratum form
    return A2 + T3 * n4 * Rmax / R


def table_A(table: Table, R: float, K: float, name: str = "table") -> float:
    """Bilinear A(R, K) on the table grid; ParameterFileError outside it."""
    eps = 1e-12
    if not (table.R[0] - eps <= R <= table.R[-1] + eps and table.K[0] - eps <= K <= table.K[-1] + eps):
        raise ParameterFileError(
            f"composition R={R:g} K={K:g} is outside table {name} (R {table.R[0]:g}..{table.R[-1]:g}, "
            f"K {table.K[0]:g}..{table.K[-1]:g}): extend the table or fix R/K in pair_style")

    def cell(ax, v):
        v = min(max(v, ax[0]), ax[-1])
        i = min(max(bisect_right(ax, v), 1), len(ax) - 1)
        return i - 1, (v - ax[i - 1]) / (ax[i] - ax[i - 1])

    ir, wr = cell(table.R, R)
    ik, wk = cell(table.K, K)
    nk = len(table.K)
    a = table.A
    return ((1 - wr) * ((1 - wk) * a[ir * nk + ik] + wk * a[ir * nk + ik + 1])
            + wr * ((1 - wk) * a[(ir + 1) * nk + ik] + wk * a[(ir + 1) * nk + ik + 1]))


def buckingham_derivatives(A: float, rho: float, C: float, r: float) -> tuple[float, float, float, float]:
    """V, V', V'', V''' of A exp(-r/rho) - C/r^6."""
    e = A * math.exp(-r / rho)
    return (e - C / r**6, -e / rho + 6 * C / r**7, e / rho**2 - 42 * C / r**8,
            -e / rho**3 + 336 * C / r**9)


def solve_core(A: float, rho: float, C: float) -> tuple[float, float, float, float]:
    """(B, n, D, r0) of the core B/r^n + D r^2 (units eV, Angstrom).

    r0 is the inner root of V''' of the Buckingham part: the log-ratio of the
    two terms of V''' is convex with its minimum at 9 rho, so the inner root
    is bisected in (0, 9 rho). Same algorithm as the C++ plugin.
    """
    if A <= 0 or rho <= 0 or C <= 0:
        raise ParameterFileError(
            "core auto needs A > 0, rho > 0 and C > 0 (V''' has no root otherwise); give "
            "'core B n D r0' explicitly or 'core none'")

    def f(r):
        return math.log(336 * C) - 9 * math.log(r) - math.log(A / (rho * rho * rho)) + r / rho

    hi = 9 * rho
    if f(hi) >= 0:
        raise ParameterFileError(
            "core auto: V''' of the Buckingham part has no root; give 'core B n D r0' explicitly "
            "or 'core none'")
    lo = hi
    while f(lo) < 0:
        lo *= 0.5
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    r0 = 0.5 * (lo + hi)
    e = A * math.exp(-r0 / rho)
    r6 = r0 ** -6.0
    V0 = e - C * r6
    V1 = -e / rho + 6 * C * r6 / r0
    V2 = e / (rho * rho) - 42 * C * r6 / (r0 * r0)
    n = (V2 * r0 * r0 - V1 * r0) / (2 * V0 - V1 * r0)
    b = (2 * V0 - V1 * r0) / (2 + n)
    return b * r0**n, n, (V0 - b) / (r0 * r0), r0


def short_range(pair: ResolvedPair, r: float) -> float:
    """Short-range energy (eV) of a resolved pair at r, core branch for r <= r0."""
    if pair.core and r < pair.core[3]:
        B, n, D, _ = pair.core
        return B * r**-n + D * r * r
    return pair.A * math.exp(-r / pair.rho) - pair.C / r**6


# --------------------------------------------------------------------------- resolution


def composition_RK(composition) -> tuple[float, float]:
    """(R, K) from a Composition, a Glass-like object, or element counts {"Li": n, ...}."""
    if isinstance(composition, Composition):
        return composition.R, composition.K
    if hasattr(composition, "composition"):
        return composition_RK(composition.composition)
    if isinstance(composition, Mapping):
        nB = float(composition.get("B", 0))
        if nB <= 0:
            return math.inf, math.inf
        return float(composition.get("Li", 0)) / nB, 2.0 * float(composition.get("Si", 0)) / nB
    raise TypeError("composition must be a Composition, a Glass or a mapping of element counts")


def resolve(params: FmpParameters, composition=None, R: float | None = None,
            K: float | None = None) -> dict:
    """Resolve every pair of ``params`` at a composition, like the plugin's init.

    ``composition``: Composition, Glass or element counts; ``R``/``K`` override it
    (as ``pair_style fmp/lbs ... R x K y`` does). Returns
    ``{"R", "K", "N4", "charges", "pairs": {"B-O": ResolvedPair, ...}}``.
    """
    Rc, Kc = composition_RK(composition) if composition is not None else (math.inf, math.inf)
    R = Rc if R is None else float(R)
    K = Kc if K is None else float(K)
    known = math.isfinite(R) and math.isfinite(K)
    out = {"R": R if known else None, "K": K if known else None,
           "N4": dbx_n4(R, K) if known else None,
           "charges": dict(params.charges), "pairs": {}}
    for p in params.pairs:
        where = f"{params.path} line {p.line}: pair {p.el1}-{p.el2}: "
        if p.a_source == "fixed":
            A = p.A
        elif not known:
            raise ParameterFileError(
                where + f"A comes from {p.a_source}:{p.a_name}, which needs B in the composition; "
                "give a composition with B2O3 or R and K")
        elif p.a_source == "rule":
            r = params.rules[p.a_name]
            A = deng_du_A(R, K, r.A1, r.A2, r.T1, r.T2)
        else:
            A = table_A(params.tables[p.a_name], R, K, p.a_name)
        core = None
        if p.core.kind == "fixed":
            core = (p.core.B, p.core.n, p.core.D, p.core.r0)
        elif p.core.kind == "auto":
            try:
                core = solve_core(A, p.rho, p.C)
            except ParameterFileError as exc:
                raise ParameterFileError(where + str(exc)) from None
        out["pairs"][pair_key(p.el1, p.el2)] = ResolvedPair(A, p.rho, p.C, core)
    return out


# --------------------------------------------------------------------------- LAMMPS glue


def _quote(path: str) -> str:
    return f'"{path}"' if any(ch.isspace() for ch in path) else path


def fmp_commands(parameter_file=None, elements=TYPE_MAP, cutoff: float = 10.0,
                 kspace: str = "pppm", accuracy: float = 1e-5, R: float | None = None,
                 K: float | None = None, coul_cutoff: float | None = None,
                 table: int | None = None) -> list[str]:
    """LAMMPS commands setting up pair_style fmp/lbs and its kspace style.

    The file is read here first, so a bad file or a missing element fails in
    Python with a clear message instead of inside LAMMPS. ``table``: the
    pair style's merged table, 2^table intervals per doubling of r^2, 0 for the
    analytic formulas; None keeps the plugin default (docs/fmp_pair_style.md).
    """
    path = Path(parameter_file) if parameter_file is not None else DEFAULT_PARAMETER_FILE
    params = load_parameter_file(path)
    for i, el in enumerate(elements, start=1):
        if el not in params.charges:
            raise ParameterFileError(
                f"element {el} (type {i}) is not in {path}: add charge/pair lines for it")
    if kspace not in ("pppm", "ewald"):
        raise ParameterFileError(f"kspace '{kspace}' is not supported: use 'pppm' or 'ewald'")
    style = f"pair_style fmp/lbs {cutoff:g}"
    if coul_cutoff is not None:
        style += f" {coul_cutoff:g}"
    if R is not None:
        style += f" R {float(R):.17g}"
    if K is not None:
        style += f" K {float(K):.17g}"
    if table is not None:
        style += f" table {int(table)}"
    return [style,
            f"pair_coeff * * {_quote(str(path))} {' '.join(elements)}",
            f"kspace_style {kspace} {accuracy:g}"]


def _finite(x: float):
    return x if math.isfinite(x) else None


def read_resolved(lmp, elements=TYPE_MAP) -> dict:
    """The parameters the running plugin resolved (after a ``run 0``), JSON-friendly.

    ``{"R", "K", "N4", "pairs": {"B-O": {"A", "rho", "C", "core": {B, n, D, r0} | None}}}``;
    Coulomb-only pairs are left out, unknown values are None.
    """
    names = ("a", "rho", "c", "r0", "b_core", "n_core", "d_core")
    arr = {n: lmp.extract_pair(n) for n in names}
    if any(v is None for v in arr.values()):
        raise ParameterFileError("the active pair style is not fmp/lbs (extract_pair found nothing)")
    ntypes = lmp.extract_setting("ntypes")
    out = {k: _finite(lmp.extract_pair(k)) for k in ("R", "K", "N4")}
    pairs = {}
    for i in range(1, ntypes + 1):
        for j in range(i, ntypes + 1):
            if arr["rho"][i][j] <= 0:
                continue
            core = None
            if arr["r0"][i][j] > 0:
                core = {"B": arr["b_core"][i][j], "n": arr["n_core"][i][j],
                        "D": arr["d_core"][i][j], "r0": arr["r0"][i][j]}
            pairs[pair_key(elements[i - 1], elements[j - 1])] = {
                "A": arr["a"][i][j], "rho": arr["rho"][i][j], "C": arr["c"][i][j], "core": core}
    out["pairs"] = pairs
    return out


def deepmd_commands(models: Sequence[str | os.PathLike], out_freq: int = 100,
                    out_file: str | os.PathLike = "model_devi.out",
                    zbl_core: tuple[float, float] | None = None) -> list[str]:
    """``pair_style deepmd`` + ``pair_coeff`` for one model, or several with model deviation.

    With two or more models the first drives the MD and deepmd-kit writes the
    force/virial deviation among all of them every ``out_freq`` steps to
    ``out_file`` (columns: step, max/min/avg_devi_v, max/min/avg_devi_f; see pylbs.mlp_quench). Element names in
    ``pair_coeff`` map LAMMPS types 1..4 (TYPE_MAP) onto the model's type map.

    ``zbl_core=(inner, outer)`` (Angstrom) overlays the ZBL universal screened
    nuclear repulsion (``pair_style hybrid/overlay deepmd ... zbl inner outer``),
    switched off smoothly between inner and outer: a safety net for a model
    that never saw short distances (the DP-ZBL idea). Not in the paper: off by default.
    """
    models = [str(Path(m).resolve()) for m in ([models] if isinstance(models, (str, os.PathLike)) else models)]
    if not models:
        raise PylbsError("no DeepMD model given; pass --mlp model.pth (several for model deviation)")
    for m in models:
        if not Path(m).is_file():
            raise PylbsError(f"DeepMD model {m} does not exist; train and freeze one (pylbs.mlp.train) or fix the path")
    dp = "deepmd " + " ".join(models)
    if len(models) > 1:
        dp += f" out_freq {int(out_freq)} out_file {out_file}"
    if zbl_core is None:
        return ["pair_style " + dp, "pair_coeff * * " + " ".join(TYPE_MAP)]
    inner, outer = map(float, zbl_core)
    if not 0 < inner < outer:
        raise PylbsError(f"zbl_core={zbl_core}: give (inner, outer) with 0 < inner < outer (Angstrom)")
    from ase.data import atomic_numbers

    z = [atomic_numbers[el] for el in TYPE_MAP]
    return ([f"pair_style hybrid/overlay {dp} zbl {inner:g} {outer:g}",
             "pair_coeff * * deepmd " + " ".join(TYPE_MAP)]
            + [f"pair_coeff {i + 1} {j + 1} zbl {z[i]} {z[j]}" for i in range(len(z)) for j in range(i, len(z))])
