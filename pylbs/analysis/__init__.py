"""Structure analysis of pylbs glasses (OVITO based); Tg and Li diffusion (numpy)."""

from .coordination import (DEFAULT_CUTOFFS, CoordinationResult, coordination, coordination_frames,
                           coordination_modifier, make_coordination_modifier)
from .diffusion import arrhenius_fit, diffusion_coefficient, nernst_einstein
from .tg import fit_tg, tg_over_replicas

__all__ = ["DEFAULT_CUTOFFS", "CoordinationResult", "coordination", "coordination_frames",
           "coordination_modifier", "make_coordination_modifier",
           "arrhenius_fit", "diffusion_coefficient", "nernst_einstein", "fit_tg", "tg_over_replicas"]
