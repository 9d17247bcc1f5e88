"""The audit log's state a release signs (an RFC 9162 tree head) and the checks that a later log extends it."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from provenance import merkle, versions
from provenance.errors import InputError, VerificationError
from provenance.lineage import register
from provenance.sources.interface import DatasetSpec
from provenance.store import audit
from provenance.store.checkpoints import leaves
from provenance.store.log_state import LogState, current, require_consistent, require_extends
from support import digits_table


@pytest.fixture
def logged(store, keypair, workdir):
    """v1 committed, then two unsigned batches added: a log of a few entries that grows."""
    pq.write_table(digits_table(80), workdir / "d.parquet")
    versions.commit(store, DatasetSpec(str(workdir / "d.parquet")), "v1", keypair.private_path, stages=[])
    return store


def add(store, workdir, seed: int) -> None:
    # a batch of its own records: the same records under another source would be refused (prov add --force)
    pq.write_table(digits_table(100).slice(10 * seed, 10), workdir / f"b{seed}.parquet")
    register.add_batch(store, DatasetSpec(str(workdir / f"b{seed}.parquet")), f"b{seed}", unsigned=True)


def test_the_state_is_the_rfc9162_root_and_chain_head_of_the_whole_log(logged):
    state = current(logged)
    _, hashes = leaves(logged.db)
    assert state == LogState(len(hashes), merkle.merkle_root(hashes).hex(), audit.head(logged.db)[1])
    assert LogState.from_dict(state.to_dict(), "x") == state and LogState.from_dict(None, "x") is None
    for bad in ({"treeSize": -1, "rootHash": state.root, "headHash": state.head}, {"treeSize": 1}, [1, 2, 3]):
        with pytest.raises(InputError, match="x: malformed auditLog"):
            LogState.from_dict(bad, "x", InputError)


def test_a_grown_log_extends_an_older_state_with_a_consistency_proof(logged, workdir):
    older = current(logged)
    add(logged, workdir, 1)
    add(logged, workdir, 2)
    newer = current(logged)
    require_extends(logged, older, "a")
    require_consistent(logged, older, newer, "b", "release 1")
    require_consistent(logged, LogState(0, merkle.EMPTY_ROOT.hex(), audit.GENESIS), newer, "b", "release 0")


def test_a_truncated_or_rewritten_log_does_not_extend_the_state_it_signed(logged, workdir):
    add(logged, workdir, 1)
    signed = current(logged)
    logged.db.execute("delete from audit where seq = ?", [signed.size])  # the newest entry removed
    with pytest.raises(VerificationError, match=f"has {signed.size - 1} entries, 1 fewer than the log state"):
        require_extends(logged, signed, "kept")
    add(logged, workdir, 3)  # regrown to the same size with another entry
    assert current(logged).size == signed.size
    with pytest.raises(VerificationError, match="kept: the store's audit log is not an extension of the log state"):
        require_extends(logged, signed, "kept")
    with pytest.raises(VerificationError, match="no RFC 9162 consistency proof from the audit log of release 1"):
        require_consistent(logged, signed, current(logged), "new", "release 1")
    smaller = LogState(signed.size - 1, "00" * 32, "00" * 32)
    with pytest.raises(VerificationError, match="the log lost entries between the two releases"):
        require_consistent(logged, signed, smaller, "new", "release 1")
