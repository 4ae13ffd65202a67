"""The paper's figures, drawn by the figure commands of `alexnet_tf.tools`:

    kernel_grid, kernel_figure   Figure 3: the first-layer kernels (grid, PNG with a title)
    top5                         Figure 4 left: images with their five most probable labels
    neighbours                   Figure 4 right: nearest gallery images by fc7 distance
    saliency, model_views        tf-keras-vis: activation maximisation, saliency, Grad-CAM
    image_sets, plotting         the images they show; matplotlib plumbing they share
"""

_PLOTTING = ("DPI", "FONT_SIZE", "new_figure", "save_png", "save_image", "show_image",
             "shorten", "to_display")


def __getattr__(name):  # release 0.1's `alexnet_tf.figures` module: these now in plotting
    if name not in _PLOTTING:
        raise AttributeError(f"module 'alexnet_tf.figures' has no attribute {name!r}")
    from alexnet_tf import _imports
    from alexnet_tf.figures import plotting
    _imports._warn_moved(f"alexnet_tf.figures.{name}", f"alexnet_tf.figures.plotting.{name}")
    return getattr(plotting, name)
