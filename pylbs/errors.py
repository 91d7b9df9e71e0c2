"""Exceptions raised by pylbs. Every message says what went wrong and how to fix it."""


class PylbsError(Exception):
    """Base class for all pylbs errors."""


class CompositionError(PylbsError, ValueError):
    """A glass name or composition that cannot be used."""


class StructureError(PylbsError, ValueError):
    """An initial structure cannot be built (too few atoms, impossible packing, ...)."""


class ParameterFileError(PylbsError, ValueError):
    """A missing or malformed FMP parameter file, or an element absent from it."""


class PluginMissingError(PylbsError, RuntimeError):
    """A LAMMPS plugin (fmp/lbs or deepmd) was not loaded."""


class SimulationError(PylbsError, RuntimeError):
    """LAMMPS failed, lost atoms or blew up. Carries the tail of the LAMMPS log."""

    def __init__(self, message, log_tail=""):
        self.log_tail = log_tail
        if log_tail:
            message = f"{message}\n--- last lines of the LAMMPS log ---\n{log_tail}"
        super().__init__(message)


class AnalysisError(PylbsError, ValueError):
    """A structure or trajectory that cannot be analysed (unknown element, bad frame, no cell)."""


class UnphysicalEventError(SimulationError):
    """An MLP run met an unphysical event (atoms overlapping, models disagreeing).

    ``step``: where it was found; ``frames_file``: saved configurations for
    retraining; ``last_good_step``: the restart a re-run resumes from.
    """

    def __init__(self, message, log_tail="", *, step=None, frames_file=None, last_good_step=None):
        self.step, self.frames_file, self.last_good_step = step, frames_file, last_good_step
        super().__init__(message, log_tail=log_tail)
