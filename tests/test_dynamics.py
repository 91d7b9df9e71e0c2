"""Tg, diffusion, conductivity and Ea: known-answer tests plus short real runs (FMP and DeepMD)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import independent
from pylbs.glasses import ATOMIC_MASS
from pylbs.lammps_io import Trajectory, read_trajectory
from pylbs.analysis import diffusion as dif
from pylbs.analysis.tg import TgAnalysis, fit_tg, plot_tg, tg_over_replicas
from pylbs.errors import AnalysisError
from pylbs.protocols.schedules import ProtocolError, Schedule, Stage, StageRun

TG_TRUE = 1122.0


def _bilinear_curve(seed, tg=TG_TRUE, noise=0.004, n=300):
    """PE(T) (eV/atom) of glass slope 1.5e-4 eV/K/atom below tg, 4e-4 above, Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(300.0, 2000.0, n)
    e = -7.0 + 1.5e-4 * (t - tg) + np.where(t > tg, 2.5e-4 * (t - tg), 0.0) + rng.normal(0, noise, n)
    return t, e


def _write_dump(path, steps, ids, types, wrapped, images, box):
    with open(path, "w") as f:
        for k, step in enumerate(steps):
            f.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(ids)}\n"
                    "ITEM: BOX BOUNDS pp pp pp\n" + f"0 {box}\n" * 3 + "ITEM: ATOMS id type x y z ix iy iz\n")
            order = np.random.default_rng(k).permutation(len(ids))  # unsorted, as with several MPI ranks
            for i in order:
                x, im = wrapped[k, i], images[k, i]
                f.write(f"{ids[i]} {types[i]} {x[0]:.8f} {x[1]:.8f} {x[2]:.8f} {im[0]} {im[1]} {im[2]}\n")


# ------------------------------------------------------------------ known answers: analysis

def test_random_walk_recovers_D_through_a_wrapped_dump(tmp_path):
    d_true, dt_ps, n_frames, n_atoms, box = 0.05, 0.5, 320, 120, 4.0
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(0, np.sqrt(2 * d_true * dt_ps), (n_frames, n_atoms, 3)), axis=0)
    images = np.floor(walk / box).astype(int)
    wrapped = walk - images * box
    assert np.abs(images).max() >= 2  # the walkers cross the box
    types = np.array([1] * 60 + [4] * 60)
    _write_dump(tmp_path / "walk.lammpstrj", np.arange(n_frames) * 500, np.arange(1, n_atoms + 1), types,
                wrapped, images, box)
    traj = read_trajectory(tmp_path / "walk.lammpstrj")
    np.testing.assert_allclose(traj.positions, walk, atol=1e-6)
    msd = dif.species_msd(traj, remove_drift=False)
    assert set(msd) == {"Li", "O"}
    np.testing.assert_allclose(msd["Li"][:40], dif.msd_direct(walk[:, :60], 39), rtol=1e-9, atol=1e-12)
    # D: a bigger walk in memory (2000 Li, 300 ps as in the paper, expected scatter of D ~2.5 %),
    # fitted over lags of 50-150 ps after dropping the first 50 ps
    walk = np.cumsum(rng.normal(0, np.sqrt(2 * d_true * dt_ps), (601, 2000, 3)), axis=0)
    big = Trajectory(np.arange(601) * 500, np.arange(1, 2001), np.ones(2000, int), walk,
                         np.repeat(np.eye(3)[None] * 30.0, 601, axis=0))
    res = dif.MSDAnalysis(timestep_ps=0.001, window=(50, 150), discard_ps=50, remove_drift=False).compute(big)
    fit = res.result.fits["Li"]
    assert abs(fit.D / d_true - 1) < 0.05, fit.D
    t_w, msd_w = res.result.times_ps, res.result.msd["Li"]
    sel = (t_w >= 50 - 1e-9) & (t_w <= 150 + 1e-9)
    coef, cov = np.polyfit(t_w[sel], msd_w[sel], 1, cov=True)  # covariance scaled by the residuals
    assert fit.n_points == 201 and fit.D == pytest.approx(coef[0] / 6, rel=1e-10)
    assert fit.D_err == pytest.approx(np.sqrt(cov[0, 0]) / 6, rel=1e-6)
    assert 0.3 * 0.025 * d_true < res.result.block_err["Li"] < 3 * 0.025 * d_true  # ~ the true scatter
    fit = dif.diffusion_coefficient(res.result.times_ps, res.result.msd["Li"], window=(50, 150))
    assert fit.window == (50.0, 150.0) and fit.D_cm2_s == pytest.approx(fit.D * 1e-4)
    with pytest.raises(AnalysisError, match="window"):
        dif.diffusion_coefficient(res.result.times_ps, res.result.msd["Li"], window=(500, 600))


def test_bilinear_fold_recovered_within_error(tmp_path):
    t, e = _bilinear_curve(1)
    r = fit_tg(t, e)
    assert r.method == "bilinear" and 0 < r.tg_err < 40
    assert abs(r.tg - TG_TRUE) < 3 * r.tg_err + 5
    assert r.low.slope == pytest.approx(1.5e-4, rel=0.1) and r.high.slope == pytest.approx(4e-4, rel=0.1)
    assert r.tg_interval[0] <= r.tg <= r.tg_interval[1]
    for method in ("two_lines", "hyperbola"):
        rm = fit_tg(t, e, method=method)
        assert abs(rm.tg - TG_TRUE) < 3 * rm.tg_err + 10, (method, rm.tg, rm.tg_err)
    rb = fit_tg(t, e, error="bootstrap", n_bootstrap=40)
    assert rb.tg == r.tg and 0 < rb.tg_err < 40
    rep = tg_over_replicas([_bilinear_curve(s) for s in (2, 3, 4)])
    assert len(rep.results) == 3 and rep.std == pytest.approx(np.std([x.tg for x in rep.results], ddof=1))
    assert abs(rep.tg - TG_TRUE) < 3 * rep.tg_err + 10
    assert TgAnalysis().compute(t, e).tg == pytest.approx(r.tg)
    assert plot_tg(rep, tmp_path / "tg.png").stat().st_size > 1000
    with pytest.raises(AnalysisError, match="8 points"):
        fit_tg(t[:5], e[:5])


def test_arrhenius_recovers_known_ea(tmp_path):
    temps = np.array([500.0, 600.0, 700.0, 900.0])
    d = 2.0 * np.exp(-0.38 / (dif.KB_EV * temps))
    exact = dif.arrhenius_fit(temps, d)
    assert exact.ea == pytest.approx(0.38, abs=1e-9) and exact.d0 == pytest.approx(2.0, rel=1e-9)
    rng = np.random.default_rng(3)
    noisy = d * np.exp(rng.normal(0, 0.05, d.size))
    fit = dif.arrhenius_fit(temps, noisy, D_err=0.05 * noisy)
    assert abs(fit.ea - 0.38) < 3 * fit.ea_err and 0 < fit.ea_err < 0.05
    assert dif.plot_arrhenius(fit, tmp_path / "a.png").exists()
    with pytest.raises(AnalysisError, match="positive"):
        dif.arrhenius_fit(temps, -d)


def test_nernst_einstein_units(tmp_path):
    # n = 2e28 m^-3, D = 1e-11 m^2/s, T = 500 K: sigma = n e^2 D / (kB T) = 0.7437 S/m
    assert dif.nernst_einstein(0.02, 1e-3, 500.0) == pytest.approx(7.437e-3, rel=1e-3)
    assert dif.nernst_einstein(0.02, 1e-3, 500.0, haven_ratio=0.5) == pytest.approx(2 * 7.437e-3, rel=1e-3)
    assert dif.c_times_d(0.02, 1e-3) == pytest.approx(2e22 * 1e-7)
    png = dif.plot_c_times_d(["LBS-10-50-40", "LBS-50-10-40"], [2e15, 5e14], tmp_path / "c.png",
                             errors=[3e14, 1e14], measured_sigma=[1e-6, 3e-7])
    assert png.stat().st_size > 1000


def test_npt_stage_commands():
    s = Stage("heat", 300, 1300, 2.0, "npt", pressure_bar=1.0)
    assert StageRun(s, 0, 2000).fix() == "fix pylbs_md all npt temp 300 1300 0.1 iso 1 1 1"
    assert Schedule((s,)).to_dict()["stages"][0]["pressure_bar"] == 1.0
    assert "pressure_bar" not in Schedule((Stage("a", 300, 300, 1.0),)).to_dict()["stages"][0]
    with pytest.raises(ProtocolError, match="npt"):
        Stage("a", 300, 300, 1.0, "nvt", pressure_bar=1.0)


# ------------------------------------------------------------------ real LAMMPS

def test_ballistic_li_unwraps_across_boundaries(tmp_path, md_small_glass):
    """No forces, Li atoms at ~30 A/ps for 2 ps: they cross the ~10 A box several times; MSD = |v|^2 t^2."""
    from pylbs.session import Session

    v = np.array([20.0, -15.0, 16.0])
    with Session(tmp_path) as s:
        s.setup(atoms=md_small_glass, potential=["pair_style zero 3.0", "pair_coeff * *"])
        s.commands(["velocity all set 0 0 0", "group li type 1", f"velocity li set {v[0]} {v[1]} {v[2]}",
                    "fix move all nve",
                    f"dump d all custom 100 {tmp_path / 'b.lammpstrj'} id type x y z ix iy iz",
                    "dump_modify d format float %.10g", "run 2000"])
        box = md_small_glass.cell[0, 0]
    traj = read_trajectory(tmp_path / "b.lammpstrj")
    t = traj.times_ps(0.001)
    assert t[-1] == pytest.approx(2.0) and np.abs(np.ptp(traj.positions[:, traj.types == 1], axis=0)).max() > 2 * box
    msd = dif.species_msd(traj, remove_drift=False)
    np.testing.assert_allclose(msd["Li"], (v @ v) * t ** 2, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(msd["O"], 0.0, atol=1e-12)
    # with the centre-of-mass drift removed: Li moves at v - v_com
    sym = traj.symbols()
    m = np.array([ATOMIC_MASS[x] for x in sym])
    v_com = v * m[sym == "Li"].sum() / m.sum()
    msd_c = dif.species_msd(traj, remove_drift=True)
    np.testing.assert_allclose(msd_c["Li"], ((v - v_com) @ (v - v_com)) * t ** 2, rtol=1e-6, atol=1e-8)
    d = dif.diffusion_coefficient(t, msd["Li"], window=(0.5, 2.0))
    sel = (t >= 0.5 - 1e-9) & (t <= 2.0 + 1e-9)  # least-squares line through the exact v^2 t^2
    assert d.D == pytest.approx(np.polyfit(t[sel], (v @ v) * t[sel] ** 2, 1)[0] / 6, rel=1e-6)


def test_fmp_heating_of_two_structures_ramps_T_and_PE(tmp_path, fmp_plugin, md_small_glass, capsys):
    """Tg as the paper takes it: independent structures, each equilibrated at 300 K then heated
    under NVT (the box, hence the volume, is exactly the structure's)."""
    from pylbs.cli import main
    from pylbs.glasses import get_glass
    from pylbs.lammps_io import read_thermo
    from pylbs.potential import fmp_commands
    from pylbs.protocols.schedules import RELAX_START_COMMANDS
    from pylbs.protocols.tg import run_tg_heating
    from pylbs.structure import random_structure

    other = random_structure(get_glass("LBS-20-60-20"), 105, seed=4)
    kw = dict(t_start=300.0, t_max=1500.0, rate_K_per_ps=10.0, time_scale=0.012, equil_ps=10.0, thermo_every=10,
              prepare=RELAX_START_COMMANDS)
    s = run_tg_heating([md_small_glass, other], tmp_path / "tg", fmp_commands(), **kw)
    assert s["ensemble"] == "nvt" and s["rate_K_per_ps"] == pytest.approx(10.0 / 0.012)
    assert len(s["replicas"]) == 2 and s["tg_err_meaning"].startswith("spread over 2 independent structures")
    assert [st["name"] for st in s["schedule"]["stages"]] == ["equil", "heat"]  # 300 K first, then the ramp
    # Tg is the mean (std, ddof=1) of the folds of the replicas' own heating curves (fit window from 5 %
    # of the ramp on); each curve is the thermo data of its heat stage
    fits = [fit_tg(*np.loadtxt(r["heating_curve"])[:, [1, 3]].T, t_min=360.0).tg for r in s["replicas"]]
    assert s["tg_per_replica_K"] == pytest.approx(fits) and s["tg_K"] == pytest.approx(np.mean(fits))
    assert s["tg_err_K"] == pytest.approx(np.std(fits, ddof=1)) and (tmp_path / "tg" / "tg.png").exists()
    th = read_thermo(tmp_path / "tg" / "replica-1" / "thermo.dat")
    n = len(th["step"])
    assert th["temp"][-n // 5:].mean() > th["temp"][:n // 5].mean() + 600  # the ramp is followed
    for k, atoms in enumerate((md_small_glass, other), 1):
        curve = np.loadtxt(tmp_path / "tg" / f"replica-{k}" / "heating_curve.dat")
        assert np.all(np.diff(curve[:, 1]) > 0) and curve[-1, 1] == pytest.approx(1500.0)
        assert curve[0, 0] > 0.12 * 1000  # the heat stage starts after the 0.12 ps equilibration
        assert np.corrcoef(curve[:, 1], curve[:, 3])[0, 1] > 0.8  # PE rises with T
        np.testing.assert_allclose(curve[:, 4], atoms.get_volume(), rtol=1e-9)  # NVT: its own box throughout
    assert run_tg_heating([md_small_glass, other], tmp_path / "tg", fmp_commands(), **kw) == s  # done: read back
    files = [str(tmp_path / "tg" / f"replica-{k}" / "heating_curve.dat") for k in (1, 2)]
    assert main(["tg", *files, "--t-min", "360", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_replicas"] == 2 and out["tg"] == pytest.approx(s["tg_K"], rel=0.05)


def test_npt_relaxes_a_compressed_glass(tmp_path, fmp_plugin, md_small_glass):
    """NPT at 1 bar: a glass squeezed to 25 % above its density (tens of kbar) expands, by physics."""
    from pylbs.lammps_io import read_thermo
    from pylbs.potential import fmp_commands
    from pylbs.protocols.schedules import RELAX_START_COMMANDS
    from pylbs.session import Session
    from pylbs.structure import rescaled_to_density

    squeezed = rescaled_to_density(md_small_glass, 1.25 * 2.21)
    with Session(tmp_path) as session:
        session.run_schedule(Schedule((Stage("relax", 300.0, 300.0, 2.0, "npt", pressure_bar=1.0),)),
                             potential=fmp_commands(), atoms=squeezed, thermo_every=10, dump_every_ps=None,
                             prepare=RELAX_START_COMMANDS)
    th = read_thermo(tmp_path / "thermo.dat")
    # bar: the squeezed start pushes outwards, read at the first output after step 0: LAMMPS can leave
    # the virial of step 0 after a minimisation untallied (-nan once, -2e128 once, in ~8 suites)
    assert th["press"][th["step"] > 0][0] > 1e4
    assert th["vol"][-50:].mean() > 1.08 * squeezed.get_volume()


def test_guarded_tg_with_a_bad_model_stops_before_the_fit(tmp_path, tiny_dp_model, bad_dp_model, start_data):
    """DeepMD heating runs are guarded: two models that disagree stop the first run at its first check,
    with the frames saved, and no Tg is fitted or written."""
    from pylbs.errors import UnphysicalEventError
    from pylbs.protocols.guard import Guard
    from pylbs.protocols.tg import run_tg_heating

    model, _ = tiny_dp_model
    with pytest.raises(UnphysicalEventError, match="force deviation") as err:
        run_tg_heating([start_data, start_data], tmp_path / "tg", models=[model, bad_dp_model], zbl_core=(0.9, 1.3),
                       guard=Guard({}, max_devi_f=0.3, out_freq=5, check_every_ps=0.02), t_max=1500.0,
                       time_scale=0.01, equil_ps=1.0)
    assert err.value.step == 10 and err.value.last_good_step == 0  # the first check: the 10-step equilibration
    assert (tmp_path / "tg" / "replica-1" / "guard" / "event.json").exists()
    assert not (tmp_path / "tg" / "summary.json").exists() and not (tmp_path / "tg" / "tg.png").exists()
    assert not (tmp_path / "tg" / "replica-2").exists()  # stopped before the second structure


def test_deepmd_diffusion_run_and_cli(tmp_path, tiny_dp_model, md_small_glass, capsys):
    from pylbs.cli import main
    from pylbs.potential import deepmd_commands
    from pylbs.protocols.diffusion import run_diffusion
    from pylbs.protocols.schedules import RELAX_START_COMMANDS

    model, _ = tiny_dp_model
    kw = dict(temperatures=(500.0, 900.0), ensemble="nvt", time_scale=0.001, dump_every_ps=2.0,
              prepare=RELAX_START_COMMANDS)
    s = run_diffusion(md_small_glass, tmp_path / "d", deepmd_commands(model), **kw)
    assert s["ensemble"] == "nvt" and "room-temperature density" in s["ensemble_note"]
    assert s["fit"]["window_ps"] == pytest.approx([0.05, 0.15]) and s["fit"]["discard_ps"] == pytest.approx(0.05)
    vol0, n_li = md_small_glass.get_volume(), md_small_glass.get_chemical_symbols().count("Li")
    for p in s["temperatures"]:
        assert p["counts"]["Li"] == n_li and p["volume_A3"] == pytest.approx(vol0, rel=1e-6)  # NVT: box kept
        assert np.isfinite(p["D_Li_A2_per_ps"]) and p["C_Li_per_A3"] == pytest.approx(n_li / vol0)
        assert p["sigma_NE_S_per_cm"] == pytest.approx(
            dif.nernst_einstein(p["C_Li_per_A3"], p["D_Li_A2_per_ps"], p["temperature_K"]))
    traj = read_trajectory(s["temperatures"][0]["trajectory"])
    assert len(traj.steps) == 151 and np.all(np.diff(traj.steps) == 2)
    for p in s["temperatures"]:  # D equals a recomputation from the dump (tests/independent.py)
        assert p["D_Li_A2_per_ps"] == pytest.approx(independent.diffusion_coefficient(
            p["trajectory"], "Li", window=(0.05, 0.15), discard_ps=0.05), rel=1e-6, abs=1e-9)
    assert run_diffusion(md_small_glass, tmp_path / "d", deepmd_commands(model), **kw) == s  # resumable / done
    trajs = [p["trajectory"] for p in s["temperatures"]]
    assert main(["diffusion", *trajs, "--window", "0.05", "0.15", "--discard-ps", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["temperature_K"] for p in out["temperatures"]] == pytest.approx(
        [p["mean_temperature_K"] for p in s["temperatures"]], rel=0.3)
    assert out["temperatures"][0]["D_Li_A2_per_ps"] == pytest.approx(s["temperatures"][0]["D_Li_A2_per_ps"])
