"""Attack review 35n of ``detectors.scaling`` (fix35n): image-scaling attacks its phase measure does not see.

The scene of tests/cli/test_newcomer35_findings.py: scikit-learn's two bundled photographs cut into patches, a base of
small ``temple`` and ``flower`` patches, and a new version that adds clean patches plus ten 64 x 64 ``flower`` files
each hiding a base ``temple`` record in the pixels a training job's downscale reads. Every planted file is checked
here to hand that job exactly (or within one grey level) the hidden record; the controls show the same hidden
pixels are caught when the measure can see them. All deterministic (fixed seeds); the assertions leave a margin of
two planted files for the profile sample's salt.
"""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from support import blocking_rules, check_report, commit_signed

PER_CLASS, CLEAN, PLANTED, HOST = 150, 20, 10, 64


def _photos() -> dict[str, np.ndarray]:
    images = load_sample_images()
    return {"temple": images.images[0], "flower": images.images[1]}


def _crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y, x = (int(rng.integers(0, n - HOST)) for n in photo.shape[:2])
    return photo[y : y + HOST, x : x + HOST].copy()


def _small(patch: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(patch).resize((side, side), Image.BILINEAR))


def _save(image: Image.Image, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, compress_level=1)


def _pillow_nearest_rows(size: int, side: int) -> np.ndarray:
    """The source rows (and columns) Pillow's ``NEAREST`` resize of ``size`` to ``side`` pixels reads, read off a ramp."""
    ramp = np.tile(np.arange(size, dtype=np.uint8), (size, 1))
    return np.asarray(Image.fromarray(ramp).resize((side, side), Image.NEAREST))[0].astype(int)


def _bilinear_taps(size: int, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's ``INTER_LINEAR`` without antialiasing: output i reads rows ``lo``, ``hi`` at weight ``frac``."""
    src = np.clip((np.arange(side) + 0.5) * size / side - 0.5, 0, size - 1)
    lo = np.floor(src).astype(int)
    return lo, np.minimum(lo + 1, size - 1), src - lo


def _bilinear_no_antialias(image: np.ndarray, side: int) -> np.ndarray:
    lo, hi, frac = _bilinear_taps(image.shape[0], side)
    x, f = image.astype(np.float64), frac[None, :, None]
    top = (1 - f) * x[np.ix_(lo, lo)] + f * x[np.ix_(lo, hi)]
    bottom = (1 - f) * x[np.ix_(hi, lo)] + f * x[np.ix_(hi, hi)]
    return (1 - frac[:, None, None]) * top + frac[:, None, None] * bottom


def _check(prov, keypair, workdir, side: int, plant) -> tuple[dict, set[str]]:
    """Base ``b``: ``PER_CLASS`` ``side`` x ``side`` patches a class; ``n``: b plus ``CLEAN`` new ones a class and
    ``PLANTED`` files under ``flower/`` made by ``plant(host, hidden)`` (a 64 x 64 RGB flower patch, a base temple
    record) -> PIL image. ``prov check n --base b``'s JSON report and the planted locators."""
    photos, rng = _photos(), np.random.default_rng(3514)
    base = {cls: [_small(_crop(photo, rng), side) for _ in range(PER_CLASS)] for cls, photo in photos.items()}
    for cls, patches in base.items():
        for i, patch in enumerate(patches):
            _save(Image.fromarray(patch), workdir / "photos" / cls / f"base-{i:03d}.png")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "photos")
    for cls, photo in photos.items():
        for i in range(CLEAN):
            _save(Image.fromarray(_small(_crop(photo, rng), side)), workdir / "photos" / cls / f"new-{i:03d}.png")
    planted = set()
    for i in range(PLANTED):
        image = plant(_crop(photos["flower"], rng), base["temple"][i])
        _save(image, workdir / "photos" / "flower" / f"planted-{i:03d}.png")
        planted.add(f"flower/planted-{i:03d}.png")
    commit_signed(prov, keypair, "n", "photos", "--parent", "b")
    return check_report(prov, "n", "b", "--signer", keypair.public_path), planted


def _scaling_named(report: dict) -> set[str]:
    rule = next(r for r in report["rules"] if r["rule"] == "detectors.scaling")
    return {r["locator"] for r in rule["records"]}


def _assert_planted_named(report: dict, planted: set[str]) -> None:
    """detectors.scaling names at least ``PLANTED - 2`` of the planted files and nothing else."""
    named = _scaling_named(report)
    assert named <= planted and len(named) >= PLANTED - 2, (sorted(named), blocking_rules(report))


def _nearest_28(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    rows = _pillow_nearest_rows(HOST, hidden.shape[0])
    host[np.ix_(rows, rows)] = hidden
    seen = np.asarray(Image.fromarray(host).resize(hidden.shape[:2], Image.NEAREST))
    assert np.array_equal(seen, hidden)  # what a nearest-neighbour resize to 28 x 28 hands the model
    return Image.fromarray(host)


def _bilinear_28(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    lo, hi, _ = _bilinear_taps(HOST, hidden.shape[0])
    for rows in (lo, hi):
        for cols in (lo, hi):
            host[np.ix_(rows, cols)] = hidden
    assert np.abs(_bilinear_no_antialias(host, hidden.shape[0]) - hidden).max() < 1e-6  # OpenCV-like INTER_LINEAR
    return Image.fromarray(host)


def test_a35n_1_control_the_hidden_28_pixel_records_filed_plainly_block(prov, workdir, keypair):
    """The control for A35n-1: the same base temple records as plain 28 x 28 files under ``flower/`` block."""
    report, planted = _check(prov, keypair, workdir, 28, lambda host, hidden: Image.fromarray(hidden))
    assert report["exit_code"] == 1, report["decision"]
    flagged = {f["locator"] for f in report["findings"]} & planted
    assert len(flagged) >= PLANTED - 2, sorted(flagged)


@pytest.mark.xfail(
    strict=True,
    reason="A35n-1 (high): a scaling attack at a non-integer ratio (64 -> 28, Pillow NEAREST or OpenCV-like "
    "bilinear without antialias) scores about 1.1-1.8: detectors.scaling names none",
)
@pytest.mark.parametrize("plant", [_nearest_28, _bilinear_28], ids=["nearest", "bilinear"])
def test_a35n_1_records_hidden_for_a_64_to_28_resize_are_named(prov, workdir, keypair, plant):
    report, planted = _check(prov, keypair, workdir, 28, plant)
    _assert_planted_named(report, planted)


def _grey_phase(host: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    grey = np.asarray(Image.fromarray(host).convert("L")).copy()
    grey[1::2, 1::2] = np.asarray(Image.fromarray(hidden).convert("L"))
    return grey


def _grey_8bit(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    return Image.fromarray(_grey_phase(host, hidden))


def _grey_16bit(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    wide = _grey_phase(host, hidden).astype(np.uint16) * 257
    # what OpenCV's imread (IMREAD_COLOR: 16 bits to 8 by >> 8) then a nearest resize to 32 x 32 hands the model
    assert np.array_equal((wide >> 8)[1::2, 1::2], np.asarray(Image.fromarray(hidden).convert("L")))
    return Image.fromarray(wide)


def test_a35n_2_control_the_same_grey_pixels_in_8_bits_are_named(prov, workdir, keypair):
    """The control for A35n-2: the planted grey images saved as 8-bit PNGs are named by detectors.scaling."""
    report, planted = _check(prov, keypair, workdir, 32, _grey_8bit)
    named = _scaling_named(report)
    assert named <= planted and len(named) >= PLANTED - 2, sorted(named)


@pytest.mark.xfail(
    strict=True,
    reason="A35n-2 (low): a 16-bit PNG hiding a record for a nearest resize scores 0 (Pillow's I;16 -> L "
    "clips every value above 255: the measure reads a flat white image) and detectors.scaling names none "
    "(here detectors.extreme and combined block: the featuriser reads the same white)",
)
def test_a35n_2_records_hidden_in_16_bit_pngs_are_named(prov, workdir, keypair):
    report, planted = _check(prov, keypair, workdir, 32, _grey_16bit)
    _assert_planted_named(report, planted)


def _blue_only(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    host[1::2, 1::2, 2] = hidden[..., 2]
    seen = np.asarray(Image.fromarray(host).resize(hidden.shape[:2], Image.NEAREST))
    assert np.array_equal(seen[..., 2], hidden[..., 2])  # the model's blue channel is the hidden record's
    return Image.fromarray(host)


@pytest.mark.xfail(
    strict=True,
    reason="A35n-3 (medium): a scaling attack on the blue channel alone is measured in grey (blue weighs 0.114): "
    "detectors.scaling names few of the planted files",
)
def test_a35n_3_records_hidden_in_the_blue_channel_are_named(prov, workdir, keypair):
    report, planted = _check(prov, keypair, workdir, 32, _blue_only)
    _assert_planted_named(report, planted)


def _under_the_floor(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    """The hidden record in the (odd, odd) pixels, the other three quarters noised just enough (seeded, the least
    amplitude in steps of 10) that the public statistic falls under 3.5: their spread is the median it divides by."""
    from provenance.features.image_scaling import phase_disagreement

    for amplitude in range(0, 250, 10):
        noise = np.random.default_rng(amplitude).integers(-amplitude, amplitude + 1, host.shape)
        noised = np.clip(host.astype(int) + noise, 0, 255).astype(np.uint8)
        noised[1::2, 1::2] = hidden
        if phase_disagreement(np.asarray(Image.fromarray(noised).convert("L"))) < 3.5:
            break
    seen = np.asarray(Image.fromarray(noised).resize(hidden.shape[:2], Image.NEAREST))
    assert np.array_equal(seen, hidden)  # the model trains on the hidden record exactly
    return Image.fromarray(noised)


@pytest.mark.xfail(
    strict=True,
    reason="A35n-4 (high): noising the three unsampled phases just enough keeps the phase disagreement under "
    "the effect floor of 4 while a nearest resize still hands the model the hidden record exactly",
)
def test_a35n_4_records_hidden_under_the_effect_floor_are_named(prov, workdir, keypair):
    report, planted = _check(prov, keypair, workdir, 32, _under_the_floor)
    _assert_planted_named(report, planted)


def _flat_png(side: int) -> bytes:
    import io

    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, format="PNG", compress_level=9)
    return out.getvalue()


def _peak_bytes(blobs: list[bytes]) -> int:
    import tracemalloc

    from provenance.features.image_scaling import scaling_disagreements

    tracemalloc.start()
    try:
        scaling_disagreements(blobs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# A35n-5 (low, cost; fixed in session 35): the measure held every added image decoded and stacked those of one size as
# float32 (about 20 bytes a pixel at peak, no bound): a few flat 8000 x 8000 PNGs of 60 KB each cost gigabytes. Now
# images are computed in stacks of at most STACK_PIXELS and past MAX_PIXELS not measured.
def test_a35n_5_measuring_many_huge_images_costs_no_more_memory_than_one():
    blob = _flat_png(2000)  # 4 megapixels in a few kilobytes
    assert len(blob) < 64 * 1024
    one, three = _peak_bytes([blob]), _peak_bytes([blob] * 3)
    assert one > 4_000_000  # the control: one image is measured from its decoded pixels
    assert three < 1.5 * one, (one, three)


def _scanlines(host: np.ndarray, hidden: np.ndarray) -> Image.Image:
    """No attack: the flower patch under a CRT-style scanline filter (every second row at three quarters)."""
    lit = host.astype(np.float64)
    lit[1::2] *= 0.75
    return Image.fromarray(lit.astype(np.uint8))


@pytest.mark.xfail(
    strict=True,
    reason="A35n-6 (low, honest): clean images under a scanline filter (every second row darkened, as retro "
    "screenshots and CRT photographs are) measure up to 25 and block over a base of photographs",
)
def test_a35n_6_clean_scanline_images_pass_the_scaling_check(prov, workdir, keypair):
    """The honest control without scanlines: test_newcomer35_findings.py's 64 x 64 vendor patches pass."""
    report, _ = _check(prov, keypair, workdir, 32, _scanlines)
    named = _scaling_named(report)
    assert not named, (sorted(named), blocking_rules(report))
