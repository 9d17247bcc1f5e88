"""Flip random bytes in prov.db, objects, envelopes and data: every meaningful flip is caught.

A flip is *meaningful* when it changes what a check depends on: for prov.db, the logical
dump (``iterdump``) changes, the file stops being readable, or SQLite's own structure
check fails; for an object, always (its bytes are its name); for a signed batch's
envelope, when the JSON value changes; for data, when the records read from it change.
Flips that change none of these (free pages, unused Parquet metadata, JSON whitespace)
are benign, and are counted apart. Caught = `prov fsck`, `prov audit verify` or
`prov verify` exits non-zero; a traceback or "internal error" is a crash.
"""

from __future__ import annotations

import sqlite3

import faults
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from faults import prov_inline, scaled


def test_random_byte_flips_are_all_caught_without_a_crash(world):
    results = faults.run_fuzz(world, scaled(120), seed=11)
    summary = faults.summarise_mutations(results)
    total = summary["total"]
    assert total["crashes"] == 0, summary["crashes"]
    assert total["caught"] == total["meaningful"], summary["missed"]
    assert total["benign_flagged"] == 0  # no false alarm on a byte that carries nothing
    assert total["meaningful"] > total["tried"] // 2


def _sql(world, statement, *args):
    conn = sqlite3.connect(world.prov_dir / "prov.db")
    conn.execute(statement, args)
    conn.commit()
    conn.close()


# Every stored field is vouched for by a signature or by the audit log; fsck replays it.
UNSIGNED_EDITS = [
    ("update versions set dataset = replace(dataset, 'train.parquet', 'other.parquet') where tag = 'v1'", "dataset"),
    ("update versions set created_at = '2001-01-01T00:00:00+00:00' where tag = 'v2'", "createdAt"),
    ("update keys set name = 'mallory'", "name"),
    ("update keys set registered_at = '2001-01-01T00:00:00+00:00'", "registered_at"),
    ("update keys set revoked_at = '2001-01-01T00:00:00+00:00'", "revoked"),
    ("update trust set name = 'mallory' where source = 'vendor'", "name"),
    ("update trust set valid_until = '2099-01-01T00:00:00+00:00' where source = 'vendor'", "valid_until"),
    ("update trust set revoked_at = null, revoked_reason = null where source = 'other'", "unrevoked"),
    ("update batches set data = '/elsewhere' where source = 'crowd'", "data"),
    ("update batches set labels = '{}' where source = 'crowd'", "label counts"),
    ("update batches set captured_at = '2001-01-01T00:00:00+00:00' where source = 'vendor'", "captured_at"),
    ("update batch_records set label = 'x' where rowid = 3", "indexed records"),
    ("delete from batch_records where rowid = 5", "indexed records"),
    ("update version_lineage set attested = attested + 1 where tag = 'v1'", "lineage"),
    ("update profiles set dim = dim + 1 where version = 'v1'", "dim"),
    ("update meta set value = '2'", "meta"),
    ("drop index idx_batch_records_digest", "missing"),
]


@pytest.mark.parametrize(
    "statement,needle", UNSIGNED_EDITS, ids=[s.split(" set ")[0] + " " + n for s, n in UNSIGNED_EDITS]
)
def test_fsck_catches_an_edit_to_any_stored_field(world, statement, needle):
    _sql(world, statement)
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 1 and not r.crashed, r.stdout + r.stderr
    assert needle in r.stdout, r.stdout
    # unpinned, a note says so first; the error is its own line
    assert any(line.startswith("Error: ") for line in r.stderr.splitlines()) and "integrity check failed" in r.stderr


def test_non_utf8_text_in_the_database_is_a_message_not_a_crash(world):
    _sql(world, "update versions set kind = cast(x'ff00fe' as text) where tag = 'v1'")
    for argv in (
        ["verify", "--store-keys", "v1"],
        ["log"],
        ["show", "v1"],
        ["fsck"],
        ["audit", "verify", "--store-keys"],
    ):
        r = prov_inline(*argv, cwd=world.root)
        assert r.code in (1, 3) and not r.crashed, (argv, r.stderr)
        assert "not UTF-8" in r.stderr or "not UTF-8" in r.stdout


def test_a_malformed_audit_row_is_a_broken_chain_not_a_crash(world):
    _sql(world, "update audit set ts = 12345 where seq = 2")
    r = prov_inline("audit", "verify", "--store-keys", cwd=world.root)
    assert r.code == 1 and not r.crashed and "audit log is broken" in r.stderr


def test_a_garbage_database_is_reported(world):
    db = world.prov_dir / "prov.db"
    db.write_bytes(b"\x00" * 100 + db.read_bytes()[100:])
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 1 and not r.crashed and "cannot read the store database" in r.stdout
    for argv in (["verify", "v1"], ["log"], ["audit", "verify", "--store-keys"]):
        r = prov_inline(*argv, cwd=world.root)
        assert r.code == 3 and not r.crashed and any(x.startswith("Error: ") for x in r.stderr.splitlines()), r.stderr


def test_undecodable_parquet_metadata_is_an_input_error(world):
    path = world.root / "named.parquet"
    pq.write_table(pa.table({"xx_column": [1, 2], "label": ["a", "b"]}), path)
    data = path.read_bytes().replace(b"xx_column", b"\x9fx_column")  # footer names no longer UTF-8
    path.write_bytes(data)
    r = prov_inline(
        "commit", path.name, "--tag", "named", "--key", "owner.key", "--signer", "owner.pub", cwd=world.root
    )
    assert r.code == 2 and not r.crashed and "named.parquet: cannot read parquet" in r.stderr, r.stderr


def test_a_damaged_dataset_row_is_not_relied_on_and_fsck_reports_it(world):
    """verify re-reads the data from the location the version *signed* (issue 12), so a
    damaged copy in the versions row changes nothing it checks; fsck names the damage."""
    _sql(world, "update versions set dataset = substr(dataset, 1, 20) where tag = 'v3'")
    r = prov_inline("verify", "--store-keys", "v3", cwd=world.root)
    assert r.code == 0 and not r.crashed and "data ok" in r.stdout, r.stdout + r.stderr
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 1 and not r.crashed and "v3" in r.stdout, r.stdout


def test_a_non_utf8_schema_is_a_store_error(world):
    conn = sqlite3.connect(world.prov_dir / "prov.db")
    conn.execute("pragma writable_schema = on")
    conn.execute(
        "update sqlite_master set sql = replace(sql, 'kind', cast(x'6bee6e64' as text)) where name = 'versions'"
    )
    conn.commit()
    conn.close()
    for argv in (["verify", "--store-keys", "v1"], ["fsck"]):
        r = prov_inline(*argv, cwd=world.root)
        assert r.code in (1, 3) and not r.crashed, r.stdout + r.stderr


def test_a_renamed_column_is_a_store_error_not_a_key_error(world):
    conn = sqlite3.connect(world.prov_dir / "prov.db")
    conn.execute("pragma writable_schema = on")
    conn.execute(
        "update sqlite_master set sql = replace(sql, 'manifest_object', 'manifest_objecX') where name = 'versions'"
    )
    conn.commit()
    conn.close()
    r = prov_inline("verify", "--store-keys", "v4", cwd=world.root)
    assert r.code == 3 and not r.crashed and "table versions lacks column(s) manifest_object" in r.stderr, r.stderr
    r = prov_inline("fsck", cwd=world.root)
    assert r.code == 1 and not r.crashed
