"""fix34a: the copy index reads every row of a table in one pass (``profiles.copy_index_read``): a folder of files
(one with a ``#`` in its name) gives each record's own features in the index, and a record the index cannot
featurise fails the commit closed (exit 2, the store unchanged), as one in the profile sample does (A33d-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance import Store
from provenance.encoding.columns import table_digests
from provenance.profiles.copy_index import digest_prefixes
from provenance.profiles.stage import load_profile
from support import commit_signed

COLUMNS = ("f0", "f1", "f2")


def _table(n: int, seed: int) -> pa.Table:
    X = np.random.default_rng(seed).normal(0, 1, (n, len(COLUMNS)))
    return pa.table({**{c: X[:, j] for j, c in enumerate(COLUMNS)}, "label": np.array(["a", "b"])[np.arange(n) % 2]})


def test_every_row_of_a_folder_of_files_is_in_the_index_with_its_own_features(prov, keypair, store):
    Path("data").mkdir()
    parts = [_table(2_600, 1), _table(1_900, 2)]
    pq.write_table(parts[0], "data/a.parquet", row_group_size=1_000)
    pq.write_table(parts[1], "data/b#1.parquet")  # the locator's "#" is the last one
    commit_signed(prov, keypair, "v1", "data")
    profile = load_profile(Store(".prov"), "v1")
    index = profile.copy_index
    whole = pa.concat_tables(parts)
    assert index is not None and len(index.keys) == len(whole) == 4_500
    digests = np.frombuffer(b"".join(table_digests(whole, COLUMNS)), np.uint8).reshape(-1, 32)
    X = np.column_stack([whole.column(c).to_numpy() for c in COLUMNS])
    want = profile.standardize(X.astype(np.float32))  # the numeric featuriser gives float32
    row_of = {int(p): i for i, p in enumerate(digest_prefixes(digests).tolist())}
    rows = np.array([row_of[int(p)] for p in index.digests.tolist()])
    assert np.array_equal(index.Z, want[rows])
    labels = np.array([profile.classes.index(x) for x in whole.column("label").to_pylist()])
    assert np.array_equal(index.labels, labels[rows])


def test_a_record_outside_the_sample_that_cannot_be_featurised_fails_the_commit(prov, keypair, store):
    # v2's own sample holds the record about one commit in ten (4,000 of 40,000): refused there too, whatever the salt;
    # the other nine were committed without a copy index before (its "could not all be read again" reason)
    base = _table(40_000, 3)
    pq.write_table(base, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    in_sample = {bytes(d) for d in load_profile(Store(".prov"), "v1").sample_digests}
    digests = table_digests(base, COLUMNS)
    row = next(i for i, d in enumerate(digests) if d not in in_sample)
    f1 = base.column("f1").to_numpy().copy()
    f1[row] = np.inf
    pq.write_table(base.set_column(1, "f1", pa.array(f1)), "v2.parquet")
    before = sorted(p.name for p in Path(".prov/objects").rglob("*"))
    r = prov("commit", "v2.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 2 and "v2.parquet" in r.output and "f1" in r.output, r.output
    assert sorted(p.name for p in Path(".prov/objects").rglob("*")) == before
