"""The DeepMD half of the stack: deepmd-kit's own LAMMPS pair style, loaded as a
plugin by pylbs, gives the same energy and forces as deepmd's Python inference."""

import numpy as np
import pytest
from mlp_helpers import lammps_deepmd_energy_forces


@pytest.mark.parametrize("which", ["trained", "compressed"])
def test_lammps_deepmd_matches_python_inference(tiny_dp_model, which):
    """Both the trained model and the compressed copy the MD tests run."""
    from deepmd.infer import DeepPot

    model, train_dir = tiny_dp_model
    model = model.with_name("model.pth") if which == "trained" else model
    coords = np.load(train_dir / "set.000" / "coord.npy")[0].reshape(-1, 3)
    cell = np.load(train_dir / "set.000" / "box.npy")[0].reshape(3, 3)
    types = np.loadtxt(train_dir / "type.raw", dtype=int)
    n = len(types)

    e_lmp, f_lmp = lammps_deepmd_energy_forces(model, coords, cell, types)

    e, f, _ = DeepPot(str(model)).eval(coords.reshape(1, -1), cell.reshape(1, -1), types)
    assert e_lmp == pytest.approx(float(e[0, 0]), rel=1e-10, abs=1e-8)
    np.testing.assert_allclose(f_lmp, f[0], atol=1e-8)
    # the model learned something: its energy is within 1 eV/atom of the FMP label
    e_label = np.load(train_dir / "set.000" / "energy.npy")[0]
    assert abs(e_lmp - e_label) / n < 1.0


def test_type_map_mismatch_names_the_fix(tmp_path, tiny_dp_model, md_small_glass):
    """A model without one of the box's elements: a SimulationError that says 'type-map mismatch'."""
    from pylbs.errors import SimulationError
    from pylbs.session import Session

    model, _ = tiny_dp_model
    with Session(tmp_path, require=(("pair", "deepmd"),)) as s:
        with pytest.raises(SimulationError, match="type-map mismatch"):
            s.setup(potential=[f"pair_style deepmd {model}", "pair_coeff * * Li B Na O"], atoms=md_small_glass)


def test_committed_tiny_model_gives_its_recorded_energies(tiny_dp_model):
    """The tests' tiny model is committed (tests/tiny_dp.py): the installed deepmd-kit must still give
    the energies recorded when it was built, or every DeepMD test would test something else."""
    import json

    import tiny_dp

    md_model, train = tiny_dp_model
    model = md_model.with_name("model.pth")
    ref = json.loads((tiny_dp.COMMITTED / "reference.json").read_text())
    assert tiny_dp.sha256(model) == ref["model_sha256"] and tiny_dp.sha256(md_model) == ref["md_model_sha256"]
    forces = []
    for path in (model, md_model):  # the compressed copy the MD tests run must be the same potential
        got, f = tiny_dp.evaluate(path, train)
        forces.append(f)
        assert np.allclose(got, ref["energies_eV"], rtol=0, atol=1e-8), (
            f"{path.name} gives other energies with this deepmd-kit than with {ref['deepmd_kit']}: rebuild "
            f"the tiny model with `.venv/bin/python tests/tiny_dp.py` and commit tests/data/tiny_dp")
    np.testing.assert_allclose(forces[1], forces[0], rtol=0, atol=1e-8)  # measured: 6e-11 eV/A apart


def test_graph_optimisation_changes_no_energy(tiny_dp_model):
    """pylbs runs models without TorchScript's graph optimisation on CPU (pylbs.torchscript): the tiny
    model's energies, forces and virials of three frames, evaluated three times (the legacy executor
    optimises on the first calls), agree with the optimised graph's. Each mode runs in a thread of
    its own: the switch is per thread, and a new thread starts optimised."""
    import threading

    import pytest
    from deepmd.infer import DeepPot

    from pylbs.torchscript import graph_optimisation_off, run_models_unoptimised

    if not graph_optimisation_off():
        pytest.skip("graph optimisation is on here (GPU machine or PYLBS_TORCH_OPTIMIZE=1)")
    model, train = tiny_dp_model
    types = np.loadtxt(train / "type.raw", dtype=int)
    coord, box = np.load(train / "set.000" / "coord.npy")[:3], np.load(train / "set.000" / "box.npy")[:3]
    results, errors = {}, []

    def evaluate(unoptimised: bool):
        try:
            import torch

            if unoptimised:
                assert run_models_unoptimised()
            dp = DeepPot(str(model))
            results[unoptimised] = (torch._C._get_graph_executor_optimize(),
                                    [dp.eval(coord, box, types)[:3] for _ in range(3)][-1])
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(exc)

    for unoptimised in (False, True):
        t = threading.Thread(target=evaluate, args=(unoptimised,))
        t.start()
        t.join()
    if errors:
        raise errors[0]
    assert (results[False][0], results[True][0]) == (True, False)
    for a, b in zip(results[False][1], results[True][1]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-10)


def test_without_libtorchs_symbol_the_switch_goes_through_torch(monkeypatch):
    """A torch build whose libtorch_cpu.so does not export setGraphExecutorOptimize: torch's Python
    package turns the optimisation off instead (in the calling thread only)."""
    import threading

    import pytest
    import torch

    import pylbs.torchscript as ts

    if not ts.graph_optimisation_off():
        pytest.skip("graph optimisation is on here (GPU machine or PYLBS_TORCH_OPTIMIZE=1)")
    monkeypatch.setattr(ts, "_SET_OPTIMIZE", "no_such_symbol")
    ts._libtorch_setter.cache_clear()
    seen = []

    def switch():
        seen.append((ts._libtorch_setter(), ts.run_models_unoptimised(), torch._C._get_graph_executor_optimize()))

    try:
        t = threading.Thread(target=switch)
        t.start()
        t.join()
    finally:
        ts._libtorch_setter.cache_clear()
    assert seen == [(None, True, False)]
