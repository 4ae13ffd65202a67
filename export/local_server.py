"""`python -m export.local_server` (`alexnet-local-server`): a local stand-in for
`tensorflow_model_server`, to try clients without the binary.

    python -m export.local_server --model_dir=models/alexnet --grpc_port=8500 --rest_port=8501

Serves the highest version under `--model_dir` the way `serving_check` runs it (XLA
compilation disabled, TF1 session loader, warmup replayed) on 127.0.0.1 only: gRPC
Predict and Classify, REST `:predict` and the version status, errors as the server sends
them (`alexnet_tf.export.serving_front_ends`). A development aid: one model, no batching,
no version polling; it stops by itself after `--max_seconds`, or at Ctrl-C (exit 0).
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    flags.DEFINE_string("model_dir", None, "Base path or version directory.", required=True)
    flags.DEFINE_string("model_name", "alexnet", "The name clients ask for.")
    flags.DEFINE_integer("grpc_port", 8500, "gRPC port on 127.0.0.1 (0: any free port).")
    flags.DEFINE_integer("rest_port", 8501, "REST port on 127.0.0.1 (0: any free port).")
    flags.DEFINE_string("port_file", None, "Write the bound ports here as JSON once ready.")
    flags.DEFINE_integer("max_seconds", 3600, "Stop by itself after this long.")


def main(args):
    from absl.flags import FLAGS
    from alexnet_tf.export import serving_front_ends
    serving_front_ends.serve(FLAGS.model_dir, model_name=FLAGS.model_name,
                             grpc_port=FLAGS.grpc_port, rest_port=FLAGS.rest_port,
                             port_file=FLAGS.port_file, max_seconds=FLAGS.max_seconds,
                             announce=lambda line: print(line, flush=True))


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
