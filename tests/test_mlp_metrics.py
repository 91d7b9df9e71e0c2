"""Error metrics on hand-built predictions with exactly known errors; lcurve reading/plots."""

import json

import numpy as np
import pytest

from pylbs.mlp.evaluate import error_metrics, format_table, learning_curve_plot, pooled_metrics, read_lcurve


def test_error_metrics_known_values():
    natoms = 10
    e_ref = np.array([-50.0, -51.0, -49.0, -52.0])
    e_err_per_atom = np.array([0.01, -0.02, 0.03, 0.0])  # eV/atom
    e_pred = e_ref + e_err_per_atom * natoms
    f_ref = np.zeros((4, natoms, 3))
    f_pred = f_ref.copy()
    f_pred[0, 0, 0] = 1.0
    f_pred[1, 3, 2] = -3.0
    f_pred[3, 9, 1] = 0.5
    m = error_metrics(e_pred, e_ref, f_pred, f_ref, natoms)
    assert m["n_frames"] == 4 and m["n_force_components"] == 120
    assert m["energy_mae"] == pytest.approx(0.015)
    assert m["energy_mxe"] == pytest.approx(0.03)
    assert m["energy_mse"] == pytest.approx(0.005)  # mean signed: the constant shift
    assert m["energy_rmse"] == pytest.approx(np.sqrt((1e-4 + 4e-4 + 9e-4) / 4))
    assert m["force_mae"] == pytest.approx(4.5 / 120)
    assert m["force_mxe"] == pytest.approx(3.0)
    assert m["force_mse"] == pytest.approx(-1.5 / 120)


def test_constant_shift_shows_in_signed_error_and_pooling():
    # two sets of different sizes; a pure constant shift of +0.1 eV/atom on the first
    a = error_metrics(np.full(3, -99.0), np.full(3, -100.0), np.ones(6), np.ones(6), 10)
    b = error_metrics(np.array([-20.0, -20.0]), np.array([-20.0, -20.0]), np.zeros(4), np.ones(4), 5)
    assert a["energy_mse"] == pytest.approx(0.1) and a["energy_mae"] == pytest.approx(0.1)
    assert a["force_mae"] == 0.0
    assert b["force_mae"] == pytest.approx(1.0) and b["force_mse"] == pytest.approx(-1.0)
    arrays = {"a": {"e_pred": np.full(3, -9.9), "e_ref": np.full(3, -10.0), "f_pred": np.ones(6), "f_ref": np.ones(6)},
              "b": {"e_pred": np.full(2, -4.0), "e_ref": np.full(2, -4.0), "f_pred": np.zeros(4), "f_ref": np.ones(4)}}
    overall = pooled_metrics(arrays)  # frames pooled, not an average of averages
    assert overall["energy_mae"] == pytest.approx(0.3 / 5)
    assert overall["energy_mxe"] == pytest.approx(0.1)
    assert overall["force_mae"] == pytest.approx(4 / 10)
    table = format_table({"a": a, "b": b, "overall": overall})
    assert "+100.00" in table.splitlines()[2]  # meV/atom shift of set a
    json.dumps(overall)


def test_lcurve_read_and_plot(tmp_path):
    lc = tmp_path / "lcurve.out"
    lc.write_text("#  step  rmse_val  rmse_trn  rmse_e_val  rmse_e_trn  rmse_f_val  rmse_f_trn  lr\n"
                  "# If there is no available reference data, rmse_*_{val,trn} will print nan\n"
                  "0 10 11 1.0 1.1 2.0 2.1 1e-3\n100 5 6 0.5 0.6 1.0 1.1 5e-4\n200 2 3 0.2 0.3 0.4 0.5 1e-4\n")
    cols = read_lcurve(lc)
    assert list(cols["step"]) == [0, 100, 200]
    assert cols["rmse_f_val"][-1] == pytest.approx(0.4)
    png = learning_curve_plot(lc, tmp_path / "lc.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
