"""How much a base repeats records within its own file-order pseudo-batches (provenance/profiles/batch_copies.py):
counted as the gate counts a delivery's copies, kept bounded in the signed profile, read back as None from a
profile written before it, and turned into the room a clumped delivery gets."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.detectors.duplicates import copy_p_values
from provenance.gate.copies import CLUMPING_CAP, Copies
from provenance.manifest import Manifest
from provenance.profiles.batch_copies import (
    BatchCopies,
    _file_order_keys,
    batch_copies,
    batches_of_ranks,
    file_order_rank,
    manifest_batch_copies,
)
from provenance.profiles.batches import file_order
from provenance.profiles.reference import PSEUDO_BATCHES, ReferenceProfile, build_profile


def digests(keys) -> list[bytes]:
    return [hashlib.sha256(f"record-{k}".encode()).digest() for k in keys]


def sorted_base(runs: int = 300, seed: int = 0):
    """(X, y, keys): 600 records held once, then ``runs`` records in runs of 2 and 4 adjacent rows."""
    keys = list(range(600)) + [600 + i for i in range(runs) for _ in range(2 if i % 2 == 0 else 4)]
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, (600 + runs, 6)).astype(np.float32)
    X = features[keys]
    y = np.array([str(k % 3) for k in keys])
    return X, y, keys


def test_each_pseudo_batch_counts_its_copies_as_a_delivery_arriving_in_file_order():
    # one record: 3 rows in batch 0, 1 in batch 1; another: 2 rows, both in batch 1; a third held once
    groups = np.array([0, 0, 0, 0, 1, 1, 2])
    batches = np.array([0, 0, 0, 1, 1, 1, 1])
    got = batch_copies(groups, batches, 2)
    # batch 0 is the first delivery: record 0 is new there, its 3 rows are 2 copies (class 0); batch 1 is
    # judged against the rows before it: record 0 is held 3 times (class 2), 1 copy; record 1 is new, 2 rows:
    # 1 copy (class 0)
    assert got.rows.tolist() == [3, 4]
    assert got.copies.tolist() == [[2, 0, 0], [1, 0, 1]]
    assert got.most.tolist() == [[2, 0, 0], [1, 0, 1]]


def test_a_copy_counts_in_its_own_batch_only_never_in_the_batch_of_the_record_it_copies():
    # attack review 23b, finding 1: rows 0..2 of batch 0 copied in batch 2 (a re-delivery appended at the
    # end); batch 0 holds their first rows and carries no copy, batch 2 carries the 3 copies (class 0)
    groups = np.array([0, 0, 1, 1, 2, 2, 3])
    batches = np.array([0, 2, 0, 2, 0, 2, 1])
    got = batch_copies(groups, batches, 3)
    assert got.copies.tolist() == [[0], [0], [3]]
    assert got.most.tolist() == [[0], [0], [1]]


def test_the_manifest_streamed_in_parts_gives_what_every_row_gives():
    X, y, keys = sorted_base()
    d = digests(keys)
    whole = batch_copies(np.array(keys), batches_of_ranks(np.arange(len(keys)), 10), 10)
    for locators in ([str(i) for i in range(len(d))], [f"part-{i // 500}.csv#{i % 500}" for i in range(len(d))]):
        manifest = Manifest.build(d, list(y), locators)
        for rows in (3, 257, 1 << 20):
            got = manifest_batch_copies(
                lambda m=manifest, r=rows: m.iter_batches(["digest", "locator"], rows=r), len(d), 10
            )
            assert got is not None
            assert (got.rows.tolist(), got.copies.tolist(), got.most.tolist()) == (
                whole.rows.tolist(),
                whole.copies.tolist(),
                whole.most.tolist(),
            ), (locators[0], rows)


def test_the_profile_keeps_it_bounded_and_reads_it_back():
    X, y, keys = sorted_base()
    profile = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.arange(len(keys)))
    loaded = ReferenceProfile.from_bytes(profile.to_bytes())
    clumping = loaded.within_batch_copies
    assert clumping is not None and clumping.copies.shape[0] == 10 and clumping.copies.shape[1] <= 64
    assert clumping.most.max() == 3  # a run of 4 rows: 3 copies of one record new to the rest
    # the later batches are all runs (2 copies in 3 rows); the first ones hold records once
    assert clumping.worst_rates()[0] > 0.6 and clumping.copies[:3].sum() == 0
    # 10x the rows: the same array shapes (the classes grow with log2 of the most rows of one record only)
    X2, y2, keys2 = sorted_base(runs=3000, seed=1)
    big = build_profile(X2, y2, digests(keys2), featurizer="numeric/v1", positions=np.arange(len(keys2)))
    assert big.batch_copies.shape == profile.batch_copies.shape and big.batch_rows.shape == (10,)


def test_a_profile_written_without_it_reads_as_none_and_the_copy_tests_keep_their_old_room():
    X, y, keys = sorted_base()
    profile = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.arange(len(keys)))
    older = replace(profile, batch_rows=None, batch_copies=None, batch_most_copies=None)
    data = older.to_bytes()
    assert b"batch_copies" not in data and ReferenceProfile.from_bytes(data).within_batch_copies is None
    # a delivery that continues the file: 50 new records in runs of 2 and 4 (100 copies in 150 rows)
    extra, held = np.array([1, 3] * 25, np.int64), np.zeros(50, np.int64)
    repeated = np.array([2] * 150 + [4] * 150, np.int64)
    old = Copies(extra, held, 150, len(keys), repeated)
    new = Copies(extra, held, 150, len(keys), repeated, profile.within_batch_copies)
    assert old.blocks(0.02, 10) and not new.blocks(0.02, 10)
    # a flood of copies of records held once on top, beyond the clumped rate, still blocks
    flood = Copies(np.r_[extra, np.ones(80, np.int64)], np.r_[held, np.ones(80, np.int64)], 230, len(keys), repeated)
    assert replace(flood, clumping=profile.within_batch_copies).blocks(0.02, 10)


def test_the_clumped_rate_is_at_most_cap_times_the_whole_base_rate():
    # a base whose repeats are all in one region: the region's pseudo-batches carry copies at a rate the
    # whole base's Good-Turing estimate puts far lower; the rule takes at most CLUMPING_CAP times it
    worst = BatchCopies(np.full(10, 100), np.array([[90, 0]] * 10), np.array([[2, 0]] * 10))
    c = Copies(np.zeros(0, np.int64), np.zeros(0, np.int64), 100, 1000, np.array([2] * 10, np.int64), worst)
    assert c.rates()[0] == 0.02 and c.clumped_rates()[0] == CLUMPING_CAP * 0.02
    # a base that repeats nothing gets no room from its batches at all
    none = Copies(np.zeros(0, np.int64), np.zeros(0, np.int64), 100, 1000, np.zeros(0, np.int64), worst)
    assert none.clumped_rates()[0] == 0.0 and none.clumped_total_rate() == 0.0


def test_one_clumped_batch_is_trimmed_so_an_accepted_flood_at_the_end_widens_nothing():
    # nine batches with no copies and one full of them (a flood a release accepted, appended to the file)
    copies = np.zeros((10, 1), np.int64)
    copies[9, 0] = 90
    most = np.zeros((10, 1), np.int64)
    most[9, 0] = 40
    flood_at_end = BatchCopies(np.full(10, 100), copies, most)
    assert flood_at_end.worst_rates().tolist() == [0.0] and flood_at_end.worst_total_rate() == 0.0
    assert flood_at_end.single_ceiling().tolist() == [0.0]


def test_a_record_within_the_base_runs_is_not_extreme_and_one_beyond_them_is():
    X, y, keys = sorted_base()
    profile = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.arange(len(keys)))
    ceiling = profile.within_batch_copies.single_ceiling()
    assert ceiling[0] == 4.0  # the runs' 3 copies, plus one (the pseudo-batches tie at the top)

    class Delta:  # the fields copy_p_values reads, as a Delta carries them
        kinds = ["added"] * 100
        extra_copies = np.array([3, 4, 5, 9] + [0] * 96, np.int64)
        base_copies = np.zeros(100, np.int64)

    p, _ = copy_p_values(profile, Delta())  # type: ignore[arg-type]
    assert p[0] == 1.0 and p[1] == 1.0 and p[2] < 1e-3 and p[3] < 1e-6
    p_old, _ = copy_p_values(replace(profile, batch_rows=None, batch_copies=None, batch_most_copies=None), Delta())  # type: ignore[arg-type]
    assert p_old[1] < 0.01 and p_old[3] == p[3]  # before: 4 copies were in the tail; beyond the runs, as before


def test_re_deliveries_within_the_policy_slack_are_not_clumping_the_next_release_repeats():
    # two accepted re-delivery floods in two pseudo-batches (9 and 18 copies of records held once, in 160
    # rows each): trimming leaves out the larger; the other is within the slack (min_copies - 1 = 9)
    copies = np.zeros((10, 1), np.int64)
    copies[8, 0], copies[9, 0] = 9, 18
    floods = BatchCopies(np.full(10, 160), copies, np.minimum(copies, 1))
    assert floods.worst_rates()[0] == 9 / 160
    assert floods.beyond_slack(0.02, 10).worst_rates().tolist() == [0.0]
    assert floods.beyond_slack(0.02, 10).worst_total_rate() == 0.0
    # a base's own clumping beyond the slack is kept (rows * rate when larger: 1,000 rows at 2% is 20)
    clumped = BatchCopies(np.full(10, 1000), np.full((10, 2), 50, np.int64), np.ones((10, 2), np.int64))
    assert clumped.beyond_slack(0.02, 10).copies.tolist() == [[30, 50]] * 10


def test_the_per_record_ceiling_is_capped_whatever_the_profile_says():
    # as much as a sound profile can say (every row of every pseudo-batch a copy of one record)
    full = BatchCopies(np.full(10, 120), np.full((10, 4), 30, np.int64), np.full((10, 4), 30, np.int64))
    assert full.single_ceiling().tolist() == [
        8.0,
        8.0,
        16.0,
        31.0,
    ]  # CLUMPING_CAP x 2, 2, 4; then 30 plus one, below 32
    # the sample base's own runs stay below the cap (test above: 4)
    assert CLUMPING_CAP * 2 > 4.0


def test_batch_arrays_no_base_gives_are_named():
    ok = (np.full(10, 100, np.int64), np.full((10, 2), 5, np.int64), np.full((10, 2), 2, np.int64))
    assert BatchCopies.problem(*ok, 1000) is None
    bad = {
        "shapes": (np.full(3, 100, np.int64), ok[1], ok[2]),
        "not integers": (ok[0], ok[1].astype(np.float64), ok[2]),
        "negative": (ok[0], -ok[1], ok[2]),
        "batch_copies exceed batch_rows": (ok[0], np.full((10, 2), 60, np.int64), ok[2]),
        "batch_most_copies exceed batch_copies": (ok[0], ok[1], np.full((10, 2), 6, np.int64)),
        "more than the base's 999 rows": ok,
        "1 <= K": (ok[0], np.zeros((10, 0), np.int64), np.zeros((10, 0), np.int64)),
    }
    for words, arrays in bad.items():
        problem = BatchCopies.problem(*arrays, 999 if words.startswith("more") else 1000)
        assert problem is not None and words in problem, (words, problem)


def python_ranks(locators) -> list[int]:
    """Each locator's rank in file order as ``file_order``'s Python keys give it, ties in the given order."""
    keys = file_order(locators)
    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(len(order))
    return ranks.tolist()


def test_locators_of_a_folder_or_a_tree_rank_in_arrow_as_file_order_ranks_them():
    # attack review 23b, finding 4: the ranking of file#row and path locators is Arrow's, not a Python key a row;
    # it must give file_order's ranks exactly, ties in the given order, over chunks as a manifest's parts give
    rng = np.random.default_rng(3)
    folder = [
        f"part-{int(f):03d}.parquet#{int(r)}" for f, r in zip(rng.integers(0, 12, 3000), rng.integers(0, 900, 3000))
    ]
    tree = [
        f"{c}/img-{int(i)}.png" for c, i in zip(rng.choice(["cat", "dog", "ant"], 2000), rng.integers(0, 500, 2000))
    ]
    odd = ["a#1#x", "x#12", "12", "", None, "f#007", "#5", "a#", "##3", "a b#1", "007", "x#2", "x#10", "a#1"] * 3

    # row numbers alone take Arrow's int64 cast: only when every locator is ASCII digits, as file_order reads one
    numbers = [["10", "2", "007", "1"], ["3", "-1", "0", "12"], ["5", "\u0663", "1"], ["1", None, "0"], ["2", "+1"]]
    for locators in (folder, tree, odd, folder + tree + odd, odd + ["é#1", "a#12345678901234567890"], *numbers):
        want = python_ranks(locators)
        assert file_order_rank(locators).tolist() == want
        chunks = [pa.array(locators[i : i + 700], pa.string()) for i in range(0, len(locators), 700)]
        assert file_order_rank(pa.chunked_array(chunks, pa.string())).tolist() == want


def test_a_profile_ranks_its_sample_by_file_order_rank_whatever_it_is_given():
    # session 24: one file-order ranking (profiles.batch_copies.file_order_rank) for the profile's pseudo-batches
    # and the within-batch copies; a profile given its sample's locators cuts the batches a profile given the
    # same order as numbers cuts, whatever order the rows came in
    rng = np.random.default_rng(5)
    n = 300
    X = rng.normal(size=(n, 3))
    y = np.array(["a", "b"])[rng.integers(0, 2, n)]
    keys = [bytes([i % 256, i // 256]) + bytes(30) for i in range(n)]
    locators = [f"part-{i // 100}.parquet#{i % 100}" for i in range(n)]
    shuffled = rng.permutation(n)
    by_locator = build_profile(
        X[shuffled], y[shuffled], digests([keys[i] for i in shuffled]), featurizer="numeric/v1",
        positions=[locators[i] for i in shuffled],
    )  # fmt: skip
    by_number = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.arange(n))
    assert by_locator.to_bytes() == by_number.to_bytes()
    assert len(set(by_locator.sample_batches.tolist())) == PSEUDO_BATCHES
    with pytest.raises(ValueError, match="299 positions for 300 records"):
        build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.arange(n - 1))
    # a tree's non-ASCII paths (ranked in Arrow since attack review 24b) give the profile of file_order's Python
    # ranks, byte for byte: profiled as before
    dirs = ["cat", "çat", "dog", "中", "d\U0001f600g", "zebra"]
    paths = [f"{dirs[int(d)]}/img-{int(i)}#{int(r)}" for d, i, r in zip(*rng.integers(0, 6, (3, n)))]
    assert _file_order_keys(pa.array(paths, pa.string())) is not None
    by_path = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=paths)
    by_rank = build_profile(X, y, digests(keys), featurizer="numeric/v1", positions=np.array(python_ranks(paths)))
    assert by_path.to_bytes() == by_rank.to_bytes()


LOCATOR_PIECES = "a b/ img é ß 中 \U0001f600 / # ## 0 1 9 007 12 +5 -1 ² ٣ z \u00ff \u0100 \uffff".split(" ")
LOCATOR_PIECES += ["\n", " ", "\x00"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.lists(st.sampled_from(LOCATOR_PIECES), max_size=6).map("".join)), max_size=60),
    st.integers(1, 7),
)
def test_any_locators_non_ascii_included_rank_in_arrow_as_file_order_ranks_them(locators, chunk):
    # attack review 24b (cost): one non-ASCII locator sent the whole column to file_order's Python keys (15 s at 1M
    # rows of an image tree); Arrow ranks them now and must give file_order's ranks exactly: the split at the last
    # '#', ASCII digits only as a row number ('²', '٣', '+5', '-1' are text), code-point order of the files
    want = python_ranks(locators)
    assert _file_order_keys(pa.array(locators, pa.string())) is not None  # Arrow's ranking, not the Python one
    assert file_order_rank(locators).tolist() == want
    chunks = [pa.array(locators[i : i + chunk], pa.string()) for i in range(0, len(locators), chunk)]
    assert file_order_rank(pa.chunked_array(chunks, pa.string())).tolist() == want
