"""`python -m alexnet_tf.evaluate --output`: the JSON file is replaced whole (a reader holding
the previous one keeps reading all of it), and a full disk leaves the previous file, says
so in one line and exits 2; a missing folder is created, and a path that cannot be written
is refused before the evaluation."""
import errno
import json
import os
import stat

import faults
import pytest

import tools_support
from alexnet_tf import atomic, evaluate

NO_SPACE = os.strerror(errno.ENOSPC)
PREVIOUS = json.dumps({"models": ["an earlier run"], "results": {"center": {}}}, indent=1)


def _evaluate(workdir, output):
    return tools_support.run_module("alexnet_tf.evaluate", f"--model={workdir}",
                                    "--max_images=4", "--crops=center", f"--output={output}")


def test_results_replace_the_previous_file_whole(tmp_path, monkeypatch):
    output = tmp_path / "results.json"
    output.write_text(PREVIOUS)
    with open(output) as reader:                  # someone reading the previous results
        evaluate.write_results(output, models=("runs/a",), split="validation",
                               results={"center": {"images": 4}})
        assert reader.read() == PREVIOUS          # an in-place write would show the new text
    assert json.loads(output.read_text()) == {"models": ["runs/a"], "split": "validation",
                                              "results": {"center": {"images": 4}}}

    def fills(fd, *args, **kwargs):               # the disk fills at the first write
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(os, "fdopen", fills)
    with pytest.raises(atomic.DiskFullError, match=f"^disk full writing {output}$"):
        evaluate.write_results(output, models=("runs/b",), split="validation", results={})
    assert json.loads(output.read_text())["models"] == ["runs/a"]
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.slow
def test_the_command_replaces_its_output_whole(tmp_path):
    workdir = tools_support.make_workdir(tmp_path / "trained")
    output = tmp_path / "out" / "results.json"
    output.parent.mkdir()
    output.write_text(PREVIOUS)
    old_umask = os.umask(0o022)
    try:
        with open(output) as reader:
            done = _evaluate(workdir, output)
            assert done.returncode == 0, done.stderr[-3000:]
            assert reader.read() == PREVIOUS
    finally:
        os.umask(old_umask)
    saved = json.loads(output.read_text())
    assert saved["models"] == [str(workdir)] and saved["results"]["center"]["images"] == 4
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o644
    assert os.listdir(output.parent) == ["results.json"]


@pytest.mark.slow
def test_the_command_on_a_full_disk_keeps_the_previous_output(tmp_path):
    workdir = tools_support.make_workdir(tmp_path / "trained")
    with faults.tmpfs(tmp_path / "tiny", "64k") as mount:
        output = mount / "results.json"
        output.write_text(PREVIOUS)
        with open(mount / "filler", "wb", buffering=0) as f:
            with pytest.raises(OSError) as full:
                while True:
                    f.write(b"\0" * 1024)
        assert full.value.errno == errno.ENOSPC
        done = _evaluate(workdir, output)
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1] == f"error: disk full writing {output}"
        assert output.read_text() == PREVIOUS
        assert sorted(os.listdir(mount)) == ["filler", "results.json"]


def test_an_output_in_a_missing_folder_is_created(tmp_path):
    workdir = tools_support.make_workdir(tmp_path / "trained")
    output = tmp_path / "reports" / "2026" / "results.json"
    done = _evaluate(workdir, output)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(output.read_text())["results"]["center"]["images"] == 4


def test_an_output_that_cannot_be_written_is_refused_before_evaluating(tmp_path):
    workdir = tools_support.make_workdir(tmp_path / "trained")
    (tmp_path / "a_file").write_text("")
    for output, reason in ((tmp_path / "a_file" / "results.json", "a_file is a file, not a folder"),
                           (tmp_path / "a_file" / "x" / "results.json", "Not a directory"),
                           (tmp_path, "is a directory, not a file")):
        done = _evaluate(workdir, output)
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: --output={output}: ") and reason in last, last
        assert "top-1" not in done.stdout          # refused before any result was printed
