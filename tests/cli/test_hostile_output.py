"""Labels, sources and paths from the data are shown escaped in every human-readable output.

A relabel to an ANSI escape sequence must not erase prov's own line on a terminal and
print a fake "data ok"; a bidi override must not reorder what a reviewer reads; HTML or
Markdown in a label must not become markup in a pull-request comment or the HTML report;
rich's markup in a label (``[/]``) must not crash the text report.
"""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest

from support import digits_table

FAKE_OK = "\x1b[2K\rdata ok"
LABELS = {
    0: FAKE_OK,
    1: "<script>alert(1)</script>",
    2: "[/]",
    3: "vendor\u202egnp.exe",
    4: "two\nlines",
    5: "a|b **x**",
}


@pytest.fixture
def hostile_versions(prov, workdir, store, keypair):
    table = digits_table(80)
    pq.write_table(table, workdir / "v1.parquet")
    labels = table.column("label").to_pylist()
    for row, label in LABELS.items():
        labels[row] = label
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", [labels]), workdir / "v2.parquet")
    for tag in ("v1", "v2"):
        r = prov(
            "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path
        )
        assert r.exit_code == 0, r.output
    return workdir


def _no_raw_hostile_text(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "two\nlines" not in text


def test_text_diff_shows_hostile_labels_escaped_on_their_lines(prov, hostile_versions):
    r = prov("diff", "v1", "v2")
    assert r.exit_code == 0, r.output
    _no_raw_hostile_text(r.stdout)
    assert "\\x1b[2K\\x0ddata ok" in r.stdout  # rich folds long cells, so look for the escape itself
    assert "[/]" in r.stdout  # shown as text, not taken as rich markup (which crashed the report)
    assert "vendor\\u202egnp.exe" in r.stdout


def test_markdown_diff_holds_no_markup_from_labels(prov, hostile_versions):
    r = prov("diff", "v1", "v2", "--format", "md")
    assert r.exit_code == 0, r.output
    _no_raw_hostile_text(r.stdout)
    assert "<script>" not in r.stdout and "\\<script\\>alert(1)\\</script\\>" in r.stdout
    assert "a\\|b \\*\\*x\\*\\*" in r.stdout  # a table cell boundary and emphasis, escaped
    row = next(line for line in r.stdout.splitlines() if "a\\|b" in line and line.startswith("| `"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # the 4 cells of its table, no more


def test_html_diff_holds_no_markup_from_labels(prov, hostile_versions):
    r = prov("diff", "v1", "v2", "--format", "html")
    assert r.exit_code == 0, r.output
    _no_raw_hostile_text(r.stdout)
    assert r.stdout.count("<script>") == 1  # prov's own layout script only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.stdout


def test_json_keeps_labels_exact(prov, hostile_versions):
    r = prov("diff", "v1", "v2", "--format", "json", "--limit", "0")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    new_labels = {label for c in report["changes"]["relabeled"] for label in c["new_labels"]}
    assert set(LABELS.values()) <= new_labels


def test_an_error_naming_a_hostile_label_stays_one_escaped_line(prov, hostile_versions):
    # v1's data is changed on disk: one record relabeled to the fake verdict
    table = pq.read_table(hostile_versions / "v1.parquet")
    labels = table.column("label").to_pylist()
    labels[7] = FAKE_OK
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", [labels]), "v1.parquet")
    r = prov("verify", "--store-keys", "v1")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: version v1: data at ")
    _no_raw_hostile_text(r.stderr)
    assert "\\x1b[2K\\x0ddata ok" in r.stderr


@pytest.mark.parametrize(
    ("name", "named"),
    [("vendor\u202ea", "U+202E RIGHT-TO-LEFT OVERRIDE"), ("ven\u200bdor", "U+200B ZERO WIDTH SPACE")],
)
def test_source_names_refuse_bidi_and_invisible_characters(prov, workdir, store, keypair, name, named):
    pq.write_table(digits_table(10), workdir / "batch.parquet")
    r = prov("sign", "batch.parquet", "--source", name, "--key", keypair.private_path)
    assert r.exit_code == 2 and named in r.stderr and r.stderr.count("\n") == 1
    r = prov("trust", "add", name, keypair.public_path)
    assert r.exit_code == 2 and named in r.stderr
    assert not (workdir / "batch.parquet.prov.json").exists()
