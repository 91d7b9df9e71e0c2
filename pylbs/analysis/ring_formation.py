"""Three-membered-ring formation while cooling (paper Figs 6 and 7).

The paper takes configurations every 10 K of a 10 K/ps cooling run from the melt
to 300 K and plots (Fig. 6) the number of 3MRs made of B and O against
temperature, (Fig. 7) the 3MRs by class (how many of the three B are 4-fold), and (Fig. 7e) the share of the 3MRs present at 300 K that already
exist at each temperature, a ring's identity being its member atoms.

:func:`ring_formation` does both on any trajectory source (LAMMPS dump, extended
XYZ, list of ase.Atoms, OVITO pipeline) given a temperature per frame: either the
``temperatures`` argument (K, one per selected frame) or a per-frame attribute
``Temperature`` (extended XYZ ``temperature=...`` in the comment line, ase
``atoms.info["temperature"]``). Identities use particle identifiers, so a dump
whose atom order changes between frames is handled. :meth:`RingFormationResult.binned`
averages frames into temperature bins (default 10 K).

Per-frame counts are also available inside an OVITO pipeline through
:func:`pylbs.analysis.rings.rings_modifier` (attributes ``pylbs.rings.*``, which
OVITO's TimeSeriesModifier can collect); the share-of-final needs the whole run and
is therefore only a plain function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AnalysisError
from ..lammps_io import PROGRESS_FILE, TRAJECTORY_FILE, dump_steps
from ..protocols.schedules import Schedule
from .network import build_network, frame_temperature, iter_frames
from .rings import rings_of_network

#: the 3MR classes counted per frame (see :attr:`RingFormationResult.class_counts`)
CLASSES = ("0", "1", "2", "3", "other", "with_Si")


@dataclass
class RingFormationResult:
    """Per analysed frame: ``temperatures`` (K), ``n_three_membered`` (3MR count),
    ``share_of_final`` (fraction of the reference frame's 3MRs present, NaN when the
    reference frame has none). ``boron_only``: counts are of B-only 3MRs (paper
    Figs 6-7) rather than of all 3MRs. ``n_final`` = 3MRs of the reference frame.
    """

    frames: np.ndarray
    temperatures: np.ndarray
    n_three_membered: np.ndarray
    share_of_final: np.ndarray
    n_final: int
    boron_only: bool
    reference_frame: int
    #: member particle identifiers of each 3MR of the reference frame, and the temperature (K) of
    #: the frame from which it is present without a break up to the reference frame: its formation T
    final_rings: tuple = ()
    formation_temperatures: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: per frame, 3MRs by class (paper Fig. 7): ``"0"``..``"3"`` B-only rings with that many 4B
    #: members, ``"other"`` B-only rings with a B neither 3- nor 4-fold, ``"with_Si"`` rings with Si
    class_counts: dict = field(default_factory=dict)

    def _bin_means(self, width: float, series) -> tuple[np.ndarray, list[np.ndarray]]:
        """(bin-centre T, the mean of each per-frame series per bin) in ``width``-K bins, hottest first."""
        if not width > 0:
            raise AnalysisError(f"temperature bin width {width} K: give a positive number")
        key = np.floor(self.temperatures / width).astype(np.int64)
        bins = sorted(set(key.tolist()), reverse=True)
        means = [np.array([float(np.mean(np.asarray(v)[key == k])) for k in bins]) for v in series]
        return (np.array(bins) + 0.5) * width, means

    def binned(self, width: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bin-centre T, mean count, mean share) over frames in ``width``-K bins, hottest first."""
        t, (count, share) = self._bin_means(width, (self.n_three_membered, self.share_of_final))
        return t, count, share

    def binned_classes(self, width: float = 10.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(bin-centre T, {class: mean count}) over frames in ``width``-K bins, hottest first."""
        t, means = self._bin_means(width, list(self.class_counts.values()))
        return t, dict(zip(self.class_counts, means))

    def to_dict(self) -> dict:
        return {"frames": self.frames.tolist(), "temperature": self.temperatures.tolist(),
                "n_three_membered": self.n_three_membered.tolist(),
                "share_of_final": [None if np.isnan(x) else float(x) for x in self.share_of_final],
                "n_final": int(self.n_final), "boron_only": self.boron_only,
                "reference_frame": int(self.reference_frame),
                "final_rings": [{"ids": [int(i) for i in ids], "formation_temperature_K": float(t)}
                                for ids, t in zip(self.final_rings, self.formation_temperatures)],
                "class_counts": {c: [int(x) for x in v] for c, v in self.class_counts.items()}}


def ring_formation(source, temperatures=None, frames=None, cutoffs=None, boron_only: bool = True,
                   reference_frame: int = -1) -> RingFormationResult:
    """3MR count per frame and the share of the reference frame's 3MRs already present.

    ``temperatures``: K per selected frame (same length and order), or None to read
    each frame's ``Temperature`` attribute. ``reference_frame``: index into the
    selected frames of the configuration whose rings are "the final rings"
    (default the last, i.e. 300 K at the end of a cooling run). ``boron_only``:
    follow 3MRs of B and O only (paper Figs 6-7); False follows every 3MR.
    """
    keys, counts, temps, idx = [], [], [], []
    classes = {c: [] for c in CLASSES}
    for f, data in iter_frames(source, frames):
        res = rings_of_network(build_network(data, cutoffs), max_size=3)
        ks = res.three_ring_keys(boron_only=boron_only)
        keys.append(ks)
        counts.append(len(ks))
        for c in ("0", "1", "2", "3"):
            classes[c].append(int(res.three_membered_boron.get(c, 0)))
        classes["other"].append(int(res.three_membered_boron_other))
        classes["with_Si"].append(int(res.three_membered_with_si))
        temps.append(frame_temperature(data))
        idx.append(f)
    if not keys:
        raise AnalysisError("no frames selected; check --frames / the trajectory")
    if temperatures is not None:
        temperatures = np.asarray(temperatures, dtype=float).ravel()
        if len(temperatures) != len(keys):
            raise AnalysisError(
                f"{len(temperatures)} temperatures for {len(keys)} frames; give one temperature (K) per "
                "analysed frame, in frame order")
    else:
        if any(t is None for t in temps):
            raise AnalysisError(
                "frames carry no temperature; pass temperatures=[...] (K, one per frame) or store "
                "'temperature' in each frame (extended XYZ comment line / atoms.info)")
        temperatures = np.asarray(temps, dtype=float)
    ref = keys[reference_frame]
    share = np.array([len(k & ref) / len(ref) if ref else np.nan for k in keys])
    last = range(len(keys))[reference_frame]
    final_rings = sorted(ref, key=lambda k: tuple(sorted(k)))
    formed = []
    for ring in final_rings:  # walk back from the reference frame while the ring is there
        k = last
        while k > 0 and ring in keys[k - 1]:
            k -= 1
        formed.append(temperatures[k])
    return RingFormationResult(frames=np.asarray(idx), temperatures=temperatures,
                               n_three_membered=np.asarray(counts, dtype=np.int64), share_of_final=share,
                               n_final=len(ref), boron_only=boron_only,
                               reference_frame=int(idx[reference_frame]),
                               final_rings=tuple(tuple(sorted(int(i) for i in r)) for r in final_rings),
                               formation_temperatures=np.asarray(formed, dtype=float),
                               class_counts={c: np.asarray(v, dtype=np.int64) for c, v in classes.items()})


def run_schedule(run_dir) -> tuple[Schedule, float]:
    """(Schedule, timestep in ps) of a run folder, from its ``progress.json`` request."""
    try:
        request = json.loads((Path(run_dir) / PROGRESS_FILE).read_text())["request"]
        return Schedule.from_dict(request["schedule"]), float(request["timestep_ps"])
    except (OSError, ValueError, KeyError) as exc:
        raise AnalysisError(f"{run_dir} is not a pylbs run ({PROGRESS_FILE}: {exc}); give a run folder "
                            "(a replica folder of pylbs quench --mlp)") from None


def ring_formation_run(run_dir, first_stage: str = "cool", cutoffs=None, boron_only: bool = True):
    """:func:`ring_formation` of a run folder's frames from the start of its ``first_stage`` (the
    cooling of ``pylbs quench --mlp``; dump them densely with ``--cool-frame-every-K 10``) to its
    last frame, each at the schedule's target temperature of its step; the reference ("final")
    rings are those of the last frame (300 K)."""
    run_dir = Path(run_dir)
    schedule, dt = run_schedule(run_dir)
    names = [s.name for s in schedule.stages]
    if first_stage not in names:
        raise AnalysisError(f"{run_dir} has no stage {first_stage!r} (stages: {', '.join(names)}); "
                            "give --formation-stage with one of them")
    a = schedule.stage_bounds(dt)[names.index(first_stage)][0]
    steps = dump_steps(run_dir / TRAJECTORY_FILE) if (run_dir / TRAJECTORY_FILE).exists() else []
    frames = [k for k, st in enumerate(steps) if st >= a]
    if len(frames) < 2:
        raise AnalysisError(f"{run_dir / TRAJECTORY_FILE} has {len(frames)} frame(s) from stage {first_stage!r} on; "
                            "run the quench with --cool-frame-every-K 10 (a frame every 10 K while cooling)")
    temps = [schedule.temperature_at_step(steps[k], dt) for k in frames]
    return ring_formation(run_dir / TRAJECTORY_FILE, temperatures=temps, frames=frames, cutoffs=cutoffs,
                          boron_only=boron_only)
