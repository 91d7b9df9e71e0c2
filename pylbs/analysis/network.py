"""Shared plumbing for the structure analyses: load any source, build the B/Si-O network.

Every pylbs analysis works on one OVITO :class:`~ovito.data.DataCollection` per frame
whose particle types are named by element (``Li``, ``B``, ``Si``, ``O``; LAMMPS types
1..4 in :data:`pylbs.glasses.TYPE_MAP` order). This module

* turns a *source* into such frames (:func:`iter_frames`, :func:`as_data_collection`):
  a path to a LAMMPS data file (``atom_style charge``), a LAMMPS dump trajectory
  (``id type x y z [ix iy iz]``), an extended-XYZ file (one or many frames), an
  ``ase.Atoms``, a list of ``ase.Atoms``, an OVITO ``Pipeline`` or ``DataCollection``;
* creates the network-former bonds B-O and Si-O with OVITO's ``CreateBondsModifier``
  in pairwise mode (Li is a modifier, not a network former, so it gets no bonds);
* packs the result into a :class:`Network` (element index per atom, bond topology,
  exact bond vectors from OVITO's ``Periodic Image`` bond property, network
  coordination numbers) that the ring, angle and ring-formation analyses share, so
  one frame is loaded and bonded once.

Cutoffs: ``cutoffs`` is ``{("B", "O"): 2.0, ("Si", "O"): 2.3}`` style, or with string
keys ``"B-O"``; pairs not given keep their default (:data:`DEFAULT_CUTOFFS`, shared
with :mod:`pylbs.analysis.coordination`, so both analyses bond with the same numbers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import AnalysisError
from ..glasses import TYPE_MAP, element_pair

#: Network formers (ring nodes, coordination counted against O).
FORMERS = ("B", "Si")

#: Cation-O bond cutoffs (Angstrom), shared by every analysis (coordination uses all
#: three, the ring network only the formers'): see pylbs.analysis.coordination for their
#: origin in the first minima of g_BO, g_SiO and g_LiO.
DEFAULT_CUTOFFS: dict[tuple[str, str], float] = {("B", "O"): 1.9, ("Si", "O"): 2.0, ("Li", "O"): 2.6}


def network_cutoffs(cutoffs=None, formers=FORMERS) -> dict[tuple[str, str], float]:
    """Defaults updated with ``cutoffs``; keys normalised to ``(former, "O")`` tuples.

    ``formers``: which cation-O bonds make the network; ``("B",)`` is the B-O network alone
    (the paper's Fig. S6), whose rings hold no Si.
    """
    bad = [f for f in formers if f not in FORMERS]
    if bad or not formers:
        raise AnalysisError(f"network formers {formers}: choose from {FORMERS}, e.g. ('B',) for the B-O network")
    out = {element_pair(k): float(v) for k, v in DEFAULT_CUTOFFS.items()}
    for k, v in (cutoffs or {}).items():
        v = float(v)
        if not (v > 0 and np.isfinite(v)):
            raise AnalysisError(f"bond cutoff {k!r}={v} A: give a positive distance in Angstrom")
        out[element_pair(k)] = v
    # the network is former-O only: Li-O (a coordination cutoff) never makes a ring bond
    return {k: v for k, v in out.items() if k[1] == "O" and k[0] in formers}


# ---------------------------------------------------------------------------
# sources -> frames


def name_types(data) -> None:
    """Name unnamed/numeric particle types after TYPE_MAP (LAMMPS type k -> TYPE_MAP[k-1])."""
    ptypes = data.particles_.particle_types_
    for t in list(ptypes.types):
        name = (t.name or "").strip()
        if name in TYPE_MAP:
            continue
        if (not name or name.isdigit()) and 1 <= t.id <= len(TYPE_MAP):
            ptypes.type_by_id_(t.id).name = TYPE_MAP[t.id - 1]
            continue
        raise AnalysisError(
            f"particle type {t.id} is named {name!r}, not one of {TYPE_MAP}; pylbs analyses "
            "Li-B-Si-O glasses: name the types by element or use LAMMPS types 1..4 = Li B Si O")


def prepare_frame(data):
    """A private, mutable copy with element-named types (the caller's data is untouched)."""
    data = data.clone()
    if data.particles is None or data.particles.count == 0:
        raise AnalysisError("the frame has no particles; check the file or the frame number")
    if data.cell is None:
        raise AnalysisError("the frame has no simulation cell; analyses need a periodic box")
    name_types(data)
    return data


def _import(path: str):
    from ovito.io import import_file

    p = Path(path)
    if not p.exists():
        raise AnalysisError(f"no file {path}; give a LAMMPS data/dump file or an extended XYZ file")
    try:
        return import_file(str(p))
    except Exception as first:  # noqa: BLE001 - LAMMPS data files may need the atom style
        try:
            return import_file(str(p), atom_style="charge")
        except Exception:  # noqa: BLE001
            raise AnalysisError(
                f"OVITO could not read {path} ({first}); give a LAMMPS data file (atom_style "
                "charge), a LAMMPS dump (id type x y z) or an extended XYZ file") from first


def select_frames(n: int, frames) -> list[int]:
    """Frame selection: None (all), int, slice, iterable of ints, or 'a:b:c' / '3' / '1,4,7'."""
    if frames is None:
        return list(range(n))
    if isinstance(frames, str):
        s = frames.strip()
        if ":" in s:
            parts = [int(x) if x.strip() else None for x in s.split(":")]
            frames = slice(*parts)
        else:
            frames = [int(x) for x in s.replace(",", " ").split()]
    if isinstance(frames, slice):
        return list(range(n))[frames]
    if isinstance(frames, (int, np.integer)):
        frames = [int(frames)]
    out = []
    for f in frames:
        f = int(f)
        g = f + n if f < 0 else f
        if not 0 <= g < n:
            raise AnalysisError(f"frame {f} does not exist: the source has {n} frame(s) (0..{n - 1})")
        out.append(g)
    return out


def n_frames(source) -> int:
    """Number of frames a source holds."""
    from ovito.data import DataCollection
    from ovito.pipeline import Pipeline

    if isinstance(source, (str, os.PathLike)):
        return _import(str(source)).num_frames
    if isinstance(source, Pipeline):
        return source.num_frames
    if isinstance(source, DataCollection) or _is_atoms(source):
        return 1
    return len(source)


def _is_atoms(obj) -> bool:
    return type(obj).__name__ == "Atoms" and hasattr(obj, "get_positions")


def iter_frames(source, frames=None) -> Iterator[tuple[int, object]]:
    """Yield ``(frame_index, DataCollection)`` with element-named types, one per selected frame."""
    from ovito.data import DataCollection
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline

    if isinstance(source, (str, os.PathLike)):
        source = _import(str(source))
    if isinstance(source, Pipeline):
        for f in select_frames(source.num_frames, frames):
            yield f, prepare_frame(source.compute(f))
        return
    if isinstance(source, DataCollection):
        for f in select_frames(1, frames):
            yield f, prepare_frame(source)
        return
    if _is_atoms(source):
        source = [source]
    seq = list(source)
    for f in select_frames(len(seq), frames):
        item = seq[f]
        if _is_atoms(item):
            data = ase_to_ovito(item)
            for key in ("temperature", "Temperature", "T"):
                if key in item.info:
                    data.attributes["Temperature"] = float(item.info[key])
                    break
            yield f, prepare_frame(data)
        elif isinstance(item, DataCollection):
            yield f, prepare_frame(item)
        else:
            raise AnalysisError(
                f"cannot analyse a {type(item).__name__}; give a file path, ase.Atoms, a list of "
                "ase.Atoms, or an OVITO Pipeline/DataCollection")


def as_data_collection(source, frame: int = 0):
    """One frame of ``source`` as a private DataCollection with element-named types."""
    for _, data in iter_frames(source, [frame]):
        return data
    raise AnalysisError("the source has no frames")


def frame_temperature(data) -> float | None:
    """Temperature (K) stored with a frame: attribute 'Temperature'/'temperature'/'T', else None."""
    for key in ("Temperature", "temperature", "T", "c_temp", "v_temp", "Temp"):
        if key in data.attributes:
            return float(data.attributes[key])
    return None


# ---------------------------------------------------------------------------
# network bonds


def network_bonds_modifier(cutoffs=None, formers=FORMERS):
    """An OVITO CreateBondsModifier bonding only the formers' O (B-O and Si-O, or B-O alone;
    pairwise cutoffs, Angstrom)."""
    from ovito.modifiers import CreateBondsModifier

    mod = CreateBondsModifier(mode=CreateBondsModifier.Mode.Pairwise)
    for (a, b), r in network_cutoffs(cutoffs, formers).items():
        mod.set_pairwise_cutoff(a, b, r)
    return mod


def create_network_bonds(data, cutoffs=None, formers=FORMERS):
    """Replace any bonds of ``data`` (in place) by the network bonds of ``formers`` (B-O and Si-O, or
    B-O alone); returns ``data``."""
    if data.particles.bonds is not None:
        data.particles_.bonds = None
    present = {t.name for t in data.particles.particle_types.types}
    cut = {k: v for k, v in network_cutoffs(cutoffs, formers).items() if k[0] in present and k[1] in present}
    if cut:  # else e.g. a pure Li2O frame: no network bonds at all
        data.apply(network_bonds_modifier(cut, formers))
    return data


def cell_rows(data) -> np.ndarray:
    """Cell vectors as rows (3x3, Angstrom); OVITO stores them as columns."""
    return np.asarray(data.cell[:, :3], dtype=float).T.copy()


def element_index(data) -> np.ndarray:
    """Per-atom index into TYPE_MAP (0=Li, 1=B, 2=Si, 3=O)."""
    ptypes = data.particles.particle_types
    lut = np.full(max(t.id for t in ptypes.types) + 1, -1, dtype=np.int64)
    for t in ptypes.types:
        lut[t.id] = TYPE_MAP.index(t.name)
    return lut[np.asarray(ptypes)]


@dataclass
class Network:
    """One bonded frame: what every network analysis needs.

    ``bonds`` (m, 2) atom indices (first < second not guaranteed), ``bond_vectors``
    (m, 3) Angstrom from the first to the second atom across the periodic boundary
    (exact: OVITO's ``Periodic Image`` of the bond), ``cn`` network coordination
    number per atom (B/Si: O neighbours; O: former neighbours; Li: 0),
    ``ids`` particle identifiers (1-based index when the source has none).
    """

    data: object
    element: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: tuple[bool, bool, bool]
    bonds: np.ndarray
    bond_vectors: np.ndarray
    cn: np.ndarray
    ids: np.ndarray
    cutoffs: dict
    temperature: float | None = None

    @property
    def formers(self) -> tuple[str, ...]:
        """The network formers bonded in this network (B and Si, or B alone)."""
        return tuple(a for a, _ in self.cutoffs)

    @property
    def n_atoms(self) -> int:
        return len(self.element)

    def count(self, element: str) -> int:
        return int(np.count_nonzero(self.element == TYPE_MAP.index(element)))

    def minimum_image(self, vectors: np.ndarray) -> np.ndarray:
        """Minimum-image form of separation vectors (periodic directions only)."""
        inv = np.linalg.inv(self.cell)
        frac = vectors @ inv
        for k in range(3):
            if self.pbc[k]:
                frac[..., k] -= np.round(frac[..., k])
        return frac @ self.cell


def build_network(data, cutoffs=None, *, bonded: bool = False, formers=FORMERS) -> Network:
    """Bond a prepared frame (see :func:`iter_frames`) and pack it into a :class:`Network`.

    ``data`` is modified in place (network bonds replace any bonds); pass
    ``bonded=True`` when the bonds were made by :func:`create_network_bonds` already.
    """
    cut = network_cutoffs(cutoffs, formers)
    if not bonded:
        create_network_bonds(data, cut, formers)
    element = element_index(data)
    pos = np.asarray(data.particles.positions, dtype=float)
    cell = cell_rows(data)
    pbc = tuple(bool(x) for x in data.cell.pbc)
    n = len(element)
    if data.particles.bonds is not None and data.particles.bonds.count:
        bonds = np.asarray(data.particles.bonds.topology, dtype=np.int64)
        img = np.asarray(data.particles.bonds.pbc_vectors, dtype=float)
        vec = pos[bonds[:, 1]] - pos[bonds[:, 0]] + img @ cell
    else:
        bonds = np.zeros((0, 2), dtype=np.int64)
        vec = np.zeros((0, 3))
    cn = np.bincount(bonds.ravel(), minlength=n)
    if "Particle Identifier" in data.particles:
        ids = np.asarray(data.particles.identifiers, dtype=np.int64)
    else:
        ids = np.arange(1, n + 1, dtype=np.int64)
    return Network(data=data, element=element, positions=pos, cell=cell, pbc=pbc, bonds=bonds,
                   bond_vectors=vec, cn=cn, ids=ids, cutoffs=cut, temperature=frame_temperature(data))


def networks(source, frames=None, cutoffs=None, formers=FORMERS) -> Iterator[tuple[int, Network]]:
    """``(frame_index, Network)`` for each selected frame of ``source``."""
    for f, data in iter_frames(source, frames):
        yield f, build_network(data, cutoffs, formers=formers)


def formula_units(net: Network) -> float:
    """Oxide formula units in the frame: N(SiO2) + N(B2O3) + N(Li2O) = N_Si + N_B/2 + N_Li/2."""
    return net.count("Si") + net.count("B") / 2 + net.count("Li") / 2
