"""What a run folder says about itself: done, running (with ETA), stopped, or failed.

Read only from the files every pylbs run writes: ``summary.json`` (written last: done),
``progress.json`` (the last checkpoint: step, total, stage, done), ``heartbeat.json``
(the last progress line: step, ns/day, ETA, pid, host, time) and ``guard/event.json``
(an unphysical event stopped it). :func:`folder_status` walks a protocol folder and its
replica/temperature sub-folders; ``pylbs status`` prints it.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .jsonio import read_json
from .lammps_io import HEARTBEAT_FILE, PROGRESS_FILE, SUMMARY_FILE
from .progress import hms, interval_s


@dataclass
class RunState:
    path: Path
    state: str  # done | running | stopped | failed | pending
    step: int | None = None
    total: int | None = None
    stage: str | None = None
    eta_s: float | None = None
    ns_per_day: float | None = None
    age_s: float | None = None
    note: str = ""

    def line(self, root: Path) -> str:
        name = str(self.path.relative_to(root)) if self.path != root else self.path.name
        out = f"{name}: {self.state}"
        if self.step is not None and self.total:
            out += f", step {self.step:,}/{self.total:,} ({100 * self.step / self.total:.0f} %)"
        if self.stage:
            out += f", stage {self.stage}"
        if self.state == "running":
            if self.ns_per_day:
                out += f", {self.ns_per_day:.3g} ns/day"
            out += f", ETA {hms(self.eta_s)} (last progress {hms(self.age_s)} ago)"
        if self.note:
            out += f"; {self.note}"
        return out


def _alive(beat: dict) -> bool:
    """Whether the process that wrote a heartbeat still runs (same host: by pid; elsewhere: by age)."""
    if beat.get("host") == socket.gethostname() and beat.get("pid"):
        try:
            os.kill(int(beat["pid"]), 0)
        except (ProcessLookupError, PermissionError, ValueError):
            return False
    return time.time() - float(beat.get("time", 0)) < max(600.0, 10 * interval_s())


def run_state(folder) -> RunState:
    """The state of one run folder (a Session's work folder, or a protocol folder with a summary)."""
    folder = Path(folder)
    if (folder / SUMMARY_FILE).is_file():
        return RunState(folder, "done")
    progress = read_json(folder / PROGRESS_FILE) or {}
    beat = read_json(folder / HEARTBEAT_FILE) or {}
    event = read_json(folder / "guard" / "event.json")
    total = progress.get("total_steps") or beat.get("total")
    step = beat.get("completed", progress.get("step"))
    if event:
        return RunState(folder, "failed", progress.get("step"), total, progress.get("stage"),
                        note=f"guard stopped it: {event.get('what', event.get('kind'))}")
    if beat and _alive(beat):
        return RunState(folder, "running", step, total, beat.get("stage") or progress.get("stage"),
                        eta_s=beat.get("eta_s"), ns_per_day=beat.get("ns_per_day"),
                        age_s=time.time() - float(beat.get("time", time.time())))
    if progress.get("done"):
        return RunState(folder, "done", progress.get("step"), total, note="MD finished; no summary.json yet")
    if progress or beat:
        return RunState(folder, "stopped", progress.get("step"), total, progress.get("stage"),
                        note="not running: start the same command again to resume from the last checkpoint")
    return RunState(folder, "pending")


def folder_status(root, depth: int = 3) -> list[RunState]:
    """``root`` and every run folder below it (down to ``depth`` levels), parents first."""
    root = Path(root)
    found = []
    for path in [root, *sorted(p for p in root.rglob("*") if p.is_dir() and len(p.relative_to(root).parts) <= depth)]:
        if any((path / f).exists() for f in (SUMMARY_FILE, PROGRESS_FILE, HEARTBEAT_FILE)):
            found.append(run_state(path))
    return found
