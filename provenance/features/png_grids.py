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

Pillow's decoder calls used here (``Image._getdecoder``, the decoder's ``setimage``) are private, and its pass
order is not public either, so a user's Pillow may differ: the fast path runs only where, once per process and
grid (mode, side, filter), it gave the public path's bytes on a small built-in set of PNGs (``fast_path_ready``),
and each batch is checked again on one of its images; a batch that raises or disagrees goes one image at a
time. Features never depend on which path ran; at worst a Pillow that changed them is slower.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from provenance.features.image_grid import grid_pixels
from provenance.features.png import simple_png_parts

BATCH_PIXEL_BYTES = 16 << 20  # decoded bytes per tall image at most: a batch of large images is cut in pieces
CHANNELS = {"L": 1, "RGB": 3}  # the featuriser's modes; a PNG of another mode is converted one at a time
_ready: dict[tuple[str, tuple[int, int], int], bool] = {}  # each grid's self-check, once per process
_forced: str | None = None  # "grids" or "public" inside ``forced``


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
    if not fast_path_ready(mode, side, resample):
        return _none_done(mode, side)
    return _grids(blobs, mode, side, resample, check_each_batch=True)


def fast_path_ready(mode: str, side: tuple[int, int], resample: int) -> bool:
    """Whether the installed Pillow takes the fast path for this grid: it has the private decoder calls and, on a
    small built-in set of square PNGs (``_check_set``), gave exactly ``image_grid.grid_pixels``'s bytes. Checked
    once per process and ``(mode, side, resample)``; ``forced`` overrides it. Never raises (any error: False)."""
    if _forced is not None:
        return _forced == "grids"
    key = (mode, side, int(resample))
    if key not in _ready:
        _ready[key] = _self_check(mode, side, resample)
    return _ready[key]


@contextmanager
def forced(path: str) -> Iterator[None]:
    """Run the block with the fast path on (``"grids"``, self-check skipped) or off (``"public"``: every image one
    at a time through ``grid_pixels``), for tests of both paths. ``ValueError`` for another name."""
    global _forced
    if path not in ("grids", "public"):
        raise ValueError(f"unknown path {path!r}: expected 'grids' or 'public'")
    before, _forced = _forced, path
    try:
        yield
    finally:
        _forced = before


def _self_check(mode: str, side: tuple[int, int], resample: int) -> bool:
    try:
        from PIL import Image

        if _private_decoder(Image) is None:
            return False
        blobs = _check_set(mode, side)
        done, pixels = _grids(blobs, mode, side, resample, check_each_batch=False)
        return sorted(done.tolist()) == list(range(len(blobs))) and all(
            row.tobytes() == grid_pixels(blobs[i], mode, side, resample) for i, row in zip(done.tolist(), pixels)
        )
    except Exception:  # a Pillow whose private calls changed in any way: the public path
        return False


def _private_decoder(Image):
    """Pillow's private ``Image._getdecoder`` (mode, codec, raw mode -> decoder), or None where it has another name."""
    found = getattr(Image, "_getdecoder", None)
    return found if callable(found) else None


def _check_set(mode: str, side: tuple[int, int]) -> list[bytes]:
    """Two random square PNGs (fixed seed, written by Pillow's public PNG encoder) of each side around the grid's
    and a few small ones, interleaved: sides below, at and above the grid, and batches of two images per size."""
    from PIL import Image

    rng = np.random.default_rng(20261205)
    grid = max(side)
    sides = sorted({1, 2, 3, 7, max(1, grid - 1), grid, grid + 1, 2 * grid + 1})
    blobs = []
    for _ in range(2):
        for n in sides:
            pixels = rng.integers(0, 256, (n, n, CHANNELS[mode]), dtype=np.uint8)
            out = io.BytesIO()
            Image.frombytes(mode, (n, n), pixels.tobytes()).save(out, format="PNG")
            blobs.append(out.getvalue())
    return blobs


def _none_done(mode: str, side: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros((0, side[0] * side[1] * CHANNELS[mode]), dtype=np.uint8)


def _grids(
    blobs: Sequence[bytes | None], mode: str, side: tuple[int, int], resample: int, check_each_batch: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``simple_png_grids`` past its self-check. ``check_each_batch`` (the featuriser's calls): a batch that raised,
    or whose first image's grid is not ``grid_pixels``'s, is left out, its images to go one at a time; without it
    (the self-check) an error raises."""
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
            try:
                decoded, grid = _batch_grids(Image, batch, mode, raw_mode, (width, height), side, resample, channels)
            except Exception:  # Pillow's private calls failed on this batch: one image at a time
                if not check_each_batch:
                    raise
                continue
            if (
                check_each_batch
                and decoded
                and not _agrees(blobs[batch[decoded[0]][0]], grid[decoded[0]], mode, side, resample)
            ):
                continue
            done.append(np.array([batch[j][0] for j in decoded], dtype=np.int64))
            grids.append(grid[decoded])
    if not done:
        return _none_done(mode, side)
    return np.concatenate(done), np.concatenate(grids)


def _agrees(blob: bytes | None, row: np.ndarray, mode: str, side: tuple[int, int], resample: int) -> bool:
    """Whether ``row`` is ``blob``'s grid on the public path (an error there: no)."""
    try:
        return blob is not None and row.tobytes() == grid_pixels(blob, mode, side, resample)
    except Exception:  # the one-image path will name the error
        return False


def _batch_grids(Image, batch, mode, raw_mode, size, side, resample, channels) -> tuple[list[int], np.ndarray]:
    """Decode ``batch`` (``(position, image data)`` of one size) into one tall image and resample it in two passes;
    ``(the batch's indexes decoded, (len(batch), grid bytes) uint8)``: a refused image's rows are left unused."""
    (width, height), (grid_width, grid_height), k = size, side, len(batch)
    tall = Image.new(mode, (width, height * k))
    decoded = []
    for j, (_, data) in enumerate(batch):
        # as Image.frombytes(mode, size, data, "zip", raw_mode) decodes into an image of its own, into rows of this one
        decoder = _private_decoder(Image)(mode, "zip", raw_mode)
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
