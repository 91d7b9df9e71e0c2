"""DeepMD models shipped with pylbs, by name (``--mlp default``, ``models = ["default"]``).

A shipped model is a folder ``pylbs/data/models/<name>/`` holding the frozen model
(``model.pth``), its compressed copy laid where :mod:`pylbs.mlp.compress` looks for it (so
no ``dp compress`` runs on first use) and ``card.json``, the numbers of docs/models.md.
``default`` names the model the README and ``make demo`` use. A model is a potential like
an FMP parameter file: it lives in this layer, and the MLP tools that make one write here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PylbsError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "models"
MODEL_FILE = "model.pth"
#: ``--mlp default`` -> this shipped model: the second one, which runs with its pair wall; it made
#: 11 of 11 catalogue glasses without a guard stop where the first stopped on 2, and the 2 ps 2000 K
#: check stops on 2 of 11 glasses (guard Li limits 1.30 A; the first: 11 of 11 under 1.40 A), docs/models.md.
DEFAULT_MODEL = "lbs-chgnet-r2scan-2"
ALIASES = {"default": DEFAULT_MODEL}


def shipped_models() -> dict[str, Path]:
    """Name -> frozen model of every model shipped with this install."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {d.name: d / MODEL_FILE for d in sorted(SHIPPED_DIR.iterdir()) if (d / MODEL_FILE).is_file()}


def model_path(spec: str) -> str:
    """A model as the user names it: a shipped name (``default``, ``lbs-chgnet-r2scan``) gives its
    file; anything else is a path, returned as given (runs check that it exists)."""
    name = ALIASES.get(str(spec), str(spec))
    if name in shipped_models():
        return str(shipped_models()[name])
    if str(spec) in ALIASES:
        have = ", ".join(shipped_models()) or "none in this install"
        raise PylbsError(f"{spec!r} names the shipped DeepMD model {name!r}, which this install does not have "
                         f"(shipped: {have}); give a model file "
                         "(model.pth) or train one with `pylbs mlp learn` (docs/mlp.md)")
    return str(spec)
