"""Attack review after session 33 (F1, F2): replays against fix33f's spread test (``gate.class_two_sample``). A class
the policy lists in ``[class_mix] expected_new_classes`` was judged in full when 5 or more of its added records sat
inside one base class and 30% or more of those lay within the median of that class's own nearest-record distances.
The attacker is a source delivering records of base classes under the listed label. Every base here is small enough
that the profile sample holds all of it (no dependence on the sample's random salt), and every record is seeded: no
outcome depends on timing or threads. A strict xfail is a finding, named in its reason; the plain tests beside it
show the attack's setup is otherwise right and that an honest class still passes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from test_attack33b_replays import _base, _listed_check, _malignant, _midpoints

from support import listed_class_check

CLASSES, PER_CLASS, COLUMNS = 8, 60, ("a", "b", "c", "d", "e", "f")  # the many-class base: 480 records, all sampled
CLASS_FREE = "added records in expected new classes judged on class-free evidence only"


def _centres() -> np.ndarray:
    """The many-class base's class centres (CLASSES x 6), seeded, a few standard deviations apart."""
    return np.random.default_rng(3401).normal(0.0, 4.0, (CLASSES, len(COLUMNS)))


def _many_classes() -> pa.Table:
    """``CLASSES`` classes ("k0".."k7") of ``PER_CLASS`` records, each drawn from a unit normal about its centre."""
    rng = np.random.default_rng(3402)
    X = np.vstack([rng.normal(centre, 1.0, (PER_CLASS, len(COLUMNS))) for centre in _centres()])
    labels = [f"k{k}" for k in range(CLASSES) for _ in range(PER_CLASS)]
    return pa.table({c: X[:, i] for i, c in enumerate(COLUMNS)} | {"label": labels})


def _fresh(per_class: int) -> np.ndarray:
    """``per_class`` fresh records of every base class, drawn as the base's own were (seeded): records of the base's
    classes that copy none of its records."""
    return np.vstack(
        [np.random.default_rng(3403 + k).normal(c, 1.0, (per_class, len(COLUMNS))) for k, c in enumerate(_centres())]
    )


def _many_classes_check(prov, keypair, added: np.ndarray) -> tuple[int, str]:
    """v1: ``_many_classes()``; v2: v1 plus the rows of ``added`` labelled "cat", which policy.toml lists.
    ``prov check v2 --base v1``'s exit code and its text output on one line."""
    cat = pa.table({c: added[:, i] for i, c in enumerate(COLUMNS)} | {"label": ["cat"] * len(added)})
    return listed_class_check(prov, keypair, _many_classes(), cat)


# --- F1: four records per class, over many classes -----------------------------------------------------------------


def test_control_five_fresh_records_per_class_block(prov, keypair, workdir):
    code, said = _many_classes_check(prov, keypair, _fresh(5))
    assert code == 1 and "'cat' (5 of its 40 added record(s) sit inside base class" in said, said


def test_control_records_moved_off_one_class_pass(prov, keypair, workdir):
    """k0's first 32 records each moved by a normal step of one standard deviation per column (seeded): inside k0 by
    vote, off its records, no closer to them than a class of its own would lie: class-free evidence, exit 0."""
    v1 = _many_classes()
    X = np.column_stack([v1.column(c).to_numpy() for c in COLUMNS])[:32]
    code, said = _many_classes_check(prov, keypair, X + np.random.default_rng(3499).normal(0.0, 1.0, X.shape))
    assert code == 0 and f"32 {CLASS_FREE}" in said, said


# F1 (medium): the spread test ran only for a base class holding 5 or more of the listed class's records, so 4 per
# class passed: 4 fresh records of each of the 8 base classes (32, drawn as the base's own, 12 of them within their
# class's median spacing) labelled "cat" pass on class-free evidence (exit 0), where 5 per class block. More classes
# carry more records at 4 each (a 100-class base: 400). Fix: pool the records inside any base class, each scored
# against its own class.
# Fixed (fix34d): the spread test also pools the records inside any base class, each scored against its own class.
def test_four_fresh_records_per_class_over_eight_classes_block(prov, keypair, workdir):
    code, said = _many_classes_check(prov, keypair, _fresh(4))
    assert code == 1 and "'cat' (32 of its 32 added record(s) sit inside base classes" in said, said


# --- F2: records of the class diluted by far ones ------------------------------------------------------------------


def _far(k: int) -> np.ndarray:
    """``k`` malignant records of v1 (seeded picks), each moved by a normal step of one standard deviation per column
    (seeded; absolute values, as the columns are non-negative): inside the malignant class by vote, far from its
    records (k x 30)."""
    _, _, B = _base()
    M = _malignant(1000)
    picks = np.random.default_rng(6).integers(0, len(M), k)
    return np.abs(M[picks] + np.random.default_rng(7).normal(0.0, 1.0, (k, M.shape[1])) * B.std(0))


def test_control_250_far_malignant_records_pass(prov, keypair, workdir):
    code, said = _listed_check(prov, keypair, _far(250))
    assert code == 0 and f"250 {CLASS_FREE}" in said, said


# F2 (medium): the spread test's 30% share is one that records far from the class dilute: A33b-4's 150 midpoints of
# malignant pairs (73% of them within malignant's median spacing: blocked alone) beside 250 malignant records moved by
# a standard deviation per column (inside malignant by vote, none within its spacing) lie 29% within, and "cat" passes
# on class-free evidence (exit 0). Fix: count the records that lie close, not their share: of the records inside base
# classes, those nearer their class's records than its own 5% quantile of nearest-record distances, against what a
# new class's records show by chance.
# Fixed (fix34d): 18 of the 373 records inside malignant lie within its own 5% quantile of nearest-record distances,
# where a new class of 373 showed at most 11 (a binomial limit at 1%, level 0.001; since fix35b, over the 176 records
# within malignant's 90% quantile: at most 7); the class is judged in full.
def test_midpoints_beside_250_far_records_block(prov, keypair, workdir):
    code, said = _listed_check(prov, keypair, np.vstack([_midpoints(150), _far(250)]))
    assert code == 1 and "18 of those lie closer to its records than 95% of those records lie to each other" in said, (
        said
    )
