"""The column types each trusted signed batch signs: read from its envelope under the pins, never from a row.

Shared by the type-conflict advice (``retyped``) and the advice for a vendor's added columns (``vendor_columns``).
"""

from __future__ import annotations

from provenance.lineage.standing import judge_envelope, registered_batches
from provenance.sources.schema_delta import schema_problem
from provenance.store.store import Store


def signed_batch_types(store: Store, only: set[str] | None = None) -> list[tuple[str, dict[str, str]]]:
    """``(batch, {column: type})`` of each registered signed batch (or of the batches ``only``) whose envelope
    verifies under ``store.pins`` (``standing.judge_envelope``) and signs well-formed column types, and that no
    honoured ``prov withdraw`` withdrew (``withdraw.withdrawal_summary``), in registration order."""
    from provenance.lineage.withdraw import withdrawal_summary

    # a batch a maintainer withdrew (a signed `prov withdraw`, judged under the pins) is no longer advised on: the
    # commit note kept naming it (newcomer review 32, finding 2)
    withdrawn = {w["batch"] for w in withdrawal_summary(store) if w["status"] == "withdrawn"}
    out = []
    for batch, _source, signed, envelope, _manifest in registered_batches(store):
        if not signed or (only is not None and batch not in only) or batch in withdrawn:
            continue
        judged = judge_envelope(store, batch, envelope)
        signed_schema = ((judged.statement or {}).get("predicate") or {}).get("schema") or {}
        # a batch prov add took before it refused malformed schema facts (attack review 25a, A25a-6) says nothing
        if judged.statement is None or schema_problem(signed_schema) is not None or not signed_schema.get("types"):
            continue
        out.append((batch, dict(signed_schema["types"])))
    return out
