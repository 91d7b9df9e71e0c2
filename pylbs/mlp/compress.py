"""The DeepMD models an MD run uses: each model's compressed copy whenever deepmd-kit can compress it.

``dp --pt compress`` tabulates the embedding nets; the MD is then 1.26-1.46x faster per step for
the tests' tiny model (README, Performance), at a tabulation error far below the model's own
(energies and forces equal to 1e-14 for the tiny model). The copy is made once and cached
beside the model as ``<stem>.compressed-<sha256[:12]>.pth`` (the hash is the original's, so a
retrained model never reuses an old copy), or under ``$PYLBS_CACHE/models`` where the model's
folder is read-only. A model deepmd-kit cannot compress (another descriptor type, a model already
compressed) runs as it is, and the record says why. ``PYLBS_COMPRESS=0`` (or ``compress=False``)
runs the originals.

Runs keep the ORIGINAL model paths in their request (resume and provenance are by the model the
user gave); the summary's ``md_models`` says which file drove the MD.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
from pathlib import Path

from ..errors import PylbsError
from ..hashing import file_sha256
from ..mpiutil import on_rank0
from .train import _run_dp

#: Environment switch: "0" runs the original models.
ENV = "PYLBS_COMPRESS"


def _deepmd_version() -> str:
    try:
        return importlib.metadata.version("deepmd-kit")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _cache_folder(model: Path) -> Path:
    if os.access(model.parent, os.W_OK):
        return model.parent
    return Path(os.environ.get("PYLBS_CACHE", Path.home() / ".cache" / "pylbs")) / "models"


def cached_copy_path(model: Path, sha: str) -> Path:
    """Where the compressed copy of ``model`` (whose sha256 is ``sha``) is cached: beside the model
    where one lies there already (a shipped model's, in a read-only install) or the folder is
    writable, else under ``$PYLBS_CACHE/models``."""
    beside = model.parent / f"{model.stem}.compressed-{sha[:12]}.pth"
    return beside if beside.is_file() else _cache_folder(model) / beside.name


def compressed_copy(model) -> dict:
    """``{"model", "sha256", "md_model", "compressed", "note"}`` for one model: ``md_model`` is the
    cached compressed copy (made now if missing, under a file lock so parallel runs make it once),
    or the model itself when deepmd-kit cannot compress it."""
    model = Path(model).resolve()
    sha = file_sha256(model)
    record = {"model": str(model), "sha256": sha, "md_model": str(model), "compressed": False, "note": ""}
    target = cached_copy_path(model, sha)
    if target.is_file():  # made before (or shipped): no lock needed, and none can be taken in a read-only folder
        return {**record, "md_model": str(target), "compressed": True, "note": "dp --pt compress (cached)"}
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    failed = target.with_suffix(f".failed-deepmd-{_deepmd_version()}")  # a deepmd upgrade tries again
    with open(folder / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists() and not failed.exists():
            work = folder / f".{target.stem}.work"
            work.mkdir(exist_ok=True)
            try:
                _run_dp(["--pt", "compress", "-i", str(model), "-o", "part.pth"], work, "compress.log")
                (work / "part.pth").replace(target)  # complete or absent: a killed compress leaves no copy
                shutil.rmtree(work, ignore_errors=True)
            except PylbsError as exc:  # not compressible: remember why (its log stays in work), run the original
                failed.write_text(str(exc).splitlines()[-1] if str(exc) else "dp compress failed")
    if target.exists():
        record.update(md_model=str(target), compressed=True, note="dp --pt compress (cached)")
    else:
        record["note"] = (f"not compressible, ran the original (delete {failed} to try again): "
                          + failed.read_text()[:300])
    return record


def compression_on(compress: bool | None = None) -> bool:
    """``compress``, or when None the ``$PYLBS_COMPRESS`` switch (on unless "0")."""
    return os.environ.get(ENV, "1") != "0" if compress is None else bool(compress)


def md_models(models, comm=None, compress: bool | None = None) -> list[dict]:
    """One record per model (see :func:`compressed_copy`), made on rank 0 and shared with every rank.
    ``compress=None`` follows ``$PYLBS_COMPRESS`` (on unless "0")."""
    models = [Path(m).resolve() for m in models]
    for m in models:
        if not m.is_file():
            raise PylbsError(f"DeepMD model {m} does not exist; train and freeze one (pylbs.mlp.train) or fix the path")
    compress = compression_on(compress)

    def make():
        if not compress:
            return [{"model": str(m), "sha256": file_sha256(m), "md_model": str(m), "compressed": False,
                     "note": f"compression off ({ENV}=0 or compress=False)"} for m in models]
        return [compressed_copy(m) for m in models]

    return make() if comm is None else on_rank0(comm, make)
