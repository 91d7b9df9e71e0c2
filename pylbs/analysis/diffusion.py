"""Li diffusion: unwrapped trajectories, multi-origin MSD, D, C_Li*D, Nernst-Einstein sigma, Arrhenius Ea.

Paper ("Li ion conductivity"): NPT runs of 300 ps at 500 K; the first 50 ps are
discarded and D comes from the linear part of the MSD between 50 and 150 ps,
Eq. (6) ``MSD(t) = 6 D t``; Fig. 9a compares ``C_Li x D`` (C_Li: Li number
density) with measured conductivity; Table 3 gives Ea from ``D = D0 exp(-Ea /
k_B T)`` at 500, 600, 700 and 900 K.

Pieces (plain functions over numpy arrays; :class:`MSDAnalysis` wraps them freud-style):

* trajectories come from :func:`pylbs.lammps_io.read_trajectory` (OVITO's dump reader and
  unwrapping through image flags: exact across periodic boundaries, the box of each
  frame is used so NPT is handled, any box shape);
* :func:`msd_fft` - MSD averaged over all time origins and atoms, O(N log N) per
  atom with the FFT (Calandrini et al., Collection SFN 12, 201 (2011)).
* :func:`species_msd` - MSD per element, optionally with the centre-of-mass drift removed.
* :func:`diffusion_coefficient` - ``D = slope / 6`` (A^2/ps) of a straight-line fit
  in a time window, with the slope's standard error / 6.
* :func:`nernst_einstein` - ``sigma = n q^2 D / (k_B T)`` in S/cm, Haven ratio 1
  (no ion-ion correlation; the measured Haven ratio of Li glasses is ~0.3-0.5).
* :func:`arrhenius_fit` - Ea (eV) and its error from ``ln D`` vs ``1/T``.

Units: A, ps, K; D in A^2/ps (1 A^2/ps = 1e-4 cm^2/s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import AnalysisError
from ..glasses import ATOMIC_MASS, TYPE_MAP
from ..lammps_io import Trajectory, read_trajectory
from ..plotting import pyplot, save
from ..stats import STD_CONVENTION

#: Boltzmann constant (eV/K) and elementary charge (C), CODATA 2018.
KB_EV = 8.617333262e-5
E_CHARGE = 1.602176634e-19
A2_PER_PS_TO_CM2_PER_S = 1e-4


# ------------------------------------------------------------------ MSD

def msd_fft(positions, per_atom: bool = False) -> np.ndarray:
    """MSD(lag) averaged over all time origins and atoms, lag = 0 .. frames-1 (A^2).

    ``per_atom``: return the (frames, atoms) origin-averaged MSD of every atom instead.

    ``positions``: (frames, atoms, 3) unwrapped, equally spaced in time.
    MSD(m) = S1(m) - 2 S2(m), S2 the position autocorrelation by FFT.
    """
    r = np.asarray(positions, dtype=float)
    if r.ndim != 3 or r.shape[2] != 3:
        raise AnalysisError(f"positions of shape {r.shape}; give (frames, atoms, 3)")
    n = r.shape[0]
    d = np.square(r).sum(axis=2)  # (n, atoms)
    d = np.vstack([d, np.zeros((1, d.shape[1]))])
    q = 2.0 * d.sum(axis=0)
    s1 = np.empty((n, r.shape[1]))
    for m in range(n):
        q = q - d[m - 1] - d[n - m]
        s1[m] = q / (n - m)
    f = np.fft.rfft(r, n=2 * n, axis=0)
    acf = np.fft.irfft(f * f.conj(), axis=0)[:n].sum(axis=2)  # (n, atoms)
    s2 = acf / (n - np.arange(n))[:, None]
    msd = s1 - 2.0 * s2
    msd[0] = 0.0  # exact by definition (the FFT leaves round-off)
    return msd if per_atom else msd.mean(axis=1)


def msd_direct(positions, max_lag: int | None = None) -> np.ndarray:
    """Same as :func:`msd_fft` by explicit loops over lags (reference, O(N^2))."""
    r = np.asarray(positions, dtype=float)
    n = r.shape[0]
    m_max = n if max_lag is None else min(n, max_lag + 1)
    return np.array([np.square(r[m:] - r[:n - m]).sum(axis=2).mean() for m in range(m_max)])


def species_msd(traj: Trajectory, type_map=TYPE_MAP, remove_drift: bool = True,
                species=None, per_atom: bool = False) -> dict[str, np.ndarray]:
    """MSD per element (A^2 at each lag), multi-origin.

    ``remove_drift``: subtract the mass-weighted centre-of-mass displacement of all
    atoms first (a thermostatted box can drift; LAMMPS ``compute msd com yes``).
    """
    steps = np.diff(traj.steps)
    if steps.size and not np.all(steps == steps[0]):
        raise AnalysisError(f"frames are not equally spaced in time (steps {sorted(set(steps.tolist()))}); "
                            "multi-origin MSD needs a constant dump interval")
    r = traj.positions
    sym = traj.symbols(type_map)
    if remove_drift:
        m = np.array([ATOMIC_MASS.get(s, 1.0) for s in sym])
        com = (r * m[None, :, None]).sum(axis=1) / m.sum()
        r = r - (com - com[0])[:, None, :]
    out = {}
    for el in (species or [s for s in type_map if np.any(sym == s)]):
        sel = sym == el
        if not sel.any():
            raise AnalysisError(f"no {el} atoms in the trajectory (elements: {sorted(set(sym))})")
        out[el] = msd_fft(r[:, sel, :], per_atom=per_atom)
    return out


# ------------------------------------------------------------------ D, sigma, Ea

@dataclass
class DiffusionFit:
    """``D`` (A^2/ps) and ``D_err`` from MSD = 6 D t + c fitted in ``window`` (ps)."""

    D: float
    D_err: float
    slope: float
    intercept: float
    window: tuple[float, float]
    n_points: int

    @property
    def D_cm2_s(self) -> float:
        return self.D * A2_PER_PS_TO_CM2_PER_S

    @property
    def D_err_cm2_s(self) -> float:
        return self.D_err * A2_PER_PS_TO_CM2_PER_S

    def to_dict(self) -> dict:
        return {"D_A2_per_ps": self.D, "D_err_A2_per_ps": self.D_err, "D_cm2_per_s": self.D_cm2_s,
                "D_err_cm2_per_s": self.D_err_cm2_s, "slope_A2_per_ps": self.slope,
                "intercept_A2": self.intercept, "window_ps": list(self.window), "n_points": self.n_points}


def diffusion_coefficient(times_ps, msd_A2, window=(50.0, 150.0), msd_err=None, dim: int = 3) -> DiffusionFit:
    """D = slope / (2 dim) of a least-squares line through MSD(t) for ``window[0] <= t <= window[1]`` (ps).

    Paper Eq. (6) and window 50-150 ps. ``msd_err`` (optional, e.g. the std
    over models) weights the fit. The error is the slope's standard error / (2 dim);
    MSD points of one run are correlated, so it is a lower bound: compare runs.
    """
    t = np.asarray(times_ps, dtype=float)
    y = np.asarray(msd_A2, dtype=float)
    if t.shape != y.shape:
        raise AnalysisError(f"{t.size} times but {y.size} MSD values")
    lo, hi = float(window[0]), float(window[1])
    sel = (t >= lo - 1e-9) & (t <= hi + 1e-9) & np.isfinite(y)
    if sel.sum() < 3:
        raise AnalysisError(f"only {int(sel.sum())} MSD points in the window {lo:g}-{hi:g} ps (data "
                            f"{t.min() if t.size else 0:g}-{t.max() if t.size else 0:g} ps); a fit needs 3: "
                            "run longer, dump more often or move the window")
    sigma = None
    if msd_err is not None:
        sigma = np.asarray(msd_err, dtype=float)[sel]
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            sigma = None
    (slope, intercept), (slope_err, _) = _line_fit(t[sel], y[sel], sigma)
    return DiffusionFit(slope / (2 * dim), slope_err / (2 * dim), slope, intercept, (lo, hi), int(sel.sum()))


def _line_fit(x, y, sigma=None):
    """Least-squares line y = a x + b: ((a, b), (err a, err b)).

    With ``sigma`` the errors are the absolute ones of the weighted fit; without,
    they are scaled by the residual variance (n - 2 degrees of freedom; NaN for 2 points).
    """
    A = np.column_stack([x, np.ones_like(x)])
    wts = np.ones_like(y) if sigma is None else 1.0 / np.asarray(sigma, dtype=float)
    Aw, yw = A * wts[:, None], y * wts
    coef, *_ = np.linalg.lstsq(Aw, yw, rcond=None)
    cov = np.linalg.inv(Aw.T @ Aw)
    if sigma is None:
        dof = x.size - 2
        r = yw - Aw @ coef
        cov = cov * (float(r @ r) / dof if dof > 0 else float("nan"))
    return (float(coef[0]), float(coef[1])), (float(math.sqrt(cov[0, 0])), float(math.sqrt(cov[1, 1])))


def number_density(n_atoms: int, volume_A3: float) -> float:
    """Atoms per A^3."""
    return n_atoms / volume_A3


def nernst_einstein(n_per_A3: float, D_A2_per_ps: float, temperature_K: float, charge: float = 1.0,
                    haven_ratio: float = 1.0) -> float:
    """Conductivity (S/cm) ``sigma = n (q e)^2 D / (H_R k_B T)``; Haven ratio 1 unless given.

    ``n`` in A^-3, ``D`` in A^2/ps.
    """
    n_m3 = n_per_A3 * 1e30
    d_m2_s = D_A2_per_ps * 1e-8
    kt_j = KB_EV * E_CHARGE * temperature_K
    sigma_s_m = n_m3 * (charge * E_CHARGE) ** 2 * d_m2_s / (haven_ratio * kt_j)
    return sigma_s_m / 100.0


def c_times_d(n_per_A3: float, D_A2_per_ps: float) -> float:
    """C_Li x D in cm^-1 s^-1 (paper Fig. 9a): number density (cm^-3) times D (cm^2/s)."""
    return (n_per_A3 * 1e24) * (D_A2_per_ps * A2_PER_PS_TO_CM2_PER_S)


@dataclass
class ArrheniusFit:
    """``D = D0 exp(-Ea / k_B T)``: ``ea`` and ``ea_err`` (eV), ``d0`` (units of D) and its log error."""

    ea: float
    ea_err: float
    d0: float
    ln_d0_err: float
    temperatures: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)

    def __call__(self, t):
        return self.d0 * np.exp(-self.ea / (KB_EV * np.asarray(t, dtype=float)))

    def to_dict(self) -> dict:
        return {"Ea_eV": self.ea, "Ea_err_eV": self.ea_err, "D0": self.d0, "ln_D0_err": self.ln_d0_err,
                "temperatures_K": self.temperatures.tolist(), "D": self.values.tolist()}


def arrhenius_fit(temperatures_K, D, D_err=None) -> ArrheniusFit:
    """Ea (eV) from a straight line through ``ln D`` vs ``1 / (k_B T)`` (paper Table 3).

    ``D_err`` (same units as D) weights the points by D / D_err. With two points
    the error is undefined (NaN).
    """
    t = np.asarray(temperatures_K, dtype=float)
    d = np.asarray(D, dtype=float)
    if t.size != d.size or t.size < 2:
        raise AnalysisError(f"{t.size} temperatures and {d.size} D values; an Arrhenius fit needs at least 2 of each")
    if np.any(d <= 0) or np.any(t <= 0):
        raise AnalysisError(f"D = {d.tolist()} at T = {t.tolist()}: an Arrhenius fit needs positive D and T; "
                            "a non-positive D means the MSD did not grow in the window (run longer or hotter)")
    x, y = 1.0 / (KB_EV * t), np.log(d)
    sigma = None
    if D_err is not None:
        rel = np.asarray(D_err, dtype=float) / d  # error of ln D
        sigma = rel if np.all(rel > 0) and np.all(np.isfinite(rel)) else None
    (slope, ln_d0), (ea_err, ln_err) = _line_fit(x, y, sigma)
    coef = (slope, ln_d0)
    return ArrheniusFit(float(-coef[0]), ea_err, float(math.exp(coef[1])), ln_err, t, d)


# ------------------------------------------------------------------ one-call analysis

@dataclass
class MSDResult:
    times_ps: np.ndarray
    msd: dict[str, np.ndarray]
    counts: dict[str, int]
    volume_A3: float
    fits: dict[str, DiffusionFit]
    #: standard error of D from independent atom blocks (A^2/ps; None: too few atoms)
    block_err: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self, with_curves: bool = False) -> dict:
        d = {"counts": self.counts, "volume_A3": self.volume_A3,
             "fits": {k: v.to_dict() for k, v in self.fits.items()}, "D_block_err_A2_per_ps": self.block_err,
             "D_block_err_convention": f"over atom blocks, {STD_CONVENTION}, divided by sqrt(blocks)"}
        if with_curves:
            d["times_ps"] = self.times_ps.tolist()
            d["msd_A2"] = {k: v.tolist() for k, v in self.msd.items()}
        return d


def analyze_trajectory(traj: Trajectory | str, timestep_ps: float = 0.001, window=(50.0, 150.0),
                       discard_ps: float = 0.0, remove_drift: bool = True, type_map=TYPE_MAP,
                       species=None, n_blocks: int = 5) -> MSDResult:
    """MSD per species and D per species of a trajectory (a :class:`Trajectory` or a dump path).

    Frames in the first ``discard_ps`` are dropped (paper: 50 ps); lags in ``window`` are fitted.
    ``block_err``: the atoms of a species are split into ``n_blocks`` groups, D is fitted
    for each and the standard error of the mean is reported; it includes the
    atom-to-atom scatter that the fit error of the averaged MSD misses.
    """
    if not isinstance(traj, Trajectory):
        traj = read_trajectory(traj)
    t_all = traj.times_ps(timestep_ps)
    keep = t_all >= discard_ps - 1e-9
    if keep.sum() < 4:
        raise AnalysisError(f"{int(keep.sum())} frames after discarding {discard_ps:g} ps; run longer")
    sub = traj.select(keep)
    per_atom = species_msd(sub, type_map=type_map, remove_drift=remove_drift, species=species, per_atom=True)
    msd = {el: m.mean(axis=1) for el, m in per_atom.items()}
    times = sub.times_ps(timestep_ps)
    counts = {el: int(m.shape[1]) for el, m in per_atom.items()}
    fits = {el: diffusion_coefficient(times, m, window) for el, m in msd.items()}
    block_err = {}
    for el, m in per_atom.items():
        if n_blocks >= 2 and m.shape[1] >= 2 * n_blocks:
            ds = [diffusion_coefficient(times, m[:, k::n_blocks].mean(axis=1), window).D for k in range(n_blocks)]
            block_err[el] = float(np.std(ds, ddof=1) / math.sqrt(n_blocks))
        else:
            block_err[el] = None
    return MSDResult(times, msd, counts, float(sub.volumes.mean()), fits, block_err)


class MSDAnalysis:
    """freud-style: ``MSDAnalysis(window=(50, 150)).compute(traj)``, then ``.D['Li']``, ``.result``."""

    def __init__(self, timestep_ps: float = 0.001, window=(50.0, 150.0), discard_ps: float = 0.0,
                 remove_drift: bool = True):
        self.kw = {"timestep_ps": timestep_ps, "window": window, "discard_ps": discard_ps,
                   "remove_drift": remove_drift}
        self.result: MSDResult | None = None

    def compute(self, traj) -> "MSDAnalysis":
        self.result = analyze_trajectory(traj, **self.kw)
        return self

    @property
    def D(self) -> dict[str, float]:
        return {k: v.D for k, v in self.result.fits.items()}


# ------------------------------------------------------------------ plots

def plot_msd(curves, path, fits=None, species=("Li",), title: str | None = None):
    """MSD vs time with the fit window shaded and the fitted lines.

    ``curves``: {label: (times_ps, msd_A2)}; ``fits``: {label: DiffusionFit}.
    Also accepts {label: MSDResult} (its ``species`` curves are drawn).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    flat, ffits = {}, dict(fits or {})
    for label, c in curves.items():
        if isinstance(c, MSDResult):
            for el in species:
                if el in c.msd:
                    flat[f"{label} {el}"] = (c.times_ps, c.msd[el])
                    ffits[f"{label} {el}"] = c.fits[el]
        else:
            flat[label] = c
    windows = set()
    for k, (label, (t, m)) in enumerate(flat.items()):
        ax.plot(t, m, "-", color=f"C{k}", lw=1, label=label)
        if label in ffits:
            f = ffits[label]
            tt = np.array(f.window)
            ax.plot(tt, f.intercept + f.slope * tt, "--", color=f"C{k}", lw=1.5,
                    label=f"D = {f.D:.3g} +- {f.D_err:.1g} A$^2$/ps")
            windows.add(f.window)
    for w in windows:
        ax.axvspan(*w, color="0.5", alpha=0.12)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("MSD (A$^2$)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return save(fig, path)


def plot_arrhenius(fits, path, title: str | None = None):
    """ln D vs 1000/T with the fitted lines; ``fits``: an ArrheniusFit or {label: ArrheniusFit}."""
    if isinstance(fits, ArrheniusFit):
        fits = {"": fits}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    for k, (label, f) in enumerate(fits.items()):
        x = 1000.0 / f.temperatures
        ax.semilogy(x, f.values, "o", color=f"C{k}")
        xx = np.linspace(x.min(), x.max(), 50)
        ax.semilogy(xx, f(1000.0 / xx), "-", color=f"C{k}",
                    label=f"{label} Ea = {f.ea:.2f} +- {f.ea_err:.2f} eV".strip())
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (A$^2$/ps)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path)


def plot_c_times_d(names, values, path, errors=None, measured_sigma=None):
    """C_Li x D (cm^-1 s^-1) per glass, optionally against measured conductivity (S/cm, right axis)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(names) + 2), 4.0))
    x = np.arange(len(names))
    ax.errorbar(x, values, yerr=errors, fmt="o", color="C0", capsize=3, label="MD: C$_{Li}$ x D")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("C$_{Li}$ x D (cm$^{-1}$ s$^{-1}$)")
    if measured_sigma is not None:
        ax2 = ax.twinx()
        ax2.semilogy(x, measured_sigma, "s", color="C1", label="measured sigma")
        ax2.set_ylabel("conductivity (S/cm)")
        ax2.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)
