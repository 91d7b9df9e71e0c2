"""Run under mpirun (see test_fmp_plugin.py): fmp/lbs/omp with 'package omp <threads>'.

usage: mpi_fmp_omp.py <out.json> <threads> <kspace...>
Writes {"nprocs", "nthreads", "fmp": gather(...)} from rank 0 for the squeezed
216-atom LBS-30-30-40 box of the tests, default parameter file (rule + cores).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fmp_helpers import gather, setup_box, squeezed_box216  # noqa: E402

from pylbs.lammps_env import mpi_comm, start_lammps  # noqa: E402
from pylbs.potential import fmp_commands  # noqa: E402

out, threads, kspace = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
comm = mpi_comm()
lmp = start_lammps(require=(("pair", "fmp/lbs/omp"),))
lmp.command(f"package omp {threads}")
setup_box(lmp, *squeezed_box216())
cmds = fmp_commands(cutoff=8.0, kspace=kspace[0], accuracy=float(kspace[1]))
cmds[0] = cmds[0].replace("fmp/lbs", "fmp/lbs/omp", 1)
lmp.commands_list(cmds)
result = {"nprocs": comm.Get_size(), "nthreads": lmp.extract_setting("nthreads"), "fmp": gather(lmp)}
lmp.close()
if comm.Get_rank() == 0:
    Path(out).write_text(json.dumps(result))
