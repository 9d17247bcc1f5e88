"""``detectors.scaling``: no added image that downscales differently by sampling than by averaging.

An image-scaling attack (``features.image_scaling``) hides a record in the pixels a nearest-neighbour or
non-antialiased bilinear resize reads, so the featuriser's averaged grid, and every detector on it, sees the host
while the training job trains on the hidden image (newcomer review 35, F35-1). This rule measures each added image's
phase disagreement and calibrates it on the base's own images: the records of the base's signed profile sample, read
where the new version holds them (else where the base signed its data) and re-hashed against their signed digests,
never a stored score. A record whose p-value past the base's tail (``detectors.calibration``'s exponential tail) is at
most ``extreme_alpha / n`` (Bonferroni over the n added images, as ``detectors.extreme``) blocks, named, unless a
waiver names it for ``combined`` (``prov waive DIGEST --detector combined``: the rule is no detector). Where fewer than
``MIN_CALIBRATION`` base images are large enough to measure (8 x 8 digits), the bar is ``FIXED_BAR`` instead: no
natural image measured came within half of it (bench/results/fix35n-scaling.md).

A rule of its own rather than evidence inside ``detectors.extreme``: it reads the images' bytes, not the features
every detector shares, and only for file trees the image featuriser scored; its words name the attack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from provenance.errors import ProvError
from provenance.gate.detection_common import COMBINED, EXTREME_ALPHA, DetectorRule
from provenance.gate.results import RuleResult

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

RULE = "detectors.scaling"
MIN_CALIBRATION = 20  # measurable base images the tail is fitted on; fewer: FIXED_BAR
MAX_CALIBRATION = 400  # base sample records read (the first in the signed sample's order): the cost stays small
FIXED_BAR = 6.0  # phase disagreement; natural photographs and digits measured at most 3.5
# the effect a block needs whatever the tail says: a base of one rendering (digits drawn at one size) has a tight tail
# that another rendering's 2.9 passed at p 1e-5 (9 of 40 clean in-order digit deltas blocked; bench/results/
# fix35n-scaling.md); a planted phase stands out 10-20 times (median), a natural or block-upscaled one at most 3.5
MIN_DISAGREEMENT = 4.0
CALIBRATION_FPR = 0.05  # the calibration's threshold only: the p-values past the tail do not depend on it
WORDS = "the image downscales differently by nearest neighbour than by averaging (an image-scaling attack?)"


class ImageScaling(DetectorRule):
    """Added images whose nearest-neighbour downscale is not their averaged one (module docstring)."""

    key = RULE
    settings = (EXTREME_ALPHA,)

    def __init__(self, run, fpr: float, alpha: float):
        super().__init__(run, fpr)
        self.alpha = alpha

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass when the versions are no image trees or no added image is beyond the bar; block naming each
        that is. Reading or decoding failures are the detectors' to report (exit 2): here they pass unjudged."""
        try:
            profile = ctx.base_profile
        except ProvError:
            return RuleResult(self.key, "pass", "no reference profile: not judged (detectors.run says why)")
        if not profile.featurizer.startswith("image/"):
            return RuleResult(self.key, "pass", "not an image version: nothing to judge")
        rows = ctx.delta_rows
        added = [i for i, kind in enumerate(rows.kinds) if kind == "added"]
        if not added:
            return RuleResult(self.key, "pass", "no added image to judge")
        from provenance.features.image_scaling import scaling_disagreements
        from provenance.version_facts import read_version_records

        records, kind = read_version_records(
            ctx.store, ctx.new, [rows.locators[i] for i in added], [rows.digests[i] for i in added]
        )
        if kind != "tree":
            return RuleResult(self.key, "pass", "not an image version: nothing to judge")
        stats, _ = scaling_disagreements(records.blobs or [])
        base = base_disagreements(ctx)
        n = len(added)
        threshold = self.alpha / n
        measured = base[base > 0]
        p, bar = scaling_p_values(base, stats, threshold)
        beyond = p <= threshold
        waived = ctx.waivers.waived
        found = []
        for j in np.flatnonzero(beyond).tolist():
            i = added[j]
            digest, label = bytes(rows.digests[i]).hex(), rows.labels[i]
            if (digest, COMBINED, label) in waived:  # prov waive DIGEST --detector combined (scaling is a rule)
                continue
            found.append(
                {
                    "digest": digest,
                    "label": label,
                    "source": rows.sources[i],
                    "locator": str(rows.locators[i]),
                    "detector": "scaling",
                    "score": round(1.0 - float(p[j]), 6),
                    "p_value": float(p[j]),
                    "explanation": f"{WORDS}: phase disagreement {stats[j]:.2f}"
                    + (f", base at most {measured.max():.2f}" if measured.size else ""),
                }
            )
        statistic = {
            "test": "bonferroni",
            "n": n,
            "alpha": self.alpha,
            "p_threshold": threshold,
            "calibrated_on": int(measured.size),
        }
        expected = f"none at {bar}"
        if not found:
            return RuleResult(self.key, "pass", f"no added image beyond {bar}", [], 0, statistic, 0, expected)
        reason = f"{len(found)} of {n} added images: {WORDS} ({bar}); they block unless waived"
        return RuleResult(self.key, "block", reason, found, len(found), statistic, 0, expected)


def scaling_p_values(base: np.ndarray, stats: np.ndarray, threshold: float) -> tuple[np.ndarray, str]:
    """Each added image's p-value for its phase disagreement ``stats`` (n,) against the base images' ``base`` (m,),
    and the bar's words. Calibrated on the base's measurable images (statistic > 0) with the exponential tail past
    them when there are at least ``MIN_CALIBRATION`` (1 at or below ``MIN_DISAGREEMENT``, the effect a block needs);
    else 0 past ``FIXED_BAR`` and 1 below it. ``threshold``
    (``extreme_alpha / n``) only enters the words. Returns ``((n,) p-values in [0, 1], words)``."""
    measured = base[base > 0]
    if measured.size >= MIN_CALIBRATION:
        from provenance.detectors.calibration import Calibration

        p = np.where(stats > MIN_DISAGREEMENT, Calibration(measured, CALIBRATION_FPR).p_values(stats), 1.0)
        return p, (
            f"p <= {threshold:.2g} = extreme_alpha / n past {measured.size} base images' tail, and phase "
            f"disagreement > {MIN_DISAGREEMENT:g}"
        )
    p = np.where(stats > FIXED_BAR, 0.0, 1.0)
    return p, f"phase disagreement > {FIXED_BAR:g} ({measured.size} base images large enough to calibrate on)"


def base_disagreements(ctx: GateContext) -> np.ndarray:
    """The phase disagreement of up to ``MAX_CALIBRATION`` of the base's profile sample records, in the sample's
    order: read from the new version's data where it holds them, the rest from the base's, each re-hashed against
    its signed digest. Records the base's data no longer holds are left out (the new version's must read)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.errors import VerificationError
    from provenance.features.image_scaling import scaling_disagreements
    from provenance.version_facts import load_manifest, read_version_records

    wanted = [bytes(d) for d in ctx.base_profile.sample_digests[:MAX_CALIBRATION]]
    blobs: list[bytes] = []
    left = set(wanted)
    for tag in (ctx.new, ctx.base):
        if not left:
            break
        table = load_manifest(ctx.store, ctx.store.version(tag)).table
        held = table.filter(pc.is_in(table.column("digest"), value_set=pa.array(sorted(left), pa.binary(32))))
        where: dict[bytes, str] = {}
        for d, loc in zip(held.column("digest").to_pylist(), held.column("locator").to_pylist()):
            where.setdefault(d, loc)
        if not where:
            continue
        digests = sorted(where)
        try:
            records, _ = read_version_records(ctx.store, tag, [where[d] for d in digests], digests)
        except VerificationError:
            if tag == ctx.new:
                raise
            continue
        blobs.extend(records.blobs or [])
        left -= set(digests)
    stats, _ = scaling_disagreements(blobs)
    return stats
