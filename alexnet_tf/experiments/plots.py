"""The report's PNGs: Figure 1 (training error per epoch, ReLU against tanh) and, for each
claim, the training and validation error per epoch of both arms."""
from __future__ import annotations

import numpy as np

from alexnet_tf.figures import plotting

COLOURS = {"paper": "#1f77b4", "variant": "#d62728"}


def draw(report: dict, output) -> list:
    """Writes the PNGs into `output`; returns their names."""
    names = []
    runs = report["runs"]
    f1 = report.get("figure1")
    if f1 and f1.get("crossings"):
        names.append(_figure1(f1, runs, output / "figure1.png"))
    for claim in report["claims"]:
        if claim["key"] == "ten_crop":
            continue
        arms = (claim["paper_arm"], claim["variant"])
        if all(any(r["arm"] == arm and r.get("history") for r in runs) for arm in arms):
            names.append(_curves(claim, runs, output / f"curves_{claim['key']}.png"))
    return names


def _series(runs, arm, key, start=None):
    """[(epochs, values)] per seed of `arm`; from (0, `start`) if given."""
    out = []
    for r in runs:
        if r["arm"] == arm and r.get("history"):
            rows = [row for row in r["history"] if row.get(key) is not None]
            if rows:
                first = [(0, start)] if start is not None else []
                points = first + [(row["epoch"], row[key]) for row in rows]
                out.append((np.array([x for x, _ in points]),
                            100 * np.array([y for _, y in points])))
    return out


def _plot_arm(ax, series, colour, label, style="-"):
    for x, y in series:
        ax.plot(x, y, style, color=colour, alpha=0.3, linewidth=0.8, marker="o",
                markersize=2)
    if series:
        length = min(len(x) for x, _ in series)
        mean = np.mean([y[:length] for _, y in series], axis=0)
        ax.plot(series[0][0][:length], mean, style, color=colour, linewidth=2, marker="o",
                markersize=4, label=f"{label} (mean of {len(series)})")


def _figure1(f1, runs, path):
    fig = plotting.new_figure(720, 480)
    ax = fig.add_subplot(1, 1, 1)
    for activation, colour, style in (("relu", "#1f77b4", "-"), ("tanh", "#d62728", "--")):
        arms = set(f1["runs"].get(activation, {}).values())
        series = [s for arm in arms
                  for s in _series(runs, arm, "clean_train_top1_error", f1["chance_error"])]
        rate = (f1["chosen_rates"] or {}).get(activation)
        _plot_arm(ax, series, colour, f"{activation}, learning rate {rate:g}", style)
    ax.axhline(100 * f1["target_error"], color="black", linewidth=0.8, linestyle=":",
               label=f"target, {100 * f1['target_error']:g}%")
    ratio = f1.get("epochs_ratio")
    title = f"Training error per epoch, ReLU against tanh (§3.1, Figure 1)"
    if ratio:
        title += (f"\nepochs to {100 * f1['target_error']:g}% training error, tanh / ReLU: "
                  f"{ratio:.2f} (the paper: about 6)")
    ax.set_title(title, fontsize=plotting.FONT_SIZE + 1)
    ax.set_xlabel("epochs (0: chance)")
    ax.set_ylabel("training error, % (evaluation mode)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=plotting.FONT_SIZE)
    fig.tight_layout()
    plotting.save_png(fig, path)
    return path.name


def _curves(claim, runs, path):
    fig = plotting.new_figure(960, 420)
    arms = ((claim["paper_arm"], COLOURS["paper"]), (claim["variant"], COLOURS["variant"]))
    panels = (("validation_top1_error", "validation top-1 error, %"),
              ("clean_train_top1_error", "training top-1 error, % (evaluation mode)"),
              ("train_top1_error", "training top-1 error, % (during the epoch)"))
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        for arm, colour in arms:
            _plot_arm(ax, _series(runs, arm, key), colour, arm)
        ax.set_xlabel("epochs")
        ax.set_title(label, fontsize=plotting.FONT_SIZE)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=plotting.FONT_SIZE - 1)
    fig.suptitle(f"§{claim['section']}: {claim['variant']} against {claim['paper_arm']}",
                 fontsize=plotting.FONT_SIZE + 1)
    fig.tight_layout()
    plotting.save_png(fig, path)
    return path.name
