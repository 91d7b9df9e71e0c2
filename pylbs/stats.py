"""The one statistics convention of pylbs: sample standard deviation (ddof = 1).

Every spread pylbs reports (over frames, replicas, heating runs, models) is the
sample standard deviation, and every summary that holds one says so with
:data:`STD_CONVENTION`. ``None`` and non-finite values (no B in a frame, a fit that
failed) are left out of a mean rather than turned into zeros.
"""

from __future__ import annotations

import math

import numpy as np

#: Stated in every JSON summary that reports a spread.
STD_CONVENTION = "sample standard deviation (ddof=1); 0 when there is a single value"


def finite(x):
    """``x`` as a float, or None when it is None, NaN or infinite (JSON has no NaN)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def mean_std(values) -> tuple[float | None, float | None, int]:
    """(mean, sample std, n) of the finite entries of ``values``; (None, None, 0) when there are none."""
    v = np.array([x for x in (finite(y) for y in values) if x is not None], dtype=float)
    if not v.size:
        return None, None, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def summarize(values) -> dict:
    """``{"mean", "std", "n", "values"}`` of ``values`` (see :func:`mean_std`)."""
    values = [finite(x) for x in values]
    m, s, n = mean_std(values)
    return {"mean": m, "std": s, "n": n, "values": values}
