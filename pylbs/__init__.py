"""pylbs: lithium borosilicate glasses by molecular dynamics (see README)."""

from .torchscript import use_legacy_torch_jit_executor

# before anything in the process runs a TorchScript model (DeepMD MD up to 3x faster on CPU, torchscript)
use_legacy_torch_jit_executor()
