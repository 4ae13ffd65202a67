"""`python -m export.serving_check` (`alexnet-serving-check`): runs a SavedModel the way
TensorFlow Serving runs it under its default flags.

    python -m export.serving_check --model_dir=models/alexnet            # preflight
    python -m export.serving_check --model_dir=models/alexnet/3 \\
        --requests=reqs/ --responses=out/                               # replay requests

XLA compilation disabled process-wide as the server disables it, the TF1 session loader,
the warmup records replayed, then each `*.predict.pb` / `*.rest.json` request answered as
the server would answer it (`*.response.pb` / `*.response.json`, or `*.error.json`), with
`report.json` in the responses folder (`alexnet_tf.export.serving_session`).
Exit codes (`alexnet_tf.command`): 0 servable (requests the server would refuse are
answered with their error and do not count), 1 unexpected, 2 usage or bad input, including
the verdict "not servable under TF Serving's default flags", one `error:` line.
"""
from __future__ import annotations

import sys

from alexnet_tf import command


def define_flags(flags):
    flags.DEFINE_string("model_dir", None, "A version directory or a base path (highest "
                        "version).", required=True)
    flags.DEFINE_string("requests", None, "Folder of *.predict.pb / *.rest.json requests.")
    flags.DEFINE_string("responses", None, "Where answers go (default: the requests folder).")
    flags.DEFINE_bool("disable_xla", True, "Disable XLA compilation as TF Serving does by "
                      "default.")
    flags.DEFINE_bool("warmup", True, "Replay assets.extra/tf_serving_warmup_requests.")


def main(args):
    import json

    from absl.flags import FLAGS
    from alexnet_tf.export import serving_session
    report = serving_session.preflight(FLAGS.model_dir, FLAGS.requests,
                                       FLAGS.responses or FLAGS.requests,
                                       disable_xla=FLAGS.disable_xla, warmup=FLAGS.warmup)
    print(json.dumps(report, indent=1))
    if report.get("failed"):
        print(f"{len(report['failed'])} requests failed: {report['failed']}")
    print(f"OK: {report['version_dir']} loads and runs with XLA compilation "
          f"{'disabled' if FLAGS.disable_xla else 'enabled'} "
          f"({report['warmup_records']} warmup records replayed)")


def run(argv=None):
    return command.run(__name__, define_flags, main, argv=argv)


if __name__ == "__main__":
    sys.exit(run())
