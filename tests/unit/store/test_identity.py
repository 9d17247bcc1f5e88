"""The store id a signing write must sign (``identity.expected``), asked many times in one command."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from provenance import versions
from provenance.errors import VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.store import identity
from provenance.version_facts import verified_statement
from support import digits_table


def test_the_answer_is_read_again_once_another_connection_changes_the_store(store, keypair, workdir):
    """``prov log`` asks once per release, so the answer is remembered; a change committed by another
    process (a ``.prov/`` writer deleting every version and its commit entry) must be seen at the next ask,
    never answered from before it."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    first = identity.expected(store)
    assert first.store_id is not None and first.record is not None and not first.first
    assert identity.expected(store) == first  # nothing changed: the same answer
    with sqlite3.connect(workdir / ".prov" / "prov.db") as other:
        other.execute("delete from versions")
        other.execute("delete from audit where action = 'commit'")
    after = identity.expected(store)
    assert after.record is None and after.store_id is None and after.first


def test_a_forged_envelope_keeping_a_verified_signature_is_not_taken_after_another_connection_points_a_row_at_it(
    store, keypair, workdir
):
    """Signature verdicts are remembered for the process (``signing.signature_verifies``): after v1's statement
    was verified, a ``.prov/`` writer (another process) writes an envelope carrying v1's signature over a
    statement naming another store id and points v1's row at it. The id is read again and the forged envelope
    does not verify, so it neither counts nor makes the store look tampered."""
    pq.write_table(digits_table(60), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    first = identity.expected(store)
    row = store.version("v1")
    env = json.loads(store.objects.get(row["envelope_object"]))
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["store"] = "0" * 32
    forged = dict(env, payload=base64.b64encode(json.dumps(stmt).encode()).decode())
    data = json.dumps(forged).encode()
    oid = hashlib.sha256(data).hexdigest()
    (workdir / ".prov" / "objects" / f"{oid}.json").write_bytes(data)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as other:
        other.execute("update versions set envelope_object = ? where tag = 'v1'", [oid])
    assert identity.expected(store) == first
    with pytest.raises(VerificationError, match="version v1"):
        verified_statement(store, store.version("v1"))
