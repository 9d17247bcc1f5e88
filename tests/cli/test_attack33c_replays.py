"""Attack review 33c: replays against fix33b (``relabels.max_relabels_of_others_records``: a relabel counts when the
base's signed lineage does not give the record to the relabelling source; records shipped in a withdrawn signed
batch's place keep its signed labels). A strict xfail is a finding, named in its reason; the plain test beside it
shows the attack's setup is otherwise right. Through the real CLI, keys and store."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_fix33b_others_relabels import _relabelled
from test_newcomer31_schema_advice import PINS, _penguins

from support import blocking_rules, check_report, ok

OTHERS = "relabels.max_relabels_of_others_records"


# --- who "delivered" a record: any signed batch that carries it when the base is committed -------------------------


FLIPS = list(range(100, 114))  # 14 of the team's records (penguins 0-199, no signed batch) the vendor flips in v3
OWN_FLIPS = list(range(200, 204))  # 4 of the vendor's own delivery (penguins 200-299)


def _claimed_then_flipped(prov, claim: bool, flips: list[int] = FLIPS) -> tuple[dict, dict]:
    """v1: the team's penguins 0-199 (no signed batch holds them yet); the vendor signs its delivery, penguins 200-299, plus (``claim``)
    an exact copy of each of the team's 200 records under its own label; v2: penguins 0-299. Then the vendor signs
    ``flips`` unchanged under the next species, v3 holds them so. The reports of ``check v2 --base v1`` and
    ``check v3 --base v2``."""
    delivery = [_penguins(range(200, 300))] + ([_penguins(range(0, 200))] if claim else [])
    pq.write_table(_penguins(range(0, 200)), "base.parquet")
    pq.write_table(pa.concat_tables(delivery), "vendor.parquet")
    pq.write_table(_penguins(range(0, 300)), "train.parquet")
    for args in (
        ("keys", "generate", "m"),
        ("commit", "base.parquet", "--tag", "v1", "--key", "m.key", *PINS),  # before any signed batch holds them
        ("keys", "generate", "vendor"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *PINS),
        ("add", "vendor.parquet", "--source", "vendor", *PINS),
        ("commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PINS),
    ):
        ok(prov, *args)
    pq.write_table(_relabelled(flips), "relabels.parquet")
    kept = _penguins(range(0, 300)).filter(pa.array([i not in flips for i in range(300)]))
    pq.write_table(pa.concat_tables([kept, _relabelled(flips)]), "v3.parquet")
    ok(prov, "sign", "relabels.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "add", "relabels.parquet", "--source", "vendor", *PINS)
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    return check_report(prov, "v2", "v1", *PINS), check_report(prov, "v3", "v2", *PINS)


def test_control_the_vendors_flips_of_the_teams_records_block(prov, workdir, store):
    v2, v3 = _claimed_then_flipped(prov, claim=False)
    assert v2["exit_code"] == 0 and v3["summary"]["relabeled"] == len(FLIPS), v3["summary"]
    assert v3["exit_code"] == 1 and OTHERS in blocking_rules(v3), blocking_rules(v3)


# A33c-1 (medium, fixed by fix34c): lineage gives a record to any trusted source whose signed batch carries its
# content when a version is committed, so a vendor that copied the team's records (penguins 0-199, no signed batch)
# into an ordinary signed delivery "delivered" them in v2, and its signed flips of 14 of them in v3 counted 0 on
# relabels.max_relabels_of_others_records (and 4.7% of its 300 records on the rate): exit 0. A record is now a
# source's own only when the base's lineage gives it to the source and so does the oldest version of the base's signed
# ancestry holding it (lineage.deliverers.first_deliverers); each record's detail says where it entered.
def test_a_vendor_that_copied_the_teams_records_into_its_delivery_cannot_flip_them(prov, workdir, store):
    v2, v3 = _claimed_then_flipped(prov, claim=True)
    assert v2["exit_code"] == 0, blocking_rules(v2)  # the claim itself passes (no change to the base's records)
    assert v3["summary"]["relabeled"] == len(FLIPS), v3["summary"]
    assert v3["exit_code"] == 1 and OTHERS in blocking_rules(v3), blocking_rules(v3)
    rule = next(x for x in v3["rules"] if x["rule"] == OTHERS)
    assert rule["count"] == len(FLIPS), rule
    assert all(
        r["detail"].endswith("it entered in v1, delivered by no source; 'vendor' delivered it later")
        for r in rule["records"]
    ), rule["records"]


def test_control_the_vendors_flips_of_its_own_delivery_pass_within_its_rate(prov, workdir, store):
    """The vendor's own records (penguins 200-299, entered in v2 under its signature) stay its own: 4 flips of them,
    4% of its 100, pass, with the claim in the same delivery or not."""
    v2, v3 = _claimed_then_flipped(prov, claim=True, flips=OWN_FLIPS)
    assert v3["summary"]["relabeled"] == len(OWN_FLIPS), v3["summary"]
    assert v3["exit_code"] == 0 and not blocking_rules(v3), blocking_rules(v3)
    assert next(x for x in v3["rules"] if x["rule"] == OTHERS)["count"] == 0


# --- a withdrawn batch's signed labels bind only while its key verifies -------------------------------------------


PAIRED_FLIPS = 12  # of the 14 flipped labels, those whose record the median filled no gap of (fix33b's replay)


def _withdrawn_place_check(prov, revoked: str | None) -> dict:
    """fix33b's replay (``test_fix33b_withdrawn_labels``): the clinic's 2024 batch withdrawn, the filled file with 14
    flipped labels registered ``--unsigned`` in its place, v3 committed; then the clinic's key is revoked: ``"row"``, a
    ``.prov/`` writer sets its ``revoked_at`` in the store's trust table, one row, no key; ``"command"``, a maintainer
    runs ``prov trust revoke``; ``"retired"``, ``prov trust retire --at`` ends its window when the batch was registered
    (a rotation: lineage keeps the batch attested; the key is expired at the check). ``check v3 --base v1``."""
    import sqlite3

    from test_attack32d_replays import _clinic_2024_flipped

    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    ok(prov, "add", "a2024-filled.parquet", "--source", "clinicA-filled", "--unsigned", *PINS)
    ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    if revoked == "row":
        with sqlite3.connect(".prov/prov.db") as db:
            db.execute("update trust set revoked_at = '2026-12-05T00:00:00+00:00' where source = 'clinicA'")
    elif revoked == "command":
        ok(prov, "trust", "revoke", "clinicA", "--reason", "laptop stolen", "--yes", *PINS)
    elif revoked == "retired":
        ok(
            prov,
            "trust",
            "retire",
            "clinicA",
            "--key-id",
            _clinic_kid(),
            "--at",
            _registered_at(batch),
            "--key",
            "m.key",
        )
    return check_report(prov, "v3", "v1", *PINS)


def _clinic_kid() -> str:
    from provenance import keys

    return keys.key_id(keys.load_public("clinic.pub"))[:16]


def _registered_at(batch: str) -> str:
    """When m.key's signature first shows ``batch`` registered (ISO 8601), once the clock is past it: a window
    ending then keeps the batch attested by lineage, and the key is expired at any later check."""
    import time
    from pathlib import Path

    from provenance import clock
    from provenance.lineage.standing import registration_times
    from provenance.store import Store
    from provenance.trust.pins import Pins

    store = Store.open(Path.cwd(), pins=Pins.load("m.pub"))
    try:
        at = registration_times(store)[batch]
    finally:
        store.close()
    while clock.now() <= at + dt.timedelta(seconds=1):
        time.sleep(0.05)
    return clock.iso(at, "microseconds" if at.microsecond else "seconds")


def test_control_the_flips_in_a_withdrawn_batchs_place_block(prov, workdir, store):
    report = _withdrawn_place_check(prov, revoked=None)
    assert report["exit_code"] == 1 and blocking_rules(report) == ["lineage.max_relabeled_after_source"], (
        blocking_rules(report)
    )
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.max_relabeled_after_source")
    assert rule["count"] == PAIRED_FLIPS, rule


# A33c-2 (high, fixed by fix33g): the withdrawn batch's labels bound the records shipped in its place only while its
# envelope verified under the pins *now*, and a revocation is honoured wherever it is found, a trust row's revoked_at
# included: one row a .prov/ writer set, signing nothing, took `prov check v3 --base v1` from blocking on 12 flipped
# labels to exit 0. gate.withdrawn_labels now reads the batch's signed labels from an envelope keys the pins name for
# its source signed, whatever their standing now (a revocation takes trust away, never this constraint).
@pytest.mark.parametrize("revoked", ["row", "command", "retired"])
def test_a_revoked_clinic_key_does_not_unbind_the_withdrawn_batchs_labels(prov, workdir, store, revoked):
    report = _withdrawn_place_check(prov, revoked=revoked)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.max_relabeled_after_source")
    assert report["exit_code"] == 1 and rule["status"] == "block", blocking_rules(report)
    assert rule["count"] == PAIRED_FLIPS, rule  # as without the revocation (the control)


# --- a relabel delivered as remove + add under a nudged value -----------------------------------------------------


def _nudged_swap_check(prov, grams: int, label: str = "Adelie") -> dict:
    """fix32f's replay (``test_fix32f_extreme_copies._signed_delivery_check``): v3 removes the team's penguin 130 (a
    Chinstrap no signed batch holds) and the vendor delivers it signed with its body mass ``grams`` more, labelled
    ``label``. ``check v3 --base v2``'s report."""
    from test_fix32f_extreme_copies import ROW, _signed_delivery_check
    from test_newcomer31_edit_in_place import _edited

    table = _penguins(range(0, 300))
    one = _edited(table, ROW, table.column("body_mass_g")[ROW].as_py() + grams).slice(ROW, 1)
    return _signed_delivery_check(prov, one.set_column(one.column_names.index("label"), "label", pa.array([label])))


def test_control_a_ten_gram_swap_blocks_on_extreme(prov, workdir, store):
    report = _nudged_swap_check(prov, 10)
    assert report["summary"]["removed"] == 1 and report["summary"]["added"] == 1, report["summary"]
    assert report["exit_code"] == 1 and blocking_rules(report) == [OTHERS, "detectors.extreme"], blocking_rules(report)


# A33c-3 (medium; fixed by fix34b): a relabel of another's record is judged by relabels.max_relabels_of_others_records only when it
# keeps the record's digest. Delivered as a removal of the team's penguin 130 plus the vendor's signed addition of
# the same penguin 100 g heavier (4,592 g -> 4,692 g: 2.2% of its mass, 0.1 of the base's standard deviation) under
# another species, it is neither a relabel (summary: added 1, removed 1, relabeled 0) nor extreme evidence (a 10 g
# nudge blocks on detectors.extreme, 100 g does not), and the check passes, exit 0. The delta itself holds the
# pairing: the one record removed and its near twin added under another label by the source that signed the
# addition. Fix: pair each removed base record with its nearest added record (cost grows with the delta); an added
# record nearer to a removed one than base records sit to their nearest other record (at the policy's fpr), under
# another label, is a relabel of the removed record by the adding source, judged by the relabel rules (others'
# records included) and listed in prov diff as "replaced".
def test_a_hundred_gram_swap_of_the_teams_record_blocks(prov, workdir, store):
    report = _nudged_swap_check(prov, 100)
    assert report["summary"]["removed"] == 1 and report["summary"]["added"] == 1, report["summary"]
    assert report["exit_code"] == 1 and blocking_rules(report) == [OTHERS], blocking_rules(report)
    (record,) = next(x for x in report["rules"] if x["rule"] == OTHERS)["records"]
    twin = record["paired_across_removal"]
    assert record["label"] == "Adelie" and record["source"] == "vendor", record
    assert (twin["base_label"], twin["held_in"], twin["how"]) == ("Chinstrap", "v2", "edit"), twin
    assert record["detail"].startswith("paired across a removal: an edit (d=0.0948) of base record "), record
    assert record["detail"].endswith("last held in v2; that version's lineage gives it to no source"), record
    from support import words

    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save")  # the text report says it too
    assert r.exit_code == 1 and "paired across a removal: an edit (d=0.0948)" in words(r.stdout), r.output


def test_control_the_hundred_gram_correction_under_its_own_label_passes(prov, workdir, store):
    # the vendor corrects the team's penguin (removed, re-added 100 g heavier) and keeps its species: no relabel
    report = _nudged_swap_check(prov, 100, label="Chinstrap")
    assert report["summary"]["removed"] == 1 and report["summary"]["added"] == 1, report["summary"]
    assert report["exit_code"] == 0 and not blocking_rules(report), blocking_rules(report)


# --- records shipped in a withdrawn batch's place, flipped one version later ---------------------------------------

FLIPPED_LATER = (1, 6, 11)  # 3 of the 2024 batch's 70 records (none a filled gap), flipped after they were shipped


def _flipped_in_place(prov, steps: int) -> dict:
    """The clinic's 2024 batch withdrawn and the filled file, under the clinic's own labels except ``FLIPPED_LATER``
    flipped, registered ``--unsigned`` in its place: committed straight as v3 (``steps`` 1, ``check v3 --base v1``),
    or first unflipped as v3 (which passes, as fix33b's control shows) and flipped in v4 (``steps`` 2, ``check v4
    --base v3``)."""
    from test_attack32d_replays import _clinic_2024_flipped
    from test_newcomer32_type_conflicts import _clinic

    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    filled = pq.read_table("a2024-filled-by-clinic.parquet")
    labels = filled.column("label").to_pylist()
    for i in FLIPPED_LATER:
        labels[i] = {"No": "Yes", "Yes": "No"}[labels[i]]
    flipped = filled.set_column(filled.column_names.index("label"), "label", pa.array(labels))
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), filled]), "v3.parquet")
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), flipped]), "v4.parquet")
    ok(prov, "withdraw", batch, "--reason", "gaps filled with the median", "--key", "m.key", *PINS)
    ok(prov, "add", "a2024-filled-by-clinic.parquet", "--source", "clinicA-filled", "--unsigned", *PINS)
    if steps == 1:
        ok(prov, "commit", "v4.parquet", "--tag", "v3", "--key", "m.key", *PINS)
        return check_report(prov, "v3", "v1", *PINS)
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--key", "m.key", *PINS)
    return check_report(prov, "v4", "v3", *PINS)


def test_control_three_flips_shipped_in_a_withdrawn_batchs_place_block(prov, workdir, store):
    report = _flipped_in_place(prov, steps=1)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.max_relabeled_after_source")
    assert report["exit_code"] == 1 and rule["count"] == len(FLIPPED_LATER), rule


# A33c-4 (medium, fixed by fix33g): fix33b compared only the candidate's *added* records with a withdrawn batch's
# signed labels. Shipped in the batch's place under the clinic's labels (v3 passes) and 3 flipped in v4, `prov check v4
# --base v3` saw 3 relabels of the team's own unsigned records (4.3% < 5% on relabels.max_relabel_rate_per_source) and
# passed, while the same 3 flips shipped in v3 blocked. gate.withdrawn_labels now judges the delta's relabeled records
# as its added ones.
def test_three_flips_a_version_after_the_withdrawn_batchs_place_block(prov, workdir, store):
    report = _flipped_in_place(prov, steps=2)
    assert report["summary"]["relabeled"] == len(FLIPPED_LATER), report["summary"]
    assert report["exit_code"] == 1 and "lineage.max_relabeled_after_source" in blocking_rules(report), blocking_rules(
        report
    )
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.max_relabeled_after_source")
    assert rule["count"] == len(FLIPPED_LATER), rule
    assert all(r["detail"].startswith("in the place of withdrawn batch ") for r in rule["records"]), rule


# --- a relabelling source, declared as the advice says ---------------------------------------------------------

SERVICE_POLICY = "[relabels]\nrelabelling_sources = { crowd = 14 }\n"  # the crowd's job is relabelling: 14 of others'


def _policy_check(prov, text: str) -> dict:
    with open("policy.toml", "w") as fh:
        fh.write(text)
    return check_report(prov, "v3", "v2", *PINS, "--policy", "policy.toml")


def test_control_a_relabelling_service_passes_under_the_policy_its_advice_gives(prov, workdir, store):
    from test_fix33b_others_relabels import _relabel_check

    with open("policy.toml", "w") as fh:
        fh.write(SERVICE_POLICY)
    report = _relabel_check(prov, FLIPS, "crowd", "--policy", "policy.toml")  # crowd: a trusted relabelling service
    assert report["exit_code"] == 0 and report["summary"]["relabeled"] == len(FLIPS), blocking_rules(report)
    blocked = blocking_rules(_policy_check(prov, ""))
    assert blocked == ["relabels.max_relabel_rate_per_source", OTHERS], blocked  # what declaring it answers
    over = _policy_check(prov, "[relabels]\nrelabelling_sources = { crowd = 13 }\n")  # one past its allowance
    assert blocking_rules(over) == ["relabels.max_relabel_rate_per_source", OTHERS], blocking_rules(over)
    rule = next(x for x in over["rules"] if x["rule"] == OTHERS)
    assert rule["count"] == len(FLIPS), rule
    assert rule["records"][0]["detail"].endswith("; more than the 13 [relabels] relabelling_sources allows the source")


# A33c-5 (low, fixed by fix34c): the advice for a relabelling service's honest job raised max_relabel_rate_per_source
# to 1.0 and max_relabels_of_others_records to 14, bounds that hold for every source, and under that policy the
# vendor, not the service, signed 14 of the team's records under other species and passed, exit 0. The service is now
# declared by name ([relabels] relabelling_sources = { crowd = 14 }): its relabels of others' records count against
# its own allowance and leave its relabel rate; every other source stays under the keys' defaults.
def test_a_policy_declaring_a_relabelling_service_does_not_free_the_vendor(prov, workdir, store):
    from test_fix33b_others_relabels import _relabel_check

    with open("policy.toml", "w") as fh:
        fh.write(SERVICE_POLICY)
    report = _relabel_check(prov, FLIPS, "vendor", "--policy", "policy.toml")
    assert report["summary"]["relabeled"] == len(FLIPS), report["summary"]
    assert report["exit_code"] == 1 and OTHERS in blocking_rules(report), blocking_rules(report)
    assert next(x for x in report["rules"] if x["rule"] == OTHERS)["count"] == len(FLIPS)
    # raising the keys themselves frees every source, as they say
    everyone = _policy_check(
        prov, "[relabels]\nmax_relabel_rate_per_source = 1.0\nmax_relabels_of_others_records = 14\n"
    )
    assert everyone["exit_code"] == 0, blocking_rules(everyone)


# --- the relabelling source's own key revoked after it signed ----------------------------------------------------


def _flip_then_revoke_own_key(prov, revoked: str | None) -> dict:
    """fix33b's replay (``test_fix33b_others_relabels._relabel_check``): the vendor signs the team's penguin 130
    unchanged under another species, v3 holds it so; then the vendor's key is revoked: ``"row"``, a ``.prov/`` writer
    sets its ``revoked_at`` in the store's trust table, one row, no key; ``"command"``, a maintainer runs ``prov trust
    revoke`` (the key was stolen). ``check v3 --base v2``."""
    import sqlite3

    from test_fix33b_others_relabels import _relabel_check

    report = _relabel_check(prov, [130])
    if revoked is None:
        return report
    if revoked == "row":
        with sqlite3.connect(".prov/prov.db") as db:
            db.execute("update trust set revoked_at = '2026-12-05T00:00:00+00:00' where source = 'vendor'")
    else:
        ok(prov, "trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINS)
    return check_report(prov, "v3", "v2", *PINS)


def test_control_the_vendors_flip_of_the_teams_record_blocks(prov, workdir, store):
    report = _flip_then_revoke_own_key(prov, revoked=None)
    assert report["exit_code"] == 1 and blocking_rules(report) == [OTHERS], blocking_rules(report)


# A33c-6 (medium, fixed by fix33g): relabels.max_relabels_of_others_records counted a relabel only while the
# candidate's lineage, re-judged under the pins, was `attested`; a revocation (honoured wherever found, a trust row's
# revoked_at included) turned the vendor's signed relabel into an unattributed one, and the vendor's flip of the team's
# record passed, exit 0, once one unsigned row said the vendor's own key was revoked (an honest `prov trust revoke` of
# a stolen key did the same for the thief's flips). The rule now reads who signed the relabel from the candidate's
# signed lineage, whatever the key's standing now, and the detail says the key is revoked.
@pytest.mark.parametrize("revoked", ["row", "command"])
def test_the_vendors_flip_still_blocks_after_its_key_is_revoked(prov, workdir, store, revoked):
    report = _flip_then_revoke_own_key(prov, revoked=revoked)
    assert report["summary"]["relabeled"] == 1, report["summary"]
    assert report["exit_code"] == 1 and OTHERS in blocking_rules(report), blocking_rules(report)
    (record,) = next(x for x in report["rules"] if x["rule"] == OTHERS)["records"]
    assert record["detail"] == (
        "base label 'Chinstrap'; the base's lineage gives it to no source; signed by source 'vendor', whose key is revoked"
    ), record
