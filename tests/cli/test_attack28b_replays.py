"""Attack review 28b: session 28's rows hashed two at a time (perf28) and its tidy-ups (tidy28), replayed.

perf28 lays every numeric row out whole with its SHA-256 padding and compresses two rows at a time on the x86
SHA extensions (``fastsha.c``: ``sha256_fixed``, ``sha256_columns``, ``portable=``, FASTSHA_API 3). The rows'
digests are the manifest's leaves: whoever can write the data folder chooses the rows (their count, widths
through the column names and types, the values: NaN, -0.0, nulls), and a byte that differs between the paths
makes one install's manifest fail another's verify. Each test here compares the compiled extension on both of
its CPU paths (the SHA extensions where this CPU has them, ``portable=True`` for OpenSSL's), the pure-Python
path, a subprocess under ``PROV_NO_FASTSHA=1`` and plain hashlib. Where the CPU lacks the SHA extensions both
compiled calls take OpenSSL's path; on the review's machine (sha_ni) the pair path is what they test: feeding
``hash_two_padded`` the first row twice failed six of them, padding one byte short failed three. tidy28's shared held-out refits
(``beyond.held_out_folds``), the first records of a version replaced whole (``change_pairing.natural_first``)
and the built-ins/plug-ins split are replayed beside them.

Findings A28b-1 and A28b-2 were strict xfails; both are fixed (the lead: native-order columns, FASTSHA_API 4) and
now plain tests, as are the attacks that held.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import fastsha, native_build
from provenance.change_pairing import natural_first
from provenance.changes import natural_key
from provenance.detectors import beyond
from provenance.encoding import ROW_ENCODING_V1, ROW_ENCODING_V2, table_digest_blob
from support import ok

COMPILED = pytest.mark.skipif(not fastsha.available(), reason="the fastsha extension is not built")
REPO = Path(__file__).resolve().parents[2]


def _ext():
    from provenance import _fastsha  # type: ignore[attr-defined]

    return _fastsha


def _reference(prefix: bytes, matrix: np.ndarray) -> bytes:
    return b"".join(hashlib.sha256(prefix + row.tobytes()).digest() for row in matrix)


# --- perf28: the same bytes on every path ------------------------------------------------------------------


@COMPILED
def test_fixed_rows_give_hashlib_bytes_at_every_block_edge_on_both_cpu_paths():
    # every total message length from 1 to 200 bytes (the padding's 0x80 and length field land in the last
    # block or spill into another: 55/56, 119/120, 183/184), from prefixes whose tails sit at every edge, in
    # row counts 1..5 (pairs and a lone last row)
    rng = np.random.default_rng(28)
    for prefix_len in (0, 1, 16, 55, 56, 63, 64, 65, 119, 120, 128, 129):  # 16: the sample key's prefix
        prefix = rng.bytes(prefix_len)
        for width in range(1, 201):
            n = 1 + width % 5
            matrix = rng.integers(0, 256, (n, width), dtype=np.uint8)
            expected = _reference(prefix, matrix)
            assert _ext().sha256_fixed(prefix, matrix, width) == expected, (prefix_len, width, n)
            assert _ext().sha256_fixed(prefix, matrix, width, True) == expected, (prefix_len, width, n)
            with fastsha.forced("python"):
                assert fastsha.sha256_fixed(prefix, matrix) == expected, (prefix_len, width, n)


@COMPILED
def test_huge_rows_and_odd_slot_counts_give_hashlib_bytes():
    # rows long enough that a megabyte holds 3 of them (per_block 3: every slot block ends with a lone row),
    # and rows over half a megabyte (per_block clamped to 2), odd counts
    rng = np.random.default_rng(3)
    for width, n in ((349_400, 7), (700_001, 3), (1_048_577, 3)):
        matrix = rng.integers(0, 256, (n, width), dtype=np.uint8)
        for prefix in (b"", rng.bytes(61)):
            expected = _reference(prefix, matrix)
            assert fastsha.sha256_fixed(prefix, matrix) == expected, (width, n)
            assert fastsha.sha256_fixed(prefix, matrix, portable=True) == expected, (width, n)


@COMPILED
def test_columns_give_hashlib_bytes_for_every_item_size_and_odd_values():
    # sha256_columns, called straight: heads of any length (0..70 bytes, moving each value across block edges),
    # 1/2/4/8-byte items, NaN with payloads, -0.0, inf, the extreme integers; every row count 1..9 and 257
    rng = np.random.default_rng(5)
    odd = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 5e-324, -1.5, 1e308, 2.0**53 + 1])
    payload_nan = np.array([0x7FF8_0000_0000_0001, 0xFFF0_0000_0000_0001], dtype=np.uint64).view(np.float64)
    for n in (*range(1, 10), 257):
        columns = [
            np.resize(np.concatenate([odd, payload_nan]), n),
            rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True),
            rng.integers(0, 2**32, n, dtype=np.uint32),
            rng.integers(-(2**15), 2**15, n, dtype=np.int16),
            rng.integers(0, 256, n, dtype=np.uint8),
        ]
        for head_len in (0, 1, 2, 7, 46, 47, 54, 55, 56, 63, 64, 70):
            for prefix_len in (0, 54, 63, 64, 119):
                prefix = rng.bytes(prefix_len)
                fields = [(rng.bytes(head_len), c) for c in columns]
                rows = [
                    b"".join(head + c[i : i + 1].astype(c.dtype.newbyteorder(">")).tobytes() for head, c in fields)
                    for i in range(n)
                ]
                expected = b"".join(hashlib.sha256(prefix + r).digest() for r in rows)
                assert fastsha.sha256_columns(prefix, fields) == expected, (n, head_len, prefix_len)
                assert fastsha.sha256_columns(prefix, fields, portable=True) == expected, (n, head_len, prefix_len)
                with fastsha.forced("python"):
                    assert fastsha.sha256_columns(prefix, fields) == expected, (n, head_len, prefix_len)


def _odd_table(n: int, name_pad: int) -> pa.Table:
    """Every fixed-width type the row encoder takes, with the values a data source can pick."""
    rng = np.random.default_rng(n * 131 + name_pad)
    floats = np.resize(np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 5e-324, -1.25, 1e308]), n)
    pad = "x" * name_pad
    with np.errstate(over="ignore"):  # 1e308 is inf in float32 and float16: as a source may write it
        f32, f16 = floats.astype(np.float32), floats.astype(np.float16)
    return pa.table(
        {
            f"f64{pad}": pa.array(floats, pa.float64()),
            "f32": pa.array(f32, pa.float32()),
            "f16": pa.array(f16, pa.float16()),
            "i8": pa.array(rng.integers(-128, 128, n), pa.int8()),
            "i64": pa.array(np.resize(np.array([-(2**63), 2**63 - 1, 0, -1]), n), pa.int64()),
            "u64": pa.array(np.resize(np.array([2**63 - 1, 0], dtype=np.uint64), n), pa.uint64()),
            "u32": pa.array(rng.integers(0, 2**32, n), pa.uint32()),
            "b": pa.array(np.resize(np.array([True, False, False]), n), pa.bool_()),
            "d": pa.array(rng.integers(-50_000, 50_000, n).astype("datetime64[D]")),
            "ts": pa.array(rng.integers(-(2**40), 2**40, n).astype("datetime64[ms]")),
            "ns": pa.array(rng.integers(-(2**62), 2**62, n).astype("datetime64[ns]")),
        }
    )


@COMPILED
def test_a_written_parquet_tables_row_digests_are_the_same_on_every_path(tmp_path):
    # end to end through the row encoder, from a real Parquet file: the column names' length moves every row
    # across the block edges (the header grows a byte per name byte); both encodings; 0, 1, 2, 3, 129, 257 rows
    rows_of = {}
    for n in (0, 1, 2, 3, 129, 257):
        for name_pad in (0, 1, 9, 30, 31, 60):
            path = tmp_path / f"t{n}_{name_pad}.parquet"
            table = _odd_table(n, name_pad)
            if name_pad == 60:  # a uint64 past int64's range: the row joined per row (sha256_rows), not the columns
                big = pa.array(np.resize(np.array([2**64 - 1, 2**63], dtype=np.uint64), n), pa.uint64())
                table = table.set_column(table.schema.get_field_index("u64"), "u64", big)
            pq.write_table(table, path)
            table = pq.read_table(path)
            for encoding in (ROW_ENCODING_V2, ROW_ENCODING_V1)[: 1 if name_pad == 60 else 2]:  # v1 never held it
                compiled = table_digest_blob(table, table.column_names, encoding)
                with fastsha.forced("python"):
                    python = table_digest_blob(table, table.column_names, encoding)
                assert compiled == python, (n, name_pad, encoding)
                assert len(compiled) == 32 * n
                rows_of[(str(path), encoding)] = compiled.hex()
    # and a process that never loads the extension (PROV_NO_FASTSHA=1) gives the same bytes
    script = (
        "import json,sys,pyarrow.parquet as pq\n"
        "from provenance import fastsha\n"
        "from provenance.encoding import table_digest_blob\n"
        "assert not fastsha.available()\n"
        "out={}\n"
        "for p,e in json.loads(sys.stdin.read()):\n"
        "    t=pq.read_table(p); out[p+'|'+e]=table_digest_blob(t,t.column_names,e).hex()\n"
        "print(json.dumps(out))\n"
    )
    import json

    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(list(rows_of)),
        capture_output=True,
        text=True,
        env={**os.environ, "PROV_NO_FASTSHA": "1"},
        check=True,
    )
    plain = json.loads(done.stdout)
    assert plain == {f"{p}|{e}": v for (p, e), v in rows_of.items()}


@COMPILED
def test_hashing_on_threads_at_once_gives_each_its_own_bytes():
    # the GIL is released while rows are laid out and hashed: threads hashing different tables at once (each with
    # its own scratch) get their own digests, the CPU check's static set once before any of them release it
    rng = np.random.default_rng(8)
    jobs = [(rng.bytes(int(p)), rng.integers(0, 256, (301, int(w)), dtype=np.uint8)) for p, w in ((3, 70), (64, 9))]
    jobs += [(b"", rng.integers(0, 256, (77, 4000), dtype=np.uint8))]
    expected = [_reference(p, m) for p, m in jobs]
    wrong: list[int] = []

    def run(i: int) -> None:
        for _ in range(20):
            p, m = jobs[i]
            if fastsha.sha256_fixed(p, m) != expected[i] or fastsha.sha256_fixed(p, m, portable=True) != expected[i]:
                wrong.append(i)

    threads = [threading.Thread(target=run, args=(i % len(jobs),)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


@COMPILED
def test_crafted_shapes_strides_and_widths_are_refused_not_read_past():
    ext = _ext()
    a = np.arange(64, dtype=np.float64)
    with pytest.raises((BufferError, ValueError)):  # strided: never read as if contiguous
        ext.sha256_columns(b"", [b"F"], [a[::2]])
    with pytest.raises(ValueError):  # two-dimensional
        ext.sha256_columns(b"", [b"F"], [a.reshape(8, 8)])
    with pytest.raises(ValueError):  # lengths differ
        ext.sha256_columns(b"", [b"F", b"I"], [a, a[:63].copy()])
    with pytest.raises(ValueError):  # a 3-byte item
        ext.sha256_columns(b"", [b"V"], [np.zeros(4, dtype="V3")])
    with pytest.raises(ValueError):
        ext.sha256_columns(b"", [b"F"], [])
    with pytest.raises(TypeError):  # heads must be buffers
        ext.sha256_columns(b"", [None], [a])
    # no rows: nothing read, nothing hashed
    assert ext.sha256_fixed(b"p", b"", 5) == b"" and ext.sha256_fixed(b"p", b"", 5, True) == b""
    assert ext.sha256_columns(b"p", [b"F", b""], [np.zeros(0), np.zeros(0, np.uint8)]) == b""
    data = np.zeros(100, dtype=np.uint8)
    for width in (0, -1, 3, 101):  # not a whole number of rows, or no width
        with pytest.raises(ValueError):
            ext.sha256_fixed(b"", data, width)
    with pytest.raises((BufferError, ValueError)):
        ext.sha256_fixed(b"", data[::2], 10)
    # through the wrapper: a strided, Fortran-ordered or sliced matrix is made contiguous, same bytes as hashlib
    rng = np.random.default_rng(2)
    big = rng.integers(0, 256, (40, 130), dtype=np.uint8)
    for matrix in (big[::3, ::2], np.asfortranarray(big), big[5:9, 7:71]):
        assert fastsha.sha256_fixed(b"q", matrix) == _reference(b"q", np.ascontiguousarray(matrix))
        with fastsha.forced("python"):
            assert fastsha.sha256_fixed(b"q", matrix) == _reference(b"q", np.ascontiguousarray(matrix))
    col = rng.normal(size=90)
    fields = [(b"F\x08", col[::3]), (b"I\x08", np.arange(90, dtype=np.int64)[::3])]
    with fastsha.forced("python"):
        python = fastsha.sha256_columns(b"r", fields)
    assert fastsha.sha256_columns(b"r", fields) == python


_ASAN_SCRIPT = """
import hashlib, importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("provenance._fastsha", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
rng = np.random.default_rng(0)
bad = 0
for prefix_len in (0, 16, 55, 56, 63, 64, 119, 120):
    prefix = rng.bytes(prefix_len)
    for width in [*range(1, 140), 349_400]:
        for n in (1, 2, 3, 7):
            mat = rng.integers(0, 256, (n, width), dtype=np.uint8)  # its own allocation: a byte past it is ASan's
            want = b"".join(hashlib.sha256(prefix + r.tobytes()).digest() for r in mat)
            for portable in (False, True):
                bad += m.sha256_fixed(prefix, mat, width, portable) != want
            cols = [rng.normal(size=n), rng.integers(0, 9, n).astype(np.uint8), rng.integers(0, 9, n).astype(np.int16)]
            for head in (b"", b"F\\x08", rng.bytes(width % 70)):
                for portable in (False, True):
                    m.sha256_columns(prefix, [head, b"I", head], cols, portable)
print("bad", bad)
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_row_hashing_stays_inside_its_buffers_under_address_sanitizer(tmp_path):
    # the extension as this tree has it, built with AddressSanitizer; every total length across the block edges,
    # rows of a third of a megabyte (three slots a block), odd counts, both CPU paths: a read past a row's matrix
    # or a column, or a write past a slot of the scratch, aborts the run (checked: a copy of width + 1 bytes in
    # sha256_fixed is reported as a heap-buffer-overflow)
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("no libasan")
    import sysconfig

    target = tmp_path / f"_fastsha{sysconfig.get_config_var('EXT_SUFFIX')}"
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-g", "-fsanitize=address", "-I" + sysconfig.get_paths()["include"]]
        + [str(REPO / "provenance" / "_native" / "fastsha.c"), "-lcrypto", "-o", str(target)],
        capture_output=True,
    )
    if built.returncode:
        pytest.skip("the ASan build failed (no OpenSSL headers?)")
    env = {**os.environ, "LD_PRELOAD": libasan, "ASAN_OPTIONS": "detect_leaks=0", "PYTHONMALLOC": "malloc"}
    done = subprocess.run([sys.executable, "-c", _ASAN_SCRIPT, str(target)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["bad", "0"]


@COMPILED
def test_a_big_endian_column_gives_the_same_bytes_on_every_path():
    """A28b-1 (low, fixed by the lead): the extension read every item in native order, the Python path by value,
    so a big-endian array hashed to other bytes there; the wrapper now gives it native-order arrays."""
    values = np.array([1.5, -0.0, 2.0**60, np.inf], dtype=">f8")
    fields = [(b"F\x08", values), (b"I\x08", np.arange(4, dtype=">i8"))]
    with fastsha.forced("python"):
        python = fastsha.sha256_columns(b"", fields)
    assert fastsha.sha256_columns(b"", fields) == python


def _build_from(commit: str, tmp_path: Path) -> Path:
    """provenance._fastsha compiled from ``commit``'s fastsha.c into ``tmp_path`` (skips where it cannot be)."""
    if not (REPO / ".git").exists():
        pytest.skip("no git checkout")
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:provenance/_native/fastsha.c"], capture_output=True, check=False
    )
    if source.returncode:
        pytest.skip(f"{commit}'s source is not in this checkout")
    (tmp_path / f"fastsha_{commit}.c").write_bytes(source.stdout)
    try:
        return native_build.compile_extension(
            "_fastsha", tmp_path / f"fastsha_{commit}.c", ["-O2"], libraries=["crypto"], target_dir=tmp_path
        )
    except (subprocess.CalledProcessError, FileNotFoundError, OSError):
        pytest.skip("no C compiler with OpenSSL headers")


_PRELOAD = (
    "import importlib.util,sys\n"
    "spec=importlib.util.spec_from_file_location('provenance._fastsha',sys.argv[1])\n"
    "m=importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
    "import provenance\n"
    "sys.modules['provenance._fastsha']=m; provenance._fastsha=m\n"
)


def test_a_build_of_perf28s_first_commit_is_set_aside_or_works(tmp_path, workdir):
    """A28b-2 (low, fixed by the lead): perf28's second commit gave sha256_fixed a fourth argument (portable)
    without raising FASTSHA_API past 3, which its first commit (827c558) had set: a build from 827c558 said API 3,
    was taken as current, and every sha256_fixed call raised TypeError (prov commit exit 3). FASTSHA_API is 4 now:
    that build is stale, set aside, and the commit hashes through hashlib."""
    built = _build_from("827c558", tmp_path)
    pq.write_table(_odd_table(50, 0).append_column("label", pa.array(np.arange(50) % 3, pa.int64())), "t.parquet")
    script = _PRELOAD + "sys.argv=['prov']+sys.argv[2:]\nfrom provenance.cli import main\nsys.exit(main())\n"
    env = {k: v for k, v in os.environ.items() if k != "PROV_NO_FASTSHA"}
    for args in (
        ["init"],
        ["keys", "generate", "m"],
        ["-q", "commit", "t.parquet", "--tag", "v1", "--key", "m.key", *_floats_left_out(0)],
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, str(built), *args], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])


def test_a_stale_api_2_build_is_never_used(tmp_path):
    # the extension built from main's fastsha.c (FASTSHA_API 2: sha256_fixed and sha256_columns take no portable
    # argument) is found where provenance._fastsha is imported: prov says it is stale, hashes through hashlib, and
    # gives hashlib's bytes
    built = _build_from("93c040f", tmp_path)
    script = _PRELOAD + (
        "import hashlib, numpy as np\n"
        "assert m.API == 2, m.API\n"
        "from provenance import fastsha\n"
        "print(fastsha.available()); print(fastsha.path_description())\n"
        "x = np.arange(30, dtype=np.uint8).reshape(3, 10)\n"
        "print(fastsha.sha256_fixed(b'p', x) == b''.join(hashlib.sha256(b'p' + r.tobytes()).digest() for r in x))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROV_NO_FASTSHA"}
    done = subprocess.run([sys.executable, "-c", script, str(built)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    available, description, same = done.stdout.splitlines()
    assert available == "False"
    assert "stale" in description
    assert same == "True"


# --- tidy28: the held-out refits kept between calls ---------------------------------------------------------


def _fold_inputs(seed: int, m: int = 400):
    rng = np.random.default_rng(seed)
    raw = [rng.normal(size=m), rng.exponential(size=m)]
    raw[1][rng.integers(0, m, 20)] = np.nan
    return raw, np.array([1.0, 2.0]), rng.integers(0, 6, m), 0.01


def _same_folds(a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.out, y.out)
        and np.array_equal(x.T_out, y.T_out, equal_nan=True)
        and np.array_equal(x.T_kept, y.T_kept, equal_nan=True)
        and all(np.array_equal(p, q, equal_nan=True) for p, q in zip(x.held, y.held))
        for x, y in zip(a, b)
    )


def test_the_kept_folds_answer_only_the_arguments_they_were_computed_for():
    # a verdict run after another in one process (a server, a test run, a script checking several deliveries):
    # every change a data source or a second delivery makes to the scores, weights, batches or rate is a new key;
    # an in-place edit reverted gives the kept answer back, which the edit could not have changed (tidy29: the
    # folds are no longer kept in the module; the verdict passes the ones it computed, ``beyond.held_out``)
    raw, weights, batches, fpr = _fold_inputs(1)
    kept = beyond.held_out(raw, weights, batches, fpr)
    first = beyond.held_out_folds(raw, weights, batches, fpr, kept)
    assert first is kept.folds
    reference = [tuple(np.array(f.T_out) for f in first)]
    raw[0][3] += 1.0  # in place: same object, other bytes
    edited = beyond.held_out_folds(raw, weights, batches, fpr, kept)
    assert edited is not first
    raw[0][3] -= 1.0
    again = beyond.held_out_folds(raw, weights, batches, fpr, kept)
    assert again is first
    assert all(np.array_equal(a, f.T_out, equal_nan=True) for a, f in zip(reference[0], again))
    # the detectors in another order (the same bytes, another argument), another dtype, rate or weight: anew
    assert beyond.held_out_folds([raw[1], raw[0]], weights[::-1], batches, fpr, kept) is not again
    assert beyond.held_out_folds(raw, weights, batches.astype(np.int32), fpr, kept) is not again
    assert beyond.held_out_folds(raw, weights, batches, 0.05, kept) is not again
    assert beyond.held_out_folds(raw, weights * 1.0000001, batches, fpr, kept) is not again
    # and every answer equals a computation from nothing kept
    for args in ((raw, weights, batches, fpr), (raw, weights, batches, 0.05), (raw, weights * 3, batches, fpr)):
        assert _same_folds(beyond.held_out_folds(*args, kept), beyond.held_out_folds(*args))


def test_kept_folds_are_read_only_and_leave_the_callers_arrays_writable():
    raw, weights, batches, fpr = _fold_inputs(2)
    folds = beyond.held_out_folds(raw, weights, batches, fpr)
    for fold in folds:
        for array in (fold.out, *fold.held, fold.T_out, fold.T_kept):
            with pytest.raises(ValueError):
                array[0] = 0
    for array in (*raw, weights, batches):  # the caller's own arrays were not frozen
        assert array.flags.writeable
        array[0] = array[0]


def test_threads_asking_for_other_folds_at_once_each_get_their_own():
    inputs = [_fold_inputs(10 + i, 200) for i in range(3)]
    expected = []
    for args in inputs:
        expected.append(beyond.held_out_folds(*args))
    wrong: list[int] = []

    def run(i: int) -> None:
        for _ in range(15):
            if not _same_folds(beyond.held_out_folds(*inputs[i]), expected[i]):
                wrong.append(i)

    threads = [threading.Thread(target=run, args=(i % 3,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


# --- tidy28: the first records named when a version is replaced whole ---------------------------------------


def _stable_natural(locators: list[str], n: int) -> list[int]:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # natural_key reads a digit run with int(): the plain statement of the order
    try:
        return sorted(range(len(locators)), key=lambda i: natural_key(locators[i]))[:n]
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize(
    "locators",
    [
        ["10", "9", "010", "9", "0", "000000000000000001", "999999999999999999"],  # row numbers, 18 digits
        ["1" * 19, "2", "10"],  # a 19-digit run is not a row number: the path heap
        ["9" * 5000, "9" * 4999, "a", ""],  # past int()'s 4,300 digits
        ["img10", "img9", "img٣", "img3", "img²", "IMG1", "img\x00", "img", "a/b#2", "a/b#10"],
        ["٣", "3", "03", "3a", "a3", "é", "e", "\U0001d7d9"],
        ["7"] * 30 + ["x"],  # ties: manifest order
    ],
)
def test_natural_first_names_the_records_natural_keys_stable_order_names(locators):
    for n in (1, 3, 20, 100):
        expected = _stable_natural(locators, n)
        assert natural_first(pa.array(locators, pa.string()), n) == expected
        chunked = pa.chunked_array([locators[:2], locators[2:]], pa.large_string())
        assert natural_first(chunked, n) == expected


# --- end to end: a version committed on one path verifies on the other ----------------------------------------


def _prov_subprocess(*args: str, no_fastsha: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PROV_NO_FASTSHA"}
    if no_fastsha:
        env["PROV_NO_FASTSHA"] = "1"
    code = "import sys; from provenance.cli import main; sys.argv[0] = 'prov'; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


@COMPILED
# the odd tables' float columns hold NaN and inf on purpose: left out of the features, which refuse them (fix28b),
# not out of the digests these tests are about
def _floats_left_out(name_pad: int) -> tuple[str, ...]:
    return (
        "--featurizer",
        "numeric",
        "--featurizer-option",
        "exclude=" + json.dumps(["label", "f16", "f32", "f64" + "x" * name_pad]),
    )


def test_a_version_committed_on_the_sha_extensions_verifies_without_them_and_back(workdir, prov):
    # a data source's table of every fixed type with NaN, -0.0, inf and the extreme integers, 257 rows (a lone
    # last row), committed where the extension hashes rows two at a time, verified by a process with
    # PROV_NO_FASTSHA=1; and the other way round. A value changed is caught by both.
    table = _odd_table(257, 31).append_column("label", pa.array(np.arange(257) % 10, pa.int64()))
    pq.write_table(table, "train.parquet")
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    pinned = ("--signer", "maintainer.pub")
    features = _floats_left_out(31)
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *features, *pinned)
    plain = _prov_subprocess("verify", "v1", *pinned, no_fastsha=True)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    pq.write_table(table.slice(0, 200), "train.parquet")
    done = _prov_subprocess(
        "-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *features, *pinned, no_fastsha=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    compiled = _prov_subprocess("verify", "v2", *pinned, no_fastsha=False)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    # one float changed in one row (row 199: the lone row of the last pair-hashed block's odd count)
    at = table.schema.get_field_index("f64" + "x" * 31)
    values = table.column(at).to_numpy(zero_copy_only=False).copy()
    values[199] = 1.0 if values[199] != 1.0 else 2.0
    pq.write_table(table.slice(0, 200).set_column(at, table.field(at), pa.array(values[:200])), "train.parquet")
    for no_fastsha in (True, False):
        caught = _prov_subprocess("verify", "v2", *pinned, no_fastsha=no_fastsha)
        assert caught.returncode == 1, caught.stdout + caught.stderr
