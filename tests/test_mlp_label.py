"""Labelling with an ASE calculator: parallel, resumable, screened; GFN1-xTB (tblite) on small cells."""

import json
import os
import sys

import numpy as np
import pytest

from pylbs.glasses import TYPE_MAP
from pylbs.mlp.label import Screening, label_frames, label_one
from pylbs.glasses import get_glass


def _frames():
    from pylbs.structure import random_structure

    base = random_structure(get_glass("LBS-20-60-20"), 21, seed=4)  # 21 atoms, 8.1 A box
    frames = []
    for k in range(6):
        a = base.copy()
        a.rattle(0.05, seed=k)
        frames.append(a)
    frames[2].positions[1] = frames[2].positions[0] + [0.3, 0, 0]  # overlapping atoms
    frames[3].info["fail"] = True  # the calculator raises like an unconverged SCF
    frames[4].positions[1] = frames[4].positions[0] + [0.8, 0, 0]  # passes the distance screen, absurd force
    return frames


def test_label_parallel_resumable_screened(tmp_path):
    frames = _frames()
    work = tmp_path / "label"
    system, report = label_frames(frames, work, "mlp_helpers:flaky_lj", n_workers=2, progress=False)
    assert report["frames"] == 6 and report["accepted"] == 3 and report["computed_now"] == 6
    reasons = report["rejections"]
    assert set(reasons) == {"2", "4"} and set(report["failures"]) == {"3"}
    assert "overlapping" in reasons["2"] and "SCF" in report["failures"]["3"] and "absurd force" in reasons["4"]
    assert json.loads((work / "report.json").read_text())["accepted"] == 3
    assert system["atom_names"] == list(TYPE_MAP) and len(system) == 3
    ref = label_one(frames[5], "lj")  # same numbers as a direct call
    assert system["energies"][2] == pytest.approx(ref["energy"])
    np.testing.assert_allclose(system["virials"][2], ref["virial"])

    assert report["failed"] == 1  # frame 3's calculator error: computed again by the next run

    # resume: finished frames are never recomputed; deleted ones are, and so is the failed one
    files = sorted((work / "frames").glob("*.json"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in files}
    files[0].unlink()
    files[5].unlink()
    system2, report2 = label_frames(frames, work, "mlp_helpers:flaky_lj", n_workers=1, progress=False)
    assert report2["computed_now"] == 3 and report2["accepted"] == 3
    for p in sorted((work / "frames").glob("*.json"))[1:5]:
        assert (p.stat().st_mtime_ns == mtimes[p.name]) == (p.name != "000003.json")
    np.testing.assert_allclose(system2["energies"], system["energies"])


def test_screening_thresholds_are_knobs():
    frames = _frames()
    r = label_one(frames[4], "lj", Screening(min_distance=0.9))
    assert r["status"] == "rejected" and "overlapping" in r["reason"]
    r = label_one(frames[4], "lj", Screening(max_force=1e9))
    assert r["status"] == "ok"


@pytest.mark.slow
def test_gfn1_xtb_periodic_labels(tmp_path):
    """tblite GFN1-xTB (a stand-in for DFT) on a 12-atom Li2O cell: energy, forces and a
    virial consistent with -dE/d(strain)."""
    pytest.importorskip("tblite")
    from pylbs.mlp.fmp_frames import strained
    from pylbs.mlp.generate import li2o

    atoms = li2o()
    atoms.rattle(0.05, seed=1)
    system, report = label_frames([atoms], tmp_path / "xtb", "gfn1-xtb", progress=False)
    assert report["accepted"] == 1, report
    assert "stand-in for DFT" in report["note"]
    e0, w = system["energies"][0], system["virials"][0]
    assert np.isfinite(e0) and np.abs(system["forces"][0]).max() > 1e-3
    np.testing.assert_allclose(system["forces"][0].sum(axis=0), 0, atol=1e-3)
    d = 2e-3
    ep = label_one(strained(atoms, [d, 0, 0, 0, 0, 0]), "gfn1-xtb")["energy"]
    em = label_one(strained(atoms, [-d, 0, 0, 0, 0, 0]), "gfn1-xtb")["energy"]
    assert -(ep - em) / (2 * d) == pytest.approx(w[0, 0], rel=0.05, abs=0.05)


def test_a_user_labeller_is_recorded_by_its_module_and_an_edited_module_is_refused(tmp_path, monkeypatch):
    """``module:function`` is how a DFT labeller (a configured VASP) plugs in: the sha256 of its module,
    where its settings live, is the labels' provenance; a labelling folder or a loop refuses to go on
    under an edited module, since the two sets of energies would not mix."""
    import hashlib

    from pylbs.errors import PylbsError
    from pylbs.mlp.learn import ActiveLearning, LearnSettings

    module = tmp_path / "mydft.py"
    module.write_text("from ase.calculators.lj import LennardJones\n\n\ndef calc():\n"
                      "    return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    frames = _frames()[5:]
    system, report = label_frames(frames, tmp_path / "w", "mydft:calc", progress=False)
    sha = hashlib.sha256(module.read_bytes()).hexdigest()
    assert report["labeller"]["module_sha256"] == sha and report["labeller"]["module_file"] == str(module)
    assert system["energies"][0] == pytest.approx(label_one(frames[0], "lj")["energy"], abs=1e-9)
    assert (tmp_path / "w" / "calc" / "000000").is_dir()  # its own folder: two VASP frames never share an OUTCAR
    loop = ActiveLearning(tmp_path / "loop", LearnSettings(teacher="mydft:calc"))
    assert json.loads((tmp_path / "loop" / "record.json").read_text())["teacher"]["module_sha256"] == sha
    assert loop.record["teacher"]["name"] == "mydft:calc"
    loop._label("LBS-20-60-20", frames, tmp_path / "loop" / "seed")  # the loop now holds a label
    empty = ActiveLearning(tmp_path / "empty", LearnSettings(teacher="mydft:calc"))  # and this one none
    # the same module resumes: nothing labelled again, the loop takes its folder back
    _, again = label_frames(frames, tmp_path / "w", "mydft:calc", progress=False)
    assert again["computed_now"] == 0 and again["accepted"] == 1
    ActiveLearning(tmp_path / "loop", LearnSettings(teacher="mydft:calc"))

    module.write_text(module.read_text().replace("epsilon=0.01", "epsilon=0.02"))
    with pytest.raises(PylbsError, match="labelled with mydft:calc"):
        label_frames(frames, tmp_path / "w", "mydft:calc", progress=False)
    with pytest.raises(PylbsError, match="do not mix"):
        ActiveLearning(tmp_path / "loop", LearnSettings(teacher="mydft:calc"))
    with pytest.raises(PylbsError, match="do not mix"):  # edited while the loop runs: its next labelling refuses
        loop._label("LBS-20-60-20", frames, tmp_path / "loop" / "seed")
    # a loop with no label yet takes the edited module (a DFT set-up fixed in the module itself)
    empty._label("LBS-20-60-20", frames, tmp_path / "empty" / "seed")
    edited = hashlib.sha256(module.read_bytes()).hexdigest()
    assert json.loads((tmp_path / "empty" / "record.json").read_text())["teacher"]["module_sha256"] == edited
    with pytest.raises(PylbsError, match="no module nodft"):
        ActiveLearning(tmp_path / "loop2", LearnSettings(teacher="nodft:calc"))
    assert not (tmp_path / "loop2").exists()  # a wrong labeller leaves no folder behind
    with pytest.raises(PylbsError, match="not a loop's teacher"):
        ActiveLearning(tmp_path / "loop3", LearnSettings(teacher="lj"))
    with pytest.raises(PylbsError, match="has no function vasp"):
        label_frames(frames, tmp_path / "w3", "mydft:vasp", progress=False)
    sys.modules.pop("mydft", None)


def _dft_module(folder, name: str, before: list[str], after: list[str] = ()):
    """A user's labeller module on disk, as a DFT one would be: Lennard-Jones whose calculate() first
    runs the lines ``before`` (the failures under test) and then ``after`` (what it sets from its results)."""
    path = folder / f"{name}.py"
    body = "".join(f"        {line}\n" for line in [*before, "super().calculate(atoms, properties or ['energy'], "
                                                             "system_changes or [])", *after])
    path.write_text("import os\nfrom ase.calculators.lj import LennardJones\n\n\nclass DFT(LennardJones):\n"
                    "    def calculate(self, atoms=None, properties=None, system_changes=None):\n" + body +
                    "\n\ndef calc():\n    return DFT(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)\n")
    return path


def test_a_broken_labeller_stops_with_its_error_and_the_rerun_computes_every_failed_frame(tmp_path, monkeypatch):
    """A DFT set-up error (VASP_PP_PATH unset, a node gone) fails every frame: the labelling stops with the
    error and the fix (as soon as most have failed: the rest are not tried) instead of recording them as
    rejected forever, and the rerun after the fix computes them. A few frames failing are the frames' own: no stop, retried by each rerun (a rerun left with only
    those does not stop either), left out on request. An unconverged SCF the calculator only flags is
    rejected; a frame computed again starts in a clean folder (no half-written WAVECAR)."""
    from pylbs.errors import PylbsError
    from pylbs.mlp.label import reject_failed

    _dft_module(tmp_path, "brokendft", ["kind = os.environ.get('BROKENDFT', '')",
                                        "if kind == 'broken' or (kind == 'frame' and atoms.info.get('fail')):",
                                        "    raise RuntimeError('VASP_PP_PATH is not set')"],
                after=["self.converged = kind != 'unconverged'  # as ASE's Vasp: set when it reads the results"])
    monkeypatch.syspath_prepend(str(tmp_path))
    frames = [_frames()[k] for k in (0, 1, 5)]
    work = tmp_path / "w"
    monkeypatch.setenv("BROKENDFT", "broken")
    (work / "calc" / "000001").mkdir(parents=True)
    (work / "calc" / "000001" / "WAVECAR").write_text("half written")
    with pytest.raises(PylbsError, match="failed on 2 of the 3 frames, 1 not tried.*VASP_PP_PATH is not set.*"
                                         "run the same command"):
        label_frames(frames, work, "brokendft:calc", progress=False)  # 2 of 3 failed: the stop is certain
    assert not (work / "calc" / "000001" / "WAVECAR").exists()  # the frame started clean
    report = json.loads((work / "report.json").read_text())
    assert (report["failed"], report["rejected"], report["not_tried"], set(report["failures"])) == (2, 0, 1, {"0", "1"})
    assert not (work / "frames" / "000002.json").exists()

    monkeypatch.setenv("BROKENDFT", "frame")  # the set-up fixed; two frames fail on their own: most, a stop
    frames[0].info["fail"] = frames[1].info["fail"] = True
    with pytest.raises(PylbsError, match="failed on 2 of the 3 frames"):
        label_frames(frames, work, "brokendft:calc", progress=False)
    del frames[0].info["fail"]  # one of three: the frame's own failure, no stop
    system, report = label_frames(frames, work, "brokendft:calc", progress=False)
    assert (report["computed_now"], report["accepted"], report["failed"], report["not_tried"]) == (3, 2, 1, 0)
    assert system["energies"][1] == pytest.approx(label_one(frames[2], "lj")["energy"], abs=1e-9)
    _, report = label_frames(frames, work, "brokendft:calc", progress=False)  # only the failing one left: tried again
    assert (report["computed_now"], report["accepted"], report["failed"]) == (1, 2, 1)
    assert reject_failed(work) == 1
    _, report = label_frames(frames, work, "brokendft:calc", progress=False)
    assert (report["computed_now"], report["rejected"], report["failed"]) == (0, 1, 0)
    assert "left out by reject_failed" in report["rejections"]["1"]

    monkeypatch.setenv("BROKENDFT", "unconverged")
    r = label_one(frames[0], "brokendft:calc")
    assert r["status"] == "rejected" and "SCF not converged" in r["reason"]
    sys.modules.pop("brokendft", None)
    # a module that is found but imports a missing package is named as such, not "put it on PYTHONPATH"
    (tmp_path / "needsvasp.py").write_text("import vasp_wrapper_not_installed  # noqa\n")
    with pytest.raises(PylbsError, match="needsvasp imports vasp_wrapper_not_installed, which is not installed"):
        label_frames(frames, tmp_path / "w2", "needsvasp:calc", progress=False)


def test_parallel_workers_stop_once_most_frames_failed_and_finish_the_frames_they_hold(tmp_path, monkeypatch):
    """With worker processes the stop comes as soon as most frames have failed, as it does serially: the
    frames not yet handed out are not tried, and the ones being computed finish and leave their result (a
    DFT code is not killed under its folder). Each broken frame takes 0.3 s, so 2 workers cannot run
    ahead of the stop by more than the few frames they hold (the stop comes at the 21st failure of 40; the
    rest would take 3 s more)."""
    from pylbs.errors import PylbsError

    _dft_module(tmp_path, "slowbroken", ["import time", "time.sleep(0.3)",
                                         "raise RuntimeError('the allocation has no VASP')"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")  # the spawned workers
    frames = [_frames()[k % 2] for k in range(40)]
    work = tmp_path / "w"
    with pytest.raises(PylbsError, match=r"failed on \d+ of the 40 frames, \d+ not tried.*the allocation has no VASP"):
        label_frames(frames, work, "slowbroken:calc", n_workers=2, progress=False)
    report = json.loads((work / "report.json").read_text())
    tried = sorted(int(f.stem) for f in (work / "frames").glob("*.json"))
    assert report["failed"] == report["computed_now"] == len(tried) > 20  # every frame computed left its result
    assert report["computed_now"] + report["not_tried"] == 40 and report["not_tried"] >= 1
    assert not list((work / "frames").glob("*.tmp"))


def test_labeller_json_guards_an_interrupted_labelling_and_a_folder_with_no_label_starts_over(tmp_path, monkeypatch):
    """labeller.json is written before the first frame: a labelling killed before its report still refuses
    an edited module. A folder whose frames all failed holds no label, so a module fixed in place starts it
    over. A folder from before labeller.json is refused until adopted."""
    from pylbs.errors import PylbsError
    from pylbs.mlp.label import LABELLER_FILE, adopt_labelling

    module = _dft_module(tmp_path, "stopdft", ["if atoms.info.get('kill'):", "    raise KeyboardInterrupt",
                                               "if atoms.info.get('fail'):", "    raise RuntimeError('POTCAR not found')"])
    monkeypatch.syspath_prepend(str(tmp_path))
    frames = [_frames()[k] for k in (0, 1, 5)]
    frames[1].info["kill"] = True
    work = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):  # killed on its second frame: one labelled, no report yet
        label_frames(frames, work, "stopdft:calc", progress=False)
    assert json.loads((work / LABELLER_FILE).read_text())["labeller"]["module_file"] == str(module)
    assert not (work / "report.json").exists() and (work / "frames" / "000000.json").exists()
    original = module.read_text()
    module.write_text(original.replace("epsilon=0.01", "epsilon=0.02"))
    with pytest.raises(PylbsError, match="labelled with stopdft:calc"):
        label_frames(frames, work, "stopdft:calc", progress=False)

    # from before labeller.json: refused until adopted, then resumed
    module.write_text(original)
    (work / LABELLER_FILE).unlink()
    del frames[1].info["kill"]
    with pytest.raises(PylbsError, match="adopt_labelling"):
        label_frames(frames, work, "stopdft:calc", progress=False)
    adopt_labelling(work, "stopdft:calc")
    _, report = label_frames(frames, work, "stopdft:calc", progress=False)
    assert (report["computed_now"], report["accepted"]) == (2, 3)

    # every frame failed (a bad setting in the module): the fixed module starts the folder over
    for a in frames:
        a.info["fail"] = True
    with pytest.raises(PylbsError, match="POTCAR not found"):
        label_frames(frames, tmp_path / "w3", "stopdft:calc", progress=False)
    module.write_text(original.replace("epsilon=0.01", "epsilon=0.03"))
    sys.modules.pop("stopdft", None)
    for a in frames:
        del a.info["fail"]
    _, report = label_frames(frames, tmp_path / "w3", "stopdft:calc", progress=False)
    assert (report["computed_now"], report["accepted"]) == (3, 3)
    sys.modules.pop("stopdft", None)


def test_the_loop_computes_a_failed_frame_once_more_before_its_dataset_is_written(tmp_path, monkeypatch):
    """A frame whose calculator failed once (a node lost) is computed again at once by the loop's labelling,
    before the caller writes the iteration's dataset (after which it would stay out); a frame that fails
    every time is tried twice, counted as failed and left out."""
    from pylbs.mlp.learn import ActiveLearning, LearnSettings

    _dft_module(tmp_path, "flakydft", ["import pathlib",
                                       "once = pathlib.Path(os.environ['FLAKYDFT'], 'failed-once')",
                                       "if atoms.info.get('always') or (atoms.info.get('flaky') and not once.exists()):",
                                       "    once.write_text('') if atoms.info.get('flaky') else None",
                                       "    raise RuntimeError('node lost')"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FLAKYDFT", str(tmp_path))
    frames = [_frames()[k] for k in (0, 1, 5)]
    frames[0].info["flaky"] = True
    loop = ActiveLearning(tmp_path / "loop", LearnSettings(teacher="flakydft:calc", workers=1))
    system, report = loop._label("LBS-20-60-20", frames, tmp_path / "loop" / "iter-000")
    assert (tmp_path / "failed-once").exists()  # it did fail on the first try
    assert (report["accepted"], report["failed"], report["computed_now"], len(system)) == (3, 0, 1, 3)
    assert system["energies"][0] == pytest.approx(label_one(frames[0], "lj")["energy"], abs=1e-9)

    frames[2].info["always"] = True
    system, report = loop._label("LBS-20-60-20", frames, tmp_path / "loop" / "iter-001")
    assert (report["accepted"], report["failed"], report["computed_now"], len(system)) == (2, 1, 1, 2)
    assert "node lost" in report["failures"]["2"]
    sys.modules.pop("flakydft", None)
