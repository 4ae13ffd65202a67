"""The grid's report: report.json (every number, per run and per claim) and report.md (the
claims with their sections beside what was measured), and the plots.

Each claim compares its two arms on the seeds both ran: the mean ± standard deviation of
each arm, and of the paired differences (variant minus the paper's arm, seed by seed) a 95%
Student-t interval with n - 1 degrees of freedom. An interval that excludes zero is an
effect these runs resolve; one that includes zero is not resolved at this scale, which is
not evidence that the effect is absent.
"""
from __future__ import annotations

import datetime
import json
import math
import pathlib

from alexnet_tf import atomic
from alexnet_tf.experiments import claims as claims_lib, runner, statistics

REPORT_JSON = "report.json"
REPORT_MD = "report.md"

# The direction the paper reports, as the sign of (variant - paper's arm).
EXPECTED_SIGN = {("dropout", "epochs_to_converge"): -1}


def collect(grid: runner.Grid) -> dict:
    """Every finished run's numbers and the claims' statistics (unfinished runs missing)."""
    spec = grid.spec
    runs, missing = [], []
    by_arm = {}
    for run in grid.ablation_runs():
        numbers = runner.run_numbers(run, spec.converge_tolerance)
        if numbers is None:
            missing.append(f"{run.arm} seed {run.seed}")
            continue
        if run.arm == claims_lib.BASELINE and not numbers.get("stopped") and any(
                c.key == "ten_crop" for c in grid.claims):
            crops = runner.multi_crop_numbers(run)
            if crops:
                numbers["multi_crop"] = crops
                by_arm.setdefault("center", {})[run.seed] = crops["center"]["top1_error"]
                by_arm.setdefault("ten_crop", {})[run.seed] = crops["ten_crop"]["top1_error"]
        runs.append(numbers)
        by_arm.setdefault(run.arm, {})
    tests = sum(len(c.measures) for c in grid.claims) + (1 if grid.figure1 else 0)
    claims = []
    for claim in grid.claims:
        paper_arm, variant = claim.arms
        entry = {"key": claim.key, "section": claim.section, "statement": claim.statement,
                 "paper_effect": claim.paper_effect, "paper_arm": paper_arm,
                 "variant": variant, "measures": {}}
        if claim.key == "ten_crop":
            entry["note"] = ("the baseline's trained models, each evaluated twice on the "
                             "validation images: averaged over the multi-crop view and with "
                             "the centre patch alone")
        if claim.key == "crops" and not grid.base.data.random_flip:
            entry["note"] = ("this preset never reflects its images, so only the random "
                             "patches are taken away")
        for measure in claim.measures:
            values = {}
            for arm in claim.arms:
                if claim.key == "ten_crop":
                    values[arm] = dict(by_arm.get(arm, {}))
                else:
                    values[arm] = {r["seed"]: r.get(measure) for r in runs if r["arm"] == arm}
            difference = statistics.paired(values[paper_arm], values[variant], tests=tests)
            entry["measures"][measure] = {
                "definition": claims_lib.MEASURES[measure],
                "values": {arm: {str(s): v for s, v in vals.items()}
                           for arm, vals in values.items()},
                paper_arm: statistics.summary(values[paper_arm].values()),
                variant: statistics.summary(values[variant].values()),
                "difference": difference,
                "verdict": verdict(difference, EXPECTED_SIGN.get((claim.key, measure), 1)),
            }
        claims.append(entry)
    figure1 = _figure1(grid, runs, missing, tests) if grid.figure1 else None
    validation_images = _validation_images(runs)
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setup": {"preset": spec.preset, "overrides": list(spec.overrides),
                  "dataset": grid.base.data.dataset,
                  "train_fraction": grid.base.data.train_fraction,
                  "epochs": grid.base.train.epochs, "seeds": list(spec.seeds),
                  "learning_rate": grid.base.train.learning_rate,
                  "lr_schedule": (f"fixed schedule (x{grid.base.train.lr_decay_factor:g} "
                                  f"after epochs "
                                  f"{', '.join(map(str, grid.base.train.lr_step_epochs))})"
                                  if grid.base.train.lr_step_epochs
                                  else "constant rate"),
                  "precision": "float32", "validation_images": validation_images,
                  "clean_train_images": spec.clean_train_images,
                  "converge_tolerance": spec.converge_tolerance,
                  "pooled_sizes": {"overlapping 3/2": claims_lib.pooled_sizes(grid.base.model),
                                   "2/2": claims_lib.pooled_sizes(
                                       grid.arm_configs["pool_2x2"].model)
                                   if "pool_2x2" in grid.arm_configs else None}},
        "tests": tests,
        "multiple_comparisons": (
            f"{tests} intervals are read together: at 95% each, about one in twenty would "
            f"exclude zero by chance alone even if no effect were real. The Bonferroni "
            f"columns hold each interval at {100 * (1 - 0.05 / max(tests, 1)):.2f}%, so "
            f"that all of them together err with probability at most 5%."),
        "claims": claims, "figure1": figure1, "runs": runs, "missing": missing,
        "complete": not missing,
    }


def verdict(difference: dict, expected_sign: int) -> str:
    n = difference["n"]
    if n < 2:
        return f"no interval: {n} paired seed(s), at least 2 needed"
    if difference["sd"] < 1e-9:
        # Every seed gave the same difference (often 0, or one image): the t interval has
        # no width, which says nothing about how the difference varies between seeds.
        return ("not resolved: every seed gave the same difference, so its spread is "
                "unknown (more seeds needed)" if abs(difference["mean"]) > 1e-9 else
                "no difference on any seed")
    if not difference["excludes_zero"]:
        return "not resolved at this scale (the interval includes 0)"
    sign = 1 if difference["mean"] > 0 else -1
    return ("resolved, in the paper's direction" if sign == expected_sign
            else "resolved, opposite to the paper's direction")


def _figure1(grid, runs, missing, tests) -> dict:
    spec = grid.spec
    sweep = runner.sweep_table(grid)
    chosen = runner.choose_rates(grid) if sweep is not None else None
    result = {"target_error": spec.figure1_target, "epochs": grid.figure1_epochs,
              "chance_error": runner.chance(grid.base),
              "rates_tried": list(grid.figure1_rates), "sweep": sweep, "chosen_rates": chosen,
              "net": ("conv1-conv3 of the preset (one group, no LRN), max pooling after "
                      "each, then fc8: four layers with weights; no dropout, weight decay, "
                      "crops, reflections or PCA lighting; a constant learning rate"),
              "runs": {}, "crossings": {}}
    if chosen is None:
        missing.append("Figure 1 (the learning-rate sweep is unfinished)")
        return result
    seeds_runs = [r for r in grid.sweep_runs() if r.cfg.train.learning_rate
                  == chosen[r.cfg.model.activation]] + grid.figure1_runs(chosen)
    for run in seeds_runs:
        if run.seed not in spec.seeds:
            continue
        activation = run.cfg.model.activation
        numbers = runner.run_numbers(run, spec.converge_tolerance)
        if numbers is None:
            missing.append(f"{run.arm} seed {run.seed}")
            continue
        runs.append(numbers)
        hit = None if numbers.get("stopped") else runner.crossing(
            numbers["history"], spec.figure1_target, start_error=runner.chance(run.cfg))
        result["runs"].setdefault(activation, {})[str(run.seed)] = run.arm
        result["crossings"].setdefault(activation, {})[run.seed] = hit
    epochs = {a: {s: (hit["epochs"] if hit else None) for s, hit in result["crossings"].get(
        a, {}).items()} for a in ("relu", "tanh")}
    for kind in ("epochs", "steps", "seconds"):
        values = {a: [hit[kind] for hit in result["crossings"].get(a, {}).values() if hit]
                  for a in ("relu", "tanh")}
        result[f"{kind}_to_target"] = {a: statistics.summary(v) for a, v in values.items()}
        relu, tanh = (result[f"{kind}_to_target"][a]["mean"] for a in ("relu", "tanh"))
        result[f"{kind}_ratio"] = tanh / relu if relu and tanh else None
    result["not_reached"] = {a: sorted(s for s, e in epochs[a].items() if e is None)
                             for a in ("relu", "tanh")}
    result["difference"] = statistics.paired(epochs["relu"], epochs["tanh"], tests=tests)
    result["verdict"] = verdict(result["difference"], 1)
    result["crossings"] = {a: {str(s): hit for s, hit in v.items()}
                           for a, v in result["crossings"].items()}
    return result


def _validation_images(runs):
    return next((r["validation_images"] for r in runs if r.get("validation_images")), None)


def write(grid: runner.Grid, output, *, wall_seconds=None, plots=True) -> list:
    """Writes report.json, report.md and the PNGs into `output`; returns their paths."""
    from alexnet_tf.experiments import plots as plots_lib
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    report = collect(grid)
    report["wall_seconds"] = wall_seconds
    report["plots"] = plots_lib.draw(report, output) if plots else []
    atomic.publish(output / REPORT_JSON, json.dumps(report, indent=1))
    atomic.publish(output / REPORT_MD, markdown(report))
    return [output / REPORT_MD, output / REPORT_JSON, *(output / p for p in report["plots"])]


def _pct(value, digits=2):
    return "—" if value is None else f"{100 * value:.{digits}f}"


def _arm_cell(s, scale=100.0, unit="%"):
    unit = "%" if unit == " points" else unit
    if s["mean"] is None:
        return "—"
    sd = "" if s["sd"] is None else f" ± {scale * s['sd']:.2f}"
    return f"{scale * s['mean']:.2f}{sd}{unit}"


def _interval(d, key="interval", scale=100.0):
    if d[key] is None:
        return "—"
    low, high = (scale * v for v in d[key])
    return f"[{low:+.2f}, {high:+.2f}]"


def _scale(measure):
    return (1.0, " epochs") if measure == "epochs_to_converge" else (100.0, " points")


def _difference(d, scale, unit):
    if d["mean"] is None:
        return "—"
    sd = "" if d["sd"] is None else f" ± {scale * d['sd']:.2f}"
    return f"{scale * d['mean']:+.2f}{sd}{unit}"


def markdown(report: dict) -> str:
    s = report["setup"]
    lines = ["# The paper's claims, measured at this scale", "",
             f"Preset `{s['preset']}`, data `{s['dataset']}`"
             + (f" (training on a fixed {100 * s['train_fraction']:g}% of the training "
                f"images, a harder setting than the full set)" if s["train_fraction"] < 1
                else "")
             + (f", overrides `{' '.join(s['overrides'])}`" if s["overrides"] else "")
             + f"; {s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}, seeds {s['seeds']}, learning rate "
               f"{s['learning_rate']:g} with a {s['lr_schedule']} in every arm, "
               f"{s['precision']}"
             + (f"; {s['validation_images']} validation images, so one image is "
                f"{100 / s['validation_images']:.2f} points of error"
                if s["validation_images"] else "")
             + f". Created {report['created']}"
             + (f"; this invocation of the command took {report['wall_seconds'] / 60:.1f} "
                f"minutes (runs finished by an earlier one not counted)."
                if report.get("wall_seconds") else "."), ""]
    if report["missing"]:
        lines += [f"**Incomplete**: {len(report['missing'])} run(s) not finished yet "
                  f"({', '.join(report['missing'][:6])}{' ...' if len(report['missing']) > 6 else ''}); "
                  f"run the same command again to finish them.", ""]
    lines += ["## How to read it", "",
              "Differences are the variant's number minus the paper's arm's, in points "
              "(percentage points of error) unless marked, paired seed by seed: both arms "
              "start from the same seed. The interval is the 95% paired-t interval of the "
              "mean difference (n − 1 degrees of freedom). **Resolved** means the interval "
              "excludes zero; *not resolved* means these runs cannot tell the effect from "
              "zero, not that it is absent.", ""]
    for key, text in claims_lib.MEASURES.items():
        lines.append(f"- *{key}*: {text}" + (
            f" (tolerance {100 * s['converge_tolerance']:g} points)"
            if key == "epochs_to_converge" else "") + ".")
    lines += ["", f"- {report['multiple_comparisons']}", ""]
    lines += ["## Summary", "",
              "| § | claim | measure | difference (variant − paper's arm) | 95% interval | "
              "verdict |", "|---|---|---|---|---|---|"]
    for claim in report["claims"]:
        for measure, m in claim["measures"].items():
            scale, unit = _scale(measure)
            d = m["difference"]
            lines.append(f"| {claim['section']} | {claim['key']}: {claim['variant']} | "
                         f"{measure} | {_difference(d, scale, unit)} | "
                         f"{_interval(d, scale=scale)} | {m['verdict']} |")
    for claim in report["claims"]:
        lines += ["", f"## §{claim['section']}: {claim['key']}", "",
                  f"> {claim['statement']}", "",
                  f"The paper measured: {claim['paper_effect']}. Compared here: "
                  f"`{claim['paper_arm']}` (the paper's design) against `{claim['variant']}`"
                  + (f" ({claim['note']})" if claim.get("note") else "") + ".", "",
                  f"| measure | {claim['paper_arm']} | {claim['variant']} | difference | "
                  f"95% interval | Bonferroni interval | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for measure, m in claim["measures"].items():
            scale, unit = _scale(measure)
            d = m["difference"]
            lines.append(
                f"| {measure} | {_arm_cell(m[claim['paper_arm']], scale, unit)} | "
                f"{_arm_cell(m[claim['variant']], scale, unit)} | {_difference(d, scale, unit)}"
                f" (n={d['n']}) | {_interval(d, scale=scale)} | "
                f"{_interval(d, 'bonferroni_interval', scale)} | {m['verdict']} |")
    f1 = report.get("figure1")
    if f1:
        lines += ["", "## Figure 1: ReLU against tanh (§3.1)", "",
                  f"The claim: {claims_lib.FIGURE1.statement} The paper measured: "
                  f"{claims_lib.FIGURE1.paper_effect}.", "",
                  f"The net: {f1['net']}. Training error is measured after each epoch on "
                  f"training images seen as evaluation sees them; the epochs, steps and "
                  f"seconds to the target ({100 * f1['target_error']:g}% training error) are "
                  f"interpolated linearly between epoch ends, starting from chance at epoch "
                  f"0. Each activation uses the rate of its sweep (seed {runner.SWEEP_SEED}, "
                  f"{f1['epochs']} epochs) that reaches the target first.", ""]
        if f1["sweep"]:
            lines += ["| activation | learning rate | epochs to target | final training "
                      "error |", "|---|---|---|---|"]
            for row in f1["sweep"]:
                mark = " (chosen)" if f1["chosen_rates"] and f1["chosen_rates"].get(
                    row["activation"]) == row["rate"] else ""
                lines.append(
                    f"| {row['activation']} | {row['rate']:g}{mark} | "
                    + ("NaN loss" if row["stopped"] else
                       ("not reached" if row["epochs_to_target"] is None
                        else f"{row['epochs_to_target']:.2f}"))
                    + f" | {_pct(row['final_error'])}% |")
        if f1.get("epochs_to_target"):
            lines += ["", "| to the target | ReLU | tanh | tanh / ReLU |", "|---|---|---|---|"]
            for kind in ("epochs", "steps", "seconds"):
                t = f1[f"{kind}_to_target"]
                cells = [("—" if t[a]["mean"] is None else f"{t[a]['mean']:.2f}"
                          + ("" if t[a]["sd"] is None else f" ± {t[a]['sd']:.2f}")
                          + f" (n={t[a]['n']})") for a in ("relu", "tanh")]
                ratio = f1[f"{kind}_ratio"]
                lines.append(f"| {kind} | {cells[0]} | {cells[1]} | "
                             f"{'—' if ratio is None else f'{ratio:.2f}'} |")
            d = f1["difference"]
            lines += ["", f"Paired difference tanh − ReLU in epochs: "
                      + ("—" if d["mean"] is None else f"{d['mean']:+.2f}")
                      + f", 95% interval {_interval(d, scale=1.0)}: {f1['verdict']}."]
            never = {a: s for a, s in f1["not_reached"].items() if s}
            if never:
                lines.append(f"Never reached the target within {f1['epochs']} epochs: "
                             + "; ".join(f"{a} seeds {s}" for a, s in never.items())
                             + " (left out of the means and of the pairs).")
    if report.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    lines += ["", "## Per-run numbers", "",
              "report.json holds every run's numbers and its error per epoch; each run is a "
              "training work directory under runs/ (history.json, TensorBoard, model.keras).",
              ""]
    return "\n".join(lines) + "\n"
