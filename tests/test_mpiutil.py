"""on_rank0: a failure on rank 0 reaches every rank (no rank left waiting in a bcast)."""

import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent("""
    from pylbs.lammps_env import mpi_comm
    from pylbs.errors import AnalysisError
    from pylbs.mpiutil import on_rank0
    from pylbs.cli.common import run_guarded

    comm = mpi_comm()

    def analyse():
        raise AnalysisError("the dump is truncated; re-run the stage")

    def command(args):
        on_rank0(comm, analyse)
        return 0

    code = run_guarded(command, None)
    print(f"rank {comm.Get_rank()} exit {code}", flush=True)
""")


def test_rank0_failure_raises_on_every_rank(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(_SCRIPT)
    mpirun = Path(sys.executable).with_name("mpirun")
    res = subprocess.run([str(mpirun), "-np", "2", sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert "rank 0 exit 2" in res.stdout and "rank 1 exit 2" in res.stdout, res.stdout + res.stderr
    assert "the dump is truncated" in res.stderr


def test_result_is_broadcast():
    from pylbs.lammps_env import mpi_comm
    from pylbs.mpiutil import on_rank0

    assert on_rank0(mpi_comm(), lambda: {"fraction_4B": 0.4}) == {"fraction_4B": 0.4}
