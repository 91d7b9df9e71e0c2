#!/usr/bin/env python
"""How steeply does each potential resist two atoms closing in inside a glass? The energy of a glass
frame as one atom of a pair is moved towards the other, from their distance in the frame down to
``--closest``, computed by several methods side by side.

    python scripts/pair_approach_scan.py --pair Li-Li --methods chgnet-r2scan gfn1-xtb default fmp

The frame is the default shipped model's first held-out frame (LBS-15-25-60, 140 atoms, 300 K,
labelled by the teacher); the pair is the closest pair of the two elements in it; only the moved
atom moves (its other distances change too: this is a contact inside a rigid glass, not a dimer and
not a relaxed path; the closest distance from the moved atom to each element is recorded per point). Methods:
a teacher name (``chgnet-r2scan``), ``gfn1-xtb`` (tblite: an independent tight-binding method, no
machine learning), a shipped DeepMD model (``default`` or its name; deepmd-kit's ASE calculator) and
``fmp`` (the FMP-LBS plugin through LAMMPS). Prints dE(d) = E(d) - E(d0) per method next to kT at
2000 K, the stability check's temperature, and writes ``pair_approach_<pair>.json`` (--out).

Why: the guard's Li-Li limit (1.40 A) was crossed by the teacher's own 2000 K liquid (1.30 A) and by
FMP's (1.28 A). If the teacher barely resists a Li-Li contact that a quantum-mechanical method
resists by eV, the contact is likely the teacher's softness rather than the liquid's physics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pylbs.glasses import TYPE_MAP
from pylbs.jsonio import write_json_atomic

KT_2000K_EV = 8.617333e-5 * 2000.0


def heldout_frame():
    """(first frame of the default model's held-out glass, that glass's name)."""
    from pylbs.mlp.datasets import dataset_systems, load_system
    from pylbs.mlp.ship import HELDOUT_DIR
    from pylbs.potential.models import model_path

    folder = Path(model_path("default")).parent / HELDOUT_DIR
    ((name, system),) = [(n, load_system(f)) for part in ("train", "test")
                         for n, f in dataset_systems(folder, part).items()]
    return system.to("ase/structure")[0], name


def closest_to(atoms, k: int) -> dict:
    """{element: closest distance (A) from atom k}: what else the moved atom runs into."""
    d = atoms.get_distances(k, range(len(atoms)), mic=True)
    d[k] = np.inf
    sym = np.array(atoms.get_chemical_symbols())
    return {str(el): round(float(d[sym == el].min()), 3) for el in sorted(set(sym))}


def closest_pair(atoms, a: str, b: str) -> tuple[int, int, np.ndarray]:
    """(i, j, vector from i to j, minimum image) of the closest a-b pair."""
    sym = np.array(atoms.get_chemical_symbols())
    d = atoms.get_all_distances(mic=True, vector=True)
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    mask = (sym[:, None] == a) & (sym[None, :] == b)
    r = np.where(mask, r, np.inf)
    i, j = np.unravel_index(np.argmin(r), r.shape)
    return int(i), int(j), d[i, j]


def calculator(method: str):
    if method == "gfn1-xtb":
        from pylbs.mlp.label import gfn1_xtb

        return gfn1_xtb()
    if method == "fmp":
        return None  # LAMMPS below
    from pylbs.mlp.teachers import TEACHERS, teacher_calculator

    if method in TEACHERS:
        return teacher_calculator(method)
    from pylbs.potential import model_calculator
    from pylbs.potential.models import model_path

    return model_calculator(model_path(method))  # the model as it runs: with its pair wall, if it has one


def fmp_energies(frames) -> list[float]:
    """FMP-LBS energies of the frames (the plugin, LAMMPS, the default parameter file)."""
    import tempfile

    from pylbs.lammps_env import start_lammps
    from pylbs.potential import fmp_commands
    from pylbs.structure import write_lammps_data

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, atoms in enumerate(frames):
            data = write_lammps_data(atoms, Path(tmp) / f"f{k}.data")
            lmp = start_lammps()
            try:
                lmp.commands_list(["units metal", "atom_style charge", "boundary p p p", f"read_data {data}",
                                   *fmp_commands(), "run 0"])
                out.append(float(lmp.get_thermo("pe")))
            finally:
                lmp.close()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", default="Li-Li", help="two elements, e.g. Li-Li, B-B, Li-O")
    p.add_argument("--methods", nargs="+", default=["chgnet-r2scan", "gfn1-xtb", "default", "fmp"])
    p.add_argument("--closest", type=float, default=1.1, help="the scan's last distance (A)")
    p.add_argument("--points", type=int, default=10)
    p.add_argument("--out", default=".", help="folder for pair_approach_<pair>.json")
    args = p.parse_args(argv)
    a, b = args.pair.split("-")
    if a not in TYPE_MAP or b not in TYPE_MAP:
        raise SystemExit(f"--pair {args.pair}: elements must be among {TYPE_MAP}")
    frame, glass = heldout_frame()
    i, j, vec = closest_pair(frame, a, b)
    d0 = float(np.linalg.norm(vec))
    distances = np.linspace(d0, args.closest, args.points)
    frames = []
    for d in distances:  # atom j moves along the i -> j line
        x = frame.copy()
        x.positions[j] = frame.positions[i] + vec * (d / d0)
        frames.append(x)
    result = {"pair": args.pair, "atoms": [i, j], "frame": f"default model's held-out frame 0 ({glass})",
              "distances_A": distances.tolist(), "kT_2000K_eV": KT_2000K_EV,
              "moved_atom_closest_A": [closest_to(x, j) for x in frames], "dE_eV": {}}
    print(f"{args.pair} in {glass}: atom {j} moves towards atom {i}; its closest neighbours at the last point: "
          f"{result['moved_atom_closest_A'][-1]}")
    for method in args.methods:
        calc = calculator(method)
        if calc is None:
            energies = fmp_energies(frames)
        else:
            energies = []
            for x in frames:
                x.calc = calc
                energies.append(float(x.get_potential_energy()))
        result["dE_eV"][method] = [e - energies[0] for e in energies]
        print(f"{method}: " + " ".join(f"{d:.2f}:{e - energies[0]:+.2f}" for d, e in zip(distances, energies)),
              flush=True)
    path = Path(args.out) / f"pair_approach_{args.pair}.json"
    write_json_atomic(path, result)
    print(f"kT at 2000 K = {KT_2000K_EV:.3f} eV; written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
