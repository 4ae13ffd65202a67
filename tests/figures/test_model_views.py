"""The tf-keras-vis figures on a tiny model and tiny images: their sizes and content."""
import pytest

import tools_support
from alexnet_tf.figures import model_views


def test_visualize_writes_the_three_views(figure_inputs, tmp_path):
    root, work, _, queries = figure_inputs
    result = model_views.visualize(work, tmp_path / "vis", images=[str(root / "queries")],
                                   filters="0-2", classes="1,4", steps=3)
    written = result["figures"]
    assert result["skipped"] == []
    conv = tools_support.png_pixels(written["conv"])
    assert conv.shape[:2] == model_views.grid_size(3, 8)[::-1]
    assert tools_support.png_pixels(written["classes"]).shape[:2] == \
        model_views.grid_size(2, 8)[::-1]
    attribution = tools_support.png_pixels(written["attribution"])
    assert attribution.shape[:2] == model_views.attribution_size(len(queries))[::-1]
    for pixels in (conv, attribution):
        tools_support.assert_not_blank(pixels)
    with pytest.raises(ValueError, match="must lie in"):
        model_views.visualize(work, tmp_path / "bad", filters="0,999", steps=1)
