"""Training-set statistics the paper's preprocessing needs (§2, §4.1).

- the per-pixel **mean image** over the training set (R x R x 3, R = 256 for the
  paper), subtracted from every input (§2);
- the **3x3 covariance of RGB pixel values** over the training set and its
  eigenvalues lambda_i / eigenvectors p_i, for the PCA colour augmentation (§4.1).

Both come from one streaming pass (`StatisticsAccumulator`) over images already
resized and centre-cropped to R x R, on the 0-255 pixel scale. Sums are kept in
float64, so the pass can run over all 1.2 M ImageNet images.
"""
from __future__ import annotations

import dataclasses
import pathlib
import zipfile

import numpy as np

from alexnet_tf import atomic


@dataclasses.dataclass(frozen=True)
class DatasetStatistics:
    """Mean image and RGB principal components, pixel scale 0-255.

    `eigenvectors[:, i]` is p_i, for `eigenvalues[i]` = lambda_i, largest first.
    """
    mean_image: np.ndarray     # float32 [R, R, 3]
    eigenvalues: np.ndarray    # float32 [3], descending
    eigenvectors: np.ndarray   # float32 [3, 3], columns p_i
    num_images: int = 0

    def __post_init__(self):
        mean = np.asarray(self.mean_image, np.float32)
        if mean.ndim != 3 or mean.shape[-1] != 3 or mean.shape[0] != mean.shape[1]:
            raise ValueError(f"mean_image must be [R, R, 3], got shape {mean.shape}")
        values = np.asarray(self.eigenvalues, np.float32).reshape(3)
        vectors = np.asarray(self.eigenvectors, np.float32).reshape(3, 3)
        object.__setattr__(self, "mean_image", mean)
        object.__setattr__(self, "eigenvalues", values)
        object.__setattr__(self, "eigenvectors", vectors)

    @property
    def size(self) -> int:
        return int(self.mean_image.shape[0])

    @property
    def mean_rgb(self) -> np.ndarray:
        return self.mean_image.mean(axis=(0, 1), dtype=np.float64).astype(np.float32)

    @property
    def covariance(self) -> np.ndarray:
        v, lam = self.eigenvectors.astype(np.float64), self.eigenvalues.astype(np.float64)
        return (v * lam) @ v.T

    def mean(self, mode: str) -> np.ndarray:
        """The mean to subtract: [R, R, 3] for "image" (§2), [1, 1, 3] for "channel" (and
        "fallback": statistics made by `per_channel` from given means)."""
        if mode == "image":
            return self.mean_image
        if mode in ("channel", "fallback"):
            return self.mean_rgb.reshape(1, 1, 3)
        raise ValueError(f"unknown mean mode {mode!r}; use 'image', 'channel' or 'fallback'")

    @classmethod
    def from_moments(cls, mean_image, covariance, num_images=0) -> "DatasetStatistics":
        values, vectors = principal_components(covariance)
        return cls(mean_image, values, vectors, int(num_images))

    @classmethod
    def per_channel(cls, mean_rgb, *, size, covariance=None, num_images=0):
        """Statistics from per-channel means only (data where no pass was run).

        Without a covariance the PCA augmentation adds nothing (all lambda_i = 0).
        """
        mean_image = np.broadcast_to(np.asarray(mean_rgb, np.float32).reshape(1, 1, 3),
                                     (size, size, 3))
        if covariance is None:
            return cls(mean_image, np.zeros(3), np.eye(3), int(num_images))
        return cls.from_moments(mean_image, covariance, num_images)

    def save(self, path) -> None:
        """Writes a .npz atomically (`alexnet_tf.atomic`): a reader sees the previous file
        or the whole new one, never part of it."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic.publishing(path) as temporary:     # keeps .npz: savez would add one
            np.savez(temporary, mean_image=self.mean_image, eigenvalues=self.eigenvalues,
                     eigenvectors=self.eigenvectors, num_images=self.num_images)

    @classmethod
    def load(cls, path) -> "DatasetStatistics":
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no dataset statistics at {path}; compute them with "
                f"`python -m tools.compute_statistics` (mean image and RGB eigen, §2/§4.1)")
        try:
            with np.load(path) as data:
                return cls(data["mean_image"], data["eigenvalues"], data["eigenvectors"],
                           int(data["num_images"]))
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path} is not a statistics file written by "
                             f"DatasetStatistics.save: {e}") from None


def principal_components(covariance):
    """(eigenvalues descending, eigenvectors as columns) of a symmetric 3x3 matrix.

    Each eigenvector's sign is fixed (largest-magnitude component positive) so the
    same data always gives the same p_i.
    """
    covariance = np.asarray(covariance, np.float64)
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    order = np.argsort(values)[::-1]
    values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(3)])
    return values, vectors * np.where(signs == 0, 1.0, signs)


class StatisticsAccumulator:
    """One streaming pass: `update(batch)` with uint8/float [B, R, R, 3], then `result()`."""

    def __init__(self, size: int):
        self.size = size
        self.num_images = 0
        self._image_sum = np.zeros((size, size, 3), np.float64)
        self._outer_sum = np.zeros((3, 3), np.float64)

    def update(self, images) -> None:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected images [B, {self.size}, {self.size}, 3], "
                             f"got {images.shape}")
        self._image_sum += images.sum(axis=0, dtype=np.float64)
        for image in images:  # one image at a time keeps the float64 copy small
            pixels = image.reshape(-1, 3).astype(np.float64)
            self._outer_sum += pixels.T @ pixels
        self.num_images += images.shape[0]

    def result(self) -> DatasetStatistics:
        if self.num_images == 0:
            raise ValueError("no images were seen: cannot compute statistics of an empty set")
        mean_image = self._image_sum / self.num_images
        num_pixels = self.num_images * self.size * self.size
        mean_rgb = mean_image.mean(axis=(0, 1))
        # Population covariance of all training pixels: E[x x^T] - E[x] E[x]^T.
        covariance = self._outer_sum / num_pixels - np.outer(mean_rgb, mean_rgb)
        return DatasetStatistics.from_moments(mean_image, covariance, self.num_images)


def compute_statistics(batches, size: int, progress=None) -> DatasetStatistics:
    """Statistics of an iterable of image batches [B, size, size, 3] (0-255)."""
    accumulator = StatisticsAccumulator(size)
    for batch in batches:
        accumulator.update(batch)
        if progress is not None:
            progress(accumulator.num_images)
    return accumulator.result()
