"""What a training run prints at its end: the summary, and where to go next."""
from __future__ import annotations

import os

from alexnet_tf.progress import format_duration

NEXT_STEPS = """
Next: the same command trains on real data. The paper preset subtracts the training set's
mean image (§2): the first run computes it once, or tools.compute_statistics beforehand.
  ImageNet (the ILSVRC-2012 tars in a directory, prepared once by TFDS, no download):
    python -m tools.compute_statistics --preset=paper --dataset=imagenet2012 \\
      --data_dir=/path/to/tfds --manual_dir=/path/to/tars
    python -m alexnet_tf.train --preset=paper --workdir=runs/imagenet \\
      --set data.dataset=imagenet2012 --set data.manual_dir=/path/to/tars \\
      --set data.data_dir=/path/to/tfds
  An image folder (<dir>/train/<class>/*.jpg and <dir>/val/<class>/*.jpg):
    python -m alexnet_tf.train --preset=paper --workdir=runs/folder \\
      --set data.dataset=folder --set data.data_dir=/path/to/dir --set model.num_classes=<N>
  TFRecord shards (python -m tools.write_tfrecords, from either source):
    python -m alexnet_tf.train --preset=paper --workdir=runs/records \\
      --set data.dataset=tfrecord --set data.data_dir=/path/to/shards
  Evaluate (centre crop and multi-crop):  python -m alexnet_tf.evaluate --model={workdir}"""


def end_summary(summary, cfg) -> str:
    lines = [f"\n{summary['status']}: {summary['epochs']} epoch(s), {summary['global_step']} "
             f"steps in {format_duration(summary['seconds'])} ({summary['workdir']})"]
    if summary["history"]:
        last = summary["history"][-1]
        if "validation_top1_error" in last:
            best = min(summary["history"], key=lambda row: row["validation_top1_error"])
            lines.append(f"validation: top-1 error {100 * last['validation_top1_error']:.2f}% "
                         f"(accuracy {100 * last['validation_accuracy']:.2f}%), top-5 error "
                         f"{100 * last['validation_top5_error']:.2f}%; best top-1 error "
                         f"{100 * best['validation_top1_error']:.2f}% at epoch {best['epoch']}")

    if summary.get("train_images_per_second"):
        lines.append(f"training: {summary['train_images_per_second']:,.1f} images/s "
                     f"(steady state: every compiled call but the first)")
    lines.append(f"weights sha256: {summary['weights_sha256']}")
    if summary["status"] == "completed":
        lines.append(f"model: {os.path.join(summary['workdir'], 'model.keras')}; TensorBoard: "
                     f"tensorboard --logdir {os.path.join(summary['workdir'], 'tensorboard')}")
        if cfg.data.dataset == "digits":
            lines.append(NEXT_STEPS.format(workdir=summary["workdir"]))
    return "\n".join(lines)
