"""`alexnet_tf.figures.plotting` saves a figure whole, readable by others, and a failed save
leaves the previous figure and no temporary file."""
import os
import stat

import numpy as np
import pytest
from PIL import Image

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
