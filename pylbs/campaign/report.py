"""``pylbs report STORE``: the campaign's results next to the paper's numbers (markdown + PNG).

Sections (each only with the data it needs; the experimental columns are always shown):

1. 4B per glass vs the measured 4B of Table 1, for each stage (FMP, MLP fast,
   MLP anneal) and size, mean +- sample std over replicas (n given).
2. 3B_ring share (3B in three-membered rings / all 3B) vs Table 2's MLP, AIMD and NMR.
3. Li activation energy Ea vs Table 3 (the paper's MLP) and the experimental ranges quoted with it.
4. Tg vs the paper's quoted MLP value and the user's experimental values (``[experiment] tg_K``).
5. C_Li*D at 500 K vs the user's experimental conductivity (``[experiment] conductivity_S_cm``).
6. Provenance: versions, git commit, potential and model hashes, failed runs.

Figures use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
import math
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import paper_data as paper
from ..plotting import pyplot, save
from ..stats import STD_CONVENTION, mean_std
from .store import Store

#: (name, cooling rate in K/ps at time scale 1) of each stage: the paper's protocols
STAGES = {"fmp": ("FMP", "1"), "mlp-fast": ("MLP", "10"), "mlp-anneal": ("MLP", "10 → 2")}


def stage_label(stage: str, time_scale=None) -> str:
    """"MLP 10 K/ps" at the paper's time scale; a shortened run says its real rate ("MLP 1000 K/ps
    (time scale 0.01)") so a preview is never labelled with the paper's rate."""
    name, rate = STAGES.get(stage, (stage, None))
    if rate is None:
        return name
    ts = 1.0 if time_scale in (None, "") or (isinstance(time_scale, float) and math.isnan(time_scale)) \
        else float(time_scale)
    scaled = " → ".join(f"{float(r) / ts:g}" for r in rate.split(" → "))
    return f"{name} {scaled} K/ps" + ("" if ts == 1.0 else f" (time scale {ts:g})")


def _labels(rows) -> dict:
    """stage -> label from the time scales of the runs that made its structures (fmp, mlp; several:
    every one, comma-separated). Records from before pylbs stored the time scale say so."""
    scales: dict = defaultdict(set)
    for r in rows:
        if r.get("stage") and r.get("kind") in ("fmp", "mlp"):
            scales[r["stage"]].add(r.get("time_scale") if r.get("time_scale") not in ("", None) else None)

    def label(stage, ts):
        if ts is None:
            return f"{STAGES.get(stage, (stage,))[0]} (rate not recorded)"
        return stage_label(stage, ts)

    return defaultdict(str, {st: ", ".join(label(st, t) for t in sorted(ts, key=lambda x: (x is None, x or 0.0)))
                             for st, ts in scales.items()})


def _sample_window(rows) -> str:
    """The sampled window the frame means cover: the paper's last 100 ps, shortened by each run's time scale."""
    scales = sorted({float(r["time_scale"]) for r in rows if r.get("time_scale") not in ("", None)
                     and not math.isnan(float(r["time_scale"]))})
    if not scales or scales == [1.0]:
        return "last 100 ps (paper)"
    return ("last 100 ps x time scale (paper: 100 ps; here " + ", ".join(f"{100 * t:g} ps at time scale {t:g}"
                                                                       for t in scales) + ")")


def _pm(mean, std, n=None, scale=1.0, digits=1):
    if mean is None:
        return "–"
    s = f"{mean * scale:.{digits}f}"
    if std is not None and (n is None or n > 1):
        s += f" ± {std * scale:.{digits}f}"
    if n is not None:
        s += f" (n={n})"
    return s


def _num(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _glass_order(names):
    order = list(paper.TABLE1)
    return sorted(set(names), key=lambda g: (order.index(g) if g in order else len(order), g))


def _experiment(store: Store, experiment_file) -> dict:
    exp = {}
    text = store.campaign_text()
    if text:
        exp.update(tomllib.loads(text).get("experiment", {}))
    if experiment_file:
        data = tomllib.loads(Path(experiment_file).read_text())
        for k, v in data.get("experiment", data).items():
            exp[k] = {**exp.get(k, {}), **v} if isinstance(v, dict) else v
    return exp


def _series(rows, key):
    """(stage, n_atoms) -> glass -> list of values of ``key``."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        v = r.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out[(r["stage"], int(r["n_atoms"]))][r["glass"]].append(float(v))
    return out


def _fig_vs_experiment(series, exp_of, path, xlabel, ylabel, labels, scale=100.0, limits=None):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    lo, hi = list(limits or ()), list(limits or ())
    for (stage, n), per in sorted(series.items()):
        xs, ys, es = [], [], []
        for g, vals in per.items():
            x = exp_of(g)
            m, s, _ = mean_std(vals)
            if x is None or m is None:
                continue
            xs.append(x)
            ys.append(m * scale)
            es.append(s * scale)
        if xs:
            ax.errorbar(xs, ys, yerr=es, fmt="o", capsize=3, label=f"{labels[stage] or stage}, {n} atoms")
            for g, x_, y_ in zip([g for g in per if exp_of(g) is not None and mean_std(per[g])[0] is not None],
                                 xs, ys):
                ax.annotate(g.removeprefix("LBS-"), (x_, y_), fontsize=6, xytext=(3, 3), textcoords="offset points")
            lo += xs + ys
            hi += xs + ys
    if lo:
        a, b = min(lo), max(hi)
        ax.plot([a, b], [a, b], "k--", lw=0.8, label="simulation = experiment")
        ax.legend(fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    save(fig, path)


def write_report(store_path, out_dir, experiment_file=None) -> Path:
    """Write ``out_dir/report.md`` and its PNG figures; returns the markdown path."""
    store = Store(store_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exp = _experiment(store, experiment_file)
    all_rows = store.table(status=None)
    done = [r for r in all_rows if r["status"] == "done"]
    failed = [r for r in all_rows if r["status"] == "failed"]
    name = store.campaign_name()
    lab = _labels(done)
    md = [f"# Campaign report: {name}", "",
          f"Store: `{Path(store_path).resolve()}`; {len(done)} finished run(s), {len(failed)} failed.",
          f"Simulated values: mean ± spread over replicas (n = number of runs; {STD_CONVENTION}). "
          "Experimental and reference values: the paper's Tables 1-3 (`pylbs.paper_data`) and, "
          "where marked, values given in the campaign's `[experiment]` section.", ""]

    # 1. 4B vs Table 1 ----------------------------------------------------
    quench = [r for r in done if r["kind"] in ("fmp", "mlp")]
    s4 = _series(quench, "fraction_4B")
    keys = sorted(s4)
    md += ["## 1. Four-fold boron (4B) vs experiment (Table 1)", ""]
    mlp_rows = [r for r in done if r["kind"] == "mlp"]
    e4, e5, s5 = _series(mlp_rows, "emin_fraction_4B"), _series(mlp_rows, "emin_fraction_5Si"), \
        _series(quench, "fraction_5Si")
    header = ["glass", "SiO2", "B2O3", "Li2O", "4B exp. (Table 1) %", "density exp. g/cm³"] + \
        [f"4B {lab[st] or st}, {n} atoms %" for st, n in keys] + \
        [f"4B after Emin, {lab[st] or st}, {n} atoms %" for st, n in sorted(e4)] + \
        [f"5Si {lab[st] or st}, {n} atoms %" for st, n in sorted(s5)] + \
        [f"5Si after Emin, {lab[st] or st}, {n} atoms %" for st, n in sorted(e5)]
    rows = []
    for g in _glass_order(list(paper.TABLE1) + [gl for k in keys for gl in s4[k]]):
        t1 = paper.TABLE1.get(g)
        row = [g] + ([f"{t1[0]:g}", f"{t1[1]:g}", f"{t1[2]:g}", f"{t1[5]:.1f}", f"{t1[6]:.2f}"] if t1
                     else ["–"] * 5)
        for ser in (s4, e4, s5, e5):
            row += [_pm(*mean_std(ser[k].get(g, [])), scale=100) for k in sorted(ser)]
        rows.append(row)
    md += _table(header, rows) + [""]
    md += [f"4B and 5Si: mean over the frames of each run's {_sample_window(quench)}, then mean ± spread over "
           "runs; 'after Emin': the minimised final structure (the paper's Emin columns).", ""]
    if keys:
        _fig_vs_experiment(s4, paper.measured_4B_percent, out / "fig_4B.png", "4B experiment (Table 1) [%]",
                           "4B simulation [%]", lab, limits=(0.0, 70.0))
        md += ["![4B simulation vs experiment](fig_4B.png)", ""]

    # 2. 3B_ring vs Table 2 -----------------------------------------------
    ana = [r for r in done if r["kind"] == "analysis"]
    s3 = _series(ana, "fraction_3B_in_3MR")
    f3 = _series(ana, "frame_std_fraction_3B_in_3MR")
    keys3 = sorted(s3)
    md += ["## 2. 3B in three-membered rings (3B_ring / 3B) vs Table 2", "",
           "Mean ± spread over runs of each run's frame mean; 'frame std': the frame-to-frame spread within "
           "a run, averaged over the runs (the two spreads are kept apart).", ""]
    header = ["glass"] + [f"3B_ring {lab[st] or st}, {n} atoms %" for st, n in keys3] + \
        [f"frame std, {lab[st] or st}, {n} atoms %" for st, n in keys3] + \
        ["paper MLP (Table 2) %", "AIMD (Table 2) %", "NMR (Table 2) %"]
    rows = []
    for g in _glass_order(list(paper.TABLE2_3B_RING) + [gl for k in keys3 for gl in s3[k]]):
        t2 = paper.TABLE2_3B_RING.get(g, {})
        mlp = t2.get("MLP")
        row = [g] + [_pm(*mean_std(s3[k].get(g, [])), scale=100) for k in keys3]
        row += [_pm(mean_std(f3.get(k, {}).get(g, []))[0], None, scale=100, digits=2) for k in keys3]
        row += [("–" if mlp is None else (f"{mlp[0]:.1f}" + (f" ± {mlp[1]:.1f}" if mlp[1] is not None else ""))),
                _num(t2.get("AIMD")), _num(t2.get("NMR"))]
        rows.append(row)
    md += _table(header, rows) + [""]
    classes = [("three_membered", "3MRs (all)")] + \
        [(f"three_membered_boron_{k}x4B", f"B-only 3MRs with {k} 4B") for k in "0123"] + \
        [("three_membered_with_si", "3MRs with Si")]
    sc = {key: _series(ana, key) for key, _ in classes}
    kc = sorted({k for ser in sc.values() for k in ser})
    if kc:
        md += ["Three-membered rings per glass (frame means of each run, then mean ± spread over runs; "
               "classes by the number of 4B members, as in the paper's ring analysis):", ""]
        header = ["glass", "stage"] + [name for _, name in classes]
        rows = []
        for g in _glass_order([gl for ser in sc.values() for k in ser for gl in ser[k]]):
            for k in kc:
                rows.append([g, f"{lab[k[0]] or k[0]}, {k[1]} atoms"] +
                            [_pm(*mean_std(sc[key][k].get(g, [])), digits=2) for key, _ in classes])
        md += _table(header, rows) + [""]
    if keys3:
        _fig_3bring(s3, out / "fig_3Bring.png", lab)
        md += ["![3B_ring share](fig_3Bring.png)", ""]

    # 3. Ea vs Table 3 ------------------------------------------------------
    dif = [r for r in done if r["kind"] == "diffusion"]
    sea: dict = defaultdict(lambda: defaultdict(list))
    for r in dif:
        if r.get("Ea_eV") is not None:
            sea[(r["potential"], int(r["n_atoms"]))][r["glass"]].append(r["Ea_eV"])
    md += ["## 3. Li activation energy Ea vs Table 3", ""]
    kea = sorted(sea)
    header = ["glass"] + [f"Ea {p.upper()}, {n} atoms (eV)" for p, n in kea] + ["paper MLP (Table 3) eV"]
    rows = []
    for g in _glass_order(list(paper.TABLE3_EA_MLP) + [gl for k in kea for gl in sea[k]]):
        t3 = paper.TABLE3_EA_MLP.get(g)
        rows.append([g] + [_pm(*mean_std(sea[k].get(g, [])), digits=2) for k in kea] +
                    ["–" if t3 is None else f"{t3[0]:.2f} ± {t3[1]:.2f}"])
    md += _table(header, rows) + [""]
    md += ["Experimental Ea quoted with Table 3: " + "; ".join(
        f"{lo:.2f}-{hi:.2f} eV for {what} ({ref})" for lo, hi, what, ref in paper.EA_EXPERIMENT_RANGES) + ".", ""]
    if kea:
        _fig_ea(sea, out / "fig_Ea.png")
        md += ["![Ea](fig_Ea.png)", ""]

    # 4. Tg -------------------------------------------------------------------
    tgs = [r for r in done if r["kind"] == "tg"]
    exp_tg = {k: float(v) for k, v in (exp.get("tg_K") or {}).items()}
    stg: dict = defaultdict(lambda: defaultdict(list))
    tg_err: dict = {}
    for r in tgs:
        if r.get("tg_K") is not None:
            stg[(r["stage"], int(r["n_atoms"]))][r["glass"]].append(r["tg_K"])
            tg_err[(r["stage"], int(r["n_atoms"]), r["glass"])] = r.get("tg_err_K")
    md += ["## 4. Glass transition temperature Tg", ""]
    ktg = sorted(stg)
    if ktg or exp_tg:
        header = ["glass"] + [f"Tg {lab[st] or st}, {n} atoms (K)" for st, n in ktg] + \
            ["paper MLP (text) K", "experiment (user) K"]
        rows = []
        for g in _glass_order([gl for k in ktg for gl in stg[k]] + list(exp_tg)):
            cells = []
            for k in ktg:
                vals = stg[k].get(g, [])
                m, s, n = mean_std(vals)
                if n == 1:  # one task: its spread over heating replicas
                    s = tg_err.get((*k, g))
                    cells.append("–" if m is None else f"{m:.0f} ± {s:.0f} (replica std)" if s is not None
                                 else f"{m:.0f}")
                else:
                    cells.append(_pm(m, s, n, digits=0))
            pm = paper.TG_MLP.get(g)
            rows.append([g] + cells + ["–" if pm is None else f"{pm[0]:.0f} ± {pm[1]:.0f}",
                                       _num(exp_tg.get(g), 0)])
        md += _table(header, rows) + [""]
        if ktg and exp_tg:
            _fig_vs_experiment(stg, lambda g: exp_tg.get(g), out / "fig_Tg.png", "Tg experiment [K]",
                               "Tg simulation [K]", lab, scale=1.0)
            md += ["![Tg](fig_Tg.png)", ""]
    if not exp_tg:
        md += ["No experimental Tg given: add `[experiment.tg_K]` with `\"LBS-20-60-20\" = <K>` entries to the "
               "campaign file (the paper shows them in Figure 8 only).", ""]

    # 5. C_Li * D ----------------------------------------------------------------
    T0 = paper.CONDUCTIVITY_COMPARISON_T_K
    key = f"C_Li_times_D_per_cm_s_{T0:g}K"
    exp_sig = {k: float(v) for k, v in (exp.get("conductivity_S_cm") or {}).items()}
    scd: dict = defaultdict(lambda: defaultdict(list))
    for r in dif:
        if r.get(key) is not None:
            scd[(r["potential"], int(r["n_atoms"]))][r["glass"]].append(r[key])
    md += [f"## 5. C_Li × D at {T0:g} K vs experimental conductivity", ""]
    kcd = sorted(scd)
    if kcd or exp_sig:
        header = ["glass"] + [f"C_Li·D {p.upper()}, {n} atoms (1/(cm·s))" for p, n in kcd] + \
            ["σ experiment (user) S/cm"]
        rows = []
        for g in _glass_order([gl for k in kcd for gl in scd[k]] + list(exp_sig)):
            cells = []
            for k in kcd:
                m, s, n = mean_std(scd[k].get(g, []))
                cells.append("–" if m is None else f"{m:.3g} ± {s:.2g} (n={n})" if n > 1 else f"{m:.3g} (n=1)")
            rows.append([g] + cells + ["–" if g not in exp_sig else f"{exp_sig[g]:.3g}"])
        md += _table(header, rows) + [""]
        if kcd and exp_sig:
            _fig_conductivity(scd, exp_sig, out / "fig_conductivity.png")
            md += ["![C_Li D vs conductivity](fig_conductivity.png)", ""]
    if not exp_sig:
        md += ["No experimental conductivity given: add `[experiment.conductivity_S_cm]` entries to the campaign "
               "file (the paper shows Tsuda et al.'s values in Figure 9a only).", ""]

    # 6. provenance --------------------------------------------------------------
    md += ["## 6. Provenance", ""]
    md += _provenance(store, done) + [""]
    if failed:
        md += ["### Failed runs", ""]
        recs = store.records()
        for r in failed:
            tail = (recs[r["id"]].get("log_tail") or "").splitlines()[-6:]
            md += [f"- `{r['id']}`", "", "```", *tail, "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _provenance(store: Store, done) -> list[str]:
    recs = store.records()
    commits, versions, params, models = set(), {}, set(), set()
    for r in done:
        p = recs[r["id"]]["provenance"]
        g = p.get("git") or {}
        commits.add(f"{g.get('commit')}{' (dirty)' if g.get('dirty') else ''}")
        versions.update({k: v for k, v in (p.get("versions") or {}).items() if v})
        pot = p.get("potential") or {}
        if pot.get("parameter_file"):
            params.add(f"`{pot['parameter_file']}` sha256 {pot.get('parameter_file_sha256')}")
        for m in pot.get("models") or []:
            models.add(f"`{m['path']}` sha256 {m.get('sha256')}")
    lines = [f"- git commit(s): {', '.join(sorted(commits)) or '–'}",
             "- versions: " + (", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "–"),
             "- FMP parameter file(s): " + ("; ".join(sorted(params)) or "–"),
             "- DeepMD model(s): " + ("; ".join(sorted(models)) or "–"),
             "- per run (seeds, schedule, commands): `Store(path).provenance(task_id)`"]
    return lines


def _fig_3bring(series, path, labels):
    plt = pyplot()
    glasses = _glass_order([g for per in series.values() for g in per] +
                           [g for g, v in paper.TABLE2_3B_RING.items() if v.get("MLP")])
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(glasses) + 2), 4))
    keys = sorted(series)
    width = 0.8 / (len(keys) + 2)
    x = np.arange(len(glasses))
    for i, k in enumerate(keys):
        ms = [mean_std(series[k].get(g, [])) for g in glasses]
        ax.bar(x + i * width, [np.nan if m is None else 100 * m for m, _, _ in ms], width,
               yerr=[100 * (s or 0) for _, s, _ in ms], capsize=2,
               label=f"{labels[k[0]] or k[0]}, {k[1]} atoms")
    ref = [paper.TABLE2_3B_RING.get(g, {}).get("MLP") for g in glasses]
    ax.bar(x + len(keys) * width, [r[0] if r else 0 for r in ref], width,
           yerr=[(r[1] or 0) if r else 0 for r in ref], capsize=2, label="paper MLP (Table 2)", color="0.6")
    nmr = [paper.TABLE2_3B_RING.get(g, {}).get("NMR") for g in glasses]
    ax.plot([xi + len(keys) * width for xi, v in zip(x, nmr) if v], [v for v in nmr if v], "k*", label="NMR")
    aimd = [paper.TABLE2_3B_RING.get(g, {}).get("AIMD") for g in glasses]
    ax.plot([xi + len(keys) * width for xi, v in zip(x, aimd) if v], [v for v in aimd if v], "rx", label="AIMD")
    ax.set_xticks(x + width * len(keys) / 2)
    ax.set_xticklabels(glasses, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("3B_ring / 3B [%]")
    ax.legend(fontsize=7)
    save(fig, path)


def _fig_conductivity(series, exp_sig, path):
    """C_Li·D (left, 1/(cm·s)) and the experimental σ (right, S/cm) per glass on two log axes:
    different quantities, so trends are compared, not values (no parity line)."""
    plt = pyplot()
    glasses = _glass_order([g for per in series.values() for g in per] + list(exp_sig))
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(glasses) + 2), 4))
    x = np.arange(len(glasses))
    for i, (pot, n) in enumerate(sorted(series)):
        ms = [mean_std(series[(pot, n)].get(g, [])) for g in glasses]
        ax.errorbar(x + 0.08 * i, [np.nan if m is None else m for m, _, _ in ms],
                    yerr=[0 if s is None else s for _, s, _ in ms], fmt="o", capsize=3,
                    label=f"C_Li·D {pot.upper()}, {n} atoms")
    ax.set_yscale("log")
    ax.set_ylabel("C_Li·D simulation [1/(cm·s)]")
    ax2 = ax.twinx()
    ax2.plot(x, [exp_sig.get(g, np.nan) for g in glasses], "ks", mfc="none", label="σ experiment (user)")
    ax2.set_yscale("log")
    ax2.set_ylabel("σ experiment [S/cm]")
    ax.set_xticks(x)
    ax.set_xticklabels(glasses, rotation=45, ha="right", fontsize=7)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7)
    save(fig, path)


def _fig_ea(series, path):
    plt = pyplot()
    glasses = _glass_order([g for per in series.values() for g in per] + list(paper.TABLE3_EA_MLP))
    fig, ax = plt.subplots(figsize=(5, 4))
    x = np.arange(len(glasses))
    for k, per in sorted(series.items()):
        ms = [mean_std(per.get(g, [])) for g in glasses]
        ax.errorbar(x, [np.nan if m is None else m for m, _, _ in ms], yerr=[s or 0 for _, s, _ in ms], fmt="o-",
                    capsize=3, label=f"{k[0].upper()}, {k[1]} atoms")
    ref = [paper.TABLE3_EA_MLP.get(g) for g in glasses]
    ax.errorbar(x, [r[0] if r else np.nan for r in ref], yerr=[r[1] if r else 0 for r in ref], fmt="s--",
                color="0.5", capsize=3, label="paper MLP (Table 3)")
    for lo, hi, what, ref_ in paper.EA_EXPERIMENT_RANGES:
        ax.axhspan(lo, hi, alpha=0.12, label=f"experiment {ref_}")
    ax.set_xticks(x)
    ax.set_xticklabels(glasses, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("Ea [eV]")
    ax.legend(fontsize=7)
    save(fig, path)


def report_data(store_path) -> dict:
    """The aggregated numbers behind the report (for notebooks): 4B, 3B_ring, Ea, Tg per glass."""
    store = Store(store_path)
    done = store.table()
    out = {}
    for kind, key, name in (("fmp", "fraction_4B", "4B"), ("mlp", "fraction_4B", "4B"),
                            ("analysis", "fraction_3B_in_3MR", "3B_ring"), ("diffusion", "Ea_eV", "Ea_eV"),
                            ("tg", "tg_K", "tg_K")):
        for (stage, n), per in _series([r for r in done if r["kind"] == kind], key).items():
            for g, vals in per.items():
                m, s, k = mean_std(vals)
                out.setdefault(name, {})[f"{kind}:{stage}:{n}:{g}"] = {"mean": m, "std": s, "n": k}
    return json.loads(json.dumps(out))
