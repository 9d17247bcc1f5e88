"""``relabels.max_relabels_of_others_records``: a source relabels only records it delivered, unless declared.

A vendor that signs a base record *unchanged* under another label makes the record ``attested`` by it: no lineage
rule sees a relabel after source, and when no other trusted source signed the record (the team's own unsigned
records, or a source whose key is no longer trusted) no two signers disagree (``lineage.max_conflicting_signed_
labels``). The flip then counted only against the vendor's relabel rate, 5% of its *own* records, while the same
record nudged by a gram and delivered as an addition blocks on ``detectors.extreme`` (attack review 32e, A32e-2).
Whose record it is comes from the base's signed lineage, re-judged under the verifier's pins
(``lineage.deliverers``): a relabel signed by a source the base's lineage does not give the record to (another
source's record, or an unattributed one) counts here, against a bound of its own (default 0), not against that
source's rate. A source that corrects its own records is judged by ``relabels.max_relabel_rate_per_source`` as
before. A relabel a pinned waive key waived (``--detector combined``, as for its near copy) is not counted.

Who signed the relabel is read from the candidate's *signed* lineage (``classify.version_lineage``, verified under
the pins), whatever the signing key's standing now: a key revoked or expired since (``prov trust revoke``, or one
``trust`` row a ``.prov/`` writer sets) makes its records attest nothing, never its signed relabel of another's record
pass (attack review 33c, A33c-6); the detail says the key no longer counts. Less trust never means less blocking.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from provenance.gate.base import Setting
from provenance.gate.detection_common import COMBINED
from provenance.gate.results import RuleResult, bounded_count
from provenance.gate.rules import COUNT, RELABELLING_SOURCES, CountBound, setting_value

if TYPE_CHECKING:
    from provenance.gate.base import Settings
    from provenance.gate.context import GateContext

# said of every status the count takes: a signed batch's, an unsigned one's, a record in no batch (A35a-5)
WHAT = "records relabeled by a source (signed, registered unsigned or in no batch) where the base's signed lineage "
WHAT += "gives the record to another source or to none (not delivered by the relabelling source)"


class MaxRelabelsOfOthersRecords(CountBound):
    """At most ``bound`` relabels that sources signed of base records the base's lineage does not give to them,
    beside each declared relabelling source's own allowance (``relabelling_sources``: source -> count)."""

    key = "relabels.max_relabels_of_others_records"
    settings = (
        Setting(
            "relabels",
            "max_relabels_of_others_records",
            COUNT,
            0,
            "relabels sources signed of base records the base's signed lineage gives to another source or to none, "
            "in all (a source relabelling_sources declares counts against its own allowance instead)",
        ),
        RELABELLING_SOURCES,
    )

    def __init__(self, bound: int | None, relabelling_sources: dict[str, int] | None = None):
        super().__init__(bound)
        self.relabelling_sources = dict(relabelling_sources or {})

    @classmethod
    def from_settings(cls, settings: Settings) -> MaxRelabelsOfOthersRecords:
        """Always part of the policy: with no bound it still reports its count."""
        return cls(*(setting_value(settings, s) for s in cls.settings))

    def check(self, ctx: GateContext) -> RuleResult:
        """Count the relabels of others' records not waived, leaving out those of a declared relabelling source
        within its allowance; block above the bound, naming each with its base label and who delivered it
        (``detail``; a declared source over its allowance says so)."""
        import pyarrow as pa

        from provenance.gate.removed_twins import relabels_across_removals
        from provenance.gate.rules_lineage import lineage_records

        found = relabels_of_others_records(ctx)
        across = relabels_across_removals(ctx)  # an added near twin of a removed record: a relabel too (A33c-3)
        waived = ctx.waivers.waived
        rows = found.rows | across.rows
        signers = found.signed_by | across.signed_by
        kept = sorted(row for row, (digest, label) in rows.items() if (digest.hex(), COMBINED, label) not in waived)
        excused = allowed_sources(self.relabelling_sources, [signers[row] for row in kept])
        standing = still_attested(ctx, kept)  # a revoked declared source's flips are excused no more (A34c-2)
        counted = [row for row in kept if signers[row] not in excused or row not in standing]
        if not counted:
            return bounded_count(self.key, 0, self.bound, WHAT)
        mask = np.zeros(ctx.lineage.num_rows, dtype=bool)
        mask[counted] = True
        listed = lineage_records(ctx, pa.array(mask))
        for record in listed:
            digest = bytes.fromhex(record["digest"])
            if digest in across.twins:
                record["detail"] = across.detail(digest)
                record["paired_across_removal"] = across.twins[digest].as_json()
            else:
                record["detail"] = found.detail(digest)
            allowance = self.relabelling_sources.get(record.get("source") or "")
            if allowance is not None:
                record["detail"] += f"; more than the {allowance} [relabels] relabelling_sources allows the source"
        return bounded_count(self.key, len(counted), self.bound, WHAT, listed)


def rates_within_allowances(ctx: GateContext, by_source: list[dict], allowances: dict[str, int]) -> list[dict]:
    """``by_source`` (the diff report's per-source rows) with each declared relabelling source's relabels of others'
    records left out of its ``relabeled`` and ``relabel_rate`` while they stay within its allowance (``allowances``:
    source -> count, ``[relabels] relabelling_sources``): those are judged by ``relabels.max_relabels_of_others_
    records``; its relabels of records it owns stay in the rate. Rows of other sources are returned as they are.
    Raises ``VerificationError`` as :func:`relabels_of_others_records` does."""
    if not allowances or not any(r["source"] in allowances and r["relabeled"] for r in by_source):
        return by_source
    found = relabels_of_others_records(ctx)
    within = allowed_sources(allowances, [found.signed_by[row] for row in found.not_waived(ctx.waivers.waived)])
    standing = still_attested(ctx, list(found.signed_by))
    signers = [source for row, source in found.signed_by.items() if row in standing]
    others = {source: signers.count(source) for source in within}
    out = []
    for r in by_source:
        if others.get(r["source"]):
            relabeled = max(0, r["relabeled"] - others[r["source"]])
            rate = r["relabel_rate"] * relabeled / r["relabeled"]
            r = r | {"relabeled": relabeled, "relabel_rate": rate}
        out.append(r)
    return out


def still_attested(ctx: GateContext, rows: list[int]) -> set[int]:
    """The rows of ``rows`` (of the candidate's lineage) that its lineage re-judged under the pins (``ctx.lineage``)
    still has ``attested``: a declared relabelling source's allowance excuses only relabels its key still vouches for,
    never one signed with a key revoked, expired or retired since (attack review 34c, A34c-2)."""
    from provenance.lineage.classify import ATTESTED

    if not rows:
        return set()
    import pyarrow as pa

    status = ctx.lineage.column("status").take(pa.array(rows, pa.int64())).to_pylist()
    return {row for row, now in zip(rows, status) if now == ATTESTED}


def allowed_sources(allowances: dict[str, int], signers: list[str]) -> set[str]:
    """The declared relabelling sources (``allowances``: source -> most relabels of others' records it may sign)
    whose relabels of others' records, one item of ``signers`` each, stay within their allowance."""
    from collections import Counter

    signed = Counter(signers)
    return {source for source, allowance in allowances.items() if signed.get(source, 0) <= allowance}


@dataclass(frozen=True)
class OthersRelabels:
    """The candidate's relabels of records their signing source never delivered.

    Attributes:
        rows: row of the candidate's lineage -> (digest, label) of each such relabel.
        signed_by: row -> the source that signed the relabel (the candidate's signed lineage).
        base_labels: digest -> the labels the base holds it under.
        owners: digest -> the sources that own it: the base's lineage gives it to them and they delivered it when it
            entered the base's signed ancestry (empty: none).
        lost: digest -> words naming the relabelling source whose key no longer counts under the pins.
        claimed: digest -> words for a record the base's lineage gives to the relabelling source, which delivered it
            only after it entered (``it entered in v1, delivered by no source; 'vendor' delivered it later``).
    """

    rows: dict[int, tuple[bytes, str]] = field(default_factory=dict)
    signed_by: dict[int, str] = field(default_factory=dict)
    base_labels: dict[bytes, set[str]] = field(default_factory=dict)
    owners: dict[bytes, frozenset[str]] = field(default_factory=dict)
    lost: dict[bytes, str] = field(default_factory=dict)
    claimed: dict[bytes, str] = field(default_factory=dict)

    def not_waived(self, waived) -> list[int]:
        """The rows of :attr:`rows` whose relabel ``waived`` (``Waivers.waived``: (digest hex, detector, label)
        triples a pinned waive key signed) does not hold under ``combined``."""
        return [row for row, (digest, label) in self.rows.items() if (digest.hex(), COMBINED, label) not in waived]

    def detail(self, digest: bytes) -> str:
        """``base label 'Chinstrap'; the base's lineage gives it to no source`` (or ``to source 'clinic'``; or, for a
        record the relabelling source re-delivered, ``it entered in v1, delivered by no source; 'vendor' delivered it
        later``), then, for a relabel whose signing key no longer counts under the pins, ``; signed by source 'vendor', whose key is
        revoked`` (or ``... no longer trusted under your pins (expired, retired or not pinned)``)."""
        held = ", ".join(repr(x) for x in sorted(self.base_labels.get(digest, set())))
        owners = sorted(self.owners.get(digest, frozenset()))
        given = f"source {', '.join(repr(s) for s in owners)}" if owners else "no source"
        out = f"base label {held}; " + self.claimed.get(digest, f"the base's lineage gives it to {given}")
        if digest in self.lost:
            out += f"; signed by source {self.lost[digest]}"
        return out


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one reading per check (two rules ask)


def relabels_of_others_records(ctx: GateContext) -> OthersRelabels:
    """:func:`find_relabels_of_others_records` of ``ctx``, found once per check."""
    if ctx not in _FOUND:
        _FOUND[ctx] = find_relabels_of_others_records(ctx)
    return _FOUND[ctx]


def find_relabels_of_others_records(ctx: GateContext) -> OthersRelabels:
    """The candidate's relabeled rows a source signed of records the base's lineage does not give to it.

    A row counts when its digest is one of the diff's relabels, the base holds no row of that digest under its
    label, the candidate's *signed* lineage (``classify.version_lineage``) has it ``attested`` (a source signed this
    content with this label) whatever that source's key's standing now, and that source is not among the record's
    deliverers in the base's lineage (``ctx.base_lineage``, re-judged under the pins; ``lineage.deliverers.
    delivering_sources``). A row whose lineage re-judged under the pins (``ctx.lineage``) is no longer attested is
    named in ``lost``. Raises ``VerificationError`` when the candidate's lineage does not verify.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.classify import ATTESTED, version_lineage
    from provenance.lineage.deliverers import delivering_sources

    relabeled = np.ascontiguousarray(ctx.diff.delta["relabeled"], dtype="S32")
    if not len(relabeled):
        return OthersRelabels()
    digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(relabeled), [None, pa.py_buffer(relabeled)])
    signed = version_lineage(ctx.store, ctx.new)  # row for row with ctx.lineage (trusted_lineage checks it)
    in_delta = pc.is_in(signed.column("digest"), value_set=digests)
    candidates = pc.and_(in_delta, pc.equal(signed.column("status"), ATTESTED))
    rows = np.flatnonzero(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return OthersRelabels()
    base = ctx.base_lineage
    base = base.filter(pc.is_in(base.column("digest"), value_set=digests))
    base_labels: dict[bytes, set[str]] = {}
    for digest, label in zip(base.column("digest").to_pylist(), base.column("label").to_pylist()):
        base_labels.setdefault(digest, set()).add(label)
    part = signed.take(pa.array(rows))
    owners, claimed = _owners(ctx, delivering_sources(base, digests), part)
    standing = ctx.lineage.column("status").take(pa.array(rows)).to_pylist()
    found = OthersRelabels(base_labels=base_labels, owners=owners, claimed=claimed)
    for row, digest, label, source, now in zip(
        rows.tolist(),
        part.column("digest").to_pylist(),
        part.column("label").to_pylist(),
        part.column("source").to_pylist(),
        standing,
    ):
        if label not in base_labels.get(digest, set()) and source not in owners.get(digest, frozenset()):
            found.rows[row] = (digest, label)
            found.signed_by[row] = str(source)
            if now != ATTESTED:
                found.lost[digest] = str(source)
    if found.lost:
        found.lost.update(_lost_words(ctx, found.lost))
    return found


def _owners(ctx: GateContext, in_base: dict[bytes, frozenset[str]], part) -> tuple[dict, dict[bytes, str]]:
    """Whose each relabeled record is, and for a record the base's lineage gives to its relabelling source but which
    entered the dataset under others, the words saying so (``OthersRelabels.claimed``).

    A source owns a record when the base's lineage (re-judged under the pins) gives it to the source *and* the
    oldest version of the base's signed ancestry holding it does too (``lineage.deliverers.first_deliverers``):
    copies of the team's records in a vendor's later signed delivery do not make them the vendor's (attack review
    33c, A33c-1). The ancestry is walked only when a relabel's signing source is among the base's deliverers of its
    record: otherwise the record is another's either way. Raises ``VerificationError`` when the ancestry does not
    verify."""
    import pyarrow as pa

    from provenance.gate.twin_owners import inherited_owners
    from provenance.lineage.deliverers import first_deliverers

    claims = {
        digest: source
        for digest, source in zip(part.column("digest").to_pylist(), part.column("source").to_pylist())
        if source in in_base.get(digest, frozenset())
    }
    if not claims:
        return in_base, {}
    first = first_deliverers(ctx.store, ctx.base, pa.array(sorted(claims), pa.binary(32)))
    owners = dict(in_base)
    claimed = {}
    for digest, source in claims.items():
        entered = first[digest]
        owners[digest] = in_base[digest] & entered.sources
        if source not in owners[digest]:
            by = f"source {', '.join(repr(s) for s in sorted(entered.sources))}" if entered.sources else "no source"
            claimed[digest] = f"it entered in {entered.version}, delivered by {by}; {source!r} delivered it later"
    twins = inherited_owners(ctx.store, {d: str(first[d].version) for d, s in claims.items() if s in owners[d]})
    for digest, (removed, given) in twins.items():  # a same-label twin keeps the removed record's owners (A34b-6)
        owners[digest] = given
        if claims[digest] not in given:
            by = f"source {', '.join(repr(s) for s in sorted(given))}" if given else "no source"
            claimed[digest] = (
                f"it entered in {first[digest].version} as a near twin of record {removed.hex()[:12]}, delivered by "
                f"{by}, which that version removed"
            )
    return owners, claimed


def _lost_words(ctx: GateContext, lost: dict[bytes, str]) -> dict[bytes, str]:
    """Each of ``lost`` (digest -> source) -> ``'vendor', whose key is revoked`` when the store revokes a key of the
    source (``trust.revocations``), else ``'vendor', whose key no longer counts under your pins (expired, retired or
    not pinned)``."""
    from provenance.trust.revocations import revoked_sources

    revoked = revoked_sources(ctx.store)
    why = {
        True: "whose key is revoked",
        False: "whose key no longer counts under your pins (expired, retired or not pinned)",
    }
    return {digest: f"{source!r}, {why[source in revoked]}" for digest, source in lost.items()}
