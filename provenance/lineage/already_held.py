"""A note at ``prov add`` when an unsigned batch re-delivers records a version already holds (newcomer review 32).

A whole data folder registered as one unsigned source made every record in it that source's, the base's too: the
check's advice to quarantine that source then cut 240 clean base records with the 60 new ones. The note says so
when the batch is registered, while it is still cheap to register only the new records instead.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.store.store import Store


def held_note(store: Store, batch: str, source: str) -> str | None:
    """How many of registered ``batch``'s records the newest version (by the audit log) already holds, and what that
    means for ``source``, as a note; None when it holds none, or there is no version whose manifest can be read (a
    note is never a reason to fail). Reads the batch's stored manifest and the version's, checked against its root."""
    import pyarrow.compute as pc

    from provenance.errors import ProvError
    from provenance.lineage.evidence import batch_records
    from provenance.version_facts import load_manifest, newest_version

    try:
        tag = newest_version(store)
        if tag is None:
            return None
        held = load_manifest(store, store.version(tag)).table.column("digest")
    except ProvError:
        return None
    digests = batch_records(store, [batch]).column("digest")
    older = int(pc.sum(pc.is_in(digests, value_set=held)).as_py() or 0)
    if not older:
        return None
    return (
        f"{older} of batch {batch}'s {len(digests)} records are already in {tag}: the next commit gives them to "
        f"{source}, so prov quarantine --source {shlex.quote(source)} would cut them with the rest; to register only "
        "what is new, add a file of the new records instead"
    )
