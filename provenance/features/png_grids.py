"""Many simple PNGs of one size reduced to the image featuriser's grid in two resamplings, not one per image.

Per image, ``Image.frombytes`` + ``resize`` + ``tobytes`` cost ~15 us of CPU in Pillow's Python around
~10 us of decoding and resampling (4,000 PNGs of 32 x 32 pixels, a profile's sample: ~0.11 s). Pillow
resamples in two separable passes, each row first (``ImagingResample``: the horizontal pass, into an 8-bit
image of the same mode), then each column of that (the vertical pass), with coefficients that depend only on
the sizes and the filter. So the images of one size are decoded, by the decoder ``Image.frombytes`` uses,
into the rows of one tall image; its rows are resampled in one call (the horizontal pass alone); the result
is laid out side by side, one image's rows after another's, into one wide image, whose columns are
resampled in one call (the vertical pass alone). Each pass sees each image's pixels exactly as it does one
image at a time, so the grid's bytes are the same (tests compare with the per-image reference,
``image.grid_pixels``, over sizes, modes and both filters); only the calls into Pillow are fewer.

Only square images are taken (the grid is square): Pillow 13 resamples an image much taller than wide
columns first (a 33 x 7 image's grid is the vertical pass's, then the horizontal), and its rule is not
public API; a square image onto a square grid is resampled rows first (the tests check every square side
from 1 to 70 pixels against the reference). Other images go one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from provenance.features.png import simple_png_parts

BATCH_PIXEL_BYTES = 16 << 20  # decoded bytes per tall image at most: a batch of large images is cut in pieces
CHANNELS = {"L": 1, "RGB": 3}  # the featuriser's modes; a PNG of another mode is converted one at a time


def simple_png_grids(
    blobs: Sequence[bytes | None], mode: str, side: tuple[int, int], resample: int
) -> tuple[np.ndarray, np.ndarray]:
    """The grids of the simple PNGs among ``blobs`` (``png.simple_png_parts``) whose mode is ``mode``.

    Args:
        blobs: whole files' bytes, or None for a record this leaves alone.
        mode: ``"L"`` or ``"RGB"``: only PNGs decoded to this mode are taken (others need a ``convert``).
        side: the grid's ``(width, height)`` in pixels.
        resample: a Pillow ``Image.Resampling`` filter (bilinear or box).

    Returns:
        ``(positions, pixels)``: the positions in ``blobs`` done here (int64, ascending within each size) and,
        row by row, each one's ``resize(side, resample).tobytes()`` (uint8, ``width * height * channels``
        per row). A blob not done (not a simple PNG, another mode, image data Pillow's decoder refuses) is
        left to the caller's one-image path, which gives its pixels or its error.
    """
    from PIL import Image

    channels = CHANNELS[mode]
    by_size: dict[tuple[str, tuple[int, int]], list[tuple[int, bytes]]] = {}
    for i, data in enumerate(blobs):
        parts = None if data is None else simple_png_parts(data)
        if parts is not None and parts[0] == mode and parts[2][0] == parts[2][1]:  # square: see the module docstring
            by_size.setdefault((parts[1], parts[2]), []).append((i, parts[3]))
    done: list[np.ndarray] = []
    grids: list[np.ndarray] = []
    for (raw_mode, (width, height)), images in by_size.items():
        per_batch = max(1, BATCH_PIXEL_BYTES // (width * height * channels))
        for start in range(0, len(images), per_batch):
            batch = images[start : start + per_batch]
            decoded, grid = _batch_grids(Image, batch, mode, raw_mode, (width, height), side, resample, channels)
            done.append(np.array([batch[j][0] for j in decoded], dtype=np.int64))
            grids.append(grid[decoded])
    if not done:
        return np.zeros(0, dtype=np.int64), np.zeros((0, side[0] * side[1] * channels), dtype=np.uint8)
    return np.concatenate(done), np.concatenate(grids)


def _batch_grids(Image, batch, mode, raw_mode, size, side, resample, channels) -> tuple[list[int], np.ndarray]:
    """Decode ``batch`` (``(position, image data)`` of one size) into one tall image and resample it in two passes;
    ``(the batch's indexes decoded, (len(batch), grid bytes) uint8)``: a refused image's rows are left unused."""
    (width, height), (grid_width, grid_height), k = size, side, len(batch)
    tall = Image.new(mode, (width, height * k))
    decoded = []
    for j, (_, data) in enumerate(batch):
        # as Image.frombytes(mode, size, data, "zip", raw_mode) decodes into an image of its own, into rows of this one
        decoder = Image._getdecoder(mode, "zip", raw_mode)
        decoder.setimage(tall.im, (0, height * j, width, height * (j + 1)))
        consumed, error = decoder.decode(data)
        if consumed < 0 and error == 0:  # frombytes's test: all the image's rows written, no error
            decoded.append(j)
    rows = tall.resize((grid_width, height * k), resample)  # the horizontal pass alone: each row its own
    row_bytes = grid_width * channels
    side_by_side = np.frombuffer(rows.tobytes(), dtype=np.uint8).reshape(k, height, row_bytes).transpose(1, 0, 2)
    wide = Image.frombytes(mode, (grid_width * k, height), np.ascontiguousarray(side_by_side).tobytes())
    columns = wide.resize((grid_width * k, grid_height), resample)  # the vertical pass alone: each column its own
    grid = np.frombuffer(columns.tobytes(), dtype=np.uint8).reshape(grid_height, k, row_bytes).transpose(1, 0, 2)
    return decoded, grid.reshape(k, grid_height * row_bytes)
