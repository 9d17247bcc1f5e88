"""The image featuriser, all images at once, gives exactly the per-image definition's bytes.

Its simple-PNG path (``features.png``) gives Image.open's pixels and declines every other file:
real PNG files written by Pillow (scikit-learn's handwritten digits, the image-tree benchmark's
data, and random images in every 8-bit mode), then the same files altered byte by byte the way a
damaged or unusual file differs. Speed never changes bytes: wherever the fast path decodes, its
image equals ``Image.open(...).load()``'s; wherever it declines, the featuriser gives exactly the
definition's features, errors included.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sklearn.datasets import load_digits

from provenance.features import png_grids
from provenance.features.base import FeatureError
from provenance.features.image import ImageFeaturizer, grid_pixels
from provenance.features.png import open_simple_png, simple_png_parts


def one_image(data: bytes, size: int, mode: str, grid=Image.Resampling.BILINEAR) -> np.ndarray:
    """The definition, one image at a time: grid pixels in [0, 1], then mean, std, min, max."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        pixels = image.convert(mode).resize((size, size), grid)
    grid = np.asarray(pixels, dtype=np.float32).reshape(-1) / 255.0
    return np.concatenate([grid, np.array([grid.mean(), grid.std(), grid.min(), grid.max()], dtype=np.float32)])


def png(array: np.ndarray, mode: str, **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).convert(mode).save(out, format="PNG", **save)
    return out.getvalue()


@pytest.mark.parametrize("size,mode,resample", [(16, "L", "bilinear"), (16, "RGB", "bilinear"), (5, "L", "bilinear"),
                                                (16, "L", "box"), (5, "RGB", "box")])  # fmt: skip
def test_batch_features_are_the_per_image_definition_bit_for_bit(size, mode, resample):
    rng = np.random.default_rng(size)
    images = []
    for i in range(60):
        h, w = rng.integers(3, 70, 2)
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 5 == 0:
            pixels[:] = 0  # a blank image: std 0, min = max
        # every mode, including the featuriser's own (no conversion) and ones PNG keeps in 1 or 16 bits
        images.append(png(pixels, ("L", "RGB", "RGBA", "P", "LA", "1", "I;16")[i % 7]))
    got = ImageFeaturizer(size, mode, resample).featurize(images)
    want = np.stack([one_image(b, size, mode, Image.Resampling[resample.upper()]) for b in images])
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_the_box_grid_of_an_image_twice_the_grid_is_the_mean_of_each_cell():
    """``resample=box``: each grid cell is its own 2 x 2 block's mean (no ink blurred into a blank cell), and the
    identity names the grid, the bilinear one keeping the identity profiles made before the option carry."""
    pixels = np.zeros((32, 32), np.uint8)
    pixels[8:10, 8:10] = 200  # one cell's block, at (4, 4) of the 16 x 16 grid
    box, bilinear = ImageFeaturizer(resample="box"), ImageFeaturizer()
    grid = box.featurize([png(pixels, "L")])[0, :256].reshape(16, 16)
    assert np.flatnonzero(grid).tolist() == [4 * 16 + 4] and grid[4, 4] == np.float32(200 / 255)
    assert np.count_nonzero(bilinear.featurize([png(pixels, "L")])[0, :256]) > 1  # the bilinear grid blurs it
    assert box.name == "image/v1:mode=L,size=16,resample=box" and box.options()["resample"] == "box"
    assert bilinear.name == "image/v1:mode=L,size=16" and "resample" not in bilinear.options()
    with pytest.raises(FeatureError, match="image resample must be 'bilinear' or 'box', not 'nearest'"):
        ImageFeaturizer(resample="nearest")


def test_undecodable_images_are_named():
    good = png(np.zeros((4, 4, 3), np.uint8), "L")
    with pytest.raises(FeatureError, match="cannot decode image") as caught:
        ImageFeaturizer().featurize([good, b"not an image", good, b"nor this"])
    assert caught.value.records == [1, 3]


def digits_pngs(count: int) -> list[bytes]:
    """The benchmark's pictures: scikit-learn's digits as 8-bit grey on a 32 x 32 canvas."""
    images = (load_digits().images[:count] * (255 / 16)).astype(np.uint8)
    out = []
    for i, image in enumerate(images):
        canvas = np.zeros((32, 32), np.uint8)
        big = np.kron(image, np.ones((2 + i % 2, 2 + i % 2), np.uint8))
        canvas[i % 7 : i % 7 + big.shape[0], : big.shape[1]] = big[: 32 - i % 7]
        out.append(png(canvas, "L"))
    return out


def random_pngs() -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(24):
        h, w = (int(x) for x in rng.integers(1, 90, 2))
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if i % 3 == 0:
            pixels[: h // 2] = 0  # long runs: the encoder picks other row filters
        out.append(png(pixels, ("L", "RGB", "LA", "RGBA")[i % 4]))
    return out


def pillow_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def build(parts: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG file of these (type, data) chunks, each with its right CRC-32."""
    body = b"".join(
        struct.pack(">I", len(d)) + kind + d + struct.pack(">I", zlib.crc32(d, zlib.crc32(kind))) for kind, d in parts
    )
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize("source", ["digits", "random"])
def test_simple_pngs_decode_to_image_opens_pixels(source):
    files = digits_pngs(60) if source == "digits" else random_pngs()
    for data in files:
        fast = open_simple_png(data)
        assert fast is not None, "a plain 8-bit PNG written by Pillow takes the fast path"
        want = pillow_image(data)
        assert (fast.mode, fast.size) == (want.mode, want.size)
        assert fast.tobytes() == want.tobytes()


def test_idat_split_over_many_chunks_is_one_stream():
    data = digits_pngs(1)[0]
    (_, header), (_, image_data), _ = chunks(data)
    split = build(
        [(b"IHDR", header)]
        + [(b"IDAT", image_data[i : i + 7]) for i in range(0, len(image_data), 7)]
        + [(b"IEND", b"")]
    )
    assert open_simple_png(split).tobytes() == pillow_image(data).tobytes()


def altered_files() -> dict[str, bytes]:
    """Files the fast path must leave to Image.open: each differs from a simple PNG in one way."""
    good = digits_pngs(1)[0]
    (_, header), (_, image_data), _ = chunks(good)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "made by a test")
    interlaced = header[:12] + b"\x01"
    return {
        "text chunk": png(np.full((8, 8), 9, np.uint8), "L", pnginfo=info),
        "pixel density": png(np.full((8, 8), 9, np.uint8), "L", dpi=(72, 72)),
        "palette": png(np.arange(64, dtype=np.uint8).reshape(8, 8), "P"),
        "16-bit grey": png(np.arange(64, dtype=np.uint8).reshape(8, 8), "I;16"),
        "1-bit": png(np.eye(8, dtype=np.uint8) * 255, "1"),
        "transparent colour": png(np.full((8, 8), 9, np.uint8), "L", transparency=9),
        "bad IDAT checksum": good[:-16] + bytes([good[-16] ^ 1]) + good[-15:],
        "bad IHDR checksum": good[:29] + bytes([good[29] ^ 1]) + good[30:],
        "data after IEND": good + b"trailing",
        "no IEND": good[:-12],
        "interlaced": build([(b"IHDR", interlaced), (b"IDAT", image_data), (b"IEND", b"")]),
        "truncated image data": build(
            [(b"IHDR", header), (b"IDAT", image_data[: len(image_data) // 2]), (b"IEND", b"")]
        ),
        "not a PNG": b"GIF89a" + good[6:],
    }


@pytest.mark.parametrize("name", sorted(altered_files()))
def test_every_other_file_is_left_to_image_open(name, tmp_path: Path):
    data = altered_files()[name]
    assert open_simple_png(data) is None
    path = tmp_path / "image.png"
    path.write_bytes(data)
    for records in ([data], [path]):
        try:
            want = one_image(data, 16, "L")
        except Exception:  # noqa: BLE001 - whatever Pillow raises, the featuriser names the file
            with pytest.raises(FeatureError, match="cannot decode image"):
                ImageFeaturizer(16, "L").featurize(records)
        else:
            assert ImageFeaturizer(16, "L").featurize(records).tobytes() == want.tobytes()


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_features_of_a_tree_of_pngs_are_the_definitions(mode, tmp_path: Path):
    files = digits_pngs(40) + random_pngs() + list(altered_files().values())[:6]
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp_path / f"{i:03d}.png")
        paths[-1].write_bytes(data)
    got = ImageFeaturizer(16, mode).featurize(paths)
    want = np.stack([one_image(data, 16, mode) for data in files])
    assert got.tobytes() == want.tobytes()


def test_parts_name_mode_size_and_the_joined_stream():
    data = png(np.zeros((5, 7, 3), np.uint8), "RGB")
    mode, raw_mode, size, stream = simple_png_parts(data)
    assert (mode, raw_mode, size) == ("RGB", "RGB", (7, 5))
    assert len(zlib.decompress(stream)) == 5 * (1 + 7 * 3)


@pytest.mark.parametrize("mode,resample", [("L", "bilinear"), ("RGB", "bilinear"), ("L", "box"), ("RGB", "box")])
@pytest.mark.parametrize("grid", [16, 5])
def test_pngs_of_one_size_resampled_together_are_the_definition_bit_for_bit(mode, resample, grid, monkeypatch):
    """``png_grids``: the images of a size decoded into one tall image and resampled in two passes give each
    image's own ``resize`` bytes: sizes below, at and above the grid, odd ones, batches cut in pieces."""
    monkeypatch.setattr(png_grids, "BATCH_PIXEL_BYTES", 7 * 40 * 33)  # a few images a piece: cuts in every size
    rng = np.random.default_rng(grid)
    images = []
    for h, w in [(32, 32), (33, 7), (5, 40), (16, 16), (3, 3), (64, 48), (1, 1), (70, 70), (17, 17)]:
        for i in range(9):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if i % 4 == 0:
                pixels[: h // 2] = 0  # long runs: the encoder picks other row filters
            images.append(png(pixels, (mode, mode, "L" if mode == "RGB" else "RGB", "LA")[i % 4]))
    order = rng.permutation(len(images))  # sizes interleaved, as a profile's sample holds them
    images = [images[i] for i in order]
    got = ImageFeaturizer(grid, mode, resample).featurize(images)
    want = np.stack([one_image(b, grid, mode, Image.Resampling[resample.upper()]) for b in images])
    assert got.tobytes() == want.tobytes()
    filter_ = Image.Resampling[resample.upper()]
    done, pixels = png_grids.simple_png_grids(images, mode, (grid, grid), filter_)
    taken = [Image.open(io.BytesIO(b)) for b in images]
    assert len(done) == sum(i.mode == mode and i.width == i.height for i in taken)  # the others: one at a time
    for i, row in zip(done.tolist(), pixels):
        assert row.tobytes() == grid_pixels(images[i], mode, (grid, grid), filter_)


def test_a_png_the_decoder_refuses_in_a_batch_is_named_and_leaves_the_others_whole():
    good = [png(np.full((32, 32), v, np.uint8), "L") for v in (0, 90, 255)]
    parts = chunks(good[1])
    stream = dict(parts)[b"IDAT"]
    damaged = build([(b"IHDR", parts[0][1]), (b"IDAT", stream[: len(stream) // 2]), (b"IEND", b"")])
    assert simple_png_parts(damaged) is not None  # right CRCs: only the decoder finds the stream short
    images = [good[0], damaged, good[1], good[2]]
    done, pixels = png_grids.simple_png_grids(images, "L", (16, 16), Image.Resampling.BILINEAR)
    assert done.tolist() == [0, 2, 3]
    for i, row in zip(done.tolist(), pixels):
        assert row.tobytes() == grid_pixels(images[i], "L", (16, 16), Image.Resampling.BILINEAR)
    with pytest.raises(FeatureError, match="cannot decode image") as caught:
        ImageFeaturizer().featurize(images)
    assert caught.value.records == [1]


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_square_pngs_of_every_side_to_70_resampled_together_are_the_definition(mode):
    """Square images (the ones ``png_grids`` takes) of every side from 1 to 70, three of each, onto both filters'
    16 x 16 and 5 x 5 grids: each one's bytes as its own ``resize`` gives them."""
    rng = np.random.default_rng(70)
    images = [png(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), mode) for n in range(1, 71) for _ in range(3)]
    for resample in (Image.Resampling.BILINEAR, Image.Resampling.BOX):
        for grid in (16, 5):
            done, pixels = png_grids.simple_png_grids(images, mode, (grid, grid), resample)
            assert done.tolist() == list(range(len(images)))
            want = b"".join(grid_pixels(b, mode, (grid, grid), resample) for b in images)
            assert pixels.tobytes() == want, (resample, grid)


def grid_test_images() -> list[bytes]:
    """Square PNGs of a few sizes in L and RGB (the fast path's), a non-square one and a palette one (one at a time)."""
    rng = np.random.default_rng(32)
    images = [png(rng.integers(0, 256, (n, n, 3), dtype=np.uint8), mode) for n in (8, 16, 29) for mode in ("L", "RGB")]
    images += [png(rng.integers(0, 256, (9, 4, 3), dtype=np.uint8), "L"), png(np.zeros((5, 5, 3), np.uint8), "P")]
    return images * 2


@pytest.mark.parametrize("mode,resample", [("L", "bilinear"), ("RGB", "box")])
def test_the_public_path_forced_gives_the_same_features_as_the_fast_path(mode, resample):
    images = grid_test_images()
    with png_grids.forced("public"):
        done, _ = png_grids.simple_png_grids(images, mode, (16, 16), Image.Resampling[resample.upper()])
        public = ImageFeaturizer(16, mode, resample).featurize(images)
    assert done.size == 0  # every image through grid_pixels
    with png_grids.forced("grids"):
        done, _ = png_grids.simple_png_grids(images, mode, (16, 16), Image.Resampling[resample.upper()])
        fast = ImageFeaturizer(16, mode, resample).featurize(images)
    assert done.size == 6  # the square images of this mode
    assert fast.tobytes() == public.tobytes()
    with pytest.raises(ValueError, match="unknown path 'fast'"), png_grids.forced("fast"):
        pass


def test_a_pillow_without_the_private_decoder_call_takes_the_public_path(monkeypatch):
    """A Pillow that renamed ``Image._getdecoder`` (simulated at png_grids' one lookup of it, which Pillow's own
    public calls do not go through): the self-check says no, every image goes one at a time."""
    want = ImageFeaturizer().featurize(grid_test_images())
    monkeypatch.setattr(png_grids, "_ready", {})
    monkeypatch.setattr(png_grids, "_private_decoder", lambda image_module: None)
    assert not png_grids.fast_path_ready("L", (16, 16), Image.Resampling.BILINEAR)
    assert ImageFeaturizer().featurize(grid_test_images()).tobytes() == want.tobytes()


def test_a_pillow_whose_batch_bytes_differ_fails_the_self_check_and_each_batch_check(monkeypatch):
    """A Pillow that resampled a tall image in another order (simulated: one byte of each batch's first grid off):
    the self-check says no; and with the self-check skipped, each batch's check leaves the batch one at a time."""
    want = ImageFeaturizer().featurize(grid_test_images())
    batch_grids = png_grids._batch_grids

    def another_order(*args):
        decoded, grid = batch_grids(*args)
        grid = grid.copy()
        grid[decoded[0] if decoded else 0, 0] ^= 1
        return decoded, grid

    monkeypatch.setattr(png_grids, "_batch_grids", another_order)
    monkeypatch.setattr(png_grids, "_ready", {})
    assert not png_grids.fast_path_ready("L", (16, 16), Image.Resampling.BILINEAR)
    assert ImageFeaturizer().featurize(grid_test_images()).tobytes() == want.tobytes()
    with png_grids.forced("grids"):
        done, _ = png_grids.simple_png_grids(grid_test_images(), "L", (16, 16), Image.Resampling.BILINEAR)
        assert done.size == 0
        assert ImageFeaturizer().featurize(grid_test_images()).tobytes() == want.tobytes()


def test_a_private_decoder_call_that_raises_leaves_its_batch_to_the_public_path(monkeypatch):
    want = ImageFeaturizer("16", "RGB").featurize(grid_test_images())

    def changed(*args):
        raise TypeError("_getdecoder() takes 2 positional arguments")  # what a changed private signature raises

    monkeypatch.setattr(png_grids, "_ready", {})
    monkeypatch.setattr(png_grids, "_private_decoder", lambda image_module: changed)
    assert not png_grids.fast_path_ready("RGB", (16, 16), Image.Resampling.BILINEAR)
    with png_grids.forced("grids"):
        assert ImageFeaturizer("16", "RGB").featurize(grid_test_images()).tobytes() == want.tobytes()
