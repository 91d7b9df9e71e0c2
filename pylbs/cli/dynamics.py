"""``pylbs tg`` and ``pylbs diffusion``: analyse existing output, or run the protocol first.

Analyse::

    pylbs tg runs/tg/replica_*/heating_curve.dat --json      # or thermo.dat, or two columns T E
    pylbs diffusion runs/d/T500/trajectory.lammpstrj runs/d/T900/trajectory.lammpstrj --json

Run (from an equilibrated 300 K glass, e.g. ``final.data`` of ``pylbs quench``)::

    mpirun -np 2 pylbs tg --data final.data --fmp --replicas 3 --rate 10 --t-max 2000 --out runs/tg
    mpirun -np 2 pylbs diffusion --data final.data --mlp model.pth --temperatures 500 600 700 900 \\
        --ensemble nvt --out runs/diff

``--json`` prints one JSON object (the summary) on stdout.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis import diffusion as dif
from ..analysis.tg import bin_curve, plot_tg, tg_over_replicas
from ..errors import AnalysisError, PylbsError
from ..lammps_io import THERMO_FILE, read_thermo
from ..glasses import parse_pair_values
from ..potential import fmp_commands
from ..protocols.guard import DEFAULT_CONFIRM_PS, DEFAULT_MAX_DEVI_F, Guard
from ..protocols.diffusion import run_diffusion
from ..protocols.schedules import PAPER_TEMPERATURES_K, RELAX_START_COMMANDS
from ..protocols.tg import run_tg_heating
from .common import add_quiet, model_arg, print_json, rank0


def _potential_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fmp", nargs="?", const="", default=None, metavar="PARAM_FILE",
                   help="FMP-LBS potential (optional parameter file; default pylbs/data/lbs_default.fmp)")
    g.add_argument("--mlp", nargs="+", default=None, metavar="MODEL", type=model_arg,
                   help="DeepMD model(s) (pair_style deepmd) or `default` (the shipped model); the first drives the MD, two or more add the model "
                        "deviation to the guard")
    g2 = p.add_argument_group("unphysical-event guard of --mlp runs (pylbs.protocols.guard)")
    g2.add_argument("--max-devi-f", type=float, default=DEFAULT_MAX_DEVI_F,
                    help="stop when the models' max force deviation exceeds this (eV/A)")
    g2.add_argument("--guard-confirm-fs", type=float, default=DEFAULT_CONFIRM_PS * 1000,
                    help="guard: fs a pair may stay under its limit before it is an overlap "
                         "(default %(default)g: collisions clear sooner); 0: stop at the first check under it")
    g2.add_argument("--min-distance", nargs="+", default=(), metavar="A-B=D",
                    help="per-pair closest approach in A overriding GUARD_MIN_DISTANCES, e.g. Li-O=1.3")
    g2.add_argument("--zbl-core", type=float, nargs=2, default=None, metavar=("INNER", "OUTER"),
                    help="overlay ZBL repulsion switched off between INNER and OUTER A (not in the paper)")
    g2.add_argument("--no-compress", dest="compress", action="store_const", const=False, default=None,
                    help="run the models as given (default: their compressed copies, made once by `dp --pt "
                         "compress` and cached beside them, unless PYLBS_COMPRESS=0)")


def _run_args(p, ensemble="nvt", several=False):
    p.add_argument("--data", default=None, nargs="+" if several else None,
                   help="run the protocol from this LAMMPS data file (a 300 K glass)" + (
                       "; several: one independent run each (the paper: three)" if several else ""))
    _potential_args(p)
    p.add_argument("--out", default=None, help="output folder of a run (re-running it resumes)")
    p.add_argument("--ensemble", choices=("npt", "nvt"), default=ensemble, help=f"default {ensemble}")
    p.add_argument("--pressure", type=float, default=None, help="NPT pressure (bar), default 1")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiply every duration (demos: 0.01)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minimize", action="store_true", help="minimise the structure first (random starts)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_quiet(p)


def _potential(args) -> dict:
    """Keyword arguments of a protocol for the chosen potential (DeepMD models are guarded)."""
    if args.mlp:
        return {"models": args.mlp, "zbl_core": tuple(args.zbl_core) if args.zbl_core else None,
                "compress": args.compress,
                "guard": Guard(parse_pair_values(args.min_distance, "--min-distance"), confirm_ps=args.guard_confirm_fs / 1000, max_devi_f=args.max_devi_f)}
    if args.fmp is not None:
        return {"potential": fmp_commands(args.fmp or None)}
    raise PylbsError("running a protocol needs a potential: --fmp [PARAM_FILE] or --mlp MODEL")


def _check_mode(args, what):
    if args.data and args.inputs:
        raise PylbsError(f"give either {what} files to analyse or --data to run, not both")
    if not args.data and not args.inputs:
        raise PylbsError(f"give {what} files to analyse, or --data FILE --fmp|--mlp MODEL --out DIR to run")
    if args.data and not args.out:
        raise PylbsError("a run needs --out DIR")


# ------------------------------------------------------------------ tg

def add_tg_parser(sub):
    p = sub.add_parser("tg", help="Tg from heating curves (fold of PE(T)); analyse files or run the heating")
    p.add_argument("inputs", nargs="*", help="heating_curve.dat, thermo.dat or two-column T E files (one per replica)")
    p.add_argument("--method", choices=("bilinear", "two_lines", "hyperbola"), default="bilinear")
    p.add_argument("--temperature", choices=("target", "measured"), default="target",
                   help="x axis: the thermostat's ramp (heating_curve.dat, runs) or the instantaneous T")
    p.add_argument("--t-min", type=float, default=None, help="fit only above this temperature (K)")
    p.add_argument("--fit-t-max", type=float, default=None, help="fit only below this temperature (K)")
    p.add_argument("--bin", type=float, default=None, metavar="K", help="average into bins of K kelvin first")
    p.add_argument("--plot", default=None, help="PNG with the curves, both lines and the fold")
    p.add_argument("--replicas", type=int, default=None,
                   help="with ONE --data structure: velocity seeds (default 3); several --data: one run each")
    p.add_argument("--rate", type=float, default=10.0, help="heating rate (K/ps)")
    p.add_argument("--t-start", type=float, default=300.0)
    p.add_argument("--t-max", type=float, default=2000.0)
    p.add_argument("--equil-ps", type=float, default=50.0, help="300 K equilibration before the ramp (ps)")
    _run_args(p, ensemble="nvt", several=True)
    p.set_defaults(func=run_tg)
    return p


def read_heating_file(path, temperature: str = "target"):
    """(T, E) of a heating_curve.dat, a pylbs thermo.dat (T = measured temp, E = pe) or a two-column file."""
    path = Path(path)
    with open(path) as f:
        first = f.readline()
    data = np.loadtxt(path, ndmin=2)
    if "T_target_K" in first:
        return (data[:, 1] if temperature == "target" else data[:, 2]), data[:, 3]
    if data.shape[1] >= 8:  # thermo.dat: step time temp pe ke etotal press vol
        return data[:, 2], data[:, 3]
    if data.shape[1] == 2:
        return data[:, 0], data[:, 1]
    raise AnalysisError(f"{path}: {data.shape[1]} columns; give heating_curve.dat, a pylbs thermo.dat or "
                        "two columns (T, E)")


def run_tg(args) -> int:
    _check_mode(args, "heating-curve")
    if args.data:
        structures = args.data if len(args.data) > 1 else args.data[0]
        s = run_tg_heating(structures, args.out, **_potential(args), replicas=args.replicas, seed=args.seed,
                           t_start=args.t_start, t_max=args.t_max, rate_K_per_ps=args.rate, equil_ps=args.equil_ps,
                           ensemble=args.ensemble, pressure_bar=args.pressure, time_scale=args.time_scale,
                           temperature=args.temperature, method=args.method, fit_t_min=args.t_min,
                           prepare=RELAX_START_COMMANDS if args.minimize else ())
        if rank0():
            if args.json:
                print_json(s)
            else:
                print(f"Tg = {s['tg_K']:.0f} +- {s['tg_err_K']:.0f} K (mean +- std of {len(s['replicas'])} runs, "
                      f"{s['ensemble']}, {s['rate_K_per_ps']:g} K/ps); per run: "
                      + ", ".join(f"{t:.0f}" for t in s["tg_per_replica_K"]) + f" K; plot {s['plot']}")
        return 0
    curves = []
    for f in args.inputs:
        t, e = read_heating_file(f, args.temperature)
        if args.bin:
            t, e = bin_curve(t, e, args.bin)
        curves.append((t, e))
    rep = tg_over_replicas(curves, method=args.method, t_min=args.t_min, t_max=args.fit_t_max)
    if args.plot:
        plot_tg(rep, args.plot)
    out = rep.to_dict()
    out["inputs"] = [str(f) for f in args.inputs]
    out["tg_err_meaning"] = ("standard deviation over the inputs" if len(curves) > 1
                             else "fit uncertainty of the single curve (68 % profile interval half-width)")
    if len(curves) == 1:
        out["tg_err"] = rep.results[0].tg_err
    if args.json:
        print_json(out)
    else:
        for f, r in zip(args.inputs, rep.results):
            print(f"{f}: Tg = {r.tg:.0f} +- {r.tg_err:.0f} K ({r.method})")
        print(f"Tg = {out['tg']:.0f} +- {out['tg_err']:.0f} K ({out['tg_err_meaning']})")
    return 0


# ------------------------------------------------------------------ diffusion

def add_diffusion_parser(sub):
    p = sub.add_parser("diffusion", help="Li diffusion, C_Li*D, Nernst-Einstein sigma, Arrhenius Ea")
    p.add_argument("inputs", nargs="*", help="LAMMPS dump files (id type x y z ix iy iz, or xu yu zu)")
    p.add_argument("--temperatures", type=float, nargs="+", default=None,
                   help="K; with --data: the run temperatures (default 500 600 700 900); with files: one per "
                        "file (default: mean temp of thermo.dat next to each file)")
    p.add_argument("--window", type=float, nargs=2, default=(50.0, 150.0), metavar=("T0", "T1"),
                   help="fit window of MSD lags (ps), paper 50 150 (scaled by --time-scale in runs)")
    p.add_argument("--discard-ps", type=float, default=50.0, help="drop the first ps of each trajectory")
    p.add_argument("--timestep-ps", type=float, default=0.001, help="MD time step of the dumps (ps)")
    p.add_argument("--duration-ps", type=float, default=300.0)
    p.add_argument("--dump-every-ps", type=float, default=1.0)
    p.add_argument("--keep-drift", action="store_true", help="do not remove the centre-of-mass drift")
    p.add_argument("--plot-dir", default=None, help="write msd.png and arrhenius.png here (file mode)")
    _run_args(p, ensemble="npt")
    p.set_defaults(func=run_diffusion_cli)
    return p


def _thermo_temperature(traj: Path):
    th = traj.parent / THERMO_FILE
    if th.exists():
        return float(read_thermo(th)["temp"].mean())
    return None


def run_diffusion_cli(args) -> int:
    _check_mode(args, "trajectory")
    if args.data:
        s = run_diffusion(args.data, args.out, **_potential(args),
                          temperatures=args.temperatures or PAPER_TEMPERATURES_K, duration_ps=args.duration_ps,
                          ensemble=args.ensemble, pressure_bar=args.pressure, discard_ps=args.discard_ps,
                          window=tuple(args.window), dump_every_ps=args.dump_every_ps, time_scale=args.time_scale,
                          seed=args.seed, prepare=RELAX_START_COMMANDS if args.minimize else (),
                          remove_drift=not args.keep_drift)
        if rank0():
            print_json(s) if args.json else _print_diffusion(s)
        return 0
    temps = args.temperatures
    if temps is not None and len(temps) != len(args.inputs):
        raise PylbsError(f"{len(temps)} temperatures for {len(args.inputs)} trajectories; give one per file")
    per, curves = [], {}
    for k, f in enumerate(args.inputs):
        res = dif.analyze_trajectory(f, args.timestep_ps, tuple(args.window), args.discard_ps, not args.keep_drift)
        T = temps[k] if temps is not None else _thermo_temperature(Path(f))
        entry = {"trajectory": str(f), "temperature_K": T, "volume_A3": res.volume_A3, "counts": res.counts,
                 "D": {el: fit.to_dict() for el, fit in res.fits.items()}}
        if "Li" in res.fits:
            n = dif.number_density(res.counts["Li"], res.volume_A3)
            d = res.fits["Li"].D
            entry.update({"D_Li_A2_per_ps": d, "D_Li_err_A2_per_ps": res.fits["Li"].D_err,
                          "D_Li_block_err_A2_per_ps": res.block_err.get("Li"), "C_Li_per_A3": n,
                          "C_Li_times_D_per_cm_s": dif.c_times_d(n, d),
                          "sigma_NE_S_per_cm": dif.nernst_einstein(n, d, T) if T else None})
            curves[f"{T:g} K" if T else Path(f).parent.name] = res
        per.append(entry)
    out = {"temperatures": per, "fit": {"window_ps": list(args.window), "discard_ps": args.discard_ps,
                                        "remove_drift": not args.keep_drift},
           "conductivity_note": "Nernst-Einstein with Haven ratio 1, q = +1 e", "arrhenius_Li": None}
    ts = [p["temperature_K"] for p in per if "D_Li_A2_per_ps" in p]
    if len(ts) >= 2 and all(t is not None for t in ts) and len(set(ts)) >= 2:
        fit = dif.arrhenius_fit(ts, [p["D_Li_A2_per_ps"] for p in per if "D_Li_A2_per_ps" in p])
        out["arrhenius_Li"] = fit.to_dict()
        if args.plot_dir:
            dif.plot_arrhenius({"Li": fit}, Path(args.plot_dir) / "arrhenius.png")
    if args.plot_dir and curves:
        dif.plot_msd(curves, Path(args.plot_dir) / "msd.png")
    print_json(out) if args.json else _print_diffusion(out)
    return 0


def _print_diffusion(s):
    for p in s["temperatures"]:
        T = p.get("temperature_K")
        line = f"T = {T:g} K: " if T else f"{p.get('trajectory')}: "
        if "D_Li_A2_per_ps" in p:
            line += (f"D_Li = {p['D_Li_A2_per_ps']:.4g} +- {p['D_Li_err_A2_per_ps']:.2g} A^2/ps, "
                     f"C_Li*D = {p['C_Li_times_D_per_cm_s']:.3g} /(cm s)")
            if p.get("sigma_NE_S_per_cm") is not None:
                line += f", sigma_NE = {p['sigma_NE_S_per_cm']:.3g} S/cm (Haven ratio 1)"
        print(line)
    a = s.get("arrhenius_Li")
    if a:
        err = a["Ea_err_eV"]
        err = float("nan") if err is None else err
        print(f"Ea(Li) = {a['Ea_eV']:.3f} +- {err:.3f} eV" + (" (2 temperatures: no error)" if math.isnan(err) else ""))


def add_parsers(sub) -> None:
    add_tg_parser(sub)
    add_diffusion_parser(sub)
