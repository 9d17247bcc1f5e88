"""The advice for signed batches that disagree on a column's type (lineage.retyped.type_conflict_way and
type_conflict_step): the records shipped in a differing batch's place come back signed by its source, never
registered as one's own with --unsigned, which bound none of the labels the source signed (attack review 32d,
A32d-3)."""

from __future__ import annotations

from provenance.lineage.retyped import type_conflict_step, type_conflict_way

TWO = {"clinicA@aaaa": {"bp": "double"}, "clinicB@bbbb": {"bp": "double", "hr": "float"}}
KEEP = {"bp": "int64", "hr": "int32"}


def test_the_step_registers_the_source_signed_file_and_withdraws_each_differing_batch():
    what, command, after = type_conflict_step(TWO, "v1", "v2")
    assert "have the source sign the records you ship in the other batches' place" in what, what
    assert command == (
        "prov add FILE --source SOURCE && prov withdraw clinicA@aaaa --reason R --key K && "
        "prov withdraw clinicB@bbbb --reason R --key K && prov commit DATA --parent v2 --tag NEW --key K"
    )
    assert "--unsigned" not in command and "--unsigned instead would bind none" in after


def test_the_sentence_names_the_source_signing_and_never_offers_unsigned_registration():
    one = type_conflict_way({"clinicA@aaaa": {"bp": "double"}}, KEEP, "v1")
    assert (
        "have the source sign the records you ship in the other batch's place (on the source's side: prov sign" in one
    )
    assert "here: prov add FILE --source SOURCE), withdraw the other batch (prov withdraw clinicA@aaaa" in one, one
    assert "--source NAME --unsigned" not in one
    both = type_conflict_way(TWO, KEEP, "v1")
    assert "(bp: double in clinicA@aaaa; bp, hr: double/float in clinicB@bbbb; bp: int64, hr: int32 in v1's)" in both
    assert "withdraw the other batches (prov withdraw BATCH --reason R --key K, for each)" in both, both
