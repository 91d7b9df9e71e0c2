"""The locality measure (pylbs.mlp.locality) on a pair potential whose answer is known exactly.

A Lennard-Jones calculator with a cutoff inside the student's cutoff sees nothing beyond it: the
force change on the centre must be zero. With a cutoff beyond it, the change must equal the pair
forces of the moved atoms summed independently here.
"""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from pylbs.errors import PylbsError
from pylbs.mlp.locality import outside_force_changes, summarise, swap_outside

SIGMA, EPS = 2.5, 0.01


def _frames(seed=1):
    """Two 'frames' of 216 atoms in an 18 A box (> twice an 8 A cutoff: one image per pair)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(6)] * 3, indexing="ij"), -1).reshape(-1, 3) * 3.0 + 1.5
    a = Atoms(["Si", "O"] * 108, positions=grid + rng.normal(0, 0.1, grid.shape), cell=[18.0] * 3, pbc=True)
    b = a.copy()
    b.positions = a.positions + rng.normal(0, 0.3, grid.shape)  # unwrapped: may leave the box
    return a, b


def _mic_distance(xi, xj, box=18.0):
    d = xi - xj
    return float(np.linalg.norm(d - box * np.round(d / box)))


def _lj_pair_force_on_i(xi, xj, box, rc):
    """Force on i from j (eV/A), plain truncated LJ, minimum image in a cubic box."""
    d = xi - xj
    d -= box * np.round(d / box)
    r = np.linalg.norm(d)
    if r >= rc:
        return np.zeros(3)
    sr6 = (SIGMA / r) ** 6
    return 24 * EPS * (2 * sr6 ** 2 - sr6) / r ** 2 * d


def test_swap_keeps_every_atom_within_the_cutoff_and_moves_the_rest():
    a, b = _frames()
    swap = swap_outside(a, b, centre=100, rcut=6.0)
    d_a = a.get_distances(100, range(len(a)), mic=True)
    moved = np.zeros(len(a), bool)
    moved[swap.moved] = True
    assert not moved[d_a <= 6.0].any()
    np.testing.assert_array_equal(swap.atoms.positions[~moved], a.positions[~moved])
    np.testing.assert_array_equal(swap.atoms.positions[moved], b.positions[moved])
    # most of an 18 A box lies beyond 6 A of an atom: the swap moves well over half of it
    assert moved.sum() > 0.6 * len(a)


def test_the_ramp_moves_atoms_by_their_distance_beyond_the_cutoff():
    a, b = _frames()
    swap = swap_outside(a, b, centre=100, rcut=6.0, ramp=2.0)
    d_a = a.get_distances(100, range(len(a)), mic=True)
    d_b = np.linalg.norm(b.positions - a.positions[100] - 18.0 * np.round((b.positions - a.positions[100]) / 18.0),
                         axis=1)
    fraction = np.where((d_a > 6.0) & (d_b > 6.0), np.clip((d_a - 6.0) / 2.0, 0, 1), 0.0)
    assert 0 < ((fraction > 0) & (fraction < 1)).sum() and (fraction == 1).sum() > 0
    np.testing.assert_allclose(swap.atoms.positions, a.positions + fraction[:, None] * (b.positions - a.positions),
                               atol=1e-12)


def test_a_calculator_inside_the_cutoff_sees_no_change():
    a, b = _frames()
    lj = LennardJones(sigma=SIGMA, epsilon=EPS, rc=5.0, smooth=False)
    out = outside_force_changes(a, b, lj, rcut=6.0, centres=[0, 37, 100, 215], min_distance=0.5)
    assert out["centres"] == [0, 37, 100, 215] and not out["skipped"]
    assert np.abs(out["changes"]).max() < 1e-12
    assert np.abs(out["forces"]).max() > 1e-3  # the centres do feel forces


@pytest.mark.parametrize("ramp", [0.0, 1.5])
def test_a_calculator_beyond_the_cutoff_shows_exactly_the_moved_atoms_pair_forces(ramp):
    a, b = _frames()
    rc = 8.0
    lj = LennardJones(sigma=SIGMA, epsilon=EPS, rc=rc, smooth=False)
    centres = [3, 50, 180]
    out = outside_force_changes(a, b, lj, rcut=6.0, centres=centres, min_distance=0.5, ramp=ramp)
    for i, change in zip(centres, out["changes"]):
        swap = swap_outside(a, b, i, 6.0, ramp)
        x = swap.atoms.positions
        outside = np.array([_mic_distance(a.positions[i], a.positions[j]) > 6.0
                            and _mic_distance(a.positions[i], b.positions[j]) > 6.0 for j in range(len(a))])
        outside[i] = False
        np.testing.assert_array_equal(swap.moved, np.flatnonzero(outside & (swap.weight > 0)))
        assert (ramp > 0) or outside.sum() == len(swap.moved)
        assert min(_mic_distance(a.positions[i], x[j]) for j in swap.moved) > 6.0
        np.testing.assert_array_equal(x[~outside], a.positions[~outside])
        expected = sum(_lj_pair_force_on_i(a.positions[i], x[j], 18.0, rc)
                       - _lj_pair_force_on_i(a.positions[i], a.positions[j], 18.0, rc) for j in swap.moved)
        assert np.abs(expected).max() > 1e-5  # atoms between 6 and 8 A did move
        np.testing.assert_allclose(change, expected, atol=1e-10)


def test_a_many_body_potential_reaches_twice_its_cutoff_and_no_farther():
    """EMT (ASE's, a many-body potential with a hard cutoff rc): an atom's force is a sum over its
    neighbours' embedding terms, so it depends on atoms up to 2 rc away, as a DeepMD model's does
    on atoms up to twice its rcut. Moving atoms beyond rc changes the force; beyond 2 rc it cannot."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    calc = EMT()
    a = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(6)  # 21.7 A box: atoms exist beyond 2 rc
    rng = np.random.default_rng(3)
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    b = a.copy()
    b.positions += rng.normal(0, 0.08, a.positions.shape)
    a.calc = calc
    a.get_forces()
    rc = calc.rc
    assert 4.5 < rc < 6.0
    near = outside_force_changes(a, b, calc, rcut=rc + 0.2, centres=[400], min_distance=1.5)
    far = outside_force_changes(a, b, calc, rcut=2 * rc + 0.2, centres=[400], min_distance=1.5)
    assert min(far["moved"]) > 50  # atoms did move beyond 2 rc
    assert np.abs(far["changes"]).max() < 1e-10
    assert np.sqrt(np.mean(near["changes"] ** 2)) > 1e-5  # 2e-4 here, 10^6 times the far bound


def test_swaps_that_create_overlaps_are_skipped_not_measured():
    a, b = _frames()
    lj = LennardJones(sigma=SIGMA, epsilon=EPS, rc=5.0, smooth=False)
    out = outside_force_changes(a, b, lj, rcut=6.0, centres=[0, 1], min_distance=100.0)
    assert out["skipped"] == [0, 1] and out["centres"] == [] and out["changes"].shape == (0, 3)


def test_frames_of_different_runs_are_refused():
    a, b = _frames()
    with pytest.raises(PylbsError, match="same atoms"):
        swap_outside(a, b[:-1], 0, 6.0)
    b.set_cell([19.0] * 3)
    with pytest.raises(PylbsError, match="same box"):
        swap_outside(a, b, 0, 6.0)


def test_summary_statistics():
    s = summarise([[3.0, 0, 0], [0, 4.0, 0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    assert s["n"] == 2
    assert s["component_rms"] == pytest.approx(np.sqrt(25 / 6))
    assert s["noise_component_rms"] == pytest.approx(np.sqrt(25 / 12))
    assert s["component_mae"] == pytest.approx(7 / 6)
    assert s["norm_median"] == pytest.approx(3.5) and s["norm_max"] == pytest.approx(4.0)
    assert s["force_component_rms"] == pytest.approx(1.0)
    assert summarise([], []) == {"n": 0}


def _write_dump(path, frames):
    """A LAMMPS text dump with image flags, as pylbs's runs write them (types: TYPE_MAP order)."""
    types = {"Li": 1, "B": 2, "Si": 3, "O": 4}
    lines = []
    for step, atoms in frames:
        box = atoms.cell.lengths()  # orthogonal boxes only
        image = np.floor(atoms.positions / box).astype(int)
        wrapped = atoms.positions - image * box
        lines += ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(atoms)),
                  "ITEM: BOX BOUNDS pp pp pp", *[f"0 {edge}" for edge in box], "ITEM: ATOMS id type x y z ix iy iz"]
        lines += [f"{k + 1} {types[s]} {x:.10f} {y:.10f} {z:.10f} {i} {j} {m}"
                  for k, (s, (x, y, z), (i, j, m)) in enumerate(zip(atoms.get_chemical_symbols(), wrapped, image))]
    path.write_text("\n".join(lines) + "\n")


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "teacher_locality.py"
    spec = importlib.util.spec_from_file_location("teacher_locality", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_the_script_reads_a_run_and_measures_a_calculator_on_it(tmp_path, capsys, monkeypatch):
    """End to end through a dump: the 5 A Lennard-Jones labeller shows no change beyond 6 A (and no
    swap skipped), a rerun with the same settings measures nothing again, another calculator on the
    same swaps is compared centre by centre, and the real teacher's force does depend on atoms
    beyond 6 A but not on atoms that do not move."""
    a, b = _frames()
    frames = [(10 * k, a) if k % 2 == 0 else (10 * k, b) for k in range(4)]
    dump = tmp_path / "trajectory.lammpstrj"
    _write_dump(dump, frames)
    out, out8 = tmp_path / "lj5.json", tmp_path / "lj8.json"
    script = _script()
    swaps = ["--lag", "1", "--pairs", "2", "--centres", "5"]
    script.main([str(dump), "--calculator", "lj", *swaps, "--out", str(out)])
    (r,) = json.loads(out.read_text())["runs"]
    assert r["all"]["n"] == 10 and r["skipped"] == 0 and r["atoms"] == 216 and r["lag_ps"] == [0.01, 0.01]
    assert r["all"]["component_rms"] < 1e-12 and r["all"]["force_component_rms"] > 1e-3
    assert r["moved_mean"] > 0.6 * 216 and r["largest_box_length_change"] == 0.0
    before = out.stat().st_mtime_ns
    script.main([str(dump), "--calculator", "lj", *swaps, "--out", str(out)])
    assert out.stat().st_mtime_ns == before  # resumed: nothing measured again
    assert "| all | 10 |" in capsys.readouterr().out

    # an 8 A Lennard-Jones on the same swaps: its change is the moved atoms' pair forces, so the
    # comparison with the 5 A one (zero change) has a difference equal to its own change
    (tmp_path / "module_lj8.py").write_text(
        "from ase.calculators.lj import LennardJones\n\n\ndef lj8():\n"
        f"    return LennardJones(sigma={SIGMA}, epsilon={EPS}, rc=8.0, smooth=False)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    script.main([str(dump), "--calculator", "module_lj8:lj8", *swaps, "--out", str(out8), "--against", str(out)])
    (r8,) = json.loads(out8.read_text())["runs"]
    c = r8["against"]
    assert c["n"] == 10 and c["reference_rms"] < 1e-12
    assert c["this_rms"] == pytest.approx(r8["all"]["component_rms"]) and c["this_rms"] > 1e-5
    assert c["difference_rms"] == pytest.approx(c["this_rms"])
    assert [(x["step"], x["centre"]) for x in r8["samples"]] == [(x["step"], x["centre"]) for x in r["samples"]]

    with pytest.raises(SystemExit, match="START:STOP"):
        script.main([str(dump), "--frames", "5", "--out", str(out)])
    with pytest.raises(SystemExit, match="fewer --pairs"):
        script.main([str(dump), "--calculator", "lj", "--pairs", "9", "--out", str(out)])
    with pytest.raises(SystemExit, match="--lag 0: give 1 or more"):
        script.main([str(dump), "--lag", "0", "--out", str(out)])

    # the real teacher (CHGNet, four 6 A message-passing layers) on a 72-atom cut of the frames
    small_a, small_b = a[:72], b[:72]
    for x in (small_a, small_b):
        x.set_cell([6.0, 18.0, 18.0])  # the first two x-layers of the grid
    small_dump = tmp_path / "small.lammpstrj"
    _write_dump(small_dump, [(0, small_a), (10, small_b)])
    teacher = ["--calculator", "chgnet-r2scan", "--lag", "1", "--pairs", "1", "--centres", "2"]
    script.main([str(small_dump), *teacher, "--rcut", "30", "--out", str(out)])
    script.main([str(small_dump), *teacher, "--rcut", "6", "--out", str(out)])
    far, near = json.loads(out.read_text())["runs"][-2:]
    assert far["moved_mean"] == 0 and far["all"]["component_rms"] == 0.0
    assert near["moved_mean"] > 20 and near["all"]["component_rms"] > 1e-3


def test_an_atom_whose_path_cuts_through_the_sphere_stays_where_it_was():
    """Both ends outside the sphere, the middle inside: part of the way along the ramp it would enter."""
    a = Atoms(["O", "O"], positions=[[9.0, 9.0, 9.0], [15.5, 9.0, 9.0]], cell=[18.0] * 3, pbc=True)
    b = a.copy()
    b.positions[1] = [9.0, 15.5, 9.0]  # 6.5 A away again, after a 9.2 A jump across the sphere's side
    swap = swap_outside(a, b, centre=0, rcut=6.0, ramp=1.0)
    assert swap.weight[1] == 0.0 and len(swap.moved) == 0
    np.testing.assert_array_equal(swap.atoms.positions, a.positions)


def test_the_teacher_computes_forces_only_and_the_labellers_copy_keeps_its_stress():
    """teacher_locality asks CHGNet for forces alone (its stress costs 40 % of the memory that decides
    how large a box fits): the same forces, no stress computed; the cached labeller still gives stress."""
    from pylbs.mlp.label import make_calculator

    a, _ = _frames()
    x = a[:72]
    x.set_cell([6.0, 18.0, 18.0])
    lean = _script().calculator_of("chgnet-r2scan")
    y = x.copy()
    y.calc = lean
    forces = y.get_forces()
    assert "stress" not in lean.results
    x.calc = make_calculator("chgnet-r2scan")
    np.testing.assert_allclose(forces, x.get_forces(), atol=2e-5)
    assert x.get_stress().shape == (6,) and "stress" in x.calc.results
