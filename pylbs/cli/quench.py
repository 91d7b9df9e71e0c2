"""``pylbs quench`` (the paper's FMP melt-quench, then optionally the DeepMD stage) and ``pylbs build``.

Run under MPI as ``mpirun -np 2 pylbs quench --glass LBS-20-60-20 --atoms 300
--time-scale 0.01 --out runs/lbs206020`` (``scripts/quench.py`` is the same command).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PylbsError
from ..glasses import glass_of_symbols, parse_pair_values
from ..lammps_env import mpi_comm
from ..lammps_io import FINAL_DATA, SUMMARY_FILE
from ..protocols.guard import DEFAULT_CONFIRM_PS, DEFAULT_MAX_DEVI_F, Guard
from ..protocols.melt_quench import run_fmp_melt_quench
from ..protocols.mlp_quench import mlp_folder_name, run_mlp_quench
from ..protocols.schedules import EMIN_MAX_ITER, emin_commands, t_max_for
from ..structure import random_structure, read_lammps_data, write_lammps_data
from .common import add_glass_args, add_quiet, glass_of, model_arg


def add_mlp_arguments(p) -> None:
    """The MLP options of ``pylbs quench`` (FMP only when --mlp is absent)."""
    g = p.add_argument_group("DeepMD stage (paper: FMP glass -> MLP remelt, quench, Emin)")
    g.add_argument("--mlp", nargs="+", default=None, metavar="MODEL", type=model_arg,
                   help="frozen DeepMD model(s) or `default` (the shipped model); the first drives the MD, two or more give model deviation")
    g.add_argument("--from", dest="from_data", default=None, metavar="DATA",
                   help="start the MLP stage from this FMP glass (LAMMPS data) instead of running FMP first")
    g.add_argument("--schedule", choices=("fast", "anneal"), default="anneal",
                   help="fast: 10 K/ps to 300 K; anneal: 10 K/ps to 1000 K, hold, 2 K/ps to 300 K")
    g.add_argument("--mlp-time-scale", type=float, default=None, metavar="SCALE",
                   help="time scale of the DeepMD stage alone (default: --time-scale); DeepMD MD costs ~35x FMP "
                        "per step on a CPU, so a laptop run may give it a shorter schedule than FMP's")
    g.add_argument("--replicas", type=int, default=1, help="independent seeds (--seed, --seed+1, ...)")
    g.add_argument("--t-max", type=float, default=None,
                   help="remelt temperature, K (default: composition rule, pylbs.protocols.schedules.default_t_max)")
    g.add_argument("--anneal-hold-ps", type=float, nargs="+", default=[200.0], metavar="PS",
                   help="hold(s) at 1000 K of the anneal schedule; several make the replica axis as in the paper's "
                        "error bars (200 400 600), each run with --replicas seeds")
    g.add_argument("--sample-frames", type=int, default=100, help="frames of the last 100 ps kept for 4B/5Si")
    g.add_argument("--cool-frame-every-K", type=float, default=None, metavar="K",
                   help="also dump a frame every K kelvin while cooling (paper Figs 6-7: 10), for "
                        "`pylbs analyze REPLICA_FOLDER --formation`")
    g.add_argument("--max-devi-f", type=float, default=DEFAULT_MAX_DEVI_F,
                   help="guard: stop when the models' max force deviation exceeds this (eV/A)")
    g.add_argument("--guard-confirm-fs", type=float, default=DEFAULT_CONFIRM_PS * 1000,
                   help="guard: fs a pair may stay under its limit before it is an overlap "
                        "(default %(default)g: collisions clear sooner); 0: stop at the first check under it")
    g.add_argument("--min-distance", nargs="+", default=(), metavar="A-B=D",
                   help="guard: per-pair closest approach in A overriding GUARD_MIN_DISTANCES, e.g. Li-O=1.3 O-O=1.6")
    g.add_argument("--emin-max-iter", type=int, default=EMIN_MAX_ITER,
                   help="Emin after the MD: at most this many CG iterations (0: no Emin)")
    g.add_argument("--zbl-core", type=float, nargs=2, default=None, metavar=("INNER", "OUTER"),
                   help="overlay ZBL repulsion switched off between INNER and OUTER A (not in the paper)")
    g.add_argument("--no-compress", dest="compress", action="store_const", const=False, default=None,
                   help="run the models as given (default: their compressed copies, made once by `dp --pt "
                        "compress` and cached beside them, unless PYLBS_COMPRESS=0)")


def configure_quench(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_glass_args(p)
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply every stage duration (1.0 = paper: 500 ps at 3500 K, 1 K/ps, 300 ps at 300 K)")
    p.add_argument("--out", required=True, help="output folder (re-running with the same folder resumes)")
    p.add_argument("--parameter-file", default=None, help="FMP parameter file (default pylbs/data/lbs_default.fmp)")
    p.add_argument("--ensemble", choices=("nvt", "npt"), default="nvt",
                   help="FMP melt-quench ensemble: NVT at the measured density (paper), or NPT (paper Fig. 5 legend)")
    p.add_argument("--pressure", type=float, default=None, help="NPT pressure (bar), default 1")
    add_quiet(p)
    add_mlp_arguments(p)  # --mlp/--from/--schedule/--replicas...: the DeepMD stage after (or instead of) FMP
    p.set_defaults(func=quench)
    return p


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def quench(args) -> int:
    comm = mpi_comm()
    if args.mlp or args.from_data:
        given = args.glass or args.composition
        return quench_with_mlp(args, comm, glass=glass_of(args) if given or not args.from_data else None)
    s = run_fmp_melt_quench(glass_of(args), args.atoms, args.out, time_scale=args.time_scale, seed=args.seed,
                            parameter_file=args.parameter_file, comm=comm, density=args.density,
                            ensemble=args.ensemble, pressure_bar=args.pressure)
    if comm.Get_rank() == 0:
        t = s["timing"]
        print(f"{s['glass']}: {s['n_atoms']} atoms {s['counts']}, {s['density_g_cm3']} g/cm^3, "
              f"time scale {s['time_scale']:g} ({s['schedule']['total_ps']:g} ps), seed {s['seed']}")
        print(f"4B  = {_pct(s['fraction_4B'])}   measured 4B = {_pct(s['measured_4B'])}")
        print(f"5Si = {_pct(s['fraction_5Si'])}")
        print(f"wall {t['wall_s']:.1f} s on {t['mpi_ranks']} rank(s); summary: {args.out}/{SUMMARY_FILE}")
    return 0


def quench_with_mlp(args, comm, glass=None) -> int:
    """``quench --mlp ...``: FMP melt-quench into OUT/fmp (unless --from), then the MLP stage into
    OUT/mlp-<schedule>-T<T_max>; prints 4B/5Si mean +- std over replicas."""
    if not args.mlp:
        raise PylbsError("--from starts the MLP stage: give the model(s) with --mlp model.pth")
    out = Path(args.out)
    fmp = None
    if args.from_data:
        start = Path(args.from_data)
    else:
        fmp = run_fmp_melt_quench(glass, args.atoms, out / "fmp", time_scale=args.time_scale, seed=args.seed,
                            parameter_file=args.parameter_file, comm=comm, density=args.density,
                            ensemble=args.ensemble, pressure_bar=args.pressure)
        start = out / "fmp" / FINAL_DATA
    if not start.is_file():
        raise PylbsError(f"start structure {start} does not exist; give the FMP glass's final.data with --from")
    symbols = read_lammps_data(start).get_chemical_symbols()
    if glass is None:  # a structure of unknown origin: its stoichiometry is the only source
        glass = glass_of_symbols(symbols)
    t_max, source = (args.t_max, "given (--t-max)") if args.t_max is not None else t_max_for(glass, len(symbols))
    name = mlp_folder_name(args.schedule, t_max, args.anneal_hold_ps, args.cool_frame_every_K)
    s = run_mlp_quench(start, args.mlp, out / name, glass=glass, kind=args.schedule, t_max=t_max,
                       replicas=args.replicas, seed=args.seed,
                       time_scale=args.time_scale if args.mlp_time_scale is None else args.mlp_time_scale,
                       anneal_holds_ps=args.anneal_hold_ps, sample_frames=args.sample_frames, density=args.density,
                       t_max_source=source, cool_frame_every_K=args.cool_frame_every_K,
                       guard=Guard(parse_pair_values(args.min_distance, "--min-distance"), confirm_ps=args.guard_confirm_fs / 1000,
                                   max_devi_f=args.max_devi_f), comm=comm,
                       zbl_core=tuple(args.zbl_core) if args.zbl_core else None, emin=args.emin_max_iter > 0,
                       emin_commands=emin_commands(max(args.emin_max_iter, 1)), compress=args.compress)
    if comm.Get_rank() == 0:
        def pm(d):
            return "n/a" if d["mean"] is None else f"{100 * d['mean']:.1f} +- {100 * d['std']:.1f} %"

        holds = f", anneal holds {s['anneal_holds_ps']} ps" if s.get("anneal_holds_ps") else ""
        print(f"{s['glass']} MLP '{s['kind']}' T_max {s['t_max_K']:g} K ({s['t_max_source']}), {s['replicas']} "
              f"replica(s) (seeds {s['seeds']}{holds}), time scale {s['time_scale']:g} "
              f"({s['schedule']['total_ps']:g} ps)")
        measured = "n/a" if s["measured_4B"] is None else f"{100 * s['measured_4B']:.1f} %"
        print(f"4B  = {pm(s['fraction_4B'])}   after Emin {pm(s['emin_fraction_4B'])}   measured {measured}")
        if fmp is not None and fmp.get("fraction_4B") is not None:
            print(f"4B  FMP {100 * fmp['fraction_4B']:.1f} % -> MLP {pm(s['fraction_4B'])} "
                  f"(measured {measured})")
        print(f"5Si = {pm(s['fraction_5Si'])}   after Emin {pm(s['emin_fraction_5Si'])}")
        for m in s.get("md_models") or ():
            print(f"model {Path(m['model']).name}: " + ("ran its compressed copy " + Path(m["md_model"]).name
                                                         if m["compressed"] else m["note"]))
        print(f"wall {s['wall_s']:.1f} s; summary: {out / name / SUMMARY_FILE}")
    return 0


def configure_build(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_glass_args(p)
    p.add_argument("--out", default="initial.data", help="LAMMPS data file to write")
    p.set_defaults(func=build)
    return p


def build(args) -> int:
    if mpi_comm().Get_rank() != 0:
        return 0
    atoms = random_structure(glass_of(args), args.atoms, density=args.density, seed=args.seed)
    write_lammps_data(atoms, args.out)
    print(f"wrote {args.out}: {len(atoms)} atoms {atoms.symbols.formula.count()} "
          f"at {atoms.info['density_g_cm3']} g/cm^3, box {atoms.cell[0, 0]:.3f} A")
    return 0


def add_parsers(sub) -> None:
    configure_quench(sub.add_parser("quench", help="FMP melt-quench + 4B/5Si (then the DeepMD stage with --mlp)"))
    configure_build(sub.add_parser("build", help="random initial structure (LAMMPS data)"))
