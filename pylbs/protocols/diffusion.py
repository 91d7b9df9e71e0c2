"""Li diffusion runs: constant-T MD at each temperature, then MSD, D, C_Li*D, Nernst-Einstein sigma, Ea.

Paper ("Li ion conductivity"): 300 ps at 500, 600, 700 and 900 K, NPT ("with an NPT
ensemble"); the text also says NVT at the room-temperature density was used for the
activation energies: both are supported (``ensemble="npt"`` at ``pressure_bar``, or
``"nvt"`` in the structure's own box, i.e. its 300 K density) and the summary records
which. The first ``discard_ps`` (50 ps) are dropped and D is fitted over lags of
50-150 ps. Layout::

    out_dir/summary.json, msd.png, arrhenius.png
    out_dir/T<K>/ thermo.dat, trajectory.lammpstrj, msd.dat, log.lammps, restarts, run.png
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..analysis import diffusion as dif
from ..errors import PylbsError
from ..lammps_io import THERMO_FILE, TRAJECTORY_FILE, read_thermo
from .guard import Guard, guarded_potential, run_guarded_md
from .runner import run_protocol, structure_label
from .schedules import PAPER_TEMPERATURES_K, TIMESTEP_PS, diffusion_schedule


def run_diffusion(structure, out_dir, potential=None, *, models=None, temperatures: Sequence[float] = PAPER_TEMPERATURES_K,
                  duration_ps: float = 300.0, ensemble: str = "npt", pressure_bar: float | None = None,
                  discard_ps: float = 50.0, window=(50.0, 150.0), dump_every_ps: float = 1.0,
                  time_scale: float = 1.0, seed: int = 1, prepare: Sequence[str] = (), remove_drift: bool = True,
                  thermo_every: int | None = None, guard: Guard | None = None, zbl_core=None, comm=None,
                  compress: bool | None = None) -> dict:
    """Constant-T runs of ``structure`` at each temperature, then MSD, D, C_Li*D, sigma and Ea.

    ``time_scale`` scales ``duration_ps``, ``discard_ps``, ``window`` and
    ``dump_every_ps`` together. NVT keeps the structure's box (its 300 K density);
    NPT relaxes it at ``pressure_bar`` (1 bar by default) and C_Li uses the mean
    volume of the analysed frames. Conductivity: Nernst-Einstein, Haven ratio 1.
    ``models``: DeepMD models instead of ``potential`` commands; their runs are guarded
    (pylbs.protocols.guard), so a run whose atoms overlap stops instead of yielding a D.
    Returns the summary (also ``out_dir/summary.json``).
    """
    if ensemble not in ("npt", "nvt"):
        raise PylbsError(f"ensemble={ensemble!r}; use 'npt' or 'nvt'")
    temps = [float(t) for t in temperatures]
    if not temps:
        raise PylbsError("give at least one temperature")
    commands_for, guard = guarded_potential(potential, models, guard, zbl_core, compress)
    ts = float(time_scale)
    win = (window[0] * ts, window[1] * ts)
    if discard_ps * ts + win[1] > duration_ps * ts + 1e-9:
        raise PylbsError(f"discard {discard_ps:g} ps + window end {window[1]:g} ps exceed the run of "
                         f"{duration_ps:g} ps; run longer or shrink the window")
    dump_ps = max(TIMESTEP_PS, dump_every_ps * ts)
    request = {"protocol": "diffusion", "structure": structure_label(structure),
               "potential_commands": commands_for(Path("RUN")),
               "models": None if not models else [str(Path(m).resolve()) for m in models],
               "guard": None if guard is None else guard.to_dict(),
               "temperatures_K": temps, "duration_ps": duration_ps * ts, "ensemble": ensemble,
               "pressure_bar": pressure_bar if ensemble == "npt" else None, "discard_ps": discard_ps * ts,
               "window_ps": list(win), "dump_every_ps": dump_ps, "time_scale": ts, "seed": int(seed),
               "prepare": list(prepare), "remove_drift": remove_drift}

    def run(out: Path, comm) -> dict:
        t0 = time.perf_counter()
        runs = []
        for T in temps:
            schedule = diffusion_schedule(T, duration_ps, ensemble, pressure_bar).scaled(ts)
            runs.append(run_guarded_md(out / f"T{T:g}", schedule, commands_for, guard, len(models or ()), comm,
                                       structure=structure, seed=seed,
                                       thermo_every=thermo_every or max(10, schedule.n_steps() // 1000),
                                       dump_every_ps=dump_ps, prepare=prepare, label=f"diffusion {T:g} K"))
        return {"runs": runs, "wall_s": time.perf_counter() - t0, "ranks": comm.Get_size()}

    def analyse(out: Path, state: dict) -> dict:
        per, msd_curves = [], {}
        for T, md in zip(temps, state["runs"]):
            wd = out / f"T{T:g}"
            res = dif.analyze_trajectory(wd / TRAJECTORY_FILE, TIMESTEP_PS, win, discard_ps * ts, remove_drift)
            th = read_thermo(wd / THERMO_FILE)
            sel = th["step"] >= int(round(discard_ps * ts / TIMESTEP_PS))
            entry = {"temperature_K": T, "mean_temperature_K": float(th["temp"][sel].mean()) if sel.any() else T,
                     "n_atoms": md["n_atoms"], "volume_A3": res.volume_A3, "counts": res.counts,
                     "D": {el: f.to_dict() for el, f in res.fits.items()}, "trajectory": str(wd / TRAJECTORY_FILE)}
            if "Li" in res.fits:
                n_li = dif.number_density(res.counts["Li"], res.volume_A3)
                d_li = res.fits["Li"].D
                entry.update({"D_Li_A2_per_ps": d_li, "D_Li_err_A2_per_ps": res.fits["Li"].D_err,
                              "D_Li_block_err_A2_per_ps": res.block_err.get("Li"),
                              "C_Li_per_A3": n_li, "C_Li_per_cm3": n_li * 1e24,
                              "C_Li_times_D_per_cm_s": dif.c_times_d(n_li, d_li),
                              "sigma_NE_S_per_cm": dif.nernst_einstein(n_li, d_li, T)})
                msd_curves[f"{T:g} K"] = res
            np.savetxt(wd / "msd.dat", np.column_stack([res.times_ps] + list(res.msd.values())),
                       header="lag_ps " + " ".join(f"msd_{el}_A2" for el in res.msd), fmt="%.8g")
            per.append(entry)
        arr, arr_error = None, None
        if len(temps) >= 2 and all("D_Li_A2_per_ps" in p for p in per):
            try:
                fit = dif.arrhenius_fit([p["temperature_K"] for p in per], [p["D_Li_A2_per_ps"] for p in per])
                arr = fit.to_dict()
                dif.plot_arrhenius({"Li": fit}, out / "arrhenius.png")
            except PylbsError as exc:
                arr_error = str(exc)
        if msd_curves:
            dif.plot_msd(msd_curves, out / "msd.png", species=("Li",))
        return {
            "protocol": "diffusion", "ensemble": ensemble, "guarded": guard is not None,
            "ensemble_note": ("NPT at {:g} bar: the box relaxes at each temperature".format(
                1.0 if pressure_bar is None else pressure_bar) if ensemble == "npt" else
                "NVT in the structure's own box (its room-temperature density) at every temperature"),
            "conductivity_note": "Nernst-Einstein sigma = n q^2 D / (k_B T) with Haven ratio 1, q = +1 e (Li)",
            "fit": {"discard_ps": discard_ps * ts, "window_ps": list(win), "remove_drift": remove_drift,
                    "equation": "MSD(t) = 6 D t + c (paper Eq. 6)",
                    "errors": "D_err: standard error of the slope (a lower bound, MSD points are correlated); "
                              "D_block_err: standard error over 5 independent atom blocks"},
            "temperatures": per, "arrhenius_Li": arr, "arrhenius_error": arr_error,
            "md_potential_commands": state["runs"][0].get("potential_commands") if state["runs"] else None,
            "plots": {k: str(out / f) for k, f in (("msd", "msd.png"), ("arrhenius", "arrhenius.png"))
                      if (out / f).exists()},
            "time_scale": ts, "timestep_ps": TIMESTEP_PS,
            "timing": {"wall_s": state["wall_s"], "mpi_ranks": state["ranks"]}}

    return run_protocol(out_dir, request, run=run, analyse=analyse, comm=comm)
