"""Universal interatomic potentials as *teachers*: labellers for distilling an LBS DeepMD model.

pylbs distils its DeepMD model from a pretrained universal potential (trained on
PBE or r2SCAN data of the Materials Project), **not** from the paper's own DFT
(VASP PBE): a model trained on these labels reproduces the teacher, whose own
errors against DFT and experiment are measured by ``scripts/evaluate_teacher.py``
and reported in ``docs/models.md``.

Only teachers whose PyPI package carries its weights inside the wheel are listed
(nothing is downloaded at run time):

* ``chgnet-r2scan``  CHGNet 0.4.2, r2SCAN transfer-learned model (``CHGNet.load(model_name="r2scan")``);
  Deng et al., Nat. Mach. Intell. 5, 1031 (2023) for CHGNet; weights
  ``chgnet/pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar``.
* ``chgnet-mptrj``   CHGNet 0.3.0 weights, trained on MPtrj (PBE/PBE+U);
  ``chgnet/pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar``.
* ``sevennet-0``     SevenNet-0 (11Jul2024), MPtrj (PBE/PBE+U); Park et al., J. Chem. Theory
  Comput. 20, 4857 (2024); ``sevenn/pretrained_potentials/SevenNet_0__11Jul2024/``.
* ``sevennet-mf-0-r2scan``  SevenNet-MF-0 multi-fidelity model, its ``R2SCAN`` modality.
* ``sevennet-l3i5``  SevenNet-l3i5 (l_max 3, 5 interaction layers), MPtrj.

Use one as ``pylbs mlp label FRAMES --calculator chgnet-r2scan``. Each labelling
report and dataset manifest records :func:`provenance` (name, package, version,
weight file, its sha256). Threads: a teacher uses ``OMP_NUM_THREADS`` torch threads
when set (labelling workers set 1 each), else torch's default.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PylbsError
from ..hashing import file_sha256


@dataclass(frozen=True)
class Teacher:
    """A pretrained universal potential shipped inside a pip package."""

    name: str
    package: str  # pip name
    module: str  # import name
    pin: str  # version measured with pylbs
    model: str  # the package's own model name
    weight_relpath: str  # weight file, relative to the module's folder
    training: str  # what it was trained on (functional, data set)
    modal: str | None = None  # SevenNet multi-fidelity modality
    extra: dict = field(default_factory=dict)


TEACHERS: dict[str, Teacher] = {t.name: t for t in (
    Teacher("chgnet-r2scan", "chgnet", "chgnet", "0.4.2", "r2scan",
            "pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
            "r2SCAN: CHGNet transfer-learned on Materials Project r2SCAN relaxations"),
    Teacher("chgnet-mptrj", "chgnet", "chgnet", "0.4.2", "0.3.0",
            "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
            "PBE/PBE+U: MPtrj (Materials Project relaxation trajectories)"),
    Teacher("sevennet-0", "sevenn", "sevenn", "0.13.0", "7net-0",
            "pretrained_potentials/SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
            "PBE/PBE+U: MPtrj"),
    Teacher("sevennet-mf-0-r2scan", "sevenn", "sevenn", "0.13.0", "7net-mf-0",
            "pretrained_potentials/SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
            "r2SCAN modality of a multi-fidelity model (MPtrj PBE/PBE+U + MP r2SCAN)", modal="R2SCAN"),
    Teacher("sevennet-l3i5", "sevenn", "sevenn", "0.13.0", "7net-l3i5",
            "pretrained_potentials/SevenNet_l3i5/checkpoint_l3i5.pth", "PBE/PBE+U: MPtrj"),
)}

#: CHGNet's atom embedding has 94 rows: elements H (Z=1) to Pu (Z=94).
CHGNET_MAX_Z = 94


def get_teacher(name) -> Teacher:
    if isinstance(name, Teacher):
        return name
    if name not in TEACHERS:
        raise PylbsError(f"unknown teacher '{name}': use one of {', '.join(TEACHERS)}")
    return TEACHERS[name]


def _import(teacher: Teacher):
    try:
        return importlib.import_module(teacher.module)
    except ImportError as exc:
        raise PylbsError(
            f"teacher '{teacher.name}' needs the pip package {teacher.package}, which is not installed: "
            f"pip install {teacher.package}=={teacher.pin} -c requirements/constraints.txt") from exc


def package_version(teacher) -> str:
    teacher = get_teacher(teacher)
    _import(teacher)
    return importlib.metadata.version(teacher.package)


def weight_file(teacher) -> Path:
    """Path of the teacher's weight file inside its installed package (checked to exist)."""
    teacher = get_teacher(teacher)
    mod = _import(teacher)
    path = Path(mod.__file__).resolve().parent / teacher.weight_relpath
    if not path.is_file():
        raise PylbsError(f"teacher '{teacher.name}': weight file {path} is missing from the installed "
                         f"{teacher.package} {importlib.metadata.version(teacher.package)}; pylbs was measured "
                         f"with {teacher.package}=={teacher.pin} (pip install {teacher.package}=={teacher.pin})")
    return path


def provenance(teacher) -> dict:
    """{name, package, version, model, modal, training, weight_file, weight_sha256} of a teacher."""
    teacher = get_teacher(teacher)
    path = weight_file(teacher)
    return {"name": teacher.name, "package": teacher.package, "version": package_version(teacher),
            "model": teacher.model, "modal": teacher.modal, "training": teacher.training,
            "weight_file": str(path), "weight_sha256": file_sha256(path),
            "note": "a universal potential (PBE or r2SCAN trained), not the paper's DFT"}


_ELEMENTS_CACHE: dict[str, frozenset] = {}


def covered_elements(teacher) -> frozenset:
    """Chemical symbols the teacher's model was built for."""
    from ase.data import chemical_symbols

    teacher = get_teacher(teacher)
    if teacher.name not in _ELEMENTS_CACHE:
        if teacher.package == "chgnet":
            weight_file(teacher)
            symbols = chemical_symbols[1:CHGNET_MAX_Z + 1]
        else:  # SevenNet: the checkpoint's type map {Z: index}
            symbols = [chemical_symbols[z] for z in _calculator(teacher).type_map]
        _ELEMENTS_CACHE[teacher.name] = frozenset(symbols)
    return _ELEMENTS_CACHE[teacher.name]


def check_covers(teacher, symbols) -> None:
    """PylbsError naming the package when an element of ``symbols`` is outside the teacher's model."""
    teacher = get_teacher(teacher)
    missing = sorted(set(symbols) - covered_elements(teacher))
    if missing:
        raise PylbsError(f"teacher '{teacher.name}' ({teacher.package} model {teacher.model}) does not cover "
                         f"element(s) {', '.join(missing)}; drop those frames or label them with another "
                         "calculator")


def _threads() -> int | None:
    value = os.environ.get("PYLBS_TEACHER_THREADS") or os.environ.get("OMP_NUM_THREADS")
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        return None


_CALCULATORS: dict[str, object] = {}


def _calculator(teacher: Teacher):
    """The teacher's ASE calculator, built once per process (model loading costs 0.3-10 s)."""
    if teacher.name in _CALCULATORS:
        return _CALCULATORS[teacher.name]
    path = weight_file(teacher)
    import torch

    n = _threads()
    if n:
        torch.set_num_threads(n)
    if teacher.package == "chgnet":
        from chgnet.model import CHGNet, CHGNetCalculator

        # as CHGNet.load(model_name=...) does, from the file whose sha256 provenance() records
        model = CHGNet.from_file(str(path), mlp_out_bias=teacher.model == "0.2.0", version=teacher.model)
        calc = CHGNetCalculator(model, use_device="cpu", on_isolated_atoms="ignore")
    elif teacher.package == "sevenn":
        from sevenn.calculator import SevenNetCalculator

        calc = SevenNetCalculator(str(path), device="cpu", modal=teacher.modal)
    else:  # pragma: no cover - every entry of TEACHERS is one of the two
        raise PylbsError(f"no loader for package {teacher.package}")
    _CALCULATORS[teacher.name] = calc
    return calc


def teacher_calculator(name):
    """ASE calculator (energy eV, forces eV/A, stress eV/A^3) of teacher ``name``."""
    return _calculator(get_teacher(name))


def _factory(name):
    def make():
        return teacher_calculator(name)

    make.__name__ = f"teacher_{name.replace('-', '_')}"
    make.__doc__ = f"Teacher {name}: {TEACHERS[name].training}"
    return make


#: name -> zero-argument factory, merged into pylbs.mlp.label.CALCULATORS
FACTORIES = {name: _factory(name) for name in TEACHERS}
