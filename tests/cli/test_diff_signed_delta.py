"""``prov diff PARENT CHILD`` reads the child's signed delta object instead of merging both manifests.

Reference equality: on real stores the delta path's reports (every format, with and without
``--detect``) and stored findings are byte for byte the merge path's (``PROV_DIFF_MERGE=1``);
``--detect`` on a table scores the content the object keeps (``delta_content``), not the data file.
A ``.prov/`` writer who deletes, swaps or edits the object gets exit 1; a committer whose key
signed a wrong delta (or content that is not the record) is caught by ``prov diff --detect``,
``prov verify`` and ``prov fsck``.
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
from support import DIFF_MERGE, commit_v3_as_v4, commit_v4, delta_object_path, diff_both_ways, drop_relabels


def _same_both_ways(prov, *args: str):
    """Run ``prov diff ARGS`` on the signed delta, then merging the manifests: same exit, same bytes."""
    fast, merged = diff_both_ways(prov, *args)
    assert (fast.exit_code, fast.stdout, fast.stderr) == (merged.exit_code, merged.stdout, merged.stderr)
    return fast


def _takes_the_delta(base: str, new: str) -> bool:
    store = Store(".prov")
    return signed_delta_of(store, version_side(store, base), version_side(store, new)) is not None


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
    assert prov("diff", "v2", "v3", "--detect", "--format", "json", env=DIFF_MERGE).exit_code == 0
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
    assert prov("gc").exit_code == 0 and delta_object_path("v3").is_file()


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
    assert _content_part("v2")[1]["content"] is None  # a tree's changed files are re-read (already O(change))
    summary = json.loads(_same_both_ways(prov, "v1", "v2", "--format", "json").stdout)["summary"]
    assert (summary["added"], summary["removed"], summary["relabeled"], summary["duplicates_added"]) == (2, 1, 1, 1)
    _same_both_ways(prov, "v1", "v2", "--format", "text")


def _typed(n: int, seed: int) -> pa.Table:
    """A table of the column types the suite's tables use: float32, int32, float64, a dictionary-encoded
    categorical, large_string text, and timestamps with and without a zone."""
    import numpy as np

    r = np.random.default_rng(seed)
    return pa.table(
        {
            "x": pa.array(r.normal(size=n), pa.float32()),
            "k": pa.array(r.integers(0, 50, n), pa.int32()),
            "y": pa.array(r.normal(size=n)),
            "cat": pa.array(r.choice(["red", "green", "blue"], n)).dictionary_encode(),
            "note": pa.array([f"n{i}" for i in r.integers(0, 10**6, n)], pa.large_string()),
            "when": pa.array(r.integers(0, 10**12, n), pa.timestamp("ms", "UTC")),
            "ns": pa.array(r.integers(0, 10**15, n), pa.timestamp("ns")),
            "label": r.choice(["a", "b"], n).tolist(),
            "source": ["s1"] * n,
        }
    )


@pytest.mark.parametrize("form", ["parquet", "csv"])
def test_a_table_of_many_column_types_verifies_and_reports_the_same_both_ways(prov, workdir, form):
    # the content part holds each column as the plain type its signed name allows (a dictionary decoded,
    # large_string as string; a CSV's seconds timestamp reads back from Parquet in milliseconds): honest
    # objects verify, and --detect on the delta path scores what the merge path scores
    Store.init(workdir).close()
    keys.generate(workdir / "alice")
    v1 = _typed(400, 1)
    tables = {"v1": v1, "v2": pa.concat_tables([v1, _typed(20, 2)])}
    schema: tuple[str, ...] = ()
    for tag, table in tables.items():
        if form == "parquet":
            pq.write_table(table, f"{tag}.{form}")
        else:
            import pyarrow.csv as pcsv

            seconds = pa.array(range(table.num_rows), pa.timestamp("s"))
            pcsv.write_csv(table.select(["x", "y", "label", "source"]).append_column("when", seconds), f"{tag}.csv")
            schema = ("--schema", "when:timestamp[s]")
        r = prov("commit", f"{tag}.{form}", "--tag", tag, "--key", "alice.key", "--signer", "alice.pub",
                 "--source-column", "source", *schema)  # fmt: skip
        assert r.exit_code == 0, r.output
    kept = pq.read_schema(delta_object_path("v2")).field("content").type
    assert not any(pa.types.is_dictionary(f.type) or pa.types.is_large_string(f.type) for f in kept)
    r = prov("verify", "v2", "--no-data", "--store-keys", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["delta"] == "ok", r.output
    assert json.loads(prov("fsck", "--json").stdout)["status"] == "ok"
    for fmt in ("json", "text"):
        assert _same_both_ways(prov, "v1", "v2", "--detect", "--no-save", "--format", fmt).exit_code == 0


# --- a .prov/ writer: exit 1, never a hidden change ---------------------------------------------


def _refused(prov, needle: str) -> None:
    r = prov("diff", "v2", "v3", "--format", "json")
    assert r.exit_code == 1, r.output
    assert "delta object of v3" in r.stderr and needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_a_deleted_delta_object_is_exit_1_naming_it(prov, three_versions):
    delta_object_path("v3").unlink()
    _refused(prov, "missing")


def test_a_swapped_delta_object_is_exit_1(prov, three_versions):
    target = delta_object_path("v3")
    target.write_bytes(delta_object_path("v2").read_bytes())  # v2's genuine delta (against v1) under v3's name
    _refused(prov, "altered")


def test_an_edited_row_of_the_delta_object_is_exit_1(prov, three_versions):
    target = delta_object_path("v3")
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
        monkeypatch.setattr(signed_delta, "merge_parent", lambda *a: drop_relabels(changes(*a)))
        try:
            return honest(*args)
        finally:
            monkeypatch.setattr(signed_delta, "merge_parent", changes)

    monkeypatch.setattr(signed_delta, "for_commit", hiding_a_relabel)
    commit_v3_as_v4(prov)
    monkeypatch.setattr(signed_delta, "for_commit", honest)
    hidden = json.loads(prov("diff", "v3", "v4", "--format", "json").stdout)["summary"]["relabeled"]
    assert hidden == 0  # what the signed delta says: the key's signature is what the diff relies on
    assert json.loads(prov("diff", "v3", "v4", "--format", "json", env=DIFF_MERGE).stdout)["summary"]["relabeled"] == 1
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
    r = commit_v4(prov)
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


# --- the content part: detection scores the signed rows, not the data file ------------------------


def _content_part(tag: str) -> tuple[pa.Table, dict]:
    path = delta_object_path(tag)
    table = pq.read_table(path)
    footer = json.loads(pq.read_schema(path).metadata[signed_delta.META_KEY])
    return table.filter(pa.compute.equal(table.column("part"), "content")), footer


def test_a_table_delta_keeps_the_scored_records_content(prov, three_versions):
    rows, footer = _content_part("v3")
    store = Store(".prov")
    columns = verified_statement(store, store.version("v3"))["predicate"]["schema"]["columns"]
    assert footer["content"] == {"columns": columns, "records": rows.num_rows}
    # one row per scored record, in detection's order, its content as v3.parquet holds it
    findings = json.loads(prov("diff", "v2", "v3", "--detect", "--no-save", "--format", "json").stdout)["findings"]
    assert rows.column("digest").to_pylist() == [bytes.fromhex(f["digest"]) for f in findings]
    data = pq.read_table("v3.parquet")
    first = int(rows.column("locator")[0].as_py())
    kept = rows.column("content")[0].as_py()
    assert kept == {c: data.column(c)[first].as_py() for c in columns}


def test_detection_reads_the_delta_not_the_data_file(prov, three_versions):
    # the data file of v3 is gone (moved on, or on another machine): the delta path scores the signed
    # content and reports what the merge reported while it was there; the merge path cannot re-read it
    before = prov("diff", "v2", "v3", "--detect", "--no-save", "--format", "json", env=DIFF_MERGE)
    assert before.exit_code == 0, before.output
    Path("v3.parquet").rename("elsewhere.parquet")
    fast = prov("diff", "v2", "v3", "--detect", "--no-save", "--format", "json")
    assert (fast.exit_code, fast.stdout) == (0, before.stdout)
    assert prov("diff", "v2", "v3", "--detect", "--no-save", "--format", "json", env=DIFF_MERGE).exit_code == 2


def test_a_delta_beyond_the_content_cap_re_reads_the_data(prov, three_versions, monkeypatch):
    from provenance.delta import delta_content

    monkeypatch.setattr(delta_content, "CONTENT_CAP", 0)  # v4's one added record is over it
    t = pq.read_table("v3.parquet")
    one = t.slice(0, 1)
    one = one.set_column(one.schema.get_field_index("px00"), "px00", pa.array([99], one.column("px00").type))
    pq.write_table(pa.concat_tables([t, one]), "v4.parquet")
    assert commit_v4(prov).exit_code == 0
    _, footer = _content_part("v4")
    assert footer["content"] is None
    assert _same_both_ways(prov, "v3", "v4", "--detect", "--no-save", "--format", "json").exit_code == 0
    assert prov("verify", "v4", "--no-data", "--store-keys").exit_code == 0  # no content part is sound


def test_an_edited_content_row_is_exit_1(prov, three_versions):
    # a .prov/ writer rewrites one pixel of a scored record: the object no longer hashes to its signed name
    target = delta_object_path("v3")
    table = pq.read_table(target)
    content = table.column("content").combine_chunks()
    at = len(content) - 1
    values = content.to_pylist()
    values[at] = {**values[at], "px00": values[at]["px00"] + 1}
    pq.write_table(
        table.set_column(table.schema.get_field_index("content"), "content", pa.array(values, content.type)), target
    )
    r = prov("diff", "v2", "v3", "--detect", "--format", "json")
    assert r.exit_code == 1 and "delta object of v3" in r.stderr and "altered" in r.stderr, r.output
    assert r.stdout == ""


def test_signed_content_that_is_not_the_record_is_exit_1(prov, three_versions, monkeypatch):
    # a commit-key holder's modified prov signs a delta whose content hides a trigger pixel of one
    # added record: the object is genuine, but its row does not hash to the record's signed digest
    from provenance.delta import delta_content

    honest = delta_content.read_content

    def laundered(*args):
        table = honest(*args)
        values = table.column("px63").to_pylist()
        values[0] = 0 if values[0] else 16
        return table.set_column(
            table.schema.get_field_index("px63"), "px63", pa.array(values, table.column("px63").type)
        )

    monkeypatch.setattr(delta_content, "read_content", laundered)
    t = pq.read_table("v3.parquet")
    px = t.column("px63").to_pylist()
    px[-1] = 16 - px[-1]  # an added record, so v4's delta scores it
    pq.write_table(
        t.set_column(t.schema.get_field_index("px63"), "px63", pa.array(px, t.column("px63").type)), "v4.parquet"
    )
    assert commit_v4(prov).exit_code == 0
    monkeypatch.setattr(delta_content, "read_content", honest)
    # the diff itself reads no content; detection re-hashes it and refuses, naming the object
    assert prov("diff", "v3", "v4", "--format", "json").exit_code == 0
    r = prov("diff", "v3", "v4", "--detect", "--no-save", "--format", "json")
    assert r.exit_code == 1 and r.stdout == "", r.output
    assert "delta object of v4" in r.stderr and "does not hash to its signed digest" in r.stderr, r.stderr
    # verify and fsck recompute the delta and re-hash its content too
    r = prov("verify", "v4", "--no-data", "--store-keys")
    assert r.exit_code == 1 and "does not hash to its signed digest" in r.stderr, r.output
    r = prov("fsck", "--json")
    assert r.exit_code == 1
    assert any("does not hash" in p["message"] for p in json.loads(r.stdout)["errors"]), r.stdout


def test_a_footer_naming_content_the_object_lacks_is_exit_1(prov, three_versions, monkeypatch):
    # a key holder's prov signs a delta whose footer says it keeps content, with no content column
    from provenance.delta import delta_content

    honest = delta_content.planned
    monkeypatch.setattr(delta_content, "planned", lambda *a: honest(*a[:-1], delta_content.LISTED))
    t = pq.read_table("v3.parquet")
    pq.write_table(pa.concat_tables([t, t.slice(0, 1).set_column(0, t.column_names[0], pa.array([99]))]), "v4.parquet")
    assert commit_v4(prov).exit_code == 0
    monkeypatch.setattr(delta_content, "planned", honest)
    assert _content_part("v4")[1]["content"]["records"] == 1
    r = prov("diff", "v3", "v4", "--detect", "--no-save", "--format", "json")
    assert r.exit_code == 1 and "delta object of v4" in r.stderr and "does not hold" in r.stderr, r.output
    r = prov("verify", "v4", "--no-data", "--store-keys")
    assert r.exit_code == 1 and "does not hold" in r.stderr, r.output
