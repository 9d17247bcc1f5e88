"""One image's grid, the reference path of the image featuriser: decoded, converted and resized by Pillow's public API.

``image.ImageFeaturizer`` takes this path for every image ``png_grids`` does not take, and ``png_grids`` compares
its own bytes with this path's (a self-check once per process, and one image of each batch).
"""

from __future__ import annotations

import io
import os

from provenance.features.png import SIGNATURE, open_simple_png

ImageInput = str | os.PathLike | bytes
PNG_READ_LIMIT = 64 << 20  # bytes: a larger PNG is left to Image.open rather than read whole first


def grid_pixels(item: ImageInput, mode: str, side: tuple[int, int], grid_filter: int) -> bytes:
    """One image's grid, the reference path: ``item`` (a path or a file's bytes) decoded, converted to ``mode`` and
    resized to ``side`` with ``grid_filter``; the raw bytes of an 8-bit L or RGB image, its pixels in row order, as
    ``np.asarray`` gives them, without Pillow's array interface (per image, it cost as much as the resize).

    Raises what Pillow raises for a file it cannot decode (``UnidentifiedImageError``, ``OSError``, ``ValueError``,
    ``SyntaxError``), or ``OSError`` for a path that cannot be read."""
    from PIL import Image

    data = bytes(item) if isinstance(item, bytes | bytearray) else _png_bytes(item)
    # a simple PNG skips Image.open's parser (features.png; the same decoder, the same pixels)
    simple = None if data is None else open_simple_png(data)
    with simple or Image.open(os.fspath(item) if data is None else io.BytesIO(data)) as image:
        image.load()
        # ``convert`` to the mode the image already has is a copy of it: skipped (same pixels)
        same = image if image.mode == mode else image.convert(mode)
        return same.resize(side, grid_filter).tobytes()


def _png_bytes(path: str | os.PathLike) -> bytes | None:
    """The bytes of the file at ``path`` if it is a PNG file of at most ``PNG_READ_LIMIT`` bytes, else
    ``None`` (read by ``Image.open``, which reads only what it needs). Raises ``OSError`` as ``open`` does."""
    with open(path, "rb") as fh:
        head = fh.read(len(SIGNATURE))
        if head != SIGNATURE or os.fstat(fh.fileno()).st_size > PNG_READ_LIMIT:
            return None
        return head + fh.read()
