"""The composition rules of FMP-LBS, implemented independently of the C++ plugin so each checks the other.

* N4(R, K) of Dell, Bray & Xiao, J. Non-Cryst. Solids 58 (1983) 1-16;
* A(R, K) of B-O from Deng & Du, J. Am. Ceram. Soc. 102 (2019) 2482,
  with T3 from the erratum (doi 10.1111/jace.16897);
* a tabulated A(R, K) (bilinear);
* the repulsive core ``B/r^n + D r^2`` for r <= r0: r0 is the inner root of
  the third derivative of ``A exp(-r/rho) - C/r^6``, B, n, D make V, V', V''
  continuous at r0 (this reproduces the published Teter O-O and Si-O cores);
* :func:`resolve`: every pair of a parameter file at a composition, as the plugin's init does.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Mapping

from ..errors import ParameterFileError
from ..glasses import Composition
from .fmp_file import FmpParameters, ResolvedPair, Table, pair_key


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
