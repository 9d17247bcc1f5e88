"""Clean image deltas in file order (issue 14, session 30): what blocks them, and whether it is the images or the data.

    python bench/image_inorder_s30.py [--seed 0]

Writes bench/results/image-inorder-s30.md (``-seedN.md`` for another seed), with ``uptime`` and the run's
CPU time, and prints it. A few minutes on 2 cores.

Data: scikit-learn's 1,797 handwritten digits (8 x 8, 0-16) rendered to 8-bit grey PNG files with Pillow
(``<digit>/<NNNN>.png``, NNNN the digit's place in the file: the image folder a user commits), featurised
by prov's image featuriser (``features.image``: 16 x 16 grid + mean, std, min, max) from the PNG bytes, with
its default bilinear grid (``image``) and with ``resample=box`` (``image-box``). The same pixels are also
scored as a table (the 64 columns, as ``prov commit`` of a Parquet file of them featurises it), so a block
seen on all three is the data's, not the image featuriser's.

Batches: a base of the first N records (N = 300, 400, ..., 1,500) and a delta of the next 200, in file
order (``inorder``: the digits were written by a handful of people one after another, so a delta brings
a new writer) and after one fixed shuffle (``random``, seed 7: i.i.d.). The image base's pseudo-batches
follow the tree's paths (``<digit>/<NNNN>.png``: cut within each class, ``profiles.batches``), the table's
its row numbers. Each delta is scored clean, then with 10 of its records poisoned in pixel space, one
attack at a time, the same records and labels on both featurisations (``--seed``):

- ``backdoor``: a 2 x 2 patch at full ink in the top-left corner and the label set to 0 (dirty label);
- ``flips``: the label set to another digit at random.

Each random-order delta is also scored clean with every pixel brightened by 1 (of 16), as a recalibrated
scanner delivers it: ``detectors.drift`` should warn and take the shared move off (``scanner``).

The default gate's detector rules decide (``gate_pass_rate.gate``: combined, extreme, copies, relabels).
Per batch: pass/BLOCK and the rules, clean records flagged, whether ``detectors.drift`` warned and its
largest effect (the batch's shift over the largest shift between the base's own pseudo-batches), and the
poisoned records flagged. Totals with 95% Wilson intervals (records of one batch are not independent:
the record-level intervals are optimistic).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gate_pass_rate import base_repetition, gate, logged_run, wilson  # noqa: E402
from real_datasets import pipeline_delta, row_digests  # noqa: E402

from provenance.detectors.drift import batch_drift  # noqa: E402
from provenance.features.image import ImageFeaturizer  # noqa: E402
from provenance.profiles.reference import build_profile  # noqa: E402

STARTS = range(300, 1501, 100)
BATCH = 200
POISONED = 10
SHUFFLE_SEED = 7
BACKDOOR_TARGET = 0
PATCH = [(0, 0), (0, 1), (1, 0), (1, 1)]  # pixels of the 8 x 8 digit set to full ink
SCANNER = 1.0  # of 16: every pixel of a random-order batch brightened (tests/cli/test_check_shifted_batch.py's scanner)


def render(images: np.ndarray) -> list[bytes]:
    """Each 8 x 8 digit (0-16) as the bytes of an 8-bit grey PNG file."""
    from PIL import Image

    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray((image * (255 / 16)).round().astype(np.uint8)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


FEATURISERS = {  # the image featuriser's grids: prov's default, and the box grid (``resample=box``)
    "image": ImageFeaturizer(),
    "image-box": ImageFeaturizer(resample="box"),
}


def features_of(name: str, images: np.ndarray) -> np.ndarray:
    """The features featurisation ``name`` gives 8 x 8 digits ``images`` (n, 8, 8): their PNGs' image features,
    or (``table``) their 64 pixels as a table's columns."""
    if name == "table":
        return images.reshape(len(images), -1).astype(np.float64)
    return FEATURISERS[name].featurize(render(images)).astype(np.float64)


def featurisations(images: np.ndarray, labels: np.ndarray) -> dict[str, tuple]:
    """Per featurisation, ``(features (n, d), positions of record i)``: the PNGs through each image grid with
    tree paths, and the same pixels as a table's columns with row numbers."""
    paths = np.array([f"{labels[i]}/{i:04d}.png" for i in range(len(labels))])
    views = {name: (features_of(name, images), lambda rows: [str(p) for p in paths[rows]]) for name in FEATURISERS}
    views["table"] = (features_of("table", images), lambda rows: np.arange(len(rows)))
    return views


def poison(images: np.ndarray, labels: np.ndarray, attack: str, chosen: np.ndarray, rng) -> tuple:
    """``(images, labels)`` of the delta with ``attack`` planted in records ``chosen`` (module docstring)."""
    images, labels = images.copy(), labels.copy()
    if attack == "backdoor":
        for r, c in PATCH:
            images[chosen, r, c] = 16.0
        labels[chosen] = str(BACKDOOR_TARGET)
    else:
        labels[chosen] = [str((int(v) + 1 + int(rng.integers(0, 9))) % 10) for v in labels[chosen]]
    return images, labels


def score(features, positions, rows_base, delta_features, delta_labels, labels) -> dict:
    """The default gate on one delta against the profile of base rows ``rows_base``."""
    Xb, yb = features[rows_base], labels[rows_base]
    digests = row_digests(Xb)
    profile = build_profile(Xb, yb, digests, featurizer="bench", positions=positions(rows_base))
    delta, rows = pipeline_delta(Xb, delta_features, delta_labels)
    g = gate(profile, delta, *base_repetition(digests))
    drift = batch_drift(profile, delta)
    g["effect"] = max((s.effect for s in drift if s.varies), default=0.0)
    g["rows"] = rows
    return g


def run(seed: int, out) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images_all, labels_all = digits.images.astype(np.float64), digits.target.astype(str)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rng = np.random.default_rng(seed)
    for order in ("inorder", "random"):
        index = np.arange(len(labels_all))
        if order == "random":
            index = np.random.default_rng(SHUFFLE_SEED).permutation(len(labels_all))
        images, labels = images_all[index], labels_all[index]
        # the rendering keeps each record's place in this order: its path is its place, as a user's tree has it
        views = featurisations(images, labels)
        for start in STARTS:
            base, batch = np.arange(start), np.arange(start, start + BATCH)
            chosen = np.sort(rng.choice(BATCH, POISONED, replace=False))
            planted = {a: poison(images[batch], labels[batch], a, chosen, rng) for a in ("backdoor", "flips")}
            brightened = np.clip(images[batch] + SCANNER, 0, 16)
            for name, (features, positions) in views.items():
                line = [f"{order:7s} {name:9s} base {start:4d}:"]
                g = score(features, positions, base, features[batch], labels[batch], labels)
                passed = not g["blocking"]
                line.append(
                    f"clean {'pass' if passed else 'BLOCK ' + ','.join(g['blocking'])} {g['flagged']}/{g['n']}"
                    f"{' warned' if g['warned'] else ''} (effect {g['effect']:.1f}x);"
                )
                for key, (k, n) in (
                    (f"{name} {order}: clean batches passed", (passed, 1)),
                    (f"{name} {order}: clean records flagged", (g["flagged"], g["n"])),
                    (f"{name} {order}: clean batches drift-warned", (g["warned"], 1)),
                ):
                    tally[key][0] += int(k)
                    tally[key][1] += n
                if order == "random":  # the batch from a recalibrated scanner: clean, warns, should pass
                    s = score(features, positions, base, features_of(name, brightened), labels[batch], labels)
                    tally[f"{name} scanner: clean brightened batches passed"][0] += not s["blocking"]
                    tally[f"{name} scanner: clean brightened batches passed"][1] += 1
                    line.append(f"scanner {'pass' if not s['blocking'] else 'BLOCK'} {s['flagged']}/{s['n']};")
                for attack, (p_images, p_labels) in planted.items():
                    p_features = features_of(name, p_images)
                    p = score(features, positions, base, p_features, p_labels, labels)
                    is_poison = np.isin(p["rows"], chosen)
                    hit = int(p["flags"][is_poison].sum())
                    tally[f"{name} {order}: {attack} records flagged"][0] += hit
                    tally[f"{name} {order}: {attack} records flagged"][1] += int(is_poison.sum())
                    tally[f"{name} {order}: {attack} batches blocked"][0] += bool(p["blocking"])
                    tally[f"{name} {order}: {attack} batches blocked"][1] += 1
                    line.append(f"{attack} {'BLOCK' if p['blocking'] else 'pass'} {hit}/{int(is_poison.sum())}")
                out(" ".join(line))
    out("")
    out("| measure | count | rate (95% Wilson) |")
    out("|---|---|---|")
    for key in sorted(tally):
        k, n = tally[key]
        lo, hi = wilson(k, n)
        out(f"| {key} | {k}/{n} | {k / max(n, 1):.1%} ({lo:.1%}-{hi:.1%}) |")


HEADER = """# Clean image deltas in file order (generated by bench/image_inorder_s30.py)

scikit-learn's 1,797 digits rendered to PNG (an image folder `<digit>/<NNNN>.png`), featurised by prov's
image featuriser, and the same pixels as a 64-column table: a base of the first N (300-1,500) and a delta of
the next 200, in file order and after one shuffle; each delta clean, then with 10 records poisoned in pixel
space (a 2 x 2 corner patch labelled 0; label flips), the same records on every featurisation (`image`: the
default bilinear grid; `image-box`: `--featurizer-option resample=box`; `table`); each random-order delta
also clean with every pixel brightened by 1 of 16 (`scanner`: a recalibrated scanner's batch). The default
gate's detector rules decide (bench/gate_pass_rate.py `gate`). Per batch: the clean verdict, clean records
flagged, drift warned and its largest effect (times the largest shift between the base's own pseudo-batches),
poisoned records flagged. 2-CPU machine shared with other engineers; load on the `uptime` lines.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    name = "image-inorder-s30.md" if args.seed == 0 else f"image-inorder-s30-seed{args.seed}.md"
    logged_run(name, HEADER, lambda out: run(args.seed, out))


if __name__ == "__main__":
    main()
