"""Records a ``prov quarantine --findings`` cut may not come back unnoticed (attack review 7b, finding 3).

The maintainer cuts v2's flagged records (``--findings``) into v2q. The data writer puts them back on top of
the quarantine; checked against a base that still holds them (a release that shipped them, say with waivers),
they are in no delta, so no detector sees them, and only ``--source`` quarantines' removed records were
remembered: the check passed. ``lineage.block_quarantined_sources`` now remembers what signed findings
quarantines removed too (recomputed: the quarantine's signed parent minus the quarantine); a reviewer's waiver
of the combined verdict on the candidate lets a record back.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from support import check_rules, ok

PINNED = ("--signer", "maintainer.pub")
RULE = "lineage.block_quarantined_sources"


def test_records_a_findings_quarantine_cut_block_when_put_back(prov, template_trust, workdir):
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    r = prov("quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
             "--key", "maintainer.key", "--json", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    cut = json.loads(r.stdout)["removed"]
    assert 0 < cut <= 20, cut
    assert check_rules(prov, "v2q", "v2", *PINNED)[RULE]["status"] == "pass"

    # the data writer puts v2's data back, flagged records and all, as the next version on top of the quarantine
    ok(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v4", "v2", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == cut, rule  # passed before: in no delta against v2
    assert f"{cut} of them removed by a signed `prov quarantine --findings`" in rule["reason"], rule
    assert {r["detail"] for r in rule["records"]} == {
        "removed by v2q, the signed quarantine of the records the detectors flagged in v2"
    }
    assert check_rules(prov, "v4", "v2q", *PINNED)[RULE]["status"] == "block"  # and as additions, against v2q

    # the way back is a reviewer's signed decision: a waiver of each record's combined verdict on v4
    for record in rule["records"]:
        ok(prov, "waive", record["digest"], "--version", "v4", "--detector", "combined", "--reason", "reviewed",
           "--key", "maintainer.key", *PINNED)  # fmt: skip
    rule = check_rules(prov, "v4", "v2", *PINNED)[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule

    # attack review 8, A5: the next release keeps them (in its base, in no delta); the waivers on v4, a release
    # after the quarantine in its signed history, still let them back (they blocked until waived again)
    ok(prov, "commit", "v2.parquet", "--tag", "v5", "--parent", "v4", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v5", "v4", *PINNED)[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule
    # but not on a release that does not descend from v4: there nobody let them back
    ok(prov, "commit", "v2.parquet", "--tag", "v6", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v6", "v2q", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == cut, rule


def test_near_copies_of_records_a_findings_quarantine_cut_block_until_waived(prov, template_trust, workdir):
    """The cut records come back each nudged by one pixel: new content, so no digest matches; they are within
    the base's tight radius of the records the quarantine removed and block as copies of them, until a
    reviewer waives each copy's combined verdict on the candidate."""
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    ok(prov, "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
       "--key", "maintainer.key", *PINNED)  # fmt: skip
    v2, v2q = pq.read_table("v2.parquet"), pq.read_table("v2q.parquet")
    cut = v2.join(v2q, v2.column_names, join_type="left anti")
    assert 0 < cut.num_rows <= 20, cut.num_rows
    nudged = cut.set_column(cut.schema.get_field_index("px10"), "px10", pc.add(cut.column("px10"), 1))
    pq.write_table(nudged, "nudged.parquet")
    ok(prov, "add", "nudged.parquet", "--source", "crowd2", "--unsigned", *PINNED)
    pq.write_table(pa.concat_tables([v2q, nudged]), "v5.parquet")
    ok(prov, "commit", "v5.parquet", "--tag", "v5", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v5", "v2q", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == cut.num_rows, rule  # passed before: new digests
    assert f"{cut.num_rows} of them near copies of records a signed quarantine removed" in rule["reason"], rule
    _near_check_and_detectors_featurise_once(workdir, "v2q", "v5")
    assert all(
        "the signed quarantine of the records the detectors flagged in v2" in r["detail"] for r in rule["records"]
    )
    for record in rule["records"]:
        ok(prov, "waive", record["digest"], "--version", "v5", "--detector", "combined", "--reason", "reviewed",
           "--key", "maintainer.key", *PINNED)  # fmt: skip
    rule = check_rules(prov, "v5", "v2q", *PINNED)[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule


def _near_check_and_detectors_featurise_once(workdir, base: str, new: str) -> None:
    """The near-copy check and the detectors read and featurise the delta once (GateContext.delta_features; the
    check featurised the added records a second time): the detectors' verdicts on those features are the ones
    they reach featurising on their own, and the near check's features are the added records' own."""
    import numpy as np

    from provenance.detectors.pipeline import detect_diff
    from provenance.gate.context import GateContext
    from provenance.gate.quarantine_near import near_returned
    from provenance.profiles.featurize import delta_features
    from provenance.store import Store
    from provenance.trust.pins import Pins
    from provenance.version_facts import read_version_records

    store = Store.open(workdir, pins=Pins.load([workdir / "maintainer.pub"]))
    ctx = GateContext(store, base, new)
    near = near_returned(ctx, None)
    assert near.digests and ctx.computed("delta_features")
    rows = ctx.delta_rows
    added = [i for i, kind in enumerate(rows.kinds) if kind == "added"]
    records, kind = read_version_records(
        store, new, [rows.locators[i] for i in added], [rows.digests[i] for i in added]
    )
    assert np.array_equal(ctx.delta_features[added], delta_features(ctx.base_profile, kind, records))
    shared = ctx.detection(("knn_label", "outlier", "gradient", "duplicates"), 0.01).detection
    alone = detect_diff(store, base, new, ctx.diff.delta, ["knn_label", "outlier", "gradient", "duplicates"], 0.01)
    assert shared is not None and shared.labels == alone.labels
    assert [(v.digest, v.flagged, v.score) for v in shared.verdicts.records] == [
        (v.digest, v.flagged, v.score) for v in alone.verdicts.records
    ]
    store.close()


def test_a_waiver_on_an_ancestor_lets_back_its_row_not_the_label_the_quarantine_cut(prov, template_trust, workdir):
    # attack review 9, T1: a waiver carried from an ancestor release is by (digest, label) as it stood there
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    ok(prov, "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
       "--key", "maintainer.key", *PINNED)  # fmt: skip
    v2, v2q = pq.read_table(workdir / "v2.parquet"), pq.read_table(workdir / "v2q.parquet")
    kept = {tuple(sorted(r.items())) for r in v2q.to_pylist()}
    cut = [i for i, r in enumerate(v2.to_pylist()) if tuple(sorted(r.items())) not in kept]
    row = v2.slice(cut[0], 1)
    label = row.column("label")[0].as_py()
    other = next(x for x in pc.unique(v2.column("label")).to_pylist() if x != label)
    fixed = row.set_column(row.column_names.index("label"), "label", pa.array([other], row.schema.field("label").type))
    # a reviewer lets the cut record back with its label corrected, and waives it on that release
    pq.write_table(pa.concat_tables([v2q, fixed]), workdir / "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v4", "v2q", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == 1, rule
    ok(prov, "waive", rule["records"][0]["digest"], "--version", "v4", "--detector", "combined", "--reason",
       "label corrected", "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert check_rules(prov, "v4", "v2q", *PINNED)[RULE]["status"] == "pass"
    # the next release keeps the corrected row: the waiver on v4 still lets it back
    ok(prov, "commit", "v4.parquet", "--tag", "v5", "--parent", "v4", "--key", "maintainer.key", *PINNED)
    assert check_rules(prov, "v5", "v4", *PINNED)[RULE]["status"] == "pass"
    # a release that sets its label back to the one the quarantine cut is not waived (it passed: same digest)
    pq.write_table(pa.concat_tables([v2q, row]), workdir / "v6.parquet")
    ok(prov, "commit", "v6.parquet", "--tag", "v6", "--parent", "v4", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v6", "v4", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == 1, rule


def test_a_waiver_lets_back_one_row_of_a_digest_the_candidate_holds_under_two_labels(prov, template_trust, workdir):
    """Attack review 9b, T9b-1: the candidate holds a record a findings quarantine cut twice, with its label
    corrected and with the label the quarantine cut; one digest waiver ("the corrected one") let both back, and
    later releases carried both. `prov waive` now asks which row (`--label`), and the waiver lets back that row."""
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    ok(prov, "quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
       "--key", "maintainer.key", *PINNED)  # fmt: skip
    v2, v2q = pq.read_table(workdir / "v2.parquet"), pq.read_table(workdir / "v2q.parquet")
    kept = {tuple(sorted(r.items())) for r in v2q.to_pylist()}
    row = v2.slice(next(i for i, r in enumerate(v2.to_pylist()) if tuple(sorted(r.items())) not in kept), 1)
    label = row.column("label")[0].as_py()
    other = next(x for x in pc.unique(v2.column("label")).to_pylist() if x != label)
    fixed = row.set_column(row.column_names.index("label"), "label", pa.array([other], row.schema.field("label").type))
    pq.write_table(pa.concat_tables([v2q, fixed, row]), workdir / "v4.parquet")
    ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v4", "v2q", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == 2, rule
    digest = rule["records"][0]["digest"]
    waive = ("waive", digest, "--version", "v4", "--detector", "combined", "--reason", "label corrected",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    refused = prov(*waive)
    assert refused.exit_code == 2 and "--label" in refused.stderr and repr(label) in refused.stderr, refused.output
    # a waiver made before waivers named labels (digest only) cannot say which row: ignored, and says so
    from provenance import keys, signing
    from provenance.gate.waivers import PREDICATE_TYPE
    from provenance.store import Store

    root = Store.open().version("v4")["merkle_root"]
    predicate = {"version": "v4", "merkleRoot": root, "digest": digest, "detector": "combined", "reason": "old",
                 "reviewer": "0" * 64, "createdAt": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    statement = {"_type": signing.STATEMENT_TYPE, "subject": [{"name": f"v4:{digest}", "digest": {"sha256": digest}}],
                 "predicateType": PREDICATE_TYPE, "predicate": predicate}  # fmt: skip
    (workdir / "old.json").write_bytes(
        signing.canonical_json(signing.sign(statement, keys.load_private(workdir / "maintainer.key")))
    )
    r = prov("check", "v4", "--base", "v2q", "--format", "json", "--waiver", "old.json", *PINNED)
    report = json.loads(r.stdout)
    assert report["waivers"]["honoured"] == [] and "--label" in report["waivers"]["ignored"][0]["why"], report[
        "waivers"
    ]
    assert {x["rule"]: x for x in report["rules"]}[RULE]["count"] == 2
    wrong = prov(*waive, "--label", "no such label")
    assert wrong.exit_code == 2 and "--label 'no such label'" in wrong.stderr, wrong.output
    ok(prov, *waive, "--label", other)
    rule = check_rules(prov, "v4", "v2q", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == 1, rule  # the row the quarantine cut still blocks
    assert [(r["digest"], r.get("label")) for r in rule["records"]] == [(digest, label)], rule["records"]
    # and the next release carries the waived row only
    ok(prov, "commit", "v4.parquet", "--tag", "v5", "--parent", "v4", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v5", "v4", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == 1, rule


def test_a_check_json_quarantine_says_which_flagged_records_it_kept(prov, template_trust, workdir):
    """Newcomer review 10, finding 21: given a check JSON (the README names only diff's), the quarantine cut one
    record fewer than it said were flagged, silently: the waived record a check JSON does not list. It is kept,
    and a note names it."""
    diff = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json", *PINNED).stdout)
    flagged = sorted(f["digest"] for f in diff["findings"] if f["flagged"])
    assert len(flagged) >= 2, flagged
    waived = flagged[0]
    ok(prov, "waive", waived[:8], "--version", "v2", "--detector", "combined", "--reason", "reviewed",
       "--key", "maintainer.key", *PINNED)  # fmt: skip
    prov("check", "v2", "--base", "v1", "--format", "json", "--out", "c2.json", *PINNED)
    listed = {f["digest"] for f in json.loads(open("c2.json").read())["findings"]}  # each one flagged
    assert waived not in listed and len(listed) == len(flagged) - 1
    r = prov("quarantine", "--from", "v2", "--findings", "c2.json", "--tag", "v2q", "--out", "v2q.parquet",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (
        f"Note: {len(listed)} of the {len(flagged)} records the re-run flags are listed in c2.json and cut; "
        f"1 it does not list is kept: {waived[:12]} (for example a record a reviewer waived, which a check JSON "
        "leaves out)\n"
    ) in r.stderr
    assert f"{len(listed)} records removed" in r.stdout
