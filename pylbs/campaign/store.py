"""One HDF5 file with every run of a campaign: results, the full summary and provenance.

Layout (h5py)::

    /                    attrs: format, format_version, campaign (name), created
    /campaign            attrs: text (the campaign file), plan (JSON list of tasks)
    /runs/<key>          one group per task (key = task id with "/" -> ":")
        attrs            id, kind, status ("done" | "failed"), glass, n_atoms, replica, seed, stage,
                         potential, schedule, attempts, finished_at, wall_s,
                         results (JSON: the scalars below), summary (JSON: the run's summary.json),
                         provenance (JSON: versions, git, potential + hashes, seeds, schedule),
                         log_tail (failed runs: the last lines of the task log)
        datasets         diffusion: temperatures_K, D_Li_A2_per_ps, C_Li_times_D_per_cm_s;
                         tg: tg_per_replica_K

Query from Python::

    from pylbs.campaign.store import Store
    s = Store("runs/campaign-laptop/results.h5")
    s.table(kind="fmp", glass="LBS-20-60-20")   # list of dicts (params + results)
    s.array(kind="analysis")                    # numpy structured array, NaN where missing
    s.summary("fmp/LBS-20-60-20/n300/r1"), s.provenance(...)

Only the campaign runner writes (one process); every write opens and closes
the file, so a killed runner leaves a readable store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..stats import finite

FORMAT = "pylbs-campaign-store"
FORMAT_VERSION = 1
PARAM_KEYS = ("glass", "n_atoms", "replica", "seed", "stage", "potential", "schedule", "time_scale")


def _key(task_id: str) -> str:
    return task_id.replace("/", ":")


def results_of(kind: str, summary: dict) -> dict:
    """The scalar results of one run's summary.json (what the report and tables use)."""
    s = summary or {}
    if kind == "fmp":
        return {"fraction_4B": finite(s.get("fraction_4B")), "fraction_5Si": finite(s.get("fraction_5Si")),
                "n_atoms_actual": finite(s.get("n_atoms")), "final_pe_eV_per_atom": finite(s.get("final_pe_eV_per_atom")),
                "wall_s": finite((s.get("timing") or {}).get("wall_s"))}
    if kind == "mlp":
        def m(k):
            return finite((s.get(k) or {}).get("mean"))
        return {"fraction_4B": m("fraction_4B"), "fraction_5Si": m("fraction_5Si"),
                "emin_fraction_4B": m("emin_fraction_4B"), "emin_fraction_5Si": m("emin_fraction_5Si"),
                "t_max_K": finite(s.get("t_max_K")), "wall_s": finite(s.get("wall_s"))}
    if kind == "analysis":
        rings = s.get("rings") or {}
        classes = s.get("three_membered_boron") or rings.get("three_membered_boron") or {}
        return {"fraction_4B": finite(s.get("fraction_4B")), "fraction_5Si": finite(s.get("fraction_5Si")),
                "fraction_3B_in_3MR": finite(s.get("fraction_3B_in_3MR")),
                "three_membered": finite(rings.get("three_membered")),
                **{f"three_membered_boron_{k}x4B": finite(classes.get(k)) for k in ("0", "1", "2", "3")},
                "three_membered_with_si": finite(s.get("three_membered_with_si")),
                "n_atoms_actual": finite(s.get("n_atoms")),
                # within-run, frame-to-frame spread (kept apart from the spread between runs)
                **{f"frame_std_{k}": finite((s.get("frame_std") or {}).get(k))
                   for k in ("fraction_4B", "fraction_3B_in_3MR")}}
    if kind == "formation":
        temps = [r.get("formation_temperature_K") for r in s.get("final_rings") or []]
        return {"n_final_3MR_boron": finite(s.get("n_final")),
                "median_formation_T_K": finite(float(np.median(temps))) if temps else None}
    if kind == "tg":
        return {"tg_K": finite(s.get("tg_K")), "tg_err_K": finite(s.get("tg_err_K")),
                "wall_s": finite((s.get("timing") or {}).get("wall_s"))}
    if kind == "diffusion":
        arr = s.get("arrhenius_Li") or {}
        out = {"Ea_eV": finite(arr.get("Ea_eV")), "Ea_err_eV": finite(arr.get("Ea_err_eV")),
               "wall_s": finite((s.get("timing") or {}).get("wall_s"))}
        for p in s.get("temperatures") or []:
            T = p.get("temperature_K")
            if T is not None:
                out[f"D_Li_A2_per_ps_{T:g}K"] = finite(p.get("D_Li_A2_per_ps"))
                out[f"C_Li_times_D_per_cm_s_{T:g}K"] = finite(p.get("C_Li_times_D_per_cm_s"))
        return out
    return {}


def _dump(obj) -> str:
    return json.dumps(obj, default=str, allow_nan=True)


class Store:
    """The campaign result store (HDF5). Open per call; safe to read while the runner writes between runs."""

    def __init__(self, path):
        self.path = Path(path)

    # ------------------------------------------------------------------ writing
    def _open(self, mode="a"):
        import h5py

        if mode == "r" and not self.path.exists():
            raise PylbsError(f"store {self.path} does not exist; run the campaign first (pylbs campaign run FILE)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(50):  # another process (the runner, a status call) may hold HDF5's file lock briefly
            try:
                f = h5py.File(self.path, mode)
                break
            except (BlockingIOError, OSError) as exc:
                if "lock" not in str(exc).lower() and not isinstance(exc, BlockingIOError) or attempt == 49:
                    raise PylbsError(f"cannot open the store {self.path}: {exc}") from exc
                time.sleep(0.1)
        if mode != "r" and "format" not in f.attrs:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        elif mode == "r" and f.attrs.get("format") != FORMAT:
            f.close()
            raise PylbsError(f"{self.path} is not a pylbs campaign store")
        return f

    def write_campaign(self, name: str, text: str, plan: list[dict]) -> None:
        with self._open() as f:
            f.attrs["campaign"] = name
            g = f.require_group("campaign")
            g.attrs["text"] = text
            g.attrs["plan"] = _dump(plan)

    def record(self, task, status: str, summary: dict | None = None, provenance: dict | None = None,
               log_tail: str = "", wall_s: float | None = None) -> None:
        """Write (or overwrite) the record of ``task`` (a :class:`~pylbs.campaign.tasks.Task`)."""
        with self._open() as f:
            runs = f.require_group("runs")
            key = _key(task.id)
            attempts = int(runs[key].attrs.get("attempts", 0)) if key in runs else 0
            if key in runs:
                del runs[key]
            g = runs.create_group(key)
            g.attrs["id"] = task.id
            g.attrs["kind"] = task.kind
            g.attrs["status"] = status
            for k in PARAM_KEYS:
                v = task.params.get(k)
                g.attrs[k] = "" if v is None else v
            g.attrs["out"] = task.out
            g.attrs["command"] = task.command
            g.attrs["attempts"] = attempts + 1
            g.attrs["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            g.attrs["wall_s"] = float("nan") if wall_s is None else float(wall_s)
            g.attrs["results"] = _dump(results_of(task.kind, summary) if summary else {})
            g.attrs["summary"] = _dump(summary or {})
            g.attrs["provenance"] = _dump(provenance or {})
            g.attrs["log_tail"] = log_tail or ""
            s = summary or {}
            if task.kind == "diffusion" and s.get("temperatures"):
                per = s["temperatures"]
                g["temperatures_K"] = np.array([p.get("temperature_K") or np.nan for p in per], dtype=float)
                for name in ("D_Li_A2_per_ps", "C_Li_times_D_per_cm_s"):
                    g[name] = np.array([np.nan if p.get(name) is None else p[name] for p in per], dtype=float)
            if task.kind == "tg" and s.get("tg_per_replica_K"):
                g["tg_per_replica_K"] = np.array([np.nan if t is None else t for t in s["tg_per_replica_K"]], float)

    def delete(self, task_id: str) -> None:
        """Forget the record of ``task_id`` (no-op if absent)."""
        if not self.path.exists():
            return
        with self._open() as f:
            key = _key(task_id)
            if "runs" in f and key in f["runs"]:
                del f["runs"][key]

    # ------------------------------------------------------------------ reading
    def campaign_text(self) -> str:
        with self._open("r") as f:
            return str(f["campaign"].attrs["text"]) if "campaign" in f else ""

    def campaign_name(self) -> str:
        with self._open("r") as f:
            return str(f.attrs.get("campaign", ""))

    def plan(self) -> list[dict]:
        with self._open("r") as f:
            return json.loads(f["campaign"].attrs["plan"]) if "campaign" in f else []

    def records(self) -> dict[str, dict]:
        """Every run record: id -> dict of attrs (JSON attrs decoded) and datasets."""
        out = {}
        if not self.path.exists():
            return out
        with self._open("r") as f:
            for key, g in (f["runs"].items() if "runs" in f else ()):
                d = {}
                for k, v in g.attrs.items():
                    v = v.item() if isinstance(v, np.generic) else v
                    if k in ("results", "summary", "provenance"):
                        v = json.loads(v)
                    d[k] = v
                for k, ds in g.items():
                    d[k] = ds[()]
                out[d["id"]] = d
        return out

    def record_of(self, task_id: str) -> dict | None:
        return self.records().get(task_id)

    def status(self) -> dict[str, str]:
        """id -> status of every recorded run."""
        return {k: v["status"] for k, v in self.records().items()}

    def summary(self, task_id: str) -> dict:
        r = self.record_of(task_id)
        if r is None:
            raise PylbsError(f"no run {task_id} in {self.path}")
        return r["summary"]

    def provenance(self, task_id: str) -> dict:
        r = self.record_of(task_id)
        if r is None:
            raise PylbsError(f"no run {task_id} in {self.path}")
        return r["provenance"]

    def table(self, kind: str | None = None, status: str | None = "done", **where) -> list[dict]:
        """Rows (dicts): id, kind, status, the task parameters and the scalar results; filtered by
        ``kind``, ``status`` (None: any) and equality on any column (``glass="LBS-20-60-20"``, ``n_atoms=300``)."""
        rows = []
        for tid, r in sorted(self.records().items()):
            row = {"id": tid, "kind": r["kind"], "status": r["status"]}
            row.update({k: (r.get(k) if r.get(k) != "" else None) for k in PARAM_KEYS})
            row["wall_s"] = r.get("wall_s")
            row.update(r["results"])
            if kind is not None and row["kind"] != kind:
                continue
            if status is not None and row["status"] != status:
                continue
            if any(row.get(k) != v for k, v in where.items()):
                continue
            rows.append(row)
        return rows

    def array(self, kind: str | None = None, status: str | None = "done", **where) -> np.ndarray:
        """:meth:`table` as a numpy structured array (strings as str, numbers as float with NaN)."""
        rows = self.table(kind, status, **where)
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        dtypes = []
        for c in cols:
            vals = [r.get(c) for r in rows]
            if all(v is None or isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
                dtypes.append((c, float))
            else:
                width = max([len(str(v)) for v in vals if v is not None] + [1])
                dtypes.append((c, f"U{width}"))
        arr = np.zeros(len(rows), dtype=dtypes)
        for i, r in enumerate(rows):
            for c, dt in dtypes:
                v = r.get(c)
                arr[i][c] = (np.nan if v is None else v) if dt is float else ("" if v is None else str(v))
        return arr
