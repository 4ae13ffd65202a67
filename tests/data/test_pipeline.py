"""The input pipeline end to end: digits and image-folder sources, order, randomness, skipping."""
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf import config

from alexnet_tf.data import pipeline as input_pipeline, preprocessing
from alexnet_tf.data.sources import SourceError, ordering

import pipeline_data

DIGITS = config.get_config("digits")
R, S = 16, 12          # small folder images: resize 16, crop 12 (5 x 5 positions)


def folder_config(root, *extra):
    return config.override(DIGITS, ["data.dataset=folder", f"data.data_dir={root}",
                                    f"data.resize_size={R}", f"model.image_size={S}",
                                    "data.mean=image", *extra])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return pipeline_data.make_image_folder(tmp_path_factory.mktemp("folder"), R)


def test_digits_source_is_sklearn_digits_with_a_fixed_split():
    from sklearn.datasets import load_digits
    info = input_pipeline.dataset_info(DIGITS)
    assert info.num_classes == 10 and info.num_examples == {"train": 1437, "validation": 360}
    digits = load_digits()
    expected = np.sort(np.rint(digits.images.reshape(-1, 64) * 255 / 16), axis=0)
    from alexnet_tf.data.sources import digits as digits_source
    split = digits_source.load_split()
    images = np.concatenate([split["train"][0], split["validation"][0]])[..., 0].reshape(-1, 64)
    np.testing.assert_array_equal(np.sort(images, axis=0), expected)
    assert np.all(split["train"][0][..., 0] == split["train"][0][..., 2])
    # Stratified: every class in validation, 36 each (+-1).
    counts = np.bincount(split["validation"][1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_batches_have_the_right_shape_and_dtype():
    train = input_pipeline.build_dataset(DIGITS, "train", training=True, seed=0, epoch=0)
    images, labels = next(iter(train))
    assert images.shape == (32, 67, 67, 3) and images.dtype == tf.float32
    assert labels.shape == (32,) and labels.dtype == tf.int32
    assert len(train) == 1437 // 32
    val = input_pipeline.build_dataset(DIGITS, "validation", training=False, batch_size=100,
                                       ten_crop=True)
    assert int(val.cardinality()) == 4
    last_images, last_labels = next(iter(val.skip(3)))
    # digits trains without reflections: five patches (corners + centre), none mirrored.
    assert last_images.shape == (60, 5, 67, 67, 3) and last_labels.shape == (60,)


def test_epochs_are_reproducible_and_differ():
    def first(seed, epoch):
        dataset = input_pipeline.build_dataset(DIGITS, "train", training=True, seed=seed,
                                               epoch=epoch, batch_size=16)
        return [tuple(t.numpy() for t in batch) for batch in dataset.take(2)]

    a, b, c = first(0, 0), first(0, 0), first(0, 1)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][1], c[0][1])
    assert not np.array_equal(a[0][1], first(1, 0)[0][1])


def test_iterator_checkpoint_and_skip_resume_exactly(tmp_path):
    def make():
        return input_pipeline.build_dataset(DIGITS, "train", training=True, seed=5, epoch=2,
                                            batch_size=64).take(7)
    full = [x.numpy() for x, _ in make()]
    iterator = iter(make())
    next(iterator), next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "it"))
    restored = iter(make())
    tf.train.Checkpoint(iterator=restored).read(path).assert_consumed()
    for expected, (got, _) in zip(full[2:], restored):
        np.testing.assert_array_equal(got.numpy(), expected)
    skipped = [x.numpy() for x, _ in make().skip(5)]
    assert len(skipped) == len(full) - 5
    np.testing.assert_array_equal(skipped[0], full[5])


def test_permuted_indices_cover_everything_once_and_shard_disjointly():
    seed = tf.constant([3, 4], tf.int64)
    whole = [int(i) for i in ordering.permuted_indices(103, seed)]
    assert sorted(whole) == list(range(103)) and whole != list(range(103))
    shares = [[int(i) for i in ordering.permuted_indices(103, seed, shard=(3, k))]
              for k in range(3)]
    assert sorted(sum(shares, [])) == list(range(103))
    assert shares[1] == whole[1::3]
    with pytest.raises(ValueError, match="shard index 3"):
        ordering.permuted_indices(10, seed, shard=(3, 3))


def test_block_shuffle_permutes_within_windows():
    seed = tf.constant([1, 1], tf.int64)
    out = [int(x) for x in ordering.block_shuffle(tf.data.Dataset.range(25), 10, seed)]
    assert sorted(out[:10]) == list(range(10)) and sorted(out[20:]) == list(range(20, 25))
    assert out[:10] != list(range(10))


def test_folder_training_epoch_sees_every_file_once_across_shards(folder):
    root, colours, _ = folder
    cfg = folder_config(root, "data.pca_stddev=0.0")
    from alexnet_tf.data.statistics import DatasetStatistics
    stats = DatasetStatistics.per_channel([0, 0, 0], size=R)
    seen = []
    for k in range(2):
        dataset = input_pipeline.build_dataset(cfg, "train", training=True, seed=1, epoch=0,
                                               batch_size=1, shard=(2, k), statistics=stats)
        for images, labels in dataset:
            pixel = np.rint(images.numpy()[0, 0, 0] / cfg.data.input_scale).astype(int)
            np.testing.assert_allclose(images.numpy()[0] / cfg.data.input_scale, np.broadcast_to(
                pixel, (S, S, 3)), atol=1e-3)   # a solid colour stays solid
            seen.append((tuple(pixel), int(labels[0])))
    expected = sorted((colours[i], i // 6) for i in range(18))
    assert sorted(seen) == expected


def test_folder_with_odd_files_yields_valid_examples_and_counts_the_skipped(folder):
    root, _, odd = folder
    cfg = folder_config(root, "data.mean=channel")
    info = input_pipeline.dataset_info(cfg)
    assert info.class_names == ("cat", "dog", "eel")
    assert info.num_examples == {"train": 18, "validation": 10}
    from alexnet_tf.data.statistics import DatasetStatistics
    stats = DatasetStatistics.per_channel([10, 20, 30], size=R)
    dataset = input_pipeline.build_dataset(cfg, "validation", training=False, batch_size=2,
                                           report_skipped=True, statistics=stats)
    batches = list(dataset)
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (6, S, S, 3) and np.all(np.isfinite(images))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2]
    # Skipped so far, at each batch's last example: 2 bad cat files, then 2 bad dog files.
    assert [int(b[2]) for b in batches] == [2, 4, 4]
    # The PNG named .JPEG and the RGBA PNG are exactly the eval preprocessing of their pixels.
    np.testing.assert_array_equal(images[0], preprocessing.eval_preprocess(
        odd["b_png_named.JPEG"], cfg, stats).numpy())
    np.testing.assert_array_equal(images[3], preprocessing.eval_preprocess(
        odd["e_rgba.png"], cfg, stats).numpy())


def test_folder_statistics_equal_numpy(folder, tmp_path):
    root, colours, _ = folder
    cfg = folder_config(root)
    stats, path = input_pipeline.compute_and_save_statistics(
        cfg, tmp_path / "stats.npz", batch_size=5, progress=False)
    # Solid images: the resized central square is the colour itself.
    pixels = np.array([colours[i] for i in range(18)], np.float64)
    np.testing.assert_allclose(stats.mean_image, np.broadcast_to(pixels.mean(0), (R, R, 3)),
                               rtol=1e-5)
    np.testing.assert_allclose(stats.covariance, np.cov(pixels, rowvar=False, bias=True),
                               rtol=1e-4, atol=1e-3)
    loaded = input_pipeline.dataset_statistics(
        config.override(cfg, [f"data.statistics_path={path}"]))
    np.testing.assert_array_equal(loaded.mean_image, stats.mean_image)


def test_missing_sources_and_statistics_are_clear_errors(tmp_path, folder):
    with pytest.raises(SourceError, match="does not exist; expected <root>/train/<class>"):
        input_pipeline.dataset_info(folder_config(tmp_path / "nowhere"))
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(SourceError, match="no val/ directory"):
        input_pipeline.dataset_info(folder_config(tmp_path))
    with pytest.raises(SourceError, match="data.data_dir"):
        input_pipeline.dataset_info(config.override(DIGITS, ["data.dataset=folder"]))
    root = folder[0]
    with pytest.raises(SourceError, match="tools.compute_statistics"):
        input_pipeline.build_dataset(folder_config(root), "train", training=True)
    with pytest.raises(SourceError, match="unknown split"):
        input_pipeline.build_dataset(DIGITS, "test", training=False)


def test_skipping_pipeline_checkpoints_and_survives_a_vanished_file(tmp_path):
    root, _, _ = pipeline_data.make_image_folder(tmp_path / "data", R)
    cfg = folder_config(root, "data.mean=channel")
    from alexnet_tf.data.statistics import DatasetStatistics
    stats = DatasetStatistics.per_channel([0, 0, 0], size=R)

    def make():
        return input_pipeline.build_dataset(cfg, "validation", training=False, batch_size=2,
                                            report_skipped=True, statistics=stats)

    full = [(x.numpy(), y.numpy(), int(s)) for x, y, s in make()]
    iterator = iter(make())
    next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "it"))
    restored = iter(make())
    tf.train.Checkpoint(iterator=restored).read(path).assert_consumed()
    rest = [(x.numpy(), y.numpy(), int(s)) for x, y, s in restored]
    assert len(rest) == len(full) - 1
    for (xa, ya, sa), (xb, yb, sb) in zip(full[1:], rest):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert sa == sb
    # A file listed but gone when read is skipped and counted like a corrupt one.
    dataset = make()
    (root / "val" / "dog" / "e_rgba.png").unlink()
    batches = list(dataset)
    assert sum(len(b[1]) for b in batches) == 5 and int(batches[-1][2]) == 5


# -- A file source without statistics: training computes them once (§2, §4.1) -----------

TINY_R, TINY_S = 76, 67    # the tiny preset's resize and crop


def grey_folder(root):
    """root/{train,val}/{a,b}/*.png: random grey images already R x R (the §2 resize keeps
    them as they are). Returns the training images [N, R, R] and the validation ones."""
    from PIL import Image
    rng = np.random.RandomState(1)
    images = {"train": [], "val": []}
    for split, per_class in (("train", 6), ("val", 2)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(per_class):
                grey = rng.randint(40, 220, (TINY_R, TINY_R)).astype(np.uint8)
                Image.fromarray(grey, "L").save(root / split / label / f"{i}.png")
                images[split].append(grey)
    return np.stack(images["train"]), np.stack(images["val"])


def grey_config(root, *extra):
    return config.override(config.get_config("tiny"), [
        "data.dataset=folder", f"data.data_dir={root}", "model.num_classes=2",
        "train.batch_size=4", "train.epochs=2", *extra])


def _train(cfg, workdir):
    from alexnet_tf.training.loop import RunOptions, train_and_evaluate
    lines = []
    summary = train_and_evaluate(cfg, workdir, RunOptions(strategy="single", progress=False),
                                 log=lines.append)
    assert summary["status"] == "completed"
    return lines


@pytest.fixture
def passes(monkeypatch):
    """Counts the statistics passes over a training split."""
    counted = []
    real = input_pipeline.compute_statistics

    def counting(*args, **kwargs):
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(input_pipeline, "compute_statistics", counting)
    return counted


COMPUTING = "computing the training set's mean and RGB PCA"


@pytest.mark.slow
def test_training_on_a_folder_without_statistics_computes_them_once_and_caches_them(
        tmp_path, capsys, passes):
    from alexnet_tf.data.statistics import DatasetStatistics
    train, val = grey_folder(tmp_path / "data")
    cfg = grey_config(tmp_path / "data")
    lines = _train(cfg, tmp_path / "run")
    printed = capsys.readouterr().out + "\n".join(lines)
    # One pass and one line for the whole two-epoch run, naming the file it writes.
    cached = tmp_path / "data" / f"statistics_{TINY_R}.npz"
    assert printed.count(COMPUTING) == 1 and f"12 images -> {cached}" in printed
    assert "fallback_mean_rgb" not in printed and len(passes) == 1
    # The training set's own statistics (NumPy over the same images), not ImageNet's means:
    # a grey pixel (g, g, g) has covariance var(g) * ones(3, 3): lambda_1 = 3 var(g).
    pixels = train.astype(np.float64)
    for stats in (DatasetStatistics.load(cached), DatasetStatistics.load(tmp_path / "run" /
                                                                         "statistics.npz")):
        np.testing.assert_allclose(stats.mean_rgb, [pixels.mean()] * 3, rtol=1e-5)
        np.testing.assert_allclose(stats.eigenvalues, [3 * pixels.var(), 0, 0], atol=1e-2)
    # What the pipeline subtracts: (centre patch - that mean) * input_scale.
    images, _ = next(iter(input_pipeline.build_dataset(cfg, "validation", training=False,
                                                       batch_size=4)))
    c = (TINY_R - TINY_S) // 2
    expected = (val[:4, c:c + TINY_S, c:c + TINY_S, None].astype(np.float64)
                - pixels.mean()) * cfg.data.input_scale
    np.testing.assert_allclose(images.numpy(), np.broadcast_to(expected, images.shape),
                               atol=1e-4)
    # A second run reads the cached file: no second pass, no line.
    lines = _train(cfg, tmp_path / "run2")
    assert COMPUTING not in capsys.readouterr().out + "\n".join(lines) and len(passes) == 1
    assert not list((tmp_path / "data").glob("*.tmp")) and not list(
        (tmp_path / "data").glob(".*"))
    # A damaged file (cut short) is computed again and replaced, in one more line.
    cached.write_bytes(cached.read_bytes()[:500])
    lines = []
    stats = input_pipeline.training_statistics(cfg, progress=False, log=lines.append)
    assert len(lines) == 2 and "not a statistics file" in lines[0] and COMPUTING in lines[1]
    assert len(passes) == 2
    np.testing.assert_array_equal(DatasetStatistics.load(cached).mean_image, stats.mean_image)


@pytest.mark.slow
def test_statistics_go_to_the_work_directory_where_the_data_is_read_only(
        tmp_path, capsys, passes, monkeypatch):
    from alexnet_tf.inference import evaluation
    from alexnet_tf.data.sources import folder as folder_source
    from alexnet_tf.data.statistics import DatasetStatistics
    train, _ = grey_folder(tmp_path / "data")
    # A directory no one can write into, even root: a path below a regular file.
    (tmp_path / "a_file").write_text("")
    unwritable = tmp_path / "a_file" / f"statistics_{TINY_R}.npz"
    monkeypatch.setattr(folder_source.FolderSource, "default_statistics_path",
                        lambda self: unwritable)
    cfg = grey_config(tmp_path / "data", "train.epochs=1")
    workdir = tmp_path / "run"
    _train(cfg, workdir)
    printed = capsys.readouterr().out
    assert printed.count(COMPUTING) == 1 and str(workdir / "statistics.npz") in printed
    stats = DatasetStatistics.load(workdir / "statistics.npz")
    np.testing.assert_allclose(stats.mean_rgb, [train.astype(np.float64).mean()] * 3, rtol=1e-5)
    # Run again in that work directory (resume), and evaluate it: no second pass.
    _train(cfg, workdir)
    evaluation.run_evaluation([str(workdir)], split="validation", crops=["center"],
                              batch_size=4)
    assert COMPUTING not in capsys.readouterr().out and len(passes) == 1
    assert not list(workdir.glob("*.tmp")) and not list(workdir.glob(".statistics*"))


@pytest.mark.slow
def test_imagenet_means_only_where_the_config_asks_for_them(tmp_path, capsys, passes):
    from alexnet_tf.data.statistics import DatasetStatistics
    grey_folder(tmp_path / "data")
    with pytest.raises(SourceError, match="data.mean=fallback"):
        input_pipeline.build_dataset(grey_config(tmp_path / "data"), "train", training=True)
    with pytest.raises(ValueError, match="unknown data.mean 'pixel'"):   # before any pass
        input_pipeline.training_statistics(grey_config(tmp_path / "data", "data.mean=pixel"))
    cfg = grey_config(tmp_path / "data", "data.mean=fallback")
    _train(cfg, tmp_path / "run")
    printed = capsys.readouterr().out
    assert printed.count("data.fallback_mean_rgb") == 1 and COMPUTING not in printed
    stats = DatasetStatistics.load(tmp_path / "run" / "statistics.npz")
    np.testing.assert_allclose(stats.mean_rgb, [123.68, 116.779, 103.939], rtol=1e-6)
    np.testing.assert_array_equal(stats.eigenvalues, [0, 0, 0])    # no PCA colour noise
    assert not passes and not (tmp_path / "data" / f"statistics_{TINY_R}.npz").exists()


def test_statistics_of_another_size_are_refused_before_the_work_directory_is_written(
        tmp_path, passes):
    from alexnet_tf.data.statistics import DatasetStatistics
    from alexnet_tf.training.loop import RunOptions, train_and_evaluate
    grey_folder(tmp_path / "data")
    DatasetStatistics.per_channel([1, 2, 3], size=64).save(tmp_path / "s64.npz")
    cfg = grey_config(tmp_path / "data", f"data.statistics_path={tmp_path / 's64.npz'}")
    with pytest.raises(SourceError, match="64x64 images, but data.resize_size is 76"):
        train_and_evaluate(cfg, tmp_path / "run", RunOptions(strategy="single", progress=False),
                           log=lambda *a: None)
    assert not (tmp_path / "run" / "config.json").exists() and not passes


def test_a_training_fraction_is_a_fixed_class_stratified_subset_of_the_digits():
    """data.train_fraction=0.2: round(0.2 * n_c) of each class (counted with NumPy on the
    split's labels), the same images in every epoch, seed and call; validation untouched."""
    from alexnet_tf.data.sources import digits as digits_source
    cfg = config.override(DIGITS, ["data.train_fraction=0.2", "data.pca_stddev=0"])
    train_x, train_y = digits_source.load_split()["train"]
    per_class = np.bincount(train_y, minlength=10)
    info = input_pipeline.dataset_info(cfg)
    assert info.num_examples == {"train": int(np.rint(0.2 * per_class).sum()),
                                 "validation": 360}
    source = input_pipeline.get_source(cfg)
    chosen = [tuple(int(v) for v in raw.numpy().ravel()[::7]) + (int(label),)
              for raw, label in source.elements("train", order_seed=tf.constant([3, 1]))]
    again = [tuple(int(v) for v in raw.numpy().ravel()[::7]) + (int(label),)
             for raw, label in input_pipeline.get_source(cfg).elements(
                 "train", order_seed=tf.constant([9, 2]))]
    assert len(chosen) == info.num_examples["train"] and sorted(chosen) == sorted(again)
    counts = np.bincount([key[-1] for key in chosen], minlength=10)
    np.testing.assert_array_equal(counts, np.rint(0.2 * per_class))
    everything = {tuple(int(v) for v in x.ravel()[::7]) + (int(y),)
                  for x, y in zip(train_x, train_y)}
    assert set(chosen) <= everything


def test_a_training_fraction_of_a_record_stream_is_refused(folder):
    from alexnet_tf.data.sources import base, subset

    class Stream(base.Source):
        info = base.DatasetInfo("stream", 2, ("a", "b"), {"train": 10, "validation": 2})

    with pytest.raises(SourceError, match=r"data.train_fraction=0.5 needs a source that lists "
                                          r"its images \(digits, folder\); stream streams"):
        subset.TrainingSubset(Stream(), 0.5)
    root, _, _ = folder
    cut = input_pipeline.dataset_info(folder_config(root, "data.train_fraction=0.5"))
    assert cut.num_examples["train"] == 9        # 3 of the 6 files of each of 3 classes


def test_a_training_fraction_has_statistics_of_its_own_images(folder):
    """The mean and PCA of a subset are its images' own: the digits' in-memory statistics
    count the subset's images (not the 1437 of the whole split), and a folder's are kept
    beside the full split's under a name of their own."""
    from alexnet_tf.data.sources import subset
    cut = config.override(DIGITS, ["data.train_fraction=0.2"])
    per_class = np.bincount(input_pipeline.get_source(DIGITS).labels("train"), minlength=10)
    assert input_pipeline.dataset_statistics(cut).num_images == int(np.rint(0.2 * per_class).sum())
    assert input_pipeline.dataset_statistics(DIGITS).num_images == 1437
    root, _, _ = folder
    full = input_pipeline.get_source(folder_config(root))
    half = subset.TrainingSubset(full, 0.5)
    assert half.default_statistics_path() == full.default_statistics_path().with_name(
        full.default_statistics_path().stem + "_fraction0.5.npz")
