"""The phase disagreement (``features.image_scaling``) on real photographs: an image-scaling attack's planted phase
stands far out, a natural image's phases alike, and the rule's bar (``gate.image_scaling.scaling_p_values``)."""

import io

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from provenance.features.image_scaling import phase_disagreement, phase_disagreements, scaling_disagreements
from provenance.gate.image_scaling import FIXED_BAR, MIN_DISAGREEMENT, scaling_p_values


def _patches(side: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        photo = load_sample_images().images[i % 2]
        y, x = (int(rng.integers(0, n - side)) for n in photo.shape[:2])
        out.append(photo[y : y + side, x : x + side])
    return out


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _grey(array: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(array).convert("L"))


def test_a_hidden_nearest_neighbour_image_stands_far_above_natural_patches():
    natural = [phase_disagreement(_grey(p)) for p in _patches(64, 40, 1)]
    attacked = []
    for host, hidden in zip(_patches(64, 20, 2), _patches(32, 20, 3)):
        host = host.copy()
        host[1::2, 1::2] = hidden  # Image.NEAREST to 32 x 32 reads exactly these pixels
        assert np.array_equal(np.asarray(Image.fromarray(host).resize((32, 32), Image.NEAREST)), hidden)
        attacked.append(phase_disagreement(_grey(host)))
    assert max(natural) < 1.5 < min(attacked), (max(natural), sorted(attacked)[:3])


def test_flat_and_small_images_give_zero_and_a_stack_gives_each_images_value():
    assert phase_disagreement(np.full((64, 64), 200, np.uint8)) == 0.0
    assert phase_disagreement(np.arange(64, dtype=np.uint8).reshape(8, 8)) == 0.0  # no ratio leaves 8 pixels a side
    stack = np.stack([_grey(p) for p in _patches(48, 5, 4)])
    assert np.array_equal(phase_disagreements(stack), [phase_disagreement(image) for image in stack])


def test_files_are_decoded_and_an_undecodable_one_is_left_out():
    blobs = [_png(p) for p in _patches(32, 3, 5)] + [b"not an image"]
    stats, undecodable = scaling_disagreements(blobs)
    assert undecodable == [3] and stats[3] == 0.0 and (stats[:3] > 0).all()
    assert stats[0] == phase_disagreement(_grey(_patches(32, 3, 5)[0]))


def test_the_bar_is_the_base_tail_or_the_fixed_bar_without_measurable_base_images():
    base = np.array([phase_disagreement(_grey(p)) for p in _patches(32, 60, 6)])
    p, words = scaling_p_values(base, np.array([base.max() * 0.9, 20.0]), 0.01 / 2)
    assert p[0] > 0.005 and p[1] <= 0.005 and "60 base images' tail" in words
    p, _ = scaling_p_values(base, np.array([MIN_DISAGREEMENT]), 0.005)  # past the tail, but no large effect
    assert list(p) == [1.0]
    p, words = scaling_p_values(np.zeros(100), np.array([FIXED_BAR - 1, FIXED_BAR + 1]), 0.005)
    assert list(p) == [1.0, 0.0] and "0 base images large enough" in words
