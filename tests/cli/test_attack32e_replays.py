"""Attack review 32e: replays against session 32's last fixes (fix32f's near-copy of another class's base record,
fix32i's listed classes inside base classes, fix32h's records re-keyed by a dropped column, fix32j's signing advice).
A strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup is otherwise
right."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import Store
from provenance.encoding.columns import table_digests
from provenance.profiles.stage import load_profile
from support import commit_signed

# --- fix32f: a near-copy of a base record of another class blocks alone -------------------------------------------

BIG = 6600  # three classes of 2,200 records: each class's 200 with the largest salted keys are not in the sample
CONTENT = ("bill_length_mm", "body_mass_g", "flipper_length_mm")


def _big_penguins() -> pa.Table:
    """``BIG`` penguin-like rows (as test_newcomer31_schema_advice's, another seed), labels in turn."""
    rng = np.random.default_rng(3201)
    return pa.table(
        {
            "bill_length_mm": rng.normal(44, 5, BIG).round(1) + 0.05,
            "flipper_length_mm": rng.normal(200, 14, BIG).round(0) + 0.5,
            "body_mass_g": rng.integers(2700, 6300, BIG).astype("int64"),
            "label": np.array(["Adelie", "Chinstrap", "Gentoo"])[np.arange(BIG) % 3],
        }
    )


def _copy_check(prov, keypair, sampled: bool):
    """v1: the ``BIG`` penguins; v2: v1 plus one Chinstrap of v1 (the first one in (``sampled``) or out of v1's
    profile sample) with its body mass 1 g more, labelled Adelie: fix32f's replay on a base whose classes are larger
    than the profile's 2,000-record sample. ``prov check v2 --base v1``'s result and JSON report."""
    v1 = _big_penguins()
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    in_sample = {bytes(d) for d in load_profile(Store(".prov"), "v1").sample_digests}
    digests = table_digests(v1, CONTENT)
    labels = v1.column("label").to_pylist()
    row = next(i for i, d in enumerate(digests) if labels[i] == "Chinstrap" and (d in in_sample) == sampled)
    one = v1.slice(row, 1)
    copy = pa.table(
        {
            "bill_length_mm": one.column("bill_length_mm"),
            "flipper_length_mm": one.column("flipper_length_mm"),
            "body_mass_g": pa.array([one.column("body_mass_g")[0].as_py() + 1], pa.int64()),
            "label": pa.array(["Adelie"]),
        }
    )
    pq.write_table(pa.concat_tables([v1, copy]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    return r, json.loads(r.stdout)


def _blocking(report: dict) -> list[str]:
    return [x["rule"] for x in report["rules"] if x["status"] == "block"]


def test_control_a_relabelled_copy_of_a_sampled_base_record_blocks(prov, keypair, store):
    r, report = _copy_check(prov, keypair, sampled=True)
    assert r.exit_code == 1 and "detectors.extreme" in _blocking(report), _blocking(report)


# A32e-1 (high): extreme.other_class_copy_p measures a record's distance to the nearest base *sample* record of another
# class, and the sample is at most 2,000 records per class (8,000 in all). On a base whose classes are larger, a
# relabelled one-gram copy of a base record outside the sample is judged as any new record: here (3 x 2,200 base
# records) the check passes, exit 0, no rule blocks, while the same copy of a sampled record blocks on
# detectors.extreme. The salt hides which records are sampled, but an attacker needs no choice: on a class of 20,000
# records, nine copies in ten are out of it. Fix: look an added record's nearest base records of other classes up in
# the whole base (its features are read at commit: a signed nearest-copy index, e.g. quantised feature digests per
# class, or the full feature matrix for a base that fits), or at least bound the claim in docs/detection.md.
@pytest.mark.xfail(
    strict=True,
    reason="A32e-1 (high): a relabelled near-copy of a base record outside the profile sample is not extreme evidence",
)
def test_a_relabelled_copy_of_a_base_record_outside_the_sample_blocks(prov, keypair, store):
    r, report = _copy_check(prov, keypair, sampled=False)
    assert r.exit_code == 1 and "detectors.extreme" in _blocking(report), _blocking(report)


# --- fix32f: the same flip declared as a relabel ------------------------------------------------------------------


def _exact(label: str) -> pa.Table:
    """fix32f's row (a Chinstrap of v1 and v2 that no signed batch holds) unchanged, labelled ``label``: one row."""
    from test_fix32f_extreme_copies import ROW
    from test_newcomer31_schema_advice import _penguins

    one = _penguins(range(0, 300)).slice(ROW, 1)
    return one.set_column(one.column_names.index("label"), "label", pa.array([label]))


def test_control_the_vendors_one_gram_copy_under_another_label_blocks(prov, workdir, store):
    from test_fix32f_extreme_copies import _nudged, _signed_delivery_check

    report = _signed_delivery_check(prov, _nudged("Adelie"))
    assert report["exit_code"] == 1 and _blocking(report) == ["detectors.extreme"], _blocking(report)


# A32e-2 (medium): fix32f blocks a base record nudged by a gram and delivered under another label ("the label-flip attack
# dressed as a new delivery"), but the undressed flip passes: the vendor signs the same base record *unchanged* under
# the other label, v3 holds it so, and `prov check v3 --base v2` exits 0 (summary: relabeled 1; relabels.max_relabel_
# rate_per_source 0.99% of the vendor's 101 records, allowed 5%; detectors.relabels and detectors.extreme pass). The
# record is not the vendor's: v1's team delivered it and no signed batch held it, so a source flips labels of records
# it never delivered, up to 5% of its own count, where a one-gram nudge of the same record blocks alone. Fix: a relabel
# of a base record whose label the relabelling source never signed (another source's or an unattributed record) should
# take the same extreme evidence as its near-copy (collision's other-class copy at d=0: its base twin is itself), or
# count against a bound of its own (relabels of records of other sources), not the source's relabel rate.
@pytest.mark.xfail(
    strict=True,
    reason="A32e-2 (medium): a vendor's signed relabel of a record it never delivered passes where its one-gram copy blocks",
)
def test_the_vendors_signed_relabel_of_a_record_it_never_delivered_blocks(prov, workdir, store):
    from test_fix32f_extreme_copies import _signed_delivery_check

    report = _signed_delivery_check(prov, _exact("Adelie"))
    assert report["summary"]["relabeled"] == 1 and report["summary"]["added"] == 0, report["summary"]
    assert report["exit_code"] == 1, _blocking(report)
