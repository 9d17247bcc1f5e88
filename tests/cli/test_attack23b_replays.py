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
from support import commit_and_check, commit_table, digits_table

RATE, LEAST = 0.02, 10  # the default policy's copies.max_copies_rate and copies.min_copies


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def copies_rule(report: dict) -> dict:
    return next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")


def blocked(report: dict) -> list[str]:
    return [r["rule"] for r in report["rules"] if r["status"] == "block"]


def anchor_excess(report: dict) -> int:
    """The copies since the anchor (session 26's anchor test) beyond its repetition; 0 without an anchor test."""
    return int((copies_rule(report)["statistic"]["anchor"] or {}).get("excess") or 0)


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
    commit_table(prov, keypair, tag, table)
    r = prov("check", tag, "--base", base, "--format", "json")
    return r.exit_code, json.loads(r.stdout)


def release(prov, keypair, tag: str, base: pa.Table, clean: pa.Table, start: int) -> tuple[pa.Table, dict]:
    """The attacker's release on ``base`` (committed as the tag before ``tag``): read the allowance from a check
    of ``clean`` alone, then deliver ``clean`` with that many re-deliveries of base records held once (rows
    ``start`` on). Returns the delivery and the copies rule's statistic on the clean check."""
    code, report = check(
        prov, keypair, f"{tag}-clean", "cand" if tag == "v2" else "v2", pa.concat_tables([base, clean])
    )
    s = copies_rule(report)["statistic"]
    allowed = (
        s["allowed"] - s["classes"][0]["copies"]
    )  # the slack plus the smaller of the class's and total's quantiles
    return pa.concat_tables([clean, base.take(list(range(start, start + allowed)))]), s


def test_a_re_delivery_accepted_in_one_pseudo_batch_does_not_widen_the_next(prov, workdir, store, keypair):
    # Attack review 23b, finding 1. Before the fix each pseudo-batch was counted against the *rest* of the base:
    # release 1's 9 re-delivered copies sat in its flood's pseudo-batch and in the one it copied, so trimming
    # the most clumped batch left the other, release 2's held-once rate rose to the 4x cap (0.0511, 0.0128
    # whole) and 31 re-deliveries passed with 200 new rows where the whole base's rates allow about 19; release
    # 3 then passed 66 with 197 new rows (whole: 32). Counted as deliveries in file order (each against the rows
    # before it), a copy counts only in its own pseudo-batch: the flood appended at the end, trimmed.
    t = digits_table()
    base = t.take(list(range(1200)))  # 1,200 distinct digits: no repetition, no clumping
    # release 1: 200 new digits and 9 re-delivered ones (the policy's slack: min_copies - 1), copied from
    # records that sit together in one pseudo-batch of the next base (rows 290..298)
    d1 = pa.concat_tables([t.take(list(range(1200, 1400))), base.take(list(range(290, 299)))])
    v1 = pa.concat_tables([base, d1])
    code, report = commit_and_check(prov, keypair, base, v1)
    assert code == 0, [(r["rule"], r["reason"]) for r in report["rules"] if r["status"] != "pass"]

    # release 2: 200 new digits; the attacker fills the allowance a clean check shows with re-deliveries
    d2, s = release(prov, keypair, "v2", v1, t.take(list(range(1400, 1600))), 600)
    # the flood the rule lets in is one the whole base's rates let in too (the known ratchet, 22b, no more)
    assert not unclumped(v1, d2).blocks(RATE, LEAST), d2.num_rows
    v2 = pa.concat_tables([v1, d2])
    code, report = check(prov, keypair, "v2", "cand", v2)
    # within the base test (cand's rates hold release 1's 9 re-deliveries: N2 = 9), blocked since session 26 by the
    # anchor test: 9 + 18 re-deliveries of base's records since base, where base repeats nothing (the ratchet)
    assert code == 1 and blocked(report) == ["copies.max_copies_rate"], blocked(report)
    assert copies_rule(report)["statistic"]["excess"] == 0 and anchor_excess(report) > 0, copies_rule(report)
    # counted on the base with the flood judged (a check with fewer copies than the rule judges reads no clumping)
    judged = copies_rule(report)["statistic"]
    whole_rate = judged["classes"][0]["expected"] / judged["rows_added"]
    assert judged["clumping"]["class_rates"][0] <= whole_rate, (judged["clumping"], whole_rate)  # no widening at all

    # release 3: 197 new digits on the base holding both accepted floods, in two pseudo-batches
    d3, s = release(prov, keypair, "v3", v2, t.take(list(range(1600, 1797))), 700)
    assert not unclumped(v2, d3).blocks(RATE, LEAST), (d3.num_rows, s["clumping"], s["classes"][0])
    code, report = check(prov, keypair, "v3", "v2", pa.concat_tables([v2, d3]))
    assert code == 1 and blocked(report) == ["copies.max_copies_rate"], blocked(report)  # the anchor test, as above
    assert copies_rule(report)["statistic"]["excess"] == 0 and anchor_excess(report) > 0, copies_rule(report)
    # one more re-delivery than the rule allowed blocks at the whole base's rates: the allowance is the ratchet's
    over = pa.concat_tables([d3, v2.take([700 + d3.num_rows - 197])])
    assert unclumped(v2, over).blocks(RATE, LEAST), (d3.num_rows, s["clumping"], s["classes"][0])


def signed_with_clumping(prov, keypair, monkeypatch, tag: str, table: pa.Table, crafted: BatchCopies) -> None:
    """Commit ``table`` as ``tag`` the way a holder of the commit key can: with its own prov, whose profile
    keeps ``crafted`` as the within-pseudo-batch statistic (signed with the version, as any profile is)."""
    pq.write_table(table, f"{tag}.parquet")
    with monkeypatch.context() as m:
        m.setattr(stage, "manifest_within_batches", lambda manifest: crafted)
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
    assert r.exit_code == 0, r.output


def test_a_profile_with_a_huge_clump_does_not_switch_off_the_per_record_copy_test(
    prov, workdir, store, keypair, monkeypatch
):
    # attack review 23b, finding 2: the per-record ceiling had no cap, so a base profile signed with a huge
    # batch_most_copies let one record's flood through detectors.extreme
    t = digits_table()
    base = t.take(list(range(1200)))
    # one new record sent 10 times (9 copies: within the copies rule's re-delivery slack) with 200 new digits
    cand = pa.concat_tables([base, t.take(list(range(1200, 1400))), t.take([1500] * 10)])
    # as large as a sound profile can say (every row of every pseudo-batch a copy of one record): capped
    most = BatchCopies(np.full(10, 120, np.int64), np.full((10, 1), 120, np.int64), np.full((10, 1), 120, np.int64))
    signed_with_clumping(prov, keypair, monkeypatch, "base", base, most)
    code, report = check(prov, keypair, "cand", "base", cand)
    extreme = next(r for r in report["rules"] if r["rule"] == "detectors.extreme")
    # the same candidate on the same base committed by prov itself blocks (tests/cli/test_check_clumped_copies.py)
    assert code == 1 and extreme["status"] == "block", [(r["rule"], r["status"]) for r in report["rules"]]


def test_a_profile_whose_batch_arrays_are_not_sound_is_refused_naming_it(prov, workdir, store, keypair, monkeypatch):
    # attack review 23b, findings 2 and 3: arrays no base gives (a count above the rows, shapes that disagree)
    # are signed but wrong: exit 1 naming the profile, as for an altered one; before, a huge value passed and a
    # misshapen one crashed (exit 3, a traceback)
    t = digits_table()
    base = t.take(list(range(1200)))
    cand = pa.concat_tables([base, t.take(list(range(1200, 1400))), base.take(list(range(20)))])
    crafted = {
        "huge": (
            BatchCopies(np.full(10, 120, np.int64), np.zeros((10, 1), np.int64), np.full((10, 1), 10**12, np.int64)),
            "batch_most_copies",
        ),
        "misshapen": (
            BatchCopies(np.full(3, 400, np.int64), np.zeros((10, 2), np.int64), np.zeros((10, 2), np.int64)),
            "shapes",
        ),
        "negative": (
            BatchCopies(np.full(10, 120, np.int64), np.full((10, 1), -5, np.int64), np.zeros((10, 1), np.int64)),
            "negative",
        ),
        "more rows than the base": (
            BatchCopies(np.full(10, 500, np.int64), np.zeros((10, 1), np.int64), np.zeros((10, 1), np.int64)),
            "more than the base's 1200 rows",
        ),
    }
    for i, (what, (bad, words)) in enumerate(crafted.items()):
        signed_with_clumping(prov, keypair, monkeypatch, f"base{i}", base, bad)
        pq.write_table(cand, f"cand{i}.parquet")
        r = prov("-q", "commit", f"cand{i}.parquet", "--tag", f"cand{i}", "--key", keypair.private_path)
        assert r.exit_code == 0, r.output
        r = prov("check", f"cand{i}", "--base", f"base{i}", "--format", "json")
        assert r.exit_code == 1 and "Traceback" not in r.output, (what, r.exit_code, r.output[-600:])
        # the rules that read the profile say so (detectors.run); the copies rule counts the manifest (session 24)
        reasons = [x["reason"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"]
        assert any(f"profile of base{i}" in x and words in x for x in reasons), (what, reasons)
