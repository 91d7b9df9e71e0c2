"""How TorchScript runs DeepMD models on a machine without a GPU: the legacy executor, and no
graph optimisation.

The executor. TorchScript's default (profiling) executor re-profiles a DeepMD model whenever the
call changes, and ``pair_style deepmd`` with several models changes it every ``out_freq`` steps (the
deviation step asks for atomic virials): 63 atoms, two tiny models, out_freq 10 ran at 111 ms/step
against 35 ms/step with the legacy executor, and its first steps cost ~7 s of profiling per LAMMPS
run (``bench/bench_deepmd_executor.py``, 105 atoms: 136 -> 43 ms/step, one model 1.18x faster), with
the same energies to the last printed digit. So on machines without a GPU ``import pylbs`` sets
``TORCH_JIT_DISABLE_NEW_EXECUTOR`` unless the user set it (``PYLBS_TORCH_EXECUTOR=profiling`` keeps
torch's default; import pylbs before anything runs a model); on a GPU, where the profiling executor
fuses kernels, torch's default stays until measured there.

Graph optimisation. The legacy executor still optimises a model's graph the first time it is called
with each kind of input, and ``pair_style deepmd`` with model deviation calls every model with two
kinds (with and without atomic virials): each LAMMPS run paid ~5-12 s of it before MD started (13.3
-> 3.2 s to the 10th step for two tiny models, 6.6 -> 1.9 s for the default model), in every short
run (the active-learning loop's explorations, the guard's checks, a campaign's many tasks, the
tests). Without it later steps cost 0.76-0.93x as much on a quiet core (the tiny model's 1.18x on
shared ones), with the same first-step energy (``bench/bench_deepmd_graph_optimisation.py``;
README, "Performance notes"). So where pylbs chose the legacy executor it also runs models without
graph optimisation (``PYLBS_TORCH_OPTIMIZE=1`` keeps it). The switch is torch's per-thread flag:
:func:`run_models_unoptimised` sets it in the thread that will call the model (LAMMPS sessions and
Python inference run in the main thread), through libtorch itself so a LAMMPS process need not
import torch's Python package.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
from pathlib import Path

#: torch::jit::setGraphExecutorOptimize(bool), exported by libtorch_cpu.so
_SET_OPTIMIZE = "_ZN5torch3jit24setGraphExecutorOptimizeEb"


def use_legacy_torch_jit_executor() -> bool:
    """Set ``TORCH_JIT_DISABLE_NEW_EXECUTOR=1`` on a machine without an NVIDIA GPU (see the module
    docstring), unless the user set it or asked for the profiling executor. Torch reads it once, at
    its first TorchScript call, so ``import pylbs`` does this before anything loads a model."""
    ours = os.environ.get("PYLBS_TORCH_EXECUTOR_SET") == "1"  # set by pylbs in a parent process
    if os.environ.get("PYLBS_TORCH_EXECUTOR") == "profiling" or Path("/dev/nvidiactl").exists():
        if ours:  # e.g. a GPU job submitted from a login node without one: not the user's choice
            os.environ.pop("TORCH_JIT_DISABLE_NEW_EXECUTOR", None)
            os.environ.pop("PYLBS_TORCH_EXECUTOR_SET", None)
        return False
    if "TORCH_JIT_DISABLE_NEW_EXECUTOR" not in os.environ:
        os.environ.update(TORCH_JIT_DISABLE_NEW_EXECUTOR="1", PYLBS_TORCH_EXECUTOR_SET="1")
    return True


def torch_cpu_library() -> Path | None:
    """``torch/lib/libtorch_cpu.so`` of this environment (found without importing torch)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib" / "libtorch_cpu.so"
    return lib if lib.exists() else None


def graph_optimisation_off() -> bool:
    """Does pylbs run models without graph optimisation here (torch is installed, pylbs chose the
    legacy executor, and ``PYLBS_TORCH_OPTIMIZE`` is not ``1``)?"""
    return (os.environ.get("PYLBS_TORCH_EXECUTOR_SET") == "1" and os.environ.get("PYLBS_TORCH_OPTIMIZE") != "1"
            and importlib.util.find_spec("torch") is not None)


@functools.lru_cache(maxsize=1)
def _libtorch_setter():
    """libtorch's setGraphExecutorOptimize: from the copy this process already runs (LAMMPS's deepmd
    plugin, torch's Python package), else from torch's own file; None if neither exports it."""
    for name, mode in (("libtorch_cpu.so", getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL),
                       (str(torch_cpu_library() or ""), ctypes.RTLD_LOCAL)):
        if not name:
            continue
        try:
            setter = getattr(ctypes.CDLL(name, mode=mode), _SET_OPTIMIZE)
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_bool]
        setter.restype = None
        return setter
    return None


def run_models_unoptimised() -> bool:
    """Turn TorchScript's graph optimisation off in the calling thread where
    :func:`graph_optimisation_off` says so; True if it did."""
    if not graph_optimisation_off():
        return False
    setter = _libtorch_setter()
    if setter is None:  # another torch build: its Python package does the same (~2 s import)
        import torch

        torch._C._set_graph_executor_optimize(False)  # what torch.jit.optimized_execution(False) sets
        return True
    setter(False)
    return True
