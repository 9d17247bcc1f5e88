"""Issue 14 (fix32f): a base record nudged by a gram and relabelled, delivered as a new record under the pinned
vendor's signature, blocks whatever the budget.

fix32b's replay (tests/cli/test_attack32a_fixes_b.py): a penguins base, a delivery in which a base Chinstrap's body
mass moves 1 g, its label becomes Adelie and its row goes to the end. ``collision`` named the Chinstrap twin at
d=0.00, yet ``detectors.combined`` passed (one record on a base of 300: its "far beyond" count allows 1, the rate a
held-out pseudo-batch lands there being at least 1 / 271, above alpha 0.001) and ``detectors.extreme`` read no
evidence from collision; only ``lineage.unattributed_beside_signed`` blocked, because the record was unsigned. Signed
by the vendor (a stolen key, or a vendor that relabels), nothing blocked. A near-copy of a base record of another
class is now extreme evidence (``provenance.detectors.extreme.other_class_copy_p``), through the real CLI here.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer31_edit_in_place import _edited
from test_newcomer31_schema_advice import PINS, _penguins, penguins_v1_v2

from support import validate_output

ROW = 130  # a Chinstrap of v1 and v2 (no signed batch holds it)


def _nudged(label: str) -> pa.Table:
    """Base row ``ROW`` with its body mass 1 g more, labelled ``label``: one row."""
    table = _penguins(range(0, 300))
    edited = _edited(table, ROW, table.column("body_mass_g")[ROW].as_py() + 1)
    assert edited.column("label")[ROW].as_py() == "Chinstrap"
    one = edited.slice(ROW, 1)
    return one.set_column(one.column_names.index("label"), "label", pa.array([label]))


def _new_penguins(n: int) -> pa.Table:
    """``n`` penguins no base holds, drawn as ``_penguins`` draws its 300 (another seed)."""
    rng = np.random.default_rng(3232)
    return pa.table(
        {
            "bill_length_mm": rng.normal(44, 5, n).round(1) + 0.05,
            "flipper_length_mm": rng.normal(200, 14, n).round(0) + 0.5,
            "body_mass_g": rng.integers(2700, 6300, n).astype("int64"),
            "label": np.array(["Adelie", "Chinstrap", "Gentoo"])[np.arange(n) % 3],
        }
    )


def _signed_delivery_check(prov, delivery: pa.Table, replace: bool = True) -> dict:
    """v1, v2 as fix32b's replay (the vendor signs penguins 200-299); then the vendor signs ``delivery``, which is
    added, and v3 is v2's rows (row ``ROW`` removed when ``replace``: the edit's base record) with the delivery
    written last, committed under m.key. ``prov check v3 --base v2``'s JSON report (schema-valid)."""
    penguins_v1_v2(prov)
    pq.write_table(delivery, "vendor2.parquet")
    train = _penguins(range(0, 300))
    if replace:
        train = pa.concat_tables([train.slice(0, ROW), train.slice(ROW + 1)])
    pq.write_table(pa.concat_tables([train, delivery]), "v3.parquet")
    for args in (
        ("sign", "vendor2.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("add", "vendor2.parquet", "--source", "vendor", *PINS),
        ("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS),
    ):
        r = prov(*args)
        assert r.exit_code == 0, (args, r.output)
    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    report["exit_code"] = r.exit_code
    return report


def _rules(report: dict) -> dict[str, dict]:
    return {x["rule"]: x for x in report["rules"]}


def _blocking(report: dict) -> list[str]:
    return [x["rule"] for x in report["rules"] if x["status"] == "block"]


def test_a_signed_relabelled_one_gram_copy_blocks_on_its_own_evidence(prov, workdir, store):
    # the delivery, signed: every lineage rule passes (the vendor attests it); detectors.extreme blocks
    # the one record on collision's evidence and names its Chinstrap twin
    copy = _nudged("Adelie")
    report = _signed_delivery_check(prov, copy)
    rules = _rules(report)
    assert report["exit_code"] == 1 and _blocking(report) == [
        "relabels.max_relabels_of_others_records",
        "detectors.extreme",
    ], _blocking(report)
    assert rules["lineage.unattributed_beside_signed"]["status"] == "pass"
    extreme = rules["detectors.extreme"]
    (record,) = extreme["records"]
    assert record["label"] == "Adelie" and record["source"] == "vendor", record
    assert extreme["statistic"]["evidence"] == {"collision": 1}, extreme["statistic"]
    assert record["extreme_p"] <= extreme["statistic"]["p_threshold"] == 0.01, record
    reason = " ".join(extreme["reason"].split())
    assert reason.startswith("1 record blocks on its own evidence (collision's copy under another label: 1)"), reason
    explanation = " ".join(record["explanation"].split())
    assert explanation.startswith("blocks alone on collision's copy under another label (a near-copy of a base"), (
        explanation
    )
    assert "nearest other-class base record" in explanation and "label Chinstrap, d=0.00" in explanation, explanation


def test_the_copy_blocks_among_a_signed_delivery_of_honest_records(prov, workdir, store):
    # hidden among 60 new honest penguins of the vendor (alpha / n = 1.6e-4): that one record blocks, and only it
    delivery = pa.concat_tables([_new_penguins(60), _nudged("Adelie")])
    report = _signed_delivery_check(prov, delivery)
    extreme = _rules(report)["detectors.extreme"]
    assert report["exit_code"] == 1 and extreme["status"] == "block", extreme["reason"]
    (record,) = extreme["records"]
    assert record["label"] == "Adelie" and record["locator"] == str(299 + 60), record
    assert extreme["statistic"]["evidence"] == {"collision": 1}, extreme["statistic"]


def test_control_the_honest_delivery_alone_passes(prov, workdir, store):
    # the 60 honest penguins without the copy: nothing blocks (no record of theirs is extreme)
    report = _signed_delivery_check(prov, _new_penguins(60), replace=False)
    assert report["exit_code"] == 0 and not _blocking(report), _blocking(report)
    assert _rules(report)["detectors.extreme"]["statistic"]["evidence"] == {}


def test_control_a_one_gram_copy_under_its_own_label_is_no_relabel(prov, workdir, store):
    # the same nudged record still labelled Chinstrap is a near-duplicate, not a label flip: duplicates flags it, the
    # budget holds it (one flag in one record), and detectors.extreme has no evidence on it
    report = _signed_delivery_check(prov, _nudged("Chinstrap"))
    rules = _rules(report)
    assert report["exit_code"] == 0 and not _blocking(report), _blocking(report)
    assert rules["detectors.extreme"]["statistic"]["evidence"] == {}, rules["detectors.extreme"]
    assert rules["detectors.duplicates"]["count"] == 1, rules["detectors.duplicates"]


def test_a_waiver_of_the_reviewed_copy_is_the_way_through(prov, workdir, store):
    # the maintainer reviews the record (a corrected label after all) and waives it under the pinned key: the
    # check then passes (issue 14: a waiver is the way through)
    report = _signed_delivery_check(prov, _nudged("Adelie"))
    (record,) = _rules(report)["detectors.extreme"]["records"]
    waive = ("waive", record["digest"], "--version", "v3", "--detector", "combined", "--reason", "reviewed: a label")
    r = prov(*waive, "--key", "m.key", *PINS)
    assert r.exit_code == 0, r.output
    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json")
    assert r.exit_code == 0, r.output
    rules = _rules(json.loads(r.stdout))
    assert rules["detectors.extreme"]["status"] == "pass", rules["detectors.extreme"]
