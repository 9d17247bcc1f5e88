"""Signed trust entries: ``prov trust add SOURCE KEY.pub --key MAINTAINER.key``.

The store's ``trust`` table is a cache that whoever can write ``.prov/`` can edit. When the
verifier pins maintainer keys with ``--signer`` (and no root file), a store trust entry
counts only if a pinned key signed it: a DSSE envelope around an in-toto Statement
(``predicateType`` ``https://prov.dev/trust-entry/v1``) whose subject is the source's
public key (digest ``sha256`` = its key id) and whose predicate names the source, the
public key (PEM), its validity window and when it was added. The envelope is a store
object, named by the hash-chained audit entry that wrote it (``trust.add``, ``trust.sign``,
``trust.retire``) and, as a cache, in the ``trust_statements`` table. Which entries count is
read from the audit entries (:func:`signed_entries`), never from the rows; the window a check
uses is the signed one, never the row's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance import clock, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.trust.roles import RoleKeys, verify_role
from provenance.trust.scope import scope_of

if TYPE_CHECKING:
    from provenance.store.store import Store

PREDICATE_TYPE = "https://prov.dev/trust-entry/v1"
TABLE = "trust_statements"


def create_table(store: Store) -> None:
    """Create ``trust_statements`` if this store has none yet (stores made before signed entries lack it)."""
    from provenance.store.schema import create_trust_statements  # sqlite-utils: only where a store is open

    create_trust_statements(store.db)


def entry_statement(
    source: str,
    public: Ed25519PublicKey,
    name: str,
    added_at: str,
    valid_from: str | None,
    valid_until: str | None,
    store: str | None,
) -> dict:
    """The in-toto Statement of one trust entry (``schemas/trust-entry.schema.json`` is its envelope's payload).

    ``store`` is the id of the store the entry is signed for (``provenance.store.identity``: 32 hex digits), put
    in the predicate as ``store`` so the statement is no trust entry of any other store (attack review 16c,
    C16-2); ``None`` makes the statement of a store made before ids (no ``store``: only tests build one now).
    """
    kid = keys.key_id(public)
    stmt: dict = {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": f"{source}:{name}", "digest": {"sha256": kid}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "source": source,
            "keyid": kid,
            "publicKey": keys.public_pem(public),
            "name": name,
            "addedAt": added_at,
            "validFrom": valid_from,
            "validUntil": valid_until,
        },
    }
    if store is not None:
        stmt["predicate"]["store"] = store
    return stmt


def sign_entry(stmt: dict, signer: Ed25519PrivateKey) -> bytes:
    """The entry's DSSE envelope, canonical JSON bytes (what the store keeps)."""
    return signing.canonical_json(signing.sign(stmt, signer))


@dataclass(frozen=True)
class SignedEntry:
    """A trust entry whose signature verified: the signed predicate, the key that signed it, and the audit
    entry (``seq``) that first logged a statement of it."""

    source: str
    keyid: str
    predicate: dict
    signer: str
    seq: int = 0


LOGGED_ACTIONS = ("trust.add", "trust.sign", "trust.retire")
"""The audit actions whose entry names a signed trust entry (``detail.statement``): ``prov trust add --key``
(``trust.add``, or ``trust.sign`` for an entry that was unsigned) and ``prov trust retire`` (its shortened entry)."""


def logged_entries(store: Store) -> list[tuple[int, str, str, str]]:
    """Every trust entry of the audit log (:data:`LOGGED_ACTIONS`) as ``(seq, action, subject, detail)``, in
    audit order."""
    return store.db.execute(
        f"select seq, action, subject, detail from audit where action in ({', '.join('?' * len(LOGGED_ACTIONS))}) "
        "order by seq",
        LOGGED_ACTIONS,
    ).fetchall()


def signed_entries(store: Store, source: str | None, role: RoleKeys) -> list[SignedEntry]:
    """The trust entries (of ``source``, or all) whose signed statement verifies under ``role``, one per
    ``(source, keyid)``, in the order the hash-chained audit log first names them.

    The statements are those the ``trust.add``, ``trust.sign`` and ``trust.retire`` audit entries name
    (:data:`LOGGED_ACTIONS`), each object re-hashed against its name and its DSSE envelope verified
    under ``role``; the ``trust`` and ``trust_statements`` rows are a cache and are not read, so a
    ``.prov/`` writer who deletes them takes no trust away (attack review 15, A15-2), and one who edits
    them adds none. An entry whose object is missing, altered, signed by another key, or names another
    source or key than the entry is left out (``prov audit verify`` and ``prov fsck`` name the damage).
    Where several statements of one key verify (its ``trust.add`` and a retirement's), the window used
    is their intersection: the latest ``validFrom`` and the earliest ``validUntil`` (a retirement only
    shortens a window, and an older, longer statement put back in the log does not lengthen it).

    Only statements for this store count, and only up to where the store handle's scope says
    (``trust.scope.scope_of``: while ``prov check`` decides, the store id the base version signed and the
    candidate's signed audit head; elsewhere the id in ``prov.db``, a hint): a statement a maintainer signed for
    another store, copied here with an appended entry, grants nothing (attack review 16c, C16-2;
    :func:`foreign_entries` names them). An entry after the scope's last granting entry only narrows the window
    of a key granted before it.

    Returns ``SignedEntry`` objects whose ``signer`` is the key id that signed the first statement.
    Raises nothing for a damaged entry (it is left out).
    """
    scope = scope_of(store)
    out: dict[tuple[str, str], SignedEntry] = {}
    for seq, _action, subject, detail in logged_entries(store):
        named = named_statement(detail)
        if not isinstance(subject, str) or (source is not None and subject != source) or named is None:
            continue
        oid, kid = named
        if oid is None or kid is None:
            continue
        verified = verified_entry(store, oid, subject, kid, role)
        if verified is None:
            continue
        pred, signer = verified
        if scope.refusal(pred, int(seq)) is not None:
            continue
        seen = out.get((subject, kid))
        if seen is None and not scope.grants(int(seq)):
            continue
        if seen is None:
            out[(subject, kid)] = SignedEntry(subject, kid, pred, signer, int(seq))
        else:
            out[(subject, kid)] = SignedEntry(subject, kid, _narrower(seen.predicate, pred), seen.signer, seen.seq)
    return list(out.values())


@dataclass(frozen=True)
class ForeignEntry:
    """A logged trust entry whose statement verifies under the pins but does not count in this store's scope:
    ``reason`` says why (``TrustScope.refusal``: signed for another store, or naming none and logged after the
    chain first signed an id)."""

    seq: int
    action: str
    source: str
    keyid: str
    reason: str

    def line(self) -> str:
        """``"audit entry 4 (trust.add of 'vendor'): the signed trust entry of key ab12… was signed for another
        store (…), not this one (…); it is not counted"``."""
        return (
            f"audit entry {self.seq} ({self.action} of {self.source!r}): the signed trust entry of key "
            f"{self.keyid[:16]} {self.reason}; it is not counted"
        )


def foreign_entries(store: Store, role: RoleKeys) -> list[ForeignEntry]:
    """The logged trust entries (``LOGGED_ACTIONS``, within the scope's granting part of the log) whose
    statement verifies under ``role`` for the entry's source and key but that the store handle's scope refuses
    (:func:`signed_entries` leaves them out): what ``prov check`` blocks on and ``prov audit verify``, ``prov
    fsck``, ``prov trust list`` and ``prov trust retire`` name (attack review 16c, C16-2). In audit order."""
    scope = scope_of(store)
    out = []
    for seq, action, subject, detail in logged_entries(store):
        named = named_statement(detail)
        if named is None or None in named or not isinstance(subject, str) or not scope.grants(int(seq)):
            continue
        oid, kid = named
        assert oid is not None and kid is not None
        verified = verified_entry(store, oid, subject, kid, role)
        reason = scope.refusal(verified[0], int(seq)) if verified is not None else None
        if reason is not None:
            out.append(ForeignEntry(int(seq), str(action), subject, kid, reason))
    return out


def id_less_entries(store: Store, role: RoleKeys, after: int = 0) -> list[ForeignEntry]:
    """The logged trust entries (``LOGGED_ACTIONS``) after audit seq ``after`` whose statement verifies under
    ``role`` and names no store (made before store ids, or so copied from an old project: attack review 17b),
    in audit order, each with the reason ``"names no store"``. What the first commit that signs a store id
    says it signs over, and what ``prov fsck`` warns of once a version signs one."""
    out = []
    for seq, action, subject, detail in logged_entries(store):
        named = named_statement(detail)
        if int(seq) <= after or named is None or None in named or not isinstance(subject, str):
            continue
        oid, kid = named
        assert oid is not None and kid is not None
        verified = verified_entry(store, oid, subject, kid, role)
        if verified is not None and verified[0].get("store") is None:
            out.append(ForeignEntry(int(seq), str(action), subject, kid, "names no store"))
    return out


def _narrower(a: dict, b: dict) -> dict:
    """Predicate ``a`` with the intersection of ``a``'s and ``b``'s validity windows (``None``: no bound)."""

    def pick(x: object, y: object, later: bool) -> object:
        if not x or not y:
            return x or y
        tx, ty = clock.parse(str(x), "validity"), clock.parse(str(y), "validity")
        return (x if tx >= ty else y) if later else (x if tx <= ty else y)

    return {**a, "validFrom": pick(a.get("validFrom"), b.get("validFrom"), True)} | {
        "validUntil": pick(a.get("validUntil"), b.get("validUntil"), False)
    }


def claimed_signers(store: Store, source: str) -> list[str]:
    """The key ids the store's trust entries of ``source`` *claim* signed them (the cached ``signer``
    column, unverified: for naming in a message only, never for a decision), sorted, without repeats."""
    if TABLE not in store.db.table_names():
        return []
    return sorted({str(r["signer"]) for r in store.db[TABLE].rows_where("source = ?", [source]) if r["signer"]})


def logged_signing_sources(store: Store, role: RoleKeys) -> set[str]:
    """The sources a hash-chained ``trust.add`` (or ``trust.sign``) audit entry gave a key through a signed
    statement (the entry's ``statement`` object), whatever the rows and the object files say now.

    Which sources sign their batches is a fact ``lineage.unsigned_from_signing_sources`` relies on: it
    must not lapse when a ``.prov/`` writer deletes the ``trust`` and ``trust_statements`` rows, which
    are a cache (attack review 14, A14-3), nor when it also deletes or alters the statement object the
    entry names (attack review 14b, A14b-1). So the entry counts its subject unless the object verifies
    under ``role`` and names another source or key than the entry (then the entry is not evidence for
    this source). An entry whose statement is missing, damaged or signed by a key ``role`` does not hold
    counts (fail closed: it can only add a source, so a planted entry blocks more, never less); so does
    one whose detail does not read. An entry with no ``statement`` (``prov trust add --unsigned``, which
    verifiers who pin keys ignore) adds no source.

    Returns the set of source names. Raises nothing for a damaged entry (it counts).
    """
    out = set()
    for subject, detail in store.db.execute(
        "select subject, detail from audit where action in ('trust.add', 'trust.sign')"
    ).fetchall():
        named = named_statement(detail)
        if named is None:
            continue
        oid, kid = named
        if isinstance(subject, str) and (
            oid is None or kid is None or not _names_another(store, oid, subject, kid, role)
        ):
            out.add(subject)
    return out


def missing_statements(store: Store) -> list[str]:
    """One line for each ``trust.add``/``trust.sign`` audit entry whose signed statement object is missing
    from ``.prov/objects/`` or altered (its bytes no longer hash to its name), or whose detail does not read,
    e.g. ``"audit entry 3 (trust.add of 'vendor'): .prov/objects/ab12….json: trust entry of vendor ab12… is
    missing from the store"``. prov never deletes these objects, so each line is damage to the store; the
    entry's source still counts as one that signs its batches (:func:`logged_signing_sources`). An entry
    whose statement is intact but signed by a key the verifier does not pin is not listed (an honest store
    read under other pins has those).
    """
    out = []
    for seq, action, subject, detail in store.db.execute(
        "select seq, action, subject, detail from audit where action in ('trust.add', 'trust.sign') order by seq"
    ).fetchall():
        named = named_statement(detail)
        if named is None:
            continue
        what = f"audit entry {seq} ({action} of {subject!r})"
        oid, kid = named
        if oid is None or kid is None:
            out.append(f"{what}: its detail does not name a statement object and key id")
            continue
        try:
            store.objects.get(oid, f"trust entry of {subject}")
        except VerificationError as exc:
            out.append(f"{what}: {exc}")
    return out


def rows_missing(store: Store, role: RoleKeys) -> list[SignedEntry]:
    """The logged trust entries that verify under ``role`` (:func:`signed_entries`) whose ``trust`` or
    ``trust_statements`` row is gone: a ``.prov/`` writer deleted the cache (attack review 15, A15-2). prov
    never deletes either row (a revocation or retirement edits them), so each is damage to the store; the
    entry still counts (it is read from the log), and ``prov fsck --repair`` writes the rows back."""
    trust = {(s, k) for s, k in store.db.execute("select source, keyid from trust")}
    cached = (
        {(s, k) for s, k in store.db.execute(f"select source, keyid from {TABLE}")}
        if TABLE in store.db.table_names()
        else set()
    )
    return [e for e in signed_entries(store, None, role) if (e.source, e.keyid) not in trust & cached]


def write_rows(
    store: Store,
    entry: SignedEntry,
    role: RoleKeys,
    retired_until: str | None = None,
    revoked: tuple[str | None, str | None] = (None, None),
) -> None:
    """Write back the ``trust`` row (when missing) and the ``trust_statements`` row of ``entry`` (a logged trust
    entry that verified under ``role``: :func:`signed_entries`), inside the caller's ``store.write()``.

    The ``trust`` row takes the name, public key, time added and window of the signed statement (its end cut
    to ``retired_until``, the key's ``trust.retire`` entries, when earlier), and ``revoked`` (``(revoked_at,
    reason)`` of its ``trust.revoke`` entry); the ``trust_statements`` row names the key's latest logged
    statement that verifies. Everything written is in the signed statement or the hash-chained log, so it
    adds no trust the log does not give (``trust.rowless.restore_rows`` reads the log for the last two).

    Raises:
        VerificationError: no logged statement of the key verifies under ``role`` (the log changed since
            ``entry`` was read; cannot happen under the write lock).
    """
    source, kid, pred = entry.source, entry.keyid, entry.predicate
    create_table(store)
    until = pred.get("validUntil")
    end = retired_until
    if end and (not until or clock.parse(end, "valid_until") < clock.parse(str(until), "validUntil")):
        until = end
    at, reason = revoked
    if store.db.execute("select 1 from trust where source = ? and keyid = ?", [source, kid]).fetchone() is None:
        row = {
            "source": source,
            "keyid": kid,
            "name": str(pred.get("name") or kid[:16]),
            "public_pem": str(pred["publicKey"]),
            "added_at": str(pred.get("addedAt") or ""),
            "valid_from": pred.get("validFrom"),
            "valid_until": until,
            "revoked_at": at,
            "revoked_reason": reason,
        }
        store.db.table("trust").insert(row)
    oid, signer = _latest_statement(store, source, kid, role)
    store.db.table(TABLE).insert(
        {"source": source, "keyid": kid, "object": oid, "signer": signer, "added_at": clock.now_iso()},
        replace=True,
    )


def _latest_statement(store: Store, source: str, kid: str, role: RoleKeys) -> tuple[str, str]:
    """``(object, signer key id)`` of the last logged statement of ``(source, kid)`` that verifies under ``role``."""
    found: tuple[str, str] | None = None
    for (detail,) in store.db.execute(
        f"select detail from audit where subject = ? and action in ({', '.join('?' * len(LOGGED_ACTIONS))}) "
        "order by seq",
        [source, *LOGGED_ACTIONS],
    ).fetchall():
        named = named_statement(detail)
        if named is None or named[0] is None or named[1] != kid:
            continue
        ok = verified_entry(store, named[0], source, kid, role)
        if ok is not None:
            found = (named[0], ok[1])
    if found is None:
        raise VerificationError(f"trust entry of key {kid[:16]} for {source!r}: no logged statement verifies")
    return found


def rows_missing_line(entry: SignedEntry) -> str:
    """How :func:`rows_missing` names one entry: ``"trust rows of key ab12… for 'vendor' deleted from the
    store: audit entry 1 logs its signed trust entry; restore them with prov fsck --repair"``."""
    return (
        f"trust rows of key {entry.keyid[:16]} for {entry.source!r} deleted from the store: audit entry "
        f"{entry.seq} logs its signed trust entry; restore them with prov fsck --repair"
    )


def log_problems(store: Store, role: RoleKeys) -> list[str]:
    """What ``prov audit verify`` fails on in the trust entries the hash-chained log names, one line each:
    a ``trust.add``/``trust.sign``/``trust.retire`` entry whose statement object is missing, altered or
    unreadable (:func:`missing_statements`), or is signed by a key of ``role`` and does not verify or names
    another source or key than the entry, one whose verified statement was signed for another store
    (:func:`foreign_entries`), and a verifying entry whose rows are gone (:func:`rows_missing`).
    A statement signed only by keys ``role`` does not hold is not listed (an honest store read under
    other pins has those). Attack review 15, A15-4: these stores made the gate block while the log passed.
    """
    out = missing_statements(store)
    damaged = {line.split(" (", 1)[0] for line in out}
    for seq, action, subject, detail in logged_entries(store):
        named = named_statement(detail)
        what = f"audit entry {seq}"
        if named is None or None in named or what in damaged or not isinstance(subject, str):
            continue
        oid, kid = named
        assert oid is not None and kid is not None
        if verified_entry(store, oid, subject, kid, role) is not None:
            continue
        try:
            env = signing.parse_envelope(
                store.objects.get(oid, f"trust entry of {subject}"), f"trust entry of {subject}"
            )
        except (InputError, VerificationError) as exc:
            out.append(f"{what} ({action} of {subject!r}): {exc}")
            continue
        claimed = {str(sig.get("keyid") or "") for sig in env.get("signatures") or [] if isinstance(sig, dict)}
        if claimed & set(role.keys) or _verified_statement(store, oid, subject, kid, role) is not None:
            out.append(
                f"{what} ({action} of {subject!r}): its signed trust entry {oid[:16]} does not verify under the "
                "pinned keys, or names another source or key than the entry"
            )
    out += [e.line() for e in foreign_entries(store, role)]
    out += [
        f"audit entry {e.seq} (trust of {e.source!r}): its signed trust entry of key {e.keyid[:16]} verifies, but "
        "its trust rows are missing from the store; prov fsck --repair restores them"
        for e in rows_missing(store, role)
    ]
    return out


def named_statement(detail: object) -> tuple[str | None, str | None] | None:
    """The ``(statement object, keyid)`` a trust audit entry's detail names; ``None`` for an entry with no
    statement (an unsigned entry); ``(None, None)`` (or a ``None`` half) for a detail that does not read or
    an object id that is not 64 hex digits (a SHA-256, what ``ObjectStore.put`` names objects by)."""
    from provenance.store.audit import detail_json

    try:
        fields = detail_json(detail)
    except (TypeError, ValueError):
        return None, None
    if not isinstance(fields, dict):
        return None, None
    if "statement" not in fields:
        return None
    oid, kid = fields.get("statement"), fields.get("keyid")
    hex_oid = isinstance(oid, str) and len(oid) == 64 and all(c in "0123456789abcdef" for c in oid)
    return (oid if hex_oid else None), (kid if isinstance(kid, str) else None)


def _names_another(store: Store, oid: str, source: str, kid: str, role: RoleKeys) -> bool:
    """Whether object ``oid`` is a trust entry that verifies under ``role`` and names another source or key
    than ``source`` and ``kid``."""
    stmt = _verified_statement(store, oid, source, kid, role)
    if stmt is None:
        return False
    pred = stmt.get("predicate") or {}
    return stmt.get("predicateType") == PREDICATE_TYPE and (pred.get("source"), pred.get("keyid")) != (source, kid)


def _verified_statement(store: Store, oid: str, source: str, kid: str, role: RoleKeys) -> dict | None:
    """The in-toto Statement in object ``oid`` if its DSSE envelope verifies under ``role``, else ``None``."""
    try:
        data = store.objects.get(oid, f"trust entry of {source}")
        env = signing.parse_envelope(data, f"trust entry {kid[:16]} of {source}")
        return verify_role(env, role, f"trust entry {kid[:16]} of {source}").statement
    except (InputError, VerificationError):
        return None


def verified_entry(store: Store, oid: str, source: str, kid: str, role: RoleKeys) -> tuple[dict, str] | None:
    """``(predicate, signing key id)`` of the trust entry in object ``oid`` if it verifies under ``role`` and
    names ``source`` and the key ``kid`` (whose public key it carries), else ``None``."""
    try:
        data = store.objects.get(oid, f"trust entry of {source}")
        env = signing.parse_envelope(data, f"trust entry {kid[:16]} of {source}")
        signed = verify_role(env, role, f"trust entry {kid[:16]} of {source}")
    except (InputError, VerificationError):
        return None
    stmt = signed.statement
    pred = stmt.get("predicate") or {}
    if stmt.get("predicateType") != PREDICATE_TYPE or pred.get("source") != source or pred.get("keyid") != kid:
        return None
    try:
        if keys.key_id(keys.parse_public(str(pred.get("publicKey", "")).encode(), "trust entry")) != kid:
            return None
        if pred.get("validFrom"):
            clock.parse(str(pred["validFrom"]), "validFrom")
        if pred.get("validUntil"):
            clock.parse(str(pred["validUntil"]), "validUntil")
    except InputError:
        return None
    return pred, signed.keyid
