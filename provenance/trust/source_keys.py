"""The trust store: which public keys may sign batches for which source, and when.

A source may have several keys (rotation), each with a validity window. A signature
counts only under a key that is trusted *for the source the signed statement names*,
not revoked, and inside its window both now and at the signed capture time. Everything
else fails closed, and the error says which key and why, so a reviewer can act on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance import clock, keys
from provenance.errors import InputError, VerificationError
from provenance.escaping import refuse_hidden, visible
from provenance.trust import statements
from provenance.trust.roles import RoleKeys, not_trusted

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog
    from provenance.store.checkpoints import CheckpointKey
    from provenance.store.store import Store

MAX_SOURCE_LENGTH = 200  # characters in a source name


def validate_source(name: str) -> str:
    """``name`` if it can name a source: non-empty, at most ``MAX_SOURCE_LENGTH`` characters, no
    leading or trailing space, and nothing hidden (``escaping.hidden``: control, format,
    bidirectional-override, zero-width, separator, private-use characters), so a source reads
    as the name it is. Raises ``InputError`` naming the first offending character."""
    if name is None or not name.strip():
        raise InputError("source name is empty; give --source a name such as 'vendor-a'")
    hidden = refuse_hidden(name)  # controls, bidi overrides, zero-width and other invisible characters
    if hidden:
        raise InputError(
            f"source name '{visible(name)}' contains {hidden}: control characters and characters that are "
            "invisible or reorder text are not allowed; use printable characters only"
        )
    if len(name) > MAX_SOURCE_LENGTH:
        raise InputError(f"source name {name[:20]!r}...: longer than {MAX_SOURCE_LENGTH} characters")
    if name != name.strip():
        raise InputError(f"source name {name!r} has leading or trailing spaces")
    return name


@dataclass(frozen=True)
class TrustedKey:
    """One row of the store's ``trust`` table: a public key trusted to sign batches of one source.

    Attributes:
        source: the source name the key may sign for.
        keyid: SHA-256 of the raw 32-byte public key, 64 hex digits (``keys.key_id``).
        name: a label for people (the key file's stem unless given).
        public_pem: the Ed25519 public key, PEM (SubjectPublicKeyInfo).
        added_at: when it was trusted, ISO 8601 UTC.
        valid_from, valid_until: the validity window, ISO 8601 UTC, None for no bound.
        revoked_at, revoked_reason: when and why it was revoked (None if it was not).

    The row is the store's cache: whoever can write ``.prov/`` can edit it, so a verifier
    with pins counts it only as ``Pins.source_keys`` allows (``trust.statements``).
    """

    source: str
    keyid: str
    name: str
    public_pem: str
    added_at: str
    valid_from: str | None
    valid_until: str | None
    revoked_at: str | None
    revoked_reason: str | None

    def status(self, at: dt.datetime | None = None) -> str:
        """``active``, ``revoked``, ``expired`` or ``not yet valid`` at ``at`` (an aware datetime, default now).

        A revoked key is ``revoked`` at every time, before its revocation too. Now (``clock.now``) is in whole
        seconds and ``prov trust retire`` ends a window to the microsecond, so now is taken as any moment of its
        second, against the key: the window has ended if it ended before that second's last microsecond, and has
        begun only if it began by its first (a key retired a moment ago stayed ``active`` for the rest of that
        second: newcomer review 20, finding 14).
        """
        if at is None:
            first = clock.now()
            last = first + dt.timedelta(seconds=1, microseconds=-1)
        else:
            first = last = at
        if self.revoked_at:
            return "revoked"
        if self.valid_until and last > clock.parse(self.valid_until, "valid_until"):
            return "expired"
        if self.valid_from and first < clock.parse(self.valid_from, "valid_from"):
            return "not yet valid"
        return "active"

    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key (raises ``KeyFileError`` if the stored PEM is damaged)."""
        return keys.parse_public(self.public_pem.encode(), f"trusted key {self.keyid[:16]} of {self.source}")

    def to_dict(self) -> dict:
        """For ``prov trust list --json``: every field and the status now."""
        return {
            "source": self.source,
            "keyid": self.keyid,
            "name": self.name,
            "added_at": self.added_at,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
            "status": self.status(),
        }


def _row_key(row: Mapping) -> TrustedKey:
    return TrustedKey(**{f: row[f] for f in TrustedKey.__dataclass_fields__})


def entries(store: Store, source: str | None = None) -> list[TrustedKey]:
    """The store's trust rows (of ``source``, or all), as cached: no signature is checked here.

    Ordered by source, then time added, then key id; revoked keys included.
    """
    where, args = ("source = ?", [source]) if source is not None else (None, None)
    rows = store.db["trust"].rows_where(where, args, order_by="source, added_at, keyid")
    return [_row_key(r) for r in rows]


# --- changing the trust store -------------------------------------------------------


def add_key(
    store: Store,
    source: str,
    public_key_path: str | Path,
    valid_from: str | None = None,
    valid_until: str | None = None,
    signer: str | Path | None = None,
    checkpoint: CheckpointKey | None = None,
    unsigned: bool = False,
    kept_log: KeptLog | None = None,
) -> TrustedKey:
    """Trust ``public_key_path`` for ``source`` within an optional window; ``prov trust add``.

    The entry is signed with ``signer`` (a maintainer's private key, ``provenance.trust.statements``):
    only a signed entry counts for a verifier who pins maintainer keys. An existing unsigned
    entry of the same key gains its signature this way (how a store made before signed entries
    is brought up to date). When the store handle carries pins, ``signer`` must be a key they
    trust for ``commit``. Without ``signer`` the entry is refused unless ``unsigned`` asks for
    one that pinned verifiers ignore (only a store-keys check counts it).
    Raises ``InputError`` for a bad source, key file, window, a revoked or already
    (signed) trusted key, no ``signer`` without ``unsigned`` (or both), or a signer the
    verifier would not count. With ``checkpoint``, the write ends by signing an audit
    checkpoint with that key. ``kept_log`` (``--checkpoint PREV``: ``kept_log.KeptLog.held``) is checked again
    first thing inside the write: ``VerificationError`` (exit 1, nothing written) when the log no longer holds it.
    """
    validate_source(source)
    public = keys.load_public(public_key_path)
    kid = keys.key_id(public)
    # a fraction of a second is kept, as `trust retire --at` keeps it: truncated, a window began up to a
    # second before the time asked (attack review 20b, A20b-3)
    start = precise_iso(clock.parse(valid_from, "--valid-from")) if valid_from else None
    end = precise_iso(clock.parse(valid_until, "--valid-until")) if valid_until else None
    if start and end and end <= start:
        raise InputError(f"--valid-until {valid_until} is not after --valid-from {valid_from}")
    private = None
    if signer is not None:
        private = keys.load_private(signer)
        _refuse_unpinned_signer(store, keys.key_id(private.public_key()), signer)
    existing = store.db.execute(
        "select revoked_at, name, added_at, valid_from, valid_until from trust where source = ? and keyid = ?",
        [source, kid],
    ).fetchone()
    if existing and existing[0]:
        raise InputError(
            f"{public_key_path}: key {kid[:16]} was revoked for {source} at {existing[0]}; "
            "revocation is final, generate a new key"
        )
    if existing and (private is None or _has_statement(store, source, kid)):
        how = (
            f"; to end its window (a rotation), run `prov trust retire {shlex.quote(source)} --key-id {kid[:16]} --at "
            f"{valid_until} --key MAINTAINER.key`"
            if valid_until
            else ""
        )
        raise InputError(f"{public_key_path}: key {kid[:16]} is already trusted for {source}{how}")
    if private is None and not unsigned:
        raise InputError(
            f"{public_key_path}: a trust entry must be signed by a maintainer key verifiers pin: give --key "
            "MAINTAINER.key (or PROV_KEY); --unsigned records one that verifiers who pin keys ignore"
        )
    if private is not None and unsigned:
        raise InputError(f"{public_key_path}: --unsigned and --key (or PROV_KEY) contradict each other; give one")
    # an existing unsigned entry keeps its name, time and window: the signature is over what was trusted
    name: str = existing[1] if existing else Path(public_key_path).stem
    added_at: str = existing[2] if existing else clock.now_iso()
    window_start: str | None = existing[3] if existing else start
    window_end: str | None = existing[4] if existing else end
    row = {
        "source": source,
        "keyid": kid,
        "name": name,
        "public_pem": keys.public_pem(public),
        "added_at": added_at,
        "valid_from": window_start,
        "valid_until": window_end,
        "revoked_at": None,
        "revoked_reason": None,
    }
    with store.write(checkpoint):
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        if not existing:
            store.db.table("trust").insert(row)
        detail = {"keyid": kid, "valid_from": row["valid_from"], "valid_until": row["valid_until"]}
        detail |= {"name": row["name"], "added_at": row["added_at"]}
        if private is not None:
            from provenance.store.identity import ensure  # the store package only where a store is open

            stmt = statements.entry_statement(source, public, name, added_at, window_start, window_end, ensure(store))
            oid = store.put_object(statements.sign_entry(stmt, private), "json")
            statements.create_table(store)
            signer_id = keys.key_id(private.public_key())
            store.db.table(statements.TABLE).insert(
                {"source": source, "keyid": kid, "object": oid, "signer": signer_id, "added_at": clock.now_iso()}
            )
            detail |= {"statement": oid, "signer": signer_id}
        store.audit("trust.sign" if existing else "trust.add", source, detail)
    return _row_key(row)


def _bound(row: str | None, signed: object, later: bool) -> str | None:
    """The later (``later``) or earlier of two window bounds (ISO 8601; ``None``: no bound, so the other wins)."""
    if not signed:
        return row
    if not row:
        return str(signed)
    a, b = clock.parse(row, "window"), clock.parse(str(signed), "window")
    return (row if a >= b else str(signed)) if later else (row if a <= b else str(signed))


def _signed_entry_to_shorten(
    store: Store, key: TrustedKey, private: Ed25519PrivateKey, signer_id: str
) -> statements.SignedEntry | None:
    """The signed trust entry of ``key`` a retirement shortens: one the hash-chained log names whose statement
    verifies under the keys the verifier pins for ``commit`` or under the retiring maintainer's own key (with
    nothing pinned), naming ``key``'s source and key id and carrying a public key that hashes to it
    (``statements.signed_entries``). ``None`` when the key has no signed entry at all (an ``--unsigned``
    trust entry: nothing to re-sign).

    The new statement is built from that signed one, never from the ``trust`` row: the row is a cache a
    ``.prov/`` writer can edit, and one whose ``public_pem`` was swapped for the attacker's key made
    ``prov trust retire`` sign the attacker's key as the vendor's, which the gate then counted under the
    pins (attack review 16b, B16-1).

    Raises:
        VerificationError: the store holds a signed trust entry of the key (a ``trust_statements`` row or a
            logged statement) but none verifies under those keys: retiring would sign what no maintainer did.
    """
    pins = getattr(store, "pins", None)
    trusted: dict = {signer_id: private.public_key()}
    if pins is not None and pins.pinned:
        trusted |= dict(pins.role_keys("commit", store).keys)
    role = RoleKeys("commit", trusted, 1, "the keys you pin and --key")
    found = [e for e in statements.signed_entries(store, key.source, role) if e.keyid == key.keyid]
    if found:
        return found[0]
    foreign = [e for e in statements.foreign_entries(store, role) if (e.source, e.keyid) == (key.source, key.keyid)]
    if foreign:  # signed by a maintainer, for another store (attack review 16c, C16-2): re-signing it here would
        # make it this store's
        raise VerificationError(
            f"key {key.keyid[:16]} of {key.source}: {foreign[0].line()}; a retirement re-signs only a trust entry "
            "of this store (run prov audit verify)"
        )
    logged = any(
        (statements.named_statement(detail) or (None, None))[1] == key.keyid
        for (detail,) in store.db.execute(
            f"select detail from audit where subject = ? and action in ({', '.join('?' * len(statements.LOGGED_ACTIONS))})",
            [key.source, *statements.LOGGED_ACTIONS],
        )
    )
    if logged or _has_statement(store, key.source, key.keyid):
        raise VerificationError(
            f"key {key.keyid[:16]} of {key.source}: its signed trust entry does not verify under the keys you pin or "
            "--key (missing, altered, or its trust row edited); a retirement re-signs only what a maintainer signed, "
            "never the public key in .prov/: run prov fsck, pin the maintainer key (--signer) and retry"
        )
    return None


def _has_statement(store: Store, source: str, kid: str) -> bool:
    if statements.TABLE not in store.db.table_names():
        return False
    found = store.db.execute(f"select 1 from {statements.TABLE} where source = ? and keyid = ?", [source, kid])
    return found.fetchone() is not None


def _refuse_unpinned_signer(store: Store, signer_id: str, signer: str | Path) -> None:
    pins = getattr(store, "pins", None)  # the verifier's pins, when the caller set them (provenance.trust.pins)
    if pins is None or not pins.pinned:
        return
    role = pins.role_keys("commit", store)
    if signer_id not in role.keys:
        raise InputError(
            f"{signer}: key {signer_id[:16]} {not_trusted(role)}; a verifier would not count the entry it signs"
        )


def resolve_keyid(candidates: list[TrustedKey], prefix: str, source: str) -> TrustedKey:
    """The one key of ``candidates`` whose id starts with ``prefix`` (``--key-id`` of ``prov trust revoke``).

    ``prefix`` is at least 8 hex characters (spaces around it and case are ignored);
    ``source`` only names the source in messages.

    Raises:
        InputError: a prefix that is too short or not hex, or that matches no key or
            several keys (exit 2).
    """
    prefix = prefix.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise InputError(
            f"--key-id {prefix!r}: give a key id (at least 8 hex characters) as `prov trust list` shows it"
        )
    found = [k for k in candidates if k.keyid.startswith(prefix)]
    if not found:
        raise InputError(f"--key-id {prefix}: no key with that id is trusted for {source} (see `prov trust list`)")
    exact = [k for k in found if k.keyid == prefix]  # a whole id names its key, whatever else starts with it (A21c-3)
    if len(found) > 1 and len(exact) != 1:
        raise InputError(f"--key-id {prefix}: matches {len(found)} keys of {source}; give more characters")
    if exact:
        return exact[0]
    return found[0]


def keys_to_revoke(
    store: Store, source: str, keyid: str | None = None, known: list[TrustedKey] | None = None
) -> list[TrustedKey]:
    """The keys of ``source`` a revocation of ``keyid`` (a prefix of at least 8 hex characters, :func:`resolve_keyid`)
    or of all its keys revokes: those of ``known`` (default: the ``trust`` rows of ``source``; ``prov trust revoke``
    gives ``trust.rowless.revocable``) the hash-chained audit log holds no signed ``trust.revoke`` entry for
    (``logged_revocations.signed_revocation``: under a checkpoint or version head signed by a maintainer key the
    store handle's pins hold), whatever their rows say. A row that says revoked with no entry is a log a ``.prov/``
    writer rolled back past the revocation (or a row he edited): revoking such a key again writes the entry back
    (attack review 21a, A21a-3). A pending entry is one he can append and delete again (the chain hash needs no key:
    attack review 22a, finding 3), so the key is revoked again too, and the new entry signed over (with nothing
    pinned, every entry is pending). The one judgement :func:`revoke` and ``prov trust revoke``'s refusal without
    ``--yes`` (``trust.rowless.to_revoke``) both make.

    Returns:
        The keys to revoke, in ``known``'s order; never empty.

    Raises:
        InputError: a bad source name, a source with no trusted keys, a key id :func:`resolve_keyid` refuses, or
            nothing left that a signed log entry does not revoke already (exit 2).
    """
    from provenance.trust.logged_revocations import logged_source_revocations, signed_revocation, signed_through

    validate_source(source)
    known = entries(store, source) if known is None else known
    if not known:
        raise InputError(f"source {source!r} has no trusted keys (see `prov trust list`)")
    targets = [resolve_keyid(known, keyid, source)] if keyid else known
    logged, through = logged_source_revocations(store), signed_through(store)
    # only an entry a pinned key's head covers: a pending one a .prov/ writer plants and deletes (A22a-3)
    targets = [k for k in targets if not signed_revocation(logged.get((source, k.keyid)), through)]
    if not targets:
        raise InputError(f"{source}: {'that key is' if keyid else 'every key is'} already revoked")
    return targets


def revoke(
    store: Store,
    source: str,
    keyid: str | None = None,
    reason: str | None = None,
    checkpoint: CheckpointKey | None = None,
    known: list[TrustedKey] | None = None,
    restore: Mapping[str, Callable[[], None]] | None = None,
    keep: Callable[[Store], None] | None = None,
    kept_log: KeptLog | None = None,
) -> list[TrustedKey]:
    """Revoke one key of ``source`` (``keyid``, a prefix is enough) or all of its keys; ``prov trust revoke``.

    Sets ``revoked_at`` (now, ISO 8601 UTC) and ``revoked_reason`` on each key not yet
    revoked in the audit log (:func:`keys_to_revoke`: a row that says revoked while the log holds no
    ``trust.revoke`` entry for the key, a log rolled back past the revocation, is revoked again: attack review 21a,
    A21a-3) and writes a ``trust.revoke`` audit entry per key, in one write (a failure leaves the
    store as it was). The keys are ``known`` (default: the ``trust`` rows of ``source``;
    ``trust.rowless.revoke`` adds the keys the audit log trusts whose rows a ``.prov/`` writer deleted,
    attack review 16, F2: a ``trust.revoke`` entry counts wherever it sits). ``restore`` maps a key id
    to a call that writes that key's rows back; it runs in the same write, after the key's entry. Revocation is
    final (:func:`add_key` refuses the key again). With ``checkpoint``, the write ends by
    signing an audit checkpoint with that key; ``keep`` is then called as ``Store.write``'s, after the commit
    with the lock held (``prov trust revoke --out``: the state after the revocation, kept outside ``.prov/``),
    and what it raises propagates with the revocation made. ``kept_log`` (``--checkpoint PREV``:
    ``kept_log.KeptLog.held``) is checked again first thing inside the write.

    Returns:
        The revoked keys, as stored after the write.

    Raises:
        InputError: a bad source name, a source with no trusted keys (no rows and no logged trust entry), a
            key id that :func:`resolve_keyid` refuses, or nothing left the log does not revoke already (exit 2).
        StoreError: the store is read-only or busy (``StoreBusyError``), exit 3.
        VerificationError: the audit log no longer holds a state of ``kept_log`` (exit 1, nothing written).
    """
    targets = keys_to_revoke(store, source, keyid, known)  # judged from the log, as prov trust revoke's refusal
    stamp = clock.now_iso()
    with store.write(checkpoint, keep):
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        for k in targets:
            head = store.audit("trust.revoke", source, {"keyid": k.keyid, "reason": reason, "revoked_at": stamp})
            if restore and k.keyid in restore:  # its rows deleted (attack review 16, F2): back, revoked
                restore[k.keyid]()
            updated = store.db.execute(
                "update trust set revoked_at = ?, revoked_reason = ? where source = ? and keyid = ?",
                [stamp, reason, source, k.keyid],
            ).rowcount
            row = ("trust", {"source": source, "keyid": k.keyid}, {"revoked_at": stamp, "revoked_reason": reason})
            store.read_back(head, *([row] if updated else []))  # before any checkpoint signs it (B16-2)
    rows = {k.keyid: k for k in entries(store, source)}
    return [dataclasses.replace(rows.get(t.keyid) or t, revoked_at=stamp, revoked_reason=reason) for t in targets]


def retire(
    store: Store,
    key: TrustedKey,
    signer: str | Path | None,
    at: str | None = None,
    checkpoint: CheckpointKey | None = None,
    restore: Callable[[], None] | None = None,
    kept_log: KeptLog | None = None,
) -> TrustedKey:
    """End the validity window of ``key`` (a source key the verifier's pins count: ``Pins.source_keys``) at
    ``at`` (default now); ``prov trust retire``.

    The rotation a source's key needs once its new key is trusted (newcomer review 12, finding 2): what
    the key signed that a maintainer's signature shows registered by ``at`` stays attested
    (``lineage.standing.registration_times``: a checkpoint's or version's signed time, never the
    ``capturedAt`` the key's holder writes), and a batch registered after it is refused like one of an
    expired key. The write records a ``trust.retire`` audit entry, honoured in every mode
    (``trust.revocations.retired_source_keys``: it only takes trust away), shortens the ``trust`` row, and,
    when the key has a signed trust entry, replaces it with one ``signer`` signs with the shortened window.
    ``restore`` writes the key's rows back first, in the same write, when a ``.prov/`` writer deleted them
    (``trust.rowless.retire``; attack review 16, F2).
    A retirement is final: no entry lengthens a window again (trust a new key instead). ``kept_log``
    (``--checkpoint PREV``: ``kept_log.KeptLog.held``) is checked again first thing inside each write.

    Raises:
        InputError: no ``signer``, or one the pins do not trust for ``commit``; a revoked key; ``at`` not a
            date, not after the window's start, or not before its end (exit 2).
    """
    source = validate_source(key.source)
    if signer is None:
        raise InputError(
            "a retirement must be signed by a maintainer key verifiers pin: give --key MAINTAINER.key (or PROV_KEY)"
        )
    if key.revoked_at:
        raise InputError(f"key {key.keyid[:16]} of {source} was revoked at {key.revoked_at}: it attests nothing")
    private = keys.load_private(signer)
    signer_id = keys.key_id(private.public_key())
    _refuse_unpinned_signer(store, signer_id, signer)
    signed = _signed_entry_to_shorten(store, key, private, signer_id)
    if signed is not None:  # the window checked is the signed one, narrowed by the row's: never the row's alone, which
        # a .prov/ writer can widen to get a longer window signed (attack review 16c, C16-1)
        key = dataclasses.replace(
            key,
            valid_from=_bound(key.valid_from, signed.predicate.get("validFrom"), later=True),
            valid_until=_bound(key.valid_until, signed.predicate.get("validUntil"), later=False),
        )
    if checkpoint is not None and not at:
        # the registrations still pending get their signed time now, before the end (attack review 13,
        # T13-1: the retirement's own checkpoint, signed after the end, dated them after it)
        from provenance.store import vouched
        from provenance.store.checkpoints import sign_checkpoint

        with store.write():
            if kept_log is not None:  # this checkpoint signs the log: never a log cut back
                kept_log.require_held(store)
            vouched.refuse(store)  # as every write given a checkpoint key: no planted version entry signed (A26e-5)
            sign_checkpoint(store, checkpoint.private, checkpoint.name)
    end = clock.parse(at, "--at") if at else clock.parse(clock.now_iso("microseconds"), "now")  # after that checkpoint
    end_iso = precise_iso(end)
    if key.valid_from and end <= clock.parse(key.valid_from, "valid_from"):
        raise InputError(
            f"--at {end_iso} is not after the start of key {key.keyid[:16]}'s window ({key.valid_from}); "
            f"to take back everything it signed, revoke it: `prov trust revoke {shlex.quote(source)} --key-id {key.keyid[:16]}`"
        )
    if key.valid_until and clock.parse(key.valid_until, "valid_until") <= end:
        raise InputError(
            f"key {key.keyid[:16]} of {source} is valid only until {key.valid_until} already: a retirement only "
            "shortens a window"
        )
    with store.write(checkpoint):
        if kept_log is not None:  # again under the lock: a log cut meanwhile is not signed over
            kept_log.require_held(store)
        if restore is not None:  # the rows deleted (attack review 16, F2): written back first, in this write
            restore()
        updated = store.db.execute(
            "update trust set valid_until = ? where source = ? and keyid = ?", [end_iso, source, key.keyid]
        ).rowcount
        detail = {"keyid": key.keyid, "valid_until": end_iso, "signer": signer_id}
        if signed is not None:  # the statement a maintainer signed, shortened: never the row's public key
            from provenance.store.identity import ensure as store_id  # the store package only where one is open

            pred = signed.predicate
            public = keys.parse_public(str(pred["publicKey"]).encode(), f"trust entry {key.keyid[:16]} of {source}")
            stmt = statements.entry_statement(
                source,
                public,
                str(pred.get("name") or key.name),
                str(pred.get("addedAt") or key.added_at),
                pred.get("validFrom"),
                end_iso,
                store_id(store),
            )
            oid = store.put_object(statements.sign_entry(stmt, private), "json")
            store.db.table(statements.TABLE).insert(
                {"source": source, "keyid": key.keyid, "object": oid, "signer": signer_id, "added_at": clock.now_iso()},
                replace=True,
            )
            detail["statement"] = oid
        written = [("trust", {"source": source, "keyid": key.keyid}, {"valid_until": end_iso})] if updated else []
        if signed is not None:
            written.append((statements.TABLE, {"source": source, "keyid": key.keyid}, {"object": detail["statement"]}))
        store.read_back(store.audit("trust.retire", source, detail), *written)  # before any checkpoint (B16-2)
    return dataclasses.replace(key, valid_until=end_iso)


def precise_iso(t: dt.datetime) -> str:
    """``t`` as ISO 8601 UTC, to the microsecond when it has any: an end of validity compared with checkpoints'
    signed times (microseconds) must not be rounded down before them."""
    return clock.iso(t, "microseconds" if t.microsecond else "seconds")
