"""Which records of trusted signed batches are missing from a candidate, and what accounts for them.

Read by ``lineage.unattributed_beside_signed`` and ``lineage.signed_batches_incomplete``
(``provenance.gate.unsigned``). A missing signed record is accounted for only by a signed
act: a ``prov quarantine`` version in the candidate's signed history that had reason to
remove it (:func:`removed_by_quarantine`), or a maintainer's ``prov withdraw`` of its batch
that covers it (:func:`signed_batches_missing`; attack reviews 5 and 6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


def missing_batches(missing: list[dict], shown: int = 3) -> str:
    """``batch B of S: M of its N signed records missing; ...`` for the first ``shown`` of ``missing``
    (:func:`signed_batches_missing`'s list), with ``and K more batches`` when there are more."""
    text = "; ".join(
        f"batch {b['batch']} of {b['source']}: {b['missing']} of its {b['signed']} signed records missing"
        for b in missing[:shown]
    )
    more = len(missing) - shown
    return text + (f"; and {more} more batch{'es' if more > 1 else ''}" if more > 0 else "")


def signed_batches_missing(ctx: GateContext) -> tuple[int, list[dict]]:
    """How many trusted signed batches are registered (sources not quarantined), and those with records missing.

    A batch's record is missing when the new version lacks it and either the base held it
    or the base does not hold the whole batch; a record a signed ``prov quarantine``
    version in the new version's signed history removed (:func:`removed_by_quarantine`)
    is not missing. A withdrawal a ``commit`` key of the verifier's pins signed for this
    store's registration of the batch, in an audit entry a trusted signature covers
    (``provenance.lineage.withdraw.judge_withdrawals``), accounts for the batch's missing records the base
    does not hold, and for those it holds only when its signed ``createdAt`` is after the
    base version's (a decision made after the base shipped them; attack review 6, finding 3).
    Each listed batch is ``{"batch", "source", "signed": records it signed, "missing": of
    them, those not accounted for (all missing ones when ``withdrawn``), "lost": of those,
    the ones the base held, "withdrawn": every missing record is withdrawn,
    "withdrawal_ignored": why a withdrawal does not cover the rest, or None, "unshipped": none of its records
    is in the base or the new version (a batch registered ahead of its delivery)}``, from
    envelopes verified under the verifier's pins (``provenance.lineage.evidence``).
    """
    return ctx.missing_signed_batches  # two rules read it; computed once per check


def compute_signed_batches_missing(ctx: GateContext) -> tuple[int, list[dict]]:
    """:func:`signed_batches_missing` computed afresh (``GateContext.missing_signed_batches`` keeps it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.withdraw import judge_withdrawals
    from provenance.trust.roles import COMMIT
    from provenance.version_facts import verified_statement

    records = ctx.unquarantined_batch_records
    if not records.num_rows:
        return 0, []
    judged = judge_withdrawals(ctx.store, ctx.pins.role_keys(COMMIT, ctx.store), ctx.audit_coverage.signed)
    withdrawn = {j["batch"]: j.get("withdrawn_at") for j in judged if j["status"] == "withdrawn"}
    not_relied = {j["batch"]: j["why"] for j in judged if j["status"] != "withdrawn"}
    base_row = ctx.store.version(ctx.base)
    base_at = verified_statement(ctx.store, base_row)["predicate"].get("createdAt")
    base = ctx.version_digests(base_row)
    kept = ctx.lineage.column("digest")
    quarantined = removed_by_quarantine(ctx)
    if len(quarantined):  # removed on purpose by a signed quarantine version: count them as still there
        kept = pa.chunked_array([*kept.chunks, quarantined], pa.binary(32))
    in_new = pc.is_in(records.column("digest"), value_set=kept).to_numpy(zero_copy_only=False)
    in_base = pc.is_in(records.column("digest"), value_set=base).to_numpy(zero_copy_only=False)
    batch_of = np.asarray(records.column("batch").to_pylist(), dtype=object)
    digests = np.asarray(records.column("digest").to_pylist(), dtype=object)
    sources = records.column("source").to_pylist()
    names = sorted(set(batch_of.tolist()))
    out_rows = []
    for batch in names:
        mine = batch_of == batch
        gone = mine & ~in_new & (in_base | (not in_base[mine].all()))
        if not gone.any():
            continue
        uncovered, ignored = gone, not_relied.get(batch)
        if batch in withdrawn:  # covers what the base did not ship; what it shipped only if signed after the base
            signed_at = withdrawn[batch]
            uncovered = gone & in_base if not signed_after(signed_at, base_at) else gone & False
            if uncovered.any():
                ignored = (
                    f"it was signed at {signed_at}, before {ctx.base} (signed at {base_at}) shipped "
                    f"{len(set(digests[uncovered].tolist()))} of the records now missing"
                )
        shown = uncovered if uncovered.any() else gone
        out_rows.append(
            {
                "batch": batch,
                "source": sources[int(np.flatnonzero(mine)[0])],
                "signed": len(set(digests[mine].tolist())),
                "missing": len(set(digests[shown].tolist())),
                "lost": len(set(digests[shown & in_base].tolist())),
                "withdrawn": not uncovered.any(),
                "withdrawal_ignored": ignored,
                "unshipped": not (in_new[mine].any() or in_base[mine].any()),
            }
        )
    return len(names), out_rows


def signed_after(when: object, base_at: object) -> bool:
    """Whether ISO 8601 time ``when`` (a withdrawal's signed ``createdAt``) is after ``base_at``
    (the base version's signed ``createdAt``); False when either is missing or unreadable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(when).replace("Z", "+00:00")) > datetime.fromisoformat(
            str(base_at).replace("Z", "+00:00")
        )
    except ValueError:
        return False


def removed_by_quarantine(ctx: GateContext, since_base: bool = False):
    """Digests (an Arrow ``binary(32)`` array) that ``prov quarantine`` versions in ``ctx.new``'s signed ancestry removed on purpose.

    Walks ``ctx.new``'s whole signed ancestry (``version_facts.signed_ancestry``: each
    version's signature and parent link are checked), the base's own history included, so
    records an honest quarantine removed before the base was released stay accounted for
    (attack review 6, finding 7). ``since_base``: only the quarantines not in ``ctx.base``'s own
    signed ancestry (the base itself included), for a count of what left the base: a quarantine
    before the base removed nothing the base holds, so records the base took back are not excused
    by it (attack review 29a, A29a-1). For each version whose signed predicate carries
    ``quarantine`` facts, the removed records are its parent's signed manifest minus its
    own, recomputed, never read from the facts or a findings file. Only a key the verifier
    trusts for ``commit`` can sign such a version, so a data-folder writer cannot make a
    removal look deliberate. Of them, only those the quarantine had reason to remove count
    (attack review 5, finding 4):

    - ``--findings``: records its own base did not hold, since detectors score only a delta
      and a quarantine of findings never needs to remove records its base accepted. Its own
      base is the one its signed facts name (``detection.base`` with a matching
      ``baseRoot``), else its parent's parent (the delta ``prov diff --detect`` scores by
      default); a quarantine after ``ctx.base`` also never counts records ``ctx.base`` held;
    - ``--source S``: records the parent's signed lineage or source column gives to S
      (``lineage.quarantine.digests_of_source``), minus every record a trusted signed batch
      of another source, registered before the quarantine (``quarantine_history.registered_before``,
      as ``quarantine_returns`` judges what lets a removed record back), attests: the source column
      is not hashed, so a data writer can re-tag another source's signed records as S (attack
      review 6, finding 2); a batch registered after it re-delivers what it removed, which the
      candidate rightly lacks.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.quarantine import digests_of_source
    from provenance.version_facts import signed_ancestry

    ancestry = signed_ancestry(ctx.store, ctx.new)
    tags = [row["tag"] for row, _ in ancestry]
    after_base = set(tags[: tags.index(ctx.base)]) if ctx.base in tags else set(tags)
    digests_of = ctx.version_digests  # each manifest's digests read once per check
    signed = ctx.signed_batch_records
    registered = {q.tag: q.registered for q in ctx.signed_quarantines}
    before_base: set[str] = set()  # the base and its signed ancestors (another line's shared history too)
    if since_base:
        before_base = (
            set(tags[tags.index(ctx.base) :])
            if ctx.base in tags
            else {row["tag"] for row, _ in signed_ancestry(ctx.store, ctx.base)}
        )
    parts = []
    for i, ((row, stmt), (parent, _)) in enumerate(zip(ancestry, ancestry[1:])):
        facts = stmt["predicate"].get("quarantine")
        if not facts or (since_base and row["tag"] in before_base):
            continue
        own, before = digests_of(row), digests_of(parent)
        removed = pc.filter(before, pc.invert(pc.is_in(before, value_set=own)))
        if isinstance(facts, dict) and isinstance(facts.get("source"), str):
            theirs = pa.array(sorted(digests_of_source(ctx.store, parent["tag"], facts["source"])), pa.binary(32))
            early = pa.array(sorted(registered.get(row["tag"], frozenset())), pa.string())
            other = pc.and_(
                pc.not_equal(signed.column("source"), facts["source"]),
                pc.is_in(signed.column("batch"), value_set=early),
            )
            others = signed.filter(other).column("digest")
            removed = pc.filter(removed, pc.is_in(removed, value_set=theirs))
            removed = pc.filter(removed, pc.invert(pc.is_in(removed, value_set=others)))
        else:
            held = [findings_base(ctx, facts, ancestry[i + 2][0] if i + 2 < len(ancestry) else None, digests_of)]
            if row["tag"] in after_base:
                held.append(digests_of(ctx.store.version(ctx.base)))
            for base in held:
                if base is None:  # no base to narrow by: nothing of this quarantine counts as deliberate
                    removed = removed.slice(0, 0)
                else:
                    removed = pc.filter(removed, pc.invert(pc.is_in(removed, value_set=base)))
        parts.append(removed)
    if not parts:
        return pa.array([], pa.binary(32))
    return pa.concat_arrays([c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])])


def findings_base(ctx: GateContext, facts: object, grandparent: dict | None, digests_of):
    """The digests of a ``--findings`` quarantine's own base: the version its signed facts name
    (``detection.base``, whose row must carry the signed ``baseRoot``), else ``grandparent``
    (its parent's parent in the signed ancestry); None when neither is there."""
    detection = facts.get("detection") if isinstance(facts, dict) else None
    if isinstance(detection, dict) and isinstance(detection.get("base"), str):
        from provenance.errors import InputError

        try:
            row = ctx.store.version(detection["base"])
        except InputError:
            return None
        return digests_of(row) if row["merkle_root"] == detection.get("baseRoot") else None
    return None if grandparent is None else digests_of(grandparent)
