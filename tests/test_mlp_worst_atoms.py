"""Where a model's largest force errors sit (pylbs.mlp.worst_atoms), against answers derived here.

The environment of every atom of the shipped held-out glass's frames equals a brute-force minimum-image
count; the Gaussian reference of a frame's largest atom error equals the closed form (the largest of
N independent chi-3 variables); the anatomy of the shipped default model on its held-out glass pools
to the force RMSE that pylbs's evaluation measures, and names each frame's worst atom correctly.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import chi

from pylbs.mlp.datasets import dataset_systems, load_system
from pylbs.mlp.worst_atoms import anatomy, environments, gaussian_max, pool, rmse_for_largest
from pylbs.potential.models import SHIPPED_DIR, model_path

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = SHIPPED_DIR / "lbs-chgnet-r2scan-2" / "heldout"


def _held_out():
    return load_system(next(iter(dataset_systems(HELD_OUT, "train").values())))


def _brute_force_classes(symbols, x, cell):
    """Each atom's class and nearest neighbour, every pair by the minimum image (a general cell)."""
    inv = np.linalg.inv(cell)
    d = x[:, None, :] - x[None, :, :]
    frac = d @ inv
    r = np.linalg.norm((frac - np.round(frac)) @ cell, axis=-1)
    np.fill_diagonal(r, np.inf)
    sym = np.array(symbols)
    is_o, former = sym == "O", np.isin(sym, ("B", "Si"))
    cut = np.where(sym == "B", 1.9, np.where(sym == "Si", 2.0, 0.0))
    out = []
    for k, el in enumerate(sym):
        if el == "Li":
            out.append("Li")
        elif el in ("B", "Si"):
            n = int((is_o & (r[k] < cut[k])).sum())
            out.append(f"{n}{el}" if n in ((3, 4) if el == "B" else (4, 5)) else f"{el} other")
        else:
            n = int((former & (r[k] < cut)).sum())
            out.append(("O, no former", "NBO", "BO", "O, 3+ formers")[min(n, 3)])
    return out, r.min(axis=1)


def test_environments_match_a_brute_force_count_on_real_glass_frames():
    system = _held_out()
    symbols = [system["atom_names"][t] for t in system["atom_types"]]
    seen = set()
    for f in range(len(system)):
        x, cell = system["coords"][f], system["cells"][f]
        classes, nearest = environments(symbols, x, cell)
        expect, expect_nearest = _brute_force_classes(symbols, x, cell)
        assert classes == expect
        np.testing.assert_allclose(nearest, expect_nearest, rtol=1e-12)
        seen |= set(classes)
    assert {"Li", "3B", "4B", "4Si", "NBO", "BO"} <= seen  # the real frames exercise every common class


def test_environments_count_bonds_across_the_periodic_boundary():
    """A BO3 with one O across the x faces; an O 2.0 A from that B (beyond B-O's 1.9 A) but 1.7 A from
    an Si, which has three more O, one across the z faces (5Si); a twofold B, one of whose O bridges
    to an Si across the z faces."""
    cell = np.diag([10.0, 10.0, 10.0])
    x = [[0.2, 5, 5], [9.0, 5, 5], [0.2, 6.37, 5], [0.2, 3.63, 5],  # B; O across x; O at +-1.37 A in y
         [0.2, 5, 3.0],  # 2.0 A from the B, 1.7 A from the Si
         [0.2, 5, 1.3], [0.2, 6.7, 1.3], [0.2, 3.3, 1.3], [1.9, 5, 1.3], [0.2, 5, 9.6],  # Si and 4 O
         [5, 8, 8], [5, 8, 9.6], [5, 8, 1.2], [5, 9.5, 8],  # O-B-O-Si: a twofold B, the Si across z
         [5.0, 5.0, 5.0]]  # Li, nothing within 3 A
    symbols = ["B", "O", "O", "O", "O", "Si", "O", "O", "O", "O", "B", "O", "Si", "O", "Li"]
    classes, nearest = environments(symbols, np.array(x, float), cell)
    assert classes == ["3B", "NBO", "NBO", "NBO", "NBO", "5Si", "NBO", "NBO", "NBO", "NBO",
                       "B other", "BO", "Si other", "NBO", "Li"]
    assert nearest[0] == pytest.approx(1.2) and nearest[-1] == np.inf


def test_the_gaussian_reference_is_the_largest_of_n_chi3():
    """Equal sigmas: the median of the largest of N is sigma * chi3.ppf(0.5 ** (1/N)); mixed sigmas:
    the q quantile is the root of prod_k F(x / sigma_k) = q."""
    n, sigma = 120, 0.2
    exact = sigma * chi(3).ppf(0.5 ** (1 / n))
    assert np.median(gaussian_max(np.full(n, sigma), draws=20000)) == pytest.approx(exact, rel=0.01)
    assert rmse_for_largest(0.25, np.ones(n)) == pytest.approx(0.25 / chi(3).ppf(0.5 ** (1 / n)), rel=0.01)
    sigmas = np.r_[np.full(40, 0.1), np.full(60, 0.3)]
    mixed = brentq(lambda x: np.prod(chi(3).cdf(x / sigmas)) - 0.5, 0.01, 10.0)
    assert np.median(gaussian_max(sigmas, draws=20000)) == pytest.approx(mixed, rel=0.01)
    # the RMSE at which 99 % of frames have their largest error under 0.25, sigmas in these proportions
    rel = sigmas / np.sqrt(np.mean(sigmas ** 2))
    p99 = brentq(lambda r: np.prod(chi(3).cdf(0.25 / (r * rel))) - 0.99, 1e-3, 1.0)
    assert rmse_for_largest(0.25, sigmas, q=0.99, draws=40000) == pytest.approx(p99, rel=0.02)


def test_known_errors_laid_on_the_shipped_models_forces_are_found_exactly():
    """Labels = the real model's own forces minus errors drawn here with a sigma per species: the
    anatomy must give back those errors' RMSE per species and environment, each frame's worst atom, and
    the Gaussian reference of the drawn sigmas (closed form)."""
    from pylbs.mlp.evaluate import predict

    system = _held_out()
    model = model_path("default")
    symbols = np.array([system["atom_names"][t] for t in system["atom_types"]])
    scale = {"Li": 0.05, "B": 0.4, "Si": 0.25, "O": 0.15}
    rng = np.random.default_rng(5)
    errors = rng.standard_normal((len(system), len(symbols), 3)) * np.array([scale[e] for e in symbols])[None, :, None]
    system.data["forces"] = predict(model, system)[1] - errors
    a = anatomy(model, system, draws=20000, trust=0.25)
    for el in scale:
        assert a["species"][el]["force_rmse"] == pytest.approx(np.sqrt(np.mean(errors[:, symbols == el] ** 2)), rel=1e-4)
    norms = np.linalg.norm(errors, axis=-1)
    worst = norms.argmax(axis=1)
    assert [w["atom"] for w in a["worst"]] == list(worst)
    assert a["species"]["B"]["share_of_worst"] == pytest.approx(np.mean(symbols[worst] == "B"))
    classes = np.array([environments(symbols, system["coords"][f], system["cells"][f])[0] for f in range(len(system))])
    for c in ("3B", "BO"):
        assert a["environment"][c]["force_rmse"] == pytest.approx(np.sqrt(np.mean(errors[classes == c] ** 2)), rel=1e-4)
    sig = np.array([a["species"][e]["force_rmse"] for e in symbols])
    median = brentq(lambda x: np.prod(chi(3).cdf(x / sig)) - 0.5, 0.01, 10.0)
    assert a["gaussian_median_largest_error"] == pytest.approx(median, rel=0.01)
    p99 = brentq(lambda r: np.prod(chi(3).cdf(0.25 / (r * sig / a["force_rmse"]))) - 0.99, 1e-3, 1.0)
    assert a["rmse_for_trust"]["p99"] == pytest.approx(p99, rel=0.03)


def test_pooling_weighs_atoms_and_frames():
    """Two systems by hand: RMSEs pooled over atoms, worst-atom shares over frames, the tail ratio
    over frames against each frame's own system's reference, the RMSE demands frame-weighted."""
    def part(frames, atoms, rmse_b, worst_b, ref, errors, demand):
        env = {"3B": {"atoms": 2 * frames, "force_rmse": rmse_b, "share_of_worst": worst_b},
               "Li": {"atoms": (atoms - 2) * frames, "force_rmse": 0.1, "share_of_worst": 1 - worst_b}}
        return {"frames": frames, "atoms": atoms, "force_rmse": 0.2, "species": env, "environment": env,
                "gaussian_median_largest_error": ref, "worst": [{"error": e} for e in errors],
                "rmse_for_trust": {"trust": 0.25, "median": demand, "p99": demand / 2, "median_equal": demand}}

    p = pool([part(1, 10, 0.4, 1.0, 1.0, [1.3], 0.08), part(3, 20, 0.2, 1 / 3, 2.0, [1.0, 2.2, 3.0], 0.06)])
    assert p["frames"] == 4 and p["environment"]["3B"]["atoms"] == 8
    assert p["environment"]["3B"]["force_rmse"] == pytest.approx(np.sqrt((2 * 0.16 + 6 * 0.04) / 8))
    assert p["environment"]["3B"]["share_of_worst"] == pytest.approx(2 / 4)
    assert p["environment"]["Li"]["share_of_atoms"] == pytest.approx((8 + 54) / 70)
    assert p["tail_ratio"] == pytest.approx(np.median([1.3, 0.5, 1.1, 1.5]))
    assert p["median_largest_error"] == pytest.approx(np.median([1.3, 1.0, 2.2, 3.0]))
    assert p["rmse_for_trust"]["median"] == pytest.approx((0.08 + 3 * 0.06) / 4)


def test_the_shipped_models_anatomy_pools_to_its_measured_error():
    from pylbs.mlp.evaluate import evaluate_system, predict

    system = _held_out()
    model = model_path("default")
    a = anatomy(model, system, draws=2000)
    metrics, _ = evaluate_system(model, system)
    assert a["force_rmse"] == pytest.approx(metrics["force_rmse"], rel=1e-9)
    pooled = np.sqrt(sum(r["atoms"] * r["force_rmse"] ** 2 for r in a["species"].values()) / (a["frames"] * a["atoms"]))
    assert pooled == pytest.approx(metrics["force_rmse"], rel=1e-9)
    assert sum(r["atoms"] for r in a["environment"].values()) == a["frames"] * a["atoms"]
    assert sum(r["share_of_worst"] for r in a["environment"].values()) == pytest.approx(1.0)
    err = np.linalg.norm(predict(model, system)[1] - system["forces"], axis=-1)
    assert [w["error"] for w in a["worst"]] == pytest.approx(list(err.max(axis=1)), rel=1e-9)
    assert [w["atom"] for w in a["worst"]] == list(err.argmax(axis=1))
    assert a["median_largest_error"] == pytest.approx(np.median(err.max(axis=1)), rel=1e-9)


def test_the_script_reports_every_system_and_refuses_a_folder_that_is_no_dataset(tmp_path):
    out = tmp_path / "anatomy.json"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "worst_atoms.py"), "default", str(HELD_OUT),
                          "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())["systems"]
    assert list(result) == ["heldout/train/LBS-15-25-60"] and "tail ratio" in run.stdout
    pooled = json.loads(out.read_text())["datasets"][str(HELD_OUT)]
    one = result["heldout/train/LBS-15-25-60"]
    assert pooled["tail_ratio"] == pytest.approx(one["tail_ratio"]) and pooled["frames"] == one["frames"] == 12
    assert pooled["rmse_for_trust"]["p99"] < pooled["rmse_for_trust"]["median"]
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "worst_atoms.py"), "default", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "no dataset.json" in bad.stderr
