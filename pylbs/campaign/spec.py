"""The campaign file: one TOML document listing the whole study (glasses, sizes, replicas, ...).

A campaign is data. :func:`load_campaign` reads the file with :mod:`tomllib`,
fills defaults and checks every value, so a typo fails before anything runs.
Sections (all but ``[campaign]`` optional; see ``campaigns/paper.toml`` for
every key with a comment)::

    [campaign]   name, root (run folder, relative to the file), store (HDF5, relative to root), seed
    [glasses]    names = "all" | ["LBS-20-60-20", ...]           (paper Table 1)
    [fmp]        sizes, replicas, time_scale, parameter_file, ensemble, np  (FMP melt-quench)
    [mlp]        models, schedules, time_scale, t_max, np, gpus   (DeepMD stage)
    [analysis]   fmp, mlp (analyse which structures: 4B, 5Si, rings, 3B in 3MRs)
    [tg]         glasses, sizes, schedule, potential, replicas, rate, t_max, ...
    [diffusion]  glasses, sizes, schedules, potential, temperatures, ensemble, ...
    [resources]  mode, cores, mpirun, python; [resources.cluster] (dpdispatcher)
    [experiment] tg_K, conductivity_S_cm (user-provided experimental numbers for the report)

A section with ``enabled = false`` produces no tasks.
"""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PylbsError
from ..glasses import CATALOG, get_glass
from ..potential.models import model_path

SCHEDULES = ("fast", "anneal")
POTENTIALS = ("fmp", "mlp")


class CampaignError(PylbsError):
    """A campaign file is malformed or names something that does not exist."""


@dataclass(frozen=True)
class FmpSpec:
    sizes: tuple[int, ...] = (300,)
    replicas: int = 3
    time_scale: float = 1.0
    parameter_file: str | None = None
    # "nvt" at the measured density (paper), or "npt" at 1 bar (the paper's Fig. 5 compares both)
    ensemble: str = "nvt"
    np: int = 1
    walltime: str = "24:00:00"


@dataclass(frozen=True)
class MlpSpec:
    enabled: bool = True
    models: tuple[str, ...] = ()
    schedules: tuple[str, ...] = SCHEDULES
    time_scale: float = 1.0
    t_max: dict = field(default_factory=dict)  # glass -> K (default: pylbs.protocols.schedules.default_t_max)
    # 1000 K holds of the anneal schedule: one value, or the paper's error-bar axis [200, 400, 600]
    # (each hold is a replica of every seed; seeds stay the [fmp] replicas axis)
    anneal_hold_ps: tuple[float, ...] = (200.0,)
    # a frame every so many K while cooling (paper Figs 6-7: 10); needed by [analysis] formation
    cool_frame_every_K: float | None = None
    # passed verbatim to `pylbs quench --mlp`, e.g. "--max-devi-f 0.3 --min-distance Li-O=1.3"
    extra_args: str = ""
    np: int = 1
    gpus: int = 1
    walltime: str = "24:00:00"


@dataclass(frozen=True)
class AnalysisSpec:
    enabled: bool = True
    fmp: bool = True
    mlp: bool = True
    # 3MR formation while cooling (Figs 6-7) of every MLP run: `pylbs analyze REPLICA --formation`
    formation: bool = False


@dataclass(frozen=True)
class TgSpec:
    enabled: bool = True
    glasses: tuple[str, ...] | None = None  # None: every campaign glass
    sizes: tuple[int, ...] = (300,)
    schedule: str = "anneal"  # which MLP structure (potential = "mlp")
    potential: str = "mlp"
    replicas: int = 3
    rate_K_per_ps: float = 10.0
    t_max: float = 2000.0
    ensemble: str = "nvt"  # the paper: "under a canonical ensemble (NVT)"
    time_scale: float = 1.0
    # passed verbatim to the command (`pylbs tg` / `pylbs diffusion`), e.g. "--min-distance Li-O=1.3"
    extra_args: str = ""
    np: int = 1
    gpus: int = 1
    walltime: str = "24:00:00"


@dataclass(frozen=True)
class DiffusionSpec:
    enabled: bool = True
    glasses: tuple[str, ...] | None = None
    sizes: tuple[int, ...] = (1000,)
    schedules: tuple[str, ...] = SCHEDULES
    replicas: int | None = None  # structures per (glass, size, schedule); None: all of [fmp] replicas
    potential: str = "mlp"
    temperatures: tuple[float, ...] = (500.0, 600.0, 700.0, 900.0)
    ensemble: str = "nvt"
    duration_ps: float = 300.0
    time_scale: float = 1.0
    # passed verbatim to the command (`pylbs tg` / `pylbs diffusion`), e.g. "--min-distance Li-O=1.3"
    extra_args: str = ""
    np: int = 1
    gpus: int = 1
    walltime: str = "24:00:00"


@dataclass(frozen=True)
class ClusterSpec:
    """Passed to dpdispatcher (Machine + Resources); see docs/campaigns.md."""

    batch_type: str = "Slurm"  # Slurm | PBS | LSF | Shell
    context_type: str = "LazyLocalContext"  # run on the cluster's login node (shared file system)
    remote_root: str | None = None  # default: the campaign root
    remote_profile: dict = field(default_factory=dict)  # SSHContext: hostname, username, ...
    partition: str = ""
    partitions: dict = field(default_factory=dict)  # per task kind, e.g. {fmp = "cpu", analysis = "cpu"}
    nodes: int = 1
    cpus_per_node: int | None = None  # default: the task's MPI ranks
    gpus_per_node: int | None = None  # default: the task's gpus
    walltime: str | None = None  # default: the task kind's walltime
    group_size: int = 1
    module_list: tuple[str, ...] = ()
    source_list: tuple[str, ...] = ()
    envs: dict = field(default_factory=dict)
    custom_flags: tuple[str, ...] = ()
    check_interval: int = 60


@dataclass(frozen=True)
class ResourcesSpec:
    mode: str = "local"  # local | cluster
    cores: int = 2  # local: MPI ranks running at the same time, all tasks together
    gpus: int = 0  # local: GPUs of this machine (one task per GPU via CUDA_VISIBLE_DEVICES); 0: all on CPU
    mpirun: str | None = None  # default: the mpirun next to the running Python, else "mpirun"
    python: str | None = None  # default: the running Python locally, "python" on a cluster
    cluster: ClusterSpec = field(default_factory=ClusterSpec)


@dataclass(frozen=True)
class Campaign:
    name: str
    path: Path | None  # the campaign file (None: built in Python)
    root: Path
    store: Path
    glasses: tuple[str, ...]
    seed: int = 1
    fmp: FmpSpec = field(default_factory=FmpSpec)
    mlp: MlpSpec = field(default_factory=MlpSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    tg: TgSpec = field(default_factory=TgSpec)
    diffusion: DiffusionSpec = field(default_factory=DiffusionSpec)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    experiment: dict = field(default_factory=dict)
    text: str = ""  # the campaign file as written (kept in the store)


_SECTIONS = {"campaign", "glasses", "fmp", "mlp", "analysis", "tg", "diffusion", "resources", "experiment"}


def _campaign_model(spec: str, base: Path) -> str:
    """A shipped model's name (``default``) or a model file relative to the campaign file."""
    shipped = model_path(spec)
    return shipped if shipped != spec else str((base / spec).resolve())


def _take(section: dict, cls, where: str, convert: dict | None = None) -> Any:
    """Build dataclass ``cls`` from ``section``, rejecting unknown keys (typos) with the allowed ones."""
    allowed = {f for f in cls.__dataclass_fields__}
    unknown = set(section) - allowed
    if unknown:
        raise CampaignError(f"[{where}] has unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    kw = {}
    for k, v in section.items():
        conv = (convert or {}).get(k)
        kw[k] = conv(v) if conv else (tuple(v) if isinstance(v, list) else v)
    try:
        return cls(**kw)
    except TypeError as exc:  # pragma: no cover - dataclass signature mismatch
        raise CampaignError(f"[{where}]: {exc}") from exc


def _hold_list(value) -> tuple[float, ...]:
    """[mlp] anneal_hold_ps: one duration or a list of them (ps, positive), as a tuple."""
    holds = value if isinstance(value, list) else [value]
    if not holds or not all(isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0 for h in holds):
        raise CampaignError(f"[mlp] anneal_hold_ps = {value!r}; give a positive duration in ps or a list of them, "
                            "e.g. [200, 400, 600] (the paper's error bars)")
    return tuple(float(h) for h in holds)


def _glass_list(value, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value == "all":
        return tuple(CATALOG)
    if isinstance(value, str) or not isinstance(value, list):
        raise CampaignError(f"{where} = {value!r}; give \"all\" or a list of glass names, e.g. [\"LBS-20-60-20\"]")
    names = []
    for v in value:
        try:
            names.append(get_glass(v).name)
        except PylbsError as exc:
            raise CampaignError(f"{where}: {exc}") from exc
    return tuple(names)


def _ints(v):
    return tuple(int(x) for x in v)


def _floats(v):
    return tuple(float(x) for x in v)


def parse_campaign(data: dict, path: Path | None = None, text: str = "") -> Campaign:
    """A :class:`Campaign` from the parsed TOML ``data`` (``path``: the file, for relative paths)."""
    unknown = set(data) - _SECTIONS
    if unknown:
        raise CampaignError(f"unknown section(s) {sorted(unknown)} in the campaign file; allowed: {sorted(_SECTIONS)}")
    base = path.parent if path is not None else Path.cwd()
    head = dict(data.get("campaign", {}))
    name = head.pop("name", path.stem if path else None)
    if not name:
        raise CampaignError("[campaign] needs name = \"...\"")
    root = base / head.pop("root", f"runs/campaign-{name}")
    store = root / head.pop("store", "results.h5")
    seed = int(head.pop("seed", 1))
    if head:
        raise CampaignError(f"[campaign] has unknown key(s) {sorted(head)}; allowed: name, root, store, seed")
    glasses = _glass_list(data.get("glasses", {}).get("names", "all"), "[glasses] names")

    fmp = _take(data.get("fmp", {}), FmpSpec, "fmp", {"sizes": _ints})
    if fmp.parameter_file:
        fmp = FmpSpec(**{**fmp.__dict__, "parameter_file": str((base / fmp.parameter_file).resolve())})
    mlp_raw = dict(data.get("mlp", {}))
    # a shipped model's name ("default") or a file relative to the campaign file
    models = tuple(_campaign_model(m, base) for m in mlp_raw.pop("models", []))
    mlp = _take(mlp_raw, MlpSpec, "mlp", {"schedules": tuple, "t_max": dict, "anneal_hold_ps": _hold_list})
    mlp = MlpSpec(**{**mlp.__dict__, "models": models})
    analysis = _take(data.get("analysis", {}), AnalysisSpec, "analysis")
    tg = _take(data.get("tg", {}), TgSpec, "tg", {"sizes": _ints, "glasses": lambda v: _glass_list(v, "[tg] glasses")})
    diffusion = _take(data.get("diffusion", {}), DiffusionSpec, "diffusion",
                      {"sizes": _ints, "temperatures": _floats,
                       "glasses": lambda v: _glass_list(v, "[diffusion] glasses")})
    res_raw = dict(data.get("resources", {}))
    cluster = _take(res_raw.pop("cluster", {}), ClusterSpec, "resources.cluster")
    resources = _take(res_raw, ResourcesSpec, "resources")
    # relative files to source (a venv's activate) are relative to the campaign file, like every path in it
    cluster = ClusterSpec(**{**cluster.__dict__, "source_list": tuple(
        s if Path(s).is_absolute() or s.startswith(("$", "~")) else str((base / s).resolve())
        for s in cluster.source_list)})
    resources = ResourcesSpec(**{**resources.__dict__, "cluster": cluster})
    experiment = dict(data.get("experiment", {}))

    c = Campaign(name=str(name), path=path, root=root.resolve(), store=store.resolve(), glasses=glasses, seed=seed,
                 fmp=fmp, mlp=mlp, analysis=analysis, tg=tg, diffusion=diffusion, resources=resources,
                 experiment=experiment, text=text)
    _check(c)
    return c


def _check(c: Campaign) -> None:
    if c.fmp.replicas < 1 or not c.fmp.sizes:
        raise CampaignError("[fmp] needs sizes = [..] and replicas >= 1")
    if c.fmp.ensemble not in ("nvt", "npt"):
        raise CampaignError(f"[fmp] ensemble = {c.fmp.ensemble!r}; give \"nvt\" (measured density, the paper's "
                            "default) or \"npt\" (1 bar)")
    for s in c.mlp.schedules:
        if s not in SCHEDULES:
            raise CampaignError(f"[mlp] schedules has {s!r}; allowed: {list(SCHEDULES)}")
    if c.mlp.enabled and not c.mlp.models:
        needs = [k for k, sec in (("tg", c.tg), ("diffusion", c.diffusion)) if sec.enabled and sec.potential == "mlp"]
        raise CampaignError("[mlp] is enabled but lists no models; give models = [\"model.pth\"] (train one with "
                            "`pylbs mlp train`) or set enabled = false" +
                            (f" and potential = \"fmp\" in [{'], ['.join(needs)}]" if needs else ""))
    every = c.mlp.cool_frame_every_K
    if every is not None and not (isinstance(every, (int, float)) and every > 0):
        raise CampaignError(f"[mlp] cool_frame_every_K = {every}: give a positive step in K (the paper: 10)")
    if c.analysis.formation and c.mlp.enabled and every is None:
        raise CampaignError("[analysis] formation = true needs frames while cooling: set [mlp] cool_frame_every_K "
                            "(the paper: 10, a frame every 10 K)")
    for where, sec in (("tg", c.tg), ("diffusion", c.diffusion)):
        if sec.potential not in POTENTIALS:
            raise CampaignError(f"[{where}] potential = {sec.potential!r}; allowed: {list(POTENTIALS)}")
        if sec.enabled and sec.potential == "mlp" and not c.mlp.enabled:
            raise CampaignError(f"[{where}] runs on MLP structures but [mlp] is disabled; enable [mlp] or set "
                                f"potential = \"fmp\" in [{where}]")
        missing = [n for n in getattr(sec, "sizes", ()) if n not in c.fmp.sizes]
        if sec.enabled and missing:
            raise CampaignError(f"[{where}] sizes {missing} are not in [fmp] sizes {list(c.fmp.sizes)}")
    if c.tg.schedule not in SCHEDULES:
        raise CampaignError(f"[tg] schedule = {c.tg.schedule!r}; allowed: {list(SCHEDULES)}")
    for s in c.diffusion.schedules:
        if s not in SCHEDULES:
            raise CampaignError(f"[diffusion] schedules has {s!r}; allowed: {list(SCHEDULES)}")
    if c.resources.mode not in ("local", "cluster"):
        raise CampaignError(f"[resources] mode = {c.resources.mode!r}; allowed: \"local\", \"cluster\"")
    if c.resources.cores < 1:
        raise CampaignError("[resources] cores must be >= 1")


def load_campaign(path) -> Campaign:
    """Read and check a campaign TOML file (errors name the key and the fix)."""
    path = Path(path)
    if not path.is_file():
        raise CampaignError(f"campaign file {path} does not exist; see campaigns/laptop.toml for an example")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{path} is not valid TOML: {exc}") from exc
    return parse_campaign(data, path.resolve(), text)
