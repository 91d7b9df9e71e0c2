"""Glass-aware active learning: an ensemble of DeepMD models, a universal-potential teacher, and the loop
train -> explore -> select -> label that makes them agree on every glass condition.

Why a small loop over pylbs's own pieces and not DP-GEN: DP-GEN's labelling step drives
file-based DFT codes through dpdispatcher and its exploration is LAMMPS input templates
per system; pylbs's teacher is a Python (ASE) calculator and its exploration needs
pylbs's FMP glasses, conditions and run folders. Wrapping both as DP-GEN "custom" steps
would be more glue than this module. The generic engines are still the field's:
deepmd-kit trains (``dp --pt train``, later iterations ``--init-model`` from the previous
one) and evaluates the ensemble's model deviation inside LAMMPS (``pair_style deepmd
m1 m2 ... out_file``); the teacher labels through :mod:`pylbs.mlp.label`. On a cluster,
dpdispatcher runs the labels and the trainings as queue jobs (``machine``: a machine file with
``fp`` and ``train`` sections, :mod:`pylbs.mlp.queue_jobs`).

One iteration (folder ``OUT/iter-<k>``):

1. train ``n_models`` models (different seeds) on the seed data and every earlier
   iteration's labels (``train-<m>/``);
2. explore every system under every condition (:mod:`pylbs.mlp.explore`) with the
   ensemble (``explore/<system>/<condition>/``);
3. select the frames whose maximum force deviation lies in ``[trust_lo, trust_hi)``
   (candidates; at most ``max_candidates``, spread over the runs); frames at or above
   ``trust_hi`` are "failed" (too far from the data to label usefully);
4. label them with the teacher (``label/<system>/``, resumable per frame) into
   ``data/`` for the next iteration.

Converged when, on every explored condition, under ``candidate_goal`` (1 %) of the
frames are candidates and none failed, AND the deviation reads the error (on the held-out
glass, the median over frames of model 0's maximum force error against the teacher divided by
the ensemble's maximum force deviation is at most ``max_error_over_deviation``: models that start
from one set of weights agree on wrong forces, and then no candidate count means anything),
AND an NVT run at ``stability_K`` (2000 K, the
temperature at which the paper's model let atoms overlap) of every catalogue glass
finishes with no guard stop (the guard's default rule: a pair that stays under its limit,
not one that collides and clears; :mod:`pylbs.protocols.guard`). Every step resumes: trainings restart from their
checkpoints, explorations and labels that finished are skipped. ``record.json`` keeps
every iteration (frames explored, candidates, accurate, failed, deviation histograms,
errors against the teacher on a held-out glass never trained on) and
``candidate_fraction.png`` draws the candidate fraction per iteration.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..glasses import CATALOG
from ..jsonio import read_json, write_json_atomic
from ..lammps_env import init_worker_process, mpi_comm, under_mpi_launcher
from ..plotting import pyplot, save
from ..potential.models import model_path
from ..potential.pair_wall import WALL_FILE, wall_file_of, wall_of
from ..progress import Progress
from ..structure import read_lammps_data
from .compress import md_models
from .datasets import TRAINING_DATA_DIR, carried_datasets, dataset_systems, load_joined, write_dataset
from .evaluate import deviation_vs_error, evaluate_model
from .explore import END_MEMBERS, classify, explore, frames_at, glass_conditions, system_glass
from .fmp_frames import sample_fmp_frames
from .label import (Screening, frames_of_system, holds_labels, label_frames, labeller_fingerprint,
                    labeller_provenance)
from .queue_jobs import read_machine
from .stability import StabilityCheck, fmp_start_glass, run_stability
from .train import (TrainingSettings, architecture_of, begun_steps, neighbor_stat, sel_from_counts, side_by_side,
                    train_and_freeze)
from .worst_atoms import anatomy

#: DP-GEN's usual trust levels for oxide glasses lie around 0.15-0.35 eV/A; a frame below
#: ``trust_lo`` is known to the ensemble, one at or above ``trust_hi`` is too far to label.
TRUST_LO, TRUST_HI = 0.15, 0.35


#: What a loop written before a setting existed did, so it resumes as it ran (keys absent from its
#: settings.json take these values, not the new defaults).
BEFORE_SETTING = {"hot_K": None, "init_model": None, "fresh_members": False, "refresh_members": False,
                  # older loops are held to the deviation check too: it changes no step they ran, only
                  # whether their record may call them converged
                  "max_error_over_deviation": 3.0}


@dataclass(frozen=True)
class LearnSettings:
    """Every knob of the loop. The defaults are a laptop-scale run (2 cores, hours); see
    :data:`PAPER_SCALE` for the settings the issue's convergence criteria are written for."""

    teacher: str = "chgnet-r2scan"
    systems: tuple[str, ...] = tuple(g for g in CATALOG if g != "LBS-15-25-60") + tuple(END_MEMBERS)
    held_out: str = "LBS-15-25-60"  # never trained on: the card's transferability test
    n_atoms: int = 120
    n_models: int = 4
    iterations: int = 4
    trust_lo: float = TRUST_LO
    trust_hi: float = TRUST_HI
    max_candidates: int = 150
    candidate_goal: float = 0.01
    explore_time_scale: float = 0.05
    out_freq: int = 10
    fmp_time_scale: float = 0.005
    seed_temperatures: tuple[float, ...] = (300.0, 1000.0, 1800.0, 2600.0)
    seed_frames: int = 6
    seed_strains: tuple[float, ...] = (0.0, 0.05, -0.05)
    init_steps: int = 20000
    refine_steps: int = 8000
    descriptor_neurons: tuple[int, ...] = (16, 32, 64)
    axis_neuron: int = 8
    fitting_neurons: tuple[int, ...] = (96, 96, 96)
    sel: object = "neighbor-stat"  # or the max neighbours per type (a list), skipping deepmd-kit's neighbor-stat
    # float32 trains 1.4-1.8x faster than float64 on CPU: side by side, one core each, 120-atom batches
    # took 0.23 s against 0.32-0.41 s (docs/mlp.md)
    precision: str = "float32"
    # final learning rate: deepmd's 3.5e-8 suits 1e6 steps; over 5000 steps it reached 6e-6 by step 2600 and
    # the force RMSE stalled at ~1 eV/A (docs/mlp.md), so the loop's short trainings stop at 1e-5
    stop_lr: float = 1e-5
    # the deviation must read the error: on the held-out glass, the median over frames of model 0's
    # maximum force error over the ensemble's maximum deviation at most this, or no iteration converges
    # (a choice; an ensemble continued from the default model measured 26x there and 24-34x on its own
    # explored frames, docs/mlp.md: its models share their starting weights)
    max_error_over_deviation: float = 3.0
    stability_K: float = 2000.0
    stability_ps: float = 100.0
    stability_time_scale: float = 0.1
    stability_atoms: int = 300
    stability_glasses: tuple[str, ...] = tuple(CATALOG)
    workers: int = 2  # labelling processes, and explorations run at once (each on one core)
    # a dpdispatcher machine file (pylbs.mlp.queue_jobs): its "fp" section labels the teacher's (DFT's)
    # frames as queue jobs, its "train" section trains the models as queue jobs; exploration stays here
    machine: str | None = None
    train_jobs: int = 2  # models trained at the same time (each dp process on one thread)
    conditions: tuple[str, ...] | None = None  # only these exploration conditions (None: all of glass_conditions)
    seed: int = 1
    zbl_core: tuple[float, float] | None = None
    compress: bool | None = None  # compressed copies in MD (pylbs.mlp.compress; None: $PYLBS_COMPRESS, on)
    # explore NVT at this temperature too (None: not): the loop is judged by a run at stability_K, so it
    # must see that liquid; the first model shipped without it was stopped at 2000 K on every glass
    hot_K: float | None = 2000.0
    # a frozen model (.pth) iteration 0 starts from (refine_steps, its architecture) instead of
    # training from scratch: how a loop continues a shipped model on another machine
    init_model: str | None = None
    # with init_model: only model 0 continues it; the others train from their own random weights
    # (init_steps), so the ensemble disagrees where the data leave the force open (models that all
    # start from one set of weights agree on wrong forces: docs/mlp.md)
    fresh_members: bool = False
    # every model but model 0 trains again from its own random weights (init_steps) in every iteration,
    # as DP-GEN's members do unless told to reuse them: members that continue their own weights come to
    # agree where they are wrong (run7: the error over the deviation rose 0.78 -> 3.48 in six
    # iterations, docs/models.md). Model 0, the model a loop ships, keeps continuing its own.
    refresh_members: bool = False

    def training(self, steps: int, seed: int) -> TrainingSettings:
        return TrainingSettings(sel=list(self.sel) if isinstance(self.sel, (list, tuple)) else self.sel,
                                descriptor_neurons=self.descriptor_neurons,
                                axis_neuron=self.axis_neuron, fitting_neurons=self.fitting_neurons, numb_steps=steps,
                                decay_steps=max(100, steps // 40), batch_size=1, disp_freq=max(10, steps // 100),
                                save_freq=max(100, steps // 10), seed=seed, pref_e=(0.2, 1.0), pref_f=(100.0, 1.0),
                                pref_v=(0.02, 0.2), precision=self.precision, stop_lr=self.stop_lr)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LearnSettings":
        """Settings as ``settings.json`` keeps them (lists back to tuples; keys of newer versions only)."""
        known = {f for f in cls.__dataclass_fields__}
        d = {**BEFORE_SETTING, **d}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})


#: Settings a resumed loop may change: how far it goes and how fast, not what it has done. The trust
#: levels and the cap decide selections not made yet (per iteration, as DP-GEN's per-job levels): each
#: iteration keeps the ones it selected with (``iter-<k>/selection.json``, its record), so a window
#: set against a new ensemble's measured error (``heldout_deviation``) applies from the next selection.
#: ``refine_steps`` applies from the next training on (a begun one keeps its learning-rate schedule,
#: :func:`pylbs.mlp.train.begun_steps`): the lever when model 0's error stops falling at the old length.
#: ``refresh_members`` likewise applies from the next training on (a begun one keeps what it started from).
RESUMABLE_CHANGES = ("iterations", "workers", "train_jobs", "compress", "machine", "trust_lo", "trust_hi",
                     "max_candidates", "refine_steps", "refresh_members")
SELECTION_KNOBS = ("trust_lo", "trust_hi", "max_candidates")

#: The issue's convergence run: all 11 glasses and the end members at ~300 atoms, paper-length
#: explorations and a 100 ps stability run at 2000 K (for a GPU machine or a cluster).
PAPER_SCALE = LearnSettings(n_atoms=300, iterations=10, explore_time_scale=1.0, fmp_time_scale=0.2,
                            init_steps=200000, refine_steps=100000, descriptor_neurons=(25, 50, 100), axis_neuron=16,
                            fitting_neurons=(240, 240, 240), stability_time_scale=1.0, max_candidates=500)


class ActiveLearning:
    """The loop in folder ``out`` (see the module docstring); ``run()`` goes on where it stopped."""

    def __init__(self, out, settings: LearnSettings | None = None, comm=None, initial_data=()):
        self.out = Path(out).resolve()
        self.s = settings or LearnSettings()
        self.comm = comm
        self.initial_data = [Path(d).resolve() for d in initial_data]
        old = read_json(self.out / "settings.json")
        if old:
            old = {**BEFORE_SETTING, **old}
        new = _plain(self.s.to_dict())
        changed = sorted(k for k in set(old or {}) | set(new)
                         if k not in RESUMABLE_CHANGES and (old or {}).get(k) != new.get(k)) if old else []
        if changed:
            raise PylbsError(f"{self.out} holds a loop with other settings ({', '.join(changed)}); use another "
                             "folder, or the same settings to resume")
        if not 0 < self.s.trust_lo < self.s.trust_hi:  # a zero lower level counts every frame a candidate
            raise PylbsError(f"trust levels [{self.s.trust_lo:g}, {self.s.trust_hi:g}) eV/A: give 0 < LO < HI, e.g. "
                             f"--trust {TRUST_LO:g} {TRUST_HI:g}")
        names = [c.name for c in glass_conditions(system_glass(self.s.systems[0]), 1.0, self.s.hot_K)]
        unknown = set(self.s.conditions or ()) - set(names)
        if unknown:  # a loop that explores nothing would "converge" at once
            raise PylbsError(f"no exploration condition is called {', '.join(sorted(unknown))}; the conditions are "
                             f"{', '.join(names)}")
        labeller = labeller_provenance(self.s.teacher)  # fails here, naming the package or module, not hours in
        if "weight_sha256" not in labeller and "module_sha256" not in labeller:
            raise PylbsError(f"--teacher {self.s.teacher} is a built-in calculator for labelling by hand (pylbs mlp "
                             "label), not a loop's teacher: give a teacher (pylbs.mlp.teachers) or module:function")
        self.out.mkdir(parents=True, exist_ok=True)
        self.init_model = self._keep_init_model() if self.s.init_model else None
        if self.init_model:  # a shipped model continues on the data it was trained on, when it carries them
            self.initial_data = list(dict.fromkeys([*(d for d in carried_datasets(self.init_model)
                                                      if d != self._carried_seed()), *self.initial_data]))
        self.record = read_json(self.out / "record.json")
        if not self.record:  # written now: a resume is checked against this labeller from the first label on
            self.record = {"iterations": [], "teacher": labeller}
            self._save()
        self._check_labeller(labeller)
        if old:  # before settings.json takes a new window: the one an older loop's labelling began with
            self._keep_window_of_begun_labellings(old)
        write_json_atomic(self.out / "settings.json", self.s.to_dict())  # every check passed: the loop's now
        self.record["initial_data"] = [str(d.resolve()) for d in self.initial_data]  # trained on: the card lists it

    def _keep_init_model(self) -> Path:
        """The model the loop continues, copied into ``OUT/init/`` with the data it carries the first time:
        the loop then neither follows a model re-shipped under the same name nor loses it with a reinstall."""
        kept = self.out / "init" / "model.pth"
        if not kept.exists():
            source = Path(model_path(self.s.init_model))  # a shipped name or a file
            architecture_of(source)  # a wrong file fails here, not after hours of seed labelling
            for d in carried_datasets(source):
                for m in (read_json(d / "dataset.json") or {}).get("systems", {}).values():
                    if (m.get("labeller") or {}).get("name", self.s.teacher) != self.s.teacher:
                        raise PylbsError(f"{source} was trained on labels of {m['labeller']['name']} ({d}); this loop's "
                                         f"teacher is {self.s.teacher}: energies of two labellers do not mix (give "
                                         f"--teacher {m['labeller']['name']})")
            tmp = kept.parent.with_name("init.part")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            shutil.copyfile(source, tmp / "model.pth")
            for d in carried_datasets(source):
                shutil.copytree(d, tmp / TRAINING_DATA_DIR / d.name)
            for extra in ("card.json",):  # its training steps and lineage, for the card of what ships next
                if (source.parent / extra).exists():
                    shutil.copyfile(source.parent / extra, tmp / extra)
            if wall_file_of(source) is not None:  # its pair wall: the loop explores and ships with it
                wall_of(source)  # a broken wall file fails here, with its own message
                shutil.copyfile(wall_file_of(source), tmp / WALL_FILE)
            tmp.rename(kept.parent)
        else:
            self._say_if_wall_changed(kept)
        return kept

    def _say_if_wall_changed(self, kept: Path) -> None:
        """A resumed loop keeps the model (and wall) it started from; say so when the source's wall has
        changed since, so nobody reads this loop's models as continuing the newer wall."""
        try:
            source = Path(model_path(self.s.init_model))
        except PylbsError:  # the shipped name is gone: the kept copy is all there is
            return
        if not source.is_file():  # moved, deleted, or relative to another folder: nothing to compare
            return
        theirs, ours = wall_file_of(source), wall_file_of(kept)
        if (theirs and theirs.read_bytes()) == (ours and ours.read_bytes()):
            return
        if (self.comm or mpi_comm()).Get_rank() == 0:
            now = f"now runs with {theirs}" if theirs else "now has no pair wall"
            kept_as = f"the wall kept with it, {ours}" if ours else "no pair wall (as it was kept)"
            print(f"[pylbs] note: {source} {now}; this loop continues the copy in {kept.parent} with "
                  f"{kept_as}. Start a new OUT to continue the model as it is now.", file=sys.stderr, flush=True)

    def _carried_seed(self) -> Path | None:
        """The seed data the continued model carries (``OUT/init/training-data/NN-seed``), if any; refused
        when it holds the held-out glass, which this loop must never train on."""
        if not self.init_model:
            return None
        seed = next((d for d in carried_datasets(self.init_model) if d.name.split("-", 1)[-1] == "seed"), None)
        if seed is not None and self.s.held_out in (read_json(seed / "dataset.json") or {}).get("systems", {}):
            raise PylbsError(f"{seed} holds {self.s.held_out}, this loop's held-out glass; give --held-out the "
                             "continued model's held-out glass (its card names it)")
        return seed

    # ------------------------------------------------------------ data
    def fmp_glass(self, system: str, n_atoms: int | None = None) -> Path:
        """The FMP start glass of a system (melt-quench at ``fmp_time_scale``), made once."""
        return fmp_start_glass(self.out, system, system_glass(system), n_atoms or self.s.n_atoms,
                               self.s.fmp_time_scale, self.s.seed, self.comm)

    def _check_labeller(self, now: dict | None = None) -> dict:
        """The loop's labeller as its record has it, refused when its weights or module changed since
        (checked before every labelling: a DFT module edited during a days-long loop must not mix in);
        while the loop holds no label yet (a DFT set-up fixed in the module), the new one is kept instead.
        ``now``: the labeller's provenance where the caller has just hashed it."""
        kept, now = self.record.get("teacher") or {}, now or labeller_provenance(self.s.teacher)
        if labeller_fingerprint(kept) != labeller_fingerprint(now):
            if not holds_labels(self.out):
                self.record["teacher"] = now
                self._save()
                return now
            raise PylbsError(f"{self.out} was labelled by {kept.get('name')} (sha256 {labeller_fingerprint(kept)}); "
                             f"{self.s.teacher} now has sha256 {labeller_fingerprint(now)}: labels of a changed "
                             "labeller do not mix with the loop's; restore it or start another loop folder")
        return kept

    def _queue(self, kind: str) -> dict | None:
        """The machine file's section for ``kind`` ("fp": labels, "train": trainings), None to run here."""
        return read_machine(self.s.machine, kind, required=False) if self.s.machine else None

    def _label(self, name: str, frames, folder: Path):
        """Label ``frames`` into ``folder/label/name``. Frames whose calculator failed are computed once
        more before the caller writes its dataset: after that the dataset is settled and they stay out."""
        self._check_labeller()
        for _ in range(2):
            system, report = label_frames(frames, folder / "label" / name, self.s.teacher, self.s.workers,
                                          Screening(max_force=50.0), name=name,
                                          machine=self.s.machine if self._queue("fp") else None)
            if not report["failed"]:
                break
        return system, report

    def seed_data(self) -> Path:
        """Iteration 0's data: FMP-MD frames of every system at ``seed_temperatures`` and strains,
        labelled by the teacher (``OUT/seed/data``)."""
        data = self.out / "seed" / "data"
        if (data / "dataset.json").exists():
            return data
        if self._carried_seed():  # the continued model's own seed data: made again, every frame would count twice
            return self._carried_seed()
        systems, reports = {}, {}
        for name in self.s.systems:
            systems[name], reports[name] = self._label(name, self._seed_frames(name), self.out / "seed")
        write_dataset({k: v for k, v in systems.items() if v is not None}, data, seed=self.s.seed,
                      sources={k: f"FMP-MD frames labelled by {self.s.teacher}" for k in systems},
                      labellers={k: self.record["teacher"] for k in systems})
        return data

    def _seed_frames(self, name: str) -> list:
        """The FMP-MD frames of one system to label, sampled once and kept (a resumed loop
        reads them instead of running the FMP MD again)."""
        from ase.io import read, write

        kept = self.out / "seed" / "frames" / f"{name}.extxyz"
        if kept.exists():
            return read(kept, ":")
        frames = []
        for k, eps in enumerate(self.s.seed_strains):
            atoms = None if not eps else _read_atoms(self.fmp_glass(name))
            sys_ = sample_fmp_frames(system_glass(name) if atoms is None else None, n_atoms=self.s.n_atoms,
                                     temperatures=self.s.seed_temperatures, frames_per_temperature=self.s.seed_frames,
                                     steps_between=100, seed=self.s.seed + k, atoms=atoms,
                                     strain=(eps, eps, eps, 0, 0, 0) if eps else None)
            frames += frames_of_system(sys_)
        kept.parent.mkdir(parents=True, exist_ok=True)
        write(kept.with_suffix(".part"), frames, format="extxyz")
        kept.with_suffix(".part").replace(kept)
        return frames

    def held_out_data(self) -> Path:
        """Teacher-labelled frames of the held-out glass (FMP-MD at several temperatures)."""
        data = self.out / "heldout" / "data"
        if not (data / "dataset.json").exists():
            sys_ = sample_fmp_frames(system_glass(self.s.held_out), n_atoms=self.s.n_atoms,
                                     temperatures=self.s.seed_temperatures, frames_per_temperature=3, steps_between=100,
                                     seed=self.s.seed + 100)
            system, _ = self._label(self.s.held_out, frames_of_system(sys_), self.out / "heldout")
            write_dataset({self.s.held_out: system}, data, test_fraction=0.0, seed=self.s.seed,
                          sources={self.s.held_out: f"FMP-MD frames labelled by {self.s.teacher}, never trained on"},
                          labellers={self.s.held_out: self.record["teacher"]})
        return data

    def datasets(self, upto: int) -> list[Path]:
        """The seed data, any initial data given, and the labels of iterations before ``upto``."""
        out = [self.seed_data(), *self.initial_data]
        out += [self.out / f"iter-{k:03d}" / "data" for k in range(upto)
                if (self.out / f"iter-{k:03d}" / "data" / "dataset.json").exists()]
        return out

    # ------------------------------------------------------------ one iteration
    def train(self, k: int) -> list[Path]:
        folder = self.out / f"iter-{k:03d}"
        train, valid = [], []
        for d in self.datasets(k):
            train += list(dataset_systems(d, "train").values())
            valid += list(dataset_systems(d, "test").values())
        sel = self.s.sel
        if k == 0 and sel == "neighbor-stat" and not self.init_model:  # measured once, before any model trains
            sel = self._sel(train)

        # what model 0 continues: the shape every model of the iteration shares (one MD model shape)
        parent = self.init_model if k == 0 else (self.out / f"iter-{k - 1:03d}" / "train-0" / "model.ckpt.pt")

        def one(m):
            work = folder / f"train-{m}"
            # a training begun keeps its start, its seed and its steps (its learning-rate schedule); one
            # begun before start.json was kept began before refresh_members existed
            begun = begun_steps(work)
            started = read_json(work / "start.json") if begun is not None else None
            refreshed = m > 0 and self.s.refresh_members and begun is None
            fresh = refreshed or (k == 0 and self.init_model and self.s.fresh_members and m > 0)
            # a refreshed member draws new weights each iteration, not the same ones on more data
            seed = self.s.seed + 1000 * m + (k if refreshed else 0)
            if started:
                fresh, seed = m > 0 and started.get("init_model") is None, started.get("seed", seed)
            elif begun is not None:
                seed = ((read_json(work / "input.json") or {}).get("training") or {}).get("seed", seed)
            init = None if fresh else (self.out / f"iter-{k - 1:03d}" / f"train-{m}" / "model.ckpt.pt" if k > 0
                                       else self.init_model)  # from it; seeds shuffle the batches
            steps = begun or (self.s.refine_steps if init is not None else self.s.init_steps)
            settings = replace(self.s.training(steps, seed), sel=sel)
            if fresh and parent is not None and not (work / "model.pth").exists():  # model 0's architecture
                settings = replace(settings, **architecture_of(parent))
            return train_and_freeze(train, valid or train, work, settings, progress=m == 0,
                                    init_model=init, machine=self._queue("train"))

        return self._with_wall(side_by_side(one, range(self.s.n_models), self.s.train_jobs))

    def _with_wall(self, models: list[Path]) -> list[Path]:
        """Lay the continued model's pair wall (``OUT/init/pair_wall.json``) beside every trained model:
        the ensemble then explores, is checked at 2000 K and ships with the wall it will run with (the
        models learn the teacher alone; the wall is what a stiffer reference adds, docs/mlp.md)."""
        wall = wall_file_of(self.init_model) if self.init_model else None
        for m in models if wall is not None else ():
            if not (Path(m).parent / WALL_FILE).exists():
                shutil.copyfile(wall, Path(m).parent / WALL_FILE)
        return models

    def _sel(self, train) -> list[int]:
        """The ensemble's ``sel`` (max neighbours per type + 10 %, deepmd-kit's neighbor-stat on the
        iteration-0 data), kept in ``OUT/sel.json``; later iterations inherit it from their init model."""
        path = self.out / "sel.json"
        if not path.exists():
            write_json_atomic(path, sel_from_counts(neighbor_stat(train, self.s.training(1, 0).rcut, workdir=self.out)[1]))
        return read_json(path)

    def explore_all(self, k: int, models) -> list:
        """Every (system, condition) run of iteration ``k``, in order. A single-rank loop runs
        ``workers`` of them at a time, each in its own process on one core (the runs are
        independent and one 120-atom DeepMD run cannot use a second core); under mpirun (any number
        of ranks) the ranks share each run instead."""
        folder = self.out / f"iter-{k:03d}" / "explore"
        work = [(name, cond) for name in self.s.systems
                for cond in glass_conditions(system_glass(name), self.s.explore_time_scale, self.s.hot_K)
                if self.s.conditions is None or cond.name in self.s.conditions]
        comm = self.comm or mpi_comm()
        starts = {name: self.fmp_glass(name) for name in dict.fromkeys(n for n, _ in work)}
        md_models(models, comm, self.s.compress)  # compressed copies made once, before any run uses them
        jobs = [dict(start_data=str(starts[name]), models=[str(m) for m in models],
                     out_dir=str(folder / name / cond.name), condition=cond, system=name, out_freq=self.s.out_freq,
                     seed=self.s.seed + k, zbl_core=self.s.zbl_core, compress=self.s.compress) for name, cond in work]
        reporter = Progress(f"explore iteration {k}", len(work), unit="run")
        n_jobs = 1 if comm.Get_size() > 1 or under_mpi_launcher() else min(self.s.workers, len(jobs))
        if n_jobs <= 1:
            runs = []
            for j, job in enumerate(jobs):
                runs.append(explore(**job, comm=self.comm))
                reporter.update(j + 1, stage=f"{job['system']} {job['condition'].name}")
            return runs
        ctx = multiprocessing.get_context("spawn")  # no fork of torch/LAMMPS/MPI state
        with ctx.Pool(n_jobs, initializer=init_worker_process) as pool:
            runs = []
            for run in pool.imap(_explore_job, jobs):
                runs.append(run)
                reporter.update(len(runs), stage=f"{run.system} {run.condition}")
        return runs

    def _keep_window_of_begun_labellings(self, old: dict) -> None:
        """An iteration whose labelling began before selections were kept (no ``selection.json``) selected
        with the window of the settings it ran with, ``old``: kept in ``iter-<k>/window_before.json``
        before settings.json changes, so its frames are picked again whatever the window later (a label
        folder pairs results with frames by their place in the list). Written once; under mpirun the
        first rank's file, written before its settings.json, is every rank's."""
        finished = {r["iteration"] for r in self.record["iterations"] if r.get("complete")}
        for folder in sorted(self.out.glob("iter-*")):
            kept = folder / "window_before.json"
            number = re.fullmatch(r"iter-(\d+)", folder.name)
            if not number or int(number[1]) in finished:  # not an iteration, or recorded: never selected again
                continue
            if (folder / "label").exists() and not (folder / "selection.json").exists() and not kept.exists():
                write_json_atomic(kept, {k: old[k] for k in SELECTION_KNOBS})

    def selection(self, k: int, runs) -> dict:
        """Iteration ``k``'s selection, made once and kept in ``iter-<k>/selection.json`` with the trust
        levels and cap it was made with: a resumed loop labels these frames even when ``--trust`` changed
        since (a label folder holds frames by their place in this list)."""
        path = self.out / f"iter-{k:03d}" / "selection.json"
        explored = {f"{r.system}/{r.condition}": len(r.steps) for r in runs}
        kept = read_json(path)
        if kept:
            if kept.get("explored", explored) != explored:
                raise PylbsError(f"{path} was selected from other explorations than {path.parent / 'explore'} now "
                                 f"holds (an exploration was run again): delete {path}, {path.parent / 'label'}, "
                                 f"{path.parent / 'data'} and {path.parent / 'labels.json'} to select and label this "
                                 "iteration again")
            return {**kept, "picks": [tuple(p) for p in kept["picks"]]}
        before = path.parent / "window_before.json"  # a labelling begun before selections were kept
        window = (read_json(before) or {}) if (path.parent / "label").exists() else {}
        lo, hi, cap = (window.get(k, getattr(self.s, k)) for k in SELECTION_KNOBS)
        picks = self.select(k, runs, (lo, hi, cap))
        out = {"trust_levels_eV_per_A": [lo, hi], "max_candidates": cap, "picks": picks, "explored": explored}
        write_json_atomic(path, {**out, "picks": [list(p) for p in picks]})
        before.unlink(missing_ok=True)  # selection.json holds it now
        return out

    def select(self, k: int, runs, window: tuple[float, float, int] | None = None) -> list[tuple[str, str, int]]:
        """(system, condition, step) of the frames to label: those with trust_lo <= deviation < trust_hi,
        and those with a pair closer than the guard allows (whatever their deviation: models that share
        a blind spot agree on it). At most ``max_candidates``, drawn at random (seeded by the
        iteration): half from each kind, a kind with fewer leaving its share to the other.
        ``window``: (trust_lo, trust_hi, max_candidates), the settings' by default."""
        lo, hi, cap = window or (self.s.trust_lo, self.s.trust_hi, self.s.max_candidates)
        window, overlap = [], []
        for r in runs:
            over = r.overlap or [False] * len(r.steps)
            for s, c, o in zip(r.steps, classify(r.max_devi_f, lo, hi), over):
                if o:
                    overlap.append((r.system, r.condition, s))
                elif c == 1:
                    window.append((r.system, r.condition, s))
        n_over = min(len(overlap), max(cap // 2, cap - len(window)))
        n_window = min(len(window), cap - n_over)
        rng = np.random.default_rng(self.s.seed + k)
        picked = set()
        for pool, n in ((overlap, n_over), (window, n_window)):
            take = rng.choice(len(pool), n, replace=False) if n < len(pool) else range(len(pool))
            picked.update(pool[i] for i in take)
        order = {c: i for i, c in enumerate((r.system, r.condition, s) for r in runs for s in r.steps)}
        return sorted(picked, key=order.__getitem__)

    def label_candidates(self, k: int, picks) -> dict:
        folder = self.out / f"iter-{k:03d}"
        data = folder / "data"
        if (data / "dataset.json").exists() or not picks:
            return {"labelled": read_json(folder / "labels.json") or {}}
        systems, reports = {}, {}
        for name in sorted({p[0] for p in picks}):
            frames = []
            for cond in sorted({p[1] for p in picks if p[0] == name}):
                steps = [p[2] for p in picks if p[0] == name and p[1] == cond]
                frames += frames_at(folder / "explore" / name / cond, steps)
            system, report = self._label(name, frames, folder)
            reports[name] = {"frames": report["frames"], "accepted": report["accepted"],
                             "rejected": report["rejected"], "failed": report["failed"]}
            if system is not None:
                systems[name] = system
        write_json_atomic(folder / "labels.json", reports)
        if systems:
            write_dataset(systems, data, seed=self.s.seed + k,
                          sources={n: f"iteration {k} candidates labelled by {self.s.teacher}" for n in systems},
                          labellers={n: self.record["teacher"] for n in systems})
        return {"labelled": reports}

    def stability_check(self) -> StabilityCheck:
        return StabilityCheck(temperature_K=self.s.stability_K, ps=self.s.stability_ps,
                              time_scale=self.s.stability_time_scale, atoms=self.s.stability_atoms,
                              glasses=tuple(self.s.stability_glasses))

    def stability(self, models, k: int) -> dict:
        """The 2000 K stability check of iteration ``k``'s converged ensemble (:mod:`pylbs.mlp.stability`),
        in ``iter-<k>/stability``: a loop resumed with another window may converge again, later."""
        models = self._with_wall(models)  # iterations trained before the loop carried walls have none beside them
        folder = self.out / f"iter-{k:03d}" / "stability"
        legacy = self.out / "stability"  # where a loop before per-iteration checks ran (or began) its one check
        if legacy.exists() and k == _first_converged(self.record):
            folder = legacy  # its finished runs are read back (run_stability compares each run's request)
        return run_stability(models, folder, self.stability_check(),
                             lambda name, n: self.fmp_glass(name, n), comm=self.comm, seed=self.s.seed,
                             compress=self.s.compress, zbl_core=self.s.zbl_core)

    # ------------------------------------------------------------ the loop
    def _wall_time_file(self, k: int) -> Path:
        return self.out / f"iter-{k:03d}" / "wall_s.json"

    @contextlib.contextmanager
    def _timed(self, k: int, stage: str):
        """Add the stage's wall time to iter-k/wall_s.json when it ends, or fails, or is interrupted: a
        resumed iteration adds its own time to the earlier runs' (a resume that finds a stage done adds
        ~0 s, not a new total). Only the time of a process killed outright (SIGKILL) is lost."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            path = self._wall_time_file(k)
            wall = read_json(path) or {"train": 0.0, "explore": 0.0, "label": 0.0}
            wall[stage] += time.perf_counter() - t0
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, wall)

    def run(self) -> dict:
        heldout = self.held_out_data()
        for k in range(self.s.iterations):
            if k < len(self.record["iterations"]) and self.record["iterations"][k].get("complete"):
                rec = self._recheck(k, self.record["iterations"][k])
                if k == len(self.record["iterations"]) - 1 and self._converged_here(rec):
                    break
                continue
            with self._timed(k, "train"):
                models = self.train(k)
            with self._timed(k, "explore"):
                runs = self.explore_all(k, models)
            with self._timed(k, "label"):
                selection = self.selection(k, runs)
                labels = self.label_candidates(k, selection["picks"])
            rec = self._iteration_record(k, models, runs, selection, labels, heldout,
                                         read_json(self._wall_time_file(k)))
            self.record["iterations"][k:] = [rec]
            for verdict in ("converged", "model"):  # an earlier last iteration's, until run() ends below
                self.record.pop(verdict, None)
            self._save()
            if self._converged_here(rec):
                break
        k_last = len(self.record["iterations"]) - 1
        last = self._recheck(k_last, self.record["iterations"][-1])
        if last["converged_exploration"] and stability_iteration(self.record) != k_last:
            self.record["stability"] = self.stability([Path(m) for m in last["models"]], k_last)
            self.record["stability_iteration"] = k_last
            self._save()
        stab = self.record.get("stability") if stability_iteration(self.record) == k_last else None
        self.record["converged"] = bool(last["converged_exploration"] and stab
                                        and not any(r["stopped"] for r in stab.values()))
        self.record["model"] = last["models"][0]
        self._save()
        return self.record

    def _iteration_record(self, k, models, runs, selection, labels, heldout, wall) -> dict:
        """Iteration ``k`` counted at the trust levels it selected with (``selection``)."""
        per = {}
        worst = 0.0
        lo, hi = selection["trust_levels_eV_per_A"]
        for r in runs:
            cls = classify(r.max_devi_f, lo, hi)
            n = len(cls)
            frac = float((cls == 1).sum()) / n if n else 1.0
            hist = np.histogram(np.clip(r.max_devi_f, 0, 2 * hi), bins=20, range=(0, 2 * hi))[0].tolist()
            per.setdefault(r.system, {})[r.condition] = {
                "frames": n, "accurate": int((cls == 0).sum()), "candidates": int((cls == 1).sum()),
                "failed": int((cls == 2).sum()), "overlap": int(sum(r.overlap or ())),
                "candidate_fraction": frac, "blew_up": r.blew_up, "max_devi_f_histogram": hist}
            worst = max(worst, frac if n else 1.0)
        total = sum(c["frames"] for s in per.values() for c in s.values())
        ncand = sum(c["candidates"] for s in per.values() for c in s.values())
        nfail = sum(c["failed"] for s in per.values() for c in s.values())
        # an ensemble continued from one model starts as copies of it: its first deviations say little
        # (unless its other members started fresh: what their trainings did, not today's settings)
        fresh = self._started_fresh(models)
        copies = k == 0 and self.init_model and not (
            all(fresh[1:]) if None not in fresh else self.s.fresh_members)
        converged = not copies and all(
            c["candidate_fraction"] < self.s.candidate_goal and c["failed"] == 0 and not c["blew_up"]
            and c["overlap"] == 0 for s in per.values() for c in s.values())
        held = _load_all(heldout)  # read once for both checks
        errors = evaluate_model(models[0], {f"heldout-{self.s.held_out}": held},
                                self.out / f"iter-{k:03d}" / "heldout", plots=False)["metrics"]
        calibration = self._calibration(models, held)
        # how far model 0 is from what the window asks: on glass frames the worst atom is the tail of
        # the RMSE, so under 1 % candidates at trust_lo needs 99 % of frames under it (docs/models.md)
        tail = anatomy(models[0], held, draws=20000, trust=lo)
        demand = {"force_rmse": tail["force_rmse"], "tail_ratio": tail["tail_ratio"], **tail["rmse_for_trust"]}
        return {"iteration": k, "complete": True, "models": [str(m) for m in models],
                "training_frames": sum(_n_frames(d) for d in self.datasets(k)),
                "frames": total, "candidates": ncand, "failed": nfail,
                "overlap": sum(c["overlap"] for s in per.values() for c in s.values()),
                "candidate_fraction": ncand / total if total else None, "worst_condition_fraction": worst,
                "selected": len(selection["picks"]), "labels": labels["labelled"],
                "converged_exploration": converged and calibration["sees_its_error"], "heldout_deviation": calibration,
                "trust_levels_eV_per_A": [lo, hi], "max_candidates": selection["max_candidates"],
                "training_steps": [begun_steps(Path(m).parent) for m in models], "started_fresh": fresh,
                "exploration": per,
                "heldout_errors": errors, "heldout_demand": demand, "wall_s": wall}

    @staticmethod
    def _started_fresh(models) -> list[bool | None]:
        """Per model: did its training start from random weights (its ``start.json``; None for a training
        begun before that file was kept)? A resume may switch ``refresh_members``, so the record keeps
        what each iteration's members did."""
        starts = [read_json(Path(m).parent / "start.json") for m in models]
        return [None if st is None else st.get("init_model") is None for st in starts]

    def _calibration(self, models, held) -> dict:
        """The ensemble's deviation against model 0's true error on the held-out glass: the candidate
        count means something only where the deviation reads the error (models that share their
        starting weights can agree on a wrong force). ``sees_its_error``: the median over frames of
        error / deviation is at most ``max_error_over_deviation``."""
        out = deviation_vs_error(models, held)
        return {**out, "limit": self.s.max_error_over_deviation,
                "sees_its_error": out["error_over_deviation"] <= self.s.max_error_over_deviation}

    def _recheck(self, k: int, rec: dict) -> dict:
        """A finished iteration recorded before the deviation was checked against the error: checked now
        (its models and the held-out labels are on disk), so an old record cannot claim convergence. Its
        training steps, recorded since a resume may change them, are read from its training folders."""
        if "training_steps" not in rec:
            rec = {**rec, "training_steps": [begun_steps(self.out / f"iter-{k:03d}" / f"train-{m}")
                                             for m in range(len(rec["models"]))]}
            self.record["iterations"][k] = rec
            self._save()
        if "heldout_deviation" in rec or not rec["converged_exploration"]:  # it can only turn True to False
            return rec
        models = [self.out / f"iter-{k:03d}" / f"train-{m}" / "model.pth" for m in range(len(rec["models"]))]
        calibration = self._calibration(models, _load_all(self.held_out_data()))
        rec = {**rec, "heldout_deviation": calibration, "converged_exploration": calibration["sees_its_error"]}
        if not calibration["sees_its_error"] and stability_iteration(self.record) == k:  # it checked models
            self.record.pop("stability", None)                                              # no longer converged
            self.record.pop("stability_iteration", None)
        self.record["iterations"][k] = rec
        self._save()
        return rec

    def _converged_here(self, rec: dict) -> bool:
        """Converged at the window asked for now; one converged at another window (a resume changed
        ``--trust``) leaves the judgement to the next iteration."""
        return rec["converged_exploration"] and rec["trust_levels_eV_per_A"] == [self.s.trust_lo, self.s.trust_hi]

    def _save(self) -> None:
        write_json_atomic(self.out / "record.json", self.record)
        its = self.record["iterations"]
        if its:
            plt = pyplot()
            fig, ax = plt.subplots(figsize=(5, 3.5))
            x = [r["iteration"] for r in its]
            ax.semilogy(x, [max(r["candidate_fraction"] or 1e-4, 1e-4) for r in its], "o-", label="all runs")
            ax.semilogy(x, [max(r["worst_condition_fraction"], 1e-4) for r in its], "s--", label="worst condition")
            ax.axhline(self.s.candidate_goal, color="k", lw=0.8, label="goal")
            ax.set_xlabel("iteration")
            ax.set_ylabel("candidate fraction")
            ax.legend(fontsize=8)
            save(fig, self.out / "candidate_fraction.png")


def stability_iteration(record: dict) -> int | None:
    """The iteration whose models ``record["stability"]`` checked. A record from before the key existed
    checked its first converged iteration (such a loop stopped there)."""
    if "stability" not in record:
        return None
    if "stability_iteration" in record:
        return record["stability_iteration"]
    return _first_converged(record)


def model0_steps(rec: dict) -> int | None:
    """The steps iteration record ``rec`` trained model 0 (the one that ships) for; None where the record
    is older than ``training_steps`` (a resume reads them back from the training folders)."""
    return (rec.get("training_steps") or [None])[0]


def _first_converged(record: dict) -> int | None:
    """The first converged iteration: where a loop from before per-iteration checks ran its one check."""
    return next((r["iteration"] for r in record["iterations"] if r.get("converged_exploration")), None)


def _explore_job(job: dict):
    return explore(**job)


def _plain(d):
    return json.loads(json.dumps(d))


def _read_atoms(path):
    return read_lammps_data(path)


def _load_all(dataset):
    return load_joined(f for part in ("train", "test") for f in dataset_systems(dataset, part).values())


def _n_frames(dataset) -> int:
    return sum(s["frames"] for s in (read_json(Path(dataset) / "dataset.json") or {}).get("systems", {}).values())
