"""Attack review 32d: replays against session 32's fixes (fix32a's full judging of a listed new class whose records sit
inside one base class). A strict xfail is a finding, named in its reason; the plain test beside it shows
the attack's setup is otherwise right."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from support import commit_signed, words

# --- fix32a: a listed new class judged in full when its added records sit inside one base class -------------------

BREAST_CANCER_LABEL = ("--label-column", "diagnosis")


def _cat_copies(prov, keypair, per_class: dict[str, int], scale: float = 1.08) -> tuple[str, ...]:
    """v1: 400 breast-cancer records; v2: v1 plus, for each base class, ``per_class[class]`` of its records delivered
    again labelled "cat" with every value times ``scale`` (A32a-7's records: 8% larger). policy.toml lists "cat" in [class_mix]
    expected_new_classes; returns the pin to pass."""
    from test_check_next_steps_source import _breast_cancer

    v1 = _breast_cancer(range(400))
    labels = v1.column("diagnosis").to_pylist()
    taken = [i for c, n in sorted(per_class.items()) for i in [j for j, x in enumerate(labels) if x == c][:n]]
    moved = v1.take(taken)
    nudged = {c: pa.array([x * scale for x in moved.column(c).to_pylist()]) for c in moved.column_names[:-1]}
    cat = pa.table({**nudged, "diagnosis": pa.array(["cat"] * len(taken))})
    with open("policy.toml", "w") as fh:
        fh.write('[class_mix]\nexpected_new_classes = ["cat"]\n')
    assert prov("init").exit_code == 0
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet", *BREAST_CANCER_LABEL)
    pq.write_table(pa.concat_tables([v1, cat]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet", *BREAST_CANCER_LABEL)
    return ("--signer", str(keypair.public_path))


def _check_cat(prov, pin):
    from test_check_next_steps_source import WIDE

    return prov("check", "v2", "--base", "v1", "--no-save", "--policy", "policy.toml", *pin, env=WIDE)


def test_control_cat_copies_of_one_base_class_block(prov, keypair, workdir):
    r = _check_cat(prov, _cat_copies(prov, keypair, {"malignant": 14}))
    assert r.exit_code == 1, r.output
    said = " ".join(r.stdout.split())
    assert "'cat' (14 of its 14 added record(s) are copies of records of base class 'malignant'" in said, said


# A32d-1 (medium): gate.class_inside.inside_classes asks whether a listed class's records sit inside *one* base
# class (at least that class's purity of them); A32a-7's scaled copies split across two base classes pass: 14
# malignant and 14 benign base records delivered again labelled "cat", every value 8% larger, are judged on
# class-free evidence only and the check passes (exit 0, "0 of 28 records flagged"; knn_label alone flags all 28),
# while the control's 14 malignant copies block. Fix: gate.class_inside.inside_classes should judge a listed class in
# full when the share of its records that sit inside *some* base class (any of them) reaches the base's own share
# (the purity pooled over the classes they sit in), not one class's count alone.
# Fixed (fix32i): the share inside any base class is weighed against those classes' pooled purity.
def test_a32d_1_cat_copies_split_across_two_base_classes_block(prov, keypair, workdir):
    r = _check_cat(prov, _cat_copies(prov, keypair, {"malignant": 14, "benign": 14}))
    assert r.exit_code == 1, r.output


# A32d-2 (medium): the same 14 malignant copies 30% larger (not 8%) pass: their nearest base records are all
# malignant (knn_label flags all 14), but the nearest lies beyond malignant's 95th-percentile own-class distance
# (fix32a's gate.class_inside.REACH_QUANTILE), so no record "sits inside" and "cat" is judged on class-free evidence only:
# "0 of 14 records flagged", exit 0 (at 15% they block, and at 50% the outlier evidence blocks 4 of them). Fix:
# gate.class_inside.inside_of should not cap the voters' class by a distance the attacker can step past: judge in full
# a listed record whose voters are one base class's (the majority), however far, or judge in full any listed class
# whose records knn_label, run with the class left out, would flag over its budget.
# Fixed (fix32i): no distance cap; a record whose voters are mostly one base class's sits inside it.
def test_a32d_2_cat_copies_just_beyond_the_class_reach_block(prov, keypair, workdir):
    r = _check_cat(prov, _cat_copies(prov, keypair, {"malignant": 14}, scale=1.3))
    assert r.exit_code == 1, r.output


# --- fix32c: the type-conflict advice (withdraw the vendor's batch, register its records as your own, commit) ------

FLIPPED = range(0, 70, 5)  # 14 of the 2024 batch's 70 records whose vendor-signed label the candidate flips


def _flip(table: pa.Table) -> pa.Table:
    labels = table.column("label").to_pylist()
    for i in FLIPPED:
        labels[i] = {"No": "Yes", "Yes": "No"}[labels[i]]
    return table.set_column(table.column_names.index("label"), "label", pa.array(labels))


def _clinic_2024_flipped(prov, gaps: bool) -> tuple[str, str]:
    """The clinic (source clinicA, trusted) signs its 2023 batch (bp int64) and its 2024 batch (bp double with gaps
    when ``gaps``, else int64); v1 is the 2023 batch; train.parquet adds the 2024 batch, gaps filled, with 14 of its
    labels flipped. Returns (the 2024 batch's id, v2's commit output)."""
    import numpy as np
    from test_newcomer32_type_conflicts import PINS, _clinic, _ok, register_clinic_batches_and_v1

    pq.write_table(_clinic(200, 1, gaps=False), "a2023.parquet")
    delivered = _clinic(70, 2, gaps=gaps)
    pq.write_table(delivered, "a2024.parquet")
    bp = np.nan_to_num(delivered.column("bp").to_numpy(zero_copy_only=False).astype("float64"), nan=72.0)
    filled = delivered.set_column(2, "bp", pa.array(bp.astype("int64")))
    pq.write_table(_flip(filled), "a2024-filled.parquet")
    pq.write_table(filled, "a2024-filled-by-clinic.parquet")  # what the clinic signs when asked: its own labels
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), _flip(filled)]), "train.parquet")
    batches = register_clinic_batches_and_v1(prov)
    return batches[1], _ok(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PINS)


def test_control_labels_flipped_in_a_signed_batch_block(prov, workdir, store):
    from test_newcomer32_type_conflicts import PINS

    _clinic_2024_flipped(prov, gaps=False)
    r = prov("check", "v2", "--base", "v1", *PINS, "--format", "json")
    assert r.exit_code == 1, r.output
    blocked = [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"]
    assert blocked == ["lineage.max_relabeled_after_source"], blocked


# A32d-3 (medium): the type-conflict advice fix32c added (gate.unsigned / lineage.retyped.type_conflict_way: "withdraw
# the other batch and register the records you ship in its place as a batch of your own") launders a vendor's signed
# labels. The clinic signs its 2024 batch (bp double, gaps); train.parquet holds it gaps filled (bp int64) with 14 of
# its 70 labels flipped. prov check v2 gives the advice; followed word for word (prov withdraw BATCH, prov add
# a2024-filled.parquet --source clinicA-filled --unsigned, prov commit), prov check v3 --base v1 "passed all 27
# rules": nothing compares the records shipped "in its place" with the withdrawn batch's signed records, so 14 labels
# the vendor signed otherwise pass (the labels are random against the features: only lineage can see them). The
# control: the same flips in a signed batch with no type conflict block on lineage.max_relabeled_after_source.
# Fix: lineage (gate.rules_lineage's relabeled-after-source count) should pair the records registered in a withdrawn
# batch's place with the withdrawn batch's signed records by value under the base's types (lineage.retyped, the cast
# the conflict is about) and count a differing label as relabeled after its source; or the advice should keep the
# vendor's labels binding (withdraw only for the retyped column, not the batch's labels). Fixed (fix32j) the second
# way: the advice has the source sign the records shipped in the batch's place, and never offers --unsigned there.
def test_a32d_3_following_the_type_conflict_advice_keeps_the_vendor_labels_binding(prov, workdir, store):
    from test_newcomer32_type_conflicts import PINS, _ok

    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    r = prov("check", "v2", "--base", "v1", *PINS)
    assert r.exit_code == 1 and "the signed batches disagree on column types" in r.stdout, r.output
    advice = words(r.stdout)
    assert "--source NAME --unsigned" not in advice, (
        advice
    )  # the old way: records of one's own, bound to none of the clinic's labels
    assert f"prov add FILE --source SOURCE && prov withdraw {batch} --reason R --key K" in advice, advice
    # followed word for word: the clinic signs the filled batch (with its own labels), it is registered, the 2024
    # batch withdrawn; the shipped file's 14 flipped labels then differ from what the clinic signed
    _ok(prov, "sign", "a2024-filled-by-clinic.parquet", "--source", "clinicA", "--key", "clinic.key")
    _ok(prov, "add", "a2024-filled-by-clinic.parquet", "--source", "clinicA", *PINS)
    _ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    r = prov("check", "v3", "--base", "v1", *PINS, "--format", "json")
    assert r.exit_code == 1, r.output
    blocked = [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"]
    assert "lineage.max_relabeled_after_source" in blocked, blocked
