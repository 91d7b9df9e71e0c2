"""The 2000 K stability check (`pylbs mlp stability`, pylbs.mlp.stability): a guard stop ends that glass's
run with its reason and frames and the next glass still runs; a finished check is not run again; the
closest approach it reports is the frames' own."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pylbs.errors import PylbsError
from pylbs.lammps_io import TRAJECTORY_FILE, read_trajectory
from pylbs.mlp.stability import StabilityCheck, closest_approach, run_stability, summary_lines
from pylbs.potential.models import model_path

GLASSES = ("LBS-20-60-20", "LBS-40-40-20")


def _all_distances(atoms):
    """(symbols, distance matrix) by the minimum image over every pair (orthorhombic cell): no neighbour list."""
    pos, cell = atoms.positions, np.diag(atoms.cell[:])
    d = pos[:, None, :] - pos[None, :, :]
    d -= cell * np.round(d / cell)
    return atoms.get_chemical_symbols(), np.linalg.norm(d, axis=-1)


def _brute_force_closest(atoms, cutoff):
    """Smallest distance per element pair over every pair."""
    sym, r = _all_distances(atoms)
    out = {}
    for i in range(len(sym)):
        for j in range(i + 1, len(sym)):
            if r[i, j] < cutoff:
                key = "-".join(sorted((sym[i], sym[j])))
                out[key] = min(out.get(key, np.inf), r[i, j])
    return out


def test_a_stop_is_recorded_and_the_next_glass_still_runs(tmp_path, tiny_dp_model, start_data, fmp_plugin):
    """The tiny test model lets B and O collapse within 20 steps at 2000 K (measured: B-O 0.91 A at step 10
    from this start): both glasses stop, each with its event and frames, and a rerun reads the result."""
    model, _ = tiny_dp_model
    starts = []
    check = StabilityCheck(ps=100.0, time_scale=0.0005, atoms=105, glasses=GLASSES)  # 50 steps
    res = run_stability([model], tmp_path, check, lambda name, n: starts.append((name, n)) or start_data)
    assert starts == [(g, 105) for g in GLASSES]  # the second glass ran after the first stopped
    for g in GLASSES:
        r = res[g]
        assert r["stopped"] and 0 < r["step"] <= 50 and r["ps"] == pytest.approx(r["step"] * 0.001)
        assert r["sitting_steps"] == r["step"]  # one sitting from step 0
        assert "under the guard's" in r["why"] and "The MLP left" not in r["why"]
        event = json.loads((tmp_path / g / "guard" / "event.json").read_text())
        assert event["kind"] == "overlap" and event["step"] == r["step"] and os.path.exists(r["frames_file"])
        assert json.loads((tmp_path / g / "stability.json").read_text()) == r
    assert summary_lines(res)[-1].startswith("guard stops: 2 of 2 glasses;")
    again = run_stability([model], tmp_path, check, lambda name, n: pytest.fail("a finished glass ran again"))
    assert again == res
    # another check (or model) in the same folder is refused rather than read back as its result
    longer = StabilityCheck(ps=100.0, time_scale=0.001, atoms=105, glasses=GLASSES)
    with pytest.raises(PylbsError, match="other models or settings: simulated_ps differ"):
        run_stability([model], tmp_path, longer, lambda name, n: pytest.fail("no run for a refused check"))


def test_the_shipped_model_passes_a_short_check_with_the_frames_closest_approach(tmp_path, start_data,
                                                                                 fmp_plugin):
    from pylbs.protocols.guard import Guard

    check = StabilityCheck(ps=100.0, time_scale=0.0005, atoms=105, glasses=("LBS-20-60-20",))
    # the shipped compressed copy (in the repository: no dp process), as `pylbs mlp stability` runs it, the
    # guard looking every 5 steps
    res = run_stability([model_path("default")], tmp_path, check, lambda name, n: start_data, compress=True,
                        guard=Guard(check_every_ps=0.005))
    r = res["LBS-20-60-20"]
    assert not r["stopped"] and r["steps"] == 50 and r["ps"] == pytest.approx(0.05)
    traj = read_trajectory(tmp_path / "LBS-20-60-20" / TRAJECTORY_FILE, unwrap=False)
    frames = [traj.atoms(k) for k in range(len(traj.steps))]
    assert list(traj.steps) == list(range(0, 51, 5))  # a frame wherever the guard looked, the start glass first
    expected = {}
    for a in frames:
        for k, v in _brute_force_closest(a, 2.5).items():
            expected[k] = min(expected.get(k, np.inf), v)
    assert r["closest_A"] == pytest.approx(expected, abs=1e-9)
    assert r["closest_A"]["B-O"] > r["guard_limits_A"]["B-O"]  # what "no guard stop" means
    assert closest_approach(frames[:1], 2.5) == pytest.approx(_brute_force_closest(frames[0], 2.5), abs=1e-9)
    # how the verdict was reached: the model's sha256, how often the guard looked (every 0.005 ps here; by
    # default 1/200 of the run, 0.5 ps at 100 ps), the frames the closest approach is over, this sitting's
    # steps, ranks and threads
    card = json.loads((Path(model_path("default")).parent / "card.json").read_text())
    assert r["model_sha256"] == card["files"]["model.pth"]["sha256"]
    assert r["guard_every_ps"] == pytest.approx(0.005) and r["closest_frames"] == len(frames) == 11
    assert r["sitting_steps"] == 50 and r["ranks"] == 1
    assert r["omp_threads"] == int(os.environ["OMP_NUM_THREADS"])  # set by pylbs.lammps_env where it was not
    # a run finished before pylbs recorded these gets them from its own files when read back: the sha256 from
    # the compressed copy the log names (its name carries the sha's first 12 digits), ranks from the log
    result = tmp_path / "LBS-20-60-20" / "stability.json"
    filled = ("model_sha256", "ranks", "omp_threads", "guard_every_ps", "closest_frames", "sitting_steps")
    old = {k: v for k, v in r.items() if k not in filled}
    result.write_text(json.dumps(old))
    back = run_stability([model_path("default")], tmp_path, check, lambda name, n: pytest.fail("finished"),
                         compress=True)
    b = back["LBS-20-60-20"]
    assert {k: b[k] for k in filled} == {k: r[k] for k in filled}
    assert len(b["recorded_after_the_run"]) == 5 and json.loads(result.read_text()) == b
    log = tmp_path / "LBS-20-60-20" / "log.lammps"
    log.write_text(log.read_text().replace(".compressed-", ".other-"))  # a log that does not prove the model
    result.write_text(json.dumps(old))
    b = run_stability([model_path("default")], tmp_path, check, lambda name, n: pytest.fail("finished"),
                      compress=True)
    assert "model_sha256" not in b["LBS-20-60-20"] and b["LBS-20-60-20"]["ranks"] == 1


def _under_limits(atoms, table):
    """{(i, j): d} of the pairs under their limit, over every pair."""
    sym, r = _all_distances(atoms)
    return {(i, j): r[i, j] for i in range(len(sym)) for j in range(i + 1, len(sym))
            if r[i, j] < table.get(tuple(sorted((sym[i], sym[j]))), 0.0)}


def test_a_contact_that_clears_is_a_collision_not_a_stop(tmp_path, start_data, fmp_plugin, monkeypatch):
    """At 2000 K B-O bonds dip under a limit of 1.25 A for a few fs and come back (B-O vibrates with a ~25 fs
    period; measured from this start: three pairs at 1.22-1.24 A at one check, over 1.25 at the next two):
    with the default rule each dip is a contact that clears, recorded as the dumped frames show it (every
    check step is dumped here); the strict rule (confirm_ps = 0) stops the same trajectory at the first."""
    from pylbs.protocols.guard import Guard

    check = StabilityCheck(ps=100.0, time_scale=0.0006, atoms=105, glasses=("LBS-20-60-20",))  # 60 steps
    tight = {("B", "O"): 1.25}
    res = run_stability([model_path("default")], tmp_path / "rule", check, lambda name, n: start_data,
                        guard=Guard(tight))
    r = res["LBS-20-60-20"]
    assert not r["stopped"] and r["steps"] == 60
    traj = read_trajectory(tmp_path / "rule" / "LBS-20-60-20" / TRAJECTORY_FILE, unwrap=False)
    assert list(traj.steps) == list(range(0, 61, 10))  # the guard checks every 10 steps: every check is in the dump
    # per pair, U (under its limit) or O (over) at each check; a contact is a run of U's that single O's
    # do not break (U(U|OU)*), cleared at the O after it: over at two checks in a row, or at the last one
    table = Guard(tight).table()
    checks = [_under_limits(traj.atoms(k), table) for k in range(1, len(traj.steps))]
    steps = list(traj.steps[1:])
    expected = []
    for i, j in sorted({p for c in checks for p in c}):
        seq = "".join("U" if (i, j) in c else "O" for c in checks)
        for m in re.finditer(r"U(?:U|OU)*", seq):
            assert m.end() < len(seq), f"pair {i}-{j} still under its limit at the last check"
            expected.append({"atoms": [i + 1, j + 1], "first_step": steps[m.start()], "cleared_step": steps[m.end()],
                             "closest_A": min(checks[k][(i, j)] for k in range(m.start(), m.end()) if seq[k] == "U")})
    assert len(expected) >= 2
    got = sorted(r["contacts"], key=lambda c: (c["first_step"], c["atoms"]))
    expected.sort(key=lambda c: (c["first_step"], c["atoms"]))
    assert [(c["atoms"], c["first_step"], c["cleared_step"]) for c in got] == \
        [(c["atoms"], c["first_step"], c["cleared_step"]) for c in expected]
    # the dump keeps ~6 digits of the coordinates (measured: 3e-5 A at most here)
    assert [c["closest_A"] for c in got] == pytest.approx([c["closest_A"] for c in expected], abs=2e-4)
    assert {tuple(sorted(c["elements"])) for c in got} == {("B", "O")}

    strict = run_stability([model_path("default")], tmp_path / "strict", check, lambda name, n: start_data,
                           guard=Guard(tight, confirm_ps=0.0))["LBS-20-60-20"]
    assert strict["stopped"] and strict["step"] == min(c["first_step"] for c in expected)
    assert "strict rule" in strict["why"]

    # killed while a contact is open, then resumed: the same contacts as the run never killed, none twice,
    # none lost. No checkpoint is written while a contact is open, and contacts that cleared after the last
    # checkpoint are dropped from guard/contacts.json on resume, to be met again in the replay. Measured here:
    # one contact at each of steps 10, 30 and 50, each over its limit at the next check (the cleared step)
    # and confirmed at the one after, so every check from 10 on has one open.
    from pylbs.protocols import guard as guard_module

    assert [c["first_step"] for c in got] == [10, 30, 50] and all(c["checks"] == 1 for c in got)
    original = guard_module.GuardRun.__call__

    class Killed(Exception):
        pass

    def kill_at(at):
        def killed(self, session, step, **kw):
            if step == at:
                assert self.open, "the kill must fall while a contact is open"
                raise Killed("simulated kill")
            return original(self, session, step, **kw)
        return killed

    def killed_and_resumed(folder, limits, at):
        monkeypatch.setattr(guard_module.GuardRun, "__call__", kill_at(at))
        with pytest.raises(Killed):
            run_stability([model_path("default")], folder, check, lambda name, n: start_data, guard=Guard(limits))
        monkeypatch.setattr(guard_module.GuardRun, "__call__", original)
        run = folder / "LBS-20-60-20"
        at_kill = (json.loads((run / "progress.json").read_text())["step"] if (run / "progress.json").exists() else 0,
                   len(json.loads((run / "guard" / "contacts.json").read_text())["contacts"])
                   if (run / "guard" / "contacts.json").exists() else 0)
        resumed = run_stability([model_path("default")], folder, check, lambda name, n: start_data,
                                guard=Guard(limits))["LBS-20-60-20"]
        assert not resumed["stopped"] and resumed["sitting_steps"] == 60 - at_kill[0]
        # and the count a result finished before pylbs recorded it gets from the log, where both sittings are
        from pylbs.mlp.stability import _recorded_after_the_run

        (folder / "log").mkdir()
        shutil.copy(run / "log.lammps", folder / "log" / "log.lammps")
        assert "Loop time of" in (folder / "log" / "log.lammps").read_text().split("units metal")[1]  # the kill's
        assert _recorded_after_the_run(folder / "log", {"stopped": False}, {"model_sha256": "0" * 64, "guard_every_ps":
                                       0.01})["sitting_steps"] == resumed["sitting_steps"]
        return at_kill, sorted(resumed["contacts"], key=lambda c: (c["first_step"], c["atoms"]))

    # killed at 40 (the second contact open, the first written at 30): no checkpoint yet, so the resumed run
    # starts over, drops the first contact from the file and meets it again
    at_kill, contacts = killed_and_resumed(tmp_path / "killed", tight, 40)
    assert at_kill == (0, 1)
    assert [(c["atoms"], c["first_step"], c["cleared_step"]) for c in contacts] == \
        [(c["atoms"], c["first_step"], c["cleared_step"]) for c in got]
    assert [c["closest_A"] for c in contacts] == pytest.approx([c["closest_A"] for c in got], abs=1e-6)
    # a limit between the deepest contact's distance and the others' leaves it alone (first seen at 30):
    # checkpoints at 10 and 20, killed at 40 while it is open, resumed from the restart at step 20
    deepest = min(got, key=lambda c: c["closest_A"])
    limit = (deepest["closest_A"] + min(c["closest_A"] for c in got if c is not deepest)) / 2
    at_kill, contacts = killed_and_resumed(tmp_path / "killed-mid", {("B", "O"): limit}, 40)
    assert deepest["first_step"] == 30 and at_kill == (20, 0)
    assert [(c["atoms"], c["first_step"], c["cleared_step"]) for c in contacts] == \
        [(deepest["atoms"], 30, deepest["cleared_step"])]
    assert contacts[0]["closest_A"] == pytest.approx(deepest["closest_A"], abs=1e-6)
    # a run begun by a pylbs that dumped less often (every 20 steps here; 1/50 of the run before e7d2941)
    # resumes with its own interval, which Session insists on, rather than being refused
    monkeypatch.setattr(guard_module.GuardRun, "__call__", kill_at(40))
    with pytest.raises(Killed):
        run_stability([model_path("default")], tmp_path / "older", check, lambda name, n: start_data,
                      guard=Guard({("B", "O"): limit}))
    monkeypatch.setattr(guard_module.GuardRun, "__call__", original)
    run = tmp_path / "older" / "LBS-20-60-20"
    progress = json.loads((run / "progress.json").read_text())
    assert progress["step"] == 20 and progress["request"]["dump_every_ps"] == pytest.approx(0.01)
    progress["request"]["dump_every_ps"] = 0.02
    (run / "progress.json").write_text(json.dumps(progress))
    older = run_stability([model_path("default")], tmp_path / "older", check, lambda name, n: start_data,
                          guard=Guard({("B", "O"): limit}))["LBS-20-60-20"]
    steps = list(read_trajectory(run / TRAJECTORY_FILE, unwrap=False).steps)
    assert not older["stopped"] and older["sitting_steps"] == 40 and steps[-2:] == [40, 60]
    assert older["closest_frames"] == len(steps)


def test_the_cards_record_of_the_100_ps_check_collects_glasses_run_by_run(tmp_path):
    """The criterion's full-length runs (one to two hours a glass on 2 cores) are made over several sittings:
    each `pylbs mlp stability --card` at 100 ps adds its runs to the shipped card's record, the card says how
    many of the 11 have run and whether the criterion is met. A glass run again keeps its earlier run (a stop
    is never erased), the same run entered twice is kept once, and a run of another model, guard rule, guard
    interval or pair wall cannot join, even when it is the record's only glass. A shortened check is not the
    criterion: it replaces the card's own section."""
    from pylbs.glasses import CATALOG
    from pylbs.mlp.card import CRITERION_SECTION, criterion_status, enter_stability, render
    from pylbs.potential.models import SHIPPED_DIR

    assert StabilityCheck().full_length and StabilityCheck(ps=200.0, time_scale=0.5, atoms=400).full_length
    assert not any(c.full_length for c in (StabilityCheck(time_scale=0.1), StabilityCheck(temperature_K=1800.0),
                                           StabilityCheck(atoms=150)))
    real = json.loads((SHIPPED_DIR / "lbs-chgnet-r2scan-2" / "card.json").read_text())
    sha = real["files"]["model.pth"]["sha256"]
    rule = {"temperature_K": 2000.0, "simulated_ps": 100.0, "atoms": 300, "guard_limits_A": {"O-O": 1.7, "B-O": 1.0},
            "guard_confirm_ps": 0.02, "guard_floor_fraction": 0.8, "seed": 1, "pair_wall": real["pair_wall"]["terms"]}

    def fresh(name):  # a real card, its record of the criterion started again
        (tmp_path / name).mkdir()
        (tmp_path / name / "card.json").write_text(json.dumps({k: v for k, v in real.items() if k != CRITERION_SECTION}))
        return name

    def run(glass, request=(), out="/x", **result):
        command = (f"pylbs mlp stability --mlp lbs-chgnet-r2scan-2 --glasses {glass} --temperature 2000 --ps 100 "
                   f"--time-scale 1 --atoms 300 --fmp-time-scale 0.005 --seed 1 --guard-confirm-fs 20 --out {out}")
        through = {"stopped": False, "steps": 100000, "ps": 100.0, "sitting_steps": 100000, "closest_frames": 51,
                   "closest_A": {"B-O": 1.15, "O-O": 1.81}}
        if result.get("stopped"):  # what a stopped run records: its step, no closest approach
            through = {"step": int(result["ps"] * 1000), "sitting_steps": int(result["ps"] * 1000)}
        return {"command": command, "check": StabilityCheck(glasses=(glass,)).to_dict(),
                "pair_wall": real["pair_wall"], "glasses": {glass: {
                    **through, "wall_s": 4800.0, "ranks": 1, "omp_threads": 1, "model_sha256": sha,
                    "guard_every_ps": 0.5, "contacts": [], "request": {**rule, **dict(request)}, **result}}}

    m = fresh("m")
    shortened = run("LBS-20-60-20")
    shortened["check"] = StabilityCheck(time_scale=0.1).to_dict()
    card = enter_stability("m", shortened, StabilityCheck(time_scale=0.1).full_length, tmp_path)
    assert card["stability"] == shortened and CRITERION_SECTION not in card  # a shortened check: its own section
    enter_stability(m, run("LBS-40-40-20"), True, tmp_path)
    enter_stability(m, run("LBS-10-20-70", {"seed": 2}, ranks=2, sitting_steps=99000, wall_s=3000.0), True, tmp_path)
    enter_stability(m, run("LBS-40-40-20", stopped=True, ps=37.5, why="O-O at 1.2 A"), True, tmp_path)
    # the same run entered again by another spelling of its command: its result is the same, kept once
    card = enter_stability(m, run("LBS-40-40-20", out="/x/", stopped=True, ps=37.5, why="O-O at 1.2 A"), True,
                           tmp_path)
    record = card[CRITERION_SECTION]
    assert [r["glass"] for r in record["runs"]] == ["LBS-40-40-20", "LBS-10-20-70", "LBS-40-40-20"]
    assert card["stability"] == shortened  # the shortened check's section is its own
    assert record["command"] == ("pylbs mlp stability --mlp lbs-chgnet-r2scan-2 --glasses GLASS --temperature 2000 "
                                 "--ps 100 --time-scale 1 --atoms 300 --fmp-time-scale 0.005 --seed 1 "
                                 "--guard-confirm-fs 20 --out OUT --card")
    md = (tmp_path / m / "card.md").read_text()
    assert f"on every catalogue glass (`{record['command']}`):" in md
    assert ("Run: **2 of 11** glasses; guard stops: **1** in 3 run(s); this half of the criterion (every glass, no stop; the other half is the loop's convergence record) is "
            "**not met**: not yet run: LBS-20-60-20, LBS-10-50-40, ") in md
    assert "each run entered as it finished and kept (a glass run again adds a row;" in md
    assert ("| closest approach (A) over the 51 frames dumped every 2 ps, the FMP start glass the first: B-O, Si-O, "
            "O-O, Li-O, B-B |") in md
    assert "| LBS-10-20-70 | 100 ps, no stop | 1.15, –, 1.81, –, – | – | 50 min (2 x 1, 99 % of the run) |" in md
    assert "| LBS-40-40-20 | stopped at 37.50 ps | O-O at 1.2 A | – | 80 min (1 x 1) |" in md
    # a sitting that ran nothing (killed after its last step, before the result was written) is 0 % of the run,
    # and threads not recorded are said to be unknown
    enter_stability(m, run("LBS-10-20-70", sitting_steps=0, omp_threads=None, wall_s=12.0), True, tmp_path)
    md = (tmp_path / m / "card.md").read_text()
    assert "| LBS-10-20-70 | 100 ps, no stop | 1.15, –, 1.81, –, – | – | 0 min (1 x ?, 0 % of the run) |" in md
    assert "Threads `?`: not recorded (OMP_NUM_THREADS not a number, or a run made before" in md
    assert "| LBS-40-40-20 | 100 ps, no stop | 1.15, –, 1.81, –, – | – | 80 min (1 x 1) |" in md
    assert "| LBS-20-60-20 | not run yet | – | – | – |" in md
    # a run dumped at each guard check (201 frames at 100 ps) beside runs over 51: each row says its own count
    enter_stability(m, run("LBS-20-60-20", closest_frames=201), True, tmp_path)
    md = (tmp_path / m / "card.md").read_text()
    assert ("| closest approach (A) over the dumped frames (the FMP start glass the first; how many in each row): "
            "B-O, Si-O, O-O, Li-O, B-B |") in md
    assert "| LBS-20-60-20 | 100 ps, no stop | 1.15, –, 1.81, –, – (201 frames, every 0.5 ps) | – | 80 min" in md
    assert "| LBS-10-20-70 | 100 ps, no stop | 1.15, –, 1.81, –, – (51 frames, every 2 ps) | – | 0 min" in md
    assert ("Guard limits (A): O-O 1.7, B-O 1. The guard looks every 0.5 ps. A pair under its limit at a check is a "
            "contact, which clears when the pair is over the limit at two checks in a row; the run stops when a "
            "contact's pair is under it again at any later check (checks being more than 20 fs apart), when any pair "
            "is under 0.8 of its limit, or when one is under its limit at the run's last check.") in md
    # checks closer than the 20 fs (the shortened check's 10 fs): the window is the rule's own
    assert ("The guard looks every 0.01 ps. A pair under its limit at a check is a contact, which clears when the "
            "pair is over the limit at two checks in a row; the run stops when a contact's pair is under it at a "
            "check 20 fs or more after it was first seen,") in render({**card, "stability": {
                **shortened, "glasses": {g: {**r, "guard_every_ps": 0.01} for g, r in shortened["glasses"].items()}}})
    strict = {**shortened, "glasses": {g: {**r, "request": {**r["request"], "guard_confirm_ps": 0.0}}
                                       for g, r in shortened["glasses"].items()}}
    assert "0.5 ps. The run stops at the first check that sees a pair under its limit." in render({**card,
                                                                                                "stability": strict})
    assert "Run with the model's pair wall (`pair_wall.json`; docs/mlp.md): B-B (to 2.30 A)" in md
    assert f"- LBS-10-20-70: `{run('LBS-10-20-70')['command']}` (entered " in md

    # refused, naming the fix, the card left as it was: another guard rule, interval or wall, another model,
    # a run that does not say which model ran; also against the record's only glass, run again
    lone = fresh("lone")
    enter_stability(lone, run("LBS-40-40-20"), True, tmp_path)
    before = (tmp_path / lone / "card.json").read_bytes(), (tmp_path / lone / "card.md").read_bytes()
    for bad, match in ((run("LBS-40-40-20", {"guard_confirm_ps": 0.0}), r"guard_confirm_ps.* run LBS-40-40-20 with "
                        "the recorded settings"),
                       (run("LBS-40-40-20", guard_every_ps=0.25), r"\(guard_every_ps: recorded guard_every_ps = 0.5\)"),
                       (run("LBS-5-35-60", {"pair_wall": None}), r"\(pair_wall: recorded pair_wall = "),
                       (run("LBS-5-35-60", model_sha256="0" * 64), r"is of another model \(sha256 000000000000"),
                       (run("LBS-5-35-60", model_sha256=None), r"does not record which model ran.* --mlp lone")):
        with pytest.raises(PylbsError, match=match):
            enter_stability(lone, bad, True, tmp_path)
        assert ((tmp_path / lone / "card.json").read_bytes(), (tmp_path / lone / "card.md").read_bytes()) == before

    # a stop stays counted when the glass later runs through: every glass through and the criterion still unmet
    for glass in CATALOG:
        card = enter_stability(m, run(glass, {"seed": 3}), True, tmp_path)
    assert len(card[CRITERION_SECTION]["runs"]) == 16
    assert criterion_status(card[CRITERION_SECTION]) == {"glasses": 11, "runs": 16, "stops": 1, "missing": [],
                                                         "met": False}  # what the CLI prints after --card
    assert "Run: **11 of 11** glasses; guard stops: **1** in 16 run(s); this half of the criterion (every glass, no stop; the other half is the loop's convergence record) is " \
           "**not met**." in (tmp_path / m / "card.md").read_text()
    met = fresh("met")
    for glass in CATALOG:
        enter_stability(met, run(glass), True, tmp_path)
    assert "Run: **11 of 11** glasses; guard stops: **0** in 11 run(s); this half of the criterion (every glass, no stop; the other half is the loop's convergence record) is " \
           "**met**." in (tmp_path / met / "card.md").read_text()


def test_bad_requests_name_the_fix(tmp_path):
    with pytest.raises(PylbsError, match="catalogue names"):
        StabilityCheck(glasses=("LBS-1-2-3",))
    with pytest.raises(PylbsError, match="does not exist"):
        run_stability([tmp_path / "missing.pth"], tmp_path, StabilityCheck(glasses=("LBS-20-60-20",)),
                      lambda name, n: pytest.fail("no start glass is made for a missing model"))


def test_a_result_judged_by_other_settings_is_refused_naming_them(tmp_path, tiny_dp_model):
    """A glass's result from a check with other guard limits (an older pylbs did not record them) is
    not read back as this check's verdict, and the error names what differs."""
    model, _ = tiny_dp_model
    check = StabilityCheck(glasses=("LBS-20-60-20",), atoms=60, time_scale=0.001)
    (tmp_path / "LBS-20-60-20").mkdir()
    old = {"models": [str(model)], "temperature_K": 2000.0, "simulated_ps": 0.1, "atoms": 60, "seed": 1}
    (tmp_path / "LBS-20-60-20" / "stability.json").write_text(json.dumps({"stopped": False, "request": old}))
    with pytest.raises(PylbsError, match=r"guard_limits_A differ .*guard_limits_A = not recorded"):
        run_stability([model], tmp_path, check, lambda name, n: pytest.fail("nothing runs"))


def test_cli_makes_the_start_glass_writes_the_summary_and_exits_1_on_a_stop(tmp_path, tiny_dp_model, fmp_plugin,
                                                                             capsys):
    from pylbs.cli import main

    model, _ = tiny_dp_model
    out = tmp_path / "stab"
    args = ["mlp", "stability", "--mlp", str(model), "--glasses", "LBS-20-60-20", "--atoms", "60", "--time-scale",
            "0.0005", "--fmp-time-scale", "0.0005", "--out", str(out)]
    assert main(args + ["--card"]) == 2  # --card needs a shipped model
    assert "writes into a shipped model's card" in capsys.readouterr().err and not out.exists()
    assert main(args) == 1  # the tiny model stops (test above): the exit status says so
    summary = json.loads((out / "stability.json").read_text())
    assert summary["guard_stops"] == 1 and summary["check"]["simulated_ps"] == pytest.approx(0.05)
    assert summary["command"].startswith("pylbs mlp stability --mlp ") and "--time-scale 0.0005" in summary["command"]
    assert (out / "fmp" / "LBS-20-60-20-n60" / "final.data").exists()  # the FMP start glass, made once
    assert capsys.readouterr().out.splitlines()[-1] == "guard stops: 1 of 1 glasses; contacts under a limit that cleared: 0"


def _script(name):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_aftermath_of_a_stop_replays_it_and_follows_the_pair_past_it(tmp_path, tiny_dp_model, start_data,
                                                                         fmp_plugin):
    """``scripts/guard_stop_aftermath.py``: taken up from the last good restart with the run's own commands,
    the run meets the stop again (the pair's distance at the stop step is the guard's) and goes on past it;
    the push it records is the model's own force on the pair (ASE on the saved frame), and the crossing's
    bookkeeping is the per-step distances'. The tiny model's stop is atoms falling into each other: the
    pair is still under the limit 30 steps later, and the real teacher on the same frames would have held
    it off."""
    from ase import io

    from pylbs.potential import model_calculator
    from pylbs.protocols.guard import Guard

    model, _ = tiny_dp_model
    check = StabilityCheck(ps=100.0, time_scale=0.0005, atoms=105, glasses=("LBS-20-60-20",))
    # the strict rule (stop at the first check under a limit): the replay starts where the pair first dipped
    run_stability([model], tmp_path, check, lambda name, n: start_data, guard=Guard(confirm_ps=0.0))
    folder = tmp_path / "LBS-20-60-20"
    event = json.loads((folder / "guard" / "event.json").read_text())
    aftermath = _script("guard_stop_aftermath")
    assert aftermath.main([str(folder), "--steps", "30", "--write-path"]) == 0
    r = json.loads((folder / aftermath.RESULT_FILE).read_text())
    path = io.read(folder / aftermath.PATH_FILE, index=":")
    t = r["stop_pair"]["every_step"]
    assert t["step"][0] == r["restart_step"] <= event["last_good_step"] and t["step"][-1] == r["restart_step"] + 30
    at = dict(zip(t["step"], range(len(t["step"]))))
    k = at[event["step"]]
    assert t["stop_pair_A"][k] == pytest.approx(event["closest"]["distance_A"], abs=1e-6)
    # the push on the pair's relative coordinate, mu (f_b/m_b - f_a/m_a).u, from ASE on the guard's frame
    frame = io.read(event["frames_file"], index=-1)
    assert frame.info["step"] == event["step"]
    frame.calc = model_calculator(model)
    a, b = (i - 1 for i in event["closest"]["atoms"])
    m, f = frame.get_masses(), frame.get_forces()
    u = frame.get_distance(a, b, mic=True, vector=True)
    u /= np.linalg.norm(u)
    mu = m[a] * m[b] / (m[a] + m[b])
    assert t["push_eV_per_A"][k] == pytest.approx(mu * (f[b] / m[b] - f[a] / m[a]) @ u, abs=1e-4)
    crossing = next(c for c in r["crossings"] if c["atoms"] == event["closest"]["atoms"])
    limit = crossing["limit_A"]
    assert limit == event["closest"]["threshold_A"]
    under = [s for s, d in zip(t["step"], t["stop_pair_A"]) if d < limit]
    assert crossing["steps_under"] == len(under) and crossing["first_step"] == under[0]
    assert crossing["closest_A"] == pytest.approx(min(t["stop_pair_A"]), abs=1e-12)
    assert not crossing["over_again_at_end"] and t["stop_pair_A"][-1] < limit  # fell in, did not bounce
    # and nothing held it off: it came in with about kT (0.17 eV at 2000 K; measured 0.159 eV, 1/2 mu v^2 in
    # metal units) and the push took 0.106 eV of it on the way in (0.01-0.5 eV/A over 0.5 A; measured)
    sp = r["stop_pair"]
    assert sp["radial_ke_in_eV"] == pytest.approx(0.159, abs=0.03)
    assert sp["climbed_eV"] == pytest.approx(0.106, abs=0.03)
    # the teacher on the same frames holds a B-O pair off (measured: +11 eV/A at 1.17 A, +151 at 0.86 A,
    # ~30 eV climbed before CHGNet itself gives way under 0.7 A): the fall is the tiny model's fault
    assert len(path) == sp["closest_step"] - r["restart_step"] + 1 and path[-1].info["step"] == sp["closest_step"]
    every = 5
    teacher = aftermath.teacher_on_the_path(path, (a, b), "chgnet-r2scan", every)
    idx = sorted(set(range(0, len(path), every)) | {len(path) - 1})
    assert teacher["path_index"] == idx
    assert teacher["stop_pair_A"] == pytest.approx([t["stop_pair_A"][k] for k in idx], abs=1e-6)  # extxyz digits
    assert teacher["push_eV_per_A"][0] > 8 > 0 > t["push_eV_per_A"][0]  # at 1.17 A: +11.1 vs the model's -0.07
    assert teacher["climbed_eV"] > 20 and sp["climbed_eV"] < 0.2
