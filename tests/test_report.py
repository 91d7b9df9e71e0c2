"""``pylbs report``: the paper's experimental/reference columns next to simulated values with error bars."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pylbs import paper_data
from pylbs.campaign.store import Store
from pylbs.campaign.tasks import Task
from pylbs.glasses import CATALOG
from pylbs.campaign.report import write_report


def _rec(store, kind, glass, r, summary, stage=None, potential="fmp", n=300, time_scale=None):
    stage = stage or kind
    t = Task(id=f"{kind}/{stage}/{glass}/n{n}/r{r}", kind=kind, command="", out="x", summary="x",
             params={"glass": glass, "n_atoms": n, "replica": r, "seed": r, "stage": stage, "potential": potential,
                     "time_scale": time_scale})
    store.record(t, "done", summary, {"git": {"commit": "abc123", "dirty": False}, "versions": {"pylbs": "0.1"},
                                      "potential": {"parameter_file": "p.fmp", "parameter_file_sha256": "f00"}})


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "results.h5")
    s.write_campaign("synthetic", '[experiment]\ntg_K = { "LBS-20-60-20" = 760.0 }\n'
                     'conductivity_S_cm = { "LBS-10-50-40" = 1e-9 }\n', [])
    for r, (f4, ring) in enumerate([(0.30, 0.10), (0.34, 0.14)], start=1):
        _rec(s, "fmp", "LBS-20-60-20", r, {"fraction_4B": f4}, time_scale=0.01)
        _rec(s, "mlp", "LBS-20-60-20", r, {"fraction_4B": {"mean": f4 + 0.05}, "emin_fraction_4B": {"mean": f4 + 0.07}},
             stage="mlp-anneal", time_scale=1.0)
        _rec(s, "analysis", "LBS-20-60-20", r, {"fraction_3B_in_3MR": ring, "three_membered_boron":
                                                {"0": 1.0 * r, "1": 0.5, "2": 0.0, "3": 0.0},
                                                "three_membered_with_si": 0.25,
                                                "frame_std": {"fraction_3B_in_3MR": 0.01 * r}}, stage="mlp-anneal")
        _rec(s, "diffusion", "LBS-10-50-40", r, {"arrhenius_Li": {"Ea_eV": 0.36 + 0.02 * r},
                                                  "temperatures": [{"temperature_K": 500.0,
                                                                    "C_Li_times_D_per_cm_s": 1e14 * r}]},
             stage="mlp-fast", potential="mlp", n=1000)
    _rec(s, "tg", "LBS-20-60-20", 1, {"tg_K": 1150.0, "tg_err_K": 40.0}, stage="mlp-anneal", time_scale=0.1)
    return s


def test_report_has_the_papers_columns_and_numbers(store, tmp_path):
    md = write_report(store.path, tmp_path / "report").read_text()
    # Table 1: every glass with its measured 4B and density, next to simulation mean ± std (n)
    assert "| glass | SiO2 | B2O3 | Li2O | 4B exp. (Table 1) % | density exp. g/cm³ |" in md
    for name, row in paper_data.TABLE1.items():
        assert f"| {name} | {row[0]:g} | {row[1]:g} | {row[2]:g} | {row[5]:.1f} | {row[6]:.2f} |" in md
    # FMP, MLP 2 K/ps and MLP after Emin of LBS-20-60-20; labels carry each run's real rate
    assert "| 36.7 | 2.21 | 32.0 ± 2.8 (n=2) | 37.0 ± 2.8 (n=2) | 39.0 ± 2.8 (n=2) |" in md
    assert "| 4B FMP 100 K/ps (time scale 0.01), 300 atoms % | 4B MLP 10 → 2 K/ps, 300 atoms % " \
           "| 4B after Emin, MLP 10 → 2 K/ps, 300 atoms % |" in md
    # the sampled window is the paper's 100 ps only where the run had its full length
    assert "each run's last 100 ps x time scale (paper: 100 ps; here 1 ps at time scale 0.01, 100 ps at time " \
           "scale 1)" in md
    # 3MR classes beside Table 2: frame means per run, then mean ± std over the two runs
    assert "| LBS-20-60-20 | MLP 10 → 2 K/ps, 300 atoms | – | 1.50 ± 0.71 (n=2) | 0.50 ± 0.00 (n=2) " \
           "| 0.00 ± 0.00 (n=2) | 0.00 ± 0.00 (n=2) | 0.25 ± 0.00 (n=2) |" in md
    # Table 2: paper MLP, AIMD and NMR columns
    assert "paper MLP (Table 2) % | AIMD (Table 2) % | NMR (Table 2) %" in md
    assert "| LBS-10-50-40 | – | – | 23.1 ± 9.3 | 29.0 | 85.7 |" in md
    # replica spread (12.0 ± 2.8 over the two runs) and frame spread (mean of 1 % and 2 %) side by side
    assert "| LBS-20-60-20 | 12.0 ± 2.8 (n=2) | 1.50 | 15.4 ± 4.5 | – | – |" in md
    assert "| LBS-53.3-26.7-20 | – | – | – | – | 67.6 |" in md
    # Table 3 and the experimental Ea ranges
    assert "| LBS-10-50-40 | 0.39 ± 0.01 (n=2) | 0.37 ± 0.02 |" in md and "0.59-0.71 eV" in md
    # Tg with the user's experimental value and the paper's quoted MLP value
    assert "| LBS-20-60-20 | 1150 ± 40 (replica std) | 1122 ± 31 | 760 |" in md
    assert "abc123" in md and "sha256 f00" in md
    for fig in ("fig_4B.png", "fig_3Bring.png", "fig_Ea.png", "fig_Tg.png", "fig_conductivity.png"):
        assert (tmp_path / "report" / fig).stat().st_size > 1000, fig


def test_report_cli_and_empty_store(store, tmp_path):
    out = subprocess.run([sys.executable, "-m", "pylbs.cli", "report", str(store.path), "--out",
                          str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r" / "report.md").exists()
    empty = Store(tmp_path / "empty.h5")
    empty.write_campaign("nothing", "", [])
    md = write_report(empty.path, tmp_path / "e").read_text()
    assert md.count("| LBS-") >= 11 + 12 + 5  # experimental columns are there without any run


def test_paper_table1_matches_the_catalogue():
    assert list(paper_data.TABLE1) == list(CATALOG)
    for name, row in paper_data.TABLE1.items():
        g = CATALOG[name]
        c = g.composition
        assert (row[0], row[1], row[2], row[5], row[6]) == (c.sio2, c.b2o3, c.li2o, g.measured_4B, g.density)
        assert row[3] == pytest.approx(c.K, abs=0.006) and row[4] == pytest.approx(c.R, abs=0.006)
