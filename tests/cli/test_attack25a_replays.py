"""Attack review 25a: replays against schema25 (f6e358e): ``prov check``'s added-columns advice, the report words and
``lineage/retyped.py`` read ``summary["schema_delta"]``, computed from both versions' signed schemas, instead of
parsing the diff's ``schema_changes`` lines.

Real Parquet files, real keys, a real store, the advised commands pasted into a real bash. The findings (A25a-1 to
A25a-6) are fixed on branch fix25a: their tests pass; the others pin an attack that held.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

PIN = ("--signer", "m.pub")
# a struct column's type string holds its field names as written: this one holds a newline, then what reads as
# one of prov commit's own lines, and a terminal escape
FAKE_LINE = "  lineage: 60 attested, 0 relabeled after source, 0 unattributed"
STRUCT_FIELD = f"x: int64>)\n{FAKE_LINE}\x1b[8m (y"


def _run(prov, *args: str, code: int = 0):
    r = prov(*args)
    assert r.exit_code == code, f"prov {' '.join(args)}: exit {r.exit_code}: {r.output}"
    return r


def _signed_base_and(prov, added: dict) -> None:
    """The vendor signs 60 digits records (vendor.parquet), maintainer ``m`` trusts and registers them and commits
    them as v1; train.parquet is the same records with the columns ``added`` (name -> pyarrow array maker)."""
    import pyarrow.parquet as pq
    from test_newcomer24_hints import vendor_signed

    from support import digits_table

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    train = batch
    for name, make in added.items():
        train = train.append_column(name, make(batch.num_rows))
    pq.write_table(train, "train.parquet")
    vendor_signed(prov, ("commit", "vendor.parquet", "--tag", "v1", "--key", "m.key", *PIN))


def _struct(n: int):
    import pyarrow as pa

    return pa.array([{STRUCT_FIELD: 1}] * n, type=pa.struct([(STRUCT_FIELD, pa.int64())]))


def _strings(n: int):
    import pyarrow as pa

    return pa.array(["a"] * n)


def test_a_struct_field_name_starts_no_line_of_its_own_in_the_commit_output(prov, workdir, store):
    _signed_base_and(prov, {"meta": _struct})
    r = _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    assert "  lineage: 0 attested, 0 relabeled after source, 60 unattributed" in r.stdout.splitlines(), r.stdout
    # the only lineage line is the commit's own: the one the field name brought is not a line of its own
    assert not [line for line in r.stdout.splitlines() if line.startswith(FAKE_LINE)], r.stdout


def test_a_struct_field_name_is_escaped_in_every_check_and_diff_format(prov, workdir, store):
    """Held: the check's and diff's text, Markdown, JUnit and HTML escape the type string a struct brings, and the
    check's added_columns name the column the data adds."""
    import xml.etree.ElementTree as ET

    from support import validate_output

    _signed_base_and(prov, {"meta": _struct})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    check = ("check", "v2", "--base", "v1", *PIN)
    report = json.loads(_run(prov, *check, "--format", "json", code=1).stdout)
    validate_output("check", report)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.unattributed_beside_signed")
    assert rule["statistic"]["added_columns"] == ["meta"] and rule["statistic"]["other_schema_changes"] is False
    for args in (
        check,
        (*check, "--format", "md"),
        ("diff", "v1", "v2", *PIN),
        ("diff", "v1", "v2", *PIN, "--format", "md"),
    ):
        out = prov(*args).stdout
        assert "\x1b" not in out and FAKE_LINE.strip() not in [line.strip() for line in out.splitlines()], args
    html = prov("diff", "v1", "v2", *PIN, "--format", "html").stdout
    assert "\x1b" not in html and "<img" not in html.split("<body", 1)[-1].split("lineage: 60 attested")[0][-200:]
    ET.fromstring(prov(*check, "--format", "junit").stdout)  # no raw control character: the XML parses


def _bash_word(word: str) -> bytes:
    """What bash passes a command for ``word`` pasted into it (the bytes of its one argument)."""
    out = subprocess.run(["bash", "-c", f"printf '%s' {word}"], capture_output=True, check=True)
    return out.stdout


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_column_name_holding_nul_is_refused_as_bad_input(prov, workdir, store, fmt):
    """A25a-2, fixed: a column named ``px00\\x00`` could be named by no command line (bash's reading of the advised
    ``--metadata $'px00\\x00'`` is ``px00``, the vendor's signed pixel column). The table reader refuses such a name,
    as it refuses a name given twice: exit 2, one line naming the file, the store unchanged."""
    import pyarrow as pa

    from support import store_fingerprint

    assert _bash_word("$'px00\\x00'") == b"px00"  # why: what the advice would paste as
    name = "px00\x00"
    _signed_base_and(prov, {name: lambda n: pa.array([1] * n)})
    if fmt == "jsonl":
        import pyarrow.parquet as pq

        rows = pq.read_table("train.parquet").to_pylist()
        Path("train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", f"train.{fmt}", "--tag", "v2", "--key", "m.key", *PIN)
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"Error: train.{fmt}: column 'px00\\x00' holds a NUL byte"), r.output
    assert r.output.count("\n") == 1, r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_advised_commands_for_option_like_and_newline_names_commit_what_they_name(prov, workdir, store):
    """Held: names like ``--key=evil.key``, ``-x`` and one holding a newline: the advised ``--metadata`` words, pasted
    into bash, give prov those names, the commit leaves exactly them out and the check of it passes."""
    names = ["--key=evil.key", "-x", "first\nsecond"]
    _signed_base_and(prov, dict.fromkeys(names, _strings))
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    report = json.loads(_run(prov, "check", "v2", "--base", "v1", *PIN, "--format", "json", code=1).stdout)
    rule = next(x for x in report["rules"] if x["rule"] == "lineage.unattributed_beside_signed")
    assert rule["statistic"]["added_columns"] == sorted(names)
    words = re.findall(r"--metadata (\$'[^']*'|'[^']*'|\S+)", rule["reason"])
    pasted = [_bash_word(w).decode() for w in words]
    assert sorted(pasted) == sorted(names), (words, pasted)
    flags = [a for p in pasted for a in ("--metadata", p)]
    _run(prov, "commit", "train.parquet", "--parent", "v2", "--tag", "v3", *flags, "--key", "m.key", *PIN)
    report = json.loads(_run(prov, "check", "v3", "--base", "v1", *PIN, "--format", "json").stdout)
    assert report["summary"]["metadata_added"] == sorted(names) or sorted(
        report["summary"]["metadata_added"]
    ) == sorted(names), report["summary"]


@pytest.mark.parametrize(
    "delta",
    [{"retyped": {"a": 5}}, {"retyped": {"a": []}}, {"added": ["x"]}, {"label_column": ["only"]}],
    ids=["retyped-int", "retyped-empty", "added-list", "label-short"],
)
def test_a_saved_diff_with_a_malformed_schema_delta_is_bad_input(prov, workdir, store, delta):
    """Held: ``prov report`` of a diff JSON whose schema_delta whoever saved it wrote badly: exit 2, one line naming
    the file, the store unchanged."""
    from support import store_fingerprint

    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    _run(prov, "diff", "v1", "v2", *PIN, "--format", "json", "--out", "diff.json")
    saved = json.loads(Path("diff.json").read_text())
    saved["summary"]["schema_delta"] |= delta
    Path("bad.json").write_text(json.dumps(saved))
    before = store_fingerprint(workdir / ".prov")
    for fmt in ("text", "md", "html"):
        r = prov("report", "bad.json", "--format", fmt)
        assert r.exit_code == 2 and r.output.startswith("Error: bad.json:") and r.output.count("\n") == 1, r.output
    assert store_fingerprint(workdir / ".prov") == before


# what a holder of the commit key (stolen) can sign as v2's schema facts: shapes no prov writes
MALFORMED_SCHEMA = {
    "label-a-string": lambda p: p["schema"].__setitem__("label", "x"),
    "untyped-columns-mixed": lambda p: (p["schema"].pop("types"), p["schema"].__setitem__("columns", [1, "a"])),
    "types-a-list": lambda p: p["schema"].__setitem__("types", ["px00"]),
    "schema-a-list": lambda p: p.__setitem__("schema", ["x"]),
}


@pytest.mark.parametrize("change", list(MALFORMED_SCHEMA))
def test_a_malformed_signed_schema_is_refused_not_a_crash(prov, workdir, store, change):
    from support import resign_version

    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    resign_version(workdir, "v2", workdir / "m.key", MALFORMED_SCHEMA[change])
    for args in (("check", "v2", "--base", "v1", *PIN, "--format", "json"), ("diff", "v1", "v2", *PIN)):
        r = prov(*args)
        assert r.exit_code in (1, 2) and "v2" in r.output, (args, r.exit_code, r.output)
    # fixed where the signature is verified, so every reader of the version refuses it: exit 1 naming it
    for args in (("diff", "v1", "v2", *PIN), ("verify", "v2", *PIN), ("show", "v2", *PIN)):
        r = prov(*args)
        assert r.exit_code == 1, (args, r.output)
        assert "version v2: its signed schema is not the shape prov writes" in r.output, (args, r.output)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["schema"]["types"].__setitem__("note", 5),
        lambda p: p["schema"].__setitem__("labelColumn", ["x"]),
    ],
    ids=["type-an-int", "label-column-a-list"],
)
def test_a_signed_schema_of_other_value_types_gives_no_output_its_schema_rejects(prov, workdir, store, change):
    from support import resign_version, validate_output

    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    resign_version(workdir, "v2", workdir / "m.key", change)
    r = prov("diff", "v1", "v2", *PIN, "--format", "json")
    if r.exit_code == 0:
        validate_output("diff", json.loads(r.stdout))
    r = prov("check", "v2", "--base", "v1", *PIN, "--format", "json")
    if r.exit_code in (0, 1):
        validate_output("check", json.loads(r.stdout))


def test_the_commit_that_follows_the_advice_prints_no_line_a_column_name_starts(prov, workdir, store):
    name = f"note\n{FAKE_LINE}"
    _signed_base_and(prov, {name: _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    r = _run(
        prov, "commit", "train.parquet", "--parent", "v2", "--tag", "v3", "--metadata", name, "--key", "m.key", *PIN
    )
    assert "lineage: 0 attested" not in r.stdout  # the commit's own lineage line: every record attested now
    # that line reads as FAKE_LINE itself (60 attested): it is there once, the one the name brought is no line
    assert [line for line in r.stdout.splitlines() if line.startswith(FAKE_LINE)] == [FAKE_LINE], r.stdout
    # quoted as repr quotes a name that is not plain (attack review 26a, A26a-4)
    assert f"read options differ from v2: --metadata {name!r} (v2: none)" in r.stdout, r.stdout


def _resign_envelope(path: str, key: str, change) -> None:
    """The batch envelope ``path`` with ``change(predicate)`` applied, signed again with private key ``key`` (what
    the source, or whoever holds its key, can write); its manifest kept."""
    import base64

    from provenance import keys, signing

    env = json.loads(Path(path).read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    change(stmt["predicate"])
    new = json.loads(signing.canonical_json(signing.sign(stmt, keys.load_private(key))))
    Path(path).write_text(json.dumps(new | {"manifest": env["manifest"]}))


def _vendor_signs_types_as_a_list(prov) -> None:
    """The vendor signs 60 digits records (vendor.parquet) with ``schema.types`` a list, with its own key, which
    maintainer ``m`` trusts; train.parquet is the same records with a column ``note`` added."""
    vendor_signs_schema(prov, lambda p: p["schema"].__setitem__("types", ["px00"]))


def vendor_signs_schema(prov, change) -> None:
    """:func:`_vendor_signs_types_as_a_list` with ``change(predicate)`` as what the vendor signs (attack review 26a
    signs other shapes)."""
    import pyarrow.parquet as pq

    from support import digits_table

    batch = digits_table(60)
    pq.write_table(batch, "vendor.parquet")
    pq.write_table(batch.append_column("note", _strings(batch.num_rows)), "train.parquet")
    for args in (
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *PIN),
    ):
        _run(prov, *args)
    _resign_envelope("vendor.parquet.prov.json", "vendor.key", change)


def test_a_batch_signed_with_malformed_types_is_refused_or_ignored(prov, workdir, store):
    from support import store_fingerprint

    _vendor_signs_types_as_a_list(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor.parquet", "--source", "vendor", *PIN)
    # fixed: refused as bad input, one line naming the envelope, the store unchanged
    assert r.exit_code == 2 and r.output.startswith("Error: vendor.parquet.prov.json: "), r.output
    assert r.output.count("\n") == 1 and "types" in r.output, r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a_stored_batch_with_malformed_signed_types_is_skipped_by_the_retype_note(prov, workdir, store):
    """Defence in depth for A25a-6: a batch whose vendor-signed envelope holds ``schema.types`` as a list is already
    in the store (added by a prov from before the refusal; here planted as a ``.prov/`` writer can: the envelope as
    an object under its SHA-256, a chain-valid ``batch.add`` entry naming it). The commit's retype note skips it:
    the commit exits 0 (it crashed with exit 3 after writing the version)."""
    import base64
    import hashlib

    from provenance import signing
    from provenance.lineage.batches import batch_id
    from support import plant_pending_entry

    _vendor_signs_types_as_a_list(prov)
    raw = Path("vendor.parquet.prov.json").read_bytes()
    env = json.loads(raw)
    stmt = json.loads(base64.b64decode(env["payload"]))
    envelope_oid = hashlib.sha256(raw).hexdigest()
    (workdir / ".prov" / "objects" / f"{envelope_oid}.json").write_bytes(raw)
    manifest = base64.b64decode(env["manifest"])
    manifest_oid = hashlib.sha256(manifest).hexdigest()
    (workdir / ".prov" / "objects" / f"{manifest_oid}.parquet").write_bytes(manifest)
    detail = {"source": "vendor", "signed": True, "envelope": envelope_oid, "manifest": manifest_oid}
    plant_pending_entry(
        workdir / ".prov" / "prov.db", "batch.add", batch_id("vendor", signing.subject_root(stmt)), detail
    )
    r = _run(prov, "commit", "train.parquet", "--tag", "v1", "--key", "m.key", *PIN)
    assert "  lineage: 0 attested, 0 relabeled after source, 60 unattributed" in r.stdout.splitlines(), r.stdout
