"""Export of a trained AlexNet: a SavedModel that TensorFlow Serving serves under its default
flags (`saved_model`), TFLite files (`tflite`), and the checks that prove both
(`serving_check`: the model run the way the server runs it, XLA compilation disabled).

The commands (`saved_model`, `tflite`, `serving_check`, `local_server`, `serving_benchmark`)
read their flags, load the model through `alexnet_tf.inference.loader` (as every command
does) and call the library: `serving_export` (one published version), `tflite_conversion`,
`serving_session` (the server's way of running a version), `serving_front_ends` (the local
stand-in server), and what those are made of (`signatures`, `warmup`, `server_config`,
`versioning`, `rest_json`, `servability`); every file they publish goes through
`alexnet_tf.atomic`.

Installed, this folder is `alexnet_tf.export`; in a checkout `python -m export.<module>`
works too, as an alias of the same modules (`alexnet_tf._imports`)."""
if __name__ != "alexnet_tf.export":
    import alexnet_tf._imports

    alexnet_tf._imports.alias_top_level(__name__)
