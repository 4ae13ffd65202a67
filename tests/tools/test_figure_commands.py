"""The figure commands as a user runs them: their flags and help, exit codes and messages.
What they draw is tested in tests/figures/ (the library they call)."""
import pytest
from absl import flags

import tools_support
from alexnet_tf import command, predict
from alexnet_tf.tools import figure_kernels, figure_top5, similarity_search, visualize


@pytest.mark.parametrize("module", [figure_kernels, figure_top5, similarity_search, visualize,
                                    predict])
def test_every_tool_documents_its_flags(module):
    """What `--help` prints: the module doc and every flag, with --model required."""
    flag_values = command.declared(module.define_flags)
    assert "model" in flag_values and len(module.__doc__.strip().splitlines()) > 3
    with pytest.raises(flags.IllegalFlagValueError, match="model"):
        flag_values(["prog"])                    # --model is required


def test_unreadable_images_are_reported_and_the_rest_drawn_with_exit_2(figure_inputs, tmp_path,
                                                                       capsys):
    """As `predict`: each image that cannot be used is one `skipped:` line, the figure shows
    the others, and the exit code says that not everything asked for was done."""
    _, work, gallery, _ = figure_inputs
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    out = tmp_path / "top5.png"
    code = figure_top5.run(["figure_top5", f"--model={work}", f"--images={gallery[0]},{broken}",
                            f"--out={out}"])
    stdout, stderr = capsys.readouterr()
    assert code == 2, stderr
    skipped = [line for line in stderr.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 1 and str(broken) in skipped[0], stderr
    assert "Traceback" not in stderr and f"wrote {out}" in stdout
    tools_support.assert_not_blank(tools_support.png_pixels(out))
    code = figure_top5.run(["figure_top5", f"--model={work}", f"--images={broken}",
                            f"--out={tmp_path / 'none.png'}"])
    errors = capsys.readouterr().err.splitlines()
    assert code == 2 and len(errors) == 1 and errors[0].startswith(
        "error: no readable images to show"), errors
    assert not (tmp_path / "none.png").exists()


@pytest.mark.slow
def test_tools_run_from_the_command_line(figure_inputs, tmp_path):
    _, work, _, _ = figure_inputs
    runs = {"help": tools_support.start_module("tools.figure_kernels", "--help"),
            "run": tools_support.start_module("tools.figure_kernels", f"--model={work}",
                                              f"--out={tmp_path / 'k.png'}"),
            "missing": tools_support.start_module("tools.similarity_search",
                                                  f"--model={tmp_path / 'missing.keras'}",
                                                  f"--store={tmp_path / 's'}",
                                                  "--gallery_split=train",
                                                  "--query_split=validation")}
    results = {name: (process.wait(timeout=300), *process.communicate())
               for name, process in runs.items()}
    code, out, err = results["help"]
    assert code == 0 and "--model" in out and "Figure 3" in out, err[-1500:]
    code, out, err = results["run"]
    assert code == 0 and (tmp_path / "k.png").is_file(), err[-1500:]
    tools_support.assert_not_blank(tools_support.png_pixels(tmp_path / "k.png"))
    code, out, err = results["missing"]
    assert code == 2 and "error: no model at" in err and "Traceback" not in err, err[-1500:]
