"""Reader fidelity end to end: what changes between versions is reported as the trainer would see it,
and ``prov verify`` checks every signed fact about the reading, not only the records."""

from __future__ import annotations

import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def _commit(prov, path, tag, keypair, *extra):
    r = prov("commit", str(path), "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *extra)
    assert r.exit_code == 0, r.output
    return r


def test_a_column_that_changes_type_is_one_schema_change_not_every_record(prov, workdir, store, keypair):
    rows = "".join(f"{i:05d},{i % 3}\n" for i in range(1, 200))
    (workdir / "v1.csv").write_text("zip,label\n" + rows)
    (workdir / "v2.csv").write_text("zip,label\n" + rows + "A0001,0\n")  # one zip code gains a letter
    _commit(prov, workdir / "v1.csv", "v1", keypair)
    _commit(prov, workdir / "v2.csv", "v2", keypair)
    r = prov("diff", "v1", "v2", "--format", "json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)["summary"]
    assert summary["schema_changes"] == ["column 'zip' changed type: int64 -> string"]
    assert summary["rekeyed"] == 199 and summary["added"] == 1 and summary["removed"] == 0
    text = prov("diff", "v1", "v2").stdout
    assert "schema change: column 'zip' changed type: int64 -> string" in text


def test_labels_that_look_alike_are_shown_with_their_code_points(prov, workdir, store, keypair):
    pq.write_table(pa.table({"x": [1, 2], "label": ["caf\u00e9", "dog"]}), workdir / "d.parquet")
    _commit(prov, workdir / "d.parquet", "v1", keypair)
    pq.write_table(pa.table({"x": [1, 2], "label": ["cafe\u0301", "dog"]}), workdir / "d.parquet")  # NFD
    _commit(prov, workdir / "d.parquet", "v2", keypair)
    report = json.loads(prov("diff", "v1", "v2", "--format", "json").stdout)
    assert report["summary"]["relabeled"] == 1
    assert report["relabel_pairs"][0]["codepoints"] == {
        "old": "U+0063 U+0061 U+0066 U+00E9",
        "new": "U+0063 U+0061 U+0066 U+0065 U+0301",
    }
    assert "U+0065 U+0301" in prov("diff", "v1", "v2").stdout


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (4, 4), color=seed).save(out, format="PNG")
    return out.getvalue()


def test_verify_catches_a_renamed_file_and_a_new_class_folder(prov, workdir, store, keypair):
    tree = workdir / "tree"
    for i, label in enumerate(["cat", "cat", "dog"]):
        (tree / label).mkdir(parents=True, exist_ok=True)
        (tree / label / f"{i}.png").write_bytes(_png(i))
    _commit(prov, tree, "v1", keypair)
    assert prov("verify", "--store-keys", "v1").exit_code == 0
    os.rename(tree / "cat" / "0.png", tree / "cat" / "renamed.png")  # same bytes, same label
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "file listing differs from the signed one" in r.stderr
    os.rename(tree / "cat" / "renamed.png", tree / "cat" / "0.png")
    (tree / "cat" / "Thumbs.db").write_bytes(b"\xd0\xcf")  # skipped by the loader, but listed
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "cat/Thumbs.db" in r.stderr
    os.unlink(tree / "cat" / "Thumbs.db")
    (tree / "_new").mkdir()  # sorts before cat and dog: every ImageFolder target index shifts
    (tree / "_new" / "x.png").write_bytes(_png(9))
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "1 added" in r.stderr and "class list changed" in r.stderr


def test_a_label_retyped_from_text_to_integer_fails_verification(prov, workdir, store, keypair):
    pq.write_table(pa.table({"x": [1, 2], "label": ["1", "2"]}), workdir / "d.parquet")
    _commit(prov, workdir / "d.parquet", "v1", keypair)
    pq.write_table(pa.table({"x": [1, 2], "label": [1, 2]}), workdir / "d.parquet")
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1 and "no longer matches" in r.stderr
