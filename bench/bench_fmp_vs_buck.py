"""Time per step of pair_style fmp/lbs vs buck/coul/long, same numbers, plus accuracy.

Both use the same Buckingham parameters, cutoff (10 A), pppm 1e-5 and skin (2 A);
buck/coul/long keeps LAMMPS's default Coulomb table (pair_modify table 12), fmp/lbs
its default merged table (pair_style ... table 8) and has the O-O and Si-O cores of
the default file. Structures: random LBS-30-30-40 relaxed with fmp/lbs (1008 and
2988 atoms). Atoms do not move; every step recomputes pair + kspace forces.

Timing: the two styles run in one process, in PAIRED runs of --steps steps
(buck, fmp, then fmp, buck, ...), --pairs times; printed are the median and the
min/max and interquartile range of the per-pair ratio fmp/buck (wall clock, and
process CPU time, which a loaded machine disturbs less). Then the same for the
OPENMP variants (fmp/lbs/omp vs buck/coul/long/omp, pppm/omp) on 1 rank x 2
threads (this process) and 2 ranks x 1 thread (mpirun).

Accuracy (energies, forces, virial) of fmp/lbs's default table against
  - the formulas (table 0, pair_modify table 0: the erfc polynomial of coul/long),
  - a 16x finer table (table 12: interpolation error alone, exact erfc),
and, for scale, buck/coul/long's default table against its formulas.

    .venv/bin/python bench/bench_fmp_vs_buck.py [--atoms 1008 2988] [--steps 100] [--pairs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fmp_helpers import (FIXED_FILE_TEXT, buck_commands, element_counts, gather,  # noqa: E402
                         random_structure, set_charges_by_type, setup_box)

from pylbs.lammps_env import mpi_comm, start_lammps  # noqa: E402

CUT = 10.0
KSPACE = "pppm 1e-5"
# same Buckingham numbers as buck_commands, plus the published O-O and Si-O cores and
# the default file's B-O 'core auto' (without it the 2988-atom random start falls into
# the B-O Buckingham well during the relaxation and the timings are of a collapsed box)
FMP_TEXT = (FIXED_FILE_TEXT
            .replace("C 192.580", "C 192.580 core 46.462 3.430 -0.32605 1.906")
            .replace("C 54.681", "C 54.681 core 28.950 3.9320 -3.059 1.168")
            .replace("C 28.500", "C 28.500 core auto"))


def relax(box, fmp_file: Path):
    """Glass-like neighbour distances: relax the random box with fmp/lbs (cores stop collapse)."""
    lmp = start_lammps()
    try:
        setup_box(lmp, *box)
        lmp.commands_list([f"pair_style fmp/lbs {CUT}", f"pair_coeff * * {fmp_file} Li B Si O",
                           "kspace_style pppm 1e-4", "minimize 1e-4 1e-4 100 1000"])
        pe = lmp.get_thermo("pe") / len(box[1])
        if not -30.0 < pe < 0.0:  # eV/atom; a collapse gives -1e80
            raise RuntimeError(f"relaxation failed: pe = {pe:.3g} eV/atom")
        x = np.array(lmp.gather_atoms("x", 1, 3), dtype=float).reshape(len(box[1]), 3)
        return box[0], box[1], x % box[0]
    finally:
        lmp.close()


def style_commands(style: str, fmp_file: Path, omp: bool = False, fmp_table: int | None = None,
                   coul_table: int | None = None) -> list[str]:
    sfx = "/omp" if omp else ""
    if style == "buck":
        cmds = buck_commands(cut=CUT, kspace=KSPACE, table=12 if coul_table is None else coul_table)
        return [c.replace("buck/coul/long", "buck/coul/long" + sfx) if c.startswith("pair_style")
                else c.replace("pppm", "pppm" + sfx) for c in cmds]
    table = "" if fmp_table is None else f" table {fmp_table}"
    cmds = [f"pair_style fmp/lbs{sfx} {CUT}{table}", f"pair_coeff * * {fmp_file} Li B Si O",
            f"kspace_style {KSPACE.replace('pppm', 'pppm' + sfx)}"]
    if coul_table is not None:
        cmds.insert(2, f"pair_modify table {coul_table}")
    return cmds


def make_instance(style, box, fmp_file, omp_threads=0, comm=None, **kw):
    lmp = start_lammps(comm=comm) if comm is not None else start_lammps()
    if omp_threads:
        lmp.command(f"package omp {omp_threads}")
    setup_box(lmp, *box)
    if style == "buck":
        set_charges_by_type(lmp)
    lmp.commands_list(style_commands(style, fmp_file, omp=bool(omp_threads), **kw))
    lmp.commands_list(["neighbor 2.0 bin", "run 5"])
    return lmp


def paired_timing(instances: dict, steps: int, pairs: int, barrier=lambda: None) -> dict:
    """Alternate buck/fmp runs; per pair the time per step (wall, cpu) of each style."""
    out = {k: {"wall": [], "cpu": []} for k in instances}
    for p in range(pairs):
        order = ("buck", "fmp") if p % 2 == 0 else ("fmp", "buck")
        for name in order:
            barrier()
            w0, c0 = time.perf_counter(), time.process_time()
            instances[name].command(f"run {steps} pre no post no")
            barrier()
            out[name]["wall"].append((time.perf_counter() - w0) / steps)
            out[name]["cpu"].append((time.process_time() - c0) / steps)
    return out


def summarize(label: str, t: dict, cpu: bool = True) -> str:
    lines = []
    for clock in (("wall", "cpu") if cpu else ("wall",)):
        b, f = np.array(t["buck"][clock]), np.array(t["fmp"][clock])
        r = f / b
        q1, q3 = np.percentile(r, [25, 75])
        lines.append(f"  {label:22s} {clock:4s}: buck {np.median(b) * 1e3:8.2f} ms/step, "
                     f"fmp {np.median(f) * 1e3:8.2f} ms/step, ratio median {np.median(r):.3f} "
                     f"(min {r.min():.3f}, max {r.max():.3f}, IQR {q1:.3f}-{q3:.3f}, {len(r)} pairs)")
    return "\n".join(lines)


def accuracy(box, fmp_file: Path) -> str:
    def run(style, **kw):
        lmp = start_lammps()
        try:
            setup_box(lmp, *box)
            if style == "buck":
                set_charges_by_type(lmp)
            lmp.commands_list(style_commands(style, fmp_file, **kw))
            return gather(lmp)
        finally:
            lmp.close()

    def diff(got, ref):
        F, dF = np.array(ref["f"]), np.array(got["f"]) - np.array(ref["f"])
        Fn, dFn = np.linalg.norm(F, axis=1), np.linalg.norm(dF, axis=1)
        P = np.array(ref["press"])
        epair = lambda d: d["evdwl"] + d["ecoul"]  # noqa: E731
        return (f"pe {abs(got['pe'] - ref['pe']) / abs(ref['pe']):.1e}, "
                f"pair energy {abs(epair(got) - epair(ref)) / abs(epair(ref)):.1e} "
                f"(evdwl {abs(got['evdwl'] - ref['evdwl']) / abs(ref['evdwl']):.1e}, "
                f"ecoul {abs(got['ecoul'] - ref['ecoul']) / abs(ref['ecoul']):.1e}), "
                f"max|dF|/max|F| {dFn.max() / Fn.max():.1e}, "
                f"rms|dF|/rms|F| {np.sqrt((dFn ** 2).mean() / (Fn ** 2).mean()):.1e}, "
                f"virial {np.abs(np.array(got['press']) - P).max() / np.abs(P).max():.1e}")

    default = run("fmp")
    lines = ["  accuracy (relative; forces vs the largest / rms force):",
             "    fmp table 8 vs formulas (table 0): " + diff(default, run("fmp", fmp_table=0,
                                                                              coul_table=0)),
             "    fmp table 8 vs table 12          : " + diff(default, run("fmp", fmp_table=12)),
             "    buck/coul/long table 12 vs table 0: " + diff(run("buck"),
                                                               run("buck", coul_table=0))]
    return "\n".join(lines)


def mpi_worker(args):
    """Under mpirun: paired fmp/lbs/omp vs buck/coul/long/omp timing, 1 thread per rank."""
    comm = mpi_comm()
    d = np.load(args.worker_box)
    box = (float(d["L"]), d["types"], d["pos"])
    inst = {s: make_instance(s, box, Path(args.worker_file), omp_threads=1, comm=comm)
            for s in ("buck", "fmp")}
    t = paired_timing(inst, args.steps, args.pairs, barrier=comm.Barrier)
    for lmp in inst.values():
        lmp.close()
    if comm.Get_rank() == 0:
        Path(args.worker_out).write_text(json.dumps(t))


def bench_size(n: int, args, tmp: Path, fmp_file: Path):
    k = max(1, round(n / 36))  # LBS-30-30-40: (3, 3, 4) formula units = 36 atoms
    box = relax(random_structure(element_counts((3 * k, 3 * k, 4 * k)), seed=5, dmin=1.6), fmp_file)
    print(f"{len(box[1])} atoms, cutoff {CUT} A, {KSPACE}, {args.steps} steps per run:", flush=True)
    print(accuracy(box, fmp_file), flush=True)

    inst = {s: make_instance(s, box, fmp_file) for s in ("buck", "fmp")}
    t = paired_timing(inst, args.steps, args.pairs)
    for lmp in inst.values():
        lmp.close()
    print(summarize("1 rank x 1 thread", t), flush=True)
    if args.skip_omp:
        return

    inst = {s: make_instance(s, box, fmp_file, omp_threads=2) for s in ("buck", "fmp")}
    t = paired_timing(inst, args.steps, args.pairs)
    for lmp in inst.values():
        lmp.close()
    print(summarize("/omp 1 rank x 2 threads", t, cpu=False), flush=True)

    boxfile, out = tmp / f"box{n}.npz", tmp / f"omp{n}.json"
    np.savez(boxfile, L=box[0], types=box[1], pos=box[2])
    mpirun = Path(sys.executable).parent / "mpirun"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [str(mpirun), "-np", "2", sys.executable, __file__, "--steps", str(args.steps),
           "--pairs", str(args.pairs), "--worker-box", str(boxfile), "--worker-file",
           str(fmp_file), "--worker-out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        print(f"  /omp 2 ranks x 1 thread: mpirun failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        return
    print(summarize("/omp 2 ranks x 1 thread", json.loads(out.read_text()), cpu=False), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, nargs="+", default=[1008, 2988])
    ap.add_argument("--steps", type=int, default=100, help="steps per timed run")
    ap.add_argument("--pairs", type=int, default=7, help="paired (buck, fmp) runs per setting")
    ap.add_argument("--skip-omp", action="store_true", help="only the serial comparison")
    ap.add_argument("--worker-box", help=argparse.SUPPRESS)
    ap.add_argument("--worker-file", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_box:
        return mpi_worker(args)
    with tempfile.TemporaryDirectory() as tmp:
        fmp_file = Path(tmp) / "bench.fmp"
        fmp_file.write_text(FMP_TEXT)
        for n in args.atoms:
            bench_size(n, args, Path(tmp), fmp_file)


if __name__ == "__main__":
    main()
