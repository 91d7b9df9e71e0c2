"""Label frames with any ASE calculator: parallel, resumable, screened.

Teachers (pretrained universal potentials whose weights ship in their pip
package, :mod:`pylbs.mlp.teachers`) are calculators too: ``calculator="chgnet-r2scan"``.
Their report records the teacher's name, package version and the sha256 of its
weight file; frames with an element the teacher does not cover are refused
up front with an error naming the package.

Real work labels with DFT (the paper: VASP, PBE, 600 eV, Gamma point), e.g.
``calculator="mymodule:make_vasp"`` naming a function that returns a
configured ``ase.calculators.vasp.Vasp``. The runnable default is GFN1-xTB
from ``tblite`` under full periodic boundaries. **xTB is a stand-in for DFT,
not ground truth**: it lets the whole route (label -> train -> test) run on a
laptop; a model trained on it reproduces xTB, not PBE. GFN2-xTB often fails
to converge on glassy cells, so GFN1 is the default.

Each frame's result is one file ``WORKDIR/frames/NNNNNN.json`` (energy, forces,
virial, or the reason it was rejected or failed), written atomically when the frame
is done: a re-run skips every labelled or rejected frame, so an interrupted labelling
resumes and finished frames are never recomputed. Frames are screened:

* overlapping atoms (any pair closer than ``min_distance`` A): rejected, not computed;
* SCF not converged where the calculator only flags it (ASE's Vasp, ``converged``): rejected;
* calculator error (any exception, tblite's unconverged SCF too): failed, computed again by
  the next run (a set-up fixed, a node back); once most of the frames have failed, the run stops
  with the first error, leaving the rest untried (``reject_failed`` leaves persistent ones out);
* non-finite energy/forces, or any force component above ``max_force`` eV/A: rejected.

The labeller (name and weights or module sha256) is written to ``WORKDIR/labeller.json``
before the first frame: a resumed run under another labeller is refused, unless no frame
was labelled yet (then it starts over).

``WORKDIR/report.json`` lists accepted, rejected and failed frames with reasons.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..hashing import file_sha256
from ..jsonio import write_json_atomic
from ..lammps_env import init_worker_process
from ..progress import Progress
from .datasets import frames_from_atoms
from .label_queue import QUEUE_DIR, job_log, run_on_queue
from .queue_jobs import read_machine, refuse_if_open
from .teachers import FACTORIES as TEACHER_FACTORIES
from .teachers import TEACHERS, check_covers, provenance

TEACHER_NOTE = ("teacher labels come from a universal potential (PBE or r2SCAN trained), not the paper's "
                "DFT: a model trained on them reproduces the teacher")
XTB_NOTE = ("GFN1-xTB (tblite) labels are a stand-in for DFT, not ground truth: "
            "a model trained on them reproduces xTB, not PBE")


@dataclass
class Screening:
    min_distance: float = 0.7  # Angstrom, any pair
    max_force: float = 50.0  # eV/Angstrom, any component


# ------------------------------------------------------------------ calculators

def gfn1_xtb():
    """tblite GFN1-xTB calculator (periodic; energy, forces, stress)."""
    try:
        from tblite.ase import TBLite
    except ImportError as exc:
        raise PylbsError("tblite is not installed: pip install tblite -c requirements/constraints.txt") from exc
    return TBLite(method="GFN1-xTB", verbosity=0, max_iterations=250)


def gfn2_xtb():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0, max_iterations=250)


def lennard_jones():
    """A cheap toy calculator for tests of the labelling machinery (not physics)."""
    from ase.calculators.lj import LennardJones

    return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)


CALCULATORS = {"gfn1-xtb": gfn1_xtb, "gfn2-xtb": gfn2_xtb, "lj": lennard_jones}
CALCULATORS.update(TEACHER_FACTORIES)  # universal-potential teachers (pylbs.mlp.teachers), e.g. chgnet-r2scan


def make_calculator(spec):
    """A calculator from a name in CALCULATORS, ``"module:function"``, or a callable factory."""
    if callable(spec):
        return spec()
    if spec in CALCULATORS:
        return CALCULATORS[spec]()
    if isinstance(spec, str) and ":" in spec:
        mod, _, fn = spec.partition(":")
        try:
            return getattr(importlib.import_module(mod), fn)()
        except (ImportError, AttributeError) as exc:
            raise PylbsError(f"calculator '{spec}': cannot import {fn} from {mod} ({exc})") from exc
    raise PylbsError(f"unknown calculator '{spec}': use one of {', '.join(CALCULATORS)} "
                     "or 'module:function' returning an ASE calculator")


def labeller_provenance(spec: str) -> dict:
    """What made a set's labels: a teacher's :func:`~pylbs.mlp.teachers.provenance`, or for a
    ``"module:function"`` labeller (your DFT, e.g. a configured VASP) the module's file and sha256:
    the calculator's settings written there (functional, cutoff, k-points) are covered; what it reads
    from elsewhere (POTCARs under $VASP_PP_PATH, helper modules, environment variables) is not, so
    record that yourself. A changed module is another labeller: its labels must not join earlier ones."""
    if spec in TEACHERS:
        return provenance(spec)
    if spec in CALCULATORS:
        return {"name": spec, "note": XTB_NOTE if "xtb" in spec else "a built-in calculator of pylbs.mlp.label"}
    if not (isinstance(spec, str) and ":" in spec):
        raise PylbsError(f"unknown labeller '{spec}': use a teacher ({', '.join(TEACHERS)}), one of "
                         f"{', '.join(c for c in CALCULATORS if c not in TEACHERS)}, or 'module:function' "
                         "returning an ASE calculator (your DFT)")
    mod_name, _, fn = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):  # it, or its package
            raise PylbsError(f"labeller '{spec}': no module {mod_name} ({exc}); put its folder on PYTHONPATH") from exc
        raise PylbsError(f"labeller '{spec}': module {mod_name} imports {exc.name}, which is not installed") from exc
    except ImportError as exc:  # found, but an import inside it failed
        raise PylbsError(f"labeller '{spec}': module {mod_name} failed to import: {exc}") from exc
    if not callable(getattr(mod, fn, None)):
        raise PylbsError(f"labeller '{spec}': module {mod_name} ({mod.__file__}) has no function {fn}")
    path = Path(mod.__file__).resolve()
    return {"name": spec, "module_file": str(path), "module_sha256": file_sha256(path),
            "note": "a user-supplied ASE calculator: the model reproduces whatever it computes"}


def labeller_fingerprint(prov: dict | None) -> str | None:
    """The hash that tells two labellers of the same name apart (teacher weights or labeller module)."""
    prov = prov or {}
    return prov.get("weight_sha256") or prov.get("module_sha256")


# ------------------------------------------------------------------ one frame

def min_pair_distance(atoms) -> float:
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 2.0)
    return float(d.min()) if len(d) else np.inf


def label_one(atoms, calculator, screening: Screening = Screening(), directory: Path | None = None) -> dict:
    """Energy (eV), forces (eV/A), virial (eV, W = -stress * V) of one frame, or a rejection.
    ``directory``: where a file-based calculator (VASP) writes this frame's files."""
    dmin = min_pair_distance(atoms)
    if dmin < screening.min_distance:
        return {"status": "rejected", "reason": f"overlapping atoms: closest pair {dmin:.3f} A "
                f"< {screening.min_distance} A (not computed)"}
    atoms = atoms.copy()
    atoms.calc = make_calculator(calculator)
    if directory is not None:  # two frames at once in one folder would read each other's OUTCAR
        atoms.calc.directory = str(directory)
    t0 = time.perf_counter()
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), float)
        virial = None
        if all(atoms.pbc):
            from ase.stress import voigt_6_to_full_3x3_stress

            virial = -voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume()
    except Exception as exc:  # any calculator error (tblite's unconverged SCF too): record, go on with the batch
        # "failed", not "rejected": the next run computes it again (a set-up fixed, a node back)
        return {"status": "failed", "reason": f"calculator failed: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
    seconds = time.perf_counter() - t0
    if getattr(atoms.calc, "converged", True) is False:  # ASE's Vasp: NELM reached, no exception raised
        return {"status": "rejected", "reason": "SCF not converged (the calculator's converged flag)"}
    if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
        return {"status": "rejected", "reason": "non-finite energy or forces"}
    fmax = float(np.abs(forces).max()) if forces.size else 0.0
    if fmax > screening.max_force:
        return {"status": "rejected", "reason": f"absurd force: {fmax:.1f} eV/A > {screening.max_force} eV/A"}
    out = {"status": "ok", "energy": energy, "forces": forces.tolist(), "seconds": seconds,
           "max_force": fmax}
    if virial is not None:
        out["virial"] = np.asarray(virial).tolist()
    return out


def _worker(job):
    return job[0], label_frame_to_file(*job)


def write_frame_result(path: Path, result: dict) -> None:
    """A frame's result file, atomically: it exists only when the frame is finished. ``status`` is its
    first key (:func:`frame_status` reads it from the first bytes)."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps({"status": result["status"], **result}))
    os.replace(tmp, path)


def label_frame_to_file(index: int, atoms, calculator, screening: Screening, path: Path,
                        extra: dict | None = None) -> str:
    """Label one frame into its result file ``path`` (a local worker or a queue job, which adds its try
    in ``extra``); returns its status."""
    # a user's labeller (file-based, such as VASP) gets a folder per frame; built-ins and instances need none
    own_folder = (calculator not in CALCULATORS if isinstance(calculator, str)
                  else callable(calculator) and not hasattr(calculator, "get_potential_energy"))
    folder = path.parent.parent / "calc" / path.stem if own_folder else None
    try:
        if folder is not None:  # a frame computed again starts clean: VASP would read a half-written WAVECAR
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        result = label_one(atoms, calculator, screening, folder)
    except OSError as exc:  # its folder could not be made: failed, computed again by the next run
        result = {"status": "failed", "reason": f"frame folder {folder}: {exc}"}
    write_frame_result(path, {**result, "index": index, **(extra or {})})
    return result["status"]


# ------------------------------------------------------------------ many frames

LABELLER_FILE = "labeller.json"  # written before the first frame: an interrupted labelling is checked too


def frame_status(path: Path) -> str:
    """A frame file's status, read from its first bytes (``_worker`` writes it first; a frame's forces
    follow, so a loop folder of thousands of frames is scanned without parsing them)."""
    with open(path) as f:
        head = f.read(40)
    return head.split('"status": "', 1)[1].split('"', 1)[0] if '"status": "' in head else "unknown"


def holds_labels(folder) -> bool:
    """Whether any labelling under ``folder`` has a labelled (``ok``) frame."""
    return any(frame_status(p) == "ok" for p in Path(folder).rglob("frames/[0-9]*.json"))


def adopt_labelling(workdir, calculator: str) -> None:
    """Record ``calculator`` as it is now as the labeller of ``workdir``'s frames, for a folder labelled
    before pylbs wrote ``labeller.json``: only when you know the labeller has not changed since."""
    workdir = Path(workdir)
    write_json_atomic(workdir / LABELLER_FILE, {"calculator": calculator, "labeller": labeller_provenance(calculator)})


def reject_failed(workdir) -> int:
    """Mark ``workdir``'s failed frames rejected, so later runs leave them out instead of computing them
    again (frames that fail the same way every time); returns how many."""
    n = 0
    for path in sorted(Path(workdir, "frames").glob("[0-9]*.json")):
        if frame_status(path) == "failed":
            r = json.loads(path.read_text())
            write_frame_result(path, {**r, "status": "rejected", "reason": f"{r['reason']} (left out by reject_failed)"})
            n += 1
    return n


def _check_same_labeller(workdir: Path, calculator, labeller: dict | None) -> None:
    """A resumed labelling must use the labeller of its labelled frames (same name, same weights or module);
    records it in ``workdir/labeller.json`` before the first frame. A folder with no labelled frame (all
    failed: a set-up fixed in the module itself) starts over under the new labeller."""
    if not isinstance(calculator, str):
        return
    path, frames = workdir / LABELLER_FILE, sorted(workdir.glob("frames/[0-9]*.json"))
    if path.exists():
        old = json.loads(path.read_text())
    elif (workdir / "report.json").exists():  # labelled before labeller.json: report.json names it
        report = json.loads((workdir / "report.json").read_text())
        old = {"calculator": report.get("calculator"), "labeller": report.get("teacher") or report.get("labeller")}
    else:
        old = {"calculator": calculator, "labeller": None} if frames else None  # interrupted, before labeller.json
    if old is not None and (old["calculator"] != calculator
                            or labeller_fingerprint(old["labeller"]) != labeller_fingerprint(labeller)):
        if not any(frame_status(p) == "ok" for p in frames):  # no label to mix with: start over
            for p in frames:
                p.unlink()
            print(f"[pylbs] {workdir}: no frame was labelled under {old['calculator']}; starting over with "
                  f"{calculator}", file=sys.stderr, flush=True)
        elif labeller_fingerprint(old["labeller"]) is None and old["calculator"] == calculator:
            raise PylbsError(f"{workdir} holds frames labelled before pylbs recorded a labeller's sha256, so they "
                             f"cannot be checked against {calculator} as it is now. If it is unchanged since, adopt "
                             f"them: python -c \"from pylbs.mlp.label import adopt_labelling; "
                             f"adopt_labelling('{workdir}', '{calculator}')\"")
        else:
            raise PylbsError(f"{workdir} holds frames labelled with {old['calculator']} (sha256 "
                             f"{labeller_fingerprint(old['labeller'])}); now asked for {calculator} (sha256 "
                             f"{labeller_fingerprint(labeller)}): the two sets would not mix; give another "
                             "--work folder, or restore that labeller")
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"calculator": calculator, "labeller": labeller})


def label_frames(frames, workdir, calculator="gfn1-xtb", n_workers: int = 1,
                 screening: Screening | None = None, progress: bool = True, name: str = "frames",
                 stop_when_most_fail: bool = True, machine=None):
    """Label a list of ase.Atoms (same atoms in every frame) into ``workdir``.

    Returns ``(system, report)``: a dpdata LabeledSystem of the accepted frames
    (None when none was accepted) in the project type map, and the report dict
    (also written to ``workdir/report.json``). ``calculator``: see make_calculator;
    with ``n_workers > 1`` it must be a name or ``"module:function"`` (or a picklable
    top-level function) since each worker process builds its own. ``stop_when_most_fail``: raise
    as soon as the calculator has failed on most frames (its set-up, not the frames: the rest are not
    tried), after writing the report. ``machine``: a dpdispatcher machine file; the frames are then
    labelled as queue jobs (:mod:`pylbs.mlp.label_queue`), all submitted at once, not by local workers.
    """
    screening = screening or Screening()
    if machine is not None:
        read_machine(machine)  # a machine file that cannot work fails before anything is written
    teacher = labeller = None
    if isinstance(calculator, str) and calculator in TEACHERS:
        check_covers(calculator, {s for a in frames for s in a.get_chemical_symbols()})
        teacher = provenance(calculator)  # also fails early, naming the package, when it is not installed
    elif isinstance(calculator, str) and calculator not in CALCULATORS:
        labeller = labeller_provenance(calculator)  # module:function: fails early, naming the module
    workdir = Path(workdir)
    _check_same_labeller(workdir, calculator, teacher or labeller)
    (workdir / "frames").mkdir(parents=True, exist_ok=True)
    paths = [workdir / "frames" / f"{k:06d}.json" for k in range(len(frames))]
    # frames not yet labelled, and those whose calculator failed (computed again: the cause may be fixed)
    todo = [(k, frames[k], calculator, screening, paths[k]) for k in range(len(frames))
            if not paths[k].exists() or frame_status(paths[k]) == "failed"]
    done0 = len(frames) - len(todo)
    reporter = Progress(f"label {name}", len(frames), start=done0, unit="frame", heartbeat=workdir / "heartbeat.json",
                        lines=progress)
    n_done = done0
    reporter.update(n_done, stage=f"{calculator if isinstance(calculator, str) else 'calculator'}, {done0} done before")
    failed_now = computed = 0

    def decided() -> bool:  # over half failed already: the stop below is certain, spare the other frames
        return stop_when_most_fail and 2 * failed_now > len(frames)

    if todo and machine is not None:
        covered: set[int] = set()
        asked = {job[0] for job in todo}  # a reopened try also holds frames finished before this command
        while waiting := [job[0] for job in todo if job[0] not in covered]:
            # an open try (a killed wait) is waited on first, with its own frames; then the rest, if any
            error, n, held = run_on_queue(waiting, frames, workdir, calculator, asdict(screening), machine,
                                          teacher or labeller)
            covered.update(held)
            for k in held:  # no result of this try (its job died, walltime, a lost node): the frame failed
                r = json.loads(paths[k].read_text()) if paths[k].exists() else {}
                computed += k in asked  # tried by this command, with a result or without one
                if r.get("queue_try") != n and r.get("status") != "ok":
                    write_frame_result(paths[k], {"status": "failed", "index": k, "reason": (
                        f"its queue job gave no result ({error or 'the job ended'}; log {job_log(workdir, n, k)})")})
        n_done, untried = done0 + computed, 0  # every frame was submitted (a job with no result: failed)
        reporter.update(n_done)
    else:
        if todo:
            refuse_if_open(workdir / QUEUE_DIR, f"the labelling in {workdir}")
        if todo and n_workers > 1:
            ctx = multiprocessing.get_context("spawn")  # no fork of torch/LAMMPS/OpenMP state
            pool = ProcessPoolExecutor(min(n_workers, len(todo)), mp_context=ctx, initializer=init_worker_process)
            futures = [pool.submit(_worker, job) for job in todo]
            try:
                for future in as_completed(futures):
                    status = future.result()[1]
                    n_done, failed_now = n_done + 1, failed_now + (status == "failed")
                    reporter.update(n_done)
                    if decided():
                        break
            finally:  # frames being computed finish (a DFT code is not killed mid-frame); the rest are cancelled
                pool.shutdown(wait=True, cancel_futures=True)
            computed = sum(f.done() and not f.cancelled() for f in futures)
        else:
            for job in todo:
                _, status = _worker(job)
                n_done, computed, failed_now = n_done + 1, computed + 1, failed_now + (status == "failed")
                reporter.update(n_done)
                if decided():
                    break

        untried = len(todo) - computed
    # a frame not tried (the run stopped early) has no file yet, or its failure from an earlier run
    results = {k: json.loads(p.read_text()) for k, p in enumerate(paths) if p.exists()}
    ok = [k for k, r in results.items() if r["status"] == "ok"]
    failed = {k: r["reason"] for k, r in results.items() if r["status"] == "failed"}
    rejected = {k: r["reason"] for k, r in results.items() if r["status"] == "rejected"}
    report = {"name": name, "calculator": calculator if isinstance(calculator, str) else repr(calculator),
              "frames": len(frames), "accepted": len(ok), "rejected": len(rejected),
              "failed": len(failed), "computed_now": computed, "not_tried": untried,
              "screening": asdict(screening),
              "rejections": {str(k): why for k, why in rejected.items()},
              "failures": {str(k): why for k, why in failed.items()},
              "seconds_per_frame": (float(np.mean([results[k]["seconds"] for k in ok])) if ok else None)}
    if isinstance(calculator, str) and "xtb" in calculator:
        report["note"] = XTB_NOTE
    if teacher is not None:
        report["teacher"] = teacher
        report["note"] = TEACHER_NOTE
    if labeller is not None:
        report["labeller"] = labeller
    (workdir / "report.json").write_text(json.dumps(report, indent=2))
    # most of the set failing is the calculator's set-up, not the frames (a few failing: the frames)
    if stop_when_most_fail and todo and 2 * len(failed) > len(frames):
        skipped = f", {report['not_tried']} not tried once most had failed" if report["not_tried"] else ""
        raise PylbsError(f"{name}: the calculator failed on {len(failed)} of the {len(frames)} frames{skipped} "
                         f"(first: {next(iter(failed.values()))}). That is its set-up, not the frames: fix it (for VASP: "
                         "ASE_VASP_COMMAND, VASP_PP_PATH, the allocation; the module itself may change while no "
                         f"frame is labelled) and run the same command again: the {len(ok)} labelled frames are "
                         "kept and the failed ones computed again. Frames that fail the same way every time: leave "
                         f"them out with python -c \"from pylbs.mlp.label import reject_failed; "
                         f"reject_failed('{workdir}')\"")
    if not ok:
        return None, report
    labelled = []
    for k in ok:
        a = frames[k].copy()
        a.info["energy"] = results[k]["energy"]
        a.arrays["forces"] = np.array(results[k]["forces"])
        if "virial" in results[k]:
            a.info["virial"] = np.array(results[k]["virial"])
        else:
            a.info.pop("virial", None)
        a.calc = None
        labelled.append(a)
    return frames_from_atoms(labelled), report


def frames_of_system(system) -> list:
    """ase.Atoms of every frame of a dpdata system (labels ignored)."""
    from ase import Atoms

    names = system["atom_names"]
    symbols = [names[t] for t in system["atom_types"]]
    return [Atoms(symbols=symbols, positions=system["coords"][k], cell=system["cells"][k],
                  pbc=not system.nopbc) for k in range(len(system))]
