"""Run under mpirun (see test_fmp_plugin.py): fmp/lbs and buck/coul/long on the same box.

usage: mpi_fmp_vs_buck.py <out.json> <fixed.fmp> <kspace...>
Writes {"nprocs", "fmp": gather(...), "buck": gather(...), "R", "K", "N4"} from rank 0.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fmp_helpers import (buck_commands, element_counts, fmp_commands_plain, gather,  # noqa: E402
                         random_structure, set_charges_by_type, setup_box)

from pylbs.lammps_env import mpi_comm, start_lammps  # noqa: E402

out, fmp_file, kspace = sys.argv[1], sys.argv[2], " ".join(sys.argv[3:])
comm = mpi_comm()
L, types, pos = random_structure(element_counts((3, 3, 4)) , seed=7)
L2, types2, pos2 = L, types, pos
result = {"nprocs": comm.Get_size()}
for style in ("buck", "fmp"):
    lmp = start_lammps(require=(("pair", "fmp/lbs"),))
    setup_box(lmp, L, types, pos)
    if style == "buck":
        set_charges_by_type(lmp)
        lmp.commands_list(buck_commands(kspace=kspace))
    else:
        lmp.commands_list(fmp_commands_plain(fmp_file, kspace=kspace))
    result[style] = gather(lmp)
    if style == "fmp":
        result.update({k: lmp.extract_pair(k) for k in ("R", "K", "N4")})
    lmp.close()
if comm.Get_rank() == 0:
    Path(out).write_text(json.dumps(result))
