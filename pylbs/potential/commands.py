"""The LAMMPS commands of a potential: ``pair_style fmp/lbs`` + kspace, or ``pair_style deepmd``.

A potential is a list of LAMMPS commands everywhere in pylbs (protocols do not depend
on the force field). This module builds them, normalises a user's list
(:func:`potential_commands`), names the plugin styles a list needs
(:func:`required_styles`) and reads the parameters the running plugin resolved
(:func:`read_resolved`). The ``*_style_lines`` renderers also write the raw decks'
potential lines (with LAMMPS variables in place of values), so deck and driver agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ase.data import atomic_numbers

from ..errors import ParameterFileError, PylbsError
from ..glasses import TYPE_MAP
from ..stats import finite
from .fmp_file import DEFAULT_PARAMETER_FILE, load_parameter_file, pair_key
from .pair_wall import PairWall

PotentialSpec = Sequence[str] | Callable[[], Sequence[str]]

#: Pair styles that come from plugins (checked with has_style); LAMMPS's own need no check.
PLUGIN_PAIR_STYLES = ("fmp/lbs", "deepmd")


def potential_commands(potential: PotentialSpec) -> list[str]:
    """The list of LAMMPS commands of a potential given as a list, a string or a callable."""
    cmds = potential() if callable(potential) else potential
    if isinstance(cmds, str):
        cmds = cmds.splitlines()
    cmds = [c.strip() for c in cmds if c and c.strip()]
    if not any(c.split()[0] == "pair_style" for c in cmds):
        raise PylbsError(f"potential commands {cmds} have no pair_style line; give the pair_style/pair_coeff "
                         "(and kspace_style) commands of the force field")
    return cmds


def required_styles(commands: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(category, style) pairs a potential needs from plugins (fmp/lbs, deepmd)."""
    req = []
    for c in commands:
        tok = c.split()
        if tok[0] == "pair_style":
            for style in tok[1:]:
                if style in PLUGIN_PAIR_STYLES and ("pair", style) not in req:
                    req.append(("pair", style))
    return tuple(req)


def uses_style(commands: Sequence[str], style: str) -> bool:
    """Whether a pair_style line of ``commands`` names ``style``."""
    return any(c.split()[0] == "pair_style" and style in c.split()[1:] for c in commands)


def _quote(path: str) -> str:
    return f'"{path}"' if any(ch.isspace() for ch in path) else path


def fmp_style_lines(parameter_file, elements=TYPE_MAP, cutoff="10", kspace: str = "pppm", accuracy="1e-05",
                    R=None, K=None, coul_cutoff=None, table=None) -> list[str]:
    """The three lines of ``pair_style fmp/lbs``; values may be LAMMPS variables (``${cutoff}``)."""
    style = f"pair_style fmp/lbs {cutoff}"
    if coul_cutoff is not None:
        style += f" {coul_cutoff}"
    if R is not None:
        style += f" R {R}"
    if K is not None:
        style += f" K {K}"
    if table is not None:
        style += f" table {table}"
    return [style, f"pair_coeff * * {_quote(str(parameter_file))} {' '.join(elements)}",
            f"kspace_style {kspace} {accuracy}"]


def fmp_commands(parameter_file=None, elements=TYPE_MAP, cutoff: float = 10.0,
                 kspace: str = "pppm", accuracy: float = 1e-5, R: float | None = None,
                 K: float | None = None, coul_cutoff: float | None = None, table: int | None = None) -> list[str]:
    """LAMMPS commands setting up pair_style fmp/lbs and its kspace style.

    The file is read here first, so a bad file or a missing element fails in
    Python with a clear message instead of inside LAMMPS. ``table``: the pair style's
    merged table, 2^table intervals per doubling of r^2, 0 for the analytic formulas;
    None keeps the plugin default (docs/fmp_pair_style.md).
    """
    path = Path(parameter_file) if parameter_file is not None else DEFAULT_PARAMETER_FILE
    params = load_parameter_file(path)
    for i, el in enumerate(elements, start=1):
        if el not in params.charges:
            raise ParameterFileError(
                f"element {el} (type {i}) is not in {path}: add charge/pair lines for it")
    if kspace not in ("pppm", "ewald"):
        raise ParameterFileError(f"kspace '{kspace}' is not supported: use 'pppm' or 'ewald'")
    return fmp_style_lines(path, elements, f"{cutoff:g}", kspace, f"{accuracy:g}",
                           None if R is None else f"{float(R):.17g}", None if K is None else f"{float(K):.17g}",
                           None if coul_cutoff is None else f"{coul_cutoff:g}",
                           None if table is None else int(table))


def read_resolved(lmp, elements=TYPE_MAP) -> dict:
    """The parameters the running plugin resolved (after a ``run 0``), JSON-friendly.

    ``{"R", "K", "N4", "pairs": {"B-O": {"A", "rho", "C", "core": {B, n, D, r0} | None}}}``;
    Coulomb-only pairs are left out, unknown values are None.
    """
    names = ("a", "rho", "c", "r0", "b_core", "n_core", "d_core")
    arr = {n: lmp.extract_pair(n) for n in names}
    if any(v is None for v in arr.values()):
        raise ParameterFileError("the active pair style is not fmp/lbs (extract_pair found nothing)")
    ntypes = lmp.extract_setting("ntypes")
    out = {k: finite(lmp.extract_pair(k)) for k in ("R", "K", "N4")}
    pairs = {}
    for i in range(1, ntypes + 1):
        for j in range(i, ntypes + 1):
            if arr["rho"][i][j] <= 0:
                continue
            core = None
            if arr["r0"][i][j] > 0:
                core = {"B": arr["b_core"][i][j], "n": arr["n_core"][i][j],
                        "D": arr["d_core"][i][j], "r0": arr["r0"][i][j]}
            pairs[pair_key(elements[i - 1], elements[j - 1])] = {
                "A": arr["a"][i][j], "rho": arr["rho"][i][j], "C": arr["c"][i][j], "core": core}
    out["pairs"] = pairs
    return out


def deepmd_style_lines(models: str, out_freq=None, out_file=None) -> list[str]:
    """``pair_style deepmd`` + ``pair_coeff`` for a model list string (values may be LAMMPS variables)."""
    dp = f"pair_style deepmd {models}"
    if out_freq is not None:
        dp += f" out_freq {out_freq} out_file {out_file}"
    return [dp, "pair_coeff * * " + " ".join(TYPE_MAP)]


def deepmd_commands(models: Sequence[str | os.PathLike], out_freq: int = 100,
                    out_file: str | os.PathLike = "model_devi.out",
                    zbl_core: tuple[float, float] | None = None, wall: PairWall | None = None) -> list[str]:
    """``pair_style deepmd`` + ``pair_coeff`` for one model, or several with model deviation.

    With two or more models the first drives the MD and deepmd-kit writes the
    force/virial deviation among all of them every ``out_freq`` steps to
    ``out_file`` (columns: step, max/min/avg_devi_v, max/min/avg_devi_f; see
    :mod:`pylbs.protocols.guard`). Element names in ``pair_coeff`` map LAMMPS
    types 1..4 (TYPE_MAP) onto the model's type map.

    ``zbl_core=(inner, outer)`` (Angstrom) overlays the ZBL universal screened
    nuclear repulsion (``pair_style hybrid/overlay deepmd ... zbl inner outer``),
    switched off smoothly between inner and outer: a safety net for a model
    that never saw short distances (the DP-ZBL idea). Not in the paper: off by default.

    ``wall`` overlays a model's per-pair repulsive wall (``pair_style buck/mdf``,
    :mod:`pylbs.potential.pair_wall`; :func:`~pylbs.potential.pair_wall.wall_of` finds a
    model's own).
    """
    models = [str(Path(m).resolve()) for m in ([models] if isinstance(models, (str, os.PathLike)) else models)]
    if not models:
        raise PylbsError("no DeepMD model given; pass --mlp model.pth (several for model deviation)")
    for m in models:
        if not Path(m).is_file():
            raise PylbsError(f"DeepMD model {m} does not exist; train and freeze one (pylbs.mlp.train) or fix the path")
    lines = deepmd_style_lines(" ".join(models), *((int(out_freq), out_file) if len(models) > 1 else ()))
    if zbl_core is None and (wall is None or wall.cutoff <= 0):
        return lines
    dp = lines[0].removeprefix("pair_style ")
    styles, coeffs = [dp], ["pair_coeff * * deepmd " + " ".join(TYPE_MAP)]
    if zbl_core is not None:
        inner, outer = map(float, zbl_core)
        if not 0 < inner < outer:
            raise PylbsError(f"zbl_core={zbl_core}: give (inner, outer) with 0 < inner < outer (Angstrom)")
        z = [atomic_numbers[el] for el in TYPE_MAP]
        styles.append(f"zbl {inner:g} {outer:g}")
        coeffs += [f"pair_coeff {i + 1} {j + 1} zbl {z[i]} {z[j]}" for i in range(len(z)) for j in range(i, len(z))]
    if wall is not None and wall.cutoff > 0:
        styles.append(f"buck/mdf {min(t[2] for t in wall.terms.values()):.10g} {wall.cutoff:.10g}")
        coeffs += wall.lammps_coeffs(TYPE_MAP)
    return [f"pair_style hybrid/overlay {' '.join(styles)}"] + coeffs
