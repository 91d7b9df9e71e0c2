"""Command line: ``pylbs quench`` (the paper's FMP melt-quench), ``pylbs build``, ``pylbs analyze``.

Run under MPI as ``mpirun -np 2 pylbs quench --glass LBS-20-60-20 --atoms 300
--time-scale 0.01 --out runs/lbs206020``. pylbs errors are printed as one line
(no traceback) and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys

from .errors import PylbsError


def _glass_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--glass", default=None, help="catalogue name, e.g. LBS-20-60-20 (paper Table 1)")
    p.add_argument("--composition", nargs=3, type=float, metavar=("SIO2", "B2O3", "LI2O"),
                   help="mol%% SiO2 B2O3 Li2O instead of --glass (needs --density if not in the catalogue)")
    p.add_argument("--density", type=float, default=None, help="g/cm^3 (default: measured, Table 1)")
    p.add_argument("--atoms", type=int, default=300, help="target number of atoms (exact stoichiometry picks the closest)")
    p.add_argument("--seed", type=int, default=1)


def _glass_of(args):
    from .glasses import get_glass

    if args.glass and args.composition:
        raise PylbsError("give either --glass or --composition, not both")
    if args.composition:
        return get_glass(tuple(args.composition))
    if args.glass:
        return get_glass(args.glass)
    raise PylbsError("give --glass NAME (e.g. LBS-20-60-20) or --composition SIO2 B2O3 LI2O")


def quench_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(prog="quench.py", description="FMP-LBS melt-quench of the paper, then 4B/5Si")
    _glass_args(p)
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply every stage duration (1.0 = paper: 500 ps at 3500 K, 1 K/ps, 300 ps at 300 K)")
    p.add_argument("--out", required=True, help="output folder (re-running with the same folder resumes)")
    p.add_argument("--parameter-file", default=None, help="FMP parameter file (default pylbs/data/lbs_default.fmp)")
    from .mlp_quench import add_mlp_arguments
    add_mlp_arguments(p)  # --mlp/--from/--schedule/--replicas...: the DeepMD stage after (or instead of) FMP
    return p


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(prog="pylbs build", description="random initial structure as LAMMPS data")
    _glass_args(p)
    p.add_argument("--out", default="initial.data", help="LAMMPS data file to write")
    return p


def quench(args) -> int:
    from .lammps_env import mpi_comm
    from .melt_quench import run_fmp_melt_quench

    comm = mpi_comm()
    if getattr(args, "mlp", None) or getattr(args, "from_data", None):
        from .mlp_quench import quench_with_mlp
        given = args.glass or args.composition
        return quench_with_mlp(args, comm, glass=_glass_of(args) if given or not args.from_data else None)
    s = run_fmp_melt_quench(_glass_of(args), args.atoms, args.out, time_scale=args.time_scale, seed=args.seed,
                            parameter_file=args.parameter_file, comm=comm, density=args.density)
    if comm.Get_rank() == 0:
        def pct(x):
            return "n/a" if x is None else f"{100 * x:.1f}%"

        t = s["timing"]
        print(f"{s['glass']}: {s['n_atoms']} atoms {s['counts']}, {s['density_g_cm3']} g/cm^3, "
              f"time scale {s['time_scale']:g} ({s['schedule']['total_ps']:g} ps), seed {s['seed']}")
        print(f"4B  = {pct(s['fraction_4B'])}   measured 4B = {pct(s['measured_4B'])}")
        print(f"5Si = {pct(s['fraction_5Si'])}")
        print(f"wall {t['wall_s']:.1f} s on {t['mpi_ranks']} rank(s); summary: {args.out}/summary.json")
    return 0


def build(args) -> int:
    from .lammps_env import mpi_comm
    from .structure import random_structure, write_lammps_data

    if mpi_comm().Get_rank() != 0:
        return 0
    atoms = random_structure(_glass_of(args), args.atoms, density=args.density, seed=args.seed)
    write_lammps_data(atoms, args.out)
    print(f"wrote {args.out}: {len(atoms)} atoms {atoms.symbols.formula.count()} "
          f"at {atoms.info['density_g_cm3']} g/cm^3, box {atoms.cell[0, 0]:.3f} A")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pylbs", description="lithium borosilicate glasses by MD")
    sub = parser.add_subparsers(dest="cmd", required=True)
    from .analysis.analyze import add_analyze_parser, run_analyze
    from .campaign.cli import add_campaign_parser, add_report_parser, run_campaign, run_report
    from .doctor import add_doctor_parser, run_doctor
    from .dynamics_cli import add_diffusion_parser, add_tg_parser, run_diffusion_cli, run_tg
    from .mlp.cli import add_mlp_parser, run_mlp

    quench_parser(sub.add_parser("quench", help="FMP melt-quench + 4B/5Si"))
    build_parser(sub.add_parser("build", help="random initial structure (LAMMPS data)"))
    for add_parser in (add_analyze_parser, add_mlp_parser, add_tg_parser, add_diffusion_parser,
                       add_campaign_parser, add_report_parser, add_doctor_parser):
        add_parser(sub)
    handlers = {"quench": quench, "build": build, "analyze": run_analyze, "mlp": run_mlp, "tg": run_tg,
                "diffusion": run_diffusion_cli, "campaign": run_campaign, "report": run_report,
                "doctor": run_doctor}
    args = parser.parse_args(argv)
    return run_guarded(handlers[args.cmd], args)


def run_guarded(func, args) -> int:
    """Run a command; pylbs errors become one line on stderr and exit code 2."""
    try:
        return func(args)
    except PylbsError as exc:
        from .lammps_env import mpi_comm

        if mpi_comm().Get_rank() != 0:  # every rank raised the same error: say it once
            return 2
        print(f"pylbs: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        tail = getattr(exc, "log_tail", "")
        if tail:  # the log tail is useful, but is not a traceback
            print(f"(see the LAMMPS log; last line: {tail.splitlines()[-1]})", file=sys.stderr)
        return 2
    except Exception:
        # a bug on one MPI rank would leave the others waiting in a collective forever
        from .lammps_env import mpi_comm

        comm = mpi_comm()
        if comm.Get_size() > 1:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            comm.Abort(1)
        raise


if __name__ == "__main__":
    sys.exit(main())
