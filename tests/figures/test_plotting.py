"""Saving a figure (`alexnet_tf.figures.plotting`): the exact pixel size, readable by others
like any new file, and a failed save (a full disk) that leaves the previous figure and no
temporary file behind."""
import errno
import os
import stat

import numpy as np
import pytest
from PIL import Image

import tools_support
from alexnet_tf.figures import plotting


def test_a_figure_is_readable_by_others_and_exactly_its_size(tmp_path):
    old = os.umask(0o022)
    try:
        plotting.save_png(plotting.new_figure(120, 80), tmp_path / "figure.png")
        plotting.save_image(np.zeros((7, 9, 3), np.uint8), tmp_path / "patch.png")
    finally:
        os.umask(old)
    for name, size in (("figure.png", (120, 80)), ("patch.png", (9, 7))):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644   # not mkstemp's 0600
        with Image.open(tmp_path / name) as image:
            assert image.size == size
    assert sorted(os.listdir(tmp_path)) == ["figure.png", "patch.png"]


def test_a_failed_save_keeps_the_previous_figure_and_leaves_no_temporary(tmp_path):
    plotting.save_image(np.full((4, 4, 3), 200, np.uint8), tmp_path / "patch.png")
    before = (tmp_path / "patch.png").read_bytes()
    with pytest.raises(TypeError):
        plotting.save_image(np.zeros((4, 4, 3, 2, 2), np.uint8), tmp_path / "patch.png")
    assert (tmp_path / "patch.png").read_bytes() == before
    assert os.listdir(tmp_path) == ["patch.png"]


def _new_file_mode(tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    return probe.stat().st_mode & 0o777


def test_saved_figures_have_their_size_and_a_new_files_mode(tmp_path):
    fig = plotting.new_figure(123, 45)
    png = plotting.save_png(fig, tmp_path / "out" / "fig.png")
    assert tools_support.png_pixels(png).shape == (45, 123, 3)
    image = plotting.save_image(np.full((7, 9, 3), 200, np.uint8), tmp_path / "img.png")
    assert tools_support.png_pixels(image).shape == (7, 9, 3)
    expected = _new_file_mode(tmp_path)
    assert png.stat().st_mode & 0o777 == expected == image.stat().st_mode & 0o777
    assert sorted(os.listdir(tmp_path)) == ["img.png", "out", "probe"]


@pytest.mark.parametrize("save", ["save_png", "save_image"])
def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch,
                                                                     save):
    target = tmp_path / "figure.png"
    target.write_bytes(b"the previous figure")

    def fills_the_disk(self_or_fp, *args, **kwargs):
        path = self_or_fp if isinstance(self_or_fp, str) else args[0]
        with open(path, "wb") as f:
            f.write(b"half a PNG")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if save == "save_png":
        import matplotlib.figure
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fills_the_disk)
        subject = plotting.new_figure(10, 10)
    else:
        from PIL import Image
        monkeypatch.setattr(Image.Image, "save", fills_the_disk)
        subject = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(OSError) as raised:
        getattr(plotting, save)(subject, target)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert target.read_bytes() == b"the previous figure"
    assert os.listdir(tmp_path) == ["figure.png"]
