"""The filtered copy a quarantine (or an export) writes: a version's data without some of its records.

Tables become Parquet (every typed row, so every digest, is kept: one file for a file, the same layout
for a folder), trees a copied tree (with its labels CSV). Records are left out by content digest, or, for
``rows``, by (digest, label) row: a label-flipped copy of another source's signed record that a quarantined
source delivered is cut while the signed original stays (attack review 8b, B3).
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.encoding import split_digests, table_digests
from provenance.errors import InputError
from provenance.sources import table_files, tables, tree_hashing, trees
from provenance.sources.build import resolve_kind
from provenance.sources.interface import DatasetSpec


def default_output(spec: DatasetSpec, tag: str, kind: str) -> Path:
    """Where the filtered copy goes by default: ``data.TAG.parquet`` beside a table file, ``DATA.TAG`` beside a folder.

    ``kind`` is ``table`` or ``tree`` (``build.resolve_kind``); a table file's copy is
    always Parquet, whatever its own format. For data read at a git revision, beside its path
    in the working tree. Nothing is created or checked here.
    """
    path = Path(str(spec.path).rstrip("/\\"))
    if spec.rev is not None:  # read at a git revision: beside its path in the working tree
        path = Path(spec.repo or "") / path
        if kind == "table" and path.suffix:
            return path.with_name(f"{path.stem}.{tag}.parquet")
    if kind == "table" and path.is_file():
        return path.with_name(f"{path.stem}.{tag}.parquet")
    return path.with_name(f"{path.name}.{tag}")


Rows = frozenset[tuple[bytes, str]]
"""(digest, label) rows to leave out, the label as the manifest has it."""


def _filter_tables(spec: DatasetSpec, drop: set[bytes], out: Path, rows: Rows, named: Path) -> tuple[int, int]:
    from provenance.sources.dvc import open_fs

    fs, path = (None, spec.path) if spec.rev is None else open_fs(spec)  # a --rev version: read through DVC
    listed = table_files.list_table_files(path, fs, spec.options.reader_version)
    single = os.path.isfile(path) if fs is None else not listed.is_folder
    if single and table_files.table_format(str(named)) not in (None, "parquet"):
        # the copy is read back by its name's suffix: Parquet bytes named .csv failed as "header is not UTF-8
        # text" after the whole copy was written (newcomer review 24)
        raise InputError(
            f"{named}: the copy of a table is written as Parquet (every typed row, so every digest, kept), and a "
            f"{named.suffix} name would be read back as another format; give a name ending in .parquet "
            f"({named.with_suffix('.parquet')})"
        )
    removed = kept = 0
    for file in listed.files:
        target = out if single else out / PurePosixPath(file.rel).with_suffix(".parquet")
        target.parent.mkdir(parents=True, exist_ok=True)
        writer = None
        partition = [name for name, _, _ in file.partition]  # kept by the folder names, not in the file
        try:
            for batch in tables.file_batches(file, spec.options, fs):
                content = sorted(c for c in batch.schema.names if spec.options.is_content(c))
                digests = table_digests(batch, content, spec.options.row_encoding)
                keep = [d not in drop for d in digests]
                if rows:  # the labels as the manifest has them (tables.label_texts, as hashing reads them)
                    texts, _ = tables.label_texts(batch.column(spec.options.label_column), spec.options, file.path, 0)
                    keep = [k and (d, t) not in rows for k, d, t in zip(keep, digests, texts.to_pylist())]
                part = pa.Table.from_batches([batch]).filter(pa.array(keep, pa.bool_()))
                part = part.drop_columns(partition)
                removed += batch.num_rows - part.num_rows
                kept += part.num_rows
                writer = writer or pq.ParquetWriter(target, part.schema)
                writer.write_table(part)
        finally:
            if writer is not None:
                writer.close()
    return removed, kept


def _filter_tree(spec: DatasetSpec, drop: set[bytes], out: Path, rows: Rows) -> tuple[int, int, str | None]:
    legacy = spec.options.reader_version == 1
    if spec.labels_csv:
        records = trees.read_labels_csv(spec.path, spec.labels_csv, None, spec.options.encoding, legacy)
        listing = trees.labels_csv_listing(spec.path, records, None)
    else:
        listing = trees.list_tree(spec.path, None, "legacy" if legacy else spec.options.tree_reader)
    entries = listing.records
    digests = split_digests(tree_hashing.hash_files(spec.path, entries, seen=listing.seen()).digests)
    kept_entries = [
        (rel, label) for (rel, label), d in zip(entries, digests) if d not in drop and (d, label) not in rows
    ]
    for rel, _ in kept_entries:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(spec.path) / rel, target)
    labels_csv = None
    if spec.labels_csv:
        labels_csv = str(out / Path(spec.labels_csv).name)
        with open(labels_csv, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label"])
            w.writerows(kept_entries)
    return len(entries) - len(kept_entries), len(kept_entries), labels_csv


def write_without(
    spec: DatasetSpec, drop: set[bytes], target: Path, rows: Rows = frozenset()
) -> tuple[int, int, DatasetSpec]:
    """Write ``spec``'s records except those whose digest is in ``drop``, or whose (digest, label) is in ``rows``,
    to the new path ``target``.

    Tables become Parquet (every typed row, so every digest, is kept: one file for a file,
    the same layout for a folder), trees a copied tree (with its labels CSV). Written under a
    temporary name and renamed into place, so a kill never leaves a partial dataset under
    ``target``. Returns ``(removed, kept, spec of the written data)``; on any failure
    nothing is left behind.

    Raises:
        InputError: a single table file's ``target`` whose suffix names another table format (``.csv``,
            ``.jsonl``): the copy is Parquet and is read back by its name, before anything is written.
    """
    kind = resolve_kind(spec) if spec.rev is None else "table"  # quarantine takes only tables at a revision
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if kind == "table":
            removed, kept = _filter_tables(spec, drop, staging, rows, target)
            new_spec = replace(spec, path=str(target), kind="table", rev=None, repo=None)
        else:
            removed, kept, labels_csv = _filter_tree(spec, drop, staging, rows)
            if labels_csv:
                labels_csv = str(target / Path(labels_csv).name)
            new_spec = replace(spec, path=str(target), kind="tree", labels_csv=labels_csv)
        os.replace(staging, target)
    except BaseException:
        remove_path(staging)
        raise
    return removed, kept, new_spec


def remove_path(path: Path) -> None:
    """Remove the file or folder at ``path``, if any (a partial or rolled-back copy)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
