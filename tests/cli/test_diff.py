"""``prov diff`` on a real dataset (scikit-learn digits) with known planted changes.

The ``three_versions`` world (``tests/cli/conftest.py``) plants the changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq

from support import store_fingerprint

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "diff.schema.json").read_text())


def test_json_counts_are_exact_and_match_the_schema(prov, three_versions):
    r = prov("diff", "v2", "v3", "--format", "json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
    s = report["summary"]
    assert {
        k: s[k]
        for k in (
            "records_base",
            "records_new",
            "added",
            "added_rows",
            "removed",
            "removed_rows",
            "relabeled",
            "conflicting_labels",
            "conflicting_labels_base",
            "duplicates_added",
            "source_changed",
            "unchanged",
        )
    } == {
        "records_base": 1000,
        "records_new": 1000 - 30 + 200 + 60 + 1,
        "added": 260,
        "added_rows": 260,
        "removed": 30,
        "removed_rows": 30,
        "relabeled": 26,
        "conflicting_labels": 1,
        "conflicting_labels_base": 0,
        "duplicates_added": 1,
        "source_changed": 25,
        "unchanged": 1000 - 30 - 26,
    }
    by_source = {r["source"]: r for r in report["by_source"]}
    assert {k: (v["added"], v["removed"], v["relabeled"]) for k, v in by_source.items()} == {
        "vendor-a": (200, 30, 0),
        "vendor-b": (0, 0, 1),
        "crowd-x": (60, 0, 25),
    }
    pairs = {(p["old"], p["new"]): p["count"] for p in report["relabel_pairs"]}
    old = three_versions["old_conflict_label"]
    assert pairs == {("1", "7"): 25, (old, "|".join(sorted([old, three_versions["other"]]))): 1}
    by_class = {c["label"]: c for c in report["by_class"]}
    assert (
        by_class["3"]["added"] >= 60 and by_class["1"]["relabeled_from"] == 25 and by_class["7"]["relabeled_to"] == 25
    )
    assert sum(c["added"] for c in by_class.values()) == 260
    assert sum(c["removed"] for c in by_class.values()) == 30
    # every listed relabel is one of the planted ones, with old -> new
    assert len(report["changes"]["relabeled"]) == 26
    assert {tuple(c["old_labels"]) + tuple(c["new_labels"]) for c in report["changes"]["relabeled"]} >= {("1", "7")}
    assert report["changes"]["conflicting"][0]["labels"] == sorted([old, three_versions["other"]])
    # the suspicious source comes first, with the signals that caught it
    assert report["by_source"][0]["source"] == "crowd-x"
    assert {"class_mix_shift", "relabel_rate"} <= set(report["by_source"][0]["flagged_signals"])
    assert report["summary"]["suspicious_sources"][0] == "crowd-x"
    flagged = {(g["name"], json.dumps(g["subject"], sort_keys=True)) for g in report["signals"] if g["flagged"]}
    assert ("relabel_pair", json.dumps({"new": "7", "old": "1"})) in flagged
    assert ("conflicting_labels", "null") in flagged
    # vendor-a delivered its usual 200: no volume jump; crowd-x is new, reported not flagged
    volume = [g for g in report["signals"] if g["name"] in ("source_volume_jump", "new_source")]
    assert {(g["name"], g["subject"]["source"], g["flagged"]) for g in volume} == {
        ("source_volume_jump", "vendor-a", False),
        ("new_source", "crowd-x", False),
    }
    for g in report["signals"]:
        assert g["statistic"]["test"] and g["explanation"]
    assert report["detect"] is False and report["findings"] == [] and report["detectors"] == []


def test_text_names_the_suspicious_source_first(prov, three_versions):
    r = prov("diff", "v2", "v3")
    assert r.exit_code == 0, r.output
    text = r.stdout
    verdict = " ".join(text.splitlines()[1:3])  # the verdict comes right after the title, before any table
    assert verdict.startswith("FLAGGED: ") and "suspicious sources: crowd-x (" in verdict
    positions = {s: text.find(s) for s in ("crowd-x", "vendor-a", "vendor-b")}
    assert positions["crowd-x"] < positions["vendor-a"] and positions["crowd-x"] < positions["vendor-b"]
    assert "26 relabeled" in text


def test_markdown_and_out_file(prov, workdir, three_versions):
    r = prov("diff", "v2", "v3", "--format", "md", "--out", "diff.md")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    md = (workdir / "diff.md").read_text()
    assert md.startswith("### ⚠️ prov diff `v2` → `v3`")
    assert "| records relabeled | 26 |" in md and "**crowd-x**" in md


def test_limit_keeps_counts_exact(prov, three_versions):
    report = json.loads(prov("diff", "v2", "v3", "--json", "--limit", "5").stdout)
    assert report["summary"]["added"] == 260 and len(report["changes"]["added"]) == 5
    assert report["changes"]["truncated"]["added"] is True and report["changes"]["truncated"]["removed"] is True


def test_identical_content_gives_an_empty_diff(prov, workdir, keypair, three_versions):
    r = prov(
        "commit",
        "v3.parquet",
        "--tag",
        "v3-again",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--source-column",
        "source",
    )
    assert r.exit_code == 0
    s = json.loads(prov("diff", "v3", "v3-again", "--json").stdout)["summary"]
    assert (s["added"], s["removed"], s["relabeled"], s["signals_flagged"]) == (0, 0, 0, 0)


# --- bad input: one line, the documented exit code, nothing written ---------------------


def _fails(prov, workdir, args, code, *needles):
    before = store_fingerprint(workdir / ".prov")
    r = prov("diff", *args, "--out", "report.json", "--format", "json")
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    for n in needles:
        assert n in lines[0]
    assert not (workdir / "report.json").exists()
    assert store_fingerprint(workdir / ".prov") == before
    return lines[0]


def test_unknown_version(prov, workdir, three_versions):
    # newcomer review 8, finding 16: the name typed first, as README's `Error: <file or version>: ...`,
    # not the store's absolute path; and the close match
    line = _fails(prov, workdir, ["v2", "v33"], 2)
    assert line == "Error: v33: no such version in .prov (did you mean 'v3'?); known: v1, v2, v3"


def test_missing_manifest_object(prov, workdir, store, three_versions):
    path = store.objects.path(store.version("v3")["manifest_object"])
    path.unlink()
    # v3 against v2 reads v3's signed delta object instead (test_diff_signed_delta); the other way round merges
    _fails(prov, workdir, ["v3", "v2"], 1, "manifest of v3", "missing")


def test_altered_manifest_object(prov, workdir, store, three_versions):
    path = store.objects.path(store.version("v2")["manifest_object"])
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    _fails(prov, workdir, ["v3", "v2"], 1, "manifest of v2", "altered")


def test_a_dropped_column_is_one_schema_change(prov, workdir, keypair, three_versions):
    # was: refused as "different datasets"; a schema change is reported once instead (issue 13)
    t = pq.read_table(workdir / "v3.parquet").drop(["px00"])
    pq.write_table(t, workdir / "other.parquet")
    r = prov(
        "commit",
        "other.parquet",
        "--tag",
        "other",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--source-column",
        "source",
    )
    assert r.exit_code == 0
    s = json.loads(prov("diff", "v3", "other", "--json").stdout)["summary"]
    assert s["schema_changes"] == ["column 'px00' removed (was int64)"]
    # since fix32h the re-keyed records pair with their base records by content on the shared columns: every
    # distinct record (the base holds one twice) is re-keyed, nothing added or removed
    assert s["rekeyed_by"] == "content" and s["rekeyed"] == s["digests_new"] == s["digests_base"]
    assert (s["added"], s["removed"], s["relabeled"]) == (0, 0, 0)


def test_records_of_another_kind_cannot_be_diffed(prov, workdir, keypair, three_versions):
    (workdir / "tree" / "cat").mkdir(parents=True)
    (workdir / "tree" / "cat" / "a.bin").write_bytes(b"x")
    r = prov(
        "commit",
        "tree",
        "--tag",
        "tree",
        "--key",
        keypair.private_path,
        "--signer",
        keypair.public_path,
        "--tree-reader",
        "files",
    )
    assert r.exit_code == 0, r.output
    _fails(prov, workdir, ["v3", "tree"], 2, "different datasets", "record kind")


def test_detect_needs_prov_versions_not_git_revisions(prov, workdir, three_versions):
    r = prov("diff", "HEAD~1", "HEAD", "--path", "v3.parquet", "--detect")
    assert r.exit_code == 2 and "--detect works on prov versions" in r.stderr


def test_unknown_format(prov, workdir, three_versions):
    r = prov("diff", "v2", "v3", "--format", "sarif")
    assert r.exit_code == 2 and "--format 'sarif'" in r.stderr
