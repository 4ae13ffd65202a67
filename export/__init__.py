"""Export of a trained AlexNet: a SavedModel that TensorFlow Serving serves under its default
flags (`saved_model`), TFLite files (`tflite`), and the checks that prove both
(`serving_check`: the model run the way the server runs it, XLA compilation disabled)."""
