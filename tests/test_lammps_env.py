"""Plugin discovery: both pair styles load automatically, and a missing or broken
fmp/lbs plugin is reported as such (LAMMPS's own `plugin load` fails silently)."""

import os
import subprocess
import sys
import textwrap


_PROBE = textwrap.dedent("""
    import sys, pathlib
    import pylbs.lammps_env as env
    env.PLUGIN_DIR = pathlib.Path(sys.argv[1])
    env.FMP_PLUGIN_FILE = env.PLUGIN_DIR / "fmplbsplugin.so"
    try:
        env.start_lammps().close()
    except env.PluginMissingError as exc:
        print("ERROR:", exc)
    else:
        print("LOADED")
""")


def _probe(plugin_dir):
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    res = subprocess.run([sys.executable, "-c", _PROBE, str(plugin_dir)], capture_output=True,
                         text=True, env=env, timeout=120)
    return res.stdout


def test_both_pair_styles_load_automatically(fmp_plugin):
    from pylbs.lammps_env import start_lammps

    lmp = start_lammps(require=(("pair", "fmp/lbs"), ("pair", "deepmd")))
    assert lmp.has_style("pair", "fmp/lbs") and lmp.has_style("pair", "deepmd")
    lmp.close()


def test_missing_plugin_names_the_fix(tmp_path):
    out = _probe(tmp_path)
    assert "ERROR:" in out and "missing" in out and "make plugin" in out


def test_broken_plugin_is_reported_as_failed_load(tmp_path):
    (tmp_path / "fmplbsplugin.so").write_bytes(b"not an ELF file")
    out = _probe(tmp_path)
    assert "ERROR:" in out and "present but failed to load" in out


def test_lmp_wrapper_finds_plugins_through_entry_points(fmp_plugin, tmp_path):
    deck = tmp_path / "probe.in"
    deck.write_text("units metal\natom_style charge\nregion b block 0 10 0 10 0 10\ncreate_box 4 b\n"
                    "pair_style fmp/lbs 8.0\n")
    lmp_exe = os.path.join(os.path.dirname(sys.executable), "lmp")
    res = subprocess.run([lmp_exe, "-in", str(deck), "-log", "none"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Unrecognized pair style" not in res.stdout


def test_dgemm_binds_to_torch_not_to_liblammps(fmp_plugin):
    """liblammps exports a reference dgemm_; torch must not bind to it (4x slower DeepMD)."""
    import ctypes

    from pylbs.lammps_env import start_lammps, torch_cpu_library

    start_lammps().close()
    process_dgemm = ctypes.cast(ctypes.CDLL(None).dgemm_, ctypes.c_void_p).value
    torch_dgemm = ctypes.cast(ctypes.CDLL(str(torch_cpu_library())).dgemm_, ctypes.c_void_p).value
    assert process_dgemm == torch_dgemm


def test_lmp_wrapper_preloads_torch_blas():
    import subprocess as sp

    code = ("import os; from pylbs.lammps_env import plugin_dir; plugin_dir(); "
            "print(os.environ.get('LD_PRELOAD', ''))")
    out = sp.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "libtorch_cpu.so" in out


def test_a_deepmd_session_runs_models_without_graph_optimisation_and_imports_no_torch(fmp_plugin):
    """pylbs.torchscript: where pylbs chose the legacy executor, a LAMMPS session that runs DeepMD turns
    TorchScript's graph optimisation off in its thread (through libtorch: neither session imports
    torch's Python package); PYLBS_TORCH_OPTIMIZE=1 keeps it. Same energies either way:
    test_deepmd_stack.py::test_graph_optimisation_changes_no_energy."""
    from pathlib import Path

    import pytest

    if Path("/dev/nvidiactl").exists():
        pytest.skip("a GPU machine keeps torch's default executor")
    probe = ("import sys; from pylbs.lammps_env import start_lammps; start_lammps(); fmp = 'torch' in sys.modules; "
             "start_lammps(require=(('pair', 'deepmd'),)); dp = 'torch' in sys.modules; import torch; "
             "print(fmp, dp, torch._C._get_graph_executor_optimize())")
    ours = ("TORCH_JIT_DISABLE_NEW_EXECUTOR", "PYLBS_TORCH_EXECUTOR", "PYLBS_TORCH_EXECUTOR_SET", "PYLBS_TORCH_OPTIMIZE")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    out = []
    for extra in ({}, {"PYLBS_TORCH_OPTIMIZE": "1"}):
        res = subprocess.run([sys.executable, "-c", probe], env=dict(env, **extra), capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        out.append(res.stdout.strip())
    assert out == ["False False False", "False False True"]
