"""Cheap ASE calculators for the labelling tests (importable by spawned workers)."""

from ase.calculators.lj import LennardJones


class FlakyLJ(LennardJones):
    """Lennard-Jones that raises, as tblite does on an unconverged SCF, on frames with info['fail']."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        if atoms is not None and atoms.info.get("fail"):
            raise RuntimeError("SCF did not converge in 250 iterations")
        super().calculate(atoms, properties or ["energy"], system_changes or [])


def flaky_lj():
    return FlakyLJ(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)


def lammps_deepmd_energy_forces(model, coords, cell, types, potential=None):
    """(energy, forces sorted by atom) of ``pair_style deepmd MODEL`` (or the ``potential`` command
    lines) on one frame (orthogonal cell, TYPE_MAP types 0-3): the LAMMPS side of the LAMMPS-vs-Python
    checks."""
    import numpy as np

    from pylbs.glasses import TYPE_MAP
    from pylbs.lammps_env import start_lammps

    lmp = start_lammps(require=(("pair", "deepmd"),))
    try:
        lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p",
                           f"region b prism 0 {cell[0, 0]} 0 {cell[1, 1]} 0 {cell[2, 2]} 0 0 0",
                           "create_box 4 b", "mass * 10.0"])
        for t, p in zip(types, coords):
            lmp.command(f"create_atoms {t + 1} single {p[0]:.12f} {p[1]:.12f} {p[2]:.12f} units box remap yes")
        lmp.commands_list(list(potential or [f"pair_style deepmd {model}", f"pair_coeff * * {' '.join(TYPE_MAP)}"])
                          + ["thermo_style custom pe", "run 0"])
        ids = np.asarray(lmp.numpy.extract_atom("id"))[:len(types)]
        return lmp.get_thermo("pe"), np.asarray(lmp.numpy.extract_atom("f"))[:len(types)][np.argsort(ids)]
    finally:
        lmp.close()
