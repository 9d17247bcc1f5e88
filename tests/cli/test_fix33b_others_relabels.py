"""fix33b (attack review 32e, A32e-2): a source's signed relabel of a base record it never delivered counts against
``relabels.max_relabels_of_others_records`` (default 0), not only against its own relabel rate.

Whose record it is comes from the base's signed lineage re-judged under the pins: the vendor of
``test_newcomer31_schema_advice.penguins_v1_v2`` delivered penguins 200-299 (signed); penguins 0-199 are the team's
own (no signed batch). Replayed through the real CLI, keys and store.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer31_schema_advice import PINS, _penguins, penguins_v1_v2

from support import validate_output

RULE = "relabels.max_relabels_of_others_records"
OTHER = {"Adelie": "Chinstrap", "Chinstrap": "Gentoo", "Gentoo": "Adelie"}


def _relabelled(rows: list[int]) -> pa.Table:
    """Penguins ``rows`` unchanged, each under the next species (``OTHER``)."""
    table = _penguins(range(0, 300)).take(rows)
    labels = [OTHER[x] for x in table.column("label").to_pylist()]
    return table.set_column(table.column_names.index("label"), "label", pa.array(labels))


def _check(prov, *args: str) -> dict:
    """``prov check v3 --base v2``'s JSON report (schema-valid), its exit code as ``exit_code``."""
    r = prov("check", "v3", "--base", "v2", *PINS, "--no-save", "--format", "json", *args)
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    return report | {"exit_code": r.exit_code}


def _relabel_check(prov, rows: list[int], source: str = "vendor", *args: str) -> dict:
    """v1, v2 as ``penguins_v1_v2``; ``source`` (the vendor, or a second trusted source ``crowd``) signs penguins
    ``rows`` relabelled (``_relabelled``), the batch is added, and v3 is v2's rows without ``rows`` with the
    relabelled ones written last, committed under m.key. ``_check``'s report (``args`` passed on to it)."""
    penguins_v1_v2(prov)
    steps = [] if source == "vendor" else [("keys", "generate", source)]
    steps += [("trust", "add", source, f"{source}.pub", "--key", "m.key", *PINS)] if source != "vendor" else []
    pq.write_table(_relabelled(rows), "relabels.parquet")
    kept = _penguins(range(0, 300)).filter(pa.array([i not in rows for i in range(300)]))
    pq.write_table(pa.concat_tables([kept, _relabelled(rows)]), "v3.parquet")
    for args_ in (
        *steps,
        ("sign", "relabels.parquet", "--source", source, "--key", f"{source}.key"),
        ("add", "relabels.parquet", "--source", source, *PINS),
        ("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS),
    ):
        r = prov(*args_)
        assert r.exit_code == 0, (args_, r.output)
    return _check(prov, *args)


def _rule(report: dict) -> dict:
    return next(x for x in report["rules"] if x["rule"] == RULE)


def _blocking(report: dict) -> list[str]:
    return [x["rule"] for x in report["rules"] if x["status"] == "block"]


def test_the_vendors_relabel_of_the_teams_record_blocks_naming_its_base_label(prov, workdir, store):
    report = _relabel_check(prov, [130])
    rule = _rule(report)
    assert report["exit_code"] == 1 and _blocking(report) == [RULE], _blocking(report)
    assert rule["count"] == 1 and rule["allowed"] == 0, rule
    (record,) = rule["records"]
    assert record["label"] == "Gentoo" and record["source"] == "vendor", record
    assert record["detail"] == "base label 'Chinstrap'; the base's lineage gives it to no source", record
    assert rule["reason"].startswith(
        "1 record relabeled by a source (signed, registered unsigned or in no batch) where"
    ), rule


def test_control_the_vendor_relabelling_its_own_records_within_its_rate_passes(prov, workdir, store):
    # penguins 250 and 251 are the vendor's (signed in v2's lineage): its own correction, 2% of its records
    report = _relabel_check(prov, [250, 251])
    assert report["summary"]["relabeled"] == 2, report["summary"]
    assert report["exit_code"] == 0 and not _blocking(report), _blocking(report)
    assert _rule(report)["count"] == 0, _rule(report)


def test_another_signing_source_relabelling_the_vendors_record_blocks(prov, workdir, store):
    # a second trusted source flips one of the vendor's records: the signers disagree (conflicting labels), and the
    # record is not the crowd's to relabel
    report = _relabel_check(prov, [250], "crowd")
    assert report["exit_code"] == 1, report
    assert RULE in _blocking(report) and "lineage.max_conflicting_signed_labels" in _blocking(report), _blocking(report)
    (record,) = _rule(report)["records"]
    assert record["source"] == "crowd" and record["detail"].endswith("gives it to source 'vendor'"), record


def test_a_policy_bound_declares_a_relabelling_source(prov, workdir, store):
    with open("policy.toml", "w") as fh:
        fh.write("[relabels]\nmax_relabels_of_others_records = 1\n")
    report = _relabel_check(prov, [130], "vendor", "--policy", "policy.toml")
    assert report["exit_code"] == 0 and not _blocking(report), _blocking(report)
    rule = _rule(report)
    assert rule["status"] == "pass" and rule["count"] == 1 and rule["allowed"] == 1, rule


def test_a_waiver_of_the_reviewed_relabel_is_the_way_through(prov, workdir, store):
    report = _relabel_check(prov, [130])
    (record,) = _rule(report)["records"]
    waive = ("waive", record["digest"], "--version", "v3", "--detector", "combined", "--reason", "reviewed: a label")
    r = prov(*waive, "--key", "m.key", *PINS)
    assert r.exit_code == 0, r.output
    report = _check(prov)
    assert report["exit_code"] == 0 and _rule(report)["count"] == 0, _rule(report)


def test_the_teams_unsigned_relabel_of_its_own_record_is_not_counted(prov, workdir, store):
    # no source signs the new label: the relabel is nobody's signed act, judged by the rate and the detectors
    penguins_v1_v2(prov)
    table = _penguins(range(0, 300))
    labels = table.column("label").to_pylist()
    labels[130] = OTHER[labels[130]]
    pq.write_table(table.set_column(table.column_names.index("label"), "label", pa.array(labels)), "v3.parquet")
    assert prov("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0
    report = _check(prov)
    assert report["summary"]["relabeled"] == 1, report["summary"]
    assert report["exit_code"] == 0 and _rule(report)["count"] == 0, _blocking(report)
