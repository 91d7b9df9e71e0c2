"""A run killed with SIGKILL and resumed reaches the state of an uninterrupted run with the same seed:
positions and velocities equal to round-off after the same number of steps, for the FMP quench and
the DeepMD stage, on 2 MPI ranks (tests/resume_driver.py kills every rank at a checkpoint)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
MPIRUN = str(Path(sys.executable).with_name("mpirun"))


def _run(np_: int, *args, expect_kill=False):
    cmd = [MPIRUN, "-np", str(np_), sys.executable, str(HERE / "resume_driver.py"), *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if expect_kill:
        assert res.returncode != 0 and "resumed" not in res.stdout, res.stdout + res.stderr
    else:
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout


def _state(data_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """(positions + image shifts, velocities) by atom id from a LAMMPS data file written by write_data."""
    lines = data_file.read_text().splitlines()
    box = [list(map(float, ln.split()[:2])) for ln in lines if ln.endswith(("xlo xhi", "ylo yhi", "zlo zhi"))]
    length = np.array([b - a for a, b in box])

    def section(name, ncol):
        start = next(k for k, ln in enumerate(lines) if ln.startswith(name)) + 2
        rows = []
        for ln in lines[start:]:
            if not ln.strip():
                break
            rows.append([float(x) for x in ln.split()[:ncol]])
        arr = np.array(rows)
        return arr[np.argsort(arr[:, 0])]

    atoms = section("Atoms", 9)  # id type q x y z ix iy iz
    vel = section("Velocities", 4)
    return atoms[:, 3:6] + atoms[:, 6:9] * length, vel[:, 1:4]


def _compare(done: Path, resumed: Path, data: str):
    x0, v0 = _state(done / data)
    x1, v1 = _state(resumed / data)
    np.testing.assert_allclose(x1, x0, rtol=0, atol=1e-9)  # A
    np.testing.assert_allclose(v1, v0, rtol=0, atol=1e-9)  # A/ps
    # and the whole thermo record agrees step by step
    t0, t1 = (np.loadtxt(d / "thermo.dat") for d in (done, resumed))
    assert t0.shape == t1.shape
    np.testing.assert_allclose(t1[:, 3], t0[:, 3], rtol=1e-10)  # potential energy


@pytest.mark.mpi
# 1 rank is not run (34 s of the suite): the restart code is the same Session path on any number of ranks;
# serial kill-and-resume is tested with the Teter potential (test_session), not bit for bit with FMP
@pytest.mark.parametrize("ranks", [2])
def test_fmp_quench_killed_and_resumed_equals_uninterrupted(tmp_path, fmp_plugin, ranks):
    _run(ranks, "fmp", tmp_path / "straight")
    # killed twice: first resumed from the restart at the melt's end (step 250, a stage boundary: the
    # quench must start with a fresh thermostat), then from one inside the quench (step 1000)
    for kill, restart in ((500, 250), (1250, 1000)):
        _run(ranks, "fmp", tmp_path / "killed", "--kill-at", kill, expect_kill=True)
        progress = json.loads((tmp_path / "killed" / "progress.json").read_text())
        assert progress["step"] == restart and not progress["done"]  # the restart before the kill
    out = _run(ranks, "fmp", tmp_path / "killed")
    assert "resumed True steps 2000" in out
    _compare(tmp_path / "straight", tmp_path / "killed", "final.data")


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2])  # 1 rank: the same Session restart path as the FMP case above (37 s saved)
def test_deepmd_stage_killed_and_resumed_equals_uninterrupted(tmp_path, tiny_dp_model, start_data, ranks):
    model, _ = tiny_dp_model
    kw = ("--model", model, "--start", start_data)
    _run(ranks, "mlp", tmp_path / "straight", *kw)
    # killed at step 120 inside the cooling stage: resumes from the restart at step 80 (the stage boundary)
    _run(ranks, "mlp", tmp_path / "killed", *kw, "--kill-at", 120, expect_kill=True)
    assert json.loads((tmp_path / "killed" / "progress.json").read_text())["step"] == 80
    out = _run(ranks, "mlp", tmp_path / "killed", *kw)
    assert "resumed True steps 160" in out
    _compare(tmp_path / "straight", tmp_path / "killed", "md_final.data")


@pytest.mark.mpi
def test_guard_stops_the_deepmd_stage_on_two_ranks(tmp_path, tiny_dp_model, start_data):
    """`pylbs quench --from --mlp` under mpirun -np 2 with a guard every B-O bond violates: one clean
    error line, exit 2, the event and the frames saved once, no checkpoint of the bad chunk."""
    model, _ = tiny_dp_model
    out = tmp_path / "g"
    cmd = [MPIRUN, "-np", "2", sys.executable, "-m", "pylbs.cli", "quench", "--from", str(start_data),
           "--glass", "LBS-20-60-20", "--mlp", str(model), "--schedule", "fast", "--t-max", "1200",
           "--time-scale", "0.0005", "--zbl-core", "0.9", "1.3", "--min-distance", "B-O=1.6", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("pylbs: error:")]
    assert len(errors) == 1 and "unphysical event at step" in errors[0] and "lower T_max" in errors[0]
    replica = out / "mlp-fast-T1200" / "replica-1"
    event = json.loads((replica / "guard" / "event.json").read_text())
    assert event["kind"] == "overlap" and event["closest"]["elements"] == ["B", "O"]
    assert event["closest"]["distance_A"] < 1.6 and event["last_good_step"] == 0
    assert not (replica / "progress.json").exists()  # no checkpoint of the bad (first) chunk
    assert Path(event["frames_file"]).is_file() and not (replica / "summary.json").exists()


def test_a_finished_run_is_the_same_run_after_a_reinstall(tmp_path):
    """A run's request names the FMP parameter file (and shipped models) by path; a reinstall or another
    checkout moved that path, and every finished FMP glass was refused as "a different run". The
    package's data folder now compares the same from any location; another file or seed still differs."""
    import json

    from pylbs.errors import PylbsError
    from pylbs.lammps_env import mpi_comm
    from pylbs.protocols.runner import finished_summary

    def request(path, seed=1):
        return {"glass": "LBS-20-60-20", "seed": seed,
                "potential_commands": [f"pair_coeff * * {path} Li B Si O", "kspace_style pppm 1e-05"]}

    (tmp_path / "summary.json").write_text(json.dumps({"request": request("/work/wt-a/pylbs/data/lbs_default.fmp"),
                                                       "fraction_4B": 0.31}))
    moved = request("/opt/venv/lib/python3.12/site-packages/pylbs/data/lbs_default.fmp")
    assert finished_summary(tmp_path, moved, mpi_comm())["fraction_4B"] == 0.31
    for other in (request("/opt/venv/lib/python3.12/site-packages/pylbs/data/li_n4.fmp"),
                  request("/work/wt-a/pylbs/data/lbs_default.fmp", seed=2), request("/home/me/my_params.fmp")):
        with pytest.raises(PylbsError, match="holds a different run"):
            finished_summary(tmp_path, other, mpi_comm())
    # a user's own data in a folder that happens to be called pylbs/data is not the package's
    (tmp_path / "summary.json").write_text(json.dumps({"request": request("/home/a/pylbs/data/xtb/p.fmp")}))
    with pytest.raises(PylbsError, match="holds a different run"):
        finished_summary(tmp_path, request("/home/b/pylbs/data/xtb/p.fmp"), mpi_comm())


def test_a_finished_run_on_a_file_edited_since_is_not_returned_as_done(tmp_path):
    """A request names its files by path: a parameter file edited in place gave the old run back as
    if it were the new one. The summary records the sha256 of every file the request names; a changed
    file is refused with the fix, an unchanged one (or a package file after a reinstall) is the same run."""
    from pylbs.errors import PylbsError
    from pylbs.hashing import file_sha256
    from pylbs.lammps_env import mpi_comm
    from pylbs.potential import DEFAULT_PARAMETER_FILE
    from pylbs.protocols.runner import changed_inputs, finished_summary, input_files_sha256, portable_request

    mine = tmp_path / "my.fmp"
    mine.write_text(Path(DEFAULT_PARAMETER_FILE).read_text())
    copy = tmp_path / "model.compressed-0123abcd.pth"  # a model's compressed copy: derived, not an input
    copy.write_text("tables")
    request = {"glass": "LBS-20-60-20", "potential_commands": [f"pair_coeff * * {mine} Li B Si O",
                                                               f"# also {DEFAULT_PARAMETER_FILE}",
                                                               f"pair_style deepmd {copy}"]}
    inputs = input_files_sha256(request)
    assert inputs == {str(mine): file_sha256(mine),
                      portable_request(str(DEFAULT_PARAMETER_FILE)): file_sha256(DEFAULT_PARAMETER_FILE)}
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"request": request, "inputs_sha256": inputs, "fraction_4B": 0.3}))
    assert finished_summary(run, request, mpi_comm())["fraction_4B"] == 0.3
    # a package data file is looked up in this install by its portable name (another recorded sha: changed)
    package = portable_request(str(DEFAULT_PARAMETER_FILE))
    assert changed_inputs(inputs) == [] and changed_inputs({**inputs, package: "0" * 64}) == [package]
    mine.write_text(mine.read_text() + "\n# edited\n")
    with pytest.raises(PylbsError, match=f"made from {mine} as it was then; the file has changed since"):
        finished_summary(run, request, mpi_comm())
