"""Read back a few records of a committed version by their locators, and prove they are
the signed ones.

Detection works on the delta, so it needs the content of a few records, never the whole
dataset: Parquet row groups that hold none of the wanted rows are not read. Every record
read is hashed again and compared with its manifest digest, so features always come from
the content that was signed, never from data changed since.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from provenance.encoding import table_digest_blob
from provenance.errors import NotRereadable, VerificationError
from provenance.sources import table_files, tables
from provenance.sources.interface import DatasetSpec

READ_THREADS = 2  # Parquet row groups decoded at once when re-reading records


@dataclass
class Records:
    """Wanted records in the order asked: a table (tables) or file bytes (trees).

    ``digests`` are the records' 32-byte SHA-256 digests, as asked and verified; ``table``
    holds the asked content columns of a table dataset (one row per record), ``blobs`` each
    file's bytes of a tree; the other one is None.
    """

    digests: list[bytes]
    table: pa.Table | None = None
    blobs: list[bytes] | None = None


def open_spec(spec: DatasetSpec):
    """(filesystem or None, path) where the version's data lives now."""
    if spec.rev is None:
        return None, spec.path
    from provenance.sources.dvc import open_fs

    return open_fs(spec)


def _split_locator(locator: str, single_file: str | None) -> tuple[str, int]:
    if single_file is not None:
        return single_file, int(locator)
    rel, _, row = locator.rpartition("#")
    return rel, int(row)


def _read_table_rows(file, rows: list[int], options, fs, columns: list[str] | None = None) -> pa.Table:
    """The given row numbers of one dataset file, reading only the Parquet row groups that hold
    them and, with ``columns``, only those columns of the file (the content columns: a relabel
    spread over a large table touches every row group, and its label and source columns cost as
    much to decode as eight float columns)."""
    wanted = np.array(sorted(set(rows)), dtype=np.int64)
    pieces: list[tuple[np.ndarray, pa.Table]] = []
    first = 0
    if file.format == "parquet":
        groups = tables.parquet_row_groups(file.path, fs, file.identity)
        starts = np.array([g[0] for g in groups] + [groups[-1][0] + groups[-1][1]] if groups else [0])
        needed = sorted(set(np.searchsorted(starts, wanted, side="right").tolist()) - {0, len(starts)})

        def rows_of(g: int) -> tuple[np.ndarray, pa.Table]:
            # batch by batch, keeping only the wanted rows: a decoded row group of a wide table
            # is hundreds of MiB, and two are decoded at once
            start, n = groups[g - 1]
            inside = wanted[(wanted >= start) & (wanted < start + n)]
            found, kept, at = [], [], start
            for batch in tables.file_batches(file, options, fs, [g - 1], columns):
                mine = inside[(inside >= at) & (inside < at + batch.num_rows)]
                if len(mine):
                    found.append(mine)
                    kept.append(batch.take(pa.array(mine - at)))
                at += batch.num_rows
            if not kept:  # the row group no longer holds them: reported as missing below
                return np.zeros(0, np.int64), pa.table({})
            return np.concatenate(found), pa.Table.from_batches(kept)

        if len(needed) > 1 and fs is None:  # a local file (an fsspec filesystem may not read from two threads)
            # Arrow decodes without the GIL: two row groups at once use both cores (a profile's
            # sample of a large table sits in every row group); each keeps only its wanted rows
            with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
                pieces.extend(pool.map(rows_of, needed))
        else:
            pieces.extend(rows_of(g) for g in needed)
    else:
        for batch in tables.file_batches(file, options, fs):
            n = batch.num_rows
            inside = wanted[(wanted >= first) & (wanted < first + n)]
            if len(inside):
                pieces.append((inside, pa.Table.from_batches([batch]).take(pa.array(inside - first))))
            first += n
    pieces = [p for p in pieces if len(p[0])]
    if not pieces:
        raise VerificationError(f"{file.path}: rows {rows[:5]} are no longer in the file")
    got_rows = np.concatenate([p[0] for p in pieces])
    table = pa.concat_tables([p[1] for p in pieces], promote_options="default")
    position = {int(r): i for i, r in enumerate(got_rows.tolist())}
    missing = [r for r in rows if r not in position]
    if missing:
        raise VerificationError(f"{file.path}: rows {missing[:5]} are no longer in the file")
    return table.take(pa.array([position[r] for r in rows]))


def read_table_records(spec: DatasetSpec, locators: list[str], digests: list[bytes], columns: list[str]) -> Records:
    """The table rows at ``locators`` (``file#row`` or a row number), checked against ``digests``.

    Only the Parquet row groups that hold a wanted row are read (a CSV/JSONL file is read
    whole). The rows' content is re-encoded with the spec's row encoding (``prov-row-v1``/
    ``-v2``) and hashed; every digest must equal the signed one.

    Args:
        spec: the version's signed dataset spec (a local path or a git revision through DVC).
        locators: the records' manifest locators.
        digests: the 32-byte digests the manifest signed, one per locator.
        columns: the content columns to return (the signed schema's ``columns``).

    Returns:
        ``Records`` with ``table`` holding ``columns`` of the wanted rows, in the order asked.

    Raises:
        InputError: records read by id column (not supported yet), or a file that can no
            longer be read as its format (exit 2).
        VerificationError: a file or row that is gone, or a row whose digest differs from
            the signed one (exit 1, pointing at ``prov verify``).
    """
    fs, root = open_spec(spec)
    if spec.options.id_column:
        raise NotRereadable(
            f"{spec.path}: reading records by id column is not supported yet; to use --detect, commit with "
            f"--metadata {spec.options.id_column} instead of --id-column (the same digests, so attestations hold; "
            "locators become row numbers)"
        )
    listed = table_files.list_table_files(root, fs, spec.options.reader_version)
    single = None if listed.is_folder else listed.files[0]
    by_rel = {f.rel: f for f in listed.files}
    by_file: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, loc in enumerate(locators):
        rel, row = _split_locator(loc, single.rel if single is not None else None)
        by_file[rel].append((i, row))
    parts: list[tuple[list[int], pa.Table]] = []
    for rel, items in sorted(by_file.items()):
        file = single if single is not None else by_rel.get(rel)
        if file is None:
            raise VerificationError(f"{spec.path}: the file {rel!r} of a signed record is no longer in the dataset")
        try:
            table = _read_table_rows(file, [row for _, row in items], spec.options, fs, columns).select(columns)
        except KeyError as exc:  # a signed content column is no longer in the file
            raise VerificationError(f"{file.path}: a signed column is no longer in the file ({exc})") from exc
        parts.append(([i for i, _ in items], table))
    order = [i for idx, _ in parts for i in idx]
    table = pa.concat_tables([t for _, t in parts], promote_options="default") if parts else pa.table({})
    table = table.take(pa.array(np.argsort(order, kind="stable")))
    _check_digests(table_digest_blob(table, columns, spec.options.row_encoding), digests, locators, spec.path)
    return Records(digests, table=table)


def read_tree_records(spec: DatasetSpec, locators: list[str], digests: list[bytes]) -> Records:
    """The bytes of the files at ``locators`` (paths relative to the tree), checked against ``digests``.

    Each file's SHA-256 (``sha256sum``'s digest) must equal the signed 32-byte digest.

    Returns:
        ``Records`` with ``blobs``: each file's bytes, in the order asked.

    Raises:
        InputError: the git revision cannot be opened (exit 2).
        VerificationError: a locator that is absolute, climbs out with ``..`` or holds a NUL, a file that
            cannot be read, or one whose bytes differ from the signed ones (exit 1).
    """
    fs, root = open_spec(spec)
    blobs = []
    for loc in locators:
        if climbs_out(loc):
            raise VerificationError(f"{spec.path}: manifest locator {loc!r} climbs out of the tree")
        try:
            if fs is not None:
                with fs.open(f"{root}/{loc}", "rb") as fh:
                    blobs.append(fh.read())
            else:
                blobs.append(_read_regular(os.path.join(root, loc)))
        except OSError as exc:
            raise VerificationError(
                f"{os.path.join(root, loc)}: record of the version cannot be read ({exc.strerror})"
            ) from exc
        except ValueError as exc:  # a NUL in the name: no file has it
            raise VerificationError(f"{spec.path}: manifest locator {loc!r} cannot name a file ({exc})") from exc
    _check_digests(b"".join(hashlib.sha256(b).digest() for b in blobs), digests, locators, spec.path)
    return Records(digests, blobs=blobs)


def _read_regular(path: str) -> bytes:
    """The whole of the regular file at ``path`` (links followed, as the loader follows them). Opened without
    blocking and checked before it is read: a FIFO put at a record's path would otherwise hang ``prov check``
    forever (a gate must fail, not wait). Raises ``OSError``: unreadable, a folder, or not a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb", buffering=0) as fh:  # read whole: no buffer to fill
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file: a FIFO, socket or device", path)
        return fh.readall()


def climbs_out(locator: str) -> bool:
    """Whether a tree record's ``locator`` (a manifest's path relative to the tree, "/"-separated) is absolute or
    has a ``..`` part: exactly ``PurePosixPath(locator).is_absolute() or ".." in PurePosixPath(locator).parts``
    (tests compare on hostile names), without a path object per record (a profile reads 4,000 images: it was a
    third of the reading loop's CPU). Empty and ``.`` parts are dropped by both; a backslash or a Unicode dot is
    a name's character on POSIX, as ``open`` takes it."""
    return locator.startswith("/") or ".." in locator.split("/")


def _check_digests(blob: bytes, digests: list[bytes], locators: list[str], path: str) -> None:
    changed = [loc for i, loc in enumerate(locators) if blob[i * 32 : i * 32 + 32] != digests[i]]
    if changed:
        raise VerificationError(
            f"{path}: {len(changed)} record(s) differ from the signed manifest (at {', '.join(changed[:5])}); "
            "run 'prov verify' on the version"
        )


def read_records(
    spec: DatasetSpec, kind: str, locators: list[str], digests: list[bytes], columns: list[str]
) -> Records:
    """:func:`read_tree_records` when ``kind`` is ``tree``, else :func:`read_table_records` (``columns`` unused for trees).

    What detection and the reference profile read: a few records of a committed version,
    proven to be the signed ones. Raises as the function it calls.
    """
    if kind == "tree":
        return read_tree_records(spec, locators, digests)
    return read_table_records(spec, locators, digests, columns)
