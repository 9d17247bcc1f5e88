"""The rule against a silent downgrade: no unsigned additions from a source that signs its batches.

A source with a trusted batch-signing key delivers signed batches. An unsigned batch
from it (``prov add --unsigned``, or a batch whose envelope went missing on the way) is
the shape a tampered delivery takes once its signature is stripped, so the default
policy blocks the records it adds. ``lineage.allow_unsigned_from`` lists sources whose
unsigned batches are accepted all the same. Records from no source and no signed batch
stay "unattributed": this rule does not block them (``lineage.max_unsigned_additions``
does, when set) and its report says how many there are. :class:`UnattributedBesideSigned`
blocks them where sources sign their batches, and blocks unsigned additions of any kind
while a trusted signed batch has records missing that no signed quarantine or
``prov withdraw`` accounts for (the shapes of records edited in transit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import BOOLEAN, SwitchedRule, added_mask, count_status, lineage_records, setting_value

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


class UnsignedFromSigningSources(Rule):
    """Block added records that came in an unsigned batch from a source that has a trusted
    batch-signing key, or a revoked one (``trust.pins.revoked_sources``: its batch that
    verifies only under the revoked key is the stolen-key shape, attack review 6 finding 5),
    unless the policy allows that source (``allow_unsigned_from``)."""

    key = "lineage.unsigned_from_signing_sources"
    settings = (
        Setting(
            "lineage",
            "allow_unsigned_from",
            {"type": "array", "items": {"type": "string", "minLength": 1}},
            [],
            "sources with a trusted batch-signing key whose unsigned batches are accepted anyway "
            "(by default their unsigned additions block)",
            expects="a list of non-empty source names",
        ),
    )

    def __init__(self, allowed: list[str]):
        self.allowed = sorted(set(allowed))

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule:
        """Always on; the setting only lists the sources let through."""
        return cls(setting_value(settings, cls.settings[0]))

    def check(self, ctx: GateContext) -> RuleResult:
        """Count unattributed added records whose source signs its batches; block any."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from provenance.trust.pins import revoked_sources

        # a source whose key was revoked signed its batches: its batch that verifies only under
        # the revoked key is unsigned now, and blocks like any unsigned batch of it (review 6, finding 5)
        signing = sorted((set(ctx.signing_sources) | revoked_sources(ctx.store)) - set(self.allowed))
        _, unattributed = count_status(ctx, "unattributed")
        added_unattributed = pc.and_(unattributed, added_mask(ctx))
        sources = pc.fill_null(ctx.lineage.column("source"), "")
        mask = pc.and_(added_unattributed, pc.is_in(sources, value_set=pa.array(signing, pa.string())))
        k = int(pc.sum(mask).as_py() or 0)
        if k:
            what = (
                f"added records from unsigned batches of sources that sign their batches ({', '.join(signing)}; "
                "a source with a revoked key counts: quarantine the source or withdraw the batch)"
            )
            return bounded_count(self.key, k, 0, what, lineage_records(ctx, mask))
        in_batch = pc.is_valid(ctx.lineage.column("batch"))
        declared = int(pc.sum(pc.and_(added_unattributed, in_batch)).as_py() or 0)
        no_batch = int(pc.sum(pc.and_(added_unattributed, pc.invert(in_batch))).as_py() or 0)
        allowed = f"; allowed unsigned from {', '.join(self.allowed)}" if self.allowed else ""
        return RuleResult(
            self.key,
            "pass",
            f"no unsigned additions from a source with a trusted signing key{allowed}; of the added records "
            f"no signed batch attests, {declared} came in declared unsigned batches and {no_batch} in no batch "
            "(not blocked by this rule)",
            [],
            0,
        )


class UnattributedBesideSigned(SwitchedRule):
    """Block unsigned additions where sources sign their batches and signed records went missing, or came from no batch.

    Whoever can write the data folder between a source and the commit (or between two
    commits) can alter records of a signed batch: their digests then match no batch, and
    they count as ``unattributed`` rather than as relabeled or changed. Two shapes block:

    - a trusted signed batch (of a source not quarantined) has records missing from the
      new version (base records it lost, or records of a batch the new version does not
      hold whole), beside unsigned additions of *any* kind, declared unsigned batches
      included: the shape of a signed delivery edited and re-declared (attack review 3,
      finding 13; review 5, finding 1). Missing records are accounted for only by a signed
      act: a ``prov quarantine`` version in new's signed history that removed them
      (:func:`removed_by_quarantine`), or a ``prov withdraw`` of their batch signed by a
      ``commit`` key the verifier pins (``provenance.lineage.withdraw``) that covers them
      (:func:`signed_batches_missing`);
    - otherwise, added records that no registered batch carries, whenever a trusted signed
      batch is registered. A maintainer's own additions go through ``prov add --unsigned
      --source NAME`` (declared, and judged by the unsigned-batch rules).

    The report names the signed batches with records missing. Which batches are trusted
    and which records each carries come from envelopes that verify under the verifier's
    pins (``provenance.lineage.evidence``), never from batch rows.
    ``lineage.unattributed_beside_signed = false`` turns the rule off.
    """

    key = "lineage.unattributed_beside_signed"
    settings = (
        Setting(
            "lineage",
            "unattributed_beside_signed",
            BOOLEAN,
            True,
            "block unsigned additions while a trusted signed batch has records missing (no signed quarantine or "
            "`prov withdraw` for them), and added records of no registered batch where sources sign their batches "
            "(register yours with `prov add --unsigned`)",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Block unsigned additions beside missing signed records; else additions of no batch where sources sign."""
        import pyarrow.compute as pc

        _, unattributed = count_status(ctx, "unattributed")
        added_unattributed = pc.and_(unattributed, added_mask(ctx))
        mask = pc.and_(added_unattributed, pc.is_null(ctx.lineage.column("batch")))
        k = int(pc.sum(mask).as_py() or 0)
        if not k and not int(pc.sum(added_unattributed).as_py() or 0):
            what = "no added records from outside every registered batch"
            return RuleResult(self.key, "pass", what, [], 0, allowed=0, expected="at most 0")
        batches, listed = signed_batches_missing(ctx)
        missing = [b for b in listed if not b["withdrawn"]]
        withdrawn = [b["batch"] for b in listed if b["withdrawn"]]
        noted = (
            f"; records missing from {len(withdrawn)} batches a maintainer signed as withdrawn "
            f"(prov withdraw: {', '.join(withdrawn[:3])}{', ...' if len(withdrawn) > 3 else ''})"
            if withdrawn
            else ""
        )
        if missing:  # signed records gone beside unsigned additions, even ones declared as a batch
            k = int(pc.sum(added_unattributed).as_py() or 0)
            gone, lost = sum(b["missing"] for b in missing), sum(b["lost"] for b in missing)
            if lost == gone:
                what = f"{gone} signed records of {ctx.base} went missing"
            else:
                what = f"{gone} signed records went missing" + (f" ({lost} of them of {ctx.base})" if lost else "")
            why = (
                f"added records without a trusted signature, while {what} "
                f"({missing_batches(missing)}): the shape of a signed delivery edited and re-declared; "
                "declaring the additions `prov add --unsigned` does not help here. Account for the missing records "
                "with a signed act: `prov withdraw BATCH --key K --reason R` for a batch you do not ship, or "
                "`prov quarantine` to remove records on purpose"
            )
            why += "".join(
                f"; the withdrawal of {b['batch']} is not relied on: {b['withdrawal_ignored']}"
                for b in missing[:3]
                if b.get("withdrawal_ignored")
            )
            return bounded_count(self.key, k, 0, why, lineage_records(ctx, added_unattributed))
        if not k:
            what = (
                "no added records from outside every registered batch, and no trusted signed batch has records missing"
            )
            return RuleResult(self.key, "pass", what + noted, [], 0, allowed=0, expected="at most 0")
        if not batches:
            return RuleResult(
                self.key,
                "pass",
                f"{k} added records from no registered batch; no source signs its batches here{noted}",
                [],
                k,
                expected="no trusted signed batch registered",
            )
        why = (
            f"added records from no registered batch where sources sign their batches ({batches} trusted signed "
            "batches, none missing records); register intended additions with `prov add --unsigned --source NAME` "
            f"(this helps only while no signed batch has records missing){noted}"
        )
        return bounded_count(self.key, k, 0, why, lineage_records(ctx, mask))


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
    "withdrawal_ignored": why a withdrawal does not cover the rest, or None}``, from
    envelopes verified under the verifier's pins (``provenance.lineage.evidence``).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.withdraw import judge_withdrawals
    from provenance.trust.roles import COMMIT
    from provenance.version_facts import load_manifest, verified_statement

    records = ctx.signed_batch_records
    if ctx.quarantined_sources:
        out = pc.is_in(records.column("source"), value_set=pa.array(sorted(ctx.quarantined_sources)))
        records = records.filter(pc.invert(out))
    if not records.num_rows:
        return 0, []
    judged = judge_withdrawals(ctx.store, ctx.pins.role_keys(COMMIT, ctx.store), ctx.audit_coverage.signed)
    withdrawn = {j["batch"]: j.get("withdrawn_at") for j in judged if j["status"] == "withdrawn"}
    not_relied = {j["batch"]: j["why"] for j in judged if j["status"] != "withdrawn"}
    base_row = ctx.store.version(ctx.base)
    base_at = verified_statement(ctx.store, base_row)["predicate"].get("createdAt")
    base = load_manifest(ctx.store, base_row).table.column("digest")
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


def removed_by_quarantine(ctx: GateContext):
    """Digests (an Arrow ``binary(32)`` array) that ``prov quarantine`` versions in ``ctx.new``'s signed ancestry removed on purpose.

    Walks ``ctx.new``'s whole signed ancestry (``version_facts.signed_ancestry``: each
    version's signature and parent link are checked), the base's own history included, so
    records an honest quarantine removed before the base was released stay accounted for
    (attack review 6, finding 7). For each version whose signed predicate carries
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
      of another source attests: the source column is not hashed, so a data writer can
      re-tag another source's signed records as S (attack review 6, finding 2).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.quarantine import digests_of_source
    from provenance.version_facts import load_manifest, signed_ancestry

    ancestry = signed_ancestry(ctx.store, ctx.new)
    tags = [row["tag"] for row, _ in ancestry]
    after_base = set(tags[: tags.index(ctx.base)]) if ctx.base in tags else set(tags)
    manifests: dict[str, pa.ChunkedArray] = {}

    def digests_of(row: dict) -> pa.ChunkedArray:
        if row["tag"] not in manifests:
            manifests[row["tag"]] = load_manifest(ctx.store, row).table.column("digest")
        return manifests[row["tag"]]

    signed = ctx.signed_batch_records
    parts = []
    for i, ((row, stmt), (parent, _)) in enumerate(zip(ancestry, ancestry[1:])):
        facts = stmt["predicate"].get("quarantine")
        if not facts:
            continue
        own, before = digests_of(row), digests_of(parent)
        removed = pc.filter(before, pc.invert(pc.is_in(before, value_set=own)))
        if isinstance(facts, dict) and isinstance(facts.get("source"), str):
            theirs = pa.array(sorted(digests_of_source(ctx.store, parent["tag"], facts["source"])), pa.binary(32))
            others = signed.filter(pc.not_equal(signed.column("source"), facts["source"])).column("digest")
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
