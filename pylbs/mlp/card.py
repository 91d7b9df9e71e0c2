"""A shipped model's card: ``card.json`` (every number, each with the command that made it) and
``card.md``, its rendering (docs/models.md carries that text).

:func:`pylbs.mlp.ship.ship` writes a card; validation runs add their sections later (:func:`add_section`;
4B of the catalogue glasses, MD speed, the shortened 2000 K check), the criterion's full-length
2000 K runs join its record run by run (:func:`enter_stability`), and a pair wall laid beside the
model after shipping is entered with :func:`record_wall`. Every change re-renders card.md, so the
two never disagree (tests/test_shipped_model.py checks it).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from ..errors import PylbsError
from ..glasses import CATALOG
from ..hashing import file_sha256
from ..jsonio import differing_keys, read_json, write_json_atomic
from ..paper_data import TABLE2_3B_RING
from ..potential.models import MODEL_FILE, SHIPPED_DIR
from ..potential.pair_wall import WALL_FILE, wall_of

CARD_FILE = "card.json"


def _read_card(dest: Path) -> dict:
    card = read_json(dest / CARD_FILE)
    if card is None:
        raise PylbsError(f"{dest} has no {CARD_FILE}; ship the model first (pylbs mlp ship)")
    return card


def write_card(dest: Path, card: dict) -> None:
    """card.json and card.md, its rendering, together: the two never disagree."""
    write_json_atomic(dest / CARD_FILE, card)
    (dest / "card.md").write_text(render(card))


def add_section(name: str, key: str, value, dest_root=SHIPPED_DIR) -> dict:
    """Add (or replace) a validation section of a shipped model's card; re-renders card.md."""
    dest = Path(dest_root) / name
    card = _read_card(dest)
    card[key] = value
    write_card(dest, card)
    return card


#: The card's record of the criterion's full-length stability runs (100 ps at 2000 K), kept run by run.
CRITERION_SECTION = "stability_criterion"
#: What makes two runs the same check: a run under other settings cannot join the record (the seed may differ).
_CRITERION_SETTINGS = ("temperature_K", "simulated_ps", "atoms", "guard_limits_A", "guard_confirm_ps",
                       "guard_floor_fraction", "pair_wall")


def enter_stability(name: str, summary: dict, full_length: bool, dest_root=SHIPPED_DIR) -> dict:
    """``pylbs mlp stability --card``: the criterion's own full-length runs join its record
    (:func:`add_criterion_glasses`); a shortened check replaces the card's ``stability`` section."""
    if full_length:
        return add_criterion_glasses(name, summary, dest_root)
    return add_section(name, "stability", summary, dest_root)


def add_criterion_glasses(name: str, summary: dict, dest_root=SHIPPED_DIR) -> dict:
    """Enter the glasses of a full-length stability run (``pylbs mlp stability --card`` at 100 ps) into
    the card's record of the criterion, each with its own command, and re-render card.md.

    Why run by run: at about two hours a glass on one core (the record's wall times), the 11 glasses
    are run over several sittings and machines; each run is added to the record (never replacing one: a glass run again keeps its
    earlier run, so a stop cannot be erased by a later pass), and the card says how far the criterion is.
    Every run must be of this card's model (its sha256) under one set of settings (the model's wall, the
    guard's rule and interval, length, temperature, atoms); the seed may differ."""
    dest = Path(dest_root) / name
    card = _read_card(dest)
    record = card.get(CRITERION_SECTION) or {"runs": []}
    model_sha = card["files"][MODEL_FILE]["sha256"]
    added = []
    for glass, result in summary["glasses"].items():
        sha = result.get("model_sha256")
        if sha != model_sha:
            what = ("does not record which model ran (a pylbs before 2026-12-04, and its log does not name the "
                    "model's compressed copy)" if sha is None else f"is of another model (sha256 {sha[:12]}...)")
            raise PylbsError(f"{glass}'s run {what}; the card's record takes runs of {dest / MODEL_FILE} (sha256 "
                             f"{model_sha[:12]}...) only: run {glass} again with --mlp {name}")
        new = _settings_of(result)
        for kept in record["runs"] + added:
            old = _settings_of(kept)
            if old != new:
                keys = differing_keys(old, new)
                raise PylbsError(
                    f"{glass}'s run differs from {kept['glass']}'s in the card's record of the 100 ps check "
                    f"({', '.join(keys)}: recorded {', '.join(f'{k} = {old.get(k)}' for k in keys)}); run {glass} "
                    f"with the recorded settings, or remove the section {CRITERION_SECTION!r} from "
                    f"{dest / CARD_FILE} to start the record again under the new ones")
        # the same run entered again (by another spelling of its command, too) is its result again: kept once
        if not any(r["glass"] == glass and _result_of(r) == result for r in record["runs"] + added):
            added.append({"glass": glass, **result, "command": summary["command"], "entered": time.strftime("%Y-%m-%d")})
    record["runs"] += added
    record["check"] = {k: v for k, v in summary["check"].items() if k != "glasses"}
    if summary.get("pair_wall"):
        record["pair_wall"] = summary["pair_wall"]
    # the command for any glass: the first run's own, with the glass left to the reader
    first = record["runs"][0]["command"] if record["runs"] else summary["command"]
    record["command"] = re.sub(r"--out \S+", "--out OUT", re.sub(r"--glasses .*? --", "--glasses GLASS --", first)) \
        + ("" if " --card" in first else " --card")
    card[CRITERION_SECTION] = record
    write_card(dest, card)
    return card


def _result_of(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("glass", "command", "entered")}


def _settings_of(result: dict) -> dict:
    request = result.get("request", {})
    return {**{k: request.get(k) for k in _CRITERION_SETTINGS}, "guard_every_ps": result.get("guard_every_ps")}


def record_wall(name: str, dest_root=SHIPPED_DIR) -> dict:
    """Enter the pair wall now beside a shipped model (laid there after shipping, e.g. by
    scripts/fit_pair_wall.py --model) into its card: the file and its hash, and the terms."""
    dest = Path(dest_root) / name
    card = _read_card(dest)
    wall = wall_entries(dest)
    if wall is None:
        raise PylbsError(f"{dest} has no {WALL_FILE}; fit one (scripts/fit_pair_wall.py ... --model {name})")
    card["files"][WALL_FILE], card["pair_wall"] = wall
    write_card(dest, card)
    return card


def wall_entries(dest: Path) -> tuple[dict, dict] | None:
    """The card's entries for the wall beside ``dest/model.pth``: its file (hash, size) and its terms."""
    wall = wall_of(dest / MODEL_FILE)  # a broken file fails here, with its own message
    if wall is None:
        return None
    return ({"sha256": file_sha256(dest / WALL_FILE), "bytes": (dest / WALL_FILE).stat().st_size},
            {"terms": wall.to_dict()["terms"], "made_by": wall.about.get("made_by"),
             "errors": "the error tables are the model's alone, against the teacher"})


def docs_copy(card_md: str, name: str) -> str:
    """card.md as docs/models.md carries it under "#### Card of `NAME`": without its heading, with its
    images linked from docs/ (``scripts/sync_model_docs.py`` lays it there)."""
    body = card_md.split("\n", 2)[2]  # "### Model `NAME`", a blank line, then the card
    return re.sub(r"\]\(([^/():]+\.png)\)", rf"](../pylbs/data/models/{name}/\1)", body)


def _data_source(text: str, settings: dict, frames: int | None = None, held_out: bool = False) -> str:
    """A dataset's source line ("N: what"), with the temperatures, strains and conditions the loop's settings
    give it where its frame count shows they made it (a continued model's seed may come from other settings)."""
    count = re.match(r"(\d+): ", text)
    n = int(count.group(1)) if count else frames
    temps, strains = settings.get("seed_temperatures") or (), settings.get("seed_strains") or ()
    if held_out and n and temps and n % len(temps) == 0:  # learn.held_out_data: no strain
        seed = f"FMP-MD at {'/'.join(f'{t:g}' for t in temps)} K"
    elif n == settings.get("seed_frames", 0) * len(temps) * len(strains):
        seed = (f"FMP-MD at {'/'.join(f'{t:g}' for t in temps)} K x strain "
                f"{'/'.join(f'{100 * e:+g}' for e in strains)} %")
    else:
        seed = "FMP-MD frames"
    conditions = ", ".join(settings.get("conditions") or ()) or "every condition of glass_conditions"
    text = re.sub(r"FMP-MD frames labelled by [^\s,]+", seed, text)
    text = re.sub(r"(iteration \d+) candidates labelled by \S+", rf"\1 candidates ({conditions})", text)
    return re.sub(r"(\S*/)?([^/\s]+) labelled with .*", r"\2", text)  # a file's name, not its path and hash


def _continued(card: dict) -> str:
    c = card["hyperparameters"]["continued_from"]
    return f"`{c.get('name') or c['model']}` (sha256 `{c['sha256'][:16]}...`)"


def _window_of(r: dict, settings: dict) -> tuple[float, float]:
    """An iteration's trust window; a card from before iterations kept theirs had the loop's one window."""
    return tuple(r.get("trust_levels") or (settings["trust_lo"], settings["trust_hi"]))


def _windows(card: dict) -> str:
    """The trust window the loop's iterations selected with: one, or each iteration's (a resumed loop may
    change it)."""
    s = card["loop"]["settings"]
    windows = {_window_of(r, s) for r in card["loop"]["iterations"]}
    if len(windows) > 1:
        return "trust window per iteration (the convergence record)"
    lo, hi = windows.pop() if windows else (s["trust_lo"], s["trust_hi"])
    return f"trust window [{lo}, {hi}) eV/A"


def render(card: dict) -> str:
    """The card as Markdown (docs/models.md carries this text)."""
    t = card["teacher"] or {}
    s = card["loop"]["settings"]
    carried = card["data"].get("shipped")
    universal = "weight_sha256" in t  # a universal potential's weights, not a user's labeller
    lines = [f"### Model `{card['name']}`", "", card["what"] + "." + (
                 "" if not universal else " The same loop with a DFT labeller (`pylbs mlp learn OUT "
                 "--teacher module:function`, docs/mlp.md) makes a DFT-trained one."), "",
             f"Made by `{card['command']}` from the loop's record; every number below is in `card.json`, "
             "except the paper's (the 3B_ring table's paper column, from `pylbs.paper_data`).", "",
             f"- Teacher: {t.get('name')} " + (f"({t.get('package')} {t.get('version')}, weights sha256 "
                                                f"`{str(t.get('weight_sha256'))[:16]}...`)." if universal
                                                else f"(module sha256 `{str(t.get('module_sha256'))[:16]}...`): "
                                                f"{t.get('note')}."),
             "- Files: " + "; ".join(f"`{k}` " + (f"{v['bytes'] / 1e6:.1f} MB" if v["bytes"] >= 1e5
                                                  else f"{v['bytes'] / 1e3:.1f} kB") + (
                 f" (table step {v['table_step']})" if "table_step" in v else "") for k, v in card["files"].items())
             + (f"; `{carried['folder']}/` {carried['bytes'] / 1e6:.1f} MB, the {carried['datasets']} training "
                f"datasets (`pylbs mlp learn OUT --init-model {card['name']}` continues the model on them)"
                if carried and carried["datasets"] else "")
             + ".",
             *([f"- Continued from {_continued(card)}: iteration 0 started from its weights."]
               if card["hyperparameters"].get("continued_from") else []),
             *([f"- Runs with a pair wall (`{WALL_FILE}`, docs/mlp.md"
                + (f"; `{card['pair_wall']['made_by']}`" if card["pair_wall"].get("made_by") else "") + "): "
                + ", ".join(f"{k} to {term['rc_A']:.2f} A" for k, term in card["pair_wall"]["terms"].items())
                + "; the error tables below are the model's alone, against the teacher."]
               if card.get("pair_wall") else []),
             f"- Loop: {len(card['loop']['iterations'])} finished iteration(s); shipped: iteration "
             f"{card['loop']['iteration_shipped']}'s model"
             + ("" if card["loop"].get("iteration_shipped_explored", True) else
                " (its exploration had not finished: no deviation record of its own)")
             + f"; converged: **{card['loop']['converged']}**; "
             f"{s['n_models']} models, {s['n_atoms']} atoms per system, " + _windows(card)
             + f", exploration time scale {s['explore_time_scale']}.",
             f"- Network: se_e2_a rcut {card['hyperparameters']['descriptor']['rcut']} A, rcut_smth "
             f"{card['hyperparameters']['descriptor']['rcut_smth']} A, sel {card['hyperparameters']['descriptor']['sel']}, "
             f"embedding {card['hyperparameters']['descriptor']['neuron']}, fitting "
             f"{card['hyperparameters']['fitting_net']['neuron']}; {card['training']['steps_total']} training steps "
             f"in all" + (f"; the shipped model's training ran at {card['training']['s_per_batch']:.3f} s/batch "
                          "(deepmd-kit's log)" if card["training"].get("s_per_batch") else "") + ".",
             "", "Data (frames per system, and where they came from):", "", "| system | frames | atoms | from |",
             "|---|---|---|---|"]
    for k, v in card["data"]["training"].items():
        lines.append(f"| {k} | {v['frames']} | {v['atoms']} | "
                     + "; ".join(_data_source(x, s) for x in v.get("sources", [])) + " |")
    for k, v in card["data"]["held_out"].items():
        lines.append(f"| {k} (held out, never trained on) | {v['frames']} | {v['atoms']} | "
                     f"{_data_source(v.get('source', ''), s, v['frames'], held_out=True)} |")
    # each iteration's training length, recorded since a resume may change it (cards before: the loop's one)
    steps = any("training_steps" in r for r in card["loop"]["iterations"])
    lines += ["", "Convergence record:", "",
              "| iteration | trust window (eV/A) | " + ("model 0 training steps | " if steps else "")
              + "training frames | explored | candidates | failed | overlap | labelled "
              "| worst condition | held-out force MAE (eV/A) | held-out error / deviation | train / explore / label (s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if steps else "")]
    for r in card["loop"]["iterations"]:
        w = r["wall_s"]
        lo, hi = _window_of(r, s)
        ratio = r.get("heldout_error_over_deviation")
        lines.append(f"| {r['iteration']} | [{lo:g}, {hi:g}) | "
                     + (f"{r.get('training_steps', '–')} | " if steps else "")
                     + f"{r['training_frames']} | {r['explored_frames']} | "
                     f"{r['candidates']} ({100 * (r['candidate_fraction'] or 0):.1f} %) | {r['failed']} | "
                     f"{r.get('overlap')} | {r['labelled']} | {100 * r['worst_condition_fraction']:.1f} % | "
                     f"{r['heldout_force_mae']:.3f} | " + ("–" if ratio is None else f"{ratio:.2f}") + " | "
                     + " / ".join(f"{w[k]:.0f}" if w[k] or k == "label" else "–" for k in ("train", "explore", "label"))
                     + " |")
    limits = {r.get("heldout_error_over_deviation_limit") for r in card["loop"]["iterations"]} - {None}
    lines += ["", "Held-out error / deviation: the median over the held-out glass's frames of model 0's maximum "
              "force error over the ensemble's maximum force deviation (the deviation must read the error"
              + (f"; a converged iteration needs at most {', '.join(f'{x:g}' for x in sorted(limits))}" if limits
                 else "") + ")" + ("; –: recorded before the loop measured it." if any(
                  r.get("heldout_error_over_deviation") is None for r in card["loop"]["iterations"]) else ".")]
    # a training or exploration takes minutes: 0 s is a time lost, not measured (a label stage may have no frames)
    if any(not r["wall_s"][k] for r in card["loop"]["iterations"] for k in ("train", "explore")):
        lines += ["", "–: not recorded (a loop restarted after that stage had finished recorded only the restarted "
                  "process's time, before each stage's time was kept in `iter-<k>/wall_s.json`)."]
    lines += ["", "Errors against the teacher (test frames of every trained system; the held-out glass last):", "",
              "```", card["error_table"]["model"], "```"]
    if "compressed" in card["error_table"]:
        lines += ["", "Compressed copy:", "", "```", card["error_table"]["compressed"], "```"]
    for key, title, table in (("validation_4B", "Validation: 4B of the catalogue glasses", _validation_lines),
                              ("stability", "Stability at 2000 K", _stability_lines),
                              (CRITERION_SECTION, "The criterion: 100 ps at 2000 K on every catalogue glass",
                               _criterion_lines),
                              ("speed", "MD speed", _speed_lines)):
        if key in card:
            lines += ["", f"{title} (`{card[key].get('command')}`):", ""] + table(card[key])
    return "\n".join(lines) + "\n"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _table2(glass: str) -> str:
    """The paper's 3B_ring of a glass (Table 2): its DeepMD model's mean +- std, and NMR where measured."""
    row = TABLE2_3B_RING.get(glass) or {}
    mlp, nmr = row.get("MLP"), row.get("NMR")
    text = "–" if mlp is None else f"{mlp[0]:.1f}" + ("" if mlp[1] is None else f" +- {mlp[1]:.1f}")
    return text + (f" (NMR {nmr:.1f})" if nmr is not None else "")


def _validation_lines(v: dict) -> list[str]:
    sc = v.get("scale", {})
    out = [f"{sc.get('atoms')} atoms, FMP time scale {sc.get('fmp_time_scale')}, model schedule(s) "
           f"{', '.join(sc.get('mlp_schedules', []))} at time scale {sc.get('mlp_time_scale')}; 4B and 3B_ring "
           "are means over the frames of each run's sample stage. 3B_ring paper: the paper's Table 2, its "
           "DFT-trained DeepMD model (mean +- std) and NMR where given (pylbs.paper_data).", "",
           "| glass | 4B FMP % | 4B model % | 4B measured % | 3B_ring model % | 3B_ring paper % |",
           "|---|---|---|---|---|---|"]
    for g, r in sorted(v.get("glasses", {}).items()):
        out.append(f"| {g} | {_pct(r.get('4B_fmp'))} | {_pct(r.get('4B_mlp'))} | {_pct(r.get('4B_measured'))} "
                   f"| {_pct(r.get('3B_ring_mlp'))} | {_table2(g)} |")
    errs = v.get("error_vs_measured_4B") or {}
    for kind, e in errs.items():
        plain = errs.get(kind.removesuffix("_on_common_glasses"), {})
        if kind.endswith("_on_common_glasses") and plain.get("glasses") == e.get("glasses"):
            continue  # the same glasses as the plain line: the same numbers
        if e.get("glasses"):
            out.append(f"\n4B {kind.replace('_', ' ').replace('fmp', 'FMP').replace('mlp', 'model')} minus "
                       f"measured over {e['glasses']} glasses: mean {e['mean_pp']:+.1f}, rms {e['rms_pp']:.1f} "
                       "percentage points.")
    failed = v.get("mlp_runs_failed", [])
    out.append(f"\nModel runs: {v.get('mlp_runs_finished')} finished, {len(failed)} stopped"
               + ("." if not failed else ":"))
    out += [f"- {f['glass']}: {f['why']}" for f in failed]
    if v.get("plot"):
        out += ["", f"![4B vs measured]({v['plot']})"]
    return out


def _rule(request: dict, every_ps: float | None = None) -> str:
    """The guard's stopping rule in words (pylbs.protocols.guard.GuardRun._follow_contacts), with how often
    it looks where known."""
    if "guard_confirm_ps" not in request:
        return " The run stopped at the first check that saw a pair under its limit (the rule before 2026-12-03)."
    looks = "" if every_ps is None else f" The guard looks every {every_ps:g} ps."
    if request["guard_confirm_ps"] <= 0:
        return looks + " The run stops at the first check that sees a pair under its limit."
    confirm = request["guard_confirm_ps"] * 1000
    when = (f"under it again at any later check (checks being more than {confirm:g} fs apart)"
            if every_ps is not None and every_ps * 1000 > confirm else
            f"under it at a check {confirm:g} fs or more after it was first seen")
    return (f"{looks} A pair under its limit at a check is a contact, which clears when the pair is over the limit "
            f"at two checks in a row; the run stops when a contact's pair is {when}, when any pair is under "
            f"{request['guard_floor_fraction']:g} of its limit, or when one is under its limit at the run's last check.")


def _stability_lines(v: dict, frame_counts: bool = False) -> list[str]:
    """The stability section's lines; ``frame_counts``: each finished run's closest approach says how many
    frames it is over (where runs in one table differ)."""
    ch = v.get("check", {})
    out = [f"NVT at {ch.get('temperature_K'):g} K for {ch.get('simulated_ps'):g} ps (the criterion's "
           f"{ch.get('ps'):g} ps x time scale {ch.get('time_scale'):g}), {ch.get('atoms')} atoms per glass; "
           f"guard stops: **{v.get('guard_stops')} of {len(v.get('glasses', {}))}**.", "",
           "| glass | result | closest approach (A): B-O, Si-O, O-O, Li-O, B-B | contacts that cleared (closest, A) |",
           "|---|---|---|---|"]
    if v.get("teacher_check"):
        out[1:1] = ["", f"Forces on each stop's pair, model vs teacher: `{v['teacher_check']}`."]
    if v.get("pair_wall"):
        terms = v["pair_wall"]["terms"]
        out[1:1] = ["", "Run with the model's pair wall (`pair_wall.json`; docs/mlp.md): " + ", ".join(
            f"{k} (to {t['rc_A']:.2f} A)" for k, t in terms.items()) + "."]
    request = next((r["request"] for r in v.get("glasses", {}).values() if "guard_limits_A" in r.get("request", {})),
                   None)
    every = {r.get("guard_every_ps") for r in v.get("glasses", {}).values()} - {None}
    if request:
        out[1:1] = ["", "Guard limits (A): " + ", ".join(f"{k} {x:g}" for k, x in request["guard_limits_A"].items())
                    + "." + _rule(request, next(iter(every)) if len(every) == 1 else None)
                    + " The earlier rule stopped at the first check under a limit."
                    * ("guard_confirm_ps" in request and request["guard_confirm_ps"] > 0)]
    for g, r in v.get("glasses", {}).items():
        seen = (", ".join(f"{'-'.join(c['elements'])} {c['closest_A']:.3f}" for c in r["contacts"]) or "–"
                if "contacts" in r else "not recorded (rule before 2026-12-03)")
        if r.get("stopped"):
            at = "" if r.get("ps") is None else f" at {r['ps']:.2f} ps"
            push = r.get("separating_force_eV_per_A")  # scripts/guard_stop_vs_teacher.py
            out.append(f"| {g} | stopped{at} | {r['why']}" + ("" if not push else
                       f" Pushed apart by {push['model']:+.1f} eV/A (model), {push['teacher']:+.1f} eV/A (teacher).")
                       + f" | {seen} |")
        else:
            c, count = r.get("closest_A", {}), r.get("closest_frames") or 0
            frames = (f" ({count} frames, every {ch.get('simulated_ps') / (count - 1):g} ps)"
                      if frame_counts and count > 1 else "")
            out.append(f"| {g} | {r['ps']:g} ps, no stop | " + ", ".join(
                "–" if c.get(k) is None else f"{c[k]:.2f}" for k in ("B-O", "O-Si", "O-O", "Li-O", "B-B"))
                + f"{frames} | {seen} |")
    return out


def criterion_status(record: dict) -> dict:
    """Where the criterion's record stands: ``glasses`` run, ``runs``, ``stops`` over all runs, the
    catalogue glasses ``missing``, and ``met`` (every glass run, no run stopped)."""
    runs = record.get("runs", [])
    glasses = {r["glass"] for r in runs}
    stops = sum(bool(r.get("stopped")) for r in runs)
    missing = [g for g in CATALOG if g not in glasses]
    return {"glasses": len(glasses), "runs": len(runs), "stops": stops, "missing": missing,
            "met": not missing and not stops}


def criterion_summary(record: dict) -> str:
    """One sentence on where the 100 ps half of the issue's criterion stands, for the README
    (scripts/sync_model_docs.py writes it there, so the README cannot drift from the card)."""
    ch, status = record.get("check", {}), criterion_status(record)
    runs = [r for r in record.get("runs", []) if r.get("wall_s")]
    walls = [r["wall_s"] / 60 for r in runs]
    cores = {(r.get("ranks") or 1) * (r.get("omp_threads") or 1) for r in runs}
    on = "one core" if cores == {1} else f"{cores.pop()} cores" if len(cores) == 1 else f"up to {max(cores)} cores"
    took = f"; the runs' last sittings took {min(walls):.0f}-{max(walls):.0f} min each on {on}" if walls else ""
    head = (f"{ch.get('simulated_ps', 100):g} ps at {ch.get('temperature_K', 2000):g} K, the card's record: "
            f"{status['glasses']} of {len(CATALOG)} glasses, {status['stops']} guard stop(s) in "
            f"{status['runs']} run(s)" + took)
    if status["met"]:
        return head + "; every glass ran with no stop: this half of the criterion is met."
    return head + "; this half of the criterion is not met" + (
        f" (not yet run: {', '.join(status['missing'])})." if status["missing"] else ".")


def _criterion_lines(v: dict) -> list[str]:
    ch, runs = v.get("check", {}), v.get("runs", [])
    status = criterion_status(v)
    stops, missing, met = status["stops"], status["missing"], status["met"]
    frames = {r.get("closest_frames") for r in runs if "closest_frames" in r}
    every = {r.get("guard_every_ps") for r in runs} - {None}
    n = frames.pop() if len(frames) == 1 else None
    dumped = (f"over the {n} frames dumped every {ch.get('simulated_ps') / (n - 1):g} ps, the FMP start glass the "
              "first" if n and n > 1 else "over the dumped frames (the FMP start glass the first; how many in each "
              "row)" if frames else "over the dumped frames")
    out = [f"NVT at {ch.get('temperature_K'):g} K for {ch.get('simulated_ps'):g} ps, {ch.get('atoms')} atoms per "
           f"glass, each run entered as it finished and kept (a glass run again adds a row; the seed and the FMP "
           f"start glass may differ between runs). Run: **{status['glasses']} of {len(CATALOG)}** "
           f"glasses; guard stops: **{stops}** in {len(runs)} run(s); this half of the criterion (every glass, no "
           f"stop; the other half is the loop's convergence record) is "
           f"**{'met' if met else 'not met'}**" + (f": not yet run: {', '.join(missing)}." if missing else "."), "",
           f"| glass | result | closest approach (A) {dumped}: B-O, Si-O, O-O, Li-O, B-B | contacts that cleared "
           "(closest, A) | wall time of the last sitting (MPI ranks x OpenMP threads) |", "|---|---|---|---|---|"]
    for g in CATALOG:
        mine = [r for r in runs if r["glass"] == g]
        if not mine:
            out.append(f"| {g} | not run yet | – | – | – |")
        for r in mine:
            # the shortened check's row, one more column; where runs differ in frame count, each says its own
            row = _stability_lines({"check": ch, "glasses": {g: r}}, frame_counts=n is None)[-1]
            ran = r.get("step") if r.get("stopped") else r.get("steps")  # the steps the whole run took
            share = ("" if r.get("sitting_steps") is None or not ran or r["sitting_steps"] >= ran else
                     f", {100 * r['sitting_steps'] / ran:.0f} % of the run")
            wall = "–" if r.get("wall_s") is None else f"{r['wall_s'] / 60:.0f} min"
            out.append(f"{row} {wall} ({r.get('ranks', '?')} x {r.get('omp_threads') or '?'}{share}) |")
    if v.get("pair_wall"):
        out += ["", "Run with the model's pair wall (`pair_wall.json`; docs/mlp.md): " + ", ".join(
            f"{k} (to {t['rc_A']:.2f} A)" for k, t in v["pair_wall"]["terms"].items()) + "."]
    request = next((r["request"] for r in runs if "guard_limits_A" in r.get("request", {})), None)
    if request:
        out += ["", "Guard limits (A): " + ", ".join(f"{k} {x:g}" for k, x in request["guard_limits_A"].items())
                + "." + _rule(request, every.pop() if len(every) == 1 else None)]
    after = sorted({f.split(" (")[0] for r in runs for f in r.get("recorded_after_the_run", [])})
    if after:
        out += ["", f"Recorded after the run from its own files, for runs made before pylbs recorded them: "
                    f"{', '.join(after)} (`recorded_after_the_run` in card.json says how)."]
    if any(not r.get("omp_threads") for r in runs):
        out += ["", "Threads `?`: not recorded (OMP_NUM_THREADS not a number, or a run made before pylbs "
                    "recorded it)."]
    out += ["", "Each run's command (every run is of `model.pth`, sha256 in card.json):", ""] + [
        f"- {r['glass']}: `{r['command']}` (entered {r.get('entered')})" for r in runs]
    return out


def _speed_lines(v: dict) -> list[str]:
    out = [f"{v.get('atoms')} atoms; {v.get('machine', '')}.", "", "| route | steps/s |", "|---|---|"]
    out += [f"| {k.replace('_', ' ')} | {x:g} |" for k, x in v.get("steps_per_s", {}).items()]
    out += [f"| {k.replace('_', ' ')} | failed: {' '.join(e)[:120]} |" for k, e in v.get("failed", {}).items()]
    return out
