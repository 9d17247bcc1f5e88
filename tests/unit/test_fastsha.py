"""Batch SHA-256: the compiled extension and the pure-Python path give the reference bytes.

Each test runs on both paths (the compiled one skips where the extension is not built;
CI builds it, and also runs the suite with ``PROV_NO_FASTSHA=1``)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from provenance import encoding, fastsha, merkle
from provenance.encoding import split_digests, table_digest_blob
from provenance.manifest import leaf_blob
from support import digits_table

PATHS = [
    "python",
    pytest.param(
        "compiled", marks=pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")
    ),
]


@pytest.fixture(params=PATHS)
def sha_path(request):
    with fastsha.forced(request.param):
        yield request.param


def test_rows_fixed_and_merkle_give_hashlib_bytes(sha_path):
    rng = np.random.default_rng(1)
    rows = [rng.bytes(int(k)) for k in rng.integers(0, 300, 500)]
    prefix = b"R\x02header"
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    expected = b"".join(hashlib.sha256(prefix + r).digest() for r in rows)
    assert fastsha.sha256_rows(prefix, b"".join(rows), offsets) == expected
    matrix = rng.integers(0, 256, (300, 70), dtype=np.uint8)
    assert fastsha.sha256_fixed(b"", matrix) == b"".join(hashlib.sha256(r.tobytes()).digest() for r in matrix)
    assert fastsha.sha256_fixed(b"p", matrix[:0]) == b""
    for n in (0, 1, 2, 3, 5, 8, 1000, 1025):
        blob = rng.bytes(32 * n)
        assert fastsha.merkle_root(blob) == merkle.merkle_root(split_digests(blob))


@pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")
def test_the_compiled_merkle_root_is_the_same_on_the_sha_extensions_and_through_openssl():
    # where the CPU has SHA-NI, two nodes are hashed at a time (four leaves): counts around multiples of
    # four leave one, two or three to the one-node path at every level; elsewhere both calls take OpenSSL's
    rng = np.random.default_rng(9)
    for n in [*range(1, 40), 63, 64, 65, 255, 256, 257, 1000, 4099]:
        blob = rng.bytes(32 * n)
        expected = merkle.merkle_root(split_digests(blob))
        assert fastsha.merkle_root(blob) == fastsha.merkle_root(blob, portable=True) == expected, n
        view = memoryview(rng.bytes(32) + blob)[32:]  # a slice of a buffer, as chunk_roots passes them
        assert fastsha.merkle_root(view) == expected


def test_keyed_hash_is_prefix_digest_and_the_coded_suffix(sha_path):
    rng = np.random.default_rng(2)
    digests = rng.bytes(32 * 400)
    suffixes = [b"", b"S\x01a", b"S\x03\xc3\xa9x" * 3]
    codes = rng.integers(0, 3, 400)
    expected = b"".join(
        hashlib.sha256(b"\x00Y\x20" + digests[32 * i : 32 * i + 32] + suffixes[c]).digest() for i, c in enumerate(codes)
    )
    assert fastsha.sha256_keyed(b"\x00Y\x20", digests, codes, suffixes) == expected


def test_bad_offsets_and_codes_are_refused_not_read_out_of_bounds(sha_path):
    with pytest.raises(ValueError):
        fastsha.sha256_rows(b"", b"abc", np.array([0, 2, 1]))  # decreasing
    with pytest.raises(ValueError):
        fastsha.sha256_rows(b"", b"abc", np.array([0, 4]))  # past the end
    with pytest.raises(ValueError):
        fastsha.sha256_keyed(b"", b"\x00" * 64, np.array([0, 1]), [b"x"])  # code 1 names no suffix
    with pytest.raises(ValueError):
        fastsha.merkle_root(b"\x00" * 33)


def test_table_digests_and_leaves_match_the_row_by_row_reference(sha_path):
    t = digits_table(300)
    t = t.append_column("note", pa.array([None if i % 7 == 0 else f"n{i}é" for i in range(300)]))
    t = t.append_column(
        "score", pa.array([float("nan") if i % 5 == 0 else -0.0 if i % 3 == 0 else i / 3 for i in range(300)])
    )
    t = t.append_column("flag", pa.array([i % 2 == 0 for i in range(300)]))
    for cols in (
        [c for c in t.column_names if c.startswith("px")] + ["score", "flag"],
        [c for c in t.column_names if c != "label"],
    ):
        reference = b"".join(encoding.row_digest({c: row[c] for c in cols}) for row in t.to_pylist())
        assert table_digest_blob(t, cols) == reference
    digests = pa.array([hashlib.sha256(str(i).encode()).digest() for i in range(300)], pa.binary(32))
    labels = pa.array([str(i % 4) for i in range(300)])
    sources = pa.array([None if i % 3 else "vendor-é" for i in range(300)])
    expected = b"".join(merkle.leaf_hashes(digests.to_pylist(), labels.to_pylist(), sources.to_pylist()))
    assert leaf_blob(digests, labels, sources) == expected
    # many distinct sources: only the (label, source) pairs that occur are encoded
    many = pa.array([f"url-{i}" for i in range(300)])
    assert leaf_blob(digests.slice(10), labels.slice(10), many.slice(10)) == b"".join(
        merkle.leaf_hashes(digests.to_pylist()[10:], labels.to_pylist()[10:], many.to_pylist()[10:])
    )


def test_the_forced_path_is_restored_and_unknown_paths_are_refused():
    before = fastsha.available()
    with fastsha.forced("python"):
        assert not fastsha.available()
        assert "pure Python" in fastsha.path_description()
    assert fastsha.available() == before
    with pytest.raises(ValueError):
        with fastsha.forced("gpu"):
            pass


def test_columns_are_laid_out_big_endian_after_their_heads(sha_path):
    rng = np.random.default_rng(4)
    n = 300  # more than one block of rows in the compiled path
    floats, ints = rng.normal(size=n), rng.integers(-(2**40), 2**40, n)
    flags, small = rng.integers(0, 2, n).astype(np.uint8), rng.integers(-9, 9, n).astype(np.int16)
    fields = [(b"F\x08", floats), (b"I\x08", ints), (b"B\x01", flags), (b"", small)]
    expected = b"".join(
        hashlib.sha256(
            b"R\x04"
            + b"F\x08"
            + struct.pack(">d", floats[i])
            + b"I\x08"
            + struct.pack(">q", ints[i])
            + b"B\x01"
            + struct.pack(">B", flags[i])
            + struct.pack(">h", small[i])
        ).digest()
        for i in range(n)
    )
    assert fastsha.sha256_columns(b"R\x04", fields) == expected
    assert fastsha.sha256_columns(b"R", [(b"F\x08", floats[:0])]) == b""
    with pytest.raises(ValueError):
        fastsha.sha256_columns(b"R", [(b"F\x08", floats), (b"I\x08", ints[:-1])])
    with pytest.raises(ValueError):
        fastsha.sha256_columns(b"R", [])


@pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")
def test_compiled_fixed_rows_and_columns_are_the_same_two_rows_at_a_time_and_through_openssl():
    # each row is laid out with the prefix's bytes past its last whole block in front and its padding behind,
    # hashed from the state the whole blocks leave: prefixes around a block's edges (a tail of 0, 55, 56, 63
    # bytes: the padding's length field spills into another block or not), row widths that end near one, and
    # odd row counts (the last row of a pair-hashed block of rows goes alone)
    rng = np.random.default_rng(11)
    for prefix_len in (0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 322):
        prefix = rng.bytes(prefix_len)
        for k, n in ((1, 1), (1, 2), (2, 3), (6, 129), (64, 257)):
            fields = [(b"F\x08", rng.normal(size=n)) for _ in range(k)] + [
                (b"", rng.integers(0, 9, n).astype(np.uint8))
            ]
            with fastsha.forced("python"):
                expected = fastsha.sha256_columns(prefix, fields)
            assert fastsha.sha256_columns(prefix, fields) == expected, (prefix_len, k, n)
            assert fastsha.sha256_columns(prefix, fields, portable=True) == expected, (prefix_len, k, n)
        for width, n in ((1, 1), (32, 2), (32, 3), (9, 257), (70, 129), (300_000, 3)):  # the last: 2 rows at a time
            matrix = rng.integers(0, 256, (n, width), dtype=np.uint8)
            expected = b"".join(hashlib.sha256(prefix + row.tobytes()).digest() for row in matrix)
            assert fastsha.sha256_fixed(prefix, matrix) == expected, (prefix_len, width, n)
            assert fastsha.sha256_fixed(prefix, matrix, portable=True) == expected, (prefix_len, width, n)


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_build_compiles_an_extension_that_gives_hashlib_bytes(tmp_path):
    # `python -m provenance.fastsha build` is how a source tree installed without the extension gets it
    try:
        path = fastsha.build(tmp_path)
    except subprocess.CalledProcessError:
        pytest.skip("no OpenSSL headers to compile against")
    spec = importlib.util.spec_from_file_location("provenance._fastsha", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [b"", b"a", b"row of a table" * 9]
    offsets = np.array([0, 0, 1, 1 + len(rows[2])], dtype=np.int64)
    expected = b"".join(hashlib.sha256(b"P" + r).digest() for r in rows)
    assert module.sha256_rows(b"P", b"".join(rows), offsets) == expected


def test_module_run_says_which_path_runs():
    out = subprocess.run([sys.executable, "-m", "provenance.fastsha"], capture_output=True, text=True, check=True)
    assert out.stdout == fastsha.path_description() + "\n"
