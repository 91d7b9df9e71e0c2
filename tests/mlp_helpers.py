"""Cheap ASE calculators for the labelling tests (importable by spawned workers)."""

from ase.calculators.lj import LennardJones


class FlakyLJ(LennardJones):
    """Lennard-Jones that fails like an unconverged SCF on frames with info['fail']."""

    def calculate(self, atoms=None, properties=None, system_changes=None):
        if atoms is not None and atoms.info.get("fail"):
            raise RuntimeError("SCF did not converge in 250 iterations")
        super().calculate(atoms, properties or ["energy"], system_changes or [])


def flaky_lj():
    return FlakyLJ(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)
