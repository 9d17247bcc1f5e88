"""Attack review 34e: replays against fix34d's spread test (``gate.class_two_sample``). A class the policy lists in
``[class_mix] expected_new_classes`` is judged in full when, of its added records inside base classes (each scored
against its own class, pooled and per class, from 5 records), 30% or more lie within their class's median
nearest-record distance, or more lie within its 5% quantile than a binomial limit (rate 1%, level 0.001) allows. The
attacker is a vendor delivering records of base classes under the listed label. Every base here is small enough that
the profile sample holds all of it (no dependence on the sample's random salt), and every record is seeded: no outcome
depends on timing or threads. The findings are fixed (fix35b: the band count, and the close count's allowance taken
over the records in the band); the controls beside them show the attack's setup is otherwise right, and the bound."""

from __future__ import annotations

import numpy as np
import pytest
from test_attack33b_replays import _base, _listed_check, _malignant, _midpoints
from test_attack34d_replays import CLASS_FREE, CLASSES, COLUMNS, _far, _many_classes, _many_classes_check


def _shell(Z: np.ndarray, ratio: float, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` new records about one class's standardised records ``Z`` (m x d), each placed from one of them (drawn by
    ``rng``) along a random direction until its nearest record of ``Z`` lies ``ratio`` times their median
    nearest-record distance away: records in the class's core, each a little farther from its records than they lie
    from each other at ``ratio`` just over 1 (k x d, standardised)."""
    gaps = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)) + np.diag(np.full(len(Z), np.inf))
    spacing = float(np.median(gaps.min(1)))
    out = []
    for _ in range(k):
        x, u = Z[rng.integers(len(Z))], rng.normal(size=Z.shape[1])
        u /= np.linalg.norm(u)
        for t in np.arange(0.0, 3.0, 0.005) * spacing:
            if np.sqrt(((Z - (x + t * u)) ** 2).sum(1)).min() >= ratio * spacing:
                break
        out.append(x + t * u)
    return np.array(out)


def _spacing_shell(ratio: float, per_class: int) -> np.ndarray:
    """``per_class`` records of ``_shell`` in every class of the many-class base (seeded; the attacker's own
    standardisation: v1's mean and standard deviation per column) (CLASSES * per_class x 6, raw)."""
    v1 = _many_classes()
    X = np.column_stack([v1.column(c).to_numpy() for c in COLUMNS])
    labels = np.array(v1.column("label").to_pylist())
    mean, sd = X.mean(0), X.std(0)
    rng = np.random.default_rng(3450)
    shells = [_shell((X[labels == f"k{k}"] - mean) / sd, ratio, per_class, rng) for k in range(CLASSES)]
    return np.vstack(shells) * sd + mean


def _malignant_shell(ratio: float, k: int) -> np.ndarray:
    """``k`` records of ``_shell`` in v1's malignant class (breast cancer, seeded; v1's mean and standard deviation
    per column; absolute values, as the columns are non-negative) (k x 30, raw)."""
    _, _, B = _base()
    mean, sd = B.mean(0), B.std(0)
    return np.abs(_shell((_malignant(1000) - mean) / sd, ratio, k, np.random.default_rng(3460)) * sd + mean)


# --- A34e-1: records a little beyond their class's median spacing ------------------------------------------------


def test_control_records_within_the_median_spacing_block(prov, keypair, workdir):
    """20 records in each of the 8 classes, each 0.8 times its class's median spacing from its nearest record: all
    within it, judged in full (blocked)."""
    code, said = _many_classes_check(prov, keypair, _spacing_shell(0.8, 20))
    assert code == 1 and "added record(s) of [class_mix] expected_new_classes sit among base classes' records" in said
    assert "('cat' among k0)" in said, said


# A34e-1 (high): the spread test counts only records within a distance (the median spacing, its 5% quantile), so a
# vendor who places every record a little beyond the median, in the class's core, shows none within and none close:
# 20 records in each of the 8 classes (160), each 1.2 times its class's median nearest-record distance from its nearest
# record (22-38% of a class's own records lie that far from their nearest), sit inside their classes by vote
# and pass on class-free evidence (exit 0), where the same at 0.8 times block. No far records are needed to dilute:
# the dilution F2 paid for is free. Fix: judge the shape of the distances, not a count under one radius: records
# drawn as a new class at C's edge have nearest distances spread well beyond C's, these sit in a narrow band just past
# the median (e.g. a share within 1.5x the median, or the records' distances against C's own by a two-sample test
# over C's lower half, calibrated on the bench's genuine classes).
# Fixed (fix35b): the spread test also counts the records within their class's 90% quantile of nearest-record distances
# (the band) against a binomial limit at 0.8: all 160 lie in it, where a new class of 160 shows at most 143.
def test_records_just_beyond_the_median_spacing_block(prov, keypair, workdir):
    code, said = _many_classes_check(prov, keypair, _spacing_shell(1.2, 20))
    assert code == 1 and "('cat' among k0" in said, said
    assert "160 of those lie as close to their class's records as 90% of those records lie to each other" in said, said


def test_control_records_well_beyond_the_spacing_are_judged_class_free(prov, keypair, workdir):
    """The bound: 20 records in each of the 8 classes, each 2.5 times its class's median spacing from its nearest
    record (beyond its 90% quantile, where a new class at a class's edge lies), are judged on class-free evidence
    (which blocks them here: the outlier detector flags 79 of 160, 2.5 times the base's typical spacing)."""
    code, said = _many_classes_check(prov, keypair, _spacing_shell(2.5, 20))
    assert f"160 {CLASS_FREE}" in said and "sit among base classes' records" not in said, said
    assert code == 1 and "detectors.combined 79 of 160 records flagged" in said, said


# --- A34e-1 on real data, and A34e-2: the close count diluted at scale (breast cancer's malignant class) ------------


# A34e-1 on real data: 100 records in malignant, each 1.2 times malignant's median spacing from its nearest malignant
# record, pass on class-free evidence (exit 0; no detector flags one), where at 0.8 they block.
# A34e-2 (medium): far records still dilute the close count, at 1% each: A33b-4's 150 midpoints of malignant pairs
# beside 700 malignant records moved a standard deviation per column (fix34d's F2 records; beside 400 they block) pass
# on class-free evidence (exit 0). The far records are no cost to the vendor: every one sits inside malignant by vote
# and carries the listed label into malignant's region (850 label flips, where 150 were planned). Fix: let only
# records a new class at C's edge could be (within C's largest own nearest-record distance, say) raise the close
# count's allowance, or compare the close count with the records within the median's band rather than with all
# inside; records inside C by vote and far from every C record add nothing.
# Fixed (fix35b): A34e-1 as above (100 of 100 in malignant's band, where a new class of 100 shows at most 91); A34e-2:
# the close count's allowance is taken over the records in the band only, so far records beyond malignant's 90%
# quantile neither count nor raise it.
@pytest.mark.parametrize(
    "added",
    [
        pytest.param(lambda: _malignant_shell(0.8, 100), id="control-100-within-the-median-spacing"),
        pytest.param(lambda: _malignant_shell(1.2, 100), id="100-just-beyond-the-median-spacing"),
        pytest.param(lambda: np.vstack([_midpoints(150), _far(400)]), id="control-midpoints-beside-400-far"),
        pytest.param(lambda: np.vstack([_midpoints(150), _far(700)]), id="midpoints-beside-700-far"),
    ],
)
def test_malignant_records_block(prov, keypair, workdir, added):
    code, said = _listed_check(prov, keypair, added())
    assert code == 1 and "('cat' among malignant)" in said, said
