"""The skeleton every protocol shares, written once:

    request -> is an identical finished run already there? -> Session(s) on every rank
            -> analysis on rank 0 -> summary.json (atomic, with the request in it)

A protocol gives :func:`run_protocol` its ``request`` (every input that changes the
result), a ``run(out, comm)`` that drives LAMMPS on every rank and returns what the
analysis needs, and an ``analyse(out, state)`` that runs on rank 0 and returns the
summary. A folder holding the same request returns its summary without running; a
folder holding another request is refused with the fix; a killed run resumes inside
its Sessions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import PylbsError
from ..glasses import Glass
from ..hashing import file_sha256
from ..jsonio import read_json, write_json_atomic
from ..lammps_env import mpi_comm
from ..lammps_io import SUMMARY_FILE
from ..mlp.train import is_compressed_copy
from ..mpiutil import on_rank0
from ..potential import WALL_FILE, wall_file_of


def replica_dir(out: Path, k: int) -> Path:
    """``out/replica-<k>``; the ``replica_<k>`` of a Tg folder written before pylbs 0.2 is kept so it resumes."""
    new, old = out / f"replica-{k}", out / f"replica_{k}"
    return old if old.is_dir() and not new.exists() else new


def _describe(request: dict | None) -> str:
    r = request or {}
    keys = ("protocol", "glass", "time_scale", "seed", "seeds")
    return ", ".join(f"{k} {r[k]}" for k in keys if k in r) or "another request"


#: A request names the FMP parameter file and shipped models by path; a finished run must still count as
#: the same run after a reinstall or from another checkout. A path ending in pylbs/data/<file> counts as
#: that package file when this install has <file> (a user's own data elsewhere never do).
_PACKAGE_DATA_PATH = re.compile(r"[^\s'\"]*/pylbs/data/([^\s'\"]+)")
_PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"
_PORTABLE_DATA = "<pylbs>/data/"  # how a request writes a package data file, whatever the install


def portable_request(request):
    """``request`` with package data files written the same way for every install location."""
    if isinstance(request, dict):
        return {k: portable_request(v) for k, v in request.items()}
    if isinstance(request, list):
        return [portable_request(v) for v in request]
    if not isinstance(request, str):
        return request
    return _PACKAGE_DATA_PATH.sub(lambda m: _PORTABLE_DATA + m.group(1) if (_PACKAGE_DATA / m.group(1)).is_file()
                                  else m.group(0), request)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def input_files_sha256(request) -> dict:
    """{portable path: sha256} of every file a request names by absolute path (a parameter file, a
    model, a start structure; alone or inside a LAMMPS command): the request names files, and a
    file edited in place would otherwise still count as the same run."""
    found = {}
    for text in _strings(request):
        for token in re.split(r"[\s'\"=,;()]+", text):  # also key=/a/b and /a/b, inside a command
            # a model's compressed copy is made from the model the request names, by its hash: hashing the
            # copy too would call a run changed when a cleared cache re-makes it
            if os.path.isabs(token) and os.path.isfile(token) and not is_compressed_copy(token):
                found[portable_request(token)] = file_sha256(token)
                wall = wall_file_of(token)  # a model runs with the wall beside it: part of the model
                if wall is not None and token.endswith(".pth"):
                    found[portable_request(str(wall))] = file_sha256(wall)
    return dict(sorted(found.items()))


def changed_inputs(recorded: dict | None) -> list[str]:
    """The files of ``recorded`` ({portable path: sha256}, a summary's ``inputs_sha256``) that exist
    and hold other bytes now (a package data file is looked up in this install); also a model's pair
    wall that was added or removed since (the wall is part of the model: :mod:`pylbs.potential.pair_wall`)."""
    changed = []
    for key, sha in (recorded or {}).items():
        path = _PACKAGE_DATA / key.removeprefix(_PORTABLE_DATA) if key.startswith(_PORTABLE_DATA) else Path(key)
        if path.is_file() and file_sha256(path) != sha:
            changed.append(key)
        elif path.name == WALL_FILE and not path.is_file():
            changed.append(key)  # the wall was removed
        if key.endswith(".pth") and path.is_file():
            wall = wall_file_of(path)
            wall_key = None if wall is None else portable_request(str(wall))
            if wall_key is not None and wall_key not in recorded:
                changed.append(wall_key)  # a wall laid beside the model after the run
    return changed


def finished_summary(out: Path, request: dict, comm) -> dict | None:
    """The summary of an identical finished request in ``out``; None when there is none (or only a
    summary without a request, which is recomputed); PylbsError when ``out`` holds another run, or
    the same request on files that changed since (a summary written before pylbs recorded the
    files' sha256 is compared by request alone)."""
    old = read_json(out / SUMMARY_FILE) if comm.Get_rank() == 0 else None
    old = comm.bcast(old, root=0)
    if old is None or "request" not in old:
        return None
    if portable_request(old["request"]) != portable_request(request):
        raise PylbsError(f"{out / SUMMARY_FILE} holds a different run ({_describe(old['request'])}); "
                         "use another output folder (--out) or delete that one")
    changed = on_rank0(comm, lambda: changed_inputs(old.get("inputs_sha256")))  # a failure raises on every rank
    if changed:
        raise PylbsError(f"{out / SUMMARY_FILE} was made from {', '.join(changed)} as it was then; the file has "
                         "changed since (sha256 differs): use another output folder (--out) for the new run, "
                         "or delete that one")
    return old


def run_protocol(out_dir, request: dict, *, run: Callable, analyse: Callable, comm=None) -> dict:
    """Run a protocol into ``out_dir`` through the shared skeleton (see the module docstring).

    Returns the summary as written (plain JSON), identical on every MPI rank.
    """
    comm = comm if comm is not None else mpi_comm()
    out = Path(out_dir).resolve()
    old = finished_summary(out, request, comm)
    if old is not None:
        return old
    inputs = on_rank0(comm, lambda: input_files_sha256(request))  # as the run starts
    if comm.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    state = run(out, comm)
    return on_rank0(comm, lambda: write_json_atomic(out / SUMMARY_FILE, {**analyse(out, state), "request": request,
                                                                         "inputs_sha256": inputs}))


def require_glass(glass) -> None:
    """Protocols take a resolved :class:`pylbs.glasses.Glass` (the command line and campaigns resolve
    names once, at the edge)."""
    if not isinstance(glass, Glass):
        raise PylbsError(f"expected a pylbs.glasses.Glass, got {glass!r}: resolve it once with "
                         "pylbs.glasses.get_glass('LBS-20-60-20') (or a Composition / mol% triple)")


def structure_input(structure) -> dict:
    """Session.run_schedule keyword for a structure given as a data file path or ase.Atoms."""
    if isinstance(structure, (str, os.PathLike)):
        path = Path(structure).resolve()
        if not path.is_file():
            raise PylbsError(f"structure file {path} does not exist; give a LAMMPS data file "
                             "(e.g. final.data of `pylbs quench`)")
        return {"data_file": path}
    return {"atoms": structure}


def structure_label(structure) -> str:
    """How a structure input is recorded in a request."""
    return str(structure) if isinstance(structure, (str, os.PathLike)) else f"atoms:{len(structure)}"
