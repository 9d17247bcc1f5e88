"""Schema facts reach no human output raw (left by session 25): a label type a stolen commit key signs, a type string
a struct field name brings, shown by ``prov verify`` (also ``-v``), ``prov status``, the diff's Markdown and the
verifying loader's errors, each escaped (``escaping.visible``; Markdown: ``escaping.markdown``), so a newline or
terminal escape in one fakes no output line.

Real Parquet files, a real store and key; the statement re-signed with the commit key, as its thief can.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov_lib
from provenance.errors import VerificationError
from support import digits_table, resign_version, validate_output

FAKE = "FAKE: data ok"
HOSTILE = f"int64\n{FAKE}\x1b[8m"
PIN = ("--signer", "alice.pub")


def _faked(text: str) -> list[str]:
    """The lines of ``text`` that start with FAKE: a line the hostile name started."""
    return [line for line in text.splitlines() if line.strip().startswith("FAKE")]


def _hostile_label_type(prov, workdir, keypair) -> None:
    """v1 of 30 digits records, its statement re-signed with the commit key saying the label type is HOSTILE."""
    pq.write_table(digits_table(30), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", str(keypair.private_path), *PIN)
    assert r.exit_code == 0, r.output

    def lie(predicate: dict) -> None:
        predicate["schema"]["label"]["type"] = HOSTILE

    resign_version(workdir, "v1", keypair.private_path, lie)


@pytest.mark.parametrize("verbose", [(), ("-v",)])
def test_verify_shows_a_signed_label_type_escaped(prov, workdir, store, keypair, verbose):
    """Before: ``prov -v verify`` split the detail at the label type's newline, and FAKE started a line."""
    _hostile_label_type(prov, workdir, keypair)
    r = prov(*verbose, "verify", "v1", *PIN)
    assert r.exit_code == 1, r.output
    assert "label column type changed: int64\\x0aFAKE: data ok\\x1b[8m -> string" in r.output, r.output
    assert not _faked(r.output) and "\x1b" not in r.output, r.output


def test_status_shows_a_signed_label_type_escaped(prov, workdir, store, keypair):
    _hostile_label_type(prov, workdir, keypair)
    r = prov("status", *PIN)
    assert r.exit_code == 0, r.output
    assert "  label column type changed: int64\\x0aFAKE: data ok\\x1b[8m -> string" in r.stdout.splitlines()
    assert not _faked(r.output) and "\x1b" not in r.output, r.output
    r = prov("status", *PIN, "--json")
    import json

    report = json.loads(r.stdout)
    validate_output("status", report)
    assert report["facts"] == ["label column type changed: int64\\x0aFAKE: data ok\\x1b[8m -> string"]


def _struct_retyped(column: str = "px00") -> pa.Table:
    """The digits records with ``column`` a struct whose one field's name holds a newline, a Markdown heading and a
    terminal escape (whoever writes the data folder chooses it)."""
    table = digits_table(30)
    field = f"a\n\n## {FAKE}\x1b[8m"
    values = pa.array([{field: v} for v in table.column(column).to_pylist()], type=pa.struct([(field, pa.int64())]))
    return table.set_column(table.schema.get_field_index(column), column, values)


def test_the_diff_markdown_shows_a_retyped_columns_note_escaped(prov, workdir, store, keypair):
    """Before: the re-keyed records' note quoted the struct's type string raw in Markdown, and ``## FAKE: data ok``
    was a heading of its own."""
    pq.write_table(digits_table(30), "v1.parquet")
    pq.write_table(_struct_retyped(), "v2.parquet")
    for path, tag in (("v1.parquet", "v1"), ("v2.parquet", "v2")):
        r = prov("commit", path, "--tag", tag, "--key", str(keypair.private_path), *PIN)
        assert r.exit_code == 0, r.output
    md = prov("diff", "v1", "v2", *PIN, "--format", "md").stdout
    assert "30 records re-keyed by the schema change" in md, md
    assert not [line for line in md.splitlines() if FAKE in line and "\\x0a" not in line], md
    assert "\x1b" not in md, md
    text = prov("diff", "v1", "v2", *PIN).stdout
    assert "\x1b" not in text and not [line for line in text.splitlines() if line.startswith("## FAKE")], text


def test_the_loader_names_a_retyped_column_on_one_line(prov, workdir, store, keypair):
    """A training job's log: the loader's error quotes the type string read now through ``visible``."""
    pq.write_table(digits_table(30), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v1", "--key", str(keypair.private_path), *PIN)
    assert r.exit_code == 0, r.output
    pq.write_table(_struct_retyped(), "train.parquet")
    data = prov_lib.load("v1", store=prov_lib.Store.open(str(workdir)), pins=prov_lib.Pins.load(["alice.pub"]))
    with pytest.raises(VerificationError) as caught:
        list(data)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message, message
    assert "FAKE" in message, message  # the type string is named, escaped


@pytest.mark.parametrize("verbose", [(), ("-v",)])
def test_verify_names_a_new_skipped_file_escaped(prov, workdir, store, keypair, verbose):
    """A file the tree's reader skips, named by whoever writes the data folder with a newline and what reads as a
    line of prov's own: ``prov verify`` (``-v`` too) names it on the detail's line."""
    import io

    from PIL import Image

    tree = workdir / "tree"
    for i, label in enumerate(["cat", "cat", "dog"]):
        (tree / label).mkdir(parents=True, exist_ok=True)
        out = io.BytesIO()
        Image.new("L", (4, 4), color=i).save(out, format="PNG")
        (tree / label / f"{i}.png").write_bytes(out.getvalue())
    r = prov("commit", str(tree), "--tag", "v1", "--key", str(keypair.private_path), *PIN)
    assert r.exit_code == 0, r.output
    (tree / "cat" / f"notes\n{FAKE}\x1b[8m.txt").write_text("skipped")
    r = prov(*verbose, "verify", "v1", *PIN)
    assert r.exit_code == 1, r.output
    assert "new skipped files cat/notes\\x0aFAKE: data ok\\x1b[8m.txt" in r.output, r.output
    assert not _faked(r.output) and "\x1b" not in r.output, r.output
