"""The paper's figures: Figure 3's first-layer kernel grid, Figure 4's top-5 panels and
nearest neighbours, saliency maps (tf-keras-vis), and the matplotlib plumbing they share."""

_PLOTTING = ("DPI", "FONT_SIZE", "new_figure", "save_png", "save_image", "show_image",
             "shorten", "to_display")


def __getattr__(name):  # release 0.1's `alexnet_tf.figures` module: these now in plotting
    if name not in _PLOTTING:
        raise AttributeError(f"module 'alexnet_tf.figures' has no attribute {name!r}")
    from alexnet_tf import _imports
    from alexnet_tf.figures import plotting
    _imports._warn_moved(f"alexnet_tf.figures.{name}", f"alexnet_tf.figures.plotting.{name}")
    return getattr(plotting, name)
