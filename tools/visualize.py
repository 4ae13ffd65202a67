r"""`python -m tools.visualize` (`alexnet-visualize`): tf-keras-vis views of a trained
AlexNet, what its units respond to and where it looks.

    python -m tools.visualize --model=runs/digits --split=validation --count=4
    python -m tools.visualize --model=workdir/ --images=cat.jpg,dog.jpg \
        --conv_layer=conv5 --filters=0,1,2,3 --classes=281,285 --out_dir=vis/

Writes three PNGs into `--out_dir`:
- `activation_maximization_<layer>.png`: an input image that maximises each chosen filter
  of a conv layer (its mean activation);
- `activation_maximization_fc8.png`: the same for chosen classes (their fc8 logits);
- `attribution.png`: per input image, the image, its SmoothGrad saliency map and Grad-CAM
  and Grad-CAM++ heat maps (at conv5) overlaid, for the predicted class.
See `alexnet_tf/figures/saliency.py` for how tf-keras-vis 0.8.7 is used under Keras 3, and
`alexnet_tf/figures/model_views.py` for the figures. Exit codes (`alexnet_tf.command`): 0
written, 1 unexpected, 2 usage or bad input; also 2 when some of the images could not be
read: each is reported (`skipped: ...`) and the figures show the others.
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    command.define_model_flags(flags)
    flags.DEFINE_string("out_dir", "visualizations", "Directory for the PNGs.")
    flags.DEFINE_list("images", None, "Images (files/folders) for saliency and Grad-CAM.")
    flags.DEFINE_string("split", None, "Or images from a split of the model's dataset.")
    flags.DEFINE_integer("count", 4, "Images to take from --split.")
    flags.DEFINE_string("conv_layer", "conv5", "Conv layer whose filters to visualise.")
    flags.DEFINE_string("filters", "auto", "Filters of --conv_layer, e.g. 0,3,5-7 (auto: the "
                        "8 most active on the images, else 0-7).")
    flags.DEFINE_string("classes", None, "fc8 classes, e.g. 0-7 (default: the first 8).")
    flags.DEFINE_integer("steps", 300, "Gradient-ascent steps of activation maximisation.")
    flags.DEFINE_string("cam_layer", "conv5", "Layer for Grad-CAM.")
    flags.DEFINE_enum("colour", "auto", ["auto", "rgb", "grey"], "Activation maximisation "
                      "in colour or grey (auto: grey for the digits dataset).")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.figures import model_views
    result = model_views.visualize(
        FLAGS.model, FLAGS.out_dir, images=FLAGS.images, split=FLAGS.split,
        count=FLAGS.count, conv_layer=FLAGS.conv_layer, filters=FLAGS.filters,
        classes=FLAGS.classes, steps=FLAGS.steps, cam_layer=FLAGS.cam_layer,
        grey={"auto": None, "rgb": False, "grey": True}[FLAGS.colour],
        **command.model_arguments())
    return command.wrote(result["figures"].values(), result["skipped"])


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
