"""DFT frames and trainings as queue jobs: dpdispatcher for real, its Shell batch type standing in for
Slurm (the same path, a local shell as the scheduler; its jobs outlive the process that submitted
them, as a queue's do), with a user's calculator module on disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pylbs.errors import PylbsError
from pylbs.glasses import get_glass
from pylbs.mlp.label import label_frames, label_one
from pylbs.mlp.queue_jobs import read_machine

MODULE = """import os
import time
from ase.calculators.lj import LennardJones


class DFT(LennardJones):
    def calculate(self, atoms=None, properties=None, system_changes=None):
        with open(os.path.join(os.environ['QUEUEDFT_COUNT'], f"calls-{atoms.info.get('k')}"), 'a') as f:
            f.write('x')
        time.sleep(atoms.info.get('slow', 0))
        if atoms.info.get('fail'):
            raise RuntimeError('POTCAR not found')
        if atoms.info.get('die') and not os.path.exists(os.environ['QUEUEDFT_BACK']):
            os._exit(9)  # the node is lost: the job ends with no result at all
        super().calculate(atoms, properties or ['energy'], system_changes or [])


def calc():
    return DFT(sigma=2.0, epsilon=0.01, rc=5.0, smooth=True)
"""


def _frames(n=4):
    from pylbs.structure import random_structure

    base = random_structure(get_glass("LBS-20-60-20"), 21, seed=4)
    out = []
    for k in range(n):
        a = base.copy()
        a.rattle(0.05, seed=k)
        a.info["k"] = k
        out.append(a)
    return out


def _machine(tmp_path, **resources) -> str:
    path = tmp_path / "machine.json"
    path.write_text(json.dumps({
        "machine": {"batch_type": "Shell", "context_type": "LazyLocalContext", "retry_count": 0},
        "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 1,
                      "envs": {"OMP_NUM_THREADS": "1", "QUEUEDFT_COUNT": str(tmp_path),
                               "QUEUEDFT_BACK": str(tmp_path / "node-back")}, **resources},
        "check_interval": 1}))
    return str(path)


def test_frames_labelled_as_queue_jobs_match_local_labels_and_a_lost_job_fails_its_frame(tmp_path, monkeypatch):
    """Every frame is one dpdispatcher task that labels it as a local worker would (same energies and
    forces), finding the user's module where it was (no PYTHONPATH given to the jobs); a calculator error
    is a failed frame; a job that dies leaves its frame failed with the log's path, and the rerun submits
    only the frames to do again, in a new try."""
    (tmp_path / "queuedft.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "here").mkdir()
    monkeypatch.setenv("QUEUEDFT_COUNT", str(tmp_path / "here"))  # this process's calls (the jobs': tmp_path)
    frames = _frames()
    frames[1].info["fail"] = True
    frames[2].info["die"] = True
    work = tmp_path / "w"
    system, report = label_frames(frames, work, "queuedft:calc", machine=_machine(tmp_path), progress=False)
    assert (report["accepted"], report["failed"], report["computed_now"]) == (2, 2, 4)
    assert "POTCAR not found" in report["failures"]["1"]
    assert "its queue job gave no result" in report["failures"]["2"] and "try-1/000002/label.log" in report["failures"]["2"]
    for i, k in enumerate((0, 3)):  # labelled in the job exactly as here: positions travel without rounding
        ref = label_one(frames[k], "queuedft:calc")
        assert system["energies"][i] == pytest.approx(ref["energy"], abs=1e-12)
        np.testing.assert_allclose(system["forces"][i], ref["forces"], atol=1e-12)
    assert (work / "queue" / "try-1" / "000003" / "label.log").read_text().strip().endswith("frame 3: ok")
    assert (tmp_path / "calls-3").read_text() == "x"  # computed once, in its job

    (tmp_path / "node-back").write_text("")  # the node is back, the POTCAR is still missing
    _, report = label_frames(frames, work, "queuedft:calc", machine=_machine(tmp_path), progress=False)
    assert (report["accepted"], report["failed"], report["computed_now"]) == (3, 1, 2)
    assert sorted(p.name for p in (work / "queue" / "try-2").iterdir() if p.is_dir()) == ["000001", "000002"]
    assert [(tmp_path / f"calls-{k}").read_text() for k in range(4)] == ["x", "xx", "xx", "x"]

    (tmp_path / "queuedft.py").write_text(MODULE.replace("epsilon=0.01", "epsilon=0.02"))
    frames[1].info["fail"] = False  # the module edited under the labelling: each job refuses it
    from pylbs.mlp.label_job import run_label_job

    assert run_label_job(work / "queue" / "try-2" / "job.json", 1) == "failed"
    assert "is not the recorded one" in json.loads((work / "frames" / "000001.json").read_text())["reason"]
    sys.modules.pop("queuedft", None)


KILLED = """import sys
sys.path.insert(0, {tests!r})
from test_mlp_label_queue import _frames
from pylbs.mlp.label import label_frames
frames = _frames(2)
frames[1].info["slow"] = 6
label_frames(frames, {work!r}, "queuedft:calc", machine={machine!r}, progress=False)
"""


def test_a_killed_wait_is_taken_up_again_on_the_same_jobs(tmp_path, monkeypatch):
    """pylbs killed while its jobs are queued or running (a login node's session lost): the same command
    waits on the same jobs of the same try, even after some have finished; nothing is submitted or
    computed twice."""
    import os
    import subprocess
    import time

    (tmp_path / "queuedft.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    work, machine = tmp_path / "w", _machine(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(tests=str(Path(__file__).parent), work=str(work),
                                                                machine=machine)], env=env)
    deadline = time.time() + 120
    while not (work / "frames" / "000000.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()  # the fast frame done, the slow one still computing in its job (which, as a queue's, lives on)
    proc.wait()
    assert not (work / "frames" / "000001.json").exists()
    frames = _frames(2)
    frames[1].info["slow"] = 6
    with pytest.raises(PylbsError, match="has queue jobs .*try 1.* with its --machine to wait on them"):
        label_frames(frames, work, "queuedft:calc", progress=False)  # here, beside the running job: refused
    spec = json.loads(Path(machine).read_text())
    spec["resources"]["envs"]["EDITED"] = "1"  # the machine file edited meanwhile: the open try keeps its own
    Path(machine).write_text(json.dumps(spec))
    system, report = label_frames(frames, work, "queuedft:calc", machine=machine, progress=False)
    assert (report["accepted"], report["failed"], report["computed_now"], report["not_tried"], len(system)) == \
        (2, 0, 1, 0, 2)
    assert not (work / "queue" / "try-2").exists()
    assert [(tmp_path / f"calls-{k}").read_text() for k in range(2)] == ["x", "x"]  # each frame computed once
    assert len(list((work / "queue" / "try-1").glob("*.json"))) == 2  # one submission record (and job.json)
    sys.modules.pop("queuedft", None)


def test_a_machine_file_that_cannot_work_is_refused_before_anything_is_submitted(tmp_path, monkeypatch):
    """Each mistake gets its own message naming the fix, before a frame is computed or a job submitted."""
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PylbsError, match="is not JSON"):
        read_machine(tmp_path / "bad.json")
    (tmp_path / "nores.json").write_text(json.dumps({"machine": {"batch_type": "Slurm"}}))
    with pytest.raises(PylbsError, match="has no resources: dpdispatcher's format"):
        read_machine(tmp_path / "nores.json")
    (tmp_path / "train.json").write_text(json.dumps({"train": {"machine": {}, "resources": {}}}))
    with pytest.raises(PylbsError, match="has no fp section"):  # labels asked for, only trainings described
        label_frames(_frames(1), tmp_path / "w", "lj", machine=tmp_path / "train.json", progress=False)
    with pytest.raises(PylbsError, match="section train lacks machine.batch_type, resources.number_node"):
        read_machine(tmp_path / "train.json", "train")
    resources = json.loads(Path(_machine(tmp_path)).read_text())["resources"]
    (tmp_path / "ssh.json").write_text(json.dumps({"machine": {"batch_type": "Slurm", "context_type": "SSHContext"},
                                                   "resources": resources}))
    with pytest.raises(PylbsError, match="SSHContext.*shared with this node: use LazyLocalContext"):
        label_frames(_frames(1), tmp_path / "w", "lj", machine=tmp_path / "ssh.json", progress=False)
    assert not (tmp_path / "w" / "frames").exists() or not any((tmp_path / "w" / "frames").iterdir())
    # a value dpdispatcher does not know (its own check): named, and nothing was computed
    (tmp_path / "queuedft.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "typo.json").write_text(json.dumps({"machine": {"batch_type": "Slrum"}, "resources": resources}))
    with pytest.raises(PylbsError, match="do not load in dpdispatcher.*Slrum.*fix the file"):
        label_frames(_frames(1), tmp_path / "w", "queuedft:calc", machine=tmp_path / "typo.json", progress=False)
    assert not (tmp_path / "w" / "frames" / "000000.json").exists()
    sys.modules.pop("queuedft", None)


def test_the_loop_labels_its_teacher_frames_as_queue_jobs(tmp_path, monkeypatch):
    """``pylbs mlp learn --machine``: the loop's labelling goes to the queue (a resumed loop may add or
    change the machine file: it decides where the labels run, not what they are)."""
    from pylbs.mlp.learn import RESUMABLE_CHANGES, ActiveLearning, LearnSettings

    (tmp_path / "queuedft.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    loop = ActiveLearning(tmp_path / "loop", LearnSettings(teacher="queuedft:calc", machine=_machine(tmp_path)))
    system, report = loop._label("LBS-20-60-20", _frames(2), tmp_path / "loop" / "iter-000")
    assert (report["accepted"], len(system)) == (2, 2) and "machine" in RESUMABLE_CHANGES
    log = tmp_path / "loop" / "iter-000" / "label" / "LBS-20-60-20" / "queue" / "try-1" / "000001" / "label.log"
    assert log.read_text().strip().endswith("frame 1: ok")
    sys.modules.pop("queuedft", None)


def test_a_training_runs_as_a_queue_job_from_the_machine_files_train_section(tiny_dp_model, tmp_path, monkeypatch):
    """``train_and_freeze(machine=...)``, as the loop calls it with a machine file's train section: the
    training runs as a dpdispatcher job (``pylbs mlp queue-job train``), and the model comes back the same
    as a local training's: two steps at a learning rate of 1e-12 from the tiny model's checkpoint give its
    energies back to 1e-6 eV (a model from random weights would be eV away). A job that failed is
    submitted again as a new try by the same call once the cause is fixed, not taken as done."""
    from dataclasses import replace

    import tiny_dp
    from deepmd.infer import DeepPot

    from pylbs.mlp.train import train_and_freeze

    model, train = tiny_dp_model
    path = tmp_path / "machine.json"
    path.write_text(json.dumps({"train": {
        "machine": {"batch_type": "Shell", "context_type": "LazyLocalContext", "retry_count": 0},
        "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 1,
                      "envs": {"OMP_NUM_THREADS": "1", "NUM_WORKERS": "0"}}}, "check_interval": 1}))
    assert read_machine(path, "fp", required=False) is None  # labels would run here
    settings = replace(tiny_dp.training_settings(), numb_steps=2, start_lr=1e-12, stop_lr=1e-13, decay_steps=1,
                       disp_freq=1, save_freq=2, seed=99)
    monkeypatch.chdir(tmp_path)  # a relative training folder, as `pylbs mlp train --out next` gives it
    init, spec, out = model.parent / "model.ckpt.pt", read_machine(path, "train"), Path("next")
    with monkeypatch.context() as m:  # the node's Python broken (the jobs inherit this environment): the job fails
        m.setenv("PYTHONHOME", str(tmp_path / "no-python-here"))
        with pytest.raises(PylbsError, match="the training job in .* failed.*submits it again"):
            train_and_freeze([train], [train], out, settings, init_model=init, machine=spec)
    again = train_and_freeze([train], [train], out, settings, init_model=init, machine=spec)  # the same call
    assert json.loads((out / "queue" / "tries.json").read_text())["try"] == 2 and again.is_absolute()
    job = next((out / "queue" / "try-2").glob(".*.sub.run")).read_text()  # dpdispatcher's task script
    assert "-m pylbs.cli mlp queue-job train" in job and "Saved frozen model" in (
        out / "queue" / "try-2" / "job" / "train.log").read_text()
    types = np.loadtxt(train / "type.raw", dtype=int)
    coord, box = np.load(train / "set.000" / "coord.npy")[:3], np.load(train / "set.000" / "box.npy")[:3]
    e_old, e_new = DeepPot(str(model)).eval(coord, box, types)[0], DeepPot(str(again)).eval(coord, box, types)[0]
    assert np.allclose(e_new, e_old, rtol=0, atol=1e-6), (e_new.ravel(), e_old.ravel())


