"""Every record of a table version read again for its copy index (``profiles.copy_index_build``), in one pass.

``sources.records.read_table_records`` reads a few records by locator (a Python split, a dictionary and a take per
record): for every row of a table it was most of the index's cost at commit (bench/results/fix33a-copy-index.md).
Here each of the dataset's files is read whole, in listing order, its rows re-hashed under the signed row encoding in
one vectorised pass, and the manifest's locators are turned into positions with Arrow compute; every manifest digest
must equal its row's, so features still come from the signed content only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.encoding import table_digest_blob
from provenance.errors import NotRereadable, VerificationError
from provenance.sources import table_files, tables
from provenance.sources.interface import DatasetSpec
from provenance.sources.records import open_spec


def every_table_row(spec: DatasetSpec, locators: pa.Array, digests: np.ndarray, columns: list[str]) -> pa.Table:
    """The content ``columns`` of the rows at ``locators`` (a manifest's, every row of the version), in that order.

    Args:
        spec: the version's signed dataset spec (a local path or a git revision through DVC).
        locators: (N,) string array: ``file#row`` in a folder, the row number in a single file.
        digests: (N, 32) uint8: the signed digest of each.
        columns: the signed schema's content columns.

    Raises:
        NotRereadable: records read by id column (by design: the caller goes without an index).
        InputError: a file that can no longer be read as its format.
        VerificationError: a file, row or column that is gone, or a row whose digest differs from the signed one.
    """
    if spec.options.id_column:
        raise NotRereadable(f"{spec.path}: records read by id column are not read again by locator")
    fs, root = open_spec(spec)
    listed = table_files.list_table_files(root, fs, spec.options.reader_version)
    parts = []
    for file in listed.files:
        batches = list(tables.file_batches(file, spec.options, fs, None, columns))
        try:
            parts.append(pa.Table.from_batches(batches).select(columns) if batches else None)
        except KeyError as exc:
            raise VerificationError(f"{file.path}: a signed column is no longer in the file ({exc})") from exc
    sizes = np.array([0 if p is None else p.num_rows for p in parts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    where, rows = _file_and_row(locators, [f.rel for f in listed.files], listed.is_folder)
    bad = (where < 0) | (rows < 0) | (rows >= sizes[np.maximum(where, 0)])
    if bad.any():
        named = ", ".join(str(x) for x in locators.filter(pa.array(bad)).to_pylist()[:5])
        raise VerificationError(f"{spec.path}: rows of the signed manifest are no longer in the dataset ({named})")
    whole = pa.concat_tables([p for p in parts if p is not None], promote_options="default")
    positions = starts[where] + rows
    blob = np.frombuffer(table_digest_blob(whole, columns, spec.options.row_encoding), np.uint8).reshape(-1, 32)
    changed = np.flatnonzero((blob[positions] != np.asarray(digests, np.uint8)).any(axis=1))
    if changed.size:
        named = ", ".join(str(x) for x in locators.take(pa.array(changed[:5])).to_pylist())
        raise VerificationError(
            f"{spec.path}: {changed.size} record(s) differ from the signed manifest (at {named}); "
            "run 'prov verify' on the version"
        )
    return whole.take(pa.array(positions))


def _file_and_row(locators: pa.Array, rels: list[str], is_folder: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each locator's file (index into ``rels``) and row number; -1 for either where the locator names none."""
    text = locators.cast(pa.string())
    if is_folder:  # "rel#row", split at the last "#" (a file name may hold one)
        parts = pc.extract_regex(text, r"(?s)^(?P<file>.*)#(?P<row>[0-9]+)$")
        file_part, row_part = pc.struct_field(parts, [0]), pc.struct_field(parts, [1])
        where = pc.index_in(file_part, value_set=pa.array(rels, pa.string()))
    else:
        row_part = pc.if_else(pc.match_substring_regex(text, r"^[0-9]+$"), text, pa.scalar(None, pa.string()))
        where = pa.array(np.zeros(len(text), dtype=np.int32))
    rows = pc.cast(row_part, pa.int64()).fill_null(-1)
    return (
        np.asarray(where.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64),
        np.asarray(rows.to_numpy(zero_copy_only=False), dtype=np.int64),
    )
