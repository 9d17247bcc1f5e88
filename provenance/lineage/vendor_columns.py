"""Columns a source signed as content that the data reads otherwise: the source added them, not your pipeline.

A vendor's delivery added two columns and signed them as content. The advice said "if your own pipeline adds them,
commit with --metadata; if not, drop them"; following it moved the loss onto the vendor's own records, and the next
check said to register a batch that was already registered (newcomer review 33, finding 5). What works is for the
source to sign again with the same ``--metadata`` flags, so its digests and the other batches' leave the columns out
alike. Advice only: every fact here is read from trusted signed envelopes (``signed_types.signed_batch_types``), and no
check relies on it.
"""

from __future__ import annotations

from collections.abc import Collection

from provenance.escaping import shell_word
from provenance.lineage.signed_types import signed_batch_types
from provenance.lineage.standing import registered_batches
from provenance.store.store import Store


def content_signed(store: Store, columns: Collection[str], only: set[str] | None = None) -> dict[str, dict]:
    """``{batch: {"source": name, "columns": [...]}}``: the trusted signed batches (of ``only``, when given; not
    withdrawn) whose envelopes sign any of ``columns`` as content columns, with those columns sorted; empty when
    none. Raises what ``signed_types.signed_batch_types`` raises."""
    wanted = set(columns)
    if not wanted:
        return {}
    sources = {batch: source for batch, source, *_ in registered_batches(store)}
    return {
        batch: {"source": sources.get(batch, "S"), "columns": sorted(wanted & set(types))}
        for batch, types in signed_batch_types(store, only)
        if wanted & set(types)
    }


def metadata_flags(columns: Collection[str]) -> str:
    """``--metadata a --metadata b``: the flags that leave ``columns`` out of a digest, each quoted as sh reads it."""
    return " ".join(f"--metadata {shell_word(c)}" for c in sorted(columns))


def signs_again_way(signing: dict[str, dict]) -> str:
    """The way on when ``signing`` (:func:`content_signed`) is not empty: the first batch's source signs its file
    again with the columns left out of the digest (``prov sign --metadata``, ``--force`` to replace the envelope it
    keeps beside the file), the maintainer registers that envelope and withdraws the old batch, then commits with
    the same flags; or the columns are dropped on both sides. One sentence, no trailing period."""
    batch, facts = next(iter(signing.items()))
    source, columns = facts["source"], facts["columns"]
    one = len(columns) == 1
    names = ", ".join(columns)
    flags = metadata_flags(columns)
    more = f" (and {len(signing) - 1} more signed batches)" if len(signing) > 1 else ""
    return (
        f"source {source}'s signed batch {batch}{more} signs the column{'' if one else 's'} {names} as content: "
        f"{source} added {'it' if one else 'them'}, so {batch}'s records match only with {'it' if one else 'them'} "
        f"in the digest and the other batches' only without; have {source} sign its file again with "
        f"{'it' if one else 'them'} left out (prov sign FILE --source {shell_word(source)} --key SOURCE_KEY {flags} "
        f"--force), register that envelope (prov add FILE --source {shell_word(source)}), withdraw "
        f"{shell_word(batch)} (prov withdraw {shell_word(batch)} --reason R --key K), then commit the data with "
        f"{flags}; or drop {'it' if one else 'them'} from the data and have {source} sign its file without "
        f"{'it' if one else 'them'}"
    )
