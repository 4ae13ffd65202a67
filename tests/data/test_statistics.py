"""Mean image and RGB eigen statistics (§2, §4.1) against a direct NumPy computation."""
import numpy as np
import pytest

from alexnet_tf.data import statistics
def test_streaming_statistics_equal_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 8, 8, 3), dtype=np.uint8)
    batches = [images[:5], images[5:6], images[6:]]
    seen = []
    stats = statistics.compute_statistics(batches, size=8, progress=seen.append)
    assert seen == [5, 6, 23] and stats.num_images == 23
    np.testing.assert_allclose(stats.mean_image, images.mean(axis=0), rtol=1e-6)
    covariance = np.cov(images.reshape(-1, 3).astype(np.float64), rowvar=False, bias=True)
    np.testing.assert_allclose(stats.covariance, covariance, rtol=1e-4)
    values, vectors = np.linalg.eigh(covariance)
    np.testing.assert_allclose(stats.eigenvalues, values[::-1], rtol=1e-4)
    for i in range(3):   # p_i up to sign, and an eigenvector: C p = lambda p
        assert abs(abs(stats.eigenvectors[:, i] @ vectors[:, 2 - i]) - 1) < 1e-4
        np.testing.assert_allclose(covariance @ stats.eigenvectors[:, i],
                                   stats.eigenvalues[i] * stats.eigenvectors[:, i],
                                   rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(stats.mean_rgb, images.reshape(-1, 3).mean(axis=0), rtol=1e-6)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    stats = statistics.compute_statistics([rng.integers(0, 256, (4, 6, 6, 3))], size=6)
    path = tmp_path / "sub" / "statistics.npz"
    stats.save(path)
    loaded = statistics.DatasetStatistics.load(path)
    np.testing.assert_array_equal(loaded.mean_image, stats.mean_image)
    np.testing.assert_array_equal(loaded.eigenvalues, stats.eigenvalues)
    np.testing.assert_array_equal(loaded.eigenvectors, stats.eigenvectors)
    assert loaded.num_images == 4
    assert [p.name for p in path.parent.iterdir()] == ["statistics.npz"]


def test_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="compute_statistics"):
        statistics.DatasetStatistics.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(ValueError, match="not a statistics file"):
        statistics.DatasetStatistics.load(tmp_path / "other.npz")


def test_a_truncated_or_empty_file_is_a_clear_error(tmp_path):
    """What a crash of an older, non-atomic writer or a full disk could leave."""
    path = tmp_path / "statistics.npz"
    statistics.compute_statistics([np.zeros((1, 6, 6, 3))], size=6).save(path)
    whole = path.read_bytes()
    for damaged in (whole[:len(whole) // 2], whole[:-10], b""):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="not a statistics file"):
            statistics.DatasetStatistics.load(path)


def test_per_channel_statistics():
    stats = statistics.DatasetStatistics.per_channel([10.0, 20.0, 30.0], size=4)
    np.testing.assert_array_equal(stats.mean("channel").reshape(3), [10, 20, 30])
    assert stats.mean("image").shape == (4, 4, 3)
    np.testing.assert_array_equal(stats.eigenvalues, np.zeros(3))
    with pytest.raises(ValueError, match="unknown mean mode"):
        stats.mean("pixel")


def test_empty_pass_and_wrong_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="no images"):
        statistics.compute_statistics([], size=4)
    with pytest.raises(ValueError, match=r"expected images \[B, 4, 4, 3\]"):
        statistics.compute_statistics([np.zeros((2, 5, 5, 3))], size=4)
