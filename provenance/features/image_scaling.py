"""How differently an image downscales by sampling than by averaging: the image-scaling attack's trace.

An image-scaling attack (Xiao et al., USENIX Security 2019; Quiring et al., USENIX Security 2020) hides one image
in the few pixels a non-antialiased downscaler reads: nearest neighbour reads one pixel of each ``s x s`` cell at a
whole-number ratio ``s``, bilinear without antialiasing a fixed 2 x 2 of it. A training job that resizes that way
trains on the hidden image, while an averaging resize (the image featuriser's grid, a person looking) sees the
host. Quiring et al. show the attack's strength is exactly that those few pixels differ from the rest of their
cell; a natural image's pixels at one place in each cell (a *phase*) look like those at any other.

The statistic, per image and whole-number ratio ``s`` in ``RATIOS`` (down to at least ``MIN_TARGET`` pixels a side):
the ``s x s`` phase images ``x[u::s, v::s]``, each one's mean absolute difference from their average (the box
downscale); the largest over the median (plus a floor of ``FLOOR_SHARE`` of the image's own spread, so flat and
block-upscaled images give 0). A sampled phase carrying another image stands out about ``s * s - 1`` times (3 at
s = 2, 15 at s = 4; bilinear's 2 x 2 at s = 4, 3 times); a natural phase about once. The image's statistic is its
largest over the ratios. Computed in grey (Pillow's ``L``) from the decoded pixels.

Images of more than ``MAX_PIXELS`` pixels are not measured; the work is bounded by ``STACK_PIXELS`` and
``HELD_PIXELS`` (attack review 35n, A35n-5). Not covered: ratios that are not whole numbers (a nearest-neighbour resize of 64 to 28 pixels reads an irregular
set of pixels), and an attacker who changes every phase (then the averaging view carries the change too, and the
featuriser's grid sees it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

RATIOS = (2, 3, 4)  # whole-number downscale ratios checked
MIN_TARGET = 8  # pixels a side: a training job's resize to fewer is implausible
FLOOR_SHARE = 0.05  # of the image's standard deviation, added to the median phase difference
BATCH = 256  # images of one size computed together at most
STACK_PIXELS = 1 << 20  # pixels computed together at most (a 1024 x 1024 image alone; peak about 20 bytes a pixel)
HELD_PIXELS = 1 << 24  # decoded pixels held before they are computed (16 MiB of grey)
# an image of more pixels (past 4096 x 4096) is not measured (statistic 0): its peak would pass 300 MiB, and a training
# job downscaling it by 2 to 4 keeps over 1,000 pixels a side (attack review 35n, A35n-5: no bound before)
MAX_PIXELS = 1 << 24


def phase_disagreement(pixels: np.ndarray) -> float:
    """The statistic of one grey image (module docstring): (h, w) array of values in [0, 255], any numeric dtype.

    Returns:
        A finite float >= 0: over the ratios ``s`` in ``RATIOS`` with ``min(h, w) // s >= MIN_TARGET``, the largest
        phase's mean absolute difference from the phases' per-pixel median over the median phase's (plus the floor);
        0 for an image too small for any ratio or flat."""
    return float(phase_disagreements(np.asarray(pixels)[None])[0])


def phase_disagreements(images: np.ndarray) -> np.ndarray:
    """:func:`phase_disagreement` of each of ``images``, a (k, h, w) stack of grey images of one size, computed for
    all at once (per image, numpy's call overhead cost more than the arithmetic). Returns (k,) float64."""
    grey = np.asarray(images, dtype=np.float32)
    k, height, width = grey.shape
    floor = FLOOR_SHARE * grey.reshape(k, -1).std(axis=1) + 0.5
    best = np.zeros(k, dtype=np.float64)
    for s in RATIOS:
        rows, cols = height // s, width // s
        if min(rows, cols) < MIN_TARGET:
            continue
        cells = grey[:, : rows * s, : cols * s].reshape(k, rows, s, cols, s)
        phases = cells.transpose(0, 2, 4, 1, 3).reshape(k, s * s, rows * cols)
        spread = np.abs(phases - np.median(phases, axis=1, keepdims=True)).mean(axis=2)
        best = np.maximum(best, spread.max(axis=1) / (np.median(spread, axis=1) + floor))
    return best


def scaling_disagreements(blobs: Sequence[bytes]) -> tuple[np.ndarray, list[int]]:
    """:func:`phase_disagreement` of each image file's bytes, decoded by Pillow and converted to grey (images of
    one size computed together, :func:`phase_disagreements`).

    Returns:
        ``(statistics, undecodable)``: (n,) float64 (0 where undecodable) and the positions Pillow could not decode
        (the featuriser names those to the user; here they are only left out)."""
    from PIL import Image, UnidentifiedImageError

    from provenance.features.png import open_simple_png

    out = np.zeros(len(blobs), dtype=np.float64)
    undecodable = []
    by_size: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    held = 0

    def compute() -> None:  # every held image, in stacks of one size within BATCH and STACK_PIXELS
        for (h, w), group in by_size.items():
            step = max(1, min(BATCH, STACK_PIXELS // max(1, h * w)))
            for start in range(0, len(group), step):
                part = group[start : start + step]
                out[[i for i, _ in part]] = phase_disagreements(np.stack([pixels for _, pixels in part]))
        by_size.clear()

    for i, blob in enumerate(blobs):
        try:
            simple = open_simple_png(blob)
            with simple or Image.open(io.BytesIO(blob)) as image:
                if image.width * image.height > MAX_PIXELS:
                    continue  # not measured (MAX_PIXELS), never decoded
                image.load()
                grey = image if image.mode == "L" else image.convert("L")
                pixels = np.asarray(grey)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            undecodable.append(i)
            continue
        by_size.setdefault(pixels.shape, []).append((i, pixels))
        held += pixels.size
        if held >= HELD_PIXELS:
            compute()
            held = 0
    compute()
    return out, undecodable
