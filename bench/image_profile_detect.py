"""What a smaller image profile costs detection: the same batches against profiles of several sample sizes.

    python bench/image_profile_detect.py [--sizes 8000,2000] [--batches 8] [--seed 0]

Writes bench/results/image-profile-detect.md (``-seedN.md`` for another seed), with ``uptime``
and the run's CPU time, and prints it. Heavy-ish: run with ``nice``.

Data: the image tree of ``core_bench.py`` (20,000 real PNGs: scikit-learn's 1,797 digits
rendered at 12 sizes and offsets on a 32 x 32 canvas, ``<digit>/dNNNNNN.png``),
featurised by prov's default image featuriser (``features.image``, 16 x 16 grid + 4
statistics). A record's place in the commit's file order is its path, as ``prov commit``
of the tree has it; digests are SHA-256 of the feature rows (as ``gate_pass_rate.py``'s
deltas carry them: two renderings with the same pixels at 16 x 16 are one record).

Batches: ``random`` = the base is the first rows of one fixed shuffle, the batch the next
100-400 (i.i.d.); ``inorder`` = the same in the order the files were rendered (file
number: one size and offset after another), so a batch brings renderings the base lacks
(new writers, a new camera). Per batch, the base's profile is built as ``prov commit``
builds it (the manifest's sample, ``profiles/sample.first_per_class`` with the per-class
cap and the total bound under test, then ``build_profile`` on the sample alone), once per
sample size, and every size scores the very same deltas: the batch clean, then with 1-5%
of it poisoned by the next attack of the demo catalogue (``provenance/demo/attacks.py``,
planted in feature space against the base, as ``gate_pass_rate.py`` does) - the default
gate's detector rules (``gate_pass_rate.gate``) decide pass / block.

Reported per sample size (paired: same batches, same poisons): clean batches passed,
poisoned batches blocked, poisoned records flagged per family, clean records flagged, and
the profile's own CPU time (featurising the sample is timed separately from
``build_profile``: decoding the PNGs is a commit's cost too).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from core_bench import make_digits_tree  # noqa: E402
from gate_pass_rate import gate, logged_run, plant_next_attack, wilson  # noqa: E402
from real_datasets import pipeline_delta, row_digests  # noqa: E402

from provenance.demo.attacks import CATALOGUE  # noqa: E402
from provenance.features.image import ImageFeaturizer  # noqa: E402
from provenance.profiles.reference import build_profile  # noqa: E402
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, first_per_class  # noqa: E402

FILES = 20_000
SHUFFLE_SEED = 7


def image_tree(work: Path) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, float]:
    """Features, labels, paths and file-content digests of the rendered tree, in render order,
    and the featuriser's CPU seconds per image."""
    root = work / "digits"
    make_digits_tree(root, FILES)
    paths = sorted(root.rglob("*.png"), key=lambda p: p.name)  # render order: d000000, d000001, ...
    cpu = time.process_time()
    X = ImageFeaturizer().featurize([str(p) for p in paths])
    per_image = (time.process_time() - cpu) / len(paths)
    labels = np.array([p.parent.name for p in paths])
    rel = [f"{p.parent.name}/{p.name}" for p in paths]
    # the digests the deltas carry (``real_datasets.pipeline_delta``: of the feature row), so a
    # delta record's own copy in the profile's sample is known as prov knows it (``detectors.shared``)
    digests = np.frombuffer(b"".join(row_digests(X)), np.uint8)
    return X, labels, rel, digests.reshape(-1, 32), per_image


def commit_profile(X, y, paths, digests, max_total):
    """The profile ``prov commit`` builds for these base records with a sample of at most ``max_total``;
    with the CPU seconds of ``build_profile``."""
    order = np.lexsort(tuple(digests[:, j] for j in range(31, -1, -1)))  # manifest order: by digest
    classes = sorted(set(y.tolist()))
    codes = np.searchsorted(classes, y[order])
    chosen = order[first_per_class(digests[order], codes, len(classes), DEFAULT_MAX_PER_CLASS, max_total)]
    cpu = time.process_time()
    profile = build_profile(
        X[chosen],
        y[chosen],
        digests[chosen],
        featurizer="image/v1:mode=L,size=16",
        positions=[paths[i] for i in chosen],
        max_total=max_total,
    )
    return profile, time.process_time() - cpu


def run(sizes, per_mode, seed, out):
    with tempfile.TemporaryDirectory(prefix="prov-image-detect-") as work:
        X, y, paths, digests, per_image = image_tree(Path(work))
    out(f"{len(X)} images featurised: {per_image * 1e6:.0f} us CPU per image")
    rng = np.random.default_rng(seed)
    attacks = list(CATALOGUE)
    turn = 0
    tally = {m: defaultdict(lambda: [0, 0]) for m in sizes}  # per size: key -> [hits, total]
    profile_cpu = defaultdict(list)
    for mode in ("random", "inorder"):
        order = np.arange(len(X))
        if mode == "random":
            order = np.random.default_rng(SHUFFLE_SEED).permutation(len(X))
        Xo, yo, po, do = X[order], y[order], [paths[i] for i in order], digests[order]
        for start in np.linspace(0.45 * len(X), 0.85 * len(X), per_mode).astype(int):
            size = int(rng.integers(100, 401))
            Xb, yb, Xd, yd = Xo[:start], yo[:start], Xo[start : start + size], yo[start : start + size]
            clean, _ = pipeline_delta(Xb, Xd, yd)
            rate = float(rng.uniform(0.01, 0.05))
            planted, poison, attack, turn = plant_next_attack(Xb, yb, Xd, yd, attacks, turn, rate, rng)
            line = [f"{mode:7s} base {start:5d} batch {size:3d}; {attack.name} x{int(poison.sum())}:"]
            for m in sizes:
                profile, cpu = commit_profile(Xb, yb, po[:start], do[:start], m)
                profile_cpu[m].append(cpu)
                g, p = gate(profile, clean), gate(profile, planted)
                t = tally[m]
                for key, hit in (
                    (f"clean pass {mode}", not g["blocking"]),
                    ("clean pass", not g["blocking"]),
                    ("poisoned block", bool(p["blocking"])),
                    (f"poisoned block {mode}", bool(p["blocking"])),
                ):
                    t[key][0] += hit
                    t[key][1] += 1
                t["clean records flagged"][0] += int(g["flagged"])
                t["clean records flagged"][1] += int(g["n"])
                t[f"poison flagged: {attack.family}"][0] += int(p["flags"][poison].sum())
                t[f"poison flagged: {attack.family}"][1] += int(poison.sum())
                verdict = "BLOCK" if p["blocking"] else "pass"
                line.append(
                    f"[{m}: clean {'pass' if not g['blocking'] else 'BLOCK'} {g['flagged']} flagged, "
                    f"{verdict} {int(p['flags'][poison].sum())}/{int(poison.sum())}]"
                )
            out(" ".join(line))
    table = ["| measure | " + " | ".join(f"sample {m:,}" for m in sizes) + " |", "|---|" + "---|" * len(sizes)]
    keys = sorted({k for m in sizes for k in tally[m]}, key=lambda k: (not k.startswith("clean"), k))
    for key in keys:
        cells = []
        for m in sizes:
            k, n = tally[m][key]
            lo, hi = wilson(k, n)
            cells.append(f"{k}/{n} = {k / max(n, 1):.1%} ({lo:.0%}-{hi:.0%})")
        table.append(f"| {key} | " + " | ".join(cells) + " |")
    cells = [f"{np.median(profile_cpu[m]):.2f} s + featurising {min(m, FILES) * per_image:.2f} s" for m in sizes]
    table.append("| profile CPU at commit (median build_profile + the sample's decode) | " + " | ".join(cells) + " |")
    return table


HEADER = """# Detection on image trees against smaller image profiles (generated by bench/image_profile_detect.py)

The 20,000 rendered digit PNGs of `core_bench.py`, featurised by prov's image featuriser;
per batch (100-400 records, at random and in render order), the base's profile is built as
`prov commit` builds it with each sample size, and the same clean and poisoned deltas (1-5%
poison, the demo catalogue's next attack, planted in feature space) go through the default
gate's detector rules (`gate_pass_rate.gate`). Counts with 95% Wilson intervals; records of
one batch are not independent, so the record-level intervals are optimistic. 2-CPU machine
shared with other engineers; load on the `uptime` lines, CPU time of the run at the end.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8000,2000", help="sample bounds to compare, comma-separated")
    ap.add_argument("--batches", type=int, default=8, help="batches per order (random, inorder)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    name = "image-profile-detect.md" if args.seed == 0 else f"image-profile-detect-seed{args.seed}.md"

    def body(out) -> None:
        for line in run(sizes, args.batches, args.seed, out):
            out(line)

    logged_run(name, HEADER, body)


if __name__ == "__main__":
    main()
