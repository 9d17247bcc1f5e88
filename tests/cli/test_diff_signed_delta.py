"""``prov diff PARENT CHILD`` reads the child's signed delta object instead of merging both manifests.

Reference equality: on real stores the delta path's reports (every format, with and without
``--detect``) and stored findings are byte for byte the merge path's (``PROV_DIFF_MERGE=1``).
A ``.prov/`` writer who deletes, swaps or edits the object gets exit 1; a committer whose key
signed a wrong delta is caught by ``prov verify`` and ``prov fsck``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.delta import signed_delta
from provenance.delta.compare import signed_delta_of
from provenance.delta.sides import version_side
from provenance.store import Store
from provenance.version_facts import verified_statement

MERGE = {"PROV_DIFF_MERGE": "1"}


def _same_both_ways(prov, *args: str):
    """Run ``prov diff ARGS`` on the signed delta, then merging the manifests: same exit, same bytes."""
    fast = prov("diff", *args)
    merged = prov("diff", *args, env=MERGE)
    assert (fast.exit_code, fast.stdout, fast.stderr) == (merged.exit_code, merged.stdout, merged.stderr)
    return fast


def _takes_the_delta(base: str, new: str) -> bool:
    store = Store(".prov")
    return signed_delta_of(store, version_side(store, base), version_side(store, new)) is not None


def _delta_path(tag: str) -> Path:
    store = Store(".prov")
    return store.objects.path(verified_statement(store, store.version(tag))["predicate"]["delta"]["sha256"])


@pytest.mark.parametrize("fmt", ["json", "text", "md", "html"])
@pytest.mark.parametrize("pair", [("v1", "v2"), ("v2", "v3")])
def test_the_delta_path_reports_what_the_merge_reports(prov, three_versions, fmt, pair):
    assert _takes_the_delta(*pair)
    assert _same_both_ways(prov, *pair, "--format", fmt).exit_code == 0


def test_listed_records_and_detection_are_the_same_both_ways(prov, three_versions):
    # a cut listing (--limit) is the merge's own cut; --detect scores the same rows
    assert json.loads(_same_both_ways(prov, "v2", "v3", "--limit", "3", "--format", "json").stdout)["changes"]
    r = _same_both_ways(prov, "v2", "v3", "--detect", "--no-save", "--format", "json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["findings"]) > 0


def test_stored_findings_are_the_same_both_ways(prov, three_versions):
    assert prov("diff", "v2", "v3", "--detect", "--format", "json").exit_code == 0
    assert prov("diff", "v2", "v3", "--detect", "--format", "json", env=MERGE).exit_code == 0
    with sqlite3.connect(".prov/prov.db") as db:
        names = [json.loads(d)["findings"] for (d,) in db.execute("select detail from audit where action = 'detect'")]
    store = Store(".prov")
    saved = [json.loads(store.objects.get(name)) for name in names]
    for document in saved:  # each run has its own random id and time
        assert document.pop("run")
        for detector in document["detectors"]:
            assert detector.pop("run") and detector.pop("created_at")
    assert len(saved) == 2 and saved[0] == saved[1] and saved[0]["findings"]


def test_each_child_signs_its_delta_against_its_parent(prov, three_versions):
    store = Store(".prov")
    pred = verified_statement(store, store.version("v3"))["predicate"]
    v2 = store.version("v2")
    assert pred["delta"]["parent"] == {"version": "v2", "merkleRoot": v2["merkle_root"]}
    assert (pred["delta"]["added"], pred["delta"]["removed"], pred["delta"]["relabeled"]) == (260, 30, 26)
    assert "delta" not in verified_statement(store, store.version("v1"))["predicate"]
    # not its parent: the diff merges both manifests, as before
    assert not _takes_the_delta("v1", "v3") and not _takes_the_delta("v3", "v2")
    assert _same_both_ways(prov, "v1", "v3", "--format", "json").exit_code == 0
    r = prov("verify", "v3", "--no-data", "--store-keys", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["delta"] == "ok"
    assert json.loads(prov("verify", "v1", "--no-data", "--store-keys", "--json").stdout)["delta"] == "none"
    # the object is referenced (its commit entry names it): fsck is clean, gc keeps it
    fsck = json.loads(prov("fsck", "--json").stdout)
    assert fsck["status"] == "ok" and not fsck["warnings"], fsck
    assert prov("gc").exit_code == 0 and _delta_path("v3").is_file()


def test_the_demo_versions_report_the_same_both_ways(prov, demo):
    # adjacent pairs read their delta (a quarantine signs one too), records named by their lineage
    # batches' sources (v1 -> v2, the scraper's batch) included; v1 -> v3 is not adjacent, the
    # candidate adds more than half of it to v4, and v3 renames every record's source (removing 797
    # more: source changes count toward the bound, attack review 21b): all three sign none and merge
    pairs = [("v1", "v2"), ("v3", "v4"), ("r1", "rc1"), ("rc1", "rc2")]
    merging = [("v1", "v3"), ("v4", "candidate"), ("v2", "v3")]
    assert all(_takes_the_delta(*pair) for pair in pairs)
    assert not any(_takes_the_delta(*pair) for pair in merging)
    for pair in pairs + merging:
        for fmt in ("json", "text"):
            _same_both_ways(prov, *pair, "--detect", "--no-save", "--format", fmt)


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def test_a_file_tree_reports_the_same_both_ways(prov, workdir):
    Store.init(workdir).close()
    keys.generate(workdir / "alice")
    base = {f"{label}/{i}.bin": f"{label}-{i}".encode() for label in ("cat", "dog") for i in range(12)}
    _tree(workdir / "t1", base)
    changed = dict(base)
    del changed["cat/0.bin"]  # removed
    changed["dog/moved.bin"] = changed.pop("cat/1.bin")  # relabeled cat -> dog
    changed["cat/copy.bin"] = base["cat/2.bin"]  # a copy
    changed["c\u0430t/new.bin"] = b"lookalike label"  # added under a label that looks like "cat"
    changed["dog/new.bin"] = b"added"
    _tree(workdir / "t2", changed)
    for tag, folder in (("v1", "t1"), ("v2", "t2")):
        r = prov(
            "commit", folder, "--tag", tag, "--key", "alice.key", "--signer", "alice.pub", "--tree-reader", "files"
        )
        assert r.exit_code == 0, r.output
    assert _takes_the_delta("v1", "v2")
    summary = json.loads(_same_both_ways(prov, "v1", "v2", "--format", "json").stdout)["summary"]
    assert (summary["added"], summary["removed"], summary["relabeled"], summary["duplicates_added"]) == (2, 1, 1, 1)
    _same_both_ways(prov, "v1", "v2", "--format", "text")


# --- a .prov/ writer: exit 1, never a hidden change ---------------------------------------------


def _refused(prov, needle: str) -> None:
    r = prov("diff", "v2", "v3", "--format", "json")
    assert r.exit_code == 1, r.output
    assert "delta object of v3" in r.stderr and needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_a_deleted_delta_object_is_exit_1_naming_it(prov, three_versions):
    _delta_path("v3").unlink()
    _refused(prov, "missing")


def test_a_swapped_delta_object_is_exit_1(prov, three_versions):
    target = _delta_path("v3")
    target.write_bytes(_delta_path("v2").read_bytes())  # v2's genuine delta (against v1) under v3's name
    _refused(prov, "altered")


def test_an_edited_row_of_the_delta_object_is_exit_1(prov, three_versions):
    target = _delta_path("v3")
    table = pq.read_table(target)
    labels = table.column("label").to_pylist()
    labels[0] = (labels[0] + 1) % 3  # one added record shown under another label
    pq.write_table(
        table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.int32())), target
    )
    _refused(prov, "altered")


# --- a commit key that signed a wrong delta -------------------------------------------------------


def test_a_wrong_signed_delta_is_caught_by_verify_and_fsck(prov, three_versions, monkeypatch):
    honest = signed_delta.for_commit

    def hiding_a_relabel(*args):  # what a modified prov run by the key holder signs
        changes = signed_delta.merge_parent
        monkeypatch.setattr(signed_delta, "merge_parent", lambda *a: _drop_relabels(changes(*a)))
        try:
            return honest(*args)
        finally:
            monkeypatch.setattr(signed_delta, "merge_parent", changes)

    monkeypatch.setattr(signed_delta, "for_commit", hiding_a_relabel)
    t = pq.read_table("v3.parquet")
    labels = t.column("label").to_pylist()
    labels[5] = "9" if labels[5] != "9" else "8"
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), "v4.parquet")
    r = prov(
        "commit",
        "v4.parquet",
        "--tag",
        "v4",
        "--key",
        "alice.key",
        "--signer",
        "alice.pub",
        "--source-column",
        "source",
    )
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(signed_delta, "for_commit", honest)
    hidden = json.loads(prov("diff", "v3", "v4", "--format", "json").stdout)["summary"]["relabeled"]
    assert hidden == 0  # what the signed delta says: the key's signature is what the diff relies on
    assert json.loads(prov("diff", "v3", "v4", "--format", "json", env=MERGE).stdout)["summary"]["relabeled"] == 1
    r = prov("verify", "v4", "--no-data", "--store-keys")
    assert r.exit_code == 1 and "signed delta object differs from the delta recomputed" in r.stderr, r.output
    # the release gate verifies the candidate (the delta recomputed too) and blocks naming it
    r = prov("check", "v4", "--base", "v3", "--signer", "alice.pub", "--format", "json")
    check = json.loads(r.stdout)
    assert r.exit_code == 1 and check["decision"] == "blocked"
    assert any("signed delta object differs" in str(rule.get("reason")) for rule in check["rules"])
    r = prov("fsck", "--json")
    assert r.exit_code == 1
    assert any("signed delta object differs" in p["message"] for p in json.loads(r.stdout)["errors"]), r.stdout


def _drop_relabels(changes):
    changes.arrays.pop("relabeled", None)
    changes.examples["relabeled"] = []
    changes.relabel_pairs.clear()
    changes.relabeled_by_source.clear()
    return changes


def test_a_reparented_row_never_lends_its_delta_to_another_base(prov, three_versions):
    # sqlite3 on prov.db: v3's row now says its parent is v1, so `diff v1 v3` might read v3's delta against v2
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update versions set parent = 'v1' where tag = 'v3'")
    r = prov("diff", "v1", "v3", "--format", "json")
    assert r.exit_code == 1 and "v3" in r.stderr and r.stdout == "", r.output


def test_a_change_of_most_records_signs_no_delta_and_merges(prov, three_versions):
    t = pq.read_table("v3.parquet")
    labels = [str((int(v) + 1) % 10) if v.isdigit() else v for v in t.column("label").to_pylist()]
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), "v4.parquet")
    r = prov(
        "commit",
        "v4.parquet",
        "--tag",
        "v4",
        "--key",
        "alice.key",
        "--signer",
        "alice.pub",
        "--source-column",
        "source",
    )
    assert r.exit_code == 0, r.output
    store = Store(".prov")
    assert "delta" not in verified_statement(store, store.version("v4"))["predicate"]
    report = json.loads(prov("diff", "v3", "v4", "--format", "json").stdout)
    assert report["summary"]["relabeled"] >= 1200


def test_listing_every_record_merges(prov, three_versions):
    # --limit 0 lists every change: more than the delta object keeps, so the diff merges (same report)
    assert _takes_the_delta("v2", "v3")
    assert (
        len(
            json.loads(_same_both_ways(prov, "v2", "v3", "--limit", "0", "--format", "json").stdout)["changes"]["added"]
        )
        == 260
    )
