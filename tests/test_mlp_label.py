"""Labelling with an ASE calculator: parallel, resumable, screened; GFN1-xTB (tblite) on small cells."""

import json
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
    assert set(reasons) == {"2", "3", "4"}
    assert "overlapping" in reasons["2"] and "SCF" in reasons["3"] and "absurd force" in reasons["4"]
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
    with pytest.raises(PylbsError, match="no module nodft"):
        ActiveLearning(tmp_path / "loop2", LearnSettings(teacher="nodft:calc"))
    assert not (tmp_path / "loop2").exists()  # a wrong labeller leaves no folder behind
    with pytest.raises(PylbsError, match="not a loop's teacher"):
        ActiveLearning(tmp_path / "loop3", LearnSettings(teacher="lj"))
    with pytest.raises(PylbsError, match="has no function vasp"):
        label_frames(frames, tmp_path / "w3", "mydft:vasp", progress=False)
    sys.modules.pop("mydft", None)


def test_a_broken_labeller_stops_with_its_error_and_the_rerun_computes_every_failed_frame(tmp_path, monkeypatch):
    """A DFT set-up error (VASP_PP_PATH unset, a node gone) fails every frame: the labelling stops with the
    error and the fix instead of recording them as rejected forever; the rerun after the fix computes them.
    An unconverged SCF is rejected; a frame retried starts in a clean folder (no half-written WAVECAR); an
    interrupted labelling (no report.json yet) is still refused under an edited module."""
    from pylbs.errors import PylbsError

    module = tmp_path / "brokendft.py"
    module.write_text(
        "import os\nfrom ase.calculators.lj import LennardJones\n\n\nclass Broken(LennardJones):\n"
        "    def calculate(self, *a, **k):\n        raise RuntimeError('VASP_PP_PATH is not set')\n\n\n"
        "class Unconverged(LennardJones):\n    converged = False\n\n\n"
        "def calc():\n    kind = os.environ.get('BROKENDFT', '')\n"
        "    cls = Broken if kind == 'broken' else Unconverged if kind == 'unconverged' else LennardJones\n"
        "    return cls(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    frames = [_frames()[k] for k in (0, 1, 5)]
    work = tmp_path / "w"
    monkeypatch.setenv("BROKENDFT", "broken")
    (work / "calc" / "000001").mkdir(parents=True)
    (work / "calc" / "000001" / "WAVECAR").write_text("half written")
    with pytest.raises(PylbsError, match="failed on 3 of the 3 frames.*VASP_PP_PATH is not set.*run the same command"):
        label_frames(frames, work, "brokendft:calc", progress=False)
    assert not (work / "calc" / "000001" / "WAVECAR").exists()  # the frame started clean
    assert [json.loads(p.read_text())["status"] for p in sorted((work / "frames").glob("*.json"))] == ["failed"] * 3

    monkeypatch.setenv("BROKENDFT", "")  # the set-up fixed: every failed frame is computed now
    system, report = label_frames(frames, work, "brokendft:calc", progress=False)
    assert report["computed_now"] == 3 and report["accepted"] == 3 and report["failed"] == 0
    assert system["energies"][2] == pytest.approx(label_one(frames[2], "lj")["energy"], abs=1e-9)

    monkeypatch.setenv("BROKENDFT", "unconverged")
    r = label_one(frames[0], "brokendft:calc")
    assert r["status"] == "rejected" and "SCF not converged" in r["reason"]

    # interrupted before its report: labeller.json, written before the first frame, still guards the folder
    (work / "report.json").unlink()
    for p in sorted((work / "frames").glob("*.json"))[1:]:
        p.unlink()
    module.write_text(module.read_text().replace("epsilon=0.01", "epsilon=0.02"))
    with pytest.raises(PylbsError, match="labelled with brokendft:calc"):
        label_frames(frames, work, "brokendft:calc", progress=False)
    sys.modules.pop("brokendft", None)
    # a module that is found but imports a missing package is named as such, not "put it on PYTHONPATH"
    (tmp_path / "needsvasp.py").write_text("import vasp_wrapper_not_installed  # noqa\n")
    with pytest.raises(PylbsError, match="needsvasp imports vasp_wrapper_not_installed, which is not installed"):
        label_frames(frames, tmp_path / "w2", "needsvasp:calc", progress=False)
