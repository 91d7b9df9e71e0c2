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
kinds (with and without atomic virials): each LAMMPS run that loads two models pays ~5-10 s of it
before MD starts, and every short run (the active-learning loop's explorations, the guard's
checks, a campaign's many tasks, the tests) pays it again. Without it the first steps cost well
under a second and later steps cost the same (``bench/bench_deepmd_graph_optimisation.py``: see
README, "DeepMD speed on CPU"); the energies are the same to 1e-8 eV. So where pylbs chose the
legacy executor it also runs models without graph optimisation (``PYLBS_TORCH_OPTIMIZE=1`` keeps
it). The switch is torch's per-thread flag: :func:`run_models_unoptimised` sets it in the thread
that will call the model (LAMMPS sessions and Python inference run in the main thread).
"""

from __future__ import annotations

import os
from pathlib import Path


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


def run_models_unoptimised() -> bool:
    """Turn TorchScript's graph optimisation off in the calling thread where pylbs chose the legacy
    executor (and ``PYLBS_TORCH_OPTIMIZE`` is not ``1``); True if it did. Imports torch (~3 s the
    first time in a process), so it is called only where a DeepMD model is about to run."""
    if os.environ.get("PYLBS_TORCH_EXECUTOR_SET") != "1" or os.environ.get("PYLBS_TORCH_OPTIMIZE") == "1":
        return False
    import torch

    torch._C._set_graph_executor_optimize(False)  # what torch.jit.optimized_execution(False) sets
    return True
