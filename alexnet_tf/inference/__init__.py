"""Using a trained model: loading it with its config, statistics and class names; evaluation
(centre and multi-crop, ensembles); prediction on image files; fc7 features, their store on
disk and the nearest-neighbour search of §6.1."""
_LOADER = ("Classifier", "InputError", "load_classifier", "read_image_file", "display_image",
           "display_patch", "top_k")


def __getattr__(name):  # the loader's names, without importing TensorFlow for the package
    if name not in _LOADER:
        raise AttributeError(f"module 'alexnet_tf.inference' has no attribute {name!r}")
    from alexnet_tf.inference import loader
    return getattr(loader, name)
