"""Rank-0 work inside MPI runs without leaving other ranks waiting.

Analyses and file writing run on rank 0 only. If rank 0 raised and the other
ranks waited in the ``bcast`` that follows, the run would hang forever (seen
with mpirun -np 2). :func:`on_rank0` broadcasts the failure instead, and every
rank raises: a pylbs error stays a pylbs error (one clean line from the CLI),
anything else becomes a RuntimeError (the CLI aborts all ranks with a traceback).
"""

from __future__ import annotations

from .errors import PylbsError


def on_rank0(comm, func):
    """``func()`` on rank 0, its result broadcast to every rank; its exception raised on every rank."""
    result, err = None, None
    if comm.Get_rank() == 0:
        try:
            result = func()
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            err = exc
    failure = comm.bcast(None if err is None else (isinstance(err, PylbsError), f"{type(err).__name__}: {err}"),
                         root=0)
    if err is not None:
        raise err
    if failure is not None:
        is_pylbs, text = failure
        raise (PylbsError if is_pylbs else RuntimeError)(text.split(": ", 1)[1] if is_pylbs else text)
    return comm.bcast(result, root=0)
