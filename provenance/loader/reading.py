"""Reading a version's data for the loader: the same files, rows and encoding as ``prov commit``, batch by batch.

Tables are listed by ``sources.table_files`` and hashed by ``sources.tables.hash_batch``,
the functions commit uses, with the version's *signed* reading options and types (a CSV or
JSON Lines file is read with the column types the version signed, not what inference
guesses today). Trees are listed by ``sources.trees.list_tree`` under the signed reader's
rules, the listing and class list are compared with the signed ones, and each file's bytes
are read once and hashed: the bytes handed to the trainer are the bytes that were hashed.
Nothing here decides whether a record may be used; ``matcher.py`` does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import pyarrow as pa

from provenance.encoding import type_name
from provenance.errors import FileChanged, InputError, VerificationError
from provenance.escaping import visible
from provenance.sources import table_files, tables, trees
from provenance.sources.build import arrow_type_named, split_url
from provenance.sources.interface import DatasetSpec
from provenance.sources.text_tables import Restart

TREE_BATCH_FILES = 256


class Record(NamedTuple):
    """One verified record: ``content`` (a table row as ``{column: value}``, or a file's bytes) and its ``label``
    (as the data types it: text, int, float or bool), with its content ``digest`` (32 bytes), ``source``
    (the data's source column as the manifest signed it; None when the data has none: the batch a record
    came from, which reports name, is ``VerifiedDataset.lineage()``) and ``locator`` (``file#row``, a row
    number, or a path in the tree: where the record is now). ``hexdigest`` is the digest in hex (``digest``
    stays bytes: code that compares it keeps working)."""

    content: Any
    label: Any
    digest: bytes
    source: str | None
    locator: str

    @property
    def hexdigest(self) -> str:
        """The content digest in hex, as reports, ``prov lineage`` and ``prov waive`` show it (64 characters)."""
        return self.digest.hex()


@dataclass
class HashedBatch:
    """One batch as read, and what it is checked by: ``batch`` holds the content columns and the label
    (a tree's: ``path``, ``content``, ``label``); ``digests`` 32 bytes a record; ``labels`` the label texts;
    ``sources`` and ``locators`` strings (sources may be null)."""

    batch: pa.RecordBatch
    digests: bytes
    labels: pa.Array
    sources: pa.Array
    locators: pa.Array
    label_column: str
    content_columns: list[str]

    def where(self, i: int) -> str:
        """The ``i``-th record's locator, for messages."""
        return str(self.locators[i].as_py())

    def records(self) -> Iterator[Record]:
        """The batch's records, one :class:`Record` each."""
        labels = self.batch.column(self.label_column).to_pylist()
        sources = self.sources.to_pylist()
        locators = self.locators.to_pylist()
        if self.content_columns == ["content"] and "path" in self.batch.schema.names:  # a tree
            contents: list = self.batch.column("content").to_pylist()
        else:
            contents = self.batch.select(self.content_columns).to_pylist()
        for i, content in enumerate(contents):
            yield Record(content, labels[i], self.digests[32 * i : 32 * i + 32], sources[i], locators[i])


@dataclass(frozen=True)
class SignedReading:
    """What a version signed about how its data reads: content ``columns`` (name order) and their ``types``
    (``encoding.type_name``), the label's ``(type, kind)``, a tree's ``classes`` and ``listing`` digest
    (each None when the version predates that fact)."""

    columns: list[str]
    types: dict[str, str]
    label: tuple[str, str] | None
    classes: list[str] | None
    listing: str | None
    skipped: list[str] | None = None  # the listing's first skipped paths (``ignoredPaths``), all when it names all
    locators: pa.ChunkedArray | None = None  # the signed manifest's locators, to name a tree file added or removed

    @classmethod
    def from_predicate(cls, predicate: dict) -> SignedReading:
        """The facts out of a verified version predicate (``schema`` and ``listing``)."""
        schema = predicate.get("schema") or {}
        label = schema.get("label") or None
        listing = predicate.get("listing")
        return cls(
            list(schema.get("columns") or []),
            dict(schema.get("types") or {}),
            (label["type"], label["kind"]) if label else None,
            list(schema["classes"]) if schema.get("classes") is not None else None,
            listing.get("sha256") if isinstance(listing, dict) else None,
            _all_skipped(listing),
        )


def _all_skipped(listing: Any) -> list[str] | None:
    """The signed skipped paths when the listing names every one of them, else None."""
    if not isinstance(listing, dict) or not isinstance(listing.get("ignoredPaths"), list):
        return None
    paths = listing["ignoredPaths"]
    return list(paths) if len(paths) == listing.get("ignored") else None


def location(spec: DatasetSpec):
    """``(fsspec filesystem or None, path)`` where the version's data is now (a git revision through DVC)."""
    if spec.rev is not None:
        from provenance.sources.dvc import open_fs

        return open_fs(spec)
    return split_url(spec.path)


def read_batches(
    spec: DatasetSpec,
    kind: str,
    signed: SignedReading,
    tree: trees.TreeListing | None = None,
    opening: Callable[[str], None] | None = None,
) -> Iterator[HashedBatch]:
    """Every record of the version's data in batches, hashed as ``prov commit`` hashed them.

    ``tree``: a tree's listing made before (:func:`tree_listing`), read instead of listing it again.
    ``opening``: called with a local table file's path just before the file is opened
    (``verified_pass.py`` notes or checks its identity there; it may raise).
    Raises ``InputError`` when the data cannot be read, ``VerificationError`` when its
    columns, types, label type, class list or file listing differ from the signed ones.
    """
    fs, root = location(spec)
    if kind == "tree":
        yield from _tree_batches(spec, fs, root, signed, tree)
    else:
        yield from _table_batches(spec, fs, root, signed, opening if fs is None else None)


def listing_change(root: str, now: set[str], skipped: set[str], signed: SignedReading, then: set[str]) -> str:
    """The first file whose change the signed facts can name: a record file added or removed (``now``, the
    files read now, against ``then``, those the manifest's locators name), a skipped file added or removed
    (``skipped`` now against the signed skipped paths), else the data's root."""
    for what, paths in (("added", now - then), ("removed", then - now)):
        if paths:
            return f"{os.path.join(root, min(paths))} ({what}; {len(paths)} record file(s) {what})"
    if signed.skipped is not None:
        for what, paths in (("added", skipped - set(signed.skipped)), ("removed", set(signed.skipped) - skipped)):
            if paths:
                return f"{os.path.join(root, min(paths))} (a skipped file {what})"
    return f"{root} (a file resized, relinked or renamed)"


def display_locator(spec: DatasetSpec, kind: str) -> Callable[[str], str]:
    """How a manifest locator is shown in messages: starting with the file (``train.parquet#699`` for a
    single file's row number, ``data/part-0.parquet#17``, ``tree/cat/1.png``, ``train.parquet (id 17)``)."""
    _, root = location(spec)
    if spec.options.id_column is not None and kind != "tree":
        return lambda locator: f"{root} (id {locator})"
    return lambda locator: (
        f"{root}#{locator}" if locator.isdigit() and kind != "tree" else f"{root.rstrip('/')}/{locator}"
    )


def _forced_types(signed: SignedReading) -> dict[str, pa.DataType]:
    """The signed types that text inference can give, as Arrow types (others are left to the reader)."""
    forced = {}
    for name, type_name_ in signed.types.items():
        arrow = arrow_type_named(type_name_)
        if str(arrow) == type_name_:
            forced[name] = arrow
    return forced


def _file_batches(file, options, fs, forced) -> Iterator[pa.RecordBatch]:
    """A file's batches with its final types: a text file is read once to settle them, then again.

    Raises ``VerificationError`` for a file that is not the one listed, or changed while it was read
    (``sources.file_identity``): what the loader reads must be one file, as it was when the pass began."""
    try:
        yield from _settled_batches(file, options, fs, forced)
    except FileChanged as exc:
        raise VerificationError(str(exc)) from exc


def _settled_batches(file, options, fs, forced) -> Iterator[pa.RecordBatch]:
    if file.format in ("csv", "jsonl") and options.reader_version > 1:
        settled = None
        for item in tables.iter_batches(file.path, options, fs, None, file.format, forced, identity=file.identity):
            if settled is None or isinstance(item, Restart):
                settled = (item.batch if isinstance(item, Restart) else item).schema
        if settled is not None:
            forced = {f.name: f.type for f in settled}
    for item in tables.iter_batches(file.path, options, fs, None, file.format, forced, identity=file.identity):
        if isinstance(item, Restart):  # cannot happen with every type settled; never hand out mixed types
            raise InputError(f"{file.path}: column types change while reading; read it again")
        yield tables.with_partitions(item, file) if options.reader_version > 1 else item


def _table_batches(
    spec: DatasetSpec, fs, root: str, signed: SignedReading, opening: Callable[[str], None] | None
) -> Iterator[HashedBatch]:
    options = spec.options
    files = table_files.list_table_files(root, fs, options.reader_version)
    prefix = len(files.files) > 1 or files.is_folder
    forced = _forced_types(signed) if options.reader_version > 1 else None
    keep_extra = [options.label_column]
    for file in files.files:
        file = file if prefix else replace(file, rel="")
        if opening is not None:
            opening(file.path)
        row = 0
        for batch in _file_batches(file, options, fs, forced):
            names = batch.schema.names
            if len(set(names)) != len(names) or options.label_column not in names:
                raise InputError(f"{file.path}: duplicate column names or no label column {options.label_column!r}")
            content = sorted(c for c in names if options.is_content(c))
            if content != signed.columns:
                raise VerificationError(
                    f"{file.path}: content columns are now {visible(', '.join(content))}, signed as "
                    f"{visible(', '.join(signed.columns))}"
                )
            types = {c: type_name(batch.schema.field(c).type) for c in content}
            if signed.types and types != signed.types:
                col = next(c for c in content if types[c] != signed.types.get(c))
                raise VerificationError(
                    f"{file.path}: column {col!r} is now {visible(types[col])}, signed as {visible(signed.types.get(col))}"
                )
            acc = tables.BatchHashes()
            tables.hash_batch(batch, content, options, file, row, acc)
            if signed.label is not None and acc.label != signed.label:
                raise VerificationError(
                    f"{file.path}: the label column is now {visible(acc.label[0])} ({acc.label[1]}), signed as "
                    f"{visible(signed.label[0])} ({visible(signed.label[1])})"
                )
            yield HashedBatch(
                batch.select([*content, *keep_extra]),
                acc.digests[0],
                acc.labels[0],
                acc.sources[0],
                acc.locators[0],
                options.label_column,
                content,
            )
            row += batch.num_rows


def tree_listing(spec: DatasetSpec, fs, root: str) -> trees.TreeListing:
    """The tree as commit listed it: under the signed reader's rules, or from the signed labels CSV."""
    options = spec.options
    legacy = options.reader_version == 1
    if spec.labels_csv:
        records = trees.read_labels_csv(root, spec.labels_csv, fs, options.encoding, legacy)
        return trees.labels_csv_listing(root, records, fs)
    return trees.list_tree(root, fs, "legacy" if legacy else options.tree_reader)


def _tree_batches(
    spec: DatasetSpec, fs, root: str, signed: SignedReading, tree: trees.TreeListing | None
) -> Iterator[HashedBatch]:
    listing = tree if tree is not None else tree_listing(spec, fs, root)
    if signed.classes is not None and listing.classes != signed.classes:
        raise VerificationError(
            f"{root}: class folders are now {listing.classes}, signed as {signed.classes} "
            "(every class index after a change shifts)"
        )
    entries = listing.records
    for start in range(0, len(entries), TREE_BATCH_FILES):
        chunk = entries[start : start + TREE_BATCH_FILES]
        blobs = [read_tree_file(fs, root, rel) for rel, _ in chunk]
        digests = b"".join(hashlib.sha256(b).digest() for b in blobs)
        paths = pa.array([rel for rel, _ in chunk], pa.string())
        labels = pa.array([label for _, label in chunk], pa.string())
        batch = pa.record_batch({"path": paths, "content": pa.array(blobs, pa.binary()), "label": labels})
        yield HashedBatch(batch, digests, labels, pa.nulls(len(chunk), pa.string()), paths, "label", ["content"])
    # Checked after the records, so that a changed record is named by the matcher; a file the loader skips
    # (Thumbs.db, a new extension) changes no record but is refused as `prov verify` refuses it.
    if signed.listing is not None and listing.listing.digest() != signed.listing:
        now = {rel for rel, _ in listing.records}
        then = set(signed.locators.to_pylist()) if signed.locators is not None else now
        change = listing_change(root, now, {e.path for e in listing.listing.ignored}, signed, then)
        raise VerificationError(f"{change}: the file listing differs from the signed one")


def read_tree_file(fs, root: str, rel: str) -> bytes:
    """The bytes of the tree file ``rel`` (a listing path or manifest locator: relative, never climbing out).

    Raises ``VerificationError`` for a path that climbs out, ``InputError`` when the file
    cannot be read or is not a regular file (a FIFO is never opened for reading).
    """
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts:
        raise VerificationError(f"{root}: locator {rel!r} climbs out of the tree")
    full = f"{root.rstrip('/')}/{rel}" if fs is not None else os.path.join(root, rel)
    try:
        if fs is not None:
            with fs.open(full, "rb") as fh:
                return fh.read()
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block
        with os.fdopen(fd, "rb") as fh:
            import stat

            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InputError(f"{full}: not a regular file")
            return fh.read()
    except OSError as exc:
        raise InputError(f"{full}: cannot read file ({exc.strerror or exc})") from exc
