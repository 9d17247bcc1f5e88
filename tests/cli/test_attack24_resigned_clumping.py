"""A base's profile re-signed with inflated within-pseudo-batch copy counts (session 24), replayed on a real store.

The copies rule and the per-record copy test of ``detectors.extreme`` raise a class's expected copies to how
much the base's own file-order pseudo-batches repeat records. Session 23 read that statistic from the base's
signed profile: a holder of the commit key could sign a profile whose arrays pass every soundness check and
the caps (``BatchCopies.problem``, ``CLUMPING_CAP``) yet say the base clumps four times as much as it does,
and every later check against that base let a flood through that the honest statistic blocks; ``prov
verify`` re-hashes the data against the manifest and never reads those arrays. The check now counts them
from the base's signed manifest (``provenance/profiles/base_clumping.py``) and names a profile that differs.

Replayed with real keys: the base is committed by prov, then its statement is signed again by the pinned
commit key over a profile object whose arrays are inflated, stored as an object and put in the versions row
with sqlite3.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest

from provenance.profiles.batch_copies import CLUMPING_CAP, COPY_PSEUDO_BATCHES, batch_rows
from provenance.profiles.reference import ReferenceProfile
from support import commit_table, digits_table, resign_version

DISTINCT = 1200
TWICE = 30  # records held twice, each second row 20 rows after its first: no clumping beyond the whole base's
NEW, FLOOD, FEW = 200, 50, 12  # the candidates: new digits, then re-delivered base records held once


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def tables() -> tuple[pa.Table, pa.Table, pa.Table]:
    """(base, clean candidate, flooded candidate): the base holds 1,200 digits and 30 of them twice (1,230 rows;
    Good-Turing's rate of copies of records held once: 60 / 1,230, about 4.9%); the clean candidate adds 200
    new digits and 12 re-deliveries of base records held once (about the 10 that rate expects), the flood 200
    new digits and 50 such re-deliveries."""
    t = digits_table()
    rows = [r for i in range(DISTINCT) for r in ([i, i - 20] if i % 40 == 39 else [i])]
    base = t.take(rows)
    new = t.take(list(range(DISTINCT, DISTINCT + NEW)))
    once = [i for i in range(DISTINCT) if i % 40 != 19][:FLOOD]  # rows i - 20 with i % 40 == 39 are held twice
    return base, pa.concat_tables([base, new, t.take(once[:FEW])]), pa.concat_tables([base, new, t.take(once)])


def copies_rule(prov, new: str, base: str) -> tuple[int, dict]:
    r = prov("check", new, "--base", base, "--format", "json")
    return r.exit_code, next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "copies.max_copies_rate")


def inflate(workdir, rows: int, signed: list[str], most: int = 1):
    """A ``resign_version`` change: the profile's arrays say every pseudo-batch's rows copy records held once at
    ``CLUMPING_CAP`` times the whole base's rate, beyond the re-delivery slack (sound: each batch's copies below
    its rows, ``most`` copies of one record); the profile's other bytes are prov's. The new object's id goes in
    ``signed``."""
    objects = workdir / ".prov" / "objects"

    def change(predicate: dict) -> None:
        facts = predicate["profile"]
        profile = ReferenceProfile.from_bytes((objects / f"{facts['sha256']}.npz").read_bytes())
        n = batch_rows(COPY_PSEUDO_BATCHES, rows)
        rate = CLUMPING_CAP * 2 * TWICE / rows
        copies = (np.ceil(n * rate) + 9).astype(np.int64)[:, None]  # 9: min_copies - 1, the slack taken off
        data = dataclasses.replace(
            profile, batch_rows=n, batch_copies=copies, batch_most_copies=np.full_like(copies, most)
        ).to_bytes()
        assert ReferenceProfile.from_bytes(data).batch_copies_problem() is None
        facts["sha256"] = hashlib.sha256(data).hexdigest()
        signed.append(facts["sha256"])
        (objects / f"{facts['sha256']}.npz").write_bytes(data)

    return change


def test_a_profile_re_signed_with_inflated_clumping_lets_no_flood_through(prov, workdir, store, keypair):
    base, clean, flood = tables()
    commit_table(prov, keypair, "base", base)
    commit_table(prov, keypair, "clean", clean)
    commit_table(prov, keypair, "flood", flood)
    code, honest = copies_rule(prov, "flood", "base")
    assert code == 1 and honest["status"] == "block", honest["reason"]  # the honest statistic blocks the flood
    assert honest["statistic"]["clumping"]["signed_profile_differs"] is False

    signed: list[str] = []
    resign_version(workdir, "base", keypair.private_path, inflate(workdir, base.num_rows, signed))
    r = prov("verify", "base")
    assert r.exit_code == 0, r.output  # a signed profile's arrays: nothing prov verify checks
    code, rule = copies_rule(prov, "flood", "base")
    # session 23 read the profile: the class's rate rose to the cap and the 50 re-deliveries passed
    assert code == 1 and rule["status"] == "block", rule["reason"]
    assert rule["statistic"]["classes"] == honest["statistic"]["classes"], rule["statistic"]
    assert rule["statistic"]["clumping"]["signed_profile_differs"] is True
    assert f"WARNING: the signed profile of base (object {signed[0][:16]})" in rule["reason"], rule["reason"]
    # a clean delivery still passes, and the check says the profile differs (exit 0, the rule warns)
    code, rule = copies_rule(prov, "clean", "base")
    assert code == 0 and rule["status"] == "warn", rule["reason"]
    assert "keeps other within-pseudo-batch copy counts than its signed manifest gives" in rule["reason"]


def test_a_profile_re_signed_with_inflated_clumps_lets_no_record_flood_through(prov, workdir, store, keypair):
    # the per-record copy test of detectors.extreme: a profile saying the base's batches carry 7 copies of one
    # record let a new record's 8 copies through (its ceiling: 7, plus the gap to the next batch, 1); fewer
    # copies than min_copies, so the copies rule never judges them
    base, _, _ = tables()
    t = digits_table()
    commit_table(prov, keypair, "base", base)
    new = t.take(list(range(DISTINCT, DISTINCT + NEW)))
    commit_table(prov, keypair, "cand", pa.concat_tables([base, new, t.take([DISTINCT + NEW + 5] * 9)]))
    r = prov("check", "cand", "--base", "base", "--format", "json")
    honest = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert r.exit_code == 1 and honest["detectors.extreme"]["status"] == "block", honest["detectors.extreme"]
    resign_version(workdir, "base", keypair.private_path, inflate(workdir, base.num_rows, [], most=7))
    r = prov("check", "cand", "--base", "base", "--format", "json")
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert r.exit_code == 1 and rules["detectors.extreme"]["status"] == "block", rules["detectors.extreme"]


def test_a_base_manifest_altered_after_commit_fails_the_copy_test_closed(prov, workdir, store, keypair):
    # prov diff CAND's parent reads the signed delta, not the manifests; with --detect and copies in the delta the
    # detectors now count the base's clumping from its manifest object, hashed first: altered bytes are exit 1
    # naming it, never a count from bytes no signature covers
    base, _, flood = tables()
    commit_table(prov, keypair, "base", base)
    commit_table(prov, keypair, "flood", flood)
    oid = json.loads(prov("show", "base", "--json").stdout)["manifest_object"]
    path = workdir / ".prov" / "objects" / f"{oid}.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    r = prov("diff", "base", "flood", "--detect")
    assert r.exit_code == 1 and f"manifest of base {oid[:16]} was altered" in r.output, r.output[-800:]


def test_a_check_with_fewer_copies_than_the_rule_judges_counts_no_clumping(prov, workdir, store, keypair):
    # the base's clumping matters only to a delivery with at least the copies the rule judges (min_copies): below
    # that the rule passes whatever the base clumps, and the base's manifest is not streamed to count it (a check
    # of new records stays O(change)); at or above it, it is counted (the tests above)
    base, clean, _ = tables()
    commit_table(prov, keypair, "base", base)
    commit_table(prov, keypair, "fresh", clean.slice(0, base.num_rows + NEW))  # 200 new digits, no copies
    code, rule = copies_rule(prov, "fresh", "base")
    assert code == 0 and rule["status"] == "pass" and rule["statistic"]["clumping"] is None, (code, rule)
    commit_table(prov, keypair, "clean", clean)  # the same with 12 re-deliveries: counted, and the same as signed
    code, rule = copies_rule(prov, "clean", "base")
    assert rule["statistic"]["clumping"]["signed_profile_differs"] is False, (code, rule)
