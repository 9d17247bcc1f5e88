"""What ``prov status`` says when ``prov commit`` would refuse the data it compared (newcomer review 28, finding 5):
it said "prov commit records them as a new version" for an emptied file and for null feature values, both refused."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from provenance.escaping import name_in_sentence
from provenance.features.numeric import signed_columns
from provenance.sources.interface import DatasetSpec

# status reads every record's feature values only when the commit's profile sample would hold every record (the
# sample's bound), so its word matches the commit's; larger data is not read a second time
READ_ALL_UP_TO = 8_000


def commit_refusal(tag: str, predicate: dict, spec: DatasetSpec, hashed) -> str | None:
    """Why ``prov commit`` of ``hashed`` (the data status read with ``spec``) would be refused, one line, or None:
    no records, or null, NaN or infinite values in a numeric column ``tag``'s signed profile reads (``predicate``:
    its verified one) among records all of which the commit's profile sample holds."""
    manifest = hashed.manifest
    if len(manifest) == 0:
        return "prov commit refuses it: no records (prov commit --allow-empty commits an empty version on purpose)"
    reads = signed_columns(predicate)  # split into its signed schema's names: 'x,y' is one column (A29b-2)
    if hashed.kind != "table" or reads is None or len(manifest) > READ_ALL_UP_TO:
        return None
    read = [c for c in reads if c in hashed.columns]
    if not read:
        return None
    from provenance.sources.records import read_table_records

    keys = pa.Table.from_batches(list(manifest.iter_batches(["digest", "locator"])))
    records = read_table_records(
        spec, keys.column("locator").to_pylist(), keys.column("digest").to_pylist(), hashed.columns
    ).table
    if records is None:
        return None
    bad: list[str] = []
    for name in read:
        column = records.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            continue  # a column now text leaves the features (the commit's note says so); a bool is never NaN
        values = pc.cast(column, pa.float64(), safe=False)
        wrong = pc.or_(pc.is_null(values, nan_is_null=True), pc.invert(pc.is_finite(values.fill_null(0.0))))
        count = pc.sum(wrong).as_py() or 0
        if count:
            bad.append(name_in_sentence(name))
    if not bad:
        return None
    one = len(bad) == 1
    return (
        f"prov commit refuses it: null, NaN or infinite values in column{'' if one else 's'} {', '.join(bad)}, which "
        f"{tag}'s profile reads as feature{'' if one else 's'}: fill or drop them first"
    )
