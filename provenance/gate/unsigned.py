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
from provenance.gate.missing_signed import missing_batches, signed_batches_missing
from provenance.gate.replaced import relabeled, replaced_in_place, replaced_text
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import BOOLEAN, SwitchedRule, setting_value
from provenance.gate.rules_lineage import added_mask, count_status, lineage_records, rekeyed_unattributed_in_base
from provenance.lineage.retyped import added_columns_way
from provenance.lineage.vendor_columns import content_signed, signs_again_way
from provenance.sources.schema_delta import added_and_other

if TYPE_CHECKING:
    from provenance.gate.context import GateContext


LISTED_REPLACED = 10  # replaced records the rule's statistic lists (all are counted)


class UnsignedFromSigningSources(Rule):
    """Block added records that came in an unsigned batch from a source that has a trusted
    batch-signing key, one whose window ended (expired or retired), or a revoked one
    (``trust.revocations.revoked_sources``: its batch that verifies only under the revoked key is
    the stolen-key shape, attack review 6 finding 5), unless the policy allows that source
    (``allow_unsigned_from``)."""

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

        from provenance.trust.revocations import revoked_sources

        # a source whose key was revoked signed its batches: its batch that verifies only under
        # the revoked key is unsigned now, and blocks like any unsigned batch of it (review 6, finding 5);
        # so did a source whose keys expired or were retired (`prov trust retire`): a batch its old key signs
        # after the window is refused by prov add, and registering it --unsigned must not pass instead
        ever = {k.source for k in ctx.pins.source_keys(ctx.store)}
        if ctx.pins.root is None and ctx.pins.signers:  # and whatever the trust rows say now: the signed entries the
            # hash-chained log names (a .prov/ writer deleted the rows, attack review 14, A14-3)
            from provenance.trust.statements import logged_signing_sources

            ever |= logged_signing_sources(ctx.store, ctx.pins.role_keys("commit", ctx.store))
        signing = sorted((set(ctx.signing_sources) | ever | revoked_sources(ctx.store)) - set(self.allowed))
        _, unattributed = count_status(ctx, "unattributed")
        # a base record only re-keyed by a schema change, unattributed in the base too, is no addition (review 16, #2)
        added = pc.and_(added_mask(ctx), pc.invert(rekeyed_unattributed_in_base(ctx)))
        added_unattributed = pc.and_(unattributed, added)
        sources = pc.fill_null(ctx.lineage.column("source"), "")
        mask = pc.and_(added_unattributed, pc.is_in(sources, value_set=pa.array(signing, pa.string())))
        k = int(pc.sum(mask).as_py() or 0)
        if k:
            what = (
                f"added records from unsigned batches of sources that sign their batches ({', '.join(signing)}); "
                "a source with a revoked key counts: leave the batch's records out and commit again, or have the "
                "source sign it (quarantining the source cuts its signed records too)"
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

    A record a schema change re-keyed that pairs by content, without loss, with a base record the base
    signed as ``unattributed`` is no addition here (:func:`rekeyed_unattributed_in_base`: it was carried
    by no batch before either; newcomer review 16, finding 2); one whose base record a batch carried still
    counts, and the result's ``statistic`` is then ``{"rekeyed": N}``, how many of the counted records a
    schema change re-keyed (the report's "To release:" step: re-commit the base with the new types). When
    signed records went missing it also holds ``signed_missing``, how many (the report offers ``prov withdraw``
    only then: newcomer review 17, F3).

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
        # a base record the base held unattributed, only re-keyed by a schema change (paired by content, without
        # loss): unattributed before, nothing new (newcomer review 16, finding 2)
        held = rekeyed_unattributed_in_base(ctx)
        kept = int(pc.sum(pc.and_(unattributed, held)).as_py() or 0)
        noted = kept_note = (
            f"; {kept} base records the base held unattributed, re-keyed by a schema change and paired with them "
            "by content, are not additions"
            if kept
            else ""
        )
        added_unattributed = pc.and_(unattributed, pc.and_(added_mask(ctx), pc.invert(held)))
        mask = pc.and_(added_unattributed, pc.is_null(ctx.lineage.column("batch")))
        k = int(pc.sum(mask).as_py() or 0)
        if not k and not int(pc.sum(added_unattributed).as_py() or 0):
            what = "no added records from outside every registered batch" + noted
            return RuleResult(self.key, "pass", what, [], 0, allowed=0, expected="at most 0")
        batches, listed = signed_batches_missing(ctx)
        missing = [b for b in listed if not b["withdrawn"]]
        withdrawn = [b["batch"] for b in listed if b["withdrawn"]]
        noted += (
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
            rekeyed = rekeyed_counted(ctx, added_unattributed)
            retyped = schema_retype(ctx, rekeyed)
            added_columns, other = added_and_other(ctx.report["summary"].get("schema_delta"))
            if not retyped:
                added_columns = []
            signing = content_signed(ctx.store, added_columns)
            # columns this version reads as metadata that a missing batch's source signed as content: the records
            # match once the source signs with them left out, not by registering the batch again (review 33, #5)
            metadata_signing = content_signed(
                ctx.store, ctx.report["summary"].get("metadata_added") or [], {str(b["batch"]) for b in missing}
            )
            types_only: dict[str, tuple[str, str]] = {}
            conflicts: dict[str, dict[str, str]] = {}
            data_parquet: dict[str, bool] = {}
            if retyped and rekeyed == k:  # every one re-keyed: none was added (newcomer review 31, #2)
                why = (
                    f"records of {ctx.base} re-keyed by a schema change ({schema_changes_text(ctx)}) that lost their "
                    "source's attestation: a record's digest includes its column types and names, so a record a batch "
                    f"signed with the old types matches no batch now ({missing_batches(missing)}, under their old "
                    f"digests). {_schema_ways(added_columns, other, signing)}; if records were really edited, account for the "
                    "missing ones with `prov withdraw` or `prov quarantine`"
                )
            elif retyped:  # newcomer review 11, finding 9: a cast in the team's own pipeline, not an edit
                way = _schema_ways(added_columns, other, signing)
                why = (
                    f"added records without a trusted signature, while {what} ({missing_batches(missing)}); "
                    f"{retyped}. {way}; if records were "
                    "really edited, account for the missing ones with `prov withdraw` or `prov quarantine`"
                )
            elif metadata_signing:
                why = (
                    f"added records without a trusted signature, while {what} ({missing_batches(missing)}); "
                    f"{ctx.new} leaves columns out of the digest (--metadata) that a source signed as content, so its "
                    f"records match no signed batch: {signs_again_way(metadata_signing)}"
                )
            elif conflicts := batch_type_conflicts(ctx, missing):  # no file matches both (newcomer review 32, #2)
                from provenance.lineage.retyped import type_conflict_way

                keep = base_types(ctx)
                why = (
                    f"added records without a trusted signature, while {what} ({missing_batches(missing)}); "
                    f"{type_conflict_way(conflicts, keep, ctx.base)}"
                )
            elif types_only := type_differences(ctx, missing):
                data_parquet = _parquet_only(ctx, "data_parquet", ctx.new)
                reason = types_only_reason(ctx.new, types_only, parquet=data_parquet.get("data_parquet", False))
                why = (
                    f"added records without a trusted signature, while {what} ({missing_batches(missing)}); "
                    f"{reason}; if records were really edited, account for the missing ones with `prov withdraw` "
                    "or `prov quarantine`"
                )
            else:
                why = (
                    f"added records without a trusted signature, while {what} "
                    f"({missing_batches(missing)}): the shape of a signed delivery edited and re-declared; "
                    "declaring the additions `prov add --unsigned` does not help here. Account for the missing "
                    "records with a signed act: `prov withdraw BATCH --key K --reason R` for a batch you do not "
                    "ship, or `prov quarantine` to remove records on purpose"
                )
            why += kept_note + "".join(
                f"; the withdrawal of {b['batch']} is not relied on: {b['withdrawal_ignored']}"
                for b in missing[:3]
                if b.get("withdrawal_ignored")
            )
            records = lineage_records(ctx, added_unattributed)
            # signed_missing: `prov withdraw` applies (the report's "To release:" offers it only then)
            statistic = {"rekeyed": rekeyed, "signed_missing": gone} if retyped else {"signed_missing": gone}
            if retyped:
                statistic.update(_parquet_only(ctx, "base_parquet", ctx.base))
            if conflicts:
                statistic["type_conflicts"] = conflicts
            if types_only:
                statistic["signed_types"] = {c: signed for c, (signed, _) in types_only.items()}
                statistic.update(data_parquet)
            if added_columns:
                statistic.update(added_columns=added_columns, other_schema_changes=other)
            if added_columns and signing:
                statistic["added_columns_signed_by"] = signing
            if metadata_signing and not retyped:
                statistic["metadata_signed_by"] = metadata_signing
            return bounded_count(self.key, k, 0, why, records, statistic)
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
        rekeyed = rekeyed_counted(ctx, mask)
        retyped = schema_retype(ctx, rekeyed)
        added_columns, other = added_and_other(ctx.report["summary"].get("schema_delta"))
        if not retyped:
            added_columns = []
        signing = content_signed(ctx.store, added_columns)
        # a record edited in place (the removed and added pair at one locator prov status names "changed"): an edit
        # of a base record, not a delivery to register (newcomer review 31, #3)
        replaced = [] if retyped else replaced_in_place(ctx, mask)
        if replaced:
            return self._edited_in_place(
                ctx,
                mask,
                k,
                replaced,
                f"{batches} trusted signed batch{'' if batches == 1 else 'es'}, none missing records",
                noted,
            )
        why = (
            f"added records from no registered batch where sources sign their batches ({batches} trusted signed "
            f"{'batch' if batches == 1 else 'batches'}, none missing records)"
            + (f"; {retyped}" if retyped else "")
            + (f" ({_schema_ways(added_columns, other, signing)})" if added_columns else "")
            # the envelope first: registered --unsigned, a signed delivery's labels bind nothing (attack review 33a)
            + "; register intended additions with the envelope their source signed (`prov add BATCH --source S`), "
            "or, for records of your own that no source signed, with `prov add --unsigned --source NAME` "
            f"(this helps only while no signed batch has records missing){noted}"
        )
        statistic = {
            "rekeyed": rekeyed,
            **({"added_columns": added_columns, "other_schema_changes": other} if added_columns else {}),
            **({"added_columns_signed_by": signing} if added_columns and signing else {}),
            **(_parquet_only(ctx, "base_parquet", ctx.base) if retyped else {}),
        }
        return bounded_count(self.key, k, 0, why, lineage_records(ctx, mask), statistic if retyped else None)

    def _edited_in_place(
        self, ctx: GateContext, mask, k: int, replaced: list[dict], batches: str, noted: str
    ) -> RuleResult:
        """The block when ``replaced`` of the ``k`` counted records (``gate.replaced.replaced_in_place``) took the
        place of a base record: named as an edit of the base, whose ways out are restoring the record or having its
        source sign the corrected batch, not registering an unsigned batch (newcomer review 31, #3); the rule's
        count and verdict are the same as for any addition of no batch. ``statistic``: ``replaced`` (how many) and
        ``replaced_records`` (the first ``LISTED_REPLACED``: locator, digest, base_digest, base_label)."""
        n = len(replaced)
        what = (
            f"{'record' if n == 1 else 'records'} of {ctx.base} edited in place ({replaced_text(replaced)}): "
            f"{'it holds' if n == 1 else 'each holds'} content no registered batch carries where sources sign their "
            f"batches ({batches}), at the place of the base record {'it' if n == 1 else 'each'} replaced; an edit, "
            f"not a new delivery: restore {'it' if n == 1 else 'them'}, or, if the edit is intended, have the source "
            "sign the corrected batch"
        )
        flipped = len(relabeled(replaced))
        if flipped:
            what += (
                f"; {flipped} of {'it' if n == 1 else 'them'} also changed the label (relabeled): a relabel of the "
                "base, to review as one (prov diff) before any source signs it"
            )
        if n < k:
            what = (
                f"added records from no registered batch where sources sign their batches ({batches}); {n} of them "
                f"are {what}; register the other intended additions with `prov add --unsigned --source NAME`"
            )
        statistic = {"replaced": n, "replaced_records": replaced[:LISTED_REPLACED]}
        return bounded_count(self.key, k, 0, what + noted, lineage_records(ctx, mask), statistic)


def _parquet_only(ctx: GateContext, key: str, tag: str) -> dict[str, bool]:
    """``{key: True}`` when version ``tag``'s data is Parquet only, ``{key: False}`` when it reads CSV or JSON Lines,
    ``{}`` when unknown (``lineage.retyped.reads_parquet_only``): "To release:" offers ``--schema`` only where it
    re-reads the data with other types (newcomer review 31, #1)."""
    from provenance.lineage.retyped import reads_parquet_only

    parquet = reads_parquet_only(ctx.store, tag)
    return {} if parquet is None else {key: parquet}


def _schema_ways(added_columns: list[str], other: bool, signing: dict[str, dict] | None = None) -> str:
    """The ways out for records a schema change re-keyed, capitalised: keep the signed types when a column was
    removed or retyped (``other``), and, for columns the data adds, the commit flags that leave them out of the
    digest when the team's own pipeline adds them (``lineage.retyped.added_columns_way``; newcomer review 24,
    attack review 24d: A24d-2, A24d-3); ``signing``: the trusted signed batches that sign them as content
    (``vendor_columns.content_signed``), whose source signs again with them left out."""
    ways = ["keep the signed types (cast the columns back before committing)"] if other or not added_columns else []
    if added_columns:  # a source that signed them as content added them, not your pipeline (newcomer review 33, #5)
        ways += [signs_again_way(signing) if signing else added_columns_way(added_columns)]
    text = "; ".join(ways)
    return text[:1].upper() + text[1:]


def base_types(ctx: GateContext) -> dict[str, str]:
    """The base version's signed column types (``{column: type}``; empty for a tree or a version signed before
    types were)."""
    from provenance.version_facts import verified_statement

    schema = verified_statement(ctx.store, ctx.store.version(ctx.base))["predicate"].get("schema") or {}
    return dict(schema.get("types") or {})


def batch_type_conflicts(ctx: GateContext, missing: list[dict]) -> dict[str, dict[str, str]]:
    """``{batch: {column: signed type}}`` of the ``missing`` batches that sign a column with another type than the
    base's, while a trusted signed batch whose records the new version holds attested signs the base's type
    (``lineage.retyped.type_conflicts``): then no cast makes the data match both (newcomer review 32, #2)."""
    import pyarrow.compute as pc

    from provenance.lineage.retyped import type_conflicts

    lineage = ctx.lineage
    attested = lineage.filter(pc.equal(lineage.column("status"), "attested")).column("batch")
    shipped = sorted({str(b) for b in attested.to_pylist() if b is not None})
    names = [str(b["batch"]) for b in missing]
    conflicts = type_conflicts(ctx.store, names + shipped, base_types(ctx))
    return {batch: columns for batch, columns in conflicts.items() if batch in set(names)}


def type_differences(ctx: GateContext, missing: list[dict]) -> dict[str, tuple[str, str]]:
    """``{column: (signed type, the new version's type)}`` when the ``missing`` batches' signed columns are the new
    version's with other types only (``lineage.retyped.types_only_differences``; both schemas signed), else empty."""
    from provenance.lineage.retyped import types_only_differences
    from provenance.version_facts import verified_statement

    schema = verified_statement(ctx.store, ctx.store.version(ctx.new))["predicate"].get("schema") or {}
    return types_only_differences(ctx.store, schema, [b["batch"] for b in missing])


def types_only_reason(
    new: str, differences: dict[str, tuple[str, str]], shown: int = 5, *, parquet: bool = False
) -> str:
    """Why the added records match none of the missing signed batches' when version ``new`` was read with other
    column types than the batches signed (:func:`type_differences`; newcomer review 30, #4: a CSV's whole numbers
    read as int64, the vendor's Parquet signed double): ``"the signed batches have the same columns as v2 with other
    types (magnesium: double signed, int64 in v2): ...; commit the data read with the signed types (--schema
    magnesium:double)"``, naming at most ``shown`` columns; for ``parquet`` data (read with its own types, where
    ``--schema`` is refused: newcomer review 31, #1) ``"cast the columns in the file to the signed types
    (magnesium:double)"``."""
    from provenance.escaping import name_in_sentence
    from provenance.lineage.retyped import schema_flags

    listed = list(differences.items())[:shown]
    named = "; ".join(f"{name_in_sentence(c)}: {signed} signed, {now} in {new}" for c, (signed, now) in listed)
    more = f"; and {len(differences) - len(listed)} more" if len(differences) > len(listed) else ""
    flags = schema_flags({c: s for c, (s, _) in differences.items()})
    way = (
        f"cast the columns in the file to the signed types ({flags.replace('--schema ', '')})"
        if parquet
        else f"commit the data read with the signed types ({flags})"
    )
    return (
        f"the signed batches have the same columns as {new} with other types ({named}{more}): a record's digest "
        f"includes its column types, so data read with other types matches none of their records; {way}"
    )


def rekeyed_counted(ctx: GateContext, mask) -> int:
    """How many of the lineage rows ``mask`` selects are records a schema change re-keyed (``delta["rekeyed"]``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    came = ctx.diff.delta.get("rekeyed")
    if came is None or not len(came):
        return 0
    came = np.ascontiguousarray(np.asarray(came, dtype="S32"))
    value_set = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(came), [None, pa.py_buffer(came)])
    rekeyed = pc.is_in(ctx.lineage.column("digest"), value_set=value_set)
    return int(pc.sum(pc.and_(pc.fill_null(mask, False), rekeyed)).as_py() or 0)


def schema_changes_text(ctx: GateContext) -> str:
    """The diff's schema changes, at most three named: ``column 'x' changed type: int64 -> double``."""
    from provenance.report.schema_words import summary_schema_changes

    return "; ".join(summary_schema_changes(ctx.report["summary"], shown=3))


def schema_retype(ctx: GateContext, n: int) -> str | None:
    """Why ``n`` of the counted records match no signed batch when a schema change re-keyed them (None when
    ``n`` is 0 or no schema changed): ``"1200 of them are base records a schema change re-keyed (64 columns
    changed type int64 -> float: ...): a record's digest includes its column types and names, so a record
    a batch signed with the old types matches no batch now"``. Re-keyed records the base held unattributed
    and that pair by content are not counted (:func:`rekeyed_unattributed_in_base`)."""
    summary = ctx.report["summary"]
    if not n or not summary.get("rekeyed"):
        return None
    changes = schema_changes_text(ctx)
    return (
        f"{n} of them {'is a base record' if n == 1 else 'are base records'} a schema change re-keyed ({changes}): "
        "a record's digest includes its column types and names, so a record a batch signed with the old types "
        "matches no batch now"
    )


class SignedBatchesIncomplete(Rule):
    """Report (warn by default) a trusted signed batch with records missing that nothing signed accounts for.

    A removal needs no addition: deleting part of a signed delivery (one class, one region)
    biases a model and left no trace in the gate (attack review 6, finding 8). This rule
    reads :func:`signed_batches_missing` whatever the delta adds: records of a trusted signed
    batch the base held, or of a batch the candidate does not hold whole, missing with no
    signed quarantine in the candidate's history or ``prov withdraw`` covering them. By
    default it warns (decision ``warned``, exit 0, stated in the attestation), naming each
    batch and its count; ``lineage.signed_batches_incomplete = "block"`` makes it block,
    ``"off"`` leaves it out. The way through a block is a signed act: ``prov withdraw`` or
    ``prov quarantine``.
    """

    key = "lineage.signed_batches_incomplete"
    settings = (
        Setting(
            "lineage",
            "signed_batches_incomplete",
            {"type": "string", "enum": ["warn", "block", "off"]},
            "warn",
            "a trusted signed batch with records missing that no signed quarantine or `prov withdraw` accounts "
            'for: "warn" (reported, exit 0), "block", or "off"',
            expects='"warn", "block" or "off"',
        ),
    )

    def __init__(self, mode: str):
        self.mode = mode

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule in the policy's mode, or None when it is ``"off"``."""
        mode = setting_value(settings, cls.settings[0])
        return None if mode == "off" else cls(mode)

    def check(self, ctx: GateContext) -> RuleResult:
        """Warn (or block) when a trusted signed batch has records missing that nothing signed accounts for."""
        _, listed = signed_batches_missing(ctx)
        missing = [b for b in listed if not b["withdrawn"]]
        if not missing:
            what = "no trusted signed batch has records missing that no signed quarantine or withdrawal accounts for"
            return RuleResult(self.key, "pass", what, [], 0, allowed=0, expected="none missing")
        gone = sum(b["missing"] for b in missing)
        why = (
            f"{gone} signed records missing from {ctx.new} with no signed quarantine or withdrawal for them "
            f"({missing_batches(missing)}): a delivery not shipped whole, or records deleted from it; account for "
            "them with `prov withdraw BATCH --key K --reason R` or `prov quarantine`"
        )
        if all(b.get("unshipped") for b in missing):  # registered ahead of its delivery (newcomer review 12, #11)
            names = "; ".join(f"batch {b['batch']} of {b['source']}: {b['signed']} signed records" for b in missing[:3])
            more = f"; and {len(missing) - 3} more" if len(missing) > 3 else ""
            why = (
                f"{gone} signed records of batches registered and not shipped yet: none of their records is in "
                f"{ctx.base} or {ctx.new} ({names}{more}); this clears when they ship (records of theirs shipped "
                "edited and unsigned block under lineage.unattributed_beside_signed); if one will not ship, "
                "`prov withdraw BATCH --key K --reason R` says so"
            )
        if self.mode == "block":
            return RuleResult(self.key, "block", why, [], gone, allowed=0, expected="none missing")
        return RuleResult(self.key, "warn", why, [], gone, allowed=0, expected="none missing")
