"""Steps per second of DeepMD MD: LAMMPS ``pair_style deepmd`` vs ASE + deepmd-kit's ASE calculator.

The paper ran its MLP MD through ASE; pylbs runs it in LAMMPS. Same model, same
~300-atom LBS-20-60-20 structure, NVE velocity Verlet, 1 fs, after a warm-up
(torch compiles the model on its first calls):

* LAMMPS serial, LAMMPS ``mpirun -np 2``
* ASE (``deepmd.calculator.DP`` + ``VelocityVerlet``) with 1 and 2 torch threads (ASE has no
  domain decomposition; 2 threads is its way of using the same two cores)
* the compressed model (``dp --pt compress``) vs the uncompressed one, LAMMPS serial and ASE;
  and, for a model with a pair wall, the compressed copy with its wall as pylbs runs it.

Each case runs in its own process with its own thread settings. Prints steps/s and the
ratios (target: LAMMPS >= 5x ASE). Without --model it trains the tests' tiny se_e2_a model
(FMP-labelled frames, ~40 s): fine for relative numbers, not for absolute ones.

    .venv/bin/python bench/bench_deepmd_lammps_vs_ase.py [--model model.pth] [--atoms 300] [--steps 100]
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
from pylbs.glasses import get_glass

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


def tiny_model(work: Path) -> Path:
    """The tests' tiny model (tests/conftest.py recipe)."""
    from pylbs.mlp.fmp_frames import sample_fmp_frames
    from pylbs.mlp.train import TrainingSettings, train_and_freeze

    system = sample_fmp_frames(get_glass("LBS-20-60-20"), n_atoms=100, temperatures=(1500.0, 600.0),
                               frames_per_temperature=12, steps_between=40, seed=3)
    system.sub_system(range(0, 20)).to("deepmd/npy", work / "train")
    system.sub_system(range(20, 24)).to("deepmd/npy", work / "valid")
    settings = TrainingSettings(sel=[12, 24, 12, 60], descriptor_neurons=(8, 16), axis_neuron=4,
                                fitting_neurons=(16, 16), numb_steps=200, decay_steps=50, stop_lr=1e-5,
                                batch_size=1, disp_freq=50, save_freq=200)
    return train_and_freeze([work / "train"], [work / "valid"], work / "model", settings)


def compress(model: Path, work: Path) -> tuple[Path | None, str]:
    """``dp --pt compress``; returns (compressed model or None, error text)."""
    from pylbs.mlp.train import dp_command

    out = work / (model.stem + "_compressed.pth")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(dp_command() + ["--pt", "compress", "-i", str(model), "-o", str(out)], cwd=work,
                         capture_output=True, text=True, env=env)
    if res.returncode != 0 or not out.exists():
        return None, (res.stdout + res.stderr).strip().splitlines()[-1] if (res.stdout + res.stderr).strip() else "?"
    return out, ""


def structure(path: Path, n_atoms: int):
    from pylbs.structure import random_structure, write_lammps_data

    atoms = random_structure(get_glass("LBS-20-60-20"), n_atoms, seed=7)
    write_lammps_data(atoms, path)
    return len(atoms)


# ----------------------------------------------------------------- workers (one process per case)

def worker_lammps(data: str, model: str, steps: int, warmup: int, wall_of_model: str | None = None) -> dict:
    """``wall_of_model``: also run that model's pair wall, as pylbs does (pylbs.potential.deepmd_commands)."""
    from pylbs.lammps_env import mpi_comm, start_lammps
    from pylbs.potential import deepmd_commands, required_styles, wall_of

    comm = mpi_comm()
    pair = (deepmd_commands([model], wall=wall_of(wall_of_model)) if wall_of_model
            else [f"pair_style deepmd {model}", "pair_coeff * * Li B Si O"])
    lmp = start_lammps(require=required_styles(pair), comm=comm)
    lmp.commands_list(["units metal", "atom_style charge", "boundary p p p", "atom_modify map array",
                       f"read_data {data}", *pair,
                       "timestep 0.001", "velocity all create 300 1 dist gaussian", "fix md all nve",
                       "thermo 1000", f"run {warmup}"])
    comm.Barrier()
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    comm.Barrier()
    dt = time.perf_counter() - t0
    lmp.close()
    return {"steps_per_s": steps / dt, "ranks": comm.Get_size()}


def worker_ase(data: str, model: str, steps: int, warmup: int) -> dict:
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from deepmd.calculator import DP

    from pylbs.glasses import TYPE_MAP
    from pylbs.structure import read_lammps_data
    from pylbs.torchscript import run_models_unoptimised

    atoms = read_lammps_data(data)
    run_models_unoptimised()  # as the LAMMPS side runs it (start_lammps)
    atoms.calc = DP(model=model, type_dict={el: k for k, el in enumerate(TYPE_MAP)})
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=__import__("numpy").random.default_rng(1))
    md = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    md.run(warmup)
    t0 = time.perf_counter()
    md.run(steps)
    return {"steps_per_s": steps / (time.perf_counter() - t0), "threads": int(os.environ.get("OMP_NUM_THREADS", 1))}


def run_case(kind: str, data: Path, model: Path, steps: int, warmup: int, ranks: int = 1, threads: int = 1,
             wall_of_model: Path | None = None) -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
        env[key] = str(threads)
    for key in ("DP_INTER_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS"):
        env[key] = "1"
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(data), "--model", str(model),
           "--steps", str(steps), "--warmup", str(warmup)] + (["--wall-of", str(wall_of_model)] if wall_of_model else [])
    if ranks > 1:
        cmd = [str(VENV_BIN / "mpirun"), "-np", str(ranks)] + cmd
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("BENCH ")]
    if res.returncode != 0 or not line:
        return {"error": (res.stderr or res.stdout).strip().splitlines()[-1:] or ["?"]}
    return json.loads(line[0][6:])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="frozen .pth model (default: train the tests' tiny model)")
    p.add_argument("--atoms", type=int, default=300)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--card", action="store_true", help="write the steps/s into the card of the shipped model "
                   "--model names (its 'speed' section, with this command): pylbs/data/models/NAME/card.json")
    p.add_argument("--worker", choices=("lammps", "ase"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    p.add_argument("--wall-of", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        out = (worker_lammps(a.data, a.model, a.steps, a.warmup, a.wall_of) if a.worker == "lammps"
               else worker_ase(a.data, a.model, a.steps, a.warmup))
        if a.worker == "ase" or int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", 0))) == 0:
            print("BENCH " + json.dumps(out), flush=True)
        return 0

    shipped = _shipped_name(a.model) if a.card else None  # a wrong --card fails before minutes of MD
    work = Path(tempfile.mkdtemp(prefix="bench_dp_"))
    t0 = time.perf_counter()
    model = Path(a.model).resolve() if a.model else tiny_model(work)
    data = work / "start.data"
    n = structure(data, a.atoms)
    compressed, comp_err = compress(model, work)
    print(f"model {model}{' (tests tiny se_e2_a: relative numbers only)' if not a.model else ''}; {n} atoms "
          f"LBS-20-60-20; {a.steps} steps after {a.warmup} warm-up; setup {time.perf_counter() - t0:.0f} s")
    cases = {
        "lammps_1rank": ("lammps", model, 1, 1), "lammps_2ranks": ("lammps", model, 2, 1),
        "ase_1thread": ("ase", model, 1, 1), "ase_2threads": ("ase", model, 1, 2),
    }
    if compressed:
        cases.update({"lammps_1rank_compressed": ("lammps", compressed, 1, 1),
                      "ase_1thread_compressed": ("ase", compressed, 1, 1)})
    from pylbs.potential import wall_of

    walled = wall_of(model) is not None
    if compressed and walled:  # as pylbs runs it: the compressed copy plus the model's pair wall
        cases["lammps_1rank_compressed_wall"] = ("lammps", compressed, 1, 1)
    busy = _busy_cores()  # the machine as the cases found it, for the card
    res = {}
    for name, (kind, m, ranks, threads) in cases.items():
        res[name] = run_case(kind, data, m, a.steps, a.warmup, ranks, threads,
                             wall_of_model=model if name.endswith("_wall") else None)
        r = res[name]
        print(f"  {name:26s} " + (f"{r['steps_per_s']:8.2f} steps/s" if "steps_per_s" in r else f"ERROR {r['error']}"),
              flush=True)
    if not compressed:
        print(f"  compressed model: dp --pt compress failed: {comp_err}")

    def ratio(x, y):
        a_, b_ = res.get(x, {}).get("steps_per_s"), res.get(y, {}).get("steps_per_s")
        return f"{a_ / b_:.2f}x" if a_ and b_ else "n/a"

    print("ratios (target LAMMPS/ASE >= 5x):")
    print(f"  LAMMPS/ASE serial (1 core each):            {ratio('lammps_1rank', 'ase_1thread')}")
    print(f"  LAMMPS -np 2 / ASE 2 threads (2 cores each): {ratio('lammps_2ranks', 'ase_2threads')}")
    print(f"  LAMMPS -np 2 / LAMMPS serial:               {ratio('lammps_2ranks', 'lammps_1rank')}")
    print(f"  ASE 2 threads / ASE 1 thread:               {ratio('ase_2threads', 'ase_1thread')}")
    if compressed:
        print(f"  compressed/uncompressed, LAMMPS serial:     {ratio('lammps_1rank_compressed', 'lammps_1rank')}")
        print(f"  compressed/uncompressed, ASE serial:        {ratio('ase_1thread_compressed', 'ase_1thread')}")
        print(f"  LAMMPS compressed / ASE uncompressed:       {ratio('lammps_1rank_compressed', 'ase_1thread')}")
    if "lammps_1rank_compressed_wall" in cases:
        print(f"  with / without the pair wall, compressed:   {ratio('lammps_1rank_compressed_wall', 'lammps_1rank_compressed')}")
    (work / "bench.json").write_text(json.dumps(res, indent=1))
    print(f"results: {work / 'bench.json'}")
    if shipped:
        from pylbs.mlp.card import add_section

        add_section(shipped, "speed", {
            "command": ".venv/bin/python bench/bench_deepmd_lammps_vs_ase.py " + " ".join(sys.argv[1:]),
            "atoms": n, "steps_per_s": {k: round(r["steps_per_s"], 2) for k, r in res.items() if "steps_per_s" in r},
            "failed": {**{k: r["error"] for k, r in res.items() if "error" in r},
                       **({} if compressed else {"dp_compress": [comp_err]})},
            "machine": f"{os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}, {busy:.1f} core(s) busy in "
                       f"the second before the first case; {a.steps} steps after {a.warmup} warm-up, each case in its own process; "
                       + ("compressed: dp --pt compress of the model, made by this command" if compressed
                          else "no compressed cases: dp --pt compress failed")})
        print(f"card: speed section of {shipped} rewritten (python scripts/sync_model_docs.py lays it in docs/)")
    return 0


def _busy_cores(seconds: float = 1.0) -> float:
    """Cores busy over ``seconds`` (from /proc/stat): what else shares the machine, now. The load
    average would still count a job paused a minute ago."""
    def ticks():
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(f), f[3] + f[4]  # all, idle + iowait

    try:
        (t0, i0), _ = ticks(), time.sleep(seconds)
        t1, i1 = ticks()
    except OSError:  # not Linux: the 1-minute load average instead
        return os.getloadavg()[0]
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def _shipped_name(model: str | None) -> str:
    """The shipped model whose card --card writes: --model must be a model.pth under pylbs/data/models."""
    from pylbs.potential.models import SHIPPED_DIR

    path = Path(model).resolve() if model else None
    if path is None or path.parent.parent != SHIPPED_DIR.resolve() or not (path.parent / "card.json").exists():
        raise SystemExit(f"--card needs --model pylbs/data/models/NAME/model.pth of a shipped model; got {model}")
    return path.parent.name


if __name__ == "__main__":
    sys.exit(main())
