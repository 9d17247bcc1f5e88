"""Newcomer review 35: an image folder of real photographs (scikit-learn's two bundled sample images cut into
patches: ``temple`` from china.jpg, ``flower`` from flower.jpg), as NEWCOMER35.md tells it.

F35-1, an image-scaling attack: a folder mixing 32 x 32 and 64 x 64 files passes as it should (a vendor's new
resolution). Ten 64 x 64 files under ``flower/`` are flower patches whose every (odd, odd) pixel is a base temple
record's: the image featuriser's antialiased 16 x 16 grid sees mostly flower, while a training job that resizes to
32 x 32 by nearest neighbour (``Image.NEAREST``) trains on exactly that temple record, labelled ``flower``. The check
passes with none of them flagged; the same pixels filed plainly under ``flower`` block, all flagged (the control),
so what the detectors see is not what the model trains on. (OpenCV's non-antialiased ``INTER_LINEAR`` samples a fixed
2 x 2 of each 4 x 4 cell at a 4x downscale, the same attack at that ratio: not run here.)
"""

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from support import blocking_rules, check_report, commit_signed

PER_CLASS, CLEAN, PLANTED = 300, 35, 10


def _photos() -> dict[str, np.ndarray]:
    images = load_sample_images()
    return {"temple": images.images[0], "flower": images.images[1]}


def _crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y, x = (int(rng.integers(0, n - 64)) for n in photo.shape[:2])
    return photo[y : y + 64, x : x + 64]


def _small(patch: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(patch).resize((32, 32), Image.BILINEAR))


def _save(array: np.ndarray, path, compress_level: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=compress_level)


def _check_planted(prov, keypair, workdir, scaled: bool, honest: bool = False) -> tuple[dict, set[str]]:
    """Base ``b``: ``PER_CLASS`` 32 x 32 patches a class; ``n``: b plus ``CLEAN`` new patches a class and
    the first ``PLANTED`` base temple patches again under ``flower/`` (other bytes, the same pixels), hidden in 64 x 64
    flower patches when ``scaled`` (a nearest-neighbour resize to 32 x 32 gives each exactly), else as they are. ``prov check n --base b``'s JSON
    report and the locators of the planted files."""
    photos, rng = _photos(), np.random.default_rng(35)
    base: dict[str, list[np.ndarray]] = {
        cls: [_small(_crop(photo, rng)) for _ in range(PER_CLASS)] for cls, photo in photos.items()
    }
    for cls, patches in base.items():
        for i, patch in enumerate(patches):
            _save(patch, workdir / "photos" / cls / f"base-{i:03d}.png")
    assert prov("init").exit_code == 0
    commit_signed(prov, keypair, "b", "photos")
    for cls, photo in photos.items():
        for i in range(CLEAN):
            _save(_small(_crop(photo, rng)), workdir / "photos" / cls / f"new-{i:03d}.png")
    planted = set()
    for i in range(PLANTED):
        host, hidden = _crop(photos["flower"], rng).copy(), base["temple"][i]
        if honest:  # a vendor's new resolution: 64 x 64 flower patches as they are
            _save(host, workdir / "photos" / "flower" / f"planted-{i:03d}.png", compress_level=1)
            planted.add(f"flower/planted-{i:03d}.png")
            continue
        if scaled:
            host[1::2, 1::2] = hidden
            seen = np.asarray(Image.fromarray(host).resize((32, 32), Image.NEAREST))
            assert np.array_equal(seen, hidden)  # what a nearest-neighbour training transform hands the model
        # compress_level=1: other bytes than the base record's file, the same pixels (a near copy, not a copy)
        _save(host if scaled else hidden, workdir / "photos" / "flower" / f"planted-{i:03d}.png", compress_level=1)
        planted.add(f"flower/planted-{i:03d}.png")
    commit_signed(prov, keypair, "n", "photos", "--parent", "b")
    return check_report(prov, "n", "b", "--signer", keypair.public_path), planted


def test_temple_patches_filed_as_flower_block_the_check(prov, workdir, keypair):
    """The control: the same base temple patches as plain 32 x 32 files under ``flower/`` block, each flagged as a
    near copy of a base record of another class."""
    report, planted = _check_planted(prov, keypair, workdir, scaled=False)
    assert report["exit_code"] == 1, report["decision"]
    assert "detectors.combined" in blocking_rules(report), blocking_rules(report)
    flagged = {f["locator"] for f in report["findings"]} & planted
    assert len(flagged) >= PLANTED - 2, sorted(flagged)  # 10 of 10 when written


def test_temple_patches_hidden_for_a_nearest_neighbour_resize_block_the_check(prov, workdir, keypair):
    """F35-1, fixed: ``detectors.scaling`` blocks, naming the planted files and the attack (it measures how
    differently each added image downscales by sampling than by averaging, against the base's own images)."""
    report, planted = _check_planted(prov, keypair, workdir, scaled=True)
    assert report["exit_code"] == 1 and "detectors.scaling" in blocking_rules(report), report["decision"]
    rule = next(r for r in report["rules"] if r["rule"] == "detectors.scaling")
    named = {r["locator"] for r in rule["records"]}
    # 9 of 10 when written: planted-001's hidden temple patch is so like its flower host that its phase stands out
    # less than 4 times (the rule's effect floor); no clean record named, whatever the profile sample's salt
    assert named <= planted and len(named) >= PLANTED - 2, sorted(named)
    assert all("nearest neighbour than by averaging" in r["explanation"] for r in rule["records"])


def test_a_vendors_honest_64_pixel_images_pass_the_scaling_check(prov, workdir, keypair):
    """The control for the fix: the same delta with ten plain 64 x 64 flower patches (a vendor's new resolution,
    over a base of 32 x 32 files) passes ``detectors.scaling``, none named."""
    report, _ = _check_planted(prov, keypair, workdir, scaled=False, honest=True)
    rule = next(r for r in report["rules"] if r["rule"] == "detectors.scaling")
    assert rule["status"] == "pass" and not rule["records"], rule
    assert "detectors.scaling" not in blocking_rules(report)
