"""Potentials: the FMP-LBS parameter files and rules (checked against the C++ plugin), and the
LAMMPS commands of fmp/lbs and DeepMD.

    fmp_file.py   the parameter-file format and reader (DEFAULT_PARAMETER_FILE)
    fmp_rules.py  DBX N4(R, K), Deng-Du A(R, K), tabulated A, core solve, resolve()
    commands.py   fmp_commands, deepmd_commands, potential_commands, required_styles, read_resolved
    pair_wall.py  a model's per-pair repulsive wall (pair_style buck/mdf) and the ASE calculator of a model
"""

from .commands import (PotentialSpec, deepmd_commands, fmp_commands, potential_commands, read_resolved,
                       required_styles)
from .fmp_file import (DEFAULT_PARAMETER_FILE, FmpParameters, ResolvedPair, load_parameter_file, pair_key,
                       parse_parameter_text)
from .pair_wall import WALL_FILE, PairWall, model_calculator, wall_file_of, wall_of
from .fmp_rules import (buckingham_derivatives, composition_RK, dbx_n4, deng_du_A, resolve, short_range, solve_core,
                        table_A)

__all__ = ["DEFAULT_PARAMETER_FILE", "FmpParameters", "PotentialSpec", "ResolvedPair", "buckingham_derivatives",
           "composition_RK", "dbx_n4", "deng_du_A", "deepmd_commands", "fmp_commands", "load_parameter_file",
           "model_calculator", "pair_key", "PairWall", "WALL_FILE", "wall_file_of", "wall_of", "parse_parameter_text", "potential_commands", "read_resolved", "required_styles", "resolve",
           "short_range", "solve_core", "table_A"]
