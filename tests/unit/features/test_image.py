"""The image featuriser, all images at once, gives exactly the per-image definition's bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from provenance.features.base import FeatureError
from provenance.features.image import ImageFeaturizer


def one_image(data: bytes, size: int, mode: str) -> np.ndarray:
    """The definition, one image at a time: grid pixels in [0, 1], then mean, std, min, max."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        pixels = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
    grid = np.asarray(pixels, dtype=np.float32).reshape(-1) / 255.0
    return np.concatenate([grid, np.array([grid.mean(), grid.std(), grid.min(), grid.max()], dtype=np.float32)])


def png(array: np.ndarray, mode: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).convert(mode).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("size,mode", [(16, "L"), (16, "RGB"), (5, "L")])
def test_batch_features_are_the_per_image_definition_bit_for_bit(size, mode):
    rng = np.random.default_rng(size)
    images = []
    for i in range(60):
        h, w = rng.integers(3, 70, 2)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 5 == 0:
            pixels[:] = 0  # a blank image: std 0, min = max
        # every mode, including the featuriser's own (no conversion) and ones PNG keeps in 1 or 16 bits
        images.append(png(pixels, ("L", "RGB", "RGBA", "P", "LA", "1", "I;16")[i % 7]))
    got = ImageFeaturizer(size, mode).featurize(images)
    want = np.stack([one_image(b, size, mode) for b in images])
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_undecodable_images_are_named():
    good = png(np.zeros((4, 4, 3), np.uint8), "L")
    with pytest.raises(FeatureError, match="cannot decode image") as caught:
        ImageFeaturizer().featurize([good, b"not an image", good, b"nor this"])
    assert caught.value.records == [1, 3]
