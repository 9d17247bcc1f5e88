"""The streaming merge: exact counts whatever the window size, digest ties, unsorted input."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from provenance.delta.merge import digest_view, fill_rows, locate, merge, table_batches, table_fetcher
from provenance.errors import VerificationError
from provenance.manifest import Manifest


def d(i) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def manifests():
    base = Manifest.build(
        [d(i) for i in range(300)],
        ["cat" if i % 2 else "dog" for i in range(300)],
        [str(i) for i in range(300)],
        ["a"] * 150 + ["b"] * 150,
    )
    rows = []
    for i in range(20, 300):  # 20 removed
        label = "bird" if 40 <= i < 52 else ("cat" if i % 2 else "dog")  # 12 relabeled
        source = "c" if 60 <= i < 65 else ("a" if i < 150 else "b")  # 5 change source
        rows.append((d(i), label, source, str(i)))
    rows += [(d(70), "cat" if 70 % 2 == 0 else "dog", "a", "conflict")]  # 1 conflicting label
    rows += [(d(80), "dog", "a", f"copy{k}") for k in range(3)]  # 3 extra copies
    rows += [(d(1000 + i), "cat", "x", f"n{i}") for i in range(40)]  # 40 added
    digests, labels, sources, locators = map(list, zip(*rows))
    return base, Manifest.build(digests, labels, locators, sources)


@pytest.mark.parametrize("window", [1, 2, 7, 64, 1 << 20])
def test_counts_do_not_depend_on_the_window(window):
    base, new = manifests()
    c = merge(table_batches(base.table, window), table_batches(new.table, window), "A", "B", limit=0)
    fill_rows(c, table_fetcher(base.table), table_fetcher(new.table))
    assert (c.count("added"), c.count("removed"), c.count("relabeled"), c.count("conflicting")) == (40, 20, 13, 1)
    assert c.duplicates_added == 4 and c.source_changed == 5
    assert c.unchanged == 280 - 13 - 5
    assert c.rows == {"base": 300, "new": 280 + 1 + 3 + 40}
    assert c.relabel_pairs[("cat", "bird")] + c.relabel_pairs[("dog", "bird")] == 12
    assert len(c.examples["added"]) == 40
    assert {e["locator"] for e in c.examples["removed"]} == {str(i) for i in range(20)}


def test_a_dataset_against_itself_has_no_changes():
    base, _ = manifests()
    c = merge(table_batches(base.table, 16), table_batches(base.table, 50), "A", "B")
    assert c.count("added") == c.count("removed") == c.count("relabeled") == 0 and c.unchanged == 300


def test_locate_handles_digests_that_share_their_first_8_bytes():
    prefix = b"\x01" * 8
    hay = np.array(sorted([prefix + bytes([i]) * 24 for i in (1, 3, 5)] + [b"\x02" * 32]), dtype="S32")
    needles = np.array(
        sorted([prefix + bytes([i]) * 24 for i in (3, 4, 5)] + [b"\x02" * 32, b"\x03" * 32]), dtype="S32"
    )
    assert locate(needles, hay).tolist() == [1, -1, 2, 3, -1]


def test_unsorted_manifest_is_a_verification_error():
    base, _ = manifests()
    shuffled = base.table.take(pa.array(np.random.default_rng(0).permutation(len(base))))
    with pytest.raises(VerificationError, match="not sorted"):
        merge(table_batches(shuffled, 32), table_batches(base.table), "manifest of v1", "B")


def test_digest_view_is_zero_copy_and_exact():
    base, _ = manifests()
    col = base.table.column("digest").combine_chunks()
    view = digest_view(col.slice(5, 3))
    assert [bytes(v) for v in view] == col.slice(5, 3).to_pylist()
