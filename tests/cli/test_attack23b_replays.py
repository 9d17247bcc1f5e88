"""Attack review 23b: the copy tests calibrated on the base's own file-order pseudo-batches (session 23,
``provenance/profiles/batch_copies.py``), replayed through real ``prov commit`` + ``prov check`` stores.

The attacker is a data source whose earlier deliveries were accepted. Each pseudo-batch is counted as a
delivery against the rest of the base, so a copy of a record held in another pseudo-batch is a copy in
*both* batches (``held > 0``: every row of the record in the batch counts). The most clumped pseudo-batch
is left out (``TRIMMED``) so that "one accepted flood widens nothing"; a re-delivery flood accepted in one
release sits in one pseudo-batch, but the records it copies sit in another, which it lifts just as much.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.gate.copies import Copies
from provenance.profiles import stage
from provenance.profiles.batch_copies import BatchCopies
from support import commit_and_check, digits_table

RATE, LEAST = 0.02, 10  # the default policy's copies.max_copies_rate and copies.min_copies


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def copies_rule(report: dict) -> dict:
    return next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")


def contents(table: pa.Table) -> list[tuple]:
    names = [n for n in table.schema.names if n != "label"]
    return list(zip(*(table.column(n).to_pylist() for n in names), strict=True))


def unclumped(base: pa.Table, added: pa.Table) -> Copies:
    """The copies rule's input for ``added`` on ``base`` judged at the whole base's rates (no clumping)."""
    held, got = Counter(contents(base)), Counter(contents(added))
    extra = [v - (0 if held[k] else 1) for k, v in got.items() if held[k] or v > 1]
    of = [held[k] for k, v in got.items() if held[k] or v > 1]
    new = sum(1 for k in got if not held[k])
    repeated = np.array([v for v in held.values() if v > 1], np.int64)
    return Copies(np.array(extra, np.int64), np.array(of, np.int64), new + sum(extra), base.num_rows, repeated)


def check(prov, keypair, tag: str, base: str, table: pa.Table) -> tuple[int, dict]:
    pq.write_table(table, f"{tag}.parquet")
    r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
    assert r.exit_code == 0, r.output
    r = prov("check", tag, "--base", base, "--format", "json")
    return r.exit_code, json.loads(r.stdout)


@pytest.mark.xfail(
    strict=True,
    reason="attack review 23b, finding 1: a re-delivery flood accepted in one release fills one pseudo-batch, but "
    "each copy also counts in the pseudo-batch of the record it copies, so the most clumped batch but one is "
    "lifted as much and the next release's class rate rises to the 4x cap; README's 'fills two or more "
    "pseudo-batches' understates it: every accepted re-delivery (the policy's own slack) widens the next",
)
def test_a_re_delivery_accepted_in_one_pseudo_batch_does_not_widen_the_next(prov, workdir, store, keypair):
    # Measured: on 1,200 distinct digits, release 1 may re-deliver 9 records (the slack) with 200 new ones;
    # on that base the 9 copies sit in the flood's pseudo-batch and in the one it copied (9 in 141 rows
    # each), so release 2's held-once rate is 0.0511 (the 4x cap; 0.0128 whole) and 31 re-deliveries pass
    # with 200 new rows, where the whole base's rate allows about 19; release 3 then passes 66 with 197 new
    # rows (rate 0.189, whole 0.0488). Each accepted flood lifts the next by the cap, compounding with the
    # whole-base ratchet (README Known gaps, attack review 22b).
    t = digits_table()
    base = t.take(list(range(1200)))  # 1,200 distinct digits: no repetition, no clumping
    # release 1: 200 new digits and 9 re-delivered ones (the policy's slack: min_copies - 1), copied from
    # records that sit together in one pseudo-batch of the next base (rows 290..298)
    d1 = pa.concat_tables([t.take(list(range(1200, 1400))), base.take(list(range(290, 299)))])
    v1 = pa.concat_tables([base, d1])
    code, report = commit_and_check(prov, keypair, base, v1)
    assert code == 0, [(r["rule"], r["reason"]) for r in report["rules"] if r["status"] != "pass"]

    # release 2: 200 new digits; the attacker reads the allowance from a clean check and fills it with
    # re-deliveries of records held once
    clean = t.take(list(range(1400, 1600)))
    code, report = check(prov, keypair, "clean2", "cand", pa.concat_tables([v1, clean]))
    s = copies_rule(report)["statistic"]
    held_once = s["classes"][0]
    whole_rate = held_once["expected"] / s["rows_added"]
    # the widening: V1's pseudo-batches show 9 copies in its flood's batch and 9 in the batch it copied
    assert s["clumping"]["class_rates"][0] > 3 * whole_rate, (s["clumping"], whole_rate)
    allowed = s["allowed"] - held_once["copies"]  # the slack plus the smaller of the class's and total's quantiles
    flood = v1.take(list(range(600, 600 + allowed)))
    d2 = pa.concat_tables([clean, flood])
    # at the whole base's rates (what the trimming promises one accepted flood leaves) this flood blocks
    assert unclumped(v1, d2).blocks(RATE, LEAST), allowed
    code, report = check(prov, keypair, "v2", "cand", pa.concat_tables([v1, d2]))
    rule = copies_rule(report)
    assert code == 1 and rule["status"] == "block", (allowed, rule["reason"], rule["statistic"]["classes"])


def signed_with_clumping(prov, keypair, monkeypatch, tag: str, table: pa.Table, crafted: BatchCopies) -> None:
    """Commit ``table`` as ``tag`` the way a holder of the commit key can: with its own prov, whose profile
    keeps ``crafted`` as the within-pseudo-batch statistic (signed with the version, as any profile is)."""
    pq.write_table(table, f"{tag}.parquet")
    with monkeypatch.context() as m:
        m.setattr(stage, "manifest_within_batches", lambda manifest: crafted)
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
    assert r.exit_code == 0, r.output


@pytest.mark.xfail(
    strict=True,
    reason="attack review 23b, finding 2: the profile's batch_most_copies is read unchecked (no shape, range or "
    "consistency with the signed manifest it is recomputable from) and single_ceiling has no cap, so a base "
    "profile signed with a huge value switches detectors.extreme's per-record copy test off",
)
def test_a_profile_with_a_huge_clump_does_not_switch_off_the_per_record_copy_test(
    prov, workdir, store, keypair, monkeypatch
):
    t = digits_table()
    base = t.take(list(range(1200)))
    huge = BatchCopies(np.full(10, 120, np.int64), np.zeros((10, 1), np.int64), np.full((10, 1), 10**12, np.int64))
    signed_with_clumping(prov, keypair, monkeypatch, "base", base, huge)
    # one new record sent 10 times (9 copies: within the copies rule's re-delivery slack) with 200 new digits
    cand = pa.concat_tables([base, t.take(list(range(1200, 1400))), t.take([1500] * 10)])
    code, report = check(prov, keypair, "cand", "base", cand)
    extreme = next(r for r in report["rules"] if r["rule"] == "detectors.extreme")
    # the same candidate on the same base committed by prov itself blocks (tests/cli/test_check_clumped_copies.py)
    assert code == 1 and extreme["status"] == "block", [(r["rule"], r["status"]) for r in report["rules"]]


@pytest.mark.xfail(
    strict=True,
    reason="attack review 23b, finding 3: a base profile whose batch arrays disagree in shape (signed by the "
    "commit key) makes prov check crash (exit 3, a traceback) instead of a one-line error naming the profile",
)
def test_a_profile_with_misshapen_batch_arrays_is_a_named_error(prov, workdir, store, keypair, monkeypatch):
    t = digits_table()
    base = t.take(list(range(1200)))
    bad = BatchCopies(np.full(3, 400, np.int64), np.zeros((10, 2), np.int64), np.zeros((10, 2), np.int64))
    signed_with_clumping(prov, keypair, monkeypatch, "base", base, bad)
    cand = pa.concat_tables([base, t.take(list(range(1200, 1400))), base.take(list(range(20)))])
    pq.write_table(cand, "cand.parquet")
    assert prov("-q", "commit", "cand.parquet", "--tag", "cand", "--key", keypair.private_path).exit_code == 0
    r = prov("check", "cand", "--base", "base", "--format", "json")
    assert r.exit_code in (1, 2) and "Traceback" not in r.output, (r.exit_code, r.output[-600:])
