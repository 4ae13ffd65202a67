"""Figure 4 (left) on a tiny model and tiny images: the PNG's size and content, and the bars
against the model's own probabilities."""
import numpy as np

import tools_support
from alexnet_tf.figures import top5
from alexnet_tf.inference import loader as inference


def test_top5_figure(figure_inputs, tmp_path):
    root, work, gallery, queries = figure_inputs
    shown = sorted(queries) + [gallery[0]]          # a folder's files, then one file
    result = top5.top5_figure(work, tmp_path / "top5.png",
                                     images=[str(root / "queries"), gallery[0]], columns=2)
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (2 * top5.cell_height(5), 2 * top5.CELL_WIDTH)
    tools_support.assert_not_blank(pixels)
    # the correct labels come from the class folders; the bars are the model's own top-5
    assert result["labels"] == [tools_support.CLASS_LABELS.index(p.split("/")[-2])
                                for p in shown]
    classifier = inference.load_classifier(work)
    probabilities = classifier.probabilities(classifier.preprocess_files(shown))
    order = np.argsort(-probabilities, axis=1)[:, :5]
    assert result["top"] == order.tolist()
    np.testing.assert_allclose(result["probabilities"],
                               np.take_along_axis(probabilities, order, 1), rtol=1e-5)
    # the correct class's bar is red exactly when it is among the five
    red = np.all(pixels == [214, 39, 40], axis=-1).sum()
    in_top5 = sum(label in top for label, top in zip(result["labels"], result["top"]))
    assert (red > 0) == (in_top5 > 0)


def test_top5_figure_from_a_dataset_split(figure_inputs, tmp_path):
    _, work, _, _ = figure_inputs
    result = top5.top5_figure(work, tmp_path / "split.png", split="validation",
                                     count=3, columns=3)
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (top5.cell_height(5), 3 * top5.CELL_WIDTH)
    assert len(result["labels"]) == 3 and all(0 <= label < 10 for label in result["labels"])
    tools_support.assert_not_blank(pixels)
