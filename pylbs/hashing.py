"""Content hashes of files: the identity of a model, a parameter file or a teacher's weights in
provenance records and cache names."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes; cached per (path, mtime, size), so a changed file is hashed anew."""
    p = Path(path).resolve()
    st = p.stat()
    return _sha256_cached(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
