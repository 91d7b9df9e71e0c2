"""What every pylbs command shares: one-line errors, MPI-aware printing, the glass options."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import PylbsError
from ..glasses import Glass, get_glass
from ..jsonio import dumps
from ..lammps_env import mpi_comm
from ..potential.models import model_path


def run_guarded(func, args) -> int:
    """Run a command; pylbs errors become one line on stderr and exit code 2."""
    if getattr(args, "quiet", False):
        os.environ["PYLBS_QUIET"] = "1"  # also reaches the runs a campaign starts
    try:
        return func(args)
    except PylbsError as exc:
        if mpi_comm().Get_rank() != 0:  # every rank raised the same error: say it once
            return 2
        print(f"pylbs: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        tail = getattr(exc, "log_tail", "")
        if tail:  # the log tail is useful, but is not a traceback
            print(f"(see the LAMMPS log; last line: {tail.splitlines()[-1]})", file=sys.stderr)
        return 2
    except Exception:
        # a bug on one MPI rank would leave the others waiting in a collective forever
        comm = mpi_comm()
        if comm.Get_size() > 1:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            comm.Abort(1)
        raise


def rank0() -> bool:
    return mpi_comm().Get_rank() == 0


def print_json(obj) -> None:
    print(dumps(obj))


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress lines (progress.json and heartbeat.json "
                                                        "are still written; see `pylbs status`)")


def add_glass_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--glass", default=None, help="catalogue name, e.g. LBS-20-60-20 (paper Table 1)")
    p.add_argument("--composition", nargs=3, type=float, metavar=("SIO2", "B2O3", "LI2O"),
                   help="mol%% SiO2 B2O3 Li2O instead of --glass (needs --density if not in the catalogue)")
    p.add_argument("--density", type=float, default=None, help="g/cm^3 (default: measured, Table 1)")
    p.add_argument("--atoms", type=int, default=300, help="target number of atoms (exact stoichiometry picks the closest)")
    p.add_argument("--seed", type=int, default=1)


def glass_of(args, required: bool = True) -> Glass | None:
    """The glass named on the command line: resolved here, once, and passed down as a Glass."""
    if args.glass and args.composition:
        raise PylbsError("give either --glass or --composition, not both")
    if args.composition:
        return get_glass(tuple(args.composition))
    if args.glass:
        return get_glass(args.glass)
    if required:
        raise PylbsError("give --glass NAME (e.g. LBS-20-60-20) or --composition SIO2 B2O3 LI2O")
    return None


def model_arg(spec: str) -> str:
    """``--mlp`` values: a shipped model's name (``default``) or a model file (argparse type)."""
    try:
        return model_path(spec)
    except PylbsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
