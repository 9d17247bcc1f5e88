"""What the loader can see wrong in a version's data before it reads any record (cheap: no record is hashed).

The signed file listing (a tree's, a table folder's); a table's Parquet row count (footers) and
label counts (the label column alone) against the signed manifest's totals. The rule is
``prov verify``'s: which file a record is in is not signed, so rows moved between the files of a
folder are the same version. ``dataset.py`` runs it before the first pass; what it misses, the
passes refuse at their batch.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from provenance.errors import InputError
from provenance.loader.reading import SignedReading, listing_change, location, tree_listing
from provenance.sources import table_files, tables, trees
from provenance.sources.build import table_listing
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

    ``locators`` and ``labels`` are the signed manifest's columns. Checked, as ``prov verify``
    checks them (a version is its records, as a multiset of content, label and source, and
    the facts it signed; which file or row a record is in is not signed, so rows moved between
    the files of a folder are the same version): the file listing against the signed listing
    digest (a tree's, and a table folder's since reader 2: a file added, removed or renamed,
    named where the manifest or the signed skipped paths tell); for a table, the row count of
    its Parquet files (footers) against the signed record count when every file is Parquet,
    and (``labels`` given) their count of each label (their label column alone) against the
    signed count of that label when every file is Parquet and holds its label column, so rows
    of one class deleted and padded back with copies of another's are seen.
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
        now = {rel for rel, _ in listing.records}
        change = listing_change(root, now, {e.path for e in listing.listing.ignored}, signed, set(locators.to_pylist()))
        return f"{change}: the file listing differs from the signed one"
    listed = table_files.list_table_files(root, fs, spec.options.reader_version)
    if signed.listing is not None and table_listing(listed).digest() != signed.listing:
        return f"{_table_listing_change(root, listed, signed, locators)}: the file listing differs from the signed one"
    rows = [_footer_rows(file, fs) for file in listed.files]
    if all(n is not None for n in rows) and sum(n or 0 for n in rows) != len(locators):
        return (
            f"{root}: the data holds {sum(n or 0 for n in rows)} rows where the version signed {len(locators)} records"
        )
    if labels is not None:
        return _label_counts_change(spec, fs, root, listed.files, labels)
    return None


def _table_listing_change(root: str, listed, signed: SignedReading, locators: pa.ChunkedArray) -> str:
    """A table folder's first file added or removed since it was signed (by the files the manifest's ``file#row``
    locators name, and the signed skipped paths), else the folder."""
    files = pc.struct_field(pc.extract_regex(locators, r"^(?P<file>.*)#[0-9]+$"), "file")
    then = {name for name in pc.unique(files).to_pylist() if name is not None}
    now = {file.rel for file in listed.files} if then else set()
    return listing_change(root, now, {rel for rel, _ in listed.ignored}, signed, then)


def _label_counts_change(spec: DatasetSpec, fs, root: str, files, labels: pa.ChunkedArray) -> str | None:
    """How the data's count of some label differs from the signed count of that label, when every file is Parquet
    and holds the label column (else None: a text table's labels are known only by reading it)."""
    import pyarrow.parquet as pq

    options = spec.options
    if not files or any(file.format != "parquet" for file in files):
        return None
    now: dict[str, int] = {}
    for file in files:
        try:
            with fs.open(file.path, "rb") if fs is not None else open(file.path, "rb") as fh:
                parquet = pq.ParquetFile(fh)
                if options.label_column not in parquet.schema_arrow.names:
                    return None  # the label comes from a partition folder: the row count above covers it
                column = parquet.read(columns=[options.label_column]).column(0)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{file.path}: cannot read the label column ({exc})") from exc
        texts, _ = tables.label_texts(column.combine_chunks(), options, file.path, 0)
        for d in pc.value_counts(texts).to_pylist():
            now[d["values"]] = now.get(d["values"], 0) + d["counts"]
    then = {d["values"]: d["counts"] for d in pc.value_counts(labels).to_pylist()}
    if now == then:
        return None
    # a label that lost records first (a class deleted), then one that gained
    label = min(
        set(now) | set(then),
        key=lambda x: (now.get(x, 0) >= then.get(x, 0), now.get(x, 0) == then.get(x, 0), str(x)),
    )
    return f"{root}: the data holds {now.get(label, 0)} records labelled {label!r} where the version signed {then.get(label, 0)}"


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
