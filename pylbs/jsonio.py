"""JSON output shared by every protocol: strict JSON, written atomically.

numpy scalars and arrays become plain Python, non-finite floats become ``null``
(JSON has no NaN), and a file is replaced in one step so a killed run leaves the
old summary or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np


def json_safe(obj):
    """``obj`` with numpy types made plain and NaN/inf replaced by None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (str, type(None))):
        return obj
    if isinstance(obj, os.PathLike):
        return str(obj)
    return str(obj)


def dumps(obj) -> str:
    return json.dumps(json_safe(obj), indent=1, allow_nan=False)


def write_json_atomic(path, data) -> dict:
    """Write ``data`` to ``path`` atomically; return the plain-JSON view that was written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    text = dumps(data)
    tmp.write_text(text)
    os.replace(tmp, path)
    return json.loads(text)


def read_json(path) -> dict | None:
    """The JSON object in ``path``; None when the file is missing or unreadable (a kill mid-write
    of a non-atomic writer), so callers start over instead of crashing."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return None


def differing_keys(old: dict, new: dict) -> list[str]:
    """The keys whose values differ between two records (missing counts as None), sorted: what a
    refusal to mix two runs names."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
