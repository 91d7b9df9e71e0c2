"""The DeepMD stage (pylbs.protocols.mlp_quench): schedules as data, real LAMMPS + deepmd runs of the
session's tiny model: temperature profile, Emin, replicas, resume, and the unphysical-event guard.

The tiny model (tests/conftest.py) has never seen short distances: in plain MD its atoms
fall into each other within a few hundred steps (which the guard reports). Runs that must
finish overlay a ZBL core (``zbl_core``), runs that test the guard do not need it.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pylbs.errors import UnphysicalEventError
from pylbs.glasses import TYPE_MAP
from pylbs.protocols.decks import MLP_DECK_GLASS, deck_variables, mlp_deck, parse_deck_variables
from pylbs.protocols.schedules import Schedule, Stage, default_t_max, mlp_schedule
from pylbs.glasses import get_glass

DECK = Path(__file__).resolve().parents[1] / "lammps_inputs" / "mlp_anneal.in"
CORE = (0.9, 1.3)
# the tiny model squeezes pairs to ~1.2 A even with the core; runs that must finish use a lenient guard
LENIENT = {tuple(sorted((a, b))): 0.6 for a in TYPE_MAP for b in TYPE_MAP}


# ----------------------------------------------------------------- schedules as data (no LAMMPS)

def test_mlp_schedules_are_the_papers():
    fast = mlp_schedule("fast", 1800)
    assert [(s.name, s.t_start, s.t_end, s.duration_ps) for s in fast.stages] == [
        ("heat", 300, 1800, 150), ("hold", 1800, 1800, 200), ("cool", 1800, 300, 150),
        ("equil", 300, 300, 100), ("sample", 300, 300, 100)]
    ann = mlp_schedule("anneal", 1800, anneal_hold_ps=600)
    assert [(s.name, s.t_start, s.t_end, s.duration_ps) for s in ann.stages] == [
        ("heat", 300, 1800, 150), ("hold", 1800, 1800, 200), ("cool", 1800, 1000, 80),
        ("anneal", 1000, 1000, 600), ("cool2", 1000, 300, 350), ("equil", 300, 300, 100),
        ("sample", 300, 300, 100)]
    # 10 K/ps heating and fast cooling, 2 K/ps slow cooling; 100 frames over the last 100 ps
    rate = {s.name: abs(s.t_end - s.t_start) / s.duration_ps for s in ann.stages if s.t_end != s.t_start}
    assert rate == {"heat": 10, "cool": 10, "cool2": 2}
    assert ann.stages[-1].dump_every_ps == 1.0
    scaled = ann.scaled(0.01)
    assert scaled.total_ps == pytest.approx(ann.total_ps * 0.01) and scaled.stages[-1].dump_every_ps == 0.01
    with pytest.raises(Exception, match="unknown"):
        mlp_schedule("slow", 1800)


def test_default_t_max_rule():
    assert default_t_max(get_glass("LBS-50-10-40")) == 2000 and default_t_max(get_glass("LBS-20-60-20")) == 1700
    assert default_t_max(get_glass("LBS-0-50-50")) == 1500 and default_t_max(get_glass("LBS-5-35-60")) == 1600
    from pylbs.glasses import CATALOG
    assert all(1500 <= default_t_max(g) <= 2000 for g in CATALOG.values())


def test_raw_deck_is_generated_from_the_schedule():
    text = DECK.read_text()
    assert text == mlp_deck(), "lammps_inputs/mlp_anneal.in is stale: run `pylbs deck --write`"
    schedule = mlp_schedule("anneal", default_t_max(get_glass(MLP_DECK_GLASS)))
    deck, expected = parse_deck_variables(text), deck_variables(schedule)
    assert {k: deck[k] for k in expected} == expected


# ----------------------------------------------------------------- real runs

def _short(n_hold=100, n_sample=60, t=1000.0, frames=3):
    return Schedule((Stage("hold", t, t, n_hold * 1e-3),
                     Stage("sample", 300.0, 300.0, n_sample * 1e-3, dump_every_ps=n_sample * 1e-3 / frames)))


def test_profile_emin_and_summary(tiny_dp_model, start_data, tmp_path):
    """fast schedule to 1500 K at time scale 0.002 (1280 steps): T follows the ramp, Emin lowers pe."""
    from pylbs.lammps_io import read_thermo
    from pylbs.protocols.guard import Guard
    from pylbs.protocols.mlp_quench import run_mlp_quench

    model = tiny_dp_model[0].with_name("model.pth")  # its compressed copy is already cached (conftest)
    s = run_mlp_quench(start_data, [model], tmp_path, glass=get_glass("LBS-20-60-20"), kind="fast", t_max=1500, time_scale=0.002, sample_frames=4,
                       zbl_core=CORE, guard=Guard(LENIENT, check_every_ps=0.16),
                       emin_commands=("min_style cg", "minimize 0.0 1.0e-3 30 300"), compress=True)
    sched = mlp_schedule("fast", 1500, sample_frames=4).scaled(0.002)
    assert s["schedule"] == json.loads(json.dumps(sched.to_dict())) and s["glass"] == "LBS-20-60-20"
    r = json.loads((tmp_path / "replica-1" / "summary.json").read_text())
    th = read_thermo(tmp_path / "replica-1" / "thermo.dat")
    assert th["step"][-1] == sched.n_steps() == 1280
    (h0, h1), (c0, c1), (e0, e1), (s0, s1) = sched.stage_bounds()[1:]
    temp = lambda a, b: th["temp"][(th["step"] > a) & (th["step"] <= b)].mean()  # noqa: E731
    # Nose-Hoover (Tdamp 0.1 ps) lags a 0.24 ps ramp; by the second half of the hold it is at T_max
    assert temp((h0 + h1) // 2, h1) == pytest.approx(1500, rel=0.2)
    assert temp(s0, s1) == pytest.approx(300, rel=0.2)
    assert temp(0, h0 // 2) < temp(h0 // 2, h0) < temp((h0 + h1) // 2, h1)  # heating
    assert temp(c0, (c0 + c1) // 2) > temp((c0 + c1) // 2, c1)  # cooling
    # 4 frames kept from the sample stage only; Emin lowers the energy
    assert r["frames_kept"] == 4 and all(s0 < k <= s1 for k in r["kept_steps"])
    assert r["emin"]["pe_eV"] < r["md_final"]["pe_eV"]
    for key in ("fraction_4B", "fraction_5Si", "emin_fraction_4B"):
        assert s[key]["std"] == 0.0 and s[key]["per_replica"] == [s[key]["mean"]]
    assert (tmp_path / "replica-1" / "emin.data").exists()
    # the MD ran the model's compressed copy (the user's model stays the request's model)
    used = s["md_models"][0]
    assert used["compressed"] and used["model"] == str(model) and s["models"] == [str(model)]
    assert r["potential_commands"][0].startswith(f"pair_style hybrid/overlay deepmd {used['md_model']} ")


def test_cli_gives_the_deepmd_stage_its_own_time_scale(tiny_dp_model, start_data, tmp_path, capsys):
    """``pylbs quench --from DATA --mlp M --time-scale 1 --mlp-time-scale 0.0005``: the DeepMD stage
    runs the fast schedule to 1200 K at 0.0005 (290 steps), not at the FMP scale of 1 (580,000)."""
    from pylbs.cli import main
    from pylbs.lammps_io import read_thermo

    model = tiny_dp_model[0].with_name("model.pth")
    lenient = [f"{a}-{b}=0.6" for (a, b) in LENIENT]
    assert main(["quench", "--from", str(start_data), "--glass", "LBS-20-60-20", "--mlp", str(model),
                 "--schedule", "fast", "--t-max", "1200", "--time-scale", "1", "--mlp-time-scale", "0.0005",
                 "--sample-frames", "2", "--emin-max-iter", "0", "--zbl-core", *map(str, CORE),
                 "--min-distance", *lenient, "--quiet", "--out", str(tmp_path)]) == 0
    sched = mlp_schedule("fast", 1200, sample_frames=2).scaled(0.0005)
    s = json.loads((tmp_path / "mlp-fast-T1200" / "summary.json").read_text())
    assert s["time_scale"] == 0.0005 and s["schedule"] == json.loads(json.dumps(sched.to_dict()))
    assert read_thermo(tmp_path / "mlp-fast-T1200" / "replica-1" / "thermo.dat")["step"][-1] == sched.n_steps() == 290
    assert "time scale 0.0005" in capsys.readouterr().out


def test_compressed_copy_made_once_named_by_hash_and_faithful(tiny_dp_model, tmp_path):
    """pylbs.mlp.compress: `dp --pt compress` once, cached beside the model under the model's hash,
    reused after; its energies and forces are the model's (tabulation error, measured 6e-15 eV/A
    here, within 1e-6); compress=False and a missing model."""
    import hashlib

    from deepmd.infer import DeepPot

    from pylbs.errors import PylbsError
    from pylbs.mlp.compress import md_models

    md_model, train = tiny_dp_model
    model = tmp_path / "model.pth"  # the trained model, in a folder without the committed compressed copy
    shutil.copy2(md_model.with_name("model.pth"), model)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    rec = md_models([model], compress=True)[0]
    copy = model.with_name(f"model.compressed-{sha[:12]}.pth")
    assert rec == {"model": str(model), "sha256": sha, "md_model": str(copy), "compressed": True,
                   "note": "dp --pt compress (cached)"}
    stamp = copy.stat().st_mtime_ns
    assert md_models([model], compress=True) == [rec] and copy.stat().st_mtime_ns == stamp  # made once
    types = np.loadtxt(train / "type.raw", dtype=int)
    coord, box = np.load(train / "set.000" / "coord.npy")[:4], np.load(train / "set.000" / "box.npy")[:4]
    e0, f0, _ = DeepPot(str(model)).eval(coord, box, types)
    e1, f1, _ = DeepPot(str(copy)).eval(coord, box, types)
    assert np.abs(e1 - e0).max() / len(types) < 1e-6 and np.abs(f1 - f0).max() < 1e-6
    assert md_models([model], compress=False)[0]["md_model"] == str(model)
    with pytest.raises(PylbsError, match="does not exist"):
        md_models([model.with_name("missing.pth")], compress=True)


def test_replicas_differ_by_seed_only_and_record_deviation(tiny_dp_model, start_data, tmp_path):
    from pylbs.lammps_io import read_model_devi
    from pylbs.protocols.guard import Guard
    from pylbs.protocols.mlp_quench import run_mlp_quench

    model, _ = tiny_dp_model
    kw = dict(glass=get_glass("LBS-20-60-20"), schedule=_short(n_hold=40), replicas=2, seed=5, emin=False, zbl_core=CORE,
              guard=Guard(LENIENT, max_devi_f=1e-6, out_freq=10, check_every_ps=0.05))
    s = run_mlp_quench(start_data, [model, model], tmp_path, **kw)  # same model twice: deviation exactly 0
    assert s["seeds"] == [5, 6] and s["replicas"] == 2
    reps = [json.loads((tmp_path / f"replica-{k}" / "summary.json").read_text()) for k in (1, 2)]
    req = [dict(r["request"]) for r in reps]
    assert req[0].pop("seed") == 5 and req[1].pop("seed") == 6 and req[0] == req[1]
    t1, t2 = (np.loadtxt(tmp_path / f"replica-{k}" / "thermo.dat") for k in (1, 2))
    assert t1.shape == t2.shape and not np.allclose(t1[1:, 2], t2[1:, 2])  # different velocities
    vals = [r["fraction_4B"] for r in reps]
    assert s["fraction_4B"]["mean"] == pytest.approx(np.mean(vals))
    assert s["fraction_4B"]["std"] == pytest.approx(np.std(vals, ddof=1))
    devi = read_model_devi(tmp_path / "replica-1" / "model_devi.dat")
    assert list(devi["step"]) == list(range(0, 101, 10)) and not devi["max_devi_f"].any()
    # finished: a second call returns the stored result without running
    assert run_mlp_quench(start_data, [model, model], tmp_path, **kw)["wall_s"] == s["wall_s"]


def test_resume_and_overlap_guard(tiny_dp_model, start_data, tmp_path, monkeypatch):
    """Killed at step 150 -> resumes from the step-100 restart; a provoked overlap stops the run
    before its checkpoint and saves frames; the next call resumes from the last good restart."""
    from pylbs.lammps_io import dump_steps, read_thermo
    from pylbs.protocols import guard as guard_module
    from pylbs.protocols.guard import Guard
    from pylbs.protocols.mlp_quench import run_mlp_replica

    model, _ = tiny_dp_model
    sched = Schedule((Stage("hold", 1000.0, 1000.0, 0.2), Stage("sample", 300.0, 300.0, 0.1, dump_every_ps=0.01)))
    kw = dict(seed=3, emin=False, zbl_core=CORE, thermo_every=10)
    good = Guard(LENIENT, check_every_ps=0.05)
    original = guard_module.GuardRun.__call__

    class Killed(Exception):
        pass

    def killed_at_150(self, session, step, **kw):
        if step == 150:
            raise Killed("simulated kill")
        return original(self, session, step, **kw)

    monkeypatch.setattr(guard_module.GuardRun, "__call__", killed_at_150)
    with pytest.raises(Killed):
        run_mlp_replica(start_data, [model], tmp_path, sched, guard=good, **kw)
    monkeypatch.setattr(guard_module.GuardRun, "__call__", original)
    assert json.loads((tmp_path / "progress.json").read_text())["step"] == 100

    # every BO3 bond (1.37 A) "overlaps" and stays so. Checked every 10 fs from the restart at step 100: seen
    # at 110 (a contact: no checkpoint), 120, and at 130, 20 fs (confirm_ps) after 110 -> stopped at 130, the
    # last good restart still 100. (The floor, 0.8 x 1.6 = 1.28 A, would stop it at 110: set lower here.)
    strict = Guard({**LENIENT, ("B", "O"): 1.6}, check_every_ps=0.01, floor_fraction=0.5)
    with pytest.raises(UnphysicalEventError, match="lower T_max") as err:
        run_mlp_replica(start_data, [model], tmp_path, sched, guard=strict, **kw)
    e = err.value
    assert (e.step, e.last_good_step) == (130, 100)
    assert json.loads((tmp_path / "progress.json").read_text())["step"] == 100  # no checkpoint of a bad chunk
    from ase.io import read
    frames = read(e.frames_file, index=":")
    assert frames[-1].info["step"] == 130 and len(frames[-1]) == 105
    event = json.loads((tmp_path / "guard" / "event.json").read_text())
    assert event["kind"] == "overlap" and event["rule"].startswith("still under the limit 20 fs after it was first "
                                                                   "seen there (step 110)")
    assert sorted(event["closest"]["elements"]) == ["B", "O"] and event["n_pairs"] > 10
    # with the default floor the same run stops as soon as a B-O bond is under 1.28 A, before the 20 fs are
    # up (measured: none at 110, one at 120)
    floor = Guard({**LENIENT, ("B", "O"): 1.6}, check_every_ps=0.01)
    with pytest.raises(UnphysicalEventError) as err:
        run_mlp_replica(start_data, [model], tmp_path, sched, guard=floor, **kw)
    assert (err.value.step, err.value.last_good_step) == (120, 100)
    event = json.loads((tmp_path / "guard" / "event.json").read_text())
    assert event["rule"] == "under 0.8 of the limit" and event["closest"]["distance_A"] < 1.28

    r = run_mlp_replica(start_data, [model], tmp_path, sched, guard=good, **kw)
    assert r["timing"]["resumed"] and r["steps"] == 300
    th = read_thermo(tmp_path / "thermo.dat")
    assert np.array_equal(th["step"], np.arange(0, 301, 10))
    steps = dump_steps(tmp_path / "trajectory.lammpstrj")
    assert steps == sorted(set(steps)) and r["frames_kept"] == 10


def test_model_deviation_guard(tiny_dp_model, bad_dp_model, start_data, tmp_path):
    """A second model that disagrees with the first: the guard stops at the first check."""
    from pylbs.lammps_io import read_model_devi
    from pylbs.protocols.guard import Guard
    from pylbs.protocols.mlp_quench import run_mlp_replica

    model, _ = tiny_dp_model
    other = bad_dp_model
    guard = Guard(LENIENT, max_devi_f=0.05, out_freq=5, check_every_ps=0.02)
    with pytest.raises(UnphysicalEventError, match="force deviation") as err:
        run_mlp_replica(start_data, [model, other], tmp_path / "run", _short(), guard=guard, emin=False,
                        zbl_core=CORE)
    assert err.value.step == 20 and err.value.last_good_step == 0
    devi = read_model_devi(tmp_path / "run" / "model_devi.dat")
    assert list(devi["step"]) == [0, 5, 10, 15, 20] and devi["max_devi_f"].max() > 0.05
    # the deviation at the stop equals deepmd's Python inference of both models on the saved frame:
    # max over atoms of the force standard deviation between the models (|F1 - F2| / 2 for two)
    from ase.io import read
    from deepmd.infer import DeepPot

    frame = read(err.value.frames_file, index=-1)
    types = [TYPE_MAP.index(x) for x in frame.get_chemical_symbols()]
    f1, f2 = (DeepPot(str(m)).eval(frame.positions.reshape(1, -1), np.asarray(frame.cell).reshape(1, -1),
                                   types)[1][0] for m in (model, other))
    assert devi["max_devi_f"][-1] == pytest.approx(np.linalg.norm(f1 - f2, axis=1).max() / 2, rel=1e-4)


def test_raw_deck_runs(tiny_dp_model, start_data, tmp_path, monkeypatch):
    """lammps_inputs/mlp_anneal.in from a data file at scale 1e-4 (116 steps), then Emin."""
    from pylbs.lammps_env import start_lammps
    from pylbs.lammps_io import dump_steps

    model, _ = tiny_dp_model
    monkeypatch.chdir(tmp_path)
    lmp = start_lammps(log="log.lammps", require=(("pair", "deepmd"),),
                       extra_args=["-var", "data", str(start_data), "-var", "model", str(model),
                                   "-var", "scale", "0.0001", "-var", "emin_iter", "20"])
    try:
        lmp.file(str(DECK))
        step = int(lmp.get_thermo("step"))
    finally:
        lmp.close()
    n = mlp_schedule("anneal", default_t_max(get_glass(MLP_DECK_GLASS))).scaled(1e-4).n_steps()
    assert n == 116 and n < step <= n + 20  # at most emin_iter minimisation steps come on top
    assert (tmp_path / "md_final.data").exists() and (tmp_path / "emin.data").exists()
    assert dump_steps(tmp_path / "trajectory.lammpstrj")[-1] == n
