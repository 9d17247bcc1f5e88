"""prov quarantine: cut a source out in one command; a failed quarantine changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import versions
from provenance.lineage import classify as lineage
from provenance.lineage.removed_rows import removed_records
from provenance.store import Store
from support import N_CROWD, N_VENDOR, World, store_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_quarantine_a_source(prov, committed: World):
    r = prov(
        "quarantine",
        "--from",
        "v1",
        "--source",
        "crowd",
        "--tag",
        "v2",
        "--key",
        committed.owner.private_path,
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "quarantine.schema.json").read_text())).validate(out)
    Draft202012Validator(json.loads((SCHEMAS / "commit.schema.json").read_text())).validate(out["commit"])
    assert (out["removed"], out["kept"], out["parent"]) == (N_CROWD, N_VENDOR, "v1")
    filtered = committed.root / "train.v2.parquet"
    assert out["output"] == str(filtered) and filtered.is_file()
    assert pq.read_table(filtered).num_rows == N_VENDOR
    assert pq.read_table(committed.root / "train.parquet").num_rows == N_VENDOR + N_CROWD  # original untouched

    store = Store.open(committed.root)
    table = lineage.version_lineage(store, "v2")
    assert table.num_rows == N_VENDOR and set(table.column("source").to_pylist()) == {"vendor"}
    assert set(table.column("status").to_pylist()) == {"attested"}
    pred = versions.verified_statement(store, store.version("v2"))["predicate"]
    kept_rows = pred["quarantine"].pop("removedRecords")  # the removed rows, kept for later checks' near copies
    assert pq.read_table(store.objects.path(kept_rows)).num_rows == N_CROWD
    assert pred["quarantine"] == {
        "from": "v1",
        "source": "crowd",
        "removed": N_CROWD,
        "kept": N_VENDOR,
        "output": str(filtered),
    }
    assert pred["parent"]["version"] == "v1"
    entry = store.db.execute("select subject, detail from audit where action = 'quarantine'").fetchone()
    assert entry[0] == "v2" and json.loads(entry[1])["source"] == "crowd"
    assert prov("verify", "--store-keys", "v2").exit_code == 0
    assert prov("audit", "verify", "--store-keys").exit_code == 0
    # prov show says what the quarantine cut out, from its signed facts (it did not say it was one)
    pinned = ("--signer", committed.owner.public_path)
    shown = prov("show", "v2", *pinned).stdout.splitlines()
    assert f"  quarantine of v1: source 'crowd' cut out, {N_CROWD} records removed, {N_VENDOR} kept" in shown
    report = json.loads(prov("show", "v2", "--json", *pinned).stdout)
    Draft202012Validator(json.loads((SCHEMAS / "show.schema.json").read_text())).validate(report)
    assert report["quarantine"] == {
        "from": "v1",
        "source": "crowd",
        "findings": None,
        "removed": N_CROWD,
        "kept": N_VENDOR,
        "kept_signed": {},
    }
    assert json.loads(prov("show", "v1", "--json", *pinned).stdout)["quarantine"] is None
    assert "quarantine of" not in prov("show", "v1", *pinned).stdout
    assert (
        "Quarantined source 'vendor': 120 records removed, 0 kept"
        in prov(
            "quarantine", "--from", "v2", "--source", "vendor", "--tag", "v3", "--key", committed.owner.private_path
        ).stdout
    )


def test_a_quarantine_that_lands_on_another_versions_records_says_so(prov, committed: World):
    """Newcomer review 8, finding 21: prov commit says "identical to V"; a quarantine landing back on a
    version's exact records did not."""
    key, pinned = committed.owner.private_path, ("--signer", committed.owner.public_path)
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key, *pinned)
    assert r.exit_code == 0 and "identical to" not in r.stdout
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v3", "--key", key, "--out", "again.parquet",
             *pinned)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == "  identical to v2 (same records and labels): the quarantine lands back on it"


def test_a_quarantine_out_named_csv_is_refused_and_changes_nothing(prov, committed: World):
    """Newcomer review 24: `--out v2.csv` wrote the Parquet copy under a .csv name and failed reading it back
    as CSV (`header is not UTF-8 text`); the name is refused before anything is written or signed."""
    key, pinned = committed.owner.private_path, ("--signer", committed.owner.public_path)
    before = store_fingerprint(committed.root / ".prov")
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key, "--out", "v2.csv",
             *pinned)  # fmt: skip
    assert r.exit_code == 2 and r.stderr == (
        "Error: v2.csv: the copy of a table is written as Parquet (every typed row, so every digest, kept), and a "
        ".csv name would be read back as another format; give a name ending in .parquet (v2.parquet)\n"
    ), r.stderr
    assert store_fingerprint(committed.root / ".prov") == before
    assert not list(Path.cwd().glob("*v2.csv*"))


def test_sources_and_lineage_say_where_a_source_was_quarantined(prov, committed: World):
    """Newcomer review 10, finding 23: after the quarantine, `prov sources` showed crowd with no mark and
    `prov lineage` said only "v2 absent"; both now name the signed quarantine."""
    key, pinned = committed.owner.private_path, ("--signer", committed.owner.public_path)
    assert prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", key, *pinned).exit_code == 0
    listed = prov("sources", "--version", "v1", *pinned)
    crowd = next(line for line in listed.stdout.splitlines() if line.startswith("crowd "))
    assert crowd.endswith("  (quarantined in v2)"), crowd
    assert "quarantined" not in next(line for line in listed.stdout.splitlines() if line.startswith("vendor "))
    report = json.loads(prov("sources", "--json", *pinned).stdout)
    Draft202012Validator(json.loads((SCHEMAS / "sources.schema.json").read_text())).validate(report)
    quarantined = {s["source"]: s["quarantined_in"] for s in report["sources"]}
    assert quarantined.pop("crowd") == ["v2"] and not any(quarantined.values()), quarantined

    store = Store.open(committed.root)
    table = lineage.version_lineage(store, "v1")
    crowd_digest = table.filter(pc.equal(table.column("source"), "crowd")).column("digest")[0].as_py().hex()
    shown = prov("lineage", crowd_digest[:10], *pinned).stdout.splitlines()
    assert f"  {'v2':<12} absent (source crowd quarantined)" in shown, shown
    info = json.loads(prov("lineage", crowd_digest, "--json", *pinned).stdout)
    Draft202012Validator(json.loads((SCHEMAS / "lineage.schema.json").read_text())).validate(info)
    assert {v["version"]: v["quarantined"] for v in info["versions"]} == {"v1": None, "v2": "source crowd"}


def test_quarantine_from_findings_needs_a_base_to_rerun_the_detectors_against(prov, committed: World):
    """A findings file is unsigned: the quarantine re-runs the detectors on the version against a base, and a
    hand-made file that names none is refused (the honest path, from a real run, a tampered file and flags
    planted in the store are replayed in tests/cli/test_missing_signed_batches.py)."""
    store = Store.open(committed.root)
    digests = lineage.version_lineage(store, "v1").column("digest").to_pylist()[:3]
    findings = committed.root / "findings.json"
    findings.write_text(
        json.dumps(
            {
                "findings": [
                    {"digest": d.hex(), "detector": "knn_label", "score": 0.9, "flagged": True, "explanation": "x"}
                    for d in digests
                ]
                + [{"digest": "ab" * 32, "detector": "x", "score": 0.1, "flagged": False, "explanation": ""}]
            }
        )
    )
    before = committed.prov_fingerprint()
    r = prov(
        "quarantine", "--from", "v1", "--findings", findings, "--tag", "v2", "--key", committed.owner.private_path
    )  # fmt: skip
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert f"{findings}: names no base version; pass --base BASE" in r.stderr
    assert committed.prov_fingerprint() == before


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--source", "nobody"], "v1: source 'nobody' has no records there (sources there: crowd, vendor)", 2),
        (["--source", "Crowd"], "v1: source 'Crowd' has no records there (did you mean 'crowd'?) (sources", 2),
        (["--source", "crowd", "--source-free"], None, 2),
        ([], "quarantine needs exactly one of --source S or --findings F", 2),
        (["--source", "crowd", "--tag-override", "v1"], None, 2),
    ],
)
def test_failed_quarantine_changes_nothing(prov, committed: World, args, message, code):
    before = committed.prov_fingerprint()
    files = sorted(p.name for p in committed.root.iterdir())
    r = prov("quarantine", "--from", "v1", "--tag", "v2", "--key", committed.owner.private_path, *args)
    assert r.exit_code == code
    if message:
        assert message in r.stderr and r.stderr.count("\n") == 1
    assert committed.prov_fingerprint() == before
    assert sorted(p.name for p in committed.root.iterdir()) == files


def test_quarantine_refuses_data_changed_since_signing(prov, committed: World):
    before = committed.prov_fingerprint()
    t = pq.read_table(committed.root / "train.parquet")
    pq.write_table(t.slice(1), committed.root / "train.parquet")
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", committed.owner.private_path)
    assert r.exit_code == 1 and "no longer matches its signed manifest" in r.stderr
    assert committed.prov_fingerprint() == before and not (committed.root / "train.v2.parquet").exists()


def test_quarantine_of_existing_tag_or_output(prov, committed: World):
    before = committed.prov_fingerprint()
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v1", "--key", committed.owner.private_path)
    assert r.exit_code == 2 and "v1: a version of that name already exists" in r.stderr
    (committed.root / "train.v2.parquet").write_bytes(b"x")
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", committed.owner.private_path)
    assert r.exit_code == 2 and "train.v2.parquet: already exists" in r.stderr
    assert committed.prov_fingerprint() == before


@pytest.mark.parametrize("dvc_project", [True, False])
def test_quarantine_in_a_dvc_project_says_to_track_the_new_file(prov, committed: World, dvc_project):
    # newcomer review 13, finding 6: the new file was left untracked, and a CI checkout could not read the version
    if dvc_project:
        dvc = str(Path(sys.executable).parent / "dvc")
        subprocess.run(
            [dvc, "init", "-q", "--no-scm"], cwd=committed.root, check=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"}
        )
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", "--key", committed.owner.private_path)
    assert r.exit_code == 0, r.output
    hint = (  # as typed here, with what git must commit beside it (newcomer review 17, F9)
        "  train.v2.parquet is new in this DVC project: track it as you share the store: dvc add train.v2.parquet && "
        "git add train.v2.parquet.dvc .gitignore && git commit -m 'v2: quarantine' && dvc push"
    )
    assert (hint in r.stdout.splitlines()) == dvc_project, r.stdout


def test_quarantine_a_file_tree(prov, world: World, tmp_path):
    root = world.root / "images"
    for i in range(6):
        (root / str(i % 2)).mkdir(parents=True, exist_ok=True)
        (root / str(i % 2) / f"img{i}.bin").write_bytes(bytes([i]) * 10)
    crowd = world.root / "crowd-images"
    (crowd / "1").mkdir(parents=True)
    (crowd / "1" / "img3.bin").write_bytes(bytes([3]) * 10)
    (crowd / "1" / "img5.bin").write_bytes(bytes([5]) * 10)
    assert prov("add", crowd, "--source", "crowd", "--unsigned", "--tree-reader", "files").exit_code == 0
    every_file = ["--tree-reader", "files"]  # .bin files, not images
    assert prov("commit", root, "--tag", "t1", "--key", world.owner.private_path, *every_file).exit_code == 0
    r = prov("quarantine", "--from", "t1", "--source", "crowd", "--tag", "t2", "--key", world.owner.private_path)
    assert r.exit_code == 0, r.output
    out = world.root / "images.t2"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.bin")) == [
        "0/img0.bin",
        "0/img2.bin",
        "0/img4.bin",
        "1/img1.bin",
    ]
    table = lineage.version_lineage(Store.open(world.root), "t2")
    assert table.num_rows == 4 and pc.sum(pc.is_valid(table.column("source"))).as_py() == 0

    # the removed files are kept in the store for later checks' near copies, re-hashed when read back
    (root / "1" / "img3.bin").unlink()
    removed = pa.array(sorted(hashlib.sha256(bytes([i]) * 10).digest() for i in (3, 5)), pa.binary(32))
    kept, missing = removed_records(Store.open(world.root), "t2", "t1", removed)
    assert sorted(kept.blobs or []) == [bytes([3]) * 10, bytes([5]) * 10] and missing is None
