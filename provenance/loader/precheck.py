"""What the loader can see wrong in a version's data before it reads any record (cheap: no record is hashed).

A tree's file listing against the signed listing digest; a table's files, Parquet row counts
(footers) and label counts (each Parquet file's label column alone) against the signed manifest.
``dataset.py`` runs it before the first pass; what it misses, the passes refuse at their batch.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError
from provenance.loader.reading import SignedReading, listing_change, location, tree_listing
from provenance.sources import table_files, tables, trees
from provenance.sources.interface import DatasetSpec


def precheck(
    spec: DatasetSpec,
    kind: str,
    signed: SignedReading,
    locators: pa.ChunkedArray,
    labels: pa.ChunkedArray | None = None,
    tree: trees.TreeListing | None = None,
) -> str | None:
    """What can be seen wrong before reading any record, as a message; None when nothing is.

    ``locators`` and ``labels`` are the signed manifest's columns (``file#row`` locators for a
    folder or several files). Checked: a tree's file listing against the signed listing
    digest (naming a file added or removed where the manifest or the signed skipped paths
    tell); a table's files against the files the manifest names (a file it does not name, or
    a named file gone), each Parquet file's row count (its footer) against the records signed
    in it, the total when every file is Parquet, and (``labels`` given) each Parquet file's
    count of each label (its label column alone) against the records signed in it with that
    label, so rows of one class deleted and padded back with copies of another's are seen.
    Cheap: no record is hashed, only a Parquet file's label column is read. ``tree``: a tree's
    listing made before (else it is listed here).
    Raises ``InputError`` when the data cannot be listed, a footer or label column cannot be read.
    """
    fs, root = location(spec)
    if kind == "tree":
        if signed.listing is None:
            return None
        listing = tree if tree is not None else tree_listing(spec, fs, root)
        if listing.listing.digest() == signed.listing:
            return None
        return f"{listing_change(root, listing, signed, locators)}: the file listing differs from the signed one"
    listed = table_files.list_table_files(root, fs, spec.options.reader_version)
    rows = {file.rel: _footer_rows(file, fs) for file in listed.files}
    by_file = (len(listed.files) > 1 or listed.is_folder) and spec.options.id_column is None
    names = pc.struct_field(pc.extract_regex(locators, r"^(?P<file>.*)#[0-9]+$"), "file") if by_file else None
    if names is not None:
        signed_rows = {d["values"]: d["counts"] for d in pc.value_counts(names).to_pylist() if d["values"] is not None}
        for file in listed.files:
            if file.rel not in signed_rows:
                return f"{file.path}: a file the version did not sign"
            if rows[file.rel] is not None and rows[file.rel] != signed_rows[file.rel]:
                return f"{file.path}: holds {rows[file.rel]} rows where the version signed {signed_rows[file.rel]}"
        gone = sorted(set(signed_rows) - set(rows))
        if gone:
            return f"{root}: {gone[0]} is signed but no longer in the data ({len(gone)} file(s) gone)"
    if all(n is not None for n in rows.values()) and sum(n or 0 for n in rows.values()) != len(locators):
        return f"{root}: the data holds {sum(n or 0 for n in rows.values())} rows where the version signed {len(locators)} records"
    if labels is not None and (names is not None or (len(listed.files) == 1 and spec.options.id_column is None)):
        return _label_counts_change(spec, fs, listed.files, names, labels)
    return None


def _label_counts_change(spec: DatasetSpec, fs, files, names, labels: pa.ChunkedArray) -> str | None:
    """The first Parquet file whose count of some label differs from the records signed in it with that label."""
    import pyarrow.parquet as pq

    options = spec.options
    keys = names if names is not None else pa.chunked_array([pa.array([""] * len(labels), pa.string())])
    signed = pa.table({"file": keys, "label": labels}).group_by(["file", "label"]).aggregate([([], "count_all")])
    expected: dict[str, dict[str, int]] = {}
    for f, label, n in zip(*(signed.column(c).to_pylist() for c in ("file", "label", "count_all"))):
        expected.setdefault(f, {})[label] = n
    for file in files:
        if file.format != "parquet":
            continue
        try:
            with fs.open(file.path, "rb") if fs is not None else open(file.path, "rb") as fh:
                parquet = pq.ParquetFile(fh)
                if options.label_column not in parquet.schema_arrow.names:
                    continue  # the label comes from a partition folder: the row counts above cover it
                column = parquet.read(columns=[options.label_column]).column(0)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{file.path}: cannot read the label column ({exc})") from exc
        texts, _ = tables.label_texts(column.combine_chunks(), options, file.path, 0)
        now = {d["values"]: d["counts"] for d in pc.value_counts(texts).to_pylist()}
        then = expected.get(file.rel if names is not None else "", {})
        if now != then:
            # a label that lost records first (a class deleted), then one that gained
            label = min(
                set(now) | set(then),
                key=lambda x: (now.get(x, 0) >= then.get(x, 0), now.get(x, 0) == then.get(x, 0), str(x)),
            )
            return (
                f"{file.path}: holds {now.get(label, 0)} records labelled {label!r} where the version signed "
                f"{then.get(label, 0)}"
            )
    return None


def _footer_rows(file, fs) -> int | None:
    """A Parquet file's row count from its footer; None for a text table (known only by reading it)."""
    import pyarrow.parquet as pq

    if file.format != "parquet":
        return None
    try:
        if fs is not None:
            with fs.open(file.path, "rb") as fh:
                return int(pq.ParquetFile(fh).metadata.num_rows)
        return int(pq.ParquetFile(file.path).metadata.num_rows)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{file.path}: cannot read Parquet metadata ({exc})") from exc
