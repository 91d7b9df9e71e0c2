"""The whole route through the command line on small data: FMP-labelled paper-like
configurations -> 90/10 split -> train a few dozen steps (interrupted, then resumed)
-> freeze -> test (MAE/MXE/shift, parity plots, learning curve, held-out glass)."""

import json
from pathlib import Path

import numpy as np
import pytest
from deepmd.infer import DeepPot

from pylbs.cli import main
from pylbs.glasses import get_glass

TINY = ["--descriptor-neurons", "8,16", "--axis-neuron", "4", "--fitting-neurons", "16,16",
        "--decay-steps", "10", "--stop-lr", "1e-5", "--batch-size", "1", "--disp-freq", "10",
        "--save-freq", "20", "--sel", "neighbor-stat"]


def test_generate_train_resume_test(tmp_path, fmp_plugin, capsys):
    data, model_dir, test_dir = tmp_path / "data", tmp_path / "model", tmp_path / "test"
    # ~21 frames: silica (B-free, 3 temperatures), strained LBS, Li2O crystal
    assert main(["mlp", "generate", "--out", str(data), "--scale", "0.3", "--only", "silica",
                 "LBS-30-30-40-strained", "Li2O-crystal"]) == 0
    manifest = json.loads((data / "dataset.json").read_text())
    assert sum(s["frames"] for s in manifest["systems"].values()) == 21
    assert all(s["test"] >= 1 for s in manifest["systems"].values())

    # a held-out glass, never trained on (like the paper's LBS-20-60-20 / 40-40-20 / 10-50-40 sets)
    from pylbs.mlp.fmp_frames import sample_fmp_frames

    held = tmp_path / "heldout" / "LBS-20-60-20"
    sample_fmp_frames(get_glass("LBS-20-60-20"), n_atoms=63, temperatures=(1000.0,), frames_per_temperature=3,
                      steps_between=30, seed=5).to("deepmd/npy", str(held))

    # training interrupted after 20 steps (no frozen model yet), then resumed to 40
    assert main(["mlp", "train", "--data", str(data), "--out", str(model_dir), "--steps", "20"] + TINY) == 0
    (model_dir / "model.pth").unlink()
    assert main(["mlp", "train", "--data", str(data), "--out", str(model_dir), "--steps", "40"] + TINY) == 0
    steps = np.loadtxt(model_dir / "lcurve.out", ndmin=2)[:, 0]
    assert steps[-1] == 40 and 30 in steps
    # continued from the checkpoint: deepmd appends to lcurve.out under a second header (a fresh run to 40
    # steps would write the same step numbers under one)
    assert (model_dir / "lcurve.out").read_text().count("# step") == 2
    sel = json.loads((model_dir / "input.json").read_text())["model"]["descriptor"]["sel"]
    assert len(sel) == 4 and all(k % 4 == 0 for k in sel) and sel[1] >= 4  # from deepmd-kit's neighbor-stat

    assert main(["mlp", "test", "--model", str(model_dir / "model.pth"), "--data", str(data),
                 "--held-out", str(held), "--out", str(test_dir)]) == 0
    out = capsys.readouterr().out
    result = json.loads((test_dir / "metrics.json").read_text())
    m = result["metrics"]
    assert {"silica", "LBS-30-30-40-strained", "Li2O-crystal", "overall", "heldout-LBS-20-60-20",
            "held-out"} <= set(m)
    # the overall errors equal a recomputation with deepmd's own inference on the raw test frames
    de, df = [], []
    dp = DeepPot(str(model_dir / "model.pth"))
    for folder in sorted((data / "test").iterdir()):
        types = np.loadtxt(folder / "type.raw", dtype=int, ndmin=1)
        for part in sorted(folder.glob("set.*")):
            coord, box = np.load(part / "coord.npy"), np.load(part / "box.npy")
            e, f, _ = dp.eval(coord, box, types)
            de.append((e.ravel() - np.load(part / "energy.npy")) / len(types))
            df.append(f.ravel() - np.load(part / "force.npy").ravel())
    de, df = np.concatenate(de), np.concatenate(df)
    expected = {"energy_mae": np.abs(de).mean(), "energy_mxe": np.abs(de).max(), "energy_mse": de.mean(),
                "force_mae": np.abs(df).mean(), "force_mxe": np.abs(df).max()}
    for k, v in expected.items():
        assert m["overall"][k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
    assert m["overall"]["n_frames"] == sum(s["test"] for s in manifest["systems"].values())
    assert m["held-out"]["n_frames"] == 3
    assert m["overall"]["force_mae"] < 5.0  # a few dozen steps: learned something, not converged
    for png in ["learning_curve.png", "parity_energy_silica.png", "parity_force_heldout-LBS-20-60-20.png"]:
        assert (test_dir / png).read_bytes()[:4] == b"\x89PNG"
    assert "overall" in out and (test_dir / "metrics.txt").exists()
    print(out)


def test_cli_import_error_is_one_line(tmp_path, capsys):
    outcar = Path(__file__).parent / "data" / "vasp" / "OUTCAR_Ni18_ase"
    assert main(["mlp", "import", str(outcar), "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "Ni" in err and "Traceback" not in err


def test_testing_a_model_that_is_not_there_names_the_fix(tmp_path, capsys):
    """``pylbs mlp test --model`` takes a file or a shipped name; anything else is a clear error, not
    deepmd-kit's "cannot detect the backend" traceback."""
    from pylbs.errors import PylbsError

    try:
        rc = main(["mlp", "test", "--model", str(tmp_path / "nope.pth"), "--out", str(tmp_path / "t")])
    except PylbsError as exc:
        message = str(exc)
    else:
        assert rc != 0
        message = capsys.readouterr().err
    assert "give a model file (model.pth) or a shipped name (default, lbs-chgnet-r2scan" in message
