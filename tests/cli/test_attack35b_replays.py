"""Attack review 35b: replays against fix35b's band count (``gate.class_two_sample``) and fix35c's keyed copy-index
grid (``profiles.copy_index.grid_key``). A class the policy lists in ``[class_mix] expected_new_classes`` is judged in
full when, of its added records inside base classes, 30% or more lie within their class's median nearest-record
distance, more lie within its 5% quantile than a binomial limit at 1% over the records in its 90% quantile (the band)
allows, or more lie in the band than a binomial limit at 0.8 allows (level 0.001). The attacker is a vendor delivering
records of base classes under the listed label. Every base here is small enough that the profile sample holds all of
it (no dependence on the sample's random salt) and every record is seeded: no outcome depends on timing or threads. A
strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup is otherwise right."""

from __future__ import annotations

import numpy as np
import pytest
from test_attack33b_replays import _listed_check
from test_attack34d_replays import _far, _many_classes_check
from test_attack34e_replays import _malignant_shell, _spacing_shell

INSIDE = "('cat' among malignant)"


def _blocked_as_malignant(code: int, said: str) -> bool:
    return code == 1 and INSIDE in said


# --- A35b-1: the band count diluted by a quarter as many far records ------------------------------------------------


def test_control_100_records_just_beyond_the_median_spacing_block(prov, keypair, workdir):
    """fix35b's A34e-1 shape: 100 records in malignant, each 1.2 times its median spacing from its nearest record, all
    in the band (where a new class of 100 shows at most 91): judged in full."""
    code, said = _listed_check(prov, keypair, _malignant_shell(1.2, 100))
    assert _blocked_as_malignant(code, said), said


@pytest.mark.xfail(
    strict=True,
    reason="A35b-1 (high): 100 records at 1.2x malignant's spacing beside 25 far ones (band 100 of 125, limit >= 100) "
    "pass on class-free evidence",
)
def test_records_just_beyond_the_median_spacing_beside_far_records_block(prov, keypair, workdir):
    code, said = _listed_check(prov, keypair, np.vstack([_malignant_shell(1.2, 100), _far(25)]))
    assert _blocked_as_malignant(code, said), said


def test_control_240_records_just_beyond_the_spacing_over_eight_classes_block(prov, keypair, workdir):
    """30 records in each of the many-class base's 8 classes at 1.2 times its spacing: each class's 30 are at its
    band limit, all 240 together past theirs (judged in full)."""
    code, said = _many_classes_check(prov, keypair, _spacing_shell(1.2, 30))
    assert code == 1 and "('cat' among k0" in said, said


@pytest.mark.xfail(
    strict=True,
    reason="A35b-1 (high): 240 records at 1.2x the spacing over 8 classes beside 64 at 1.8x (band 240 of 304) pass "
    "on class-free evidence",
)
def test_records_just_beyond_the_spacing_over_eight_classes_beside_far_records_block(prov, keypair, workdir):
    code, said = _many_classes_check(prov, keypair, np.vstack([_spacing_shell(1.2, 30), _spacing_shell(1.8, 8)]))
    assert code == 1 and "('cat' among k0" in said, said


# --- A35b-2: fewer than 31 records, all in the band ------------------------------------------------------------------


def test_control_30_records_within_the_median_spacing_block(prov, keypair, workdir):
    code, said = _listed_check(prov, keypair, _malignant_shell(0.8, 30))
    assert _blocked_as_malignant(code, said), said


@pytest.mark.xfail(
    strict=True,
    reason="A35b-2 (medium): 30 records at 1.2x malignant's spacing, all in its band, pass (the band count needs 31)",
)
def test_30_records_just_beyond_the_median_spacing_block(prov, keypair, workdir):
    code, said = _listed_check(prov, keypair, _malignant_shell(1.2, 30))
    assert _blocked_as_malignant(code, said), said


# --- A35b-3: the keyed copy-index grid ground by the vendor (cost) --------------------------------------------------

SEARCHED = 0.473  # test_attack34a_replays' radius: a 10,000-record delta's bar on 500,000 x 16 Gaussian records
FEATURES = [f"f{j:02d}" for j in range(16)]
PILED = 50  # records the vendor piles at one point (f00 apart by 1e-9 each: distinct digests, one cell position)
GROUND = 263_858  # the nonce record's f00 step (x 1e-9) found by trying 263,859 in turn (8.4 s of CPU, tmp script)


def _ground_delta(nonce: int) -> tuple[np.ndarray, np.ndarray]:
    """The vendor's delta: ``PILED`` records at one seeded point and one record whose f00 is moved ``nonce`` x 1e-9
    (its digest is what the vendor grinds). ``(features (PILED + 1) x 16, their content digests (PILED + 1) x 32)``."""
    import pyarrow as pa

    from provenance.encoding.columns import table_digests

    rng = np.random.default_rng(1)
    point = rng.normal(0, 1, 16)
    X = np.vstack([np.repeat(point[None, :], PILED, 0), rng.normal(0, 1, 16)[None, :]])
    X[:PILED, 0] += np.arange(PILED) * 1e-9
    X[PILED, 0] += nonce * 1e-9
    digests = table_digests(pa.table({c: X[:, j] for j, c in enumerate(FEATURES)}), FEATURES)
    return X, np.frombuffer(b"".join(digests), np.uint8).reshape(-1, 32)


def _full_scans(nonce: int) -> int:
    """How many of ``_ground_delta(nonce)``'s look-ups on a copy index of 20,000 x 16 standard Gaussian records,
    searched within ``SEARCHED`` on the grid a check keys on their digests (``check_grid_key``: salted with fresh
    random bytes since the fix), compare with every record."""
    from provenance.profiles.copy_index import CopyIndex, check_grid_key

    rng = np.random.default_rng(3407)
    Z = rng.normal(0, 1, (20_000, len(FEATURES)))
    index = CopyIndex.build(
        Z,
        np.arange(len(Z)) % 3,
        rng.integers(0, 256, (len(Z), 32), dtype=np.uint8),
        SEARCHED,
        np.zeros(16),
        np.ones(16),
    )
    queries, digests = _ground_delta(nonce)
    searched = index.searching(SEARCHED, check_grid_key(digests))
    return int((searched.records_read(queries) == len(searched.keys)).sum())  # nearest()'s whole scans


def test_control_piled_records_on_an_unground_grid_are_no_full_scans():
    assert _full_scans(0) == 0


# A35b-3 (low, cost; fixed in session 35): grinding one record's digest (~2.6e5 tries, 8 s of CPU) put 50 piled
# records at a corner of the keyed grid, every look-up a full scan; a check's grid is now salted with fresh random
# bytes (check_grid_key). The pile lies near more than 12 faces of a fresh grid with probability about 3.5e-6.
def test_piled_records_on_a_ground_grid_are_no_full_scans():
    assert _full_scans(GROUND) <= 1
