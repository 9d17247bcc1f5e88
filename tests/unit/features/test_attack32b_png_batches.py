"""Attack review 32b on perf32's PNG batches (``features.png_grids``): each batch is checked against the public path on
its first image only, so crafted PNGs are put *after* a plain first image of the same size and mode, where only the
shared decoder and the two resampling passes decide their bytes. Held: every crafted image gets the public path's
features (``forced("public")``), or the same error naming the same records."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from provenance.features import png_grids
from provenance.features.base import FeatureError
from provenance.features.image import ImageFeaturizer

SIDE = 17  # odd, past the 16-pixel grid: both resampling passes run
COLOUR = {"L": 0, "RGB": 2, "LA": 4}
CHANNELS = {"L": 1, "RGB": 3, "LA": 2}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def crafted_png(
    mode: str,
    rows: list[bytes],
    *,
    side: int = SIDE,
    depth: int = 8,
    interlace: int = 0,
    idat_parts: int = 1,
    after_stream: bytes = b"",
    extra: tuple[tuple[bytes, bytes], ...] = (),
    wbits: int = 15,
) -> bytes:
    """A PNG written chunk by chunk: ``rows`` are the filtered scanlines (filter byte first), compressed as one zlib
    stream (window ``wbits``) followed by ``after_stream``, cut into ``idat_parts`` IDAT chunks; ``extra`` chunks go
    between IHDR and the first IDAT."""
    compress = zlib.compressobj(9, zlib.DEFLATED, wbits)
    stream = compress.compress(b"".join(rows)) + compress.flush() + after_stream
    cut = max(1, len(stream) // idat_parts)
    pieces = [stream[i : i + cut] for i in range(0, len(stream), cut)]
    header = struct.pack(">IIBBBBB", side, side, depth, COLOUR[mode], 0, 0, interlace)
    body = b"".join(chunk(kind, data) for kind, data in extra) + b"".join(chunk(b"IDAT", p) for p in pieces)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b"")


def scanlines(mode: str, seed: int, filters: tuple[int, ...] = (0,), height: int = SIDE) -> list[bytes]:
    rng = np.random.default_rng(seed)
    width = SIDE * CHANNELS[mode]
    return [
        bytes([filters[y % len(filters)]]) + rng.integers(0, 256, width, dtype=np.uint8).tobytes()
        for y in range(height)
    ]


def hostile_set(mode: str) -> list[bytes]:
    """A plain first image (the batch's check), then crafted ones of the same size and mode, and of another."""
    other = "RGB" if mode == "L" else "L"
    return [
        crafted_png(mode, scanlines(mode, 0)),
        crafted_png(mode, scanlines(mode, 1, filters=(0, 1, 2, 3, 4))),  # every row filter, Paeth on row 0 too
        crafted_png(mode, scanlines(mode, 2, filters=(4, 2)), idat_parts=7),  # one stream over many IDATs
        crafted_png(mode, scanlines(mode, 3), after_stream=b"\x00junk after the zlib stream"),
        crafted_png(mode, scanlines(mode, 4, filters=(3,)), wbits=9),  # a small window
        crafted_png(mode, scanlines(mode, 5) + scanlines(mode, 6, height=4)),  # more rows than the header says
        crafted_png(mode, scanlines(mode, 7), extra=((b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 64)),)),
        crafted_png(mode, scanlines(mode, 8), extra=((b"gAMA", struct.pack(">I", 22000)),)),
        crafted_png("LA", scanlines("LA", 10)),  # same size, another mode
        crafted_png(other, scanlines(other, 11)),  # same size, the other featuriser mode
        crafted_png(mode, scanlines(mode, 12)),  # a plain one after the crafted ones: still whole
    ]


def both_paths(images: list[bytes], mode: str, resample: str) -> tuple[object, object]:
    """The featuriser's result (features, or the FeatureError's message and records) on each path."""
    out = []
    for path in ("public", "grids"):
        with png_grids.forced(path):
            try:
                out.append(ImageFeaturizer(16, mode, resample).featurize(images).tobytes())
            except FeatureError as exc:
                out.append((str(exc), exc.records))
    return out[0], out[1]


@pytest.mark.parametrize("mode,resample", [("L", "bilinear"), ("RGB", "box"), ("RGB", "bilinear")])
def test_crafted_pngs_after_a_plain_first_image_get_the_public_paths_features(mode, resample):
    images = hostile_set(mode)
    with png_grids.forced("grids"):
        done, _ = png_grids.simple_png_grids(images, mode, (16, 16), Image.Resampling[resample.upper()])
    assert {0, 1, 2, 3, 4, 5, 10} <= set(done.tolist())  # the crafted simple ones really went through the batch
    public, fast = both_paths(images, mode, resample)
    assert isinstance(public, bytes) and fast == public


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_bad_stream_after_a_plain_first_image_is_the_same_error_on_both_paths(mode):
    images = (
        hostile_set(mode)[:3]
        + [
            crafted_png(mode, scanlines(mode, 20)[:-1]),  # a row short: decoded on both, its last row left black
            crafted_png(mode, scanlines(mode, 21, filters=(0, 7))),  # filter type 7 does not exist
            crafted_png(mode, scanlines(mode, 22))[:-40] + chunk(b"IEND", b""),  # the stream cut inside its IDAT
            crafted_png(mode, scanlines(mode, 9), interlace=1),  # plain rows that Image.open reads as Adam7's passes
        ]
    )
    public, fast = both_paths(images, mode, "bilinear")
    assert isinstance(public, tuple) and fast == public
    assert public[1] == [4, 5, 6], public
