"""Labelled frames in, deepmd/npy datasets out (through dpdata).

Type map: every dataset and model in pylbs uses ``pylbs.glasses.TYPE_MAP``
= ``("Li", "B", "Si", "O")`` (DeepMD types 0..3, LAMMPS types 1..4). Frames
read from a file with another element order (a VASP OUTCAR lists elements in
POTCAR order, e.g. ``O Si Li``) are remapped to it; elements missing from a
file get zero atoms; an element outside the map is an error (a model for
Li-B-Si-O cannot learn it), unless the caller passes its own ``type_map``.

Formats (``fmt``): ``outcar`` (VASP OUTCAR, all ionic steps), ``vasprun``
(vasprun.xml), ``lammps-dump`` (unlabelled configurations; LAMMPS dumps carry
no energies, label them with :mod:`pylbs.mlp.label`), ``extxyz`` (extended
XYZ through ASE: energy, forces, stress or virial), ``deepmd`` (deepmd/npy
folder), or any dpdata format name. ``auto`` guesses from the file name.

A dataset folder written by :func:`write_dataset` is::

    DIR/train/<system>/   deepmd/npy, 90 % of each system's frames
    DIR/test/<system>/    the other 10 % (never used for training)
    DIR/dataset.json      systems, frame counts, split seed, type map
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..glasses import TYPE_MAP

FORMATS = {"outcar": "vasp/outcar", "vasprun": "vasp/xml", "lammps-dump": "lammps/dump",
           "extxyz": "extxyz", "deepmd": "deepmd/npy", "deepmd-npy": "deepmd/npy"}


def guess_format(path) -> str:
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        if (path / "type.raw").exists():
            return "deepmd"
        raise PylbsError(f"{path} is a folder without type.raw; give --fmt (deepmd folders have type.raw)")
    if "outcar" in name:
        return "outcar"
    if name.endswith(".xml") and "vasprun" in name:
        return "vasprun"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if "dump" in name or name.endswith(".lammpstrj"):
        return "lammps-dump"
    raise PylbsError(f"cannot tell the format of {path}; give fmt= one of {', '.join(FORMATS)}")


def check_elements(names, type_map=TYPE_MAP, where: str = "") -> None:
    bad = [el for el in names if el not in type_map]
    if bad:
        raise PylbsError(
            f"{where}element(s) {', '.join(bad)} are not in the type map {' '.join(type_map)}; "
            "pylbs models are for Li-B-Si-O: drop those frames, or pass your own type_map")


def to_type_map(system, type_map=TYPE_MAP):
    """``system`` with ``atom_names == list(type_map)`` (remapped in place and returned).

    Elements the frames lack get zero atoms; atoms of unused names are dropped from
    atom_names only when they have zero atoms (e.g. a dpdata 'X' placeholder).
    """
    names = list(system["atom_names"])
    numbs = list(system["atom_numbs"])
    used = [el for el, k in zip(names, numbs) if k > 0]
    check_elements(used, type_map)
    if any(el not in type_map for el in names):  # unused foreign names: rebuild without them
        keep = [i for i, el in enumerate(names) if el in type_map]
        old_to_new = {old: new for new, old in enumerate(keep)}
        system.data["atom_types"] = np.array([old_to_new[t] for t in system["atom_types"]])
        system.data["atom_names"] = [names[i] for i in keep]
        system.data["atom_numbs"] = [numbs[i] for i in keep]
    system.sort_atom_names(type_map=list(type_map))
    return system


def read_frames(path, fmt: str = "auto", type_map=TYPE_MAP, labelled: bool = True, lammps_types=None):
    """Frames of ``path`` as a dpdata ``LabeledSystem`` (``labelled=False``: ``System``)
    in the project type map.

    ``lammps_types``: element of each LAMMPS type of a dump (default TYPE_MAP order).
    """
    import dpdata

    fmt = guess_format(path) if fmt == "auto" else fmt
    dp_fmt = FORMATS.get(fmt, fmt)
    where = f"{path}: "
    if dp_fmt == "lammps/dump":
        if labelled:
            raise PylbsError(f"{path}: a LAMMPS dump has no energies; read it with labelled=False "
                             "and label it (pylbs mlp label)")
        system = dpdata.System(str(path), fmt="lammps/dump", type_map=list(lammps_types or TYPE_MAP))
    elif dp_fmt == "extxyz":
        system = frames_from_atoms(_read_ase(path), labelled=labelled, type_map=type_map)
    else:
        cls = dpdata.LabeledSystem if labelled else dpdata.System
        try:
            system = cls(str(path), fmt=dp_fmt)
        except Exception as exc:  # dpdata raises plain exceptions on bad files
            raise PylbsError(f"{where}dpdata could not read it as {dp_fmt}: {exc}") from exc
    if len(system) == 0:
        raise PylbsError(f"{where}no frames found")
    try:
        return to_type_map(system, type_map)
    except PylbsError as exc:
        raise PylbsError(where + str(exc)) from None


def _read_ase(path):
    from ase.io import read

    return read(str(path), index=":")


def frames_from_atoms(frames, labelled: bool = True, type_map=TYPE_MAP):
    """dpdata system from a list of ase.Atoms with the same atoms in the same order.

    Labels come from each frame's calculator (energy, forces, stress -> virial
    W = -stress * volume) or from ``atoms.info['energy'|'virial']`` /
    ``atoms.arrays['forces']``.
    """
    import dpdata

    if not frames:
        raise PylbsError("no frames given")
    symbols = frames[0].get_chemical_symbols()
    check_elements(sorted(set(symbols)), type_map)
    for k, a in enumerate(frames):
        if a.get_chemical_symbols() != symbols:
            raise PylbsError(f"frame {k} has other atoms than frame 0; one system = one atom list "
                             "(split the file per composition)")
    names = list(type_map)
    types = np.array([names.index(s) for s in symbols])
    data = {"atom_names": names, "atom_numbs": [int((types == t).sum()) for t in range(len(names))],
            "atom_types": types, "orig": np.zeros(3),
            "cells": np.array([np.asarray(a.cell) for a in frames]),
            "coords": np.array([a.positions for a in frames]), "nopbc": not frames[0].pbc.any()}
    if not labelled:
        return dpdata.System(data=data)
    energies, forces, virials = [], [], []
    for k, a in enumerate(frames):
        e, f, w = _labels_of(a)
        if e is None or f is None:
            raise PylbsError(f"frame {k} has no energy/forces; label it first (pylbs mlp label)")
        energies.append(e)
        forces.append(f)
        virials.append(w)
    data.update(energies=np.array(energies), forces=np.array(forces))
    if all(w is not None for w in virials):
        data["virials"] = np.array(virials)
    return dpdata.LabeledSystem(data=data)


def _labels_of(atoms):
    e = atoms.info.get("energy")
    f = atoms.arrays.get("forces")
    w = atoms.info.get("virial")
    calc = atoms.calc
    if calc is not None:
        res = calc.results
        e = res.get("energy", res.get("free_energy", e))
        f = res.get("forces", f)
        if "stress" in res and all(atoms.pbc):
            from ase.stress import voigt_6_to_full_3x3_stress

            stress = np.asarray(res["stress"])
            w = -(voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress) * atoms.get_volume()
    if w is not None:
        w = np.asarray(w, dtype=float).reshape(3, 3)
    return (None if e is None else float(e)), (None if f is None else np.asarray(f, float)), w


def split_indices(n_frames: int, test_fraction: float = 0.1, seed: int = 1, key: str = ""):
    """(train, test) frame indices: a seeded shuffle, ``round(test_fraction * n)`` test frames
    (at least 1 when n >= 2). ``key`` (the system name) makes each system's shuffle its own
    while staying reproducible."""
    if not 0 <= test_fraction < 1:
        raise PylbsError(f"test_fraction={test_fraction}: give a number in [0, 1)")
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    perm = rng.permutation(n_frames)
    n_test = int(round(test_fraction * n_frames))
    if n_frames >= 2 and test_fraction > 0:
        n_test = min(max(n_test, 1), n_frames - 1)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def write_dataset(systems: dict, out, test_fraction: float = 0.1, seed: int = 1,
                  sources: dict | None = None, labellers: dict | None = None) -> dict:
    """Split each named system 90/10 (by default) and write ``out/train/<name>``,
    ``out/test/<name>`` (deepmd/npy) and ``out/dataset.json``. Returns the manifest.
    Existing systems of the same name are replaced; others in ``out`` are kept.
    ``labellers``: {name: provenance dict} recorded as the system's ``labeller`` (for a
    teacher: name, package, version, weight file and its sha256; pylbs.mlp.teachers)."""
    import shutil

    out = Path(out)
    manifest_path = out / "dataset.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"systems": {}}
    manifest.update(type_map=list(TYPE_MAP), seed=seed, test_fraction=test_fraction)
    for name, system in systems.items():
        if "/" in name or name.startswith("."):
            raise PylbsError(f"system name '{name}' must be a plain folder name")
        to_type_map(system)
        train, test = split_indices(len(system), test_fraction, seed, key=name)
        for part, idx in (("train", train), ("test", test)):
            dest = out / part / name
            if dest.exists():
                shutil.rmtree(dest)
            if len(idx):
                system.sub_system(idx).to("deepmd/npy", str(dest))
        manifest["systems"][name] = {
            "frames": len(system), "atoms": int(system.get_natoms()), "train": len(train), "test": len(test),
            "elements": {el: int(k) for el, k in zip(system["atom_names"], system["atom_numbs"]) if k},
            "source": (sources or {}).get(name, ""), "virial": "virials" in system.data}
        if (labellers or {}).get(name):
            manifest["systems"][name]["labeller"] = labellers[name]
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


#: Where a shipped model keeps the datasets it was trained on (pylbs.mlp.ship), so that a loop on another
#: machine can continue it with the same data (``pylbs mlp learn --init-model NAME``).
TRAINING_DATA_DIR = "training-data"


#: Arrays a carried dataset stores as float32: positions to ~1e-6 A and forces to ~1e-7 relative, far
#: below what a model learns, at half the bytes (a shipped model may take 20 MB). Energies stay float64:
#: a frame's total energy is thousands of eV, where float32 would round at ~1e-4 eV.
CARRIED_FLOAT32 = ("coord.npy", "box.npy", "force.npy", "virial.npy")


def copy_dataset_compact(src, dest) -> Path:
    """Copy a dataset (``write_dataset``'s layout) to ``dest`` with :data:`CARRIED_FLOAT32` arrays as
    float32; deepmd-kit casts what it reads to its own precision. A labelling run's per-frame cache
    (``labelling/<system>/frames/``, ``pylbs mlp label``'s resume files) repeats the labels in JSON
    and is left out, and so are a DFT labeller's per-frame folders (``calc/``: VASP's outputs); its
    ``report.json`` (throughput, screening) and ``labeller.json`` are kept."""
    import shutil

    src, dest = Path(src), Path(dest)

    def cache(folder, names):
        return {"frames", "calc", "heartbeat.json"} & set(names) if Path(folder).parent == src / "labelling" else set()

    shutil.copytree(src, dest, ignore=cache)
    for path in dest.glob("*/*/set.*/*.npy"):
        if path.name in CARRIED_FLOAT32:
            data = np.load(path)
            if data.dtype == np.float64:
                np.save(path, data.astype(np.float32))
    return dest


def carried_datasets(model_file) -> list[Path]:
    """The training datasets shipped beside ``model_file`` (none for a model shipped without them)."""
    root = Path(model_file).resolve().parent / TRAINING_DATA_DIR
    return sorted(d for d in root.iterdir() if (d / "dataset.json").exists()) if root.is_dir() else []


def dataset_systems(dataset, part: str = "train") -> dict[str, Path]:
    """{name: folder} of one part (``train`` or ``test``) of a dataset written by write_dataset.

    A plain deepmd/npy folder (with type.raw) is accepted too, as a single system.
    """
    dataset = Path(dataset)
    if (dataset / "type.raw").exists():
        return {dataset.name: dataset}
    manifest = dataset / "dataset.json"
    if not manifest.exists():
        raise PylbsError(f"{dataset} is neither a pylbs dataset (no dataset.json) nor a deepmd/npy folder")
    names = json.loads(manifest.read_text())["systems"]
    return {n: dataset / part / n for n in names if (dataset / part / n / "type.raw").exists()}


def load_system(folder):
    """A deepmd/npy folder as a dpdata LabeledSystem in the project type map."""
    import dpdata

    return to_type_map(dpdata.LabeledSystem(str(folder), fmt="deepmd/npy"))


def load_joined(folders):
    """Several deepmd/npy folders as one dpdata LabeledSystem (the first one, the others appended)."""
    systems = [load_system(f) for f in folders]
    out = systems[0]
    for s in systems[1:]:
        out.append(s)
    return out
