"""The pylbs command line: one module per command group, registered in :data:`GROUPS`.

Nothing under ``pylbs/`` imports this package; it resolves what the user names (a glass,
a potential, files) once and calls the protocols, analyses, MLP tools and campaigns.
pylbs errors are printed as one line (no traceback) with exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from . import analyze, campaign, deck, doctor, dynamics, mlp, quench, status
from .common import run_guarded

#: Command groups in the order ``pylbs --help`` lists them; each module has ``add_parsers(sub)``.
GROUPS = (quench, analyze, dynamics, mlp, campaign, status, deck, doctor)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pylbs", description="lithium borosilicate glasses by MD")
    sub = p.add_subparsers(dest="cmd", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return run_guarded(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
