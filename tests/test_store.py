"""The HDF5 campaign store: round trip of results, summaries and provenance; queries."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pylbs.campaign.provenance import run_provenance, sha256
from pylbs.campaign.store import Store
from pylbs.campaign.tasks import Task
from pylbs.errors import PylbsError


def _task(i=1, kind="fmp", glass="LBS-20-60-20", **params):
    return Task(id=f"{kind}/{glass}/n300/r{i}", kind=kind, command="{mpirun} {python} -m pylbs.cli quench ...",
                out=f"runs/{kind}/{glass}/n300/r{i}", summary=f"runs/{kind}/{glass}/n300/r{i}/summary.json",
                params={"glass": glass, "n_atoms": 300, "replica": i, "seed": i, "stage": kind,
                        "potential": "fmp", **params})


def test_round_trip_with_provenance(tmp_path):
    store = Store(tmp_path / "s.h5")
    store.write_campaign("demo", "[campaign]\nname = \"demo\"\n", [_task().to_dict()])
    summary = {"fraction_4B": 0.31, "fraction_5Si": 0.01, "n_atoms": 294, "seed": 1, "time_scale": 0.01,
               "schedule": {"stages": [{"name": "melt", "t_start": 3500.0}]}, "timing": {"wall_s": 12.5},
               "potential": {"commands": ["pair_style fmp/lbs 10.0"], "resolved": {"A": [[1.0]]}}}
    t = _task()
    store.record(t, "done", summary, run_provenance(t, summary), wall_s=12.5)
    model = tmp_path / "m.pth"
    model.write_bytes(b"weights")
    tm = _task(kind="mlp", potential="mlp", models=[str(model)], schedule="fast")
    mlp_summary = {"fraction_4B": {"mean": 0.4, "std": 0.0}, "seeds": [1], "schedule": {"stages": []}}
    store.record(tm, "done", mlp_summary, run_provenance(tm, mlp_summary))

    again = Store(tmp_path / "s.h5")  # a fresh object reads everything back
    assert again.campaign_name() == "demo" and again.plan()[0]["id"] == t.id
    assert "name = \"demo\"" in again.campaign_text()
    assert again.summary(t.id) == summary
    prov = again.provenance(t.id)
    assert prov["seeds"] == [1] and prov["schedule"] == summary["schedule"] and prov["time_scale"] == 0.01
    assert prov["potential"]["parameter_file_sha256"] == sha256(prov["potential"]["parameter_file"])
    assert prov["potential"]["resolved_parameters"] == {"A": [[1.0]]}
    assert prov["versions"]["h5py"] == h5py.__version__ and prov["versions"]["numpy"] == np.__version__
    assert set(prov["git"]) == {"commit", "dirty"} and prov["command"] == t.command
    pm = again.provenance(tm.id)["potential"]
    assert pm["models"] == [{"path": str(model), "sha256": sha256(model)}] and len(pm["models"][0]["sha256"]) == 64

    rows = again.table(kind="fmp")
    assert rows == [{"id": t.id, "kind": "fmp", "status": "done", "glass": "LBS-20-60-20", "n_atoms": 300,
                     "replica": 1, "seed": 1, "stage": "fmp", "potential": "fmp", "schedule": None, "time_scale": None, "wall_s": 12.5,
                     "fraction_4B": 0.31, "fraction_5Si": 0.01, "n_atoms_actual": 294.0,
                     "final_pe_eV_per_atom": None}]
    assert again.table(kind="mlp")[0]["fraction_4B"] == 0.4 and again.table(schedule="fast")[0]["kind"] == "mlp"
    arr = again.array()
    assert arr.dtype.names[:3] == ("id", "kind", "status") and arr["fraction_4B"].tolist() == [0.31, 0.4]
    assert np.isnan(arr["emin_fraction_4B"][0])  # missing for the FMP row


def test_failed_then_done_overwrites_and_counts_attempts(tmp_path):
    store = Store(tmp_path / "s.h5")
    t = _task()
    store.record(t, "failed", None, {}, log_tail="exit code 2\npylbs: error: boom")
    assert store.status() == {t.id: "failed"} and store.table() == []
    assert "boom" in store.record_of(t.id)["log_tail"] and store.table(status="failed")[0]["id"] == t.id
    store.record(t, "done", {"fraction_4B": 0.2}, {})
    rec = store.record_of(t.id)
    assert rec["status"] == "done" and rec["attempts"] == 2 and rec["log_tail"] == ""


def test_diffusion_arrays_and_missing_store(tmp_path):
    store = Store(tmp_path / "s.h5")
    t = _task(kind="diffusion")
    s = {"temperatures": [{"temperature_K": 500.0, "D_Li_A2_per_ps": 1e-3, "C_Li_times_D_per_cm_s": 2e14},
                          {"temperature_K": 900.0, "D_Li_A2_per_ps": 2e-2, "C_Li_times_D_per_cm_s": None}],
         "arrhenius_Li": {"Ea_eV": 0.39, "Ea_err_eV": 0.02}}
    store.record(t, "done", s, {})
    rec = store.record_of(t.id)
    assert rec["temperatures_K"].tolist() == [500.0, 900.0] and np.isnan(rec["C_Li_times_D_per_cm_s"][1])
    row = store.table(kind="diffusion")[0]
    assert row["Ea_eV"] == 0.39 and row["C_Li_times_D_per_cm_s_500K"] == 2e14
    with pytest.raises(PylbsError, match="does not exist; run the campaign"):
        Store(tmp_path / "none.h5").campaign_text()
