"""The input benchmark runs end to end (its figures are for people, not asserted)."""
import pytest

from alexnet_tf.tools import benchmark_input


@pytest.mark.slow
def test_benchmark_prints_a_rate_per_source(tmp_path):
    lines = []
    rows = benchmark_input.run_benchmark(["folder", "minimal"], workdir=tmp_path, images=12,
                                         batch_size=4, seconds=0.2, all_cores=False,
                                         rounds=1, printer=lines.append)
    assert [source for source, _, _ in rows] == ["folder", "minimal"]
    assert all(one > 0 for _, one, _ in rows)
    assert any(line.startswith("folder") for line in lines)
    photos = sorted((tmp_path / "photos").rglob("*.JPEG"))
    assert len(photos) == 12
    from PIL import Image
    with Image.open(photos[0]) as image:
        assert image.size == benchmark_input.PHOTO_SIZE and image.format == "JPEG"
