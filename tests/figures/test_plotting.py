"""Saving a figure: the exact pixel size, a file like any other new file, and a failed save
(a full disk) that leaves the previous file and no temporary file behind."""
import errno
import os

import numpy as np
import pytest

import tools_support
from alexnet_tf.figures import plotting


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
