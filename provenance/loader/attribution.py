"""Where a loaded version's records came from: its signed lineage, re-judged under the job's pins.

``Record.source`` is the source the version's manifest signed for a record: the value of the
data's source column (``--source-column``), None when the data has none. What reports name a
record's source by (``vendor (signed batch)``, ``crowd (unsigned batch)``) is its *lineage*: the
registered batch that carries its digest. :func:`lineage_of` reads the lineage object the version
signed (``provenance.lineage.classify.trusted_lineage``, the lineage ``prov check`` judges) under
the pins the job loaded the version with, so a record is ``attested`` only if a key the job
trusts for its source signed its batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from provenance.errors import VerificationError
from provenance.manifest import Manifest

if TYPE_CHECKING:
    from provenance.trust.pins import Pins


def lineage_of(store_root: str, pins: Pins, tag: str, manifest: Manifest) -> pa.Table:
    """The lineage of version ``tag`` in the store at ``store_root`` as ``pins`` judge it, one row per record of
    ``manifest`` (the signed manifest the loader checked), in its order: ``digest`` (32 bytes, as
    ``Record.digest``), ``label``, ``status`` (``attested``, ``relabeled_after_source`` or ``unattributed``),
    ``source`` and ``batch`` (of the registered batch that carries the record; null when none does) and
    ``signed_label`` (the label the batch signed).

    Raises ``VerificationError`` when the version's signature, its lineage object or a batch does not check
    out, or when the lineage is not of ``manifest``'s records (the store changed since the version was
    loaded); ``InputError`` when the version is no longer in the store.
    """
    from provenance.lineage.classify import trusted_lineage
    from provenance.store.store import Store

    store = Store(Path(store_root))
    store.pins = pins
    try:
        table = trusted_lineage(store, tag)
    finally:
        store.close()
    if not table.column("digest").equals(manifest.table.column("digest")):
        raise VerificationError(f"version {tag}: its lineage is not of the records the loader verified")
    return table
