"""Errors of a DeepMD model against labelled frames (paper Figs 1, S1-S4).

Metrics (per dataset and overall, all frames pooled):

* energy per atom: MAE, MXE (maximum absolute error), RMSE and the mean
  signed error (prediction - label), the constant energy shift the paper saw
  on its held-out glasses (eV/atom);
* force components: MAE, MXE, RMSE and mean signed error (eV/A);
* virial per atom (eV/atom) when the labels have it: MAE, RMSE.

The paper's overall test errors: energy MAE 0.0049, MXE 0.0946 eV/atom;
force MAE 0.203, MXE 6.71 eV/A.

Outputs of :func:`evaluate_model`: ``metrics.json``, ``metrics.txt`` (table),
``parity_energy_<set>.png``, ``parity_force_<set>.png`` and, given
``lcurve.out``, ``learning_curve.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PylbsError
from ..plotting import pyplot, save
from ..torchscript import run_models_unoptimised
from .datasets import load_system


def error_metrics(e_pred, e_ref, f_pred, f_ref, natoms, v_pred=None, v_ref=None) -> dict:
    """Metrics of one set of frames. Energies are per frame (eV) for frames of ``natoms``
    atoms (one number or one per frame); forces any shape (components are pooled)."""
    natoms = np.broadcast_to(np.asarray(natoms, float), np.shape(e_ref))
    de = (np.asarray(e_pred, float) - np.asarray(e_ref, float)) / natoms
    df = (np.asarray(f_pred, float) - np.asarray(f_ref, float)).ravel()
    out = {"n_frames": int(de.size), "n_force_components": int(df.size),
           "energy_mae": float(np.mean(np.abs(de))), "energy_mxe": float(np.max(np.abs(de))),
           "energy_rmse": float(np.sqrt(np.mean(de ** 2))), "energy_mse": float(np.mean(de)),
           "force_mae": float(np.mean(np.abs(df))), "force_mxe": float(np.max(np.abs(df))),
           "force_rmse": float(np.sqrt(np.mean(df ** 2))), "force_mse": float(np.mean(df))}
    if v_pred is not None and v_ref is not None:
        dv = ((np.asarray(v_pred, float) - np.asarray(v_ref, float)).reshape(len(de), -1) / natoms[:, None]).ravel()
        out.update(virial_mae=float(np.mean(np.abs(dv))), virial_rmse=float(np.sqrt(np.mean(dv ** 2))))
    return out


def load_model(model):
    """A DeepMD model file as deepmd-kit's DeepPot (run unoptimised, as pylbs's MD does)."""
    from deepmd.infer import DeepPot

    run_models_unoptimised()
    return DeepPot(str(model))


def predict(model, system):
    """(energies, forces, virials) of a DeepMD model (path or DeepPot) on a dpdata system."""
    dp = model if hasattr(model, "eval") else load_model(model)
    n = len(system)
    coords = np.asarray(system["coords"]).reshape(n, -1)
    cells = None if system.nopbc else np.asarray(system["cells"]).reshape(n, 9)
    names = list(system["atom_names"])
    tmap = dp.get_type_map()
    missing = [el for el, k in zip(names, system["atom_numbs"]) if k and el not in tmap]
    if missing:
        raise PylbsError(f"the model's type map {tmap} lacks {missing}")
    atype = np.array([tmap.index(names[t]) for t in system["atom_types"]])
    e, f, v = dp.eval(coords, cells, atype)
    return e.reshape(n), f.reshape(n, -1, 3), v.reshape(n, 3, 3)


def deviation_vs_error(models, system) -> dict:
    """Does an ensemble see its own error? On a labelled system, per frame: the ensemble's maximum force
    deviation (deepmd's ``max_devi_f``: over atoms, the norm of the force's standard deviation across
    the models) against model 0's maximum force error (over atoms, ``|F_0 - F_label|``). Their median
    ratio says how far the deviation the loop selects on under-reads the error it stands for."""
    forces = np.stack([predict(m, system)[1] for m in models])  # (models, frames, atoms, 3)
    devi = np.linalg.norm(forces.std(axis=0), axis=-1).max(axis=-1)
    error = np.linalg.norm(forces[0] - np.asarray(system["forces"]), axis=-1).max(axis=-1)
    return {"frames": int(len(devi)), "median_max_devi_f": float(np.median(devi)),
            "median_max_force_error": float(np.median(error)),
            "error_over_deviation": float(np.median(error / np.maximum(devi, 1e-12)))}


def evaluate_system(model, system) -> tuple[dict, dict]:
    """(metrics, arrays for plots) of ``model`` on one labelled dpdata system."""
    e, f, v = predict(model, system)
    has_v = "virials" in system.data
    m = error_metrics(e, system["energies"], f, system["forces"], system.get_natoms(),
                      v if has_v else None, system["virials"] if has_v else None)
    arrays = {"e_pred": e / system.get_natoms(), "e_ref": np.asarray(system["energies"]) / system.get_natoms(),
              "f_pred": f.ravel(), "f_ref": np.asarray(system["forces"]).ravel(), "natoms": system.get_natoms()}
    if has_v:
        arrays.update(v_pred=v, v_ref=np.asarray(system["virials"]))
    return m, arrays


def pooled_metrics(arrays: dict) -> dict:
    """Overall metrics from the per-set arrays of evaluate_system (all frames pooled)."""
    e_pred = np.concatenate([a["e_pred"] for a in arrays.values()])
    e_ref = np.concatenate([a["e_ref"] for a in arrays.values()])
    f_pred = np.concatenate([a["f_pred"] for a in arrays.values()])
    f_ref = np.concatenate([a["f_ref"] for a in arrays.values()])
    return error_metrics(e_pred, e_ref, f_pred, f_ref, 1.0)  # energies already per atom


def format_table(metrics: dict) -> str:
    """Plain-text table: one row per set, energies in meV/atom, forces in eV/A."""
    head = (f"{'set':<32}{'frames':>7}{'E MAE':>9}{'E MXE':>9}{'E shift':>9}{'F MAE':>8}{'F MXE':>8}"
            f"{'F RMSE':>8}\n{'':<39}{'(meV/atom)':>27}{'(eV/A)':>18}")
    lines = [head]
    for name, m in metrics.items():
        lines.append(f"{name:<32}{m['n_frames']:>7d}{1e3 * m['energy_mae']:>9.2f}{1e3 * m['energy_mxe']:>9.2f}"
                     f"{1e3 * m['energy_mse']:>+9.2f}{m['force_mae']:>8.3f}{m['force_mxe']:>8.3f}"
                     f"{m['force_rmse']:>8.3f}")
    return "\n".join(lines)


# ------------------------------------------------------------------ plots

def parity_plot(pred, ref, path, label: str, unit: str, title: str = "") -> Path:
    plt = pyplot()
    pred, ref = np.asarray(pred).ravel(), np.asarray(ref).ravel()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(ref, pred, s=4 if ref.size < 5000 else 1, alpha=0.6, lw=0)
    lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=0.8)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(f"{label}, label ({unit})")
    ax.set_ylabel(f"{label}, DeepMD ({unit})")
    mae = np.mean(np.abs(pred - ref))
    ax.set_title(f"{title}\nMAE {mae:.4g} {unit}", fontsize=9)
    return save(fig, path)


def read_lcurve(path) -> dict:
    """Columns of deepmd's lcurve.out as {name: array} (header line '# step rmse_val ...')."""
    path = Path(path)
    if not path.exists():
        raise PylbsError(f"{path} not found: the learning curve is written by `dp train` (disp_file)")
    with open(path) as fh:
        header = fh.readline().lstrip("#").split()
    data = np.loadtxt(path, ndmin=2)
    if data.size == 0:
        raise PylbsError(f"{path} has no data rows yet")
    return {name: data[:, k] for k, name in enumerate(header[:data.shape[1]])}


def learning_curve_plot(lcurve, path) -> Path:
    plt = pyplot()
    cols = read_lcurve(lcurve)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, arr in cols.items():
        if name.startswith("rmse_") and name != "rmse_trn" and name != "rmse_val":
            ax.semilogy(cols["step"], np.maximum(arr, 1e-12), label=name, lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("RMSE (e: eV/atom, f: eV/A, v: eV/atom)")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


# ------------------------------------------------------------------ driver

def evaluate_model(model, sets: dict, out, lcurve=None, plots: bool = True, held_out=()) -> dict:
    """Evaluate ``model`` on ``sets`` ({name: deepmd/npy folder or LabeledSystem}) and write
    metrics.json, metrics.txt and plots into ``out``. Names in ``held_out`` are glasses not
    used in training (transferability); they are reported but kept out of "overall"
    (which pools the test sets), and pooled as "held-out" instead. Returns the metrics dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not sets:
        raise PylbsError("no test sets to evaluate")
    metrics, arrays = {}, {}
    dp = model if hasattr(model, "eval") else load_model(model)  # one load (~4 s on 2 cores), not one per set
    for name, s in sets.items():
        system = load_system(s) if isinstance(s, (str, Path)) else s
        metrics[name], arrays[name] = evaluate_system(dp, system)
        if plots:
            parity_plot(arrays[name]["e_pred"], arrays[name]["e_ref"], out / f"parity_energy_{name}.png",
                        "energy", "eV/atom", name)
            parity_plot(arrays[name]["f_pred"], arrays[name]["f_ref"], out / f"parity_force_{name}.png",
                        "force component", "eV/A", name)
    test_names = [n for n in sets if n not in held_out]
    if test_names:
        metrics["overall"] = pooled_metrics({n: arrays[n] for n in test_names})
    if held_out:
        metrics["held-out"] = pooled_metrics({n: arrays[n] for n in held_out})
    if plots and lcurve is not None and Path(lcurve).exists():
        learning_curve_plot(lcurve, out / "learning_curve.png")
    result = {"model": str(model), "held_out": list(held_out), "metrics": metrics,
              "units": {"energy": "eV/atom", "force": "eV/A", "virial": "eV/atom"},
              "notes": "energy_mse = mean signed error (prediction - label): a constant energy shift "
                       "shows up here (paper: consistent shift on held-out glasses)"}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    (out / "metrics.txt").write_text(format_table(metrics) + "\n")
    return result
