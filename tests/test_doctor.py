"""`pylbs doctor` run for real in this environment: both LAMMPS plugins load, dgemm_
binds to torch's library (not liblammps's reference BLAS), torch is a CPU build, and
the exit code is 0. A broken set-up (plugin missing, threads oversubscribed) is
reported with its fix and exit code 1."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
# what the user or an earlier test may have set; the doctor must find the state on its own
_CLEAN = ("LAMMPS_PLUGIN_PATH", "LD_PRELOAD", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "OMP_NUM_THREADS",
          "DP_INTRA_OP_PARALLELISM_THREADS", "DP_INTER_OP_PARALLELISM_THREADS",
          "TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN}
    env.update(extra)
    return env


def test_doctor_finds_this_installation_healthy(fmp_plugin):
    pylbs_exe = os.path.join(os.path.dirname(sys.executable), "pylbs")
    res = subprocess.run([pylbs_exe, "doctor", "--json"], capture_output=True, text=True, env=_env(),
                         timeout=180)
    report = json.loads(res.stdout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert report["ok"] and report["problems"] == []
    assert report["plugins"]["fmp/lbs"]["loaded"] and report["plugins"]["deepmd"]["loaded"]
    dgemm = report["dgemm"]
    assert dgemm["torch"] and dgemm["library"].endswith("libtorch_cpu.so"), dgemm
    assert "liblammps" not in dgemm["library"]
    assert report["torch"]["build"] == "cpu" and report["torch"]["cuda"] is None
    assert report["versions"]["lammps"] == "2025.7.22.2.0" and report["versions"]["deepmd-kit"] == "3.2.0"
    assert report["mpi"]["ranks"] == 1 and report["mpi"]["library"].startswith("MPICH")
    assert report["threads"]["variables"]["OMP_NUM_THREADS"] == {"value": "1", "source": "pylbs default"}
    assert report["pylbs_path"] == str(_ROOT / "pylbs")


def test_doctor_reports_problems_with_their_fix(tmp_path):
    """A copy of the package without its built plugin (first on PYTHONPATH) and more
    OpenMP threads than cores: both reported, each with a fix, exit code 1."""
    shutil.copytree(_ROOT / "pylbs", tmp_path / "pylbs", ignore=shutil.ignore_patterns("_lib", "__pycache__"))
    threads = str(4 * len(os.sched_getaffinity(0)))
    res = subprocess.run([sys.executable, "-m", "pylbs.cli", "doctor"], capture_output=True, text=True,
                         cwd=tmp_path, env=_env(PYTHONPATH=str(tmp_path), OMP_NUM_THREADS=threads), timeout=180)
    out = res.stdout
    assert res.returncode == 1, out[-3000:] + res.stderr[-3000:]
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2, out
    fmp = next(line for line in problems if "fmp/lbs" in line)
    assert f"{tmp_path}/pylbs/_lib/fmplbsplugin.so is missing" in fmp and "Fix: build it: `make plugin`" in fmp
    omp = next(line for line in problems if "OMP_NUM_THREADS" in line)
    assert f"OMP_NUM_THREADS={threads}" in omp and "Fix: lower it" in omp
    # the rest of the stack is still found healthy
    assert "deepmd      loaded" in out and "(torch: ok)" in out and f"OMP_NUM_THREADS={threads} (user)" in out
