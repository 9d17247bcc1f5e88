"""The streaming merge: exact counts whatever the window size, digest ties, unsorted input."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from provenance.delta.digests import digest_view, is_sorted, locate
from provenance.delta.merge import fill_rows, merge
from provenance.delta.windows import Window, table_batches, table_fetcher
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


def _chunks(values: np.ndarray, size: int):
    return (values[i : i + size] for i in range(0, len(values), size))


def _statuses(manifest: Manifest, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, len(manifest)).astype(np.int8)


def _reference_transitions(base, new, base_status, new_status) -> dict:
    """Per digest: the worst (highest) status rank of its rows; compare digests in both."""
    worst = []
    for m, status in ((base, base_status), (new, new_status)):
        by: dict[bytes, int] = {}
        for digest, s in zip(m.table.column("digest").to_pylist(), status.tolist()):
            by[digest] = max(by.get(digest, 0), s)
        worst.append(by)
    names = ("attested", "relabeled_after_source", "unattributed")
    out: dict = {}
    for digest in worst[0].keys() & worst[1].keys():
        a, b = worst[0][digest], worst[1][digest]
        if a != b:
            out[f"{names[a]} -> {names[b]}"] = out.get(f"{names[a]} -> {names[b]}", 0) + 1
    return out


@pytest.mark.parametrize(("window", "chunk"), [(1, 1), (7, 5), (64, 300), (1 << 20, 1)])
def test_lineage_statuses_stream_beside_the_rows_whatever_the_chunks(window, chunk):
    base, new = manifests()
    sa, sb = _statuses(base, 1), _statuses(new, 2)
    c = merge(
        table_batches(base.table, window),
        table_batches(new.table, window),
        "A",
        "B",
        limit=0,
        base_status=_chunks(sa, chunk),
        new_status=_chunks(sb, chunk),
    )
    assert dict(c.transitions) == _reference_transitions(base, new, sa, sb)
    added = c.array("added", "digests")
    worst_new = {}
    for digest, s in zip(new.table.column("digest").to_pylist(), sb.tolist()):
        worst_new[digest] = max(worst_new.get(digest, 0), s)
    assert [worst_new[added[i : i + 1].tobytes()] for i in range(len(added))] == c.array("added", "status").tolist()
    relabeled = c.array("relabeled", "digests")
    assert [worst_new[relabeled[i : i + 1].tobytes()] for i in range(len(relabeled))] == c.array(
        "relabeled", "status"
    ).tolist()


def test_no_lineage_is_all_unattributed():
    base, new = manifests()
    sb = np.zeros(len(new), np.int8)  # all attested in the new version
    c = merge(table_batches(base.table, 9), table_batches(new.table, 9), "A", "B", new_status=_chunks(sb, 11))
    assert dict(c.transitions) == {"unattributed -> attested": 280}
    assert set(c.array("added", "status").tolist()) == {0}


@pytest.mark.parametrize("extra", [-1, 1])
def test_lineage_of_another_length_is_a_verification_error(extra):
    base, new = manifests()
    status = np.zeros(len(new) + extra, np.int8)
    with pytest.raises(VerificationError, match="lineage of B has (fewer|more) rows than the manifest"):
        merge(
            table_batches(base.table, 16), table_batches(new.table, 16), "A", "manifest of B", new_status=iter([status])
        )


def test_order_is_checked_on_all_32_bytes_when_prefixes_tie():
    tie = b"\x07" * 8
    ordered = np.array([tie + b"\x01" * 24, tie + b"\x02" * 24, b"\x08" * 32], dtype="S32")
    assert is_sorted(ordered) and is_sorted(ordered[:1])
    assert not is_sorted(ordered[[1, 0, 2]]) and not is_sorted(ordered[[0, 2, 1]])


def test_groups_tell_digests_apart_on_all_32_bytes_when_their_first_words_agree():
    # neighbours sharing their first 8 bytes (an attacker's ~2^32 work) are still different records;
    # copies of one digest are one group: among many records (the first words decide most) and among few
    tie = b"\x05" * 8
    odd = [tie + bytes([i]) * 24 for i in range(1, 6)] + [b"\x06" * 32, b"\x06" * 32, tie + b"\x03" * 24]
    for many in (300, 0):
        digests = sorted([hashlib.sha256(str(i).encode()).digest() for i in range(many)] + odd)
        d = np.array(digests, dtype="S32")
        w = Window(0, d, np.zeros(len(d), np.int32), np.zeros(len(d), np.int32))
        g = w.groups()
        assert g.digests.tolist() == sorted(set(digests))
        assert g.counts.tolist() == [digests.count(x) for x in sorted(set(digests))]
