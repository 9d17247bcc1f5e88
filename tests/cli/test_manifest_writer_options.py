"""A manifest's Parquet writer options are no part of what is signed: a version whose manifest object was written
with the options before session 27 (zstd digests, column statistics) verifies, data re-read, and passes fsck
under today's writer, and the same data committed today gives the same root in another object."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq

from provenance import manifest
from provenance.sources import external_sort

BEFORE_SESSION_27 = {"compression": "zstd", "use_dictionary": ["label", "source", "batch"]}


def _manifest_object(workdir, tag: str) -> tuple[str, pq.FileMetaData]:
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (oid,) = db.execute("SELECT manifest_object FROM versions WHERE tag = ?", (tag,)).fetchone()
    return oid, pq.read_metadata(workdir / ".prov" / "objects" / f"{oid}.parquet")


def test_a_manifest_written_with_the_earlier_options_verifies_and_the_same_data_gives_its_root(
    prov, workdir, digits_parquet, keypair, monkeypatch
):
    env = {"PROV_SIGNERS": str(keypair.public_path)}
    assert prov("init").exit_code == 0
    today = manifest.PARQUET_OPTIONS
    monkeypatch.setattr(manifest, "PARQUET_OPTIONS", BEFORE_SESSION_27)
    monkeypatch.setattr(external_sort, "PARQUET_OPTIONS", BEFORE_SESSION_27)
    r = prov("commit", digits_parquet, "--tag", "v1", "--key", keypair.private_path)
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(manifest, "PARQUET_OPTIONS", today)
    monkeypatch.setattr(external_sort, "PARQUET_OPTIONS", today)
    old_oid, old = _manifest_object(workdir, "v1")
    digests = old.row_group(0).column(0)
    assert digests.compression == "ZSTD" and digests.is_stats_set  # written as prov wrote it before

    r = prov("verify", "v1", env=env)  # the data read again, its root recomputed and compared
    assert r.exit_code == 0, r.output
    assert prov("fsck", env=env).exit_code == 0

    r = prov("commit", digits_parquet, "--tag", "v2", "--parent", "v1", "--key", keypair.private_path, env=env)
    assert r.exit_code == 0, r.output
    new_oid, new = _manifest_object(workdir, "v2")
    digests = new.row_group(0).column(0)
    assert digests.compression == "UNCOMPRESSED" and not digests.is_stats_set
    assert new_oid != old_oid and new.metadata[b"prov.merkle_root"] == old.metadata[b"prov.merkle_root"]
    assert prov("verify", "v2", env=env).exit_code == 0
