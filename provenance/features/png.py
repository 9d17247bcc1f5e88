"""Simple PNG files decoded by Pillow's own PNG decoder without Pillow's file parser.

``Image.open`` plus ``load`` cost ~110 µs of CPU per 32 x 32 PNG here, most of it Python: the
chunk-by-chunk parser, the tile and file machinery. For the files most image datasets hold
(8 bits per sample, grey or colour, not interlaced, nothing but ``IHDR``, ``IDAT`` and ``IEND``)
this module checks the container itself (PNG specification, ISO/IEC 15948:2004 / W3C PNG,
sections 5 and 11.2) and hands the image data to the same decoder ``Image.open`` would use
(``Image.frombytes(..., "zip", rawmode)``, Pillow's zlib inflate and PNG row filters), ~50 µs.
The pixels are Pillow's by construction, not a re-implementation of them. Any other file
(another chunk, a bad checksum, 16-bit or palette images, interlacing, data after ``IEND``)
gives ``None`` and the caller opens it with ``Image.open``, errors included.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (bit depth, colour type) -> (Pillow mode, Pillow raw mode): the 8-bit rows of PngImagePlugin._MODES
EIGHT_BIT_MODES = {(8, 0): ("L", "L"), (8, 2): ("RGB", "RGB"), (8, 4): ("LA", "LA"), (8, 6): ("RGBA", "RGBA")}
MAX_PIXELS = 1 << 24  # larger images go through Image.open, which checks them against its bomb limit
_HEADER = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")
_CRC = struct.Struct(">I")


def simple_png_parts(data: bytes) -> tuple[str, str, tuple[int, int], bytes] | None:
    """The parts of a simple PNG file, or ``None`` if ``data`` is anything else.

    Args:
        data: a whole file's bytes.

    Returns:
        ``(mode, raw mode, (width, height), image data)``: Pillow's mode and raw mode for the
        file's 8-bit colour type, its size in pixels, and its ``IDAT`` chunks' data joined (one
        zlib stream). ``None`` unless the file is exactly the signature, one 13-byte ``IHDR``
        (8 bits per sample; colour type grey, RGB, grey + alpha or RGBA; compression, filter
        and interlace methods 0; at most ``MAX_PIXELS`` pixels), one or more ``IDAT`` and an
        empty ``IEND``, every chunk's CRC-32 right, nothing after ``IEND``.
    """
    if not data.startswith(SIGNATURE):
        return None
    pos, end_of_file = len(SIGNATURE), len(data)
    header: tuple[int, ...] | None = None
    image_data: list[bytes] = []
    while pos + 12 <= end_of_file:
        length, kind = _HEADER.unpack_from(data, pos)
        end = pos + 12 + length
        if end > end_of_file:
            return None
        body = data[pos + 8 : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != _CRC.unpack_from(data, end - 4)[0]:
            return None
        if kind == b"IHDR" and header is None and length == 13:
            header = _IHDR.unpack(body)
        elif kind == b"IDAT" and header is not None:
            image_data.append(body)
        elif kind == b"IEND" and image_data and length == 0 and end == end_of_file:
            return _parts(header, image_data)
        else:
            return None
        pos = end
    return None


def _parts(header: tuple[int, ...] | None, image_data: list[bytes]) -> tuple[str, str, tuple[int, int], bytes] | None:
    if header is None:
        return None
    width, height, depth, colour, compression, filtering, interlace = header
    modes = EIGHT_BIT_MODES.get((depth, colour))
    if modes is None or compression or filtering or interlace or not 0 < width * height <= MAX_PIXELS:
        return None
    return modes[0], modes[1], (width, height), b"".join(image_data)


def open_simple_png(data: bytes) -> Image | None:
    """A simple PNG file (``simple_png_parts``) decoded by Pillow's PNG decoder, or ``None``.

    Args:
        data: a whole file's bytes.

    Returns:
        The decoded image, with the mode and pixels ``Image.open(...).load()`` gives it; ``None``
        for any other file and for a simple one whose image data Pillow cannot decode (a
        truncated or damaged zlib stream): ``Image.open`` then reads it and raises its own error.
    """
    parts = simple_png_parts(data)
    if parts is None:
        return None
    from PIL import Image

    mode, raw_mode, size, image_data = parts
    try:
        return Image.frombytes(mode, size, image_data, "zip", raw_mode)
    except (ValueError, OSError):
        return None
