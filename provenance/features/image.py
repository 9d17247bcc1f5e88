"""Image files as features: decoded with Pillow at any size, reduced to a small fixed grid.

A 16x16 grid keeps a patch trigger of a few percent of the image visible while staying
cheap; four summary statistics keep blended triggers and blank images visible too.

The grid is resampled bilinearly by default (``image/v1:mode=L,size=16``, as every profile before session 30
was made). ``resample=box`` averages each grid cell's own pixels instead (an image whose side is a multiple or
a divisor of the grid's gives each pixel the same weight, as the same pixels in a table's columns have): a
scanner that brightens a whole batch then moves the features as a whole, and ``prov check`` takes that move
off (``detectors.drift``), where the bilinear grid's blur of ink into blank cells made the move look like one
class's way to another's and the batch blocked (bench/results/image-inorder-s30.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from provenance.features.base import FeatureError, Featurizer, finite_matrix
from provenance.features.image_grid import ImageInput, grid_pixels
from provenance.features.png_grids import simple_png_grids

DEFAULT_RESAMPLE = "bilinear"
MAX_GRID_SIZE = 256  # pixels per side: 256 x 256 RGB is 196,612 features per image
RESAMPLE_FILTERS = ("bilinear", "box")  # names of Pillow's ``Image.Resampling`` members the grid may use


def grid_size(size: object) -> int:
    """``size`` as the grid's pixels per side: an integer (or its decimal digits) in 1..MAX_GRID_SIZE; FeatureError
    naming the option otherwise. ``int()`` took 16.7 as 16 and true as 1, and raised ValueError or OverflowError on
    "abc" or 1e400, an internal error at commit (attack review 30b, A30b-7)."""
    if isinstance(size, str) and size.isascii() and size.isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_GRID_SIZE:
        raise FeatureError(f"image size must be an integer from 1 to {MAX_GRID_SIZE}, not {size!r}")
    return size


class ImageFeaturizer(Featurizer):
    """Image paths or bytes -> grid pixels in [0, 1] plus mean, std, min and max.

    ``size``: the grid's pixels per side; ``mode``: ``"L"`` (grey) or ``"RGB"``; ``resample``: ``"bilinear"`` (the
    default) or ``"box"`` (each cell the mean of its own pixels; module docstring). An unknown mode or resample, or a
    size that is no integer from 1 to ``MAX_GRID_SIZE``, is a FeatureError naming it.
    """

    def __init__(self, size: int = 16, mode: str = "L", resample: str = DEFAULT_RESAMPLE):
        if mode not in ("L", "RGB"):
            raise FeatureError(f"image mode must be 'L' or 'RGB', not {mode!r}")
        if resample not in RESAMPLE_FILTERS:
            raise FeatureError(f"image resample must be 'bilinear' or 'box', not {resample!r}")
        self.size = grid_size(size)
        self.mode = mode
        self.resample = resample

    @property
    def name(self) -> str:
        """``image/v1:mode=<L|RGB>,size=<pixels per side>``, then ``,resample=box`` for the box grid (the
        bilinear grid's identity is the one profiles made before the option existed carry)."""
        tail = "" if self.resample == DEFAULT_RESAMPLE else f",resample={self.resample}"
        return f"image/v1:mode={self.mode},size={self.size}{tail}"

    def options(self) -> dict[str, int | str]:
        """``{"size": pixels per side, "mode": "L" or "RGB"}``, plus ``"resample": "box"`` for the box grid."""
        options: dict[str, int | str] = {"size": self.size, "mode": self.mode}
        if self.resample != DEFAULT_RESAMPLE:
            options["resample"] = self.resample
        return options

    @property
    def dim(self) -> int:
        """Features per image: size x size pixels (x3 for RGB) plus 4 summary statistics."""
        channels = 3 if self.mode == "RGB" else 1
        return self.size * self.size * channels + 4

    def featurize(self, records: Sequence[ImageInput]) -> np.ndarray:
        """One row per image (a path or its bytes): grid pixels in [0, 1], then mean, std, min, max; undecodable files are a FeatureError naming them."""
        try:
            from PIL import Image, UnidentifiedImageError
        except ImportError as exc:  # Pillow is only needed for image data
            raise FeatureError("the image featuriser needs Pillow: pip install pillow") from exc

        pixels_per_image = self.dim - 4
        grids = np.zeros((len(records), pixels_per_image), dtype=np.uint8)
        undecodable: list[str | int] = []  # paths, or positions of records given as bytes
        errors: set[str] = set()
        side = (self.size, self.size)
        grid_filter = Image.Resampling[self.resample.upper()]
        # simple PNGs given as bytes (a tree's records): decoded and resampled a size at a time (png_grids; the
        # same bytes as one at a time); the rest, and any such PNG Pillow's decoder refuses, one at a time
        blobs = [bytes(item) if isinstance(item, bytes | bytearray) else None for item in records]
        batched, pixels = simple_png_grids(blobs, self.mode, side, grid_filter)
        grids[batched] = pixels
        left = np.ones(len(records), dtype=bool)
        left[batched] = False
        for i in np.flatnonzero(left).tolist():
            item = records[i]
            try:
                grids[i] = np.frombuffer(grid_pixels(item, self.mode, side, grid_filter), dtype=np.uint8)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                undecodable.append(i if isinstance(item, bytes | bytearray) else _describe(item, i))
                errors.add(type(exc).__name__)
        # pixels in [0, 1] and each image's mean, std, min and max, for all images at once (per
        # image, numpy's call overhead on 256 values cost more than decoding the PNG)
        rows = np.empty((len(records), self.dim), dtype=np.float32)
        grid = rows[:, :pixels_per_image]
        np.divide(grids, np.float32(255.0), out=grid, dtype=np.float32)
        rows[:, pixels_per_image] = grid.mean(axis=1)
        rows[:, pixels_per_image + 1] = grid.std(axis=1)
        rows[:, pixels_per_image + 2] = grid.min(axis=1, initial=np.inf)
        rows[:, pixels_per_image + 3] = grid.max(axis=1, initial=-np.inf)
        if undecodable:
            raise FeatureError(f"cannot decode image(s) ({', '.join(sorted(errors))})", undecodable)
        return finite_matrix(rows, self.name)


def _describe(item: ImageInput, index: int) -> str:
    if isinstance(item, bytes | bytearray):
        return f"record {index} (bytes)"
    return os.fspath(item)
