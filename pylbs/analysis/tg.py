"""Glass transition temperature from a heating curve: the fold of E(T).

Paper (Tg paragraph): heating at 10 K/ps from equilibrated 300 K glasses, three
independent runs, "Tg values were determined as a folding point of potential
energy curve" (Fig. S7); LBS-20-60-20: 1122 +- 31 K (mean +- std of the runs).

The fold is found objectively, three ways (``method``):

``"bilinear"`` (default)
    a continuous two-line (hinge) model ``E = a + b1 (T - Tg)`` below and
    ``a + b2 (T - Tg)`` above Tg. For a fixed break it is linear least squares; the
    break is the minimum of the residual sum of squares RSS(Tg), scanned over
    candidate breaks and refined with a bounded 1-D minimisation. ``tg_err`` is
    the half-width of the 68 % profile interval ``{Tg : RSS(Tg) <= RSS_min (1 +
    F(0.68; 1, n-4) / (n-4))}`` (or a residual bootstrap, ``error="bootstrap"``).
``"two_lines"``
    two independent straight lines on each side of a split, the split with the
    least total RSS; Tg is where the lines cross (the usual by-eye construction
    made objective); error from the profile as above.
``"hyperbola"``
    the smooth form ``E = E0 + a (T - T0) + b sqrt((T - T0)^2 + c^2)`` whose
    asymptotes have slopes ``a -+ b`` and cross at ``Tg = T0`` (hyperbolic fit of
    glass-transition data); error from the fit covariance.

Note: successive points of one MD heating curve are correlated, so the
per-curve error understates the spread between independent runs; report the
replica mean and standard deviation (:func:`tg_over_replicas`) as the paper does.
Usable as plain functions (:func:`fit_tg`) or as an object (:class:`TgAnalysis`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import AnalysisError
from ..plotting import pyplot, save
from ..stats import STD_CONVENTION

METHODS = ("bilinear", "two_lines", "hyperbola")


@dataclass
class Line:
    """``E = intercept + slope * T`` (slope in energy units per K)."""

    slope: float
    intercept: float

    def __call__(self, t):
        return self.intercept + self.slope * np.asarray(t, dtype=float)

    def to_dict(self) -> dict:
        return {"slope": self.slope, "intercept": self.intercept}


@dataclass
class TgResult:
    """A fitted fold: ``tg`` and ``tg_err`` (K), the glass (``low``) and liquid (``high``) lines."""

    tg: float
    tg_err: float
    method: str
    error_method: str
    low: Line
    high: Line
    tg_interval: tuple[float, float]
    rss: float
    n_points: int
    temperatures: np.ndarray = field(repr=False)
    energies: np.ndarray = field(repr=False)
    profile_t: np.ndarray | None = field(default=None, repr=False)
    profile_rss: np.ndarray | None = field(default=None, repr=False)
    hyperbola: dict | None = None

    def model(self, t):
        """The fitted curve at temperatures ``t``."""
        t = np.asarray(t, dtype=float)
        if self.hyperbola is not None:
            h = self.hyperbola
            return h["E0"] + h["a"] * (t - h["T0"]) + h["b"] * np.sqrt((t - h["T0"]) ** 2 + h["c"] ** 2)
        return np.where(t <= self.tg, self.low(t), self.high(t))

    def to_dict(self) -> dict:
        return {"tg": self.tg, "tg_err": self.tg_err, "method": self.method, "error_method": self.error_method,
                "low": self.low.to_dict(), "high": self.high.to_dict(),
                "tg_interval": list(self.tg_interval), "rss": self.rss, "n_points": self.n_points,
                "hyperbola": self.hyperbola}


def _clean(temperatures, energies):
    t = np.asarray(temperatures, dtype=float).ravel()
    e = np.asarray(energies, dtype=float).ravel()
    if t.shape != e.shape:
        raise AnalysisError(f"{t.size} temperatures but {e.size} energies; give one energy per temperature")
    ok = np.isfinite(t) & np.isfinite(e)
    t, e = t[ok], e[ok]
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    if t.size < 8 or np.ptp(t) <= 0:
        raise AnalysisError(f"{t.size} finite points spanning {np.ptp(t) if t.size else 0:g} K; a Tg fit needs at "
                            "least 8 points over a temperature range that crosses the fold")
    return t, e


def bin_curve(temperatures, energies, width_K: float):
    """Mean energy in temperature bins ``width_K`` wide (bins with no point dropped).

    Useful for the instantaneous temperature of a thermostatted run, which scatters.
    Returns (bin-mean T, bin-mean E).
    """
    t, e = _clean(temperatures, energies)
    idx = np.floor((t - t[0]) / width_K).astype(int)
    n = np.bincount(idx)
    keep = n > 0
    return (np.bincount(idx, t)[keep] / n[keep]), (np.bincount(idx, e)[keep] / n[keep])


def _hinge_fit(t, e, tb):
    """Least squares of the continuous hinge with break ``tb``: (rss, a, b1, b2)."""
    x = t - tb
    A = np.column_stack([np.ones_like(t), np.minimum(x, 0.0), np.maximum(x, 0.0)])
    coef, *_ = np.linalg.lstsq(A, e, rcond=None)
    r = e - A @ coef
    return float(r @ r), coef


def _line(t, e):
    A = np.column_stack([np.ones_like(t), t])
    coef, *_ = np.linalg.lstsq(A, e, rcond=None)
    r = e - A @ coef
    return float(r @ r), coef  # (intercept, slope)


def _profile_threshold(rss_min: float, n: int, n_par: int = 4, level: float = 0.68) -> float:
    from scipy.stats import f

    dof = max(n - n_par, 1)
    return rss_min * (1.0 + f.ppf(level, 1, dof) / dof)


def _interval(ts, rss, threshold, tg):
    inside = ts[rss <= threshold]
    if inside.size == 0:
        return tg, tg
    return float(min(inside.min(), tg)), float(max(inside.max(), tg))


def _profile_bounds(fun, tg, threshold, lo, hi, step):
    """(lower, upper) temperatures where ``fun`` (the RSS profile) rises through ``threshold`` around ``tg``."""
    from scipy.optimize import brentq

    out = []
    for sign, limit in ((-1, lo), (1, hi)):
        a, x = tg, tg
        step_k = step / 8
        while True:
            x = tg + sign * min(abs(limit - tg), abs(x - tg) + step_k)
            if fun(x) > threshold:
                out.append(brentq(lambda c: fun(c) - threshold, min(a, x), max(a, x), xtol=1e-3 * step))
                break
            if x == limit or abs(x - tg) >= abs(limit - tg):
                out.append(limit)
                break
            a, step_k = x, step_k * 1.5
    return float(out[0]), float(out[1])


def _bilinear(t, e, min_points, n_candidates):
    lo_i, hi_i = min_points - 1, t.size - min_points
    cands = np.linspace(t[lo_i], t[hi_i], n_candidates)
    rss = np.array([_hinge_fit(t, e, c)[0] for c in cands])
    k = int(np.argmin(rss))
    from scipy.optimize import minimize_scalar

    a, b = cands[max(k - 1, 0)], cands[min(k + 1, len(cands) - 1)]
    if b > a:
        opt = minimize_scalar(lambda c: _hinge_fit(t, e, c)[0], bounds=(a, b), method="bounded",
                              options={"xatol": 1e-3 * (t[-1] - t[0]) / n_candidates})
        tg = float(opt.x) if opt.fun <= rss[k] else float(cands[k])
    else:
        tg = float(cands[k])
    r, (a0, b1, b2) = _hinge_fit(t, e, tg)
    low, high = Line(b1, a0 - b1 * tg), Line(b2, a0 - b2 * tg)
    return tg, r, low, high, cands, rss


def _two_lines(t, e, min_points):
    splits = np.arange(min_points, t.size - min_points + 1)
    rss, fits = [], []
    for s in splits:
        r1, c1 = _line(t[:s], e[:s])
        r2, c2 = _line(t[s:], e[s:])
        rss.append(r1 + r2)
        fits.append((c1, c2))
    rss = np.array(rss)
    k = int(np.argmin(rss))
    (i1, s1), (i2, s2) = fits[k]
    if s1 == s2:
        raise AnalysisError("the two fitted lines are parallel; the curve has no fold in this range")
    tg = float((i2 - i1) / (s1 - s2))
    split_t = 0.5 * (t[splits - 1] + t[np.minimum(splits, t.size - 1)])
    return tg, float(rss[k]), Line(s1, i1), Line(s2, i2), split_t, rss


def _hyperbola(t, e, start):
    from scipy.optimize import curve_fit

    def f(x, e0, a, b, t0, c):
        return e0 + a * (x - t0) + b * np.sqrt((x - t0) ** 2 + c ** 2)

    tg0, low, high = start
    p0 = [float(low(tg0)), 0.5 * (low.slope + high.slope), 0.5 * (high.slope - low.slope), tg0,
          0.05 * (t[-1] - t[0])]
    try:
        p, cov = curve_fit(f, t, e, p0=p0, maxfev=20000)
    except RuntimeError as exc:
        raise AnalysisError(f"the hyperbola fit did not converge ({exc}); use method='bilinear'") from None
    e0, a, b, t0, c = (float(x) for x in p)
    err = float(math.sqrt(cov[3, 3])) if np.all(np.isfinite(cov)) else float("nan")
    r = e - f(t, *p)
    # asymptotes: E0 + (a -+ b)(T - T0) (glass below, liquid above for b > 0)
    lo_s, hi_s = (a - b, a + b) if b >= 0 else (a + b, a - b)
    low_l, high_l = Line(lo_s, e0 - lo_s * t0), Line(hi_s, e0 - hi_s * t0)
    return t0, err, float(r @ r), low_l, high_l, {"E0": e0, "a": a, "b": b, "T0": t0, "c": c}


def fit_tg(temperatures, energies, method: str = "bilinear", *, t_min: float | None = None,
           t_max: float | None = None, min_points: int | None = None, n_candidates: int = 200,
           error: str = "profile", n_bootstrap: int = 200, seed: int = 0, level: float = 0.68) -> TgResult:
    """Tg (K) as the fold of ``energies`` vs ``temperatures`` (any energy unit, e.g. eV/atom).

    ``t_min``/``t_max`` restrict the fitted range. ``min_points`` (default 10 % of
    the points, at least 3) is the fewest points allowed on either side of the
    fold. ``error``: ``"profile"`` (68 % profile interval of the RSS, ``level``) or
    ``"bootstrap"`` (std of Tg over ``n_bootstrap`` residual resamplings);
    ``method="hyperbola"`` always takes its error from the fit covariance.
    """
    if method not in METHODS:
        raise AnalysisError(f"method {method!r}; use one of {METHODS}")
    if error not in ("profile", "bootstrap"):
        raise AnalysisError(f"error {error!r}; use 'profile' or 'bootstrap'")
    t, e = _clean(temperatures, energies)
    sel = np.ones(t.size, bool)
    if t_min is not None:
        sel &= t >= t_min
    if t_max is not None:
        sel &= t <= t_max
    t, e = _clean(t[sel], e[sel])
    n = t.size
    mp = max(3, int(0.1 * n)) if min_points is None else int(min_points)
    if 2 * mp > n:
        raise AnalysisError(f"{n} points cannot hold {mp} points on each side of the fold; lower min_points")

    if method == "hyperbola":
        start = _bilinear(t, e, mp, n_candidates)
        tg, err, rss, low, high, h = _hyperbola(t, e, start[:1] + start[2:4])
        if not (t[0] <= tg <= t[-1]):
            raise AnalysisError(f"the hyperbola's fold {tg:.0f} K lies outside the data {t[0]:.0f}-{t[-1]:.0f} K; "
                                "widen the temperature range or use method='bilinear'")
        return TgResult(tg, err, method, "covariance", low, high, (tg - err, tg + err), rss, n, t, e, hyperbola=h)

    fitter = (lambda tt, ee: _bilinear(tt, ee, mp, n_candidates)) if method == "bilinear" else \
        (lambda tt, ee: _two_lines(tt, ee, mp))
    tg, rss, low, high, prof_t, prof_rss = fitter(t, e)
    n_par = 4 if method == "bilinear" else 5
    threshold = _profile_threshold(rss, n, n_par, level)
    if method == "bilinear":  # continuous profile: find where RSS(Tg) crosses the threshold
        interval = _profile_bounds(lambda c: _hinge_fit(t, e, c)[0], tg, threshold, t[mp - 1], t[n - mp],
                                   float(np.median(np.diff(prof_t))))
    else:
        interval = _interval(prof_t, prof_rss, threshold, tg)
    if error == "profile":
        err = 0.5 * (interval[1] - interval[0])
        if err == 0.0:  # the interval is narrower than the candidate spacing
            err = 0.5 * float(np.median(np.diff(prof_t)))
    else:
        rng = np.random.default_rng(seed)
        fitted = np.where(t <= tg, low(t), high(t))
        resid = e - fitted
        tgs = []
        for _ in range(int(n_bootstrap)):
            eb = fitted + rng.choice(resid, size=n, replace=True)
            try:
                tgs.append(fitter(t, eb)[0])
            except AnalysisError:
                continue
        err = float(np.std(tgs, ddof=1)) if len(tgs) > 1 else float("nan")
        interval = (float(np.percentile(tgs, 16)), float(np.percentile(tgs, 84))) if tgs else interval
    return TgResult(tg, float(err), method, error, low, high, interval, rss, n, t, e, prof_t, prof_rss)


@dataclass
class TgReplicas:
    """Tg over independent heating runs: ``mean``, ``std`` (ddof=1; 0 for one run), per-run results."""

    mean: float
    std: float
    results: list[TgResult]

    @property
    def tg(self) -> float:
        return self.mean

    @property
    def tg_err(self) -> float:
        return self.std

    def to_dict(self) -> dict:
        return {"tg": self.mean, "tg_err": self.std, "n_replicas": len(self.results), "std_convention": STD_CONVENTION,
                "replicas": [r.to_dict() for r in self.results]}


def tg_over_replicas(curves, **fit_kw) -> TgReplicas:
    """Fit every (temperatures, energies) curve and return the mean and standard deviation of Tg."""
    results = [c if isinstance(c, TgResult) else fit_tg(c[0], c[1], **fit_kw) for c in curves]
    if not results:
        raise AnalysisError("no heating curves given")
    tgs = np.array([r.tg for r in results])
    std = float(np.std(tgs, ddof=1)) if tgs.size > 1 else 0.0
    return TgReplicas(float(tgs.mean()), std, results)


class TgAnalysis:
    """freud-style wrapper: ``TgAnalysis(method=...).compute(T, E)``, then ``.tg``, ``.tg_err``, ``.result``."""

    def __init__(self, method: str = "bilinear", **fit_kw):
        self.method, self.fit_kw = method, fit_kw
        self.result: TgResult | None = None

    def compute(self, temperatures, energies) -> "TgAnalysis":
        self.result = fit_tg(temperatures, energies, method=self.method, **self.fit_kw)
        return self

    @property
    def tg(self) -> float:
        return self.result.tg

    @property
    def tg_err(self) -> float:
        return self.result.tg_err


def plot_tg(results, path, ylabel: str = "potential energy (eV/atom)", title: str | None = None):
    """PNG of heating curve(s) with both fitted lines and the fold (one colour per replica).

    ``results``: a :class:`TgResult`, a list of them, or a :class:`TgReplicas`.
    """
    if isinstance(results, TgReplicas):
        results = results.results
    if isinstance(results, TgResult):
        results = [results]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for k, r in enumerate(results):
        col = f"C{k}"
        ax.plot(r.temperatures, r.energies, ".", ms=2, color=col, alpha=0.5)
        t = r.temperatures
        ax.plot([t[0], max(r.tg, t[0])], r.low([t[0], max(r.tg, t[0])]), "-", color=col, lw=1)
        ax.plot([min(r.tg, t[-1]), t[-1]], r.high([min(r.tg, t[-1]), t[-1]]), "--", color=col, lw=1)
        if r.hyperbola is not None:
            ax.plot(t, r.model(t), ":", color=col, lw=1)
        ax.axvline(r.tg, color=col, lw=0.8, alpha=0.7)
        ax.axvspan(r.tg - r.tg_err, r.tg + r.tg_err, color=col, alpha=0.1)
        ax.plot([], [], "o", color=col, label=f"Tg = {r.tg:.0f} +- {r.tg_err:.0f} K")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path)
