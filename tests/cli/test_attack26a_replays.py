"""Attack review 26a: replays against last session's fixes, which landed on main without a review of their own:
fix25a (``schema_problem``, the shape check of a signed schema fact), fix25b (``prov status``'s ``data_of`` from
verified signed roots among the audit log's versions; the revocation named by ``prov verify --signer SOURCE.pub``
in a store), 47be7d2 (the memory bound charges each hashing thread an interpreter's base) and c8e372f.

Real Parquet files, real keys, a real store; what a holder of the commit key or a ``.prov/`` writer can do is done
with the key and with sqlite3. Each finding was a strict xfail asserting the behaviour wanted until fix26d fixed it;
the tests now assert the fixed behaviour, and the ``test_held_`` ones pin an attack that held.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack25a_replays import PIN, _run, _signed_base_and, _strings, vendor_signs_schema

from provenance import keys
from support import digits_table, ok, one_line, plant_pending_entry, resign_version, store_fingerprint, validate_output


def _v2_resigned(prov, workdir, change) -> None:
    """v1: the vendor's 60 signed records; v2: the same records with a column ``note`` added, its signed predicate
    changed by ``change`` and signed again with the commit key ``m.key`` (stolen, say)."""
    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    resign_version(workdir, "v2", workdir / "m.key", change)


def test_a26a_1_a_signed_column_list_naming_a_column_twice_is_refused_not_a_crash(prov, workdir, store):
    """A holder of the commit key signs v2's ``schema.columns`` with one name twice: a list of strings, so
    ``schema_problem`` passes it, and every diff and check of v2 dies on pyarrow (``internal error (ArrowInvalid:
    Can't unify schema with duplicate field names.)``, exit 3), in every format, where the other malformed schemas
    are refused with exit 1 naming the version (A25a-3). ``prov verify v2`` says "data ok"."""
    _v2_resigned(prov, workdir, lambda p: p["schema"].__setitem__("columns", p["schema"]["columns"] + ["px00"]))
    for args in (
        ("diff", "v1", "v2", *PIN),
        ("diff", "v1", "v2", *PIN, "--format", "json"),
        ("check", "v2", "--base", "v1", *PIN, "--format", "json"),
    ):
        r = prov(*args)
        assert r.exit_code == 1 and "v2" in r.output and "internal error" not in r.output, (args, r.output)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["schema"].__setitem__("columns", ["nope"]),
        lambda p: p["schema"].__setitem__("kind", "tree"),
    ],
    ids=["columns-not-the-typed-ones", "kind-tree-for-a-table"],
)
def test_a26a_2_signed_schema_facts_that_contradict_each_other_are_refused_as_the_version(prov, workdir, store, change):
    """Well-shaped, not well-formed: v2 (a table) signs ``columns`` ``["nope"]`` beside ``types`` naming 65 others,
    or ``kind`` ``tree``. ``prov verify v2`` says "data ok (60 records)", while ``prov diff v1 v2`` says the data
    is at fault ("train.parquet: a signed column is no longer in the file", exit 1) or that the user compared
    different datasets ("record kind 'table' vs 'tree'", exit 2). Wanted: the version refused where its signature is
    verified, exit 1 naming it, as for the other malformed schemas."""
    _v2_resigned(prov, workdir, change)
    for args in (("verify", "v2", *PIN), ("diff", "v1", "v2", *PIN)):
        r = prov(*args)
        assert r.exit_code == 1 and "version v2: its signed schema" in r.output, (args, r.output)


def test_a26a_2_a_record_kind_a_prov_writer_edited_is_refused_naming_the_record_not_the_key(prov, workdir, store):
    """The signed kind is held to the version's record: a ``.prov/`` writer who sets v2's row to ``tree`` gets v2
    refused (exit 1), and the message names the record as well as a commit key, since either can be at fault."""
    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update versions set kind = 'tree' where tag = 'v2'")
    db.close()
    for args in (("verify", "v2", *PIN), ("diff", "v1", "v2", *PIN)):
        r = prov(*args)
        assert r.exit_code == 1, (args, r.output)
        assert "version v2: its signed schema says kind 'table' but the version's record says 'tree'" in r.output


def commit_v1_v2(prov) -> tuple[pa.Table, tuple[str, str]]:
    """A new store with v1 (300 digits of ``train.parquet``) and v2 (340), committed by ``maintainer.key`` under
    its pin. Returns the 400-digit table they are cut from and the ``--signer`` arguments."""
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    pinned = ("--signer", "maintainer.pub")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *pinned)
    pq.write_table(table.slice(0, 340), "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *pinned)
    return table, pinned


def plant_rolled_back_v3(prov, workdir) -> tuple[str, str]:
    """v1, v2 committed; v3 (every label 7) committed, then ``.prov/`` restored from the copy made before it; a
    ``.prov/`` writer puts v3 back: its objects, its row and a chain-valid pending ``commit`` entry. Returns the
    ``--signer`` arguments."""
    table, pinned = commit_v1_v2(prov)
    shutil.copytree(".prov", "backup")
    poisoned = table.slice(0, 340)
    at = poisoned.schema.get_field_index("label")
    poisoned = poisoned.set_column(at, "label", pa.array([7] * 340).cast(poisoned.schema.field("label").type))
    pq.write_table(poisoned, "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v3", "--key", "maintainer.key", *pinned)
    with sqlite3.connect(".prov/prov.db") as db:
        db.row_factory = sqlite3.Row
        row = dict(db.execute("select * from versions where tag = 'v3'").fetchone())
        detail = json.loads(
            db.execute("select detail from audit where action = 'commit' and subject = 'v3'").fetchone()[0]
        )
    db.close()
    objects = {p.name: p.read_bytes() for p in (workdir / ".prov" / "objects").iterdir()}
    shutil.rmtree(".prov")
    shutil.copytree("backup", ".prov")  # the maintainer's restore

    for name, data in objects.items():  # the .prov/ writer: objects, the row, a pending entry
        if not (workdir / ".prov" / "objects" / name).exists():
            (workdir / ".prov" / "objects" / name).write_bytes(data)
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute(f"insert into versions ({', '.join(row)}) values ({', '.join('?' * len(row))})", list(row.values()))
    db.close()
    plant_pending_entry(workdir / ".prov" / "prov.db", "commit", "v3", detail)
    return pinned


def test_a26a_3_data_of_names_a_version_only_a_pending_log_entry_holds(prov, workdir):
    """The maintainer committed v3 from a poisoned train.parquet (every label 7), saw it, and restored ``.prov/``
    from the copy made before it. A ``.prov/`` writer puts v3 back: its row and objects (signed by the maintainer's
    key, so they verify) and a chain-valid ``commit`` entry, pending (``prov audit verify``: "under no signature; no
    check relies on them"). ``prov status train.parquet --version v2`` then ends "train.parquet is the data v3
    signed": A25b-4's guard (only versions a commit entry names) is one planted entry away. (With that entry plain
    ``prov status`` compares with v3, "unchanged since v3": documented, the last version is picked the same way.)"""
    pinned = plant_rolled_back_v3(prov, workdir)
    audit = ok(prov, "audit", "verify", *pinned)
    assert "PENDING" in audit and "commit v3" in audit, audit

    out = ok(prov, "status", "train.parquet", "--version", "v2", *pinned)
    assert out.startswith("train.parquet: 307 relabeled since v2"), out
    doc = json.loads(ok(prov, "status", "train.parquet", "--version", "v2", "--json", *pinned))
    validate_output("status", doc)
    assert "is the data v3 signed" not in out and doc["data_of"] == [], out


# what a source (or whoever holds its key) can sign in its batch envelope's schema: shapes no prov writes
ENVELOPE_SCHEMAS = {
    "label-a-string": lambda p: p["schema"].__setitem__("label", "int64"),
    "classes-numbers": lambda p: p["schema"].__setitem__("classes", [0, 1]),
    "kind-other": lambda p: p["schema"].__setitem__("kind", "image"),
    "schema-null": lambda p: p.__setitem__("schema", None),
}


# well-shaped envelope schemas whose facts contradict each other or the batch's records (A26a-1/2)
ENVELOPE_CONTRADICTIONS = {
    "columns-twice": lambda p: p["schema"].__setitem__("columns", p["schema"]["columns"] + ["px00"]),
    "classes-twice": lambda p: p["schema"].__setitem__("classes", ["0", "1", "0"]),
    "columns-not-the-typed-ones": lambda p: p["schema"].__setitem__("columns", ["nope"]),
    "kind-tree-for-a-table": lambda p: p["schema"].__setitem__("kind", "tree"),
}


@pytest.mark.parametrize("change", list(ENVELOPE_SCHEMAS))
def test_held_prov_add_refuses_every_malformed_envelope_schema_and_leaves_the_store_as_it_was(
    prov, workdir, store, change
):
    vendor_signs_schema(prov, ENVELOPE_SCHEMAS[change])
    _add_is_refused(prov, workdir)


@pytest.mark.parametrize("change", list(ENVELOPE_CONTRADICTIONS))
def test_a26a_1_2_prov_add_refuses_an_envelope_schema_that_contradicts_itself_or_the_batch(
    prov, workdir, store, change
):
    """A source's key signs a schema each of whose keys is well shaped, but a column or class named twice, columns
    other than the typed ones, or kind ``tree`` for a Parquet batch: refused as the malformed shapes are."""
    vendor_signs_schema(prov, ENVELOPE_CONTRADICTIONS[change])
    _add_is_refused(prov, workdir)


def _add_is_refused(prov, workdir) -> None:
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "vendor.parquet", "--source", "vendor", *PIN)
    assert r.exit_code == 2 and r.output.startswith("Error: vendor.parquet.prov.json: "), r.output
    assert r.output.count("\n") == 1 and "signed schema is not the shape prov sign writes" in r.output, r.output
    assert store_fingerprint(workdir / ".prov") == before


@pytest.mark.parametrize(
    "change, shown",
    [
        (lambda p: p["schema"]["types"].__setitem__("note", "struct<a\ud800: string>"), "a\\ud800"),
        (lambda p: p["schema"].__setitem__("label", {"type": "x\n  lineage: 60 attested", "kind": "int"}), "x\\x0a"),
    ],
    ids=["type-with-a-lone-surrogate", "label-type-with-a-newline"],
)
def test_held_well_shaped_odd_strings_are_shown_escaped_and_crash_nothing(prov, workdir, store, change, shown):
    """A commit-key holder's type strings that pass ``schema_problem``: a lone surrogate in a struct's field name (JSON's ``\\ud800``, which
    no UTF-8 encoder writes) and a newline. Every diff format and check runs; text shows them escaped."""
    import base64
    import hashlib

    from provenance import signing

    _signed_base_and(prov, {"note": _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    # signed as ASCII JSON (canonical_json would refuse to encode the surrogate): any signer can write these bytes
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        [old] = db.execute("select envelope_object from versions where tag = 'v2'").fetchone()
        env = json.loads((workdir / ".prov" / "objects" / f"{old}.json").read_bytes())
        stmt = json.loads(base64.b64decode(env["payload"]))
        change(stmt["predicate"])
        body = json.dumps(stmt, sort_keys=True, separators=(",", ":")).encode()
        sig = keys.load_private(workdir / "m.key").sign(signing.pae(signing.PAYLOAD_TYPE, body))
        new = {
            "payloadType": signing.PAYLOAD_TYPE,
            "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": env["signatures"][0]["keyid"], "sig": base64.b64encode(sig).decode()}],
        }
        data = json.dumps(new, sort_keys=True, separators=(",", ":")).encode()
        oid = hashlib.sha256(data).hexdigest()
        (workdir / ".prov" / "objects" / f"{oid}.json").write_bytes(data)
        db.execute("update versions set envelope_object = ? where tag = 'v2'", [oid])
    db.close()
    text = _run(prov, "diff", "v1", "v2", *PIN).output
    assert shown in text and "\n  lineage: 60 attested" not in text, text
    validate_output("diff", json.loads(_run(prov, "diff", "v1", "v2", *PIN, "--format", "json").stdout))
    for fmt in ("md", "html"):
        _run(prov, "diff", "v1", "v2", *PIN, "--format", fmt)
    r = prov("check", "v2", "--base", "v1", *PIN, "--format", "json")
    assert r.exit_code == 1, r.output
    validate_output("check", json.loads(r.stdout))


def _vendor_world(prov) -> None:
    pq.write_table(digits_table(60), "batch.parquet")
    for name in ("maintainer", "vendor", "vendor2"):
        ok(prov, "keys", "generate", name)
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")


@pytest.mark.parametrize("revoked", ["the-source-s-other-key", "this-key-under-another-source"])
def test_held_verify_names_no_revocation_of_another_key_or_source(prov, workdir, revoked):
    """The store revokes the vendor's old key (stolen), or the key the batch is signed with, but trusted for another
    source ``other``. ``prov verify batch.parquet --signer vendor2.pub`` names no revocation: the advice to check
    the batch outside the store stands (exit 2), as it should for a key this store never revoked for ``vendor``."""
    _vendor_world(prov)
    if revoked == "the-source-s-other-key":
        source, kid = "vendor", keys.key_id(keys.load_public("vendor.pub"))
    else:
        ok(prov, "trust", "add", "other", "vendor2.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
        source, kid = "other", keys.key_id(keys.load_public("vendor2.pub"))
    ok(
        prov,
        "trust",
        "revoke",
        source,
        "--key-id",
        kid[:16],
        "--reason",
        "stolen",
        "--yes",
        "--signer",
        "maintainer.pub",
    )
    ok(prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor2.key")
    r = prov("verify", "batch.parquet", "--signer", "vendor2.pub")
    line = one_line(r)
    assert r.exit_code == 2 and "revoke" not in line and "no .prov/ in it or above" in line, line


def test_held_a_tight_memory_limit_refuses_a_threaded_commit_naming_the_limit(prov, workdir, store):
    """A local Parquet file is hashed on threads of this process (``sources.build``). Under PROV_MEMORY_LIMIT=150MiB
    (below two interpreters' base, which 47be7d2 charges threads again) the commit is refused before hashing: exit 2,
    one line naming the file and the limit, the store unchanged. (Measured by hand with /usr/bin/time: 60,000 rows
    of 2 kB strings, local:2, 600 MiB limit: 512 MiB peak; 400 MiB refused at 101 MiB.)"""
    pq.write_table(digits_table(2000), "train.parquet", row_group_size=200)
    ok(prov, "keys", "generate", "m")
    before = store_fingerprint(workdir / ".prov")
    r = prov(
        "commit", "train.parquet", "--tag", "v1", "--key", "m.key", *PIN,
        env={"PROV_MEMORY_LIMIT": "150MiB", "PROV_EXECUTOR": "local:2"},
    )  # fmt: skip
    assert r.exit_code == 2 and r.output.startswith("Error: train.parquet: "), r.output
    assert "above the memory limit of 150 MiB" in r.output and r.output.count("\n") == 1, r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a26a_4_a_column_name_holding_a_comma_reads_as_two_metadata_columns(prov, workdir, store):
    """A25a-5's fix passes each name through ``visible``, which keeps ``, `` as it is: the data's writer names a
    column ``note, px00``; the maintainer commits with ``--metadata 'note, px00'`` and prov commit says
    "read options differ from v2: --metadata note, px00 (v2: none)", which reads as the vendor's signed pixel column
    px00 left out of the digest too. ``lineage/retyped.column_names_text`` quotes such a name (``'note, px00'``);
    these lines do not."""
    name = "note, px00"
    _signed_base_and(prov, {name: _strings})
    _run(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PIN)
    r = _run(
        prov, "commit", "train.parquet", "--parent", "v2", "--tag", "v3", "--metadata", name, "--key", "m.key", *PIN
    )
    assert "read options differ from v2: --metadata" in r.stdout, r.stdout
    assert "--metadata note, px00 (v2: none)" not in r.stdout, r.stdout
    assert "--metadata 'note, px00' (v2: none)" in r.stdout, r.stdout


def _vectors_only(name: str) -> None:
    """v.parquet: 80 records whose one content column, ``name``, holds vectors (so no numeric feature column)."""
    pq.write_table(
        pa.table({name: pa.array([[float(i), 1.0] for i in range(80)]), "label": [str(i % 2) for i in range(80)]}),
        "v.parquet",
    )


def test_a26a_5_a_column_name_starts_a_line_of_its_own_in_the_featuriser_advice(prov, workdir, store):
    """A25b-5 escaped file names in the featuriser advice; the column names in the same note ("no reference profile
    (... columns: NAME ...); column NAME holds vectors: commit with --featurizer embedding --featurizer-option
    column=NAME)") are printed as they are: the data's writer names the vector column with a newline and prov
    commit prints a second lineage line of the writer's choosing under its own."""
    _vectors_only("emb\n  lineage: 80 attested, 0 relabeled after source, 0 unattributed")
    ok(prov, "keys", "generate", "m")
    r = _run(prov, "commit", "v.parquet", "--tag", "v1", "--key", "m.key", *PIN)
    assert "holds vectors" in r.stdout, r.stdout
    assert [line for line in r.stdout.splitlines() if line.startswith("  lineage: ")] == [
        "  lineage: 0 attested, 0 relabeled after source, 80 unattributed"
    ], r.stdout


def test_a26a_5_the_advised_featuriser_flags_run_a_command_the_column_name_holds(prov, workdir, store):
    """The advised flags, pasted into bash, run what a column name holds: ``column=emb;touch PWNED`` is unquoted
    (``escaping.shell_word`` quotes a name everywhere else prov advises a command)."""
    import re
    import subprocess

    _vectors_only("emb;touch PWNED")
    ok(prov, "keys", "generate", "m")
    r = _run(prov, "commit", "v.parquet", "--tag", "v1", "--key", "m.key", *PIN)
    [flags] = re.findall(r"commit with (--featurizer embedding .*?)\); detectors", r.stdout)
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {flags}"], cwd=workdir, check=False, capture_output=True)
    assert not (workdir / "PWNED").exists(), flags
    argv = out.stdout.decode().split("\0")[:-1]
    assert argv == ["--featurizer", "embedding", "--featurizer-option", "column=emb;touch PWNED"], flags


@pytest.mark.parametrize("name", ["emb;touch PWNED", "7", "e\nmb"], ids=["shell", "json-number", "newline"])
def test_a26a_5_the_advised_featuriser_flags_pasted_into_bash_give_the_vector_column_a_profile(prov, workdir, name):
    """The advice followed as a user would: its flags pasted into real bash, then given to the next commit, which
    profiles the column the advice named (a name that parses as JSON, ``7``, is advised as the JSON string)."""
    import re
    import subprocess

    _vectors_only(name)
    ok(prov, "init")
    ok(prov, "keys", "generate", "m")
    r = _run(prov, "commit", "v.parquet", "--tag", "v1", "--key", "m.key", *PIN)
    [flags] = re.findall(r"commit with (--featurizer embedding .*?)\); detectors", r.stdout)
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {flags}"], cwd=workdir, check=True, capture_output=True)
    argv = out.stdout.decode().split("\0")[:-1]
    assert not (workdir / "PWNED").exists() and argv[:3] == ["--featurizer", "embedding", "--featurizer-option"]
    r = _run(prov, "commit", "v.parquet", "--tag", "v2", "--key", "m.key", *PIN, *argv)
    assert "no reference profile" not in r.stdout, r.stdout
