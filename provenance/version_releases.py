"""Which versions were released: the release attestations kept in the store, for ``prov log`` and ``prov show``.

A month of daily versions later, which were released, against which base, and which was a
quarantine, is what a maintainer choosing a base (or answering "what did the model of 20
December train on?") asks first (newcomer review 12, finding 9). A version is *released* when a
release attestation kept in the store (``prov check --attest`` keeps one) passes the checks
``prov verify V --attestation`` makes under the same pins, expiry aside (shown as expired), on
an audit log that matches its signed checkpoints (attack review 14, A14-1): never from the
``attestations`` row alone, which whoever can write ``.prov/`` can plant. A kept attestation that does not verify is listed as
such, with why, under the version its row names (a claim, said as one). With nothing pinned none
verifies: keys found in ``.prov/`` prove nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, ProvError

if TYPE_CHECKING:
    from provenance.store.store import Store

NOTHING_PINNED = "nothing pinned, so not checked"


def kept_attestations(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Version tag -> the release attestations kept in the store for it, oldest first.

    Each is ``{"attestation", "verified", "release", "base", "decision", "expires", "checked_at",
    "problem"}``: ``verified`` true when ``prov verify V --attestation`` would accept it under the same
    pins, expiry aside (``gate.attestation_verify.check_release`` with ``at_release``: signed by the pinned
    ``attest`` role, store revocations honoured, naming this store's version, tag and Merkle root, with a
    passing decision and a signed ancestor as its base) and the store's audit log matches every checkpoint
    signed by a key the verifier pins (``store.coverage.log_break``); then ``release`` (its counter), ``base`` (the
    version it was checked against), ``decision`` (``pass`` or ``warned``), ``expires`` and ``checked_at``
    (ISO 8601) are its signed facts and ``problem`` is None. Otherwise those facts are None and ``problem``
    says why it is not relied on; it is filed under the version its row names (unsigned: whoever writes
    ``.prov/`` wrote it). A log that lost or changed entries a checkpoint signed (a revocation deleted, say)
    marks no release at all (attack review 14, A14-1).
    """
    from provenance.store.coverage import log_break
    from provenance.trust.pins import pins_of
    from provenance.version_facts import statement_cache

    found = store.db.execute(
        "select object, version, created_at from attestations order by created_at, object"
    ).fetchall()
    pins = pins_of(store)
    pinned = pins.pinned
    broken: list[str | None] = []  # the log checked once, when an attestation passes its own checks
    out: dict[str, list[dict[str, Any]]] = {}
    with statement_cache():  # each release's signed ancestry: a version verified once per listing, not per release
        for oid, claimed, created in found:
            item: dict[str, Any] = {"attestation": oid, "verified": False, "problem": NOTHING_PINNED}
            item |= dict.fromkeys(("release", "base", "decision", "expires", "checked_at"))
            tag = str(claimed)
            if pinned:
                facts, problem = _verified_facts(store, oid)
                if facts is not None and not broken:
                    broken.append(log_break(store, pins))
                if facts is not None and broken[0] is not None:
                    facts, problem = None, LOG_BROKEN
                if facts is not None:
                    tag = facts.pop("version")
                    item |= facts | {"verified": True, "problem": None}
                else:
                    item["problem"] = problem
            if item["checked_at"] is None and not item["verified"]:
                item["checked_at"] = created if isinstance(created, str) else None  # the row's: a claim, said as one
            out.setdefault(tag, []).append(item)
    return out


LOG_BROKEN = "the store's audit log does not match its signed checkpoints and versions (prov audit verify)"


def _verified_facts(store: Store, oid: str) -> tuple[dict[str, Any] | None, str]:
    """The signed facts of attestation ``oid`` when ``check_release`` accepts it (expiry aside), else
    ``(None, why)``."""
    from provenance import signing
    from provenance.gate.attestation_verify import check_release
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import ATTEST

    name = f"attestation {oid[:12]}"
    try:
        env = signing.parse_envelope(store.objects.get(oid, name), name)
    except ProvError:
        return None, "its object is missing or altered (prov fsck says which)"
    try:
        pins_of(store).verify(env, ATTEST, name, store)
    except ProvError:
        return None, "not signed by a pinned attest key"
    try:
        checked = check_release(store, env, name, at_release=True)
    except InputError:
        return None, "signed for a version this store does not have"
    except ProvError as exc:
        return None, str(exc).removeprefix(f"{name}: ")  # the mark names the attestation already
    facts, pred = checked.facts, checked.predicate
    if facts.get("decision") not in ("pass", "warned"):
        return None, "signed, but not a passing release"
    return {
        "version": checked.row["tag"],
        "release": checked.release,
        "base": checked.base.get("version") if isinstance(checked.base.get("version"), str) else None,
        "decision": facts["decision"],
        "expires": facts.get("expires") if isinstance(facts.get("expires"), str) else None,
        "checked_at": pred.get("timeVerified") if isinstance(pred.get("timeVerified"), str) else None,
    }, ""


def release_line(item: dict[str, Any], now: str | None = None) -> str:
    """One line for people, e.g. ``released: release 7 against txt-v6 (warned), valid until 2027-01-08``, or
    ``attestation 1a2b3c4d5e6f not relied on: not signed by a pinned attest key`` (under 80 columns).

    ``now`` (ISO 8601 UTC) marks an attestation whose validity has ended as expired.
    """
    if not item["verified"]:
        return f"attestation {item['attestation'][:12]} not relied on: {item['problem']}"
    passed = "warned" if item["decision"] == "warned" else "passed"
    line = f"released: release {item['release']} against {item['base'] or '?'} ({passed})"
    if item["expires"]:
        ended = now is not None and item["expires"] < now
        line += f", {'expired' if ended else 'valid until'} {item['expires'][:10]}"
    return line


def mark_lost_attestation(
    store: Store, kept: dict[str, list[dict[str, Any]]], not_trusted_of: dict[str, list[dict]] | None = None
) -> None:
    """Set ``warning`` on each item of ``kept`` (:func:`kept_attestations`): for a verified release of a version whose
    records lost ``attested`` under the pins, :func:`lost_attestation_warning`'s line; else None.

    The judgement is ``prov show``'s and ``prov sources``' (``lineage.judged.judge_lineage`` under ``store.pins``, from
    the signed lineage and the batches that lost standing: a revoked source key, a key the pins never vouched for),
    never a writable row's word. ``not_trusted_of`` maps a tag to its ``JudgedLineage.not_trusted`` when the caller
    judged it already (``prov show``, which judges under the pins whatever the store holds). Otherwise (``prov log``)
    it judges only when a version was released and ``lineage.standing.may_have_lost_standing`` says a signed batch
    may have lost standing: a cheap look at what the judgment itself reads (each signed registration's key against
    the keys the pins trust now, revocations and retirements applied: a revoked source or maintainer key, attack
    review 23a, A23a-1; a retirement, 23c, A23c-4; a key the pins never vouched for, review 24a), so ``log`` warns
    exactly when ``show`` does, and its start-up re-verifies no batch envelope and reads no lineage object while every
    signed batch's key stands; then only the lineage objects of released versions, and only when a registered signed
    batch lost standing (``lineage.standing.untrusted_batches``). A released version whose lineage does not verify
    is warned about too (fails closed).
    """
    released = [tag for tag, items in kept.items() if any(item["verified"] for item in items)]
    for items in kept.values():
        for item in items:
            item["warning"] = None
    if not released:
        return
    if not_trusted_of is None:
        from provenance.lineage.standing import may_have_lost_standing, untrusted_batches

        if not may_have_lost_standing(store):
            return  # prov log's start-up: no batch envelope is re-verified while every signed batch's key stands
        untrusted = untrusted_batches(store)
        if not untrusted:
            return
        from provenance.lineage.judged import judge_lineage

        not_trusted_of = {}
        for tag in released:
            try:
                not_trusted_of[tag] = judge_lineage(store, tag, untrusted).not_trusted
            except ProvError as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                not_trusted_of[tag] = [{"records": None, "reason": f"its lineage does not verify ({reason})"}]
    for tag in released:
        lost = not_trusted_of.get(tag) or []
        for item in kept[tag]:
            if item["verified"] and lost:
                item["warning"] = lost_attestation_warning(tag, item["base"], lost)


def lost_attestation_warning(version: str, base: str | None, not_trusted: list[dict]) -> str:
    """One line under a release of ``version`` whose records lost ``attested`` under the pins (``not_trusted``:
    ``JudgedLineage.not_trusted``), grouped by reason, e.g. ``warning: 1000 records of this release are no longer
    attested under your pins (signed by key 59eb45b63804b1e5 of vendor, which was revoked at 2026-12-03T20:31:14+00:00);
    re-check before training (prov check rc2 --base r1)`` (newcomer review 22, item 9: ``released ... (passed)``
    read as unconditional after the source key was revoked)."""
    import shlex

    by_reason: dict[str, int] = {}
    for item in not_trusted:
        by_reason[str(item["reason"])] = by_reason.get(str(item["reason"]), 0) + int(item.get("records") or 0)
    total = sum(by_reason.values())
    if len(by_reason) == 1:
        why = next(iter(by_reason))
    else:
        why = "; ".join(f"{n}: {reason}" for reason, n in by_reason.items())
    what = (
        ("1 record of this release is" if total == 1 else f"{total} records of this release are")
        if total
        else ("this release is")
    )
    check = f"prov check {shlex.quote(version)}" + (f" --base {shlex.quote(base)}" if base else "")
    return f"warning: {what} no longer attested under your pins ({why}); re-check before training ({check})"
