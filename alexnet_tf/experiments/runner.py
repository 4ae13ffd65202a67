"""Runs the grid: every (arm, seed) an ordinary training work directory under the output
folder, so a killed grid resumes where it stopped and a re-run skips finished runs.

    output/runs/<arm>/seed<k>/                 the ablation arms (`claims.CLAIMS`)
    output/runs/figure1_<activation>_lr<rate>/seed<k>/   Figure 1's small net

Figure 1's learning rates come from a short sweep: each activation trains with every
candidate rate on seed `SWEEP_SEED`, and the rate that reaches the target training error in
the fewest epochs (else the lowest training error) is the one its other seeds use, so
its seed-0 run is a sweep run. A process whose --seeds leave out seed 0 still needs the
sweep, and runs it unless another process holds it (then its Figure 1 runs wait for a rerun).

A run whose work directory another process holds is skipped and named at the end: the
grid's other runs go on, and the same command run again finishes it.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import time

from alexnet_tf import atomic, config as config_lib
from alexnet_tf.experiments import claims as claims_lib
from alexnet_tf.progress import format_duration

SWEEP_SEED = 0
RUNS_DIR = "runs"
STATUS_FILE = "experiment_status.json"     # a run that cannot finish (a NaN loss)
MULTI_CROP_FILE = "multi_crop.json"        # §6: centre and multi-crop errors of a run


@dataclasses.dataclass
class GridSpec:
    preset: str = "digits"
    overrides: tuple = ()          # the user's: data source, sizes, ...
    epochs: int | None = None      # default: the preset's
    seeds: tuple = (0, 1, 2)
    only: tuple = ()
    strategy: str = "auto"
    clean_train_images: int = 2000
    figure1_epochs: int | None = None          # default: the grid's epochs
    figure1_rates: tuple = ()                  # default: the preset's rate x RATE_FACTORS
    figure1_target: float = 0.25               # §3.1: 25% training error
    converge_tolerance: float = 0.01           # epochs_to_converge: within 1 point of best


RATE_FACTORS = (0.3, 1.0, 3.0, 10.0)


@dataclasses.dataclass
class Run:
    arm: str
    seed: int
    cfg: config_lib.Config
    workdir: pathlib.Path


class Grid:
    """The runs `spec` asks for, resolved against the preset (and validated) up front."""

    def __init__(self, spec: GridSpec, output):
        self.spec = spec
        self.output = pathlib.Path(output)
        if not spec.seeds:
            raise ValueError("--seeds names no seed")
        if len(set(spec.seeds)) != len(spec.seeds) or min(spec.seeds) < 0:
            raise ValueError(f"--seeds must be distinct integers >= 0, got {list(spec.seeds)}")
        for flag, value in (("--epochs", spec.epochs), ("--figure1_epochs", spec.figure1_epochs)):
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        if spec.clean_train_images < 0:
            raise ValueError(f"--clean_train_images must be >= 0, got "
                             f"{spec.clean_train_images}")
        if not 0 < spec.figure1_target < 1:
            raise ValueError(f"--figure1_target must be in (0, 1), got {spec.figure1_target}")
        self.claims, self.figure1 = claims_lib.select(spec.only)
        user = config_lib.override(config_lib.get_config(spec.preset), list(spec.overrides))
        self.base = config_lib.validate(config_lib.override(
            user, claims_lib.fair_overrides(user, spec.epochs)))
        self.arm_configs = {}
        variants = claims_lib.variant_overrides(self.base)
        for claim in self.claims:
            # §6 compares two views of the baseline's own models: it trains the baseline.
            trained = (claims_lib.BASELINE,) if claim.key == "ten_crop" else claim.arms
            for arm in trained:
                if arm in variants:
                    self.arm_configs[arm] = self._validated(arm, variants[arm])
        self.figure1_epochs = spec.figure1_epochs or self.base.train.epochs
        self.figure1_rates = tuple(spec.figure1_rates) or tuple(
            float(f"{self.base.train.learning_rate * f:.6g}") for f in RATE_FACTORS)
        if self.figure1:
            for activation in ("relu", "tanh"):
                for rate in self.figure1_rates:
                    self.figure1_config(activation, rate)   # refused now, not half-way

    def _validated(self, arm, overrides, base=None):
        try:
            return config_lib.validate(config_lib.override(base or self.base, overrides))
        except ValueError as e:
            raise ValueError(f"arm {arm} does not fit the preset: {e}") from None

    def figure1_config(self, activation, rate):
        base = config_lib.override(self.base, [f"train.epochs={self.figure1_epochs}"])
        return self._validated(f"figure1 {activation}",
                               claims_lib.figure1_overrides(base, activation, rate), base)

    def workdir(self, arm, seed) -> pathlib.Path:
        return self.output / RUNS_DIR / arm / f"seed{seed}"

    def ablation_runs(self) -> list:
        return [Run(arm, seed, config_lib.override(cfg, [f"train.seed={seed}"]),
                    self.workdir(arm, seed))
                for seed in self.spec.seeds for arm, cfg in self.arm_configs.items()]

    def sweep_runs(self) -> list:
        if not self.figure1:
            return []
        return [Run(figure1_arm(activation, rate), SWEEP_SEED,
                    config_lib.override(self.figure1_config(activation, rate),
                                        [f"train.seed={SWEEP_SEED}"]),
                    self.workdir(figure1_arm(activation, rate), SWEEP_SEED))
                for activation in ("relu", "tanh") for rate in self.figure1_rates]

    def figure1_runs(self, chosen: dict) -> list:
        """The seeds' runs at each activation's chosen rate ({activation: rate})."""
        runs = []
        for activation, rate in chosen.items():
            cfg = self.figure1_config(activation, rate)
            runs += [Run(figure1_arm(activation, rate), seed,
                         config_lib.override(cfg, [f"train.seed={seed}"]),
                         self.workdir(figure1_arm(activation, rate), seed))
                     for seed in self.spec.seeds if seed != SWEEP_SEED]
        return runs

    def extra_figure1_count(self) -> int:
        return 2 * sum(seed != SWEEP_SEED for seed in self.spec.seeds) if self.figure1 else 0


def figure1_arm(activation, rate) -> str:
    return f"figure1_{activation}_lr{rate:g}"


# ---- what a finished run holds ----------------------------------------------------------

def read_history(workdir) -> list | None:
    path = pathlib.Path(workdir) / "history.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_status(workdir) -> dict | None:
    try:
        return json.loads((pathlib.Path(workdir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def finished(run: Run) -> bool:
    """The run trained all its epochs and saved its model, or stopped for good (a NaN loss).
    A work directory holding another configuration is refused: its numbers would be
    reported as this grid's."""
    from alexnet_tf.training import checkpoints
    root = run.workdir
    if not (root / checkpoints.CONFIG_FILE).exists():
        return False
    try:
        saved = checkpoints.load_config(root)
    except ValueError:
        saved = None
    if saved is not None:       # the training run words why it computes in float32
        saved = dataclasses.replace(saved, train=dataclasses.replace(
            saved.train, precision_reason=run.cfg.train.precision_reason))
    if saved != run.cfg:
        raise ValueError(f"{root} holds a run with another configuration than this grid's "
                         f"{run.arm} seed {run.seed}; use another --output (or the same "
                         f"flags as before)")
    if read_status(root):
        return True
    history = read_history(root) or []
    return len(history) >= run.cfg.train.epochs and (root / "model.keras").exists()


# ---- running -----------------------------------------------------------------------------

class GridProgress:
    """Runs done of the grid, time so far and an estimate of what is left, from the epochs
    this process trained."""

    def __init__(self, total: int, log):
        self.total, self.done, self.log = total, 0, log
        self.started = time.perf_counter()
        self.epoch_seconds, self.epochs_trained = 0.0, 0

    def line(self, text, remaining_epochs=None):
        elapsed = time.perf_counter() - self.started
        eta = "?"
        if self.epochs_trained and remaining_epochs is not None:
            eta = format_duration(remaining_epochs * self.epoch_seconds / self.epochs_trained)
        self.log(f"[grid {self.done}/{self.total} runs done, {format_duration(elapsed)} "
                 f"elapsed, ETA {eta}] {text}")


def run_grid(grid: Grid, *, signals=None, log=print) -> dict:
    """Trains every run of `grid` not yet finished. Returns {"status": "completed" |
    "preempted" | "incomplete", "skipped": [messages]}."""
    from alexnet_tf.training import loop
    ablations, sweep = grid.ablation_runs(), grid.sweep_runs()
    total = len(ablations) + len(sweep) + grid.extra_figure1_count()
    progress = GridProgress(total, log)
    skipped = []
    options = loop.RunOptions(strategy=grid.spec.strategy, precision="float32",
                              progress=False,
                              clean_train_images=grid.spec.clean_train_images)
    queue = list(sweep) + list(ablations)
    chosen_added = False
    while queue or not chosen_added:
        if not queue:
            chosen_added = True
            if grid.figure1:
                chosen = choose_rates(grid)
                if chosen is None:
                    if grid.extra_figure1_count():
                        skipped.append("Figure 1's other seeds: the rate sweep is not "
                                       "finished (another process holds part of it)")
                    continue
                queue = grid.figure1_runs(chosen)
                progress.total = progress.done + len(queue)
            continue
        run = queue.pop(0)
        remaining = sum(r.cfg.train.epochs for r in [run, *queue])
        if finished(run):
            progress.done += 1
            progress.line(f"{run.arm} seed {run.seed}: finished before, skipped",
                          remaining - run.cfg.train.epochs)
            continue
        if signals is not None and signals.received:
            return {"status": "preempted", "skipped": skipped}
        progress.line(f"training {run.arm} seed {run.seed} in {run.workdir}", remaining)
        outcome = _train(run, options, signals, log)
        if outcome["status"] == "in_use":
            skipped.append(outcome["message"])
            progress.line(f"{run.arm} seed {run.seed}: another process holds it, left for "
                          f"a rerun")
            continue
        progress.epoch_seconds += outcome["seconds"]
        progress.epochs_trained += outcome["epochs_trained"]
        if outcome["status"] == "preempted":
            progress.line(f"stopped during {run.arm} seed {run.seed}; the same command "
                          f"resumes")
            return {"status": "preempted", "skipped": skipped}
        progress.done += 1
    progress.line("all runs done" if not skipped else f"{len(skipped)} run(s) left for a rerun",
                  0)
    return {"status": "incomplete" if skipped else "completed", "skipped": skipped}


def _train(run: Run, options, signals, log) -> dict:
    import keras
    from alexnet_tf.training import loop
    from alexnet_tf.training.workdir_lock import WorkDirInUseError
    before = len(read_history(run.workdir) or [])
    started = time.perf_counter()
    try:
        summary = loop.train_and_evaluate(run.cfg, run.workdir, options, signals=signals,
                                          log=lambda line: log(f"  {line}"))
        status = summary["status"]
    except WorkDirInUseError as e:
        return {"status": "in_use", "message": str(e)}
    except loop.NonFiniteLossError as e:
        # Stopped for good: rerunning would meet the same NaN. Recorded, reported as such.
        atomic.publish(run.workdir / STATUS_FILE, json.dumps({"stopped": str(e)}))
        log(f"  {run.arm} seed {run.seed}: {e}")
        status = "nonfinite"
    finally:
        keras.backend.clear_session()   # the next run builds its own graphs
    after = len(read_history(run.workdir) or [])
    return {"status": status, "seconds": time.perf_counter() - started,
            "epochs_trained": max(after - before, 1)}


# ---- the numbers of a run ----------------------------------------------------------------

def epochs_to_converge(history, tolerance) -> int | None:
    errors = [row.get("validation_top1_error") for row in history]
    if not errors or any(e is None for e in errors):
        return None
    best = min(errors)
    return next(i + 1 for i, e in enumerate(errors) if e <= best + tolerance)


def crossing(history, target, *, start_error) -> dict | None:
    """When the clean training error first reaches `target`, linearly interpolated between
    epoch ends (epoch 0: `start_error`, chance): {"epochs", "steps", "seconds"}; None if it
    never does."""
    points = [(0.0, 0.0, 0.0, start_error)]
    seconds = 0.0
    for row in history:
        seconds += row["seconds"]
        points.append((float(row["epoch"]), float(row["global_step"]), seconds,
                       training_error(row)))
    for before, after in zip(points, points[1:]):
        if after[3] <= target:
            span = before[3] - after[3]
            f = 1.0 if span <= 0 else min(1.0, max(0.0, (before[3] - target) / span))
            return {key: before[i] + f * (after[i] - before[i])
                    for i, key in enumerate(("epochs", "steps", "seconds"))}
    return None


def run_numbers(run: Run, tolerance: float) -> dict | None:
    """The per-run numbers the report uses, from the work directory; None if unfinished."""
    status = read_status(run.workdir)
    history = read_history(run.workdir) or []
    if status:
        return {"arm": run.arm, "seed": run.seed, "workdir": str(run.workdir),
                "stopped": status.get("stopped"), "history": history}
    if len(history) < run.cfg.train.epochs:
        return None
    last = history[-1]
    numbers = {"arm": run.arm, "seed": run.seed, "workdir": str(run.workdir),
               "top1_error": last.get("validation_top1_error"),
               "top5_error": last.get("validation_top5_error"),
               "clean_train_top1_error": last.get("clean_train_top1_error"),
               "train_top1_error": last.get("train_top1_error"),
               "validation_images": last.get("validation_images"),
               "epochs_to_converge": epochs_to_converge(history, tolerance),
               "train_seconds": sum(row["seconds"] for row in history),
               "history": [{k: row.get(k) for k in (
                   "epoch", "global_step", "seconds", "learning_rate", "train_top1_error",
                   "clean_train_top1_error", "validation_top1_error",
                   "validation_top5_error")} for row in history]}
    if numbers["top1_error"] is not None and numbers["clean_train_top1_error"] is not None:
        numbers["overfitting"] = numbers["top1_error"] - numbers["clean_train_top1_error"]
    return numbers


def multi_crop_numbers(run: Run, *, batch_size=64) -> dict | None:
    """§6: the run's validation errors with the centre patch and the multi-crop view,
    measured once and kept in its work directory."""
    path = run.workdir / MULTI_CROP_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    if not (run.workdir / "model.keras").exists() or read_status(run.workdir):
        return None
    import keras
    import tensorflow as tf
    from alexnet_tf.inference import evaluation
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")    # one model per run: its retracing warning says nothing here
    try:
        results = evaluation.run_evaluation([str(run.workdir)], split="validation",
                                            crops=["center", "ten_crop"],
                                            batch_size=batch_size)
    finally:
        logger.setLevel(level)
        keras.backend.clear_session()
    atomic.publish(path, json.dumps(results, indent=1))
    return results


def choose_rates(grid: Grid) -> dict | None:
    """{activation: rate}: per activation the swept rate whose seed-0 run reaches the target
    in the fewest epochs (if none does: the lowest training error after any epoch); None
    while a sweep run is unfinished."""
    sweep = sweep_table(grid)
    if sweep is None:
        return None
    chosen = {}
    for activation in ("relu", "tanh"):
        rows = [row for row in sweep if row["activation"] == activation
                and row["final_error"] is not None]
        if not rows:
            raise ValueError(f"every learning rate of Figure 1's {activation} sweep stopped "
                             f"with a NaN loss; pass lower --figure1_rates")
        best = min(rows, key=lambda row: (row["epochs_to_target"] is None,
                                          row["epochs_to_target"] or 0.0,
                                          row["best_error"]))
        chosen[activation] = best["rate"]
    return chosen


def sweep_table(grid: Grid) -> list | None:
    rows = []
    for run in grid.sweep_runs():
        if not finished(run):
            return None
        history = read_history(run.workdir) or []
        stopped = read_status(run.workdir)
        activation = run.cfg.model.activation
        hit = None if stopped else crossing(history, grid.spec.figure1_target,
                                            start_error=chance(run.cfg))
        rows.append({"activation": activation, "rate": run.cfg.train.learning_rate,
                     "epochs_to_target": hit and hit["epochs"],
                     "final_error": None if stopped or not history
                     else training_error(history[-1]),
                     "best_error": None if stopped or not history
                     else min(training_error(row) for row in history),
                     "stopped": bool(stopped)})
    return rows


def training_error(row) -> float:
    """The error on the training images after an epoch in evaluation mode where it was
    measured, else the running error during the epoch."""
    clean = row.get("clean_train_top1_error")
    return row["train_top1_error"] if clean is None else clean


def chance(cfg) -> float:
    return 1 - 1 / cfg.model.num_classes

