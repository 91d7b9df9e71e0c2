"""The tests' tiny DeepMD model: what it is, how it is made, where the committed copy lives.

One small se_e2_a model (8-16 embedding, 16-16 fitting, 200 steps) trained on 24 FMP-labelled
frames of a 100-atom LBS-20-60-20 (no downloads). Training it costs the suite about a minute on
two cores, so the built model is committed under ``tests/data/tiny_dp`` (2.5 MB: the model, its
checkpoint, its compressed copy that the MD tests run, the frames) with the energies it gave on
its own training frames; ``test_deepmd_stack`` checks that the installed
deepmd-kit still reproduces them. Training itself is tested elsewhere (the end-to-end route,
the active-learning loop, a start from this model's checkpoint).

Rebuild after a deepmd-kit or torch upgrade (the check says when):

    .venv/bin/python tests/tiny_dp.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COMMITTED = HERE / "data" / "tiny_dp"
#: What the committed copy holds: model/ as deepmd-kit wrote it, less its logs and step checkpoints,
#: plus its compressed copy (``MD_MODEL``), which the MD tests run: copied where
#: :mod:`pylbs.mlp.compress` caches model.pth's copy, so a run asked to compress model.pth finds it.
FILES = ("model/model.pth", "model/model.ckpt.pt", "model/input.json", "model/model-compressed.pth", "train",
         "valid", "reference.json")
#: ``dp --pt compress -s 0.1``: tables 10x coarser than deepmd's default step, 1.7 MB instead of 14 MB,
#: and still the model's energies to 3e-13 eV/atom and forces to 6e-11 eV/A (measured); LAMMPS runs
#: it 1.7x faster than model.pth (28 vs 49 ms/step, 105 atoms, 1 core).
MD_MODEL = "model/model-compressed.pth"
TABLE_STEP = 0.1


def training_settings():
    from pylbs.mlp.train import TrainingSettings

    return TrainingSettings(sel=[12, 24, 12, 60], descriptor_neurons=(8, 16), axis_neuron=4,
                            fitting_neurons=(16, 16), numb_steps=200, decay_steps=50,
                            stop_lr=1e-5, batch_size=1, disp_freq=50, save_freq=200)


def build(work: Path) -> tuple[Path, Path]:
    """Sample the frames with fmp/lbs, train and freeze into ``work``: (model.pth, train dir)."""
    from pylbs.glasses import get_glass
    from pylbs.mlp.fmp_frames import sample_fmp_frames
    from pylbs.mlp.train import train_and_freeze

    system = sample_fmp_frames(get_glass("LBS-20-60-20"), n_atoms=100, temperatures=(1500.0, 600.0),
                               frames_per_temperature=12, steps_between=40, seed=3)
    train, valid = system.sub_system(range(20)), system.sub_system(range(20, 24))
    train.to("deepmd/npy", work / "train")
    valid.to("deepmd/npy", work / "valid")
    model = train_and_freeze([work / "train"], [work / "valid"], work / "model", training_settings())
    compress(model)
    return model, work / "train"


def md_model(model: Path) -> Path:
    """The compressed copy of ``model`` the MD tests run, where pylbs.mlp.compress caches it."""
    from pylbs.mlp.compress import cached_copy_path

    return cached_copy_path(model, sha256(model))


def compress(model: Path) -> Path:
    """Write the compressed copy of ``model`` (:func:`md_model`) with the coarse ``TABLE_STEP``."""
    from pylbs.mlp.train import _run_dp

    out = md_model(model)
    _run_dp(["--pt", "compress", "-i", model.name, "-o", str(out), "-s", f"{TABLE_STEP:g}"], model.parent,
            "compress.log")
    (model.parent / "compress.log").unlink()
    return out


def evaluate(model: Path, train: Path) -> tuple[list[float], np.ndarray]:
    """The model's energies (eV) of the training frames and forces (eV/A) on them, with deepmd's
    own inference."""
    from deepmd.infer import DeepPot

    types = np.loadtxt(train / "type.raw", dtype=int)
    coord, box = np.load(train / "set.000" / "coord.npy"), np.load(train / "set.000" / "box.npy")
    e, f, _ = DeepPot(str(model)).eval(coord, box, types)
    return [float(x) for x in e.ravel()], f


def energies(model: Path, train: Path) -> list[float]:
    """The model's energies (eV) of the training frames."""
    return evaluate(model, train)[0]


def sha256(path: Path) -> str:
    from pylbs.hashing import file_sha256

    return file_sha256(path)


def copy_committed(dest: Path) -> tuple[Path, Path] | None:
    """The committed model copied into ``dest`` (runs may write beside it), or None when absent:
    (trained model.pth, training frames)."""
    if not all((COMMITTED / f).exists() for f in FILES):
        return None
    for f in FILES:
        src, dst = COMMITTED / f, dest / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    model = dest / "model" / "model.pth"
    (dest / MD_MODEL).replace(md_model(model))
    return model, dest / "train"


def main() -> int:
    import deepmd
    import torch

    work = COMMITTED.with_name("tiny_dp.build")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model, train = build(work)
    ckpt = (work / "model" / "model.ckpt.pt").resolve()  # a link to the last step's checkpoint
    shutil.rmtree(COMMITTED, ignore_errors=True)
    for f in FILES[:-1]:
        src = {"model/model.ckpt.pt": ckpt, MD_MODEL: md_model(model)}.get(f, work / f)
        dst = COMMITTED / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    e_model, e_md = (energies(COMMITTED / f, COMMITTED / "train") for f in ("model/model.pth", MD_MODEL))
    if not np.allclose(e_md, e_model, rtol=0, atol=1e-8):  # the MD tests would run another potential
        raise SystemExit(f"the compressed copy is {np.abs(np.subtract(e_md, e_model)).max():.2e} eV off the "
                         f"model: lower TABLE_STEP ({TABLE_STEP}) in {__file__}")
    ref = {"deepmd_kit": deepmd.__version__, "torch": torch.__version__,
           "model_sha256": sha256(COMMITTED / "model" / "model.pth"),
           "md_model_sha256": sha256(COMMITTED / MD_MODEL),
           "energies_eV": energies(COMMITTED / "model" / "model.pth", COMMITTED / "train"),
           "made_by": "python tests/tiny_dp.py"}
    (COMMITTED / "reference.json").write_text(json.dumps(ref, indent=1) + "\n")
    shutil.rmtree(work)
    print(f"wrote {COMMITTED}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
