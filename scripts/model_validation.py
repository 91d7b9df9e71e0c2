#!/usr/bin/env python
"""Add a campaign's check of a shipped model to its card (docs/models.md, "Validation").

    pylbs campaign run campaigns/model_check.toml --report
    python scripts/model_validation.py campaigns/model_check.toml

Reads the campaign's store: 4B of every glass from FMP and from the model's MLP stage (mean
over the frames of the last 100 ps, as the paper), 3B_ring of the analysis, the measured 4B
(Table 1), and every MLP run that failed (a guard stop names its reason). Writes them to the
card of the model the campaign ran (``validation_4B``), draws ``validation_4B.png`` beside the
model (4B of FMP and of the model against the measured values) and prints the table.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from pylbs import paper_data as paper
from pylbs.analysis.plots import plot_4B_vs_measured
from pylbs.campaign.report import report_data
from pylbs.campaign.spec import load_campaign
from pylbs.campaign.store import Store
from pylbs.mlp.card import add_section
from pylbs.potential.models import SHIPPED_DIR


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("campaign", help="the campaign file that ran the model (campaigns/model_check.toml)")
    args = p.parse_args(argv)
    c = load_campaign(args.campaign)
    model = Path(c.mlp.models[0])
    if model.parent.parent != SHIPPED_DIR:
        sys.exit(f"{model} is not a shipped model (pylbs/data/models/NAME/model.pth)")
    store = Store(c.store)
    data = report_data(c.store)
    rows = {}
    for key, v in data.get("4B", {}).items():
        kind, stage, n, glass = key.split(":", 3)
        rows.setdefault(glass, {})[f"4B_{kind}"] = v["mean"]
    for key, v in data.get("3B_ring", {}).items():
        kind, stage, n, glass = key.split(":", 3)
        rows.setdefault(glass, {})[f"3B_ring_{'mlp' if stage.startswith('mlp') else 'fmp'}"] = v["mean"]
    for glass, row in rows.items():
        row["4B_measured"] = paper.measured_4B_percent(glass) / 100 if glass in paper.TABLE1 else None
    errors = {}
    both = [g for g, r in rows.items() if None not in (r.get("4B_fmp"), r.get("4B_mlp"), r.get("4B_measured"))]
    for kind in ("fmp", "mlp"):
        for label, glasses in ((kind, [g for g in rows if None not in (rows[g].get(f"4B_{kind}"),
                                                                        rows[g].get("4B_measured"))]),
                               (f"{kind}_on_common_glasses", both)):
            d = [100 * (rows[g][f"4B_{kind}"] - rows[g]["4B_measured"]) for g in glasses]
            errors[label] = {"glasses": len(d), "mean_pp": float(np.mean(d)) if d else None,
                             "rms_pp": float(np.sqrt(np.mean(np.square(d)))) if d else None}
    png = plot_4B_vs_measured({f"FMP ({c.fmp.time_scale:g} time scale)": {g: r.get("4B_fmp") for g, r in rows.items()},
                               f"{model.parent.name} {'/'.join(c.mlp.schedules)}": {g: r.get("4B_mlp")
                                                                                    for g, r in rows.items()}},
                              model.parent / "validation_4B.png")
    failed = [{"task": r["id"], "glass": r.get("glass"), "why": _why(Path(c.root) / "runs" / r["id"])}
              for r in store.table("mlp", status="failed")]
    done = len(store.table("mlp"))
    section = {"command": f"pylbs campaign run {args.campaign} --report; python scripts/model_validation.py "
                          f"{args.campaign}",
               "scale": {"atoms": max(c.fmp.sizes), "fmp_time_scale": c.fmp.time_scale,
                         "mlp_schedules": list(c.mlp.schedules), "mlp_time_scale": c.mlp.time_scale},
               "glasses": rows, "error_vs_measured_4B": errors, "plot": png.name,
               "mlp_runs_finished": done, "mlp_runs_failed": failed}
    add_section(model.parent.name, "validation_4B", section)
    print(f"{'glass':<14}{'4B FMP':>9}{'4B MLP':>9}{'measured':>10}{'3B_ring MLP':>13}")
    for glass in sorted(rows):
        r = rows[glass]
        print(f"{glass:<14}" + "".join(f"{_pct(r.get(k)):>{w}}" for k, w in
                                        (("4B_fmp", 9), ("4B_mlp", 9), ("4B_measured", 10), ("3B_ring_mlp", 13))))
    for kind, e in errors.items():
        if e["glasses"]:
            print(f"4B {kind.replace('_', ' ')} - measured over {e['glasses']} glasses: mean {e['mean_pp']:+.1f}, "
                  f"rms {e['rms_pp']:.1f} percentage points")
    print(f"plot: {png}")
    print(f"MLP runs: {done} finished, {len(failed)} failed" + "".join(f"\n  {f['task']}: {f['why']}" for f in failed))
    return 0


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _why(folder: Path) -> str:
    log = folder / "task.log"
    if not log.exists():
        return "no task.log"
    lines = log.read_text(errors="replace").splitlines()
    errors = [ln for ln in lines if "error" in ln.lower()]
    last = (errors or lines or ["empty task.log"])[-1]
    last = last.split(" The MLP left")[0]  # the event, without the advice that follows it
    return re.sub(r" in /\S+: ", ": ", last.removeprefix("pylbs: error: "))[:300]


if __name__ == "__main__":
    sys.exit(main())
