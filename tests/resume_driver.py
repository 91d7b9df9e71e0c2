"""A protocol run for the resume tests: ``python resume_driver.py fmp|mlp OUT [--kill-at STEP] [--model M --start S]``.

With ``--kill-at``, every MPI rank SIGKILLs itself when the run reaches the checkpoint of that
step, before it is written: the last restart is the one before, as after a kill -9 that
lands inside a chunk. Run as ``mpirun -np N python resume_driver.py ...``.
"""

import argparse
import os
import signal
import sys

from pylbs.glasses import TYPE_MAP, get_glass
from pylbs.lammps_env import mpi_comm
from pylbs.protocols.guard import Guard
from pylbs.protocols.melt_quench import run_fmp_melt_quench
from pylbs.protocols.mlp_quench import run_mlp_replica
from pylbs.protocols.schedules import Schedule, Stage
from pylbs.session import Session

#: the tests' tiny model squeezes pairs to ~1.2 A even with a ZBL core: a lenient guard
LENIENT = {(a, b): 0.6 for a in TYPE_MAP for b in TYPE_MAP}
MLP_SCHEDULE = Schedule((Stage("hold", 1200.0, 1200.0, 0.08), Stage("cool", 1200.0, 300.0, 0.08)))

p = argparse.ArgumentParser()
p.add_argument("protocol", choices=("fmp", "mlp"))
p.add_argument("out")
p.add_argument("--kill-at", type=int, default=None)
p.add_argument("--model", default=None)
p.add_argument("--start", default=None)
a = p.parse_args()

if a.kill_at is not None:
    checkpoint = Session._checkpoint

    def killed(self, step, *args, **kw):
        if step == a.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return checkpoint(self, step, *args, **kw)

    Session._checkpoint = killed

if a.protocol == "fmp":
    s = run_fmp_melt_quench(get_glass("LBS-20-60-20"), 105, a.out, time_scale=0.0005, seed=4, restart_every_ps=0.25,
                            dump_every_ps=0.1, thermo_every=50)
else:
    s = run_mlp_replica(a.start, [a.model], a.out, MLP_SCHEDULE, seed=3, emin=False, zbl_core=(0.9, 1.3),
                        guard=Guard(LENIENT, check_every_ps=0.04), thermo_every=10, dump_every_ps=0.02)
if mpi_comm().Get_rank() == 0:  # one rank prints: two ranks' lines can interleave ("resumedresumed True  True")
    print("resumed", s["timing"]["resumed"], "steps", s["steps"])
sys.stdout.flush()
