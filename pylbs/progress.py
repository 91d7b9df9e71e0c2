"""Progress of long commands: one line at a sensible interval, and a machine-readable heartbeat.

A :class:`Progress` prints, from MPI rank 0 and at most every ``interval_s`` seconds (plus
the first and last update), a line such as::

    [pylbs] g1 quench | T 1850 K (1843) | step 1,234,000/4,000,000 30.9% | 12.3 ns/day | 1:02:03 elapsed, ETA 2:15:00

and, when given a ``heartbeat`` path, writes the same numbers atomically to that JSON file
(``pylbs status`` reads it). ``PYLBS_QUIET=1`` (``--quiet`` on the command line) silences
the lines, never the heartbeat; ``PYLBS_PROGRESS_S`` sets the interval (default 20 s).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from .jsonio import write_json_atomic

DEFAULT_INTERVAL_S = 20.0


def quiet() -> bool:
    """Whether progress lines are switched off (``PYLBS_QUIET`` set to anything but 0/empty)."""
    return os.environ.get("PYLBS_QUIET", "") not in ("", "0")


def interval_s() -> float:
    try:
        return float(os.environ.get("PYLBS_PROGRESS_S", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S


def hms(seconds) -> str:
    """Seconds as H:MM:SS ('?' when unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Rate-limited progress of ``total`` units of work (MD steps, frames, training steps).

    ``update(done, **fields)``: ``stage``, ``temperature`` (target K) and ``measured``
    (instantaneous K) are shown when given; ``timestep_ps`` turns steps into ns/day.
    Speed and ETA count only the work done since this object was made (a resumed run
    does not look infinitely fast).
    """

    def __init__(self, label: str, total: int, *, start: int = 0, unit: str = "step", timestep_ps: float | None = None,
                 rank: int = 0, heartbeat=None, stream=None, interval: float | None = None, lines: bool = True):
        self.label, self.total, self.start, self.unit = label, int(total), int(start), unit
        self.timestep_ps = timestep_ps
        self.rank = rank
        self.lines = lines  # False: heartbeat only (a caller that was asked for no progress output)
        self.heartbeat = Path(heartbeat) if heartbeat else None
        self.stream = stream or sys.stderr
        self.interval = interval_s() if interval is None else interval
        self.t0 = time.perf_counter()
        self.last_print = None
        self.done = int(start)

    def rates(self, done: int) -> dict:
        el = time.perf_counter() - self.t0
        new = done - self.start
        per_s = new / el if el > 0 and new > 0 else None
        out = {"completed": int(done), "total": self.total, "elapsed_s": el,
               "eta_s": (self.total - done) / per_s if per_s else None, "per_s": per_s}
        if self.timestep_ps and per_s:
            out["ns_per_day"] = per_s * self.timestep_ps * 1e-3 * 86400
        return out

    def update(self, done: int, force: bool = False, **fields) -> None:
        if self.rank != 0:
            return
        self.done = int(done)
        now = time.perf_counter()
        due = force or self.last_print is None or now - self.last_print >= self.interval or done >= self.total
        if not due:
            return
        self.last_print = now
        r = self.rates(done)
        if self.heartbeat is not None:
            self._beat(r, fields)
        if quiet() or not self.lines:
            return
        parts = [f"[pylbs] {self.label}"]
        if fields.get("stage"):
            parts.append(str(fields["stage"]))
        if fields.get("temperature") is not None:
            t = f"T {fields['temperature']:.0f} K"
            if fields.get("measured") is not None:
                t += f" ({fields['measured']:.0f})"
            parts.append(t)
        pct = 100.0 * done / self.total if self.total else 100.0
        parts.append(f"{self.unit} {done:,}/{self.total:,} {pct:.1f}%")
        if r.get("ns_per_day"):
            parts.append(f"{r['ns_per_day']:.3g} ns/day")
        elif r["per_s"]:
            parts.append(f"{r['per_s']:.3g} {self.unit}s/s")
        parts.append(f"{hms(r['elapsed_s'])} elapsed, ETA {hms(r['eta_s'])}")
        print(" | ".join(parts), file=self.stream, flush=True)

    def _beat(self, r: dict, fields: dict) -> None:
        try:
            write_json_atomic(self.heartbeat, {"label": self.label, "unit": self.unit, **r,
                                               **{k: v for k, v in fields.items() if v is not None},
                                               "time": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
        except OSError:  # a full disk must not stop the MD; progress is a courtesy
            pass
