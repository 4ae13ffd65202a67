"""The figure tools on a tiny model and tiny images: PNG sizes, content, and the numbers
behind each picture against an independent reference."""
import json

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import tools_support
from alexnet_tf.inference import feature_store, loader as inference
from alexnet_tf import command, predict
from alexnet_tf.figures import saliency as visualization
from alexnet_tf.figures.kernel_grid import grid_layout, kernel_grid
from alexnet_tf.network.model import fc7_features
from alexnet_tf.tools import figure_kernels, figure_top5, similarity_search, visualize
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    work = tools_support.make_workdir(root)
    gallery = tools_support.make_images(root / "gallery", per_class=3, classes=(1, 2, 5, 8))
    queries = tools_support.make_images(root / "queries", per_class=1, classes=(2, 5), seed=9)
    return root, work, gallery, queries


def _fc7_reference(work, paths):
    """fc7 of the in-memory model on the served preprocessing, computed directly."""
    classifier = inference.load_classifier(work)
    return fc7_features(classifier.model).predict(classifier.preprocess_files(paths), verbose=0)


def test_figure_kernels_png_is_the_grid_under_a_title(setup, tmp_path):
    _, work, _, _ = setup
    out = figure_kernels.make_kernel_figure(work, tmp_path / "k.png", scale=3)
    pixels = tools_support.png_pixels(out)
    import keras
    kernel = keras.saving.load_model(work / "model.keras").get_layer("conv1").get_weights()[0]
    layout = grid_layout(kernel.shape, 2, scale=3)
    assert pixels.shape == (figure_kernels.TITLE_HEIGHT + layout.height, layout.width, 3)
    np.testing.assert_array_equal(pixels[figure_kernels.TITLE_HEIGHT:],
                                  kernel_grid(kernel, groups=2, scale=3))
    assert (pixels[:figure_kernels.TITLE_HEIGHT] < 128).sum() > 50, "no title text"


def test_figure_kernels_reads_bvlc_npy_and_shows_rgb(tmp_path):
    """caffe-tensorflow's file holds conv1 reading B, G, R: a kernel lit only in the file's
    first (blue) input channel must be drawn blue."""
    kernel = np.zeros((11, 11, 3, 96), np.float32)
    kernel[5, 5, 0, :] = 1.0                                 # channel 0 = B in Caffe's order
    weights = {"conv1": [kernel, np.zeros(96, np.float32)]}
    np.save(tmp_path / "bvlc_alexnet.npy", weights, allow_pickle=True)
    out = figure_kernels.make_kernel_figure(tmp_path / "bvlc_alexnet.npy", tmp_path / "b.png")
    grid = tools_support.png_pixels(out)[figure_kernels.TITLE_HEIGHT:]
    layout = grid_layout(kernel.shape, 2)
    top, left = layout.cell_origin(1, 47)
    block = grid[top:top + 44, left:left + 44]
    lit = block[20:24, 20:24]                                # weight (5, 5) at scale 4
    assert np.all(lit[..., 2] == 255) and np.all(lit[..., :2] == 0)
    assert block.sum() == lit.sum()
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        figure_kernels.make_kernel_figure(tmp_path / "bvlc_alexnet.npy", tmp_path / "x.png",
                                          layer="conv9")


def test_top5_figure(setup, tmp_path):
    root, work, gallery, queries = setup
    shown = sorted(queries) + [gallery[0]]          # a folder's files, then one file
    result = figure_top5.top5_figure(work, tmp_path / "top5.png",
                                     images=[str(root / "queries"), gallery[0]], columns=2)
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (2 * figure_top5.cell_height(5), 2 * figure_top5.CELL_WIDTH)
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


def test_top5_figure_from_a_dataset_split(setup, tmp_path):
    _, work, _, _ = setup
    result = figure_top5.top5_figure(work, tmp_path / "split.png", split="validation",
                                     count=3, columns=3)
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (figure_top5.cell_height(5), 3 * figure_top5.CELL_WIDTH)
    assert len(result["labels"]) == 3 and all(0 <= label < 10 for label in result["labels"])
    tools_support.assert_not_blank(pixels)


@pytest.mark.slow
def test_similarity_search_store_neighbours_and_figure(setup, tmp_path):
    root, work, gallery, queries = setup
    store_dir = tmp_path / "store"
    result = similarity_search.similarity_figure(
        work, [str(root / "queries")], tmp_path / "sim.png", store_dir=store_dir,
        gallery_folder=root / "gallery", k=4, batch_size=5, dtype="float32", progress=False)
    store = feature_store.FeatureStore(store_dir)
    assert store.complete and store.count == len(gallery) and store.keys == sorted(gallery)
    reference = _fc7_reference(work, store.keys)
    np.testing.assert_allclose(store.features, reference, rtol=1e-4, atol=1e-4)
    assert store.labels.tolist() == [tools_support.CLASS_LABELS.index(k.split("/")[-2])
                                     for k in store.keys]
    # the neighbours are a brute-force NumPy search over the reference features
    query_features = _fc7_reference(work, sorted(queries))
    distances = np.linalg.norm(query_features[:, None] - reference[None], axis=-1)
    expected = np.argsort(distances, axis=1)[:, :4]
    got = [[store.keys.index(key) for key, _ in row] for row in result["neighbours"]]
    assert got == expected.tolist()
    np.testing.assert_allclose([[d for _, d in row] for row in result["neighbours"]],
                               np.take_along_axis(distances, expected, 1), rtol=1e-4)
    width = 5 * similarity_search.CELL + 3 * similarity_search.MARGIN
    height = 2 * (similarity_search.CELL + similarity_search.TEXT_HEIGHT) + \
        2 * similarity_search.MARGIN + 24
    pixels = tools_support.png_pixels(result["figure"])
    assert pixels.shape[:2] == (height, width)
    tools_support.assert_not_blank(pixels)


def test_similarity_search_excludes_the_query_itself_and_reuses_the_store(setup, tmp_path):
    root, work, gallery, _ = setup
    store_dir = tmp_path / "store"
    kwargs = dict(store_dir=store_dir, gallery_folder=root / "gallery", k=2, batch_size=4,
                  progress=False)
    first = similarity_search.similarity_figure(work, [gallery[0]], tmp_path / "a.png",
                                                **kwargs)
    assert all(key != gallery[0] for key, _ in first["neighbours"][0])
    meta = json.loads((store_dir / feature_store.META_FILE).read_text())
    assert meta["dtype"] == "float16" and meta["written"] == len(gallery)
    features = np.load(store_dir / feature_store.FEATURES_FILE, mmap_mode="r+")
    features[7] = 1000.0                     # a mark: recomputing would overwrite it
    features.flush()
    del features
    again = similarity_search.similarity_figure(work, [gallery[0]], tmp_path / "b.png",
                                                exclude_self=False, **kwargs)
    key, distance = again["neighbours"][0][0]
    assert key == str(sorted(gallery)[sorted(gallery).index(gallery[0])]) == gallery[0]
    assert distance < 0.01                   # itself, up to float16 rounding
    assert np.all(feature_store.FeatureStore(store_dir).features[7] == 1000.0)


def test_similarity_search_over_a_dataset_split(setup, tmp_path):
    """Validation images against the validation split itself: each query's own row is left
    out, and the patches drawn are those of the rows found."""
    _, work, _, _ = setup
    result = similarity_search.similarity_figure(
        work, None, tmp_path / "split.png", store_dir=tmp_path / "store",
        gallery_split="validation", query_split="validation", query_count=2, k=3,
        batch_size=120, progress=False)
    store = feature_store.FeatureStore(tmp_path / "store")
    assert store.keys[:2] == ["validation:0", "validation:1"] and store.complete
    for query, row in zip(result["queries"], result["neighbours"]):
        assert len(row) == 3 and query not in [key for key, _ in row]
    from alexnet_tf.inference import gallery as gallery_lib
    classifier = inference.load_classifier(work)
    split = gallery_lib.split_gallery(classifier.cfg, "validation")
    rows = [int(key.split(":")[1]) for key, _ in result["neighbours"][0]]
    expected = [inference.display_patch(image, classifier.cfg)
                for n, (image, ok, _) in enumerate(split.decoded(0, 10 ** 8).take(max(rows) + 1))
                if n in rows]
    got = split.patches(sorted(rows), classifier.cfg)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    tools_support.assert_not_blank(tools_support.png_pixels(result["figure"]))


def test_visualize_writes_the_three_views(setup, tmp_path):
    root, work, _, queries = setup
    written = visualize.visualize(work, tmp_path / "vis", images=[str(root / "queries")],
                                  filters="0-2", classes="1,4", steps=3)
    conv = tools_support.png_pixels(written["conv"])
    assert conv.shape[:2] == visualize.grid_size(3, 8)[::-1]
    assert tools_support.png_pixels(written["classes"]).shape[:2] == \
        visualize.grid_size(2, 8)[::-1]
    attribution = tools_support.png_pixels(written["attribution"])
    assert attribution.shape[:2] == visualize.attribution_size(len(queries))[::-1]
    for pixels in (conv, attribution):
        tools_support.assert_not_blank(pixels)
    with pytest.raises(ValueError, match="must lie in"):
        visualize.visualize(work, tmp_path / "bad", filters="0,999", steps=1)


def test_saliency_is_the_input_gradient_and_grad_cam_is_normalised(setup):
    """Saliency without smoothing: max over colour of |d logit / d input|, scaled to [0, 1]
    (tf-keras-vis' normalisation), against a GradientTape of our own."""
    _, work, _, queries = setup
    classifier = inference.load_classifier(work)
    inputs = classifier.preprocess_files(queries)
    target = [2, 7]
    maps = visualization.saliency(classifier.model, inputs, target, smooth_samples=0)
    x = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = classifier.model(x, training=False)
        score = tf.reduce_sum(tf.gather(logits, target, axis=1, batch_dims=1))
    gradient = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
    low = gradient.min(axis=(1, 2), keepdims=True)
    high = gradient.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(maps, (gradient - low) / (high - low), atol=1e-4)
    cams = visualization.grad_cam(classifier.model, inputs, target)
    assert cams.shape == inputs.shape[:3] and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        visualization.grad_cam(classifier.model, inputs, target, layer_name="conv9")


@pytest.mark.parametrize("module", [figure_kernels, figure_top5, similarity_search, visualize,
                                    predict])
def test_every_tool_documents_its_flags(module):
    """What `--help` prints: the module doc and every flag, with --model required."""
    flag_values = command.declared(module.define_flags)
    assert "model" in flag_values and len(module.__doc__.strip().splitlines()) > 3
    with pytest.raises(flags.IllegalFlagValueError, match="model"):
        flag_values(["prog"])                    # --model is required


@pytest.mark.slow
def test_tools_run_from_the_command_line(setup, tmp_path):
    _, work, _, _ = setup
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
    assert "--model" in out and "Figure 3" in out, err[-1500:]   # absl exits 1 after --help
    code, out, err = results["run"]
    assert code == 0 and (tmp_path / "k.png").is_file(), err[-1500:]
    tools_support.assert_not_blank(tools_support.png_pixels(tmp_path / "k.png"))
    code, out, err = results["missing"]
    assert code == 2 and "error: no model at" in err and "Traceback" not in err, err[-1500:]
