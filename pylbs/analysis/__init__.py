"""Structure analysis of pylbs glasses (OVITO based)."""

from .coordination import (DEFAULT_CUTOFFS, CoordinationResult, coordination, coordination_frames,
                           coordination_modifier, make_coordination_modifier)

__all__ = ["DEFAULT_CUTOFFS", "CoordinationResult", "coordination", "coordination_frames",
           "coordination_modifier", "make_coordination_modifier"]
