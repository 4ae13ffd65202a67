"""Export of a trained AlexNet: a SavedModel that TensorFlow Serving serves under its default
flags (`saved_model`), TFLite files (`tflite`), and the checks that prove both
(`serving_check`: the model run the way the server runs it, XLA compilation disabled).

Installed, this folder is `alexnet_tf.export`; in a checkout `python -m export.<module>`
works too, as an alias of the same modules (`alexnet_tf._imports`)."""
if __name__ != "alexnet_tf.export":
    import alexnet_tf._imports

    alexnet_tf._imports.alias_top_level(__name__)
