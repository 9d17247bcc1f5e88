"""Attack review 29a: replays against fix29a (a kept --checkpoint F vouching in the signing writes' refusal,
lineage.signed_sources decided from signed facts, [removals] max_removed_fraction) and perf29 (held-out levels
without re-sorting, ColumnFindings.explanation). A plain test pins an attack that held; a strict xfail is a finding,
named in its reason."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack26a_replays import plant_rolled_back_v3
from test_attack28c_replays import _r1_then_r2

from support import digits_table, ok, one_line, store_fingerprint, validate_output

RULE = "removals.max_unsigned_removed_rate"


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _removals(prov, new: str, base: str, *args: str) -> tuple[int, dict]:
    """``prov check new --base base --format json``'s exit code and its removals rule (the JSON validated)."""
    r = prov("check", new, "--base", base, "--signer", "alice.pub", "--format", "json", *args)
    doc = json.loads(r.stdout)
    validate_output("check", doc)
    return r.exit_code, {x["rule"]: x for x in doc["rules"]}[RULE]


def _sql(*statements: str) -> None:
    with sqlite3.connect(".prov/prov.db") as db:
        for s in statements:
            db.execute(s)
    db.close()


def _vendor_and_crowd() -> pa.Table:
    """300 digits: vendor's first 100, crowd's other 200 (a ``source`` column)."""
    t = digits_table(300)
    return t.append_column("source", pa.array(["vendor"] * 100 + ["crowd"] * 200))


# --- [removals] max_removed_fraction ----------------------------------------------------------------------------


def _crowd_quarantined(prov, keypair) -> pa.Table:
    """r1: vendor 100 + crowd 200 (``_vendor_and_crowd``); r2 = the maintainer's signed ``prov quarantine --source
    crowd``. Returns r1's table (train.parquet)."""
    t = _vendor_and_crowd()
    pq.write_table(t, "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r1", "--source-column", "source").exit_code == 0
    signing = ("--key", keypair.private_path, "--signer", keypair.public_path)
    r = prov("quarantine", "--from", "r1", "--source", "crowd", "--tag", "r2", *signing)
    assert r.exit_code == 0, r.output
    return t


def _readmitted(prov, keypair) -> pa.Table:
    """r1: vendor 100 + crowd 200; r2 = signed ``prov quarantine --source crowd``; r3: the maintainer re-admits
    crowd (its 200 records committed again, parent r2: the released base). Returns the 300-record table."""
    t = _crowd_quarantined(prov, keypair)
    r = _commit(prov, keypair, "train.parquet", "r3", "--source-column", "source", "--parent", "r2")
    assert r.exit_code == 0, r.output
    return t


# A29a-1 (medium): a quarantine before the base excuses deleting the records the base re-admitted: r2 quarantined
# crowd, r3 (the base) holds crowd's 200 records again, a PR's r4 deletes them and 40 of vendor's 100 (240 of 300,
# 80%) and passes the shrink bound as '40 of 100': removals.quarantined_from_base counts every quarantine in the
# candidate's ancestry (missing_signed.removed_by_quarantine walks the base's history too), though no quarantine
# removed anything from the base. A29a-1 was a strict xfail; fixed by quarantined_from_base and not_deliberate
# counting only quarantines since the base (missing_signed.removed_by_quarantine(since_base=True)).
def test_a29a_1_a_quarantine_before_the_base_does_not_excuse_deleting_what_the_base_readmitted(
    prov, workdir, store, keypair
):
    t = _readmitted(prov, keypair)
    pq.write_table(t.slice(40, 60), "train.parquet")  # the PR keeps 60 of vendor's records, none of crowd's
    assert _commit(prov, keypair, "train.parquet", "r4", "--source-column", "source", "--parent", "r3").exit_code == 0
    code, rule = _removals(prov, "r4", "r3")
    assert code == 1 and rule["status"] == "block", rule
    assert rule["statistic"]["test"] == "shrunk" and rule["statistic"]["removed"] == 240, rule["statistic"]


def test_a29a_1_nor_on_a_line_beside_the_base_that_shares_the_quarantine(prov, workdir, store, keypair):
    # the same deletion committed on r2 (the quarantine), not on the base r3: r2 is in the base's own history, so
    # it removed nothing r3 holds, and r4 against r3 is still 240 of 300 removed
    t = _readmitted(prov, keypair)
    pq.write_table(t.slice(40, 60), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r4", "--source-column", "source", "--parent", "r2").exit_code == 0
    code, rule = _removals(prov, "r4", "r3")
    assert code == 1 and rule["statistic"]["test"] == "shrunk" and rule["statistic"]["removed"] == 240, rule
    assert rule["statistic"]["quarantined"] == 0, rule["statistic"]


def _as_float(table: pa.Table) -> pa.Table:
    """``table`` with every pixel column float64: a retype that re-keys every record (its content re-encodes)."""
    return pa.table(
        {n: (c.cast(pa.float64()) if n.startswith("px") else c) for n, c in zip(table.column_names, table.columns)}
    )


# A29a-2 (high): a retype takes the records a schema change paired by content off the removed count twice, so a PR
# that writes the pixels as doubles and keeps 80 of 300 records (220 removed, 73%) passes the shrink bound (exit 0,
# the per-class warning only): content_pairs.pair_by_content already drops the paired base records from the report's
# removed (summary['removed'] = 220), and removals.py MaxUnsignedRemovedRate.shrunk subtracts len(kept_base) from it
# again (220 - 80 = 140 <= 150). A29a-2 was a strict xfail; fixed by MaxUnsignedRemovedRate.shrunk reading the
# report's removed as it is (counted once).
def test_a29a_2_a_retype_does_not_halve_the_removed_count_the_shrink_bound_reads(prov, workdir, store, keypair):
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, _as_float(t.slice(0, 80)))  # every record re-keyed; 80 kept by content
    code, rule = _removals(prov, "r2", "r1")
    assert code == 1 and rule["status"] == "block", rule
    assert rule["statistic"]["test"] == "shrunk" and rule["statistic"]["removed"] == 220, rule["statistic"]
    assert "removed 220 of r1's 300 records (73.3%)" in rule["reason"], rule["reason"]


def test_held_without_a_retype_the_same_deletion_is_blocked_as_a_shrink(prov, workdir, store, keypair):
    # A29a-2's control: the same 80 of 300 kept with the base's types is the shrink block, counted once
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 80))
    code, rule = _removals(prov, "r2", "r1")
    assert code == 1 and rule["statistic"]["removed"] == 220, rule


def test_held_padding_the_candidate_with_copies_of_its_few_records_does_not_hide_the_shrink(
    prov, workdir, store, keypair
):
    # the bound counts distinct records: 20 records of 300 kept, each 15 times (300 rows), is 280 removed
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, pa.concat_tables([t.slice(0, 20)] * 15))
    code, rule = _removals(prov, "r2", "r1")
    assert code == 1 and rule["status"] == "block", rule
    assert rule["statistic"]["removed"] == 280 and rule["statistic"]["records_new"] == 20, rule["statistic"]


def test_held_a_quarantine_after_the_base_still_leaves_its_removals_out_of_the_bound(prov, workdir, store, keypair):
    # A29a-1's control: the quarantine of crowd between base r1 and the candidate is deliberate; the PR's
    # deletion of 40 of vendor's 100 after it (40%) is judged by the per-class rate, not the shrink bound
    t = _crowd_quarantined(prov, keypair)
    pq.write_table(t.slice(40, 60), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r3", "--source-column", "source", "--parent", "r2").exit_code == 0
    _, rule = _removals(prov, "r3", "r1")
    assert (rule["statistic"] or {}).get("test") != "shrunk", rule


def _r2_removed_120_of_300(prov, keypair) -> None:
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 180))  # 40%: under the shrink bound, over the per-class rate


# A29a-4 (medium): a policy number written as TOML nan is taken: gate/policy.py validates with JSON Schema
# minimum/maximum, which NaN passes (inf and 1.5 are refused); [removals] max_removed_fraction = nan blocks a
# release that removed any record, its fix line naming unsigned_removed = 'warn' (the mode already in force), and
# max_unsigned_removed_rate = nan turns the per-class warning off silently (exit 0, 'passed all rules'): bad input
# must be exit 2, one line naming the file and key. A29a-4 was a strict xfail; fixed by gate/policy.py refusing a
# number that is not finite (_not_finite).
@pytest.mark.parametrize("key", ["max_removed_fraction", "max_unsigned_removed_rate"])
def test_a29a_4_a_nan_removals_number_in_the_policy_is_refused_naming_the_file(prov, workdir, store, keypair, key):
    _r2_removed_120_of_300(prov, keypair)
    with open("policy.toml", "w") as f:
        f.write(f"[removals]\n{key} = nan\n")
    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--policy", "policy.toml")
    assert r.exit_code == 2 and one_line(r) == f"Error: policy.toml:2: removals.{key}: must be a finite number, not nan"
    assert store_fingerprint(workdir / ".prov") == before


def test_held_a_removals_number_out_of_range_or_of_the_wrong_type_is_one_line_exit_2(prov, workdir, store, keypair):
    _r2_removed_120_of_300(prov, keypair)
    before = store_fingerprint(workdir / ".prov")
    for value, problem in (
        ("1.5", "must be at most 1, not 1.5"),
        ("inf", "must be at most 1, not inf"),
        ("-0.1", "must not be negative, not -0.1"),
        ("true", "must be a number, not bool True"),  # a bool is no fraction (Python's True == 1)
        ('"0.9"', "must be a number, not str '0.9'"),
    ):
        with open("policy.toml", "w") as f:
            f.write(f"[removals]\nmax_removed_fraction = {value}\n")
        r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--policy", "policy.toml")
        want = f"Error: policy.toml:2: removals.max_removed_fraction: {problem}"
        assert r.exit_code == 2 and one_line(r) == want, (value, r.output)
    assert store_fingerprint(workdir / ".prov") == before


# A29a-5 (low): the shrink block's 'To release' step says '[removals] unsigned_removed = "warn"', the default
# already in force, which does not lift it (followed, the check still blocks); the block's own reason names
# max_removed_fraction: report/next_steps.py gives every removals.* block but an emptied one the per-class step,
# never reading the statistic's test 'shrunk'. A29a-5 was a strict xfail; fixed by report/next_steps.py naming
# max_removed_fraction for a block whose statistic's test is 'shrunk'.
def test_a29a_5_the_shrink_blocks_to_release_step_names_the_key_that_releases_it(prov, workdir, store, keypair):
    t = digits_table(300)
    _r1_then_r2(prov, keypair, t, t.slice(0, 100))  # 200 of 300 removed: an intended shrink, say
    with open("policy.toml", "w") as f:
        f.write('[removals]\nunsigned_removed = "warn"\n')  # what the step says to write
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--policy", "policy.toml")
    assert r.exit_code == 1, r.output  # followed, the step releases nothing
    steps = r.stdout.split("To release:", 1)[1].split("Policy ", 1)[0]
    assert "raise [removals] max_removed_fraction to at least 0.67" in steps, steps
    assert 'unsigned_removed = "warn"' not in steps, steps
    with open("policy.toml", "w") as f:
        f.write("[removals]\nmax_removed_fraction = 0.67\n")  # what the step says now
    r = prov("check", "r2", "--base", "r1", "--signer", "alice.pub", "--policy", "policy.toml", "--format", "json")
    rule = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]
    assert r.exit_code == 0 and rule["status"] == "warn", rule  # followed, it releases (the per-class rate warns)


# --- a kept log state (--checkpoint F) vouching in the signing writes' refusal ------------------------------------


def _kept_before_the_plant(prov, workdir) -> tuple[str, str]:
    """plant_rolled_back_v3's world (v3's row and a chain-valid pending commit entry put back by a ``.prov/``
    writer), and kept.cp: an honest log state the maintainer kept of the restored log, before the plant (signed by
    the pinned commit key). Returns the ``--signer`` arguments."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.move(".prov", "planted")
    shutil.copytree("backup", ".prov")  # the log as it was before the .prov/ writer's plant
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *pinned)
    shutil.rmtree(".prov")
    shutil.move("planted", ".prov")
    return pinned


def _pending(prov, *args: str) -> list[tuple[str, str]]:
    doc = json.loads(ok(prov, "audit", "verify", "--json", *args))
    validate_output("audit-verify", doc)
    return [(e["action"], e["subject"]) for e in doc["pending"] if e["action"] in ("commit", "quarantine")]


def test_held_a_kept_log_state_from_before_a_planted_entry_does_not_vouch_for_it(prov, workdir):
    """The honest kept.cp fits the planted log (the plant only appended) but covers none of v3's put-back entry:
    audit verify --checkpoint kept.cp names it pending, and commit --checkpoint kept.cp refuses, naming v3, exit 1,
    the store byte for byte as it was."""
    pinned = _kept_before_the_plant(prov, workdir)
    assert ("commit", "v3") in _pending(prov, "--checkpoint", "kept.cp", *pinned)
    before = store_fingerprint(workdir / ".prov")
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", "--checkpoint", "kept.cp", *pinned)
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_held_a_kept_log_state_of_another_store_by_the_same_commit_key_vouches_for_nothing(prov, workdir):
    """A PR author who controls the checkout swaps kept.cp for a log state the same pinned commit key signed over
    another store's log (a second project's, as long): it does not fit this log, so the commit is refused (exit 1,
    naming the file), the store left as it was."""
    pinned = _kept_before_the_plant(prov, workdir)
    shutil.move(".prov", "planted")
    ok(prov, "init")
    for tag, n in (("w1", 250), ("w2", 330), ("w3", 340)):
        pq.write_table(digits_table(400).slice(0, n), "train.parquet")
        ok(prov, "-q", "commit", "train.parquet", "--tag", tag, "--key", "maintainer.key", *pinned)
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "other.cp", *pinned)
    shutil.rmtree(".prov")
    shutil.move("planted", ".prov")
    before = store_fingerprint(workdir / ".prov")
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", "--checkpoint", "other.cp", *pinned)
    assert r.exit_code == 1 and "other.cp" in one_line(r) and "nothing was committed" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


# --- lineage.signed_sources (the diff headline's "no signed sources") -------------------------------------------


def _vendor_trusted_then_v2(prov) -> tuple[str, ...]:
    """v1: 300 digits (unattributed); the maintainer trusts vendor, vendor's signed batch of 60 is registered; v2: v1
    and 40 records no batch holds (unattributed additions). Returns the ``--signer`` arguments."""
    t = digits_table(400)
    pq.write_table(t.slice(0, 300), "train.parquet")
    pq.write_table(t.slice(300, 60), "vendor-batch.parquet")
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    ok(prov, "sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned)
    ok(prov, "add", "vendor-batch.parquet", "--source", "vendor", *pinned)
    pq.write_table(pa.concat_tables([t.slice(0, 300), t.slice(360, 40)]), "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v2", "--parent", "v1", "--key", "maintainer.key", *pinned)
    return pinned


# A29a-3 (low): a .prov/ writer who deletes the batch.add audit entry (and the trust and batches rows) turns the
# diff headline 'FLAGGED ... (unattributed_additions)' into 'NOTHING FLAGGED ... (no signed sources)'; the audit
# line says BROKEN, but delta/compare.py store_has_signed_sources reads a broken log as True only when a batch is
# registered twice (registered_batches' VerificationError), not when the chain no longer recomputes or a trusted
# checkpoint covers entries the log lost, as its docstring promises ('fails loud'). A29a-3 was a strict xfail; fixed
# by delta/compare.py store_has_signed_sources reading a broken log (coverage's broken, or intact_entries refusing
# it) as True.
def test_a29a_3_deleting_the_batch_add_entry_does_not_quiet_the_diff_headline(prov, workdir):
    pinned = _vendor_trusted_then_v2(prov)
    head = ok(prov, "diff", "v1", "v2", *pinned).splitlines()[1]
    assert head.startswith("FLAGGED: 1 signal flagged: unattributed_additions"), head
    _sql("delete from trust", "delete from batches", "delete from audit where action = 'batch.add'")
    r = prov("diff", "v1", "v2", *pinned)
    assert "audit log: BROKEN" in r.stdout, r.stdout  # the log reads as broken ...
    assert r.stdout.splitlines()[1].startswith("FLAGGED: 1 signal flagged"), r.stdout  # ... so the headline stays
    doc = json.loads(prov("diff", "v1", "v2", *pinned, "--format", "json").stdout)
    validate_output("diff", doc)
    assert doc["lineage"]["signed_sources"] is True, doc["lineage"]


def test_a29a_3_a_chain_that_no_longer_recomputes_keeps_the_headline_flagged_with_no_checkpoint_left(prov, workdir):
    # A29a-3's other half: the .prov/ writer deletes the checkpoints too, so no signed checkpoint says the log lost
    # entries; the hash chain alone no longer recomputes (the entry after the deleted batch.add does not follow)
    pinned = _vendor_trusted_then_v2(prov)
    _sql(
        "delete from trust",
        "delete from batches",
        "delete from checkpoints",
        "delete from audit where action = 'batch.add'",
    )
    doc = json.loads(prov("diff", "v1", "v2", *pinned, "--format", "json").stdout)
    validate_output("diff", doc)
    assert not doc["audit"]["broken"], doc["audit"]  # nothing signed says so: the chain alone
    assert doc["lineage"]["signed_sources"] is True, doc["lineage"]
    head = prov("diff", "v1", "v2", *pinned).stdout.splitlines()[1]
    assert head.startswith("FLAGGED: 1 signal flagged"), head


def test_held_deleting_the_trust_and_batches_rows_alone_leaves_the_headline_flagged(prov, workdir):
    # the rows are no longer read (A28d-2): the audit log's signed batch.add entry still says a source signs here
    pinned = _vendor_trusted_then_v2(prov)
    _sql("delete from trust", "delete from batches")
    r = prov("diff", "v1", "v2", *pinned)
    assert r.stdout.splitlines()[1].startswith("FLAGGED: 1 signal flagged: unattributed_additions"), r.stdout


# --- perf29: held-out levels without re-sorting (outputs must be byte-identical) ------------------------------


def _sorted_again_pools(reference_raw, weights, batches, fpr, combined_p, forward):
    """feature_level.held_out_pools as session 28 computed it: every pool's scores filtered and sorted again
    (``Calibration(fitted)``, ``p_values(fitted)``), the weighted statistic over a (k, d) matrix."""
    from provenance.detectors.calibration import Calibration
    from provenance.detectors.feature_level import FIRST_FORWARD, strongest_column

    def held_out(raws, out):
        held, kept = [], []
        for raw in raws:
            p_out, p_rest = np.full(int(out.sum()), np.nan), np.full(int((~out).sum()), np.nan)
            fitted_at = np.flatnonzero(~out & np.isfinite(raw))
            if fitted_at.size:
                calibration = Calibration(raw[fitted_at], fpr)
                ok = np.isfinite(raw[out])
                p_out[ok] = calibration.p_values(raw[out][ok])
                p_all = np.full(len(raw), np.nan)
                p_all[fitted_at] = calibration.p_values(raw[fitted_at])
                p_rest = p_all[~out]
            held.append(p_out)
            kept.append(p_rest)
        return held, kept

    def statistic(p):
        P = np.column_stack(p) / weights
        finite = np.isfinite(P)
        return np.where(finite.any(axis=1), np.where(finite, P, np.inf).min(axis=1), np.nan)

    _, everything = held_out(reference_raw, np.zeros(len(batches), dtype=bool))
    T_in = statistic(everything)
    inside = np.isfinite(T_in)
    set_in = strongest_column(np.column_stack(everything)[inside] / weights)
    p_in = combined_p(T_in[inside], T_in[inside])
    pooled, set_out = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    labels = np.unique(batches)
    for b in labels[FIRST_FORWARD:] if forward else labels:
        keep = batches <= b if forward else np.ones(len(batches), dtype=bool)
        held, kept = held_out([raw[keep] for raw in reference_raw], batches[keep] == b)
        T_out, T_kept = statistic(held), statistic(kept)
        finite, T_kept = np.isfinite(T_out), T_kept[np.isfinite(T_kept)]
        if finite.any() and len(T_kept):
            pooled.append(combined_p(T_out[finite], T_kept))
            set_out.append(strongest_column(np.column_stack(held)[finite] / weights))
    return np.concatenate(pooled), np.concatenate(set_out), p_in, set_in


def _hostile_scores(rng, n: int) -> list[np.ndarray]:
    """Six detectors' raw scores as a base writer can shape them: long runs of equal values, -0.0 beside 0.0,
    NaN and inf (unscorable records), a constant column, huge and tiny magnitudes."""
    ties = rng.integers(0, 4, n).astype(np.float64)
    signed_zero = np.where(rng.random(n) < 0.5, -0.0, 0.0) + np.where(rng.random(n) < 0.2, 1.0, 0.0)
    holes = rng.normal(size=n)
    holes[rng.random(n) < 0.15] = np.nan
    holes[rng.random(n) < 0.05] = np.inf
    constant = np.full(n, 3.0)
    spread = np.round(rng.lognormal(0, 4, n), 1)
    tiny = rng.integers(0, 3, n) * 1e-300
    return [ties, signed_zero, holes, constant, spread, tiny]


@pytest.mark.parametrize("forward", [True, False])
def test_held_the_held_out_pools_without_resorting_are_the_sorted_again_ones_bit_for_bit(forward):
    from provenance.detectors.feature_level import held_out_pools

    rng = np.random.default_rng(29)
    raws = _hostile_scores(rng, 900)
    weights = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    batches = np.sort(rng.integers(0, 9, 900))

    def combined_p(T_out, T_kept):  # a rank of each held-out statistic among the kept ones: order-sensitive
        return (np.searchsorted(np.sort(T_kept), T_out, side="right") + 1.0) / (len(T_kept) + 1.0)

    got = held_out_pools(raws, weights, batches, 0.01, combined_p, forward)
    want = _sorted_again_pools(raws, weights, batches, 0.01, combined_p, forward)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
