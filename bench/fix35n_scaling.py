"""``detectors.scaling`` (fix35n, F35-1): what it costs, how often it blocks clean image deltas, how often attacks.

    python bench/fix35n_scaling.py [--deltas 40] [--size 80] [--out fix35n-scaling]

Cost: CPU (process time) of the phase-disagreement statistic (``features.image_scaling.scaling_disagreements``)
per 1,000 images, beside the image featuriser's own featurisation of the same bytes in the same minutes (the
baseline: a check featurises every added image), on the digits PNG tree of ``core_bench.py`` (32 x 32 renders)
and on 32 x 32 and 64 x 64 photograph patches. The rule also reads up to 400 base sample images once per check.

False alarms and detection: the rule's decision (``gate.image_scaling.scaling_p_values`` at ``extreme_alpha / n``,
extreme_alpha 0.01) on deltas of ``--size`` added images against a base of 600, each scenario ``--deltas`` times:
digits renders (random and in file order: a delta of renderings the base lacks); the two scikit-learn photographs
cut into patches, base 32 x 32 (bilinear), deltas mixing 32 x 32 and 64 x 64 patches; a re-encode (JPEG q90, saved
again as PNG) of base images; and, for detection, 10 planted images per delta (every (odd, odd) pixel of a 64 x 64
host, or the 2 x 2 centre of each 4 x 4 cell of a 128 x 128 host for a non-antialiased bilinear resize, is a base
record of the other class). Results in bench/results/OUT.md with the load average before and after. Not a test.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from core_bench import make_digits_tree  # noqa: E402

from provenance.features.image import ImageFeaturizer  # noqa: E402
from provenance.features.image_scaling import scaling_disagreements  # noqa: E402
from provenance.gate.image_scaling import scaling_p_values  # noqa: E402

ALPHA = 0.01
BASE = 600
PLANTED = 10


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def reencoded(blob: bytes) -> bytes:
    """``blob`` decoded, saved as JPEG q90, decoded again and saved as PNG (the same picture, other bytes)."""
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(blob)).convert("RGB").save(jpeg, format="JPEG", quality=90)
    return png(np.asarray(Image.open(io.BytesIO(jpeg.getvalue()))))


def photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)  # china.jpg, flower.jpg


def crop(photo: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    y, x = (int(rng.integers(0, n - side)) for n in photo.shape[:2])
    return photo[y : y + side, x : x + side]


def small(patch: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(patch).resize((32, 32), Image.BILINEAR))


def cpu_per_thousand(fn, blobs: list[bytes], repeats: int = 3) -> float:
    """Least process CPU seconds of ``fn(blobs)`` over ``repeats`` runs, per 1,000 images."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn(blobs)
        best = min(best, time.process_time() - start)
    return best * 1000 / len(blobs)


def blocks(base_blobs: list[bytes], delta_blobs: list[bytes]) -> int:
    """How many of ``delta_blobs`` the rule would name against ``base_blobs``."""
    base, _ = scaling_disagreements(base_blobs)
    stats, _ = scaling_disagreements(delta_blobs)
    threshold = ALPHA / len(delta_blobs)
    p, _ = scaling_p_values(base, stats, threshold)
    return int((p <= threshold).sum())


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deltas", type=int, default=40)
    ap.add_argument("--size", type=int, default=80)
    ap.add_argument("--out", default="fix35n-scaling")
    args = ap.parse_args()
    load_before = load()
    rng = np.random.default_rng(35)
    with tempfile.TemporaryDirectory(prefix="fix35n-") as tmp:
        make_digits_tree(Path(tmp), 4000)
        paths = sorted(Path(tmp).rglob("*.png"), key=lambda p: p.name)  # file order: rendering after rendering
        digits = [p.read_bytes() for p in paths]
    pics = photos()
    patches32 = [png(small(crop(pics[i % 2], 64, rng))) for i in range(2000)]
    patches64 = [png(crop(pics[i % 2], 64, rng)) for i in range(2000)]

    featuriser = ImageFeaturizer()
    lines = [
        "# detectors.scaling (fix35n): cost, false alarms on clean image deltas, detection",
        "",
        f"`python bench/fix35n_scaling.py --deltas {args.deltas} --size {args.size}`; load average (1, 5, 15 min) "
        f"before: {load_before}.",
        "",
        "## Cost: CPU per 1,000 images (least of 3), beside the featuriser on the same bytes",
        "",
        "| images | scaling statistic (s) | image featuriser (s) | ratio |",
        "|---|---|---|---|",
    ]
    for name, blobs in (
        ("digits PNG tree, 32 x 32 (2,000)", digits[:2000]),
        ("photo patches, 32 x 32 (2,000)", patches32),
        ("photo patches, 64 x 64 (2,000)", patches64),
    ):
        stat_s = cpu_per_thousand(lambda b: scaling_disagreements(b), blobs)
        feat_s = cpu_per_thousand(featuriser.featurize, blobs)
        lines.append(f"| {name} | {stat_s:.3f} | {feat_s:.3f} | {stat_s / feat_s:.2f} |")

    def scenario(make) -> tuple[int, int]:
        """(deltas with any block, records named) over ``args.deltas`` draws of ``make(rng) -> (base, delta)``."""
        any_block, named = 0, 0
        for _ in range(args.deltas):
            base, delta = make(rng)
            k = blocks(base, delta)
            any_block += k > 0
            named += k
        return any_block, named

    def pick(pool: list[bytes], k: int, r: np.random.Generator) -> list[bytes]:
        return [pool[i] for i in r.choice(len(pool), k, replace=False)]

    def digits_random(r):
        order = r.permutation(len(digits))
        return [digits[i] for i in order[:BASE]], [digits[i] for i in order[BASE : BASE + args.size]]

    def digits_in_order(r):
        start = int(r.integers(BASE, len(digits) - args.size))
        return digits[:BASE], digits[start : start + args.size]

    def photos_mixed(r):
        half = args.size // 2
        return pick(patches32, BASE, r), pick(patches32, half, r) + pick(patches64, args.size - half, r)

    def photos_64(r):
        return pick(patches32, BASE, r), pick(patches64, args.size, r)

    def reencode(r):
        base = pick(patches32, BASE, r)
        return base, [reencoded(b) for b in base[: args.size // 2]] + pick(patches64, args.size - args.size // 2, r)

    def attacked(ratio: int):
        def make(r):
            base = pick(patches32, BASE, r)
            delta = pick(patches32, args.size - PLANTED, r)
            for _ in range(PLANTED):
                hidden = small(crop(pics[0], 64, r))
                host = crop(pics[1], 32 * ratio, r).copy()
                if ratio == 2:
                    host[1::2, 1::2] = hidden
                else:  # the 2 x 2 a non-antialiased bilinear resize by 4 reads of each 4 x 4 cell
                    for u in (1, 2):
                        for v in (1, 2):
                            host[u::4, v::4] = hidden
                delta.append(png(host))
            return base, delta

        return make

    lines += [
        "",
        f"## Clean deltas: blocks ({args.deltas} deltas of {args.size} against a base of {BASE}, extreme_alpha "
        f"{ALPHA})",
        "",
        "| clean delta | deltas blocked | images named |",
        "|---|---|---|",
    ]
    for name, make in (
        ("digits renders, random", digits_random),
        ("digits renders, in file order", digits_in_order),
        ("photo patches, 32 and 64 mixed", photos_mixed),
        ("photo patches, all 64 (a vendor's new resolution)", photos_64),
        ("re-encoded base images (JPEG q90 -> PNG) + 64 x 64", reencode),
    ):
        any_block, named = scenario(make)
        lines.append(f"| {name} | {any_block} of {args.deltas} | {named} of {args.deltas * args.size} |")
    lines += [
        "",
        f"## Attacks: {PLANTED} planted images a delta (photo patches)",
        "",
        "| attack | deltas blocked | images named (planted: 10 a delta) |",
        "|---|---|---|",
    ]
    for name, ratio in (("nearest neighbour, 64 -> 32", 2), ("bilinear without antialias, 128 -> 32", 4)):
        any_block, named = scenario(attacked(ratio))
        lines.append(f"| {name} | {any_block} of {args.deltas} | {named} of {args.deltas * PLANTED} |")
    lines += ["", f"Load average after: {load()}.", ""]
    text = "\n".join(lines)
    (HERE / "results" / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
