"""Newcomer review 12, finding 11: the small words met on the way, each checked on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from provenance import keys


def _images(folder: Path, per_class: int = 5, classes: tuple[str, ...] = ("3", "7")) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    for label in classes:
        rows = np.flatnonzero(d.target == int(label))[:per_class]
        for i in rows:
            path = folder / label / f"a{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((d.images[i] * 15).astype(np.uint8)).save(path)


def test_sign_of_a_tree_names_the_files_it_skipped(prov, workdir):
    """A vendor's tree with a README at its root and a labels file in a class folder: "Signed 10 records" said
    nothing of the two files no record carries."""
    _images(workdir / "batch")
    (workdir / "batch" / "README.txt").write_text("digits from the scanner\n")
    (workdir / "batch" / "3" / "labels.txt").write_text("all threes\n")
    vendor = keys.generate(workdir / "vendor")
    r = prov("sign", "batch", "--source", "vendor", "--key", vendor.private_path)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Signed 10 records of batch")
    skipped = r.stdout.splitlines()[-1]
    assert skipped.startswith("  2 files skipped (not an image extension ImageFolder reads; not inside a class folder)")
    assert skipped.endswith(": 3/labels.txt, README.txt"), skipped
    r = prov("sign", "batch", "--source", "vendor", "--key", vendor.private_path, "--force", "--json")
    assert json.loads(r.stdout)["skipped"] == [
        {"path": "3/labels.txt", "reason": "not an image extension ImageFolder reads"},
        {"path": "README.txt", "reason": "not inside a class folder"},
    ]


def test_a_batch_registered_ahead_of_its_delivery_is_said_to_be_not_shipped_yet(prov, workdir, keypair, monkeypatch):
    """A vendor's batch registered this week and shipped next week: the check of this week's version warned "40 of
    its 40 signed records missing ... account for them with prov withdraw", as if records had been deleted."""
    import pyarrow.parquet as pq

    from provenance.store import Store
    from support import digits_table

    Store.init(workdir).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    t = digits_table(300)
    pq.write_table(t.slice(0, 200), "v1.parquet")
    pq.write_table(t.slice(200), "next-week.parquet")
    vendor = keys.generate(workdir / "vendor")
    for args in (
        ("sign", "next-week.parquet", "--source", "vendor", "--key", vendor.private_path),
        ("trust", "add", "vendor", vendor.public_path, "--key", keypair.private_path),
        ("add", "next-week.parquet", "--source", "vendor"),
        ("commit", "v1.parquet", "--tag", "v1", "--key", keypair.private_path),
        ("commit", "v1.parquet", "--tag", "v2", "--key", keypair.private_path),
    ):
        r = prov(*args)
        assert r.exit_code == 0, r.output
    r = prov("check", "v2", "--base", "v1", "--format", "json")
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.signed_batches_incomplete")
    assert rule["status"] == "warn" and "100 signed records of batches registered and not shipped yet" in rule["reason"]
    assert "none of their records is in v1 or v2 (batch vendor@" in rule["reason"], rule
    assert "deleted" not in rule["reason"] and "if one will not ship, `prov withdraw" in rule["reason"]


def test_records_two_vendors_signed_with_different_labels_are_counted_once_each(prov, workdir, keypair, monkeypatch):
    """Vendor B re-delivers 5 of vendor A's records with other labels, and the version keeps both rows of each:
    the rule said "10 records" for 5 records held under two labels each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.store import Store
    from support import digits_table

    Store.init(workdir).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    a = digits_table(200)
    b = a.slice(0, 5)
    b = b.set_column(b.schema.get_field_index("label"), "label", pa.array([str((int(x) + 1) % 10) for x in b["label"]]))
    pq.write_table(a, "a.parquet")
    pq.write_table(b, "b.parquet")
    pq.write_table(pa.concat_tables([a, b]), "v2.parquet")
    steps: list[tuple] = []
    for name, data in (("vendorA", "a.parquet"), ("vendorB", "b.parquet")):
        pair = keys.generate(workdir / name)
        steps += [
            ("sign", data, "--source", name, "--key", pair.private_path),
            ("trust", "add", name, pair.public_path, "--key", keypair.private_path),
            ("add", data, "--source", name),
        ]
    steps += [
        ("commit", "a.parquet", "--tag", "v1", "--key", keypair.private_path),
        ("commit", "v2.parquet", "--tag", "v2", "--key", keypair.private_path),
    ]
    for args in steps:
        r = prov(*args)
        assert r.exit_code == 0, (args, r.output)
    r = prov("check", "v2", "--base", "v1", "--format", "json")
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.max_conflicting_signed_labels")
    assert rule["status"] == "block" and rule["count"] == 5, rule
    assert rule["reason"].startswith("5 added or relabeled records that trusted sources signed with different labels")
    assert "(10 rows: the version holds them under more than one label), allowed 0" in rule["reason"]


def test_a_json_lines_row_is_named_by_the_line_an_editor_shows(prov, workdir):
    """Rows of text files were 0-based everywhere: "JSON parse error ... in row 50" was line 51 in an editor, and
    reports said "scrape-3.jsonl row 19" for line 20. A Latin-1 byte said "rows 0..0 are malformed (... Invalid UTF8
    sequence at string index 0)", with no way forward."""
    from provenance.report.wording import location_text

    vendor = keys.generate(workdir / "vendor")
    lines = [json.dumps({"text": f"record {i}", "label": str(i % 2)}) for i in range(60)]
    cases = {
        "broken.jsonl": (lines[:50] + ['{"text": "no comma" "label": "1"}'] + lines[51:], "on line 51)"),
        "nolabel.jsonl": (lines[:50] + [json.dumps({"text": "no label"})] + lines[51:], ": line 51 has an empty label"),
    }
    for name, (body, said) in cases.items():
        (workdir / name).write_text("\n".join(body) + "\n")
        r = prov("sign", name, "--source", "vendor", "--key", vendor.private_path)
        assert r.exit_code == 2 and said in r.stderr and r.stderr.startswith(f"Error: {name}: "), r.stderr
    (workdir / "latin.jsonl").write_bytes(
        "\n".join([*lines[:3], '{"text": "caf\xe9", "label": "1"}']).encode("latin-1")
    )
    r = prov("sign", "latin.jsonl", "--source", "vendor", "--key", vendor.private_path)
    assert r.exit_code == 2 and "hold text that is not UTF-8; pass --encoding ENC" in r.stderr, r.stderr
    r = prov("sign", "latin.jsonl", "--source", "vendor", "--key", vendor.private_path, "--encoding", "latin-1")
    assert r.exit_code == 0, r.output
    # reports: a row of a text file says its line too (SARIF already did), a Parquet file's row stays a row;
    # the row as the JSON counts it first, so diff, check and findings name one record one way (review 16, #5)
    assert location_text(None, "scrape-3.jsonl#19") == "scrape-3.jsonl row 19 (line 20)"
    assert location_text({"path": "data/batch.csv", "row": 0}, "0") == "row 0 (line 2)"  # after the header
    assert location_text(None, "part-1.parquet#3") == "part-1.parquet row 3"
    assert location_text({"path": "v2.parquet", "row": 4}, "4") == "row 4"


def test_lineage_names_the_record_by_the_id_the_vendor_signed(prov, workdir, keypair, monkeypatch):
    """Newcomer review 11, finding 4's last part: `prov lineage` showed the batch, not the vendor's own id for the
    record, so "LC-000003 looks mislabelled" could not be said to the vendor. The id comes from the batch manifest
    the envelope signs, only when the envelope verifies under the pins."""
    import sqlite3

    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.store import Store
    from support import digits_table

    Store.init(workdir).close()
    t = digits_table(40)
    pq.write_table(t.append_column("item_id", pa.array([f"LC-{i:06d}" for i in range(40)])), "batch.parquet")
    vendor = keys.generate(workdir / "vendor")
    for args in (
        ("sign", "batch.parquet", "--source", "labelco", "--key", vendor.private_path, "--id-column", "item_id"),
        ("trust", "add", "labelco", vendor.public_path, "--key", keypair.private_path, "--signer", keypair.public_path),
        ("add", "batch.parquet", "--source", "labelco", "--signer", keypair.public_path),
    ):
        r = prov(*args)
        assert r.exit_code == 0, (args, r.output)
    with sqlite3.connect(".prov/prov.db") as db:
        digest = db.execute("select hex(digest) from batch_records order by hex(digest) limit 1").fetchone()[0].lower()
    r = prov("lineage", digest, "--signer", keypair.public_path, "--json")
    (batch,) = json.loads(r.stdout)["batches"]
    (vendor_id,) = batch["source_locators"]
    assert vendor_id.startswith("LC-0000"), batch
    text = prov("lineage", digest, "--signer", keypair.public_path).stdout
    assert f"    in the source's signed batch at {vendor_id}\n" in text
    # under pins that do not trust the vendor's key, the envelope vouches for nothing: no id is shown
    stranger = keys.generate(workdir / "stranger")
    r = prov("lineage", digest, "--signer", stranger.public_path, "--json")
    assert json.loads(r.stdout)["batches"][0]["source_locators"] == []


def test_a_record_waived_on_another_version_is_said_when_it_is_flagged_again(prov, workdir, keypair, monkeypatch):
    """A reviewer waived records on v2, and v3 (the same records under a new name, as a quarantine of v2 keeps them)
    flagged them again with no word of the waiver; `prov check` listed no stored waiver of another version (README
    statement 5). The waiver still counts only for v2: the record stays flagged, and both reports say why."""
    _base_and_flips(workdir, keypair, monkeypatch, 600, 12)
    for tag, data in (("v1", "v1.parquet"), ("v2", "v2.parquet")):
        assert prov("commit", data, "--tag", tag, "--key", keypair.private_path).exit_code == 0
    Path("policy.toml").write_text('[detectors]\nrun = ["knn_label"]\nmax_flagged = 0\n')
    check = ("--base", "v1", "--policy", "policy.toml")
    flagged = json.loads(prov("check", "v2", *check, "--format", "json").stdout)["findings"]
    digest = flagged[0]["digest"]
    waive = ("--detector", "combined", "--reason", "a 3 written like an 8", "--key", keypair.private_path)
    assert prov("waive", digest, "--version", "v2", *waive).exit_code == 0
    assert prov("commit", "v2.parquet", "--tag", "v3", "--key", keypair.private_path).exit_code == 0  # v2 again
    report = json.loads(prov("check", "v3", *check, "--format", "json").stdout)
    again = next(f for f in report["findings"] if f["digest"] == digest)
    assert again["waived_on"] == ["v2"] and all("waived_on" not in f for f in report["findings"] if f is not again)
    (ignored,) = report["waivers"]["ignored"]
    assert ignored["digest"] == digest and ignored["why"].startswith("waives a finding of version 'v2', not 'v3'")
    assert f"waive it on v3 (prov waive {digest[:12]} --version v3 --detector combined ...)" in ignored["why"]
    said = "1 flagged record waived on v2 (not this version): a waiver counts only for the version it names"
    assert said in " ".join(prov("check", "v3", *check).stdout.split())
    assert said in " ".join(prov("check", "v3", *check, "--format", "md").stdout.split())
    assert said in " ".join(prov("findings", "v3").stdout.split())
    assert "waived on" not in prov("check", "v2", *check).stdout  # on v2 itself the waiver is honoured


def test_findings_recompute_lists_the_re_runs_records(prov, workdir, keypair, monkeypatch):
    """`prov findings --recompute` checked the stored run against a re-run, then listed the stored run: for a run
    stored before findings objects (its rows keep the flagged records only), `--all` listed those alone although
    the re-run had scored every record. It lists the re-run's records, and says so."""
    import sqlite3

    from provenance.store import audit

    _base_and_flips(workdir, keypair, monkeypatch, 500, 10)
    for tag in ("v1", "v2"):
        assert prov("commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path).exit_code == 0
    assert prov("diff", "v1", "v2", "--detect").exit_code == 0
    db = sqlite3.connect(".prov/prov.db")  # as an older prov stored a run: its entry names no findings object
    detail = json.loads(db.execute("select detail from audit where action = 'detect'").fetchone()[0])
    with db:
        audit.append(db, "detect", "v2", {k: v for k, v in detail.items() if k != "findings"})
    db.close()
    stored = json.loads(prov("findings", "v2", "--all", "--json").stdout)
    assert stored["from_rows"] and all(f["flagged"] for f in stored["findings"])
    rerun = json.loads(prov("findings", "v2", "--all", "--recompute", "--json").stdout)
    assert len(rerun["findings"]) == 100 > len(stored["findings"])  # every record v2 added, scored again
    assert {f["digest"] for f in rerun["findings"] if f["flagged"]} == {f["digest"] for f in stored["findings"]}
    text = " ".join(prov("findings", "v2", "--recompute").stdout.split())
    assert "with the same scores as this stored run; the records below are the re-run's" in text


def _base_and_flips(workdir: Path, keypair, monkeypatch, n: int, flips: int) -> None:
    """A store pinned to ``keypair`` and two tables: v1.parquet (the first 400 of ``n`` digits) and v2.parquet (all
    ``n``, the first ``flips`` added records' labels moved by 5)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provenance.store import Store
    from support import digits_table

    Store.init(workdir).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    t = digits_table(n)
    labels = t.column("label").to_pylist()
    for i in range(400, 400 + flips):
        labels[i] = str((int(labels[i]) + 5) % 10)
    pq.write_table(t.slice(0, 400), "v1.parquet")
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), "v2.parquet")


def test_the_waive_again_command_quotes_the_version_for_the_shell(prov, workdir, keypair, monkeypatch):
    """Attack review 16, F4: the "waive again on V (prov waive DIGEST --version V ...)" line printed a version named
    ``v3x;touch${IFS}PWNED;#`` (a valid tag) unquoted, so the pasted command ran ``touch PWNED``. Run by sh (prov a
    shell function that prints its arguments), it now gives prov the name as one argument and runs nothing else."""
    import shlex
    import subprocess

    evil = "v3x;touch${IFS}PWNED;#"
    _base_and_flips(workdir, keypair, monkeypatch, 600, 12)
    for tag, data in (("v1", "v1.parquet"), ("v2", "v2.parquet")):
        assert prov("commit", data, "--tag", tag, "--key", keypair.private_path).exit_code == 0
    Path("policy.toml").write_text('[detectors]\nrun = ["knn_label"]\nmax_flagged = 0\n')
    check = ("--base", "v1", "--policy", "policy.toml")
    digest = json.loads(prov("check", "v2", *check, "--format", "json").stdout)["findings"][0]["digest"]
    waive = ("--detector", "combined", "--reason", "a 3 written like an 8", "--key", keypair.private_path)
    assert prov("waive", digest, "--version", "v2", *waive).exit_code == 0
    assert prov("commit", "v2.parquet", "--tag", evil, "--key", keypair.private_path).exit_code == 0
    for fmt in ("text", "md"):
        out = " ".join(prov("check", evil, *check, "--format", fmt).stdout.split())
        command = out.split("(prov waive ", 1)[1].split(")", 1)[0]
        command = "prov waive " + command.replace("\\", "") if fmt == "md" else "prov waive " + command
        assert shlex.split(command)[4] == evil, command
        done = subprocess.run(
            ["sh", "-c", 'prov() { printf "%s\\n" "$@"; }; ' + command], capture_output=True, text=True, cwd=workdir
        )
        assert not Path("PWNED").exists(), (fmt, command)
        assert done.stdout.splitlines()[:3] == ["waive", "DIGEST", "--version"] and evil in done.stdout.splitlines()
