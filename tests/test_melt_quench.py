"""End to end: the paper's FMP melt-quench (shortened), under MPI, through the script and the CLI."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

import independent
from pylbs.structure import read_lammps_data
from pylbs.glasses import get_glass

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
PY, MPIRUN = str(VENV / "python"), str(VENV / "mpirun")


def test_in_process_summary_and_idempotent(tmp_path, md_teter):
    """Any potential plugs in; summary has the paper's quantities; a second call returns it unchanged."""
    from pylbs.errors import PylbsError
    from pylbs.protocols.melt_quench import run_fmp_melt_quench

    out = tmp_path / "q"
    s = run_fmp_melt_quench(get_glass("LBS-40-40-20"), 300, out, time_scale=0.0005, seed=2, potential=md_teter)
    assert s["glass"] == "LBS-40-40-20" and s["n_atoms"] == 304
    assert s["counts"] == {"Li": 32, "B": 64, "Si": 32, "O": 176}
    assert s["R"] == pytest.approx(0.5) and s["K"] == pytest.approx(1.0)
    assert s["measured_4B"] == pytest.approx(0.464) and s["density_g_cm3"] == 2.26
    assert s["steps"] == 2000 and s["schedule"]["total_ps"] == pytest.approx(2.0)
    for f in ("final.data", "trajectory.lammpstrj", "thermo.dat", "log.lammps", "summary.json"):
        assert (out / f).stat().st_size > 0, f
    # the glass keeps the measured density (NVT at fixed volume)
    from pylbs.structure import density_of, read_lammps_data

    glass = read_lammps_data(out / "final.data")
    assert density_of(glass) == pytest.approx(2.26, rel=1e-6)
    # final_frame: 4B/5Si of final.data (independent recount with ASE)
    assert s["final_frame"]["fraction_4B"] == pytest.approx(independent.fraction_4B(glass))
    assert s["final_frame"]["fraction_5Si"] == pytest.approx(independent.fraction_5Si(glass))
    # the headline 4B/5Si: the mean over the dumped frames of the sample stage (the paper's last 100 ps),
    # recounted here from the raw dump; a wrong window or the final frame alone would differ
    a, b = s["frames"]["steps"]
    steps, sym, pos = independent.read_dump_unwrapped(out / "trajectory.lammpstrj")
    box = glass.cell.lengths()
    f4 = [independent.fraction_4B(Atoms(sym, positions=p % box, cell=box, pbc=True))
          for st, p in zip(steps, pos) if a < st <= b]
    assert len(f4) == s["frames"]["n"] >= 3
    assert s["fraction_4B"] == pytest.approx(np.mean(f4), abs=1e-12)
    assert s["frames"]["fraction_4B_std"] == pytest.approx(np.std(f4, ddof=1), abs=1e-12)
    assert run_fmp_melt_quench(get_glass("LBS-40-40-20"), 300, out, time_scale=0.0005, seed=2, potential=md_teter) == s
    with pytest.raises(PylbsError, match="different run"):
        run_fmp_melt_quench(get_glass("LBS-40-40-20"), 300, out, time_scale=0.0005, seed=3, potential=md_teter)


#: 4B of the FMP quench below lies in this band around the composition rule's N4 target (33.3 %).
#: Measured for LBS-20-60-20 (42 B), 150 atoms, time scale 0.01 (40 ps), mean over the sample-stage
#: frames: seeds 1-3 on 1 rank 26.7, 32.4, 37.1 %; on 2 ranks 26.3, 27.5, 19.7 % (mean 28.3, sample
#: std 5.9). A 100 K/ps quench freezes in fewer 4B than the rule's equilibrium target, so the band
#: reaches further below (2.5 std below that mean) than above (2.9 std). A wrong B-O A falls far
#: outside: for LBS-20-40-40 (rule A 13251 eV) A = 11500 eV gave 0 % 4B and 14500 eV 64 %
#: (scripts/fit_li_n4.py's pilot scan, docs/li_n4.md).
BAND_4B_BELOW, BAND_4B_ABOVE = 0.20, 0.12


def _quench_script(tmp_path, ranks: int, time_scale: float):
    """``mpirun -np RANKS scripts/quench.py`` on 150 atoms of LBS-20-60-20, seed 1, into tmp_path/lbs:
    (summary, the finished process)."""
    out = tmp_path / "lbs"
    cmd = [MPIRUN, "-np", str(ranks), PY, str(ROOT / "scripts" / "quench.py"), "--glass", "LBS-20-60-20",
           "--atoms", "150", "--time-scale", f"{time_scale:g}", "--out", str(out), "--seed", "1", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads((out / "summary.json").read_text()), res


@pytest.mark.mpi
def test_fmp_4B_near_the_rule_target(tmp_path, fmp_plugin):
    """scripts/quench.py with the fmp/lbs plugin (mpirun -np 1: one core, the suite runs two tests at
    a time): 4B near the rule's N4 target (derived here from the DBX rule, not from the code's
    output), resolved R, K and N4."""
    s, _ = _quench_script(tmp_path, ranks=1, time_scale=0.01)
    R = K = 20 / 60  # [Li2O]/[B2O3], [SiO2]/[B2O3]
    target = R  # Dell-Bray-Xiao: N4 = R below R_max = K/16 + 1/2
    assert target - BAND_4B_BELOW < s["fraction_4B"] < target + BAND_4B_ABOVE, (s["fraction_4B"], target)
    resolved = s["potential"]["resolved"]
    assert resolved and resolved["R"] == pytest.approx(R) and resolved["K"] == pytest.approx(K)
    assert resolved["N4"] == pytest.approx(target)


@pytest.mark.mpi
def test_script_under_mpi_with_fmp(tmp_path, fmp_plugin):
    """mpirun -np 2 scripts/quench.py with the fmp/lbs plugin (a short quench): both ranks run,
    rank 0 alone prints the one summary, --quiet silences progress, the figure is written."""
    s, res = _quench_script(tmp_path, ranks=2, time_scale=0.001)
    out = tmp_path / "lbs"
    assert s["final_frame"]["fraction_5Si"] == pytest.approx(independent.fraction_5Si(read_lammps_data(out / "final.data")))
    assert s["final_frame"]["fraction_4B"] == pytest.approx(independent.fraction_4B(read_lammps_data(out / "final.data")))
    assert s["timing"]["mpi_ranks"] == 2 and s["n_atoms"] == 147 and s["steps"] == 4000
    assert s["potential"]["commands"][0].startswith("pair_style fmp/lbs")
    assert "4B" in res.stdout and "measured 4B = 36.7%" in res.stdout
    assert res.stdout.count("measured 4B") == 1  # rank 0 prints
    assert "[pylbs]" not in res.stderr  # --quiet
    assert (out / "run.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, text", [
    (["--glass", "LBS-1-2-3"], "sums to 6"),
    (["--composition", "25", "50", "25"], "--density"),
    (["--glass", "LBS-20-60-20", "--atoms", "5"], "at least"),
])
def test_cli_errors_one_line_exit_2(tmp_path, args, text):
    res = subprocess.run([PY, "-m", "pylbs.cli", "quench", *args, "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and text in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_build_and_raw_deck(tmp_path, fmp_plugin):
    """`pylbs build` writes initial.data; the raw deck runs it with lmp at a tiny time scale."""
    res = subprocess.run([str(VENV / "pylbs"), "build", "--glass", "LBS-20-60-20", "--atoms", "105",
                          "--out", "initial.data"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr
    deck = ROOT / "lammps_inputs" / "melt_quench_fmp.in"
    res = subprocess.run([str(VENV / "lmp"), "-in", str(deck), "-var", "data", "initial.data", "-var", "params",
                          str(ROOT / "pylbs" / "data" / "lbs_default.fmp"), "-var", "scale", "0.0001",
                          "-var", "seed", "1", "-var", "cutoff", "8.0"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    log = (tmp_path / "log.lammps").read_text()
    assert "fix             md all nvt temp 3500 300 0.1" in log or "nvt temp 3500 300 0.1" in log
    assert "run             320" in log or "run 320" in log  # 3200 ps x 1e-4 = 0.32 ps = 320 steps
    assert (tmp_path / "final.data").exists()
