"""Which versions were released: the release attestations kept in the store, for ``prov log`` and ``prov show``.

A month of daily versions later, which were released, against which base, and which was a
quarantine, is what a maintainer choosing a base (or answering "what did the model of 20
December train on?") asks first (newcomer review 12, finding 9). A version is *released* when a
release attestation kept in the store (``prov check --attest`` keeps one) verifies under the
``attest`` role of the keys the verifier pinned and names the version's tag and Merkle root, as
``gate.base_release`` judges a check's base: never from the ``attestations`` row alone, which
whoever can write ``.prov/`` can plant. A kept attestation that does not verify is listed as
such, with why, under the version its row names (a claim, said as one). With nothing pinned none
verifies: keys found in ``.prov/`` prove nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.errors import ProvError

if TYPE_CHECKING:
    from provenance.store.store import Store

NOTHING_PINNED = "nothing pinned, so not checked"


def kept_attestations(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Version tag -> the release attestations kept in the store for it, oldest first.

    Each is ``{"attestation", "verified", "release", "base", "decision", "expires", "checked_at",
    "problem"}``: ``verified`` true when it verifies under the pinned ``attest`` role and names this
    store's version (tag and Merkle root) with a passing decision; then ``release`` (its counter),
    ``base`` (the version it was checked against), ``decision`` (``pass`` or ``warned``), ``expires``
    and ``checked_at`` (ISO 8601) are its signed facts and ``problem`` is None. Otherwise those facts
    are None and ``problem`` says why it is not relied on; it is filed under the version its row
    names (unsigned: whoever writes ``.prov/`` wrote it).
    """
    from provenance.trust.pins import pins_of

    roots = dict(store.db.execute("select tag, merkle_root from versions").fetchall())
    rows = store.db.execute("select object, version, created_at from attestations order by created_at, object")
    pinned = pins_of(store).pinned
    out: dict[str, list[dict[str, Any]]] = {}
    for oid, claimed, created in rows.fetchall():
        item: dict[str, Any] = {"attestation": oid, "verified": False, "problem": NOTHING_PINNED}
        item |= dict.fromkeys(("release", "base", "decision", "expires", "checked_at"))
        tag = str(claimed)
        if pinned:
            facts, problem = _verified_facts(store, oid, roots)
            if facts is not None:
                tag = facts.pop("version")
                item |= facts | {"verified": True, "problem": None}
            else:
                item["problem"] = problem
        if item["checked_at"] is None and not item["verified"]:
            item["checked_at"] = created if isinstance(created, str) else None  # the row's: a claim, said as one
        out.setdefault(tag, []).append(item)
    return out


def _verified_facts(store: Store, oid: str, roots: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The signed facts of attestation ``oid`` when it verifies and names a version of ``roots``, else
    ``(None, why)``."""
    from provenance import signing
    from provenance.gate.release_history import EXTENSION
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import ATTEST

    name = f"attestation {oid[:12]}"
    try:
        env = signing.parse_envelope(store.objects.get(oid, name), name)
    except ProvError:
        return None, "its object is missing or altered (prov fsck says which)"
    try:
        stmt = pins_of(store).verify(env, ATTEST, name, store).statement
        root = signing.subject_root(stmt).hex()
    except ProvError:
        return None, "not signed by a pinned attest key"
    pred = stmt.get("predicate") or {}
    facts = pred.get(EXTENSION) if isinstance(pred, dict) else None
    if not isinstance(facts, dict):
        return None, "signed, but not a release attestation"
    version = facts.get("version")
    if not isinstance(version, str) or roots.get(version) != root:
        return None, f"signed for {version!r} at Merkle root {root[:12]}, no version of this store"
    release, base = facts.get("release"), facts.get("base")
    if facts.get("decision") not in ("pass", "warned") or not isinstance(release, int) or release < 1:
        return None, "signed, but not a passing release with a release counter"
    return {
        "version": version,
        "release": release,
        "base": base.get("version") if isinstance(base, dict) and isinstance(base.get("version"), str) else None,
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
