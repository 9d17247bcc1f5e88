"""The trust store: which public keys may sign batches for which source, and when.

A source may have several keys (rotation), each with a validity window. A signature
counts only under a key that is trusted *for the source the signed statement names*,
not revoked, and inside its window both now and at the signed capture time. Everything
else fails closed, and the error says which key and why, so a reviewer can act on it.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from provenance import clock, keys, signing
from provenance.errors import InputError, VerificationError
from provenance.escaping import refuse_hidden, visible
from provenance.store import Store

MAX_SOURCE_LENGTH = 200


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
        """``active``, ``revoked``, ``expired`` or ``not yet valid`` at ``at`` (default now)."""
        at = at or clock.now()
        if self.revoked_at:
            return "revoked"
        if self.valid_until and at > clock.parse(self.valid_until, "valid_until"):
            return "expired"
        if self.valid_from and at < clock.parse(self.valid_from, "valid_from"):
            return "not yet valid"
        return "active"

    def public_key(self):
        return keys.parse_public(self.public_pem.encode(), f"trusted key {self.keyid[:16]} of {self.source}")

    def to_dict(self) -> dict:
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
) -> TrustedKey:
    """Trust ``public_key_path`` for ``source`` within an optional window."""
    validate_source(source)
    public = keys.load_public(public_key_path)
    kid = keys.key_id(public)
    start = clock.iso(clock.parse(valid_from, "--valid-from")) if valid_from else None
    end = clock.iso(clock.parse(valid_until, "--valid-until")) if valid_until else None
    if start and end and end <= start:
        raise InputError(f"--valid-until {valid_until} is not after --valid-from {valid_from}")
    existing = store.db.execute("select revoked_at from trust where source = ? and keyid = ?", [source, kid]).fetchone()
    if existing:
        if existing[0]:
            raise InputError(
                f"{public_key_path}: key {kid[:16]} was revoked for {source} at {existing[0]}; "
                "revocation is final, generate a new key"
            )
        raise InputError(f"{public_key_path}: key {kid[:16]} is already trusted for {source}")
    row = {
        "source": source,
        "keyid": kid,
        "name": Path(public_key_path).stem,
        "public_pem": keys.public_pem(public),
        "added_at": clock.now_iso(),
        "valid_from": start,
        "valid_until": end,
        "revoked_at": None,
        "revoked_reason": None,
    }
    with store.write():
        store.db["trust"].insert(row)
        store.audit(
            "trust.add",
            source,
            {"keyid": kid, "valid_from": start, "valid_until": end, "name": row["name"], "added_at": row["added_at"]},
        )
    return _row_key(row)


def resolve_keyid(candidates: list[TrustedKey], prefix: str, source: str) -> TrustedKey:
    prefix = prefix.strip().lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise InputError(f"--key {prefix!r}: give a key id (at least 8 hex characters) as `prov trust list` shows it")
    found = [k for k in candidates if k.keyid.startswith(prefix)]
    if not found:
        raise InputError(f"--key {prefix}: no key with that id is trusted for {source} (see `prov trust list`)")
    if len(found) > 1:
        raise InputError(f"--key {prefix}: matches {len(found)} keys of {source}; give more characters")
    return found[0]


def revoke(store: Store, source: str, keyid: str | None = None, reason: str | None = None) -> list[TrustedKey]:
    """Revoke one key of ``source`` (``keyid``, a prefix is enough) or all of its keys."""
    validate_source(source)
    known = entries(store, source)
    if not known:
        raise InputError(f"source {source!r} has no trusted keys (see `prov trust list`)")
    targets = [resolve_keyid(known, keyid, source)] if keyid else known
    targets = [k for k in targets if not k.revoked_at]
    if not targets:
        raise InputError(f"{source}: {'that key is' if keyid else 'every key is'} already revoked")
    stamp = clock.now_iso()
    with store.write():
        for k in targets:
            store.db.execute(
                "update trust set revoked_at = ?, revoked_reason = ? where source = ? and keyid = ?",
                [stamp, reason, source, k.keyid],
            )
            store.audit("trust.revoke", source, {"keyid": k.keyid, "reason": reason, "revoked_at": stamp})
    return [k for k in entries(store, source) if k.keyid in {t.keyid for t in targets}]


# --- checking a signature against it -----------------------------------------------


@dataclass(frozen=True)
class TrustedSignature:
    statement: dict
    key: TrustedKey


def _signers(env: Mapping, candidates: list[TrustedKey]) -> list[TrustedKey]:
    """Which of ``candidates`` made one of the envelope's signatures (keyid fields ignored)."""
    message = signing.pae(env["payloadType"], base64.b64decode(env["payload"]))
    out = []
    for s in env["signatures"]:
        sig = base64.b64decode(s["sig"])
        for k in candidates:
            try:
                k.public_key().verify(sig, message)
            except InvalidSignature:
                continue
            out.append(k)
    return out


def verify_for_source(store: Store, env: Mapping, source: str, name: str) -> TrustedSignature:
    """Check ``env`` was signed by a key trusted for ``source`` and valid now and at capture.

    The first failure wins and is explained: a changed payloadType, a lying keyid, a
    revoked or expired key, a key trusted only for another source, or an unknown key.
    """
    mine = entries(store, source)
    active = {k.keyid: k for k in mine if k.status() == "active"}
    try:
        verified = signing.verify(env, {kid: k.public_key() for kid, k in active.items()}, name)
    except VerificationError as exc:
        if env.get("payloadType") != signing.PAYLOAD_TYPE or _signers(env, list(active.values())):
            raise  # a changed payloadType, or a trusted signature whose keyid lies: say exactly that
        raise _explain(store, env, source, mine, name) from exc
    key = active[verified.keyid]
    pred = verified.statement.get("predicate") or {}
    captured = pred.get("capturedAt")
    if isinstance(captured, str):
        at = clock.parse(captured, f"{name}: capturedAt")
        if key.status(at) != "active":
            raise VerificationError(
                f"{name}: signed at {captured} by key {key.keyid[:16]} of {source}, "
                f"outside that key's validity window ({key.valid_from or '-'} .. {key.valid_until or '-'})"
            )
    return TrustedSignature(verified.statement, key)


def _explain(store: Store, env: Mapping, source: str, mine: list[TrustedKey], name: str) -> VerificationError:
    claimed = [s.get("keyid") or "(none)" for s in env["signatures"]]
    for k in _signers(env, [k for k in mine if k.status() != "active"]):
        if k.revoked_at:
            return VerificationError(
                f"{name}: signed by key {k.keyid[:16]} of {source}, which was revoked at "
                f"{k.revoked_at}" + (f" ({k.revoked_reason})" if k.revoked_reason else "")
            )
        return VerificationError(
            f"{name}: signed by key {k.keyid[:16]} of {source}, which is {k.status()} "
            f"(valid {k.valid_from or '-'} .. {k.valid_until or '-'})"
        )
    others = [k for k in entries(store) if k.source != source]
    for k in _signers(env, others):
        return VerificationError(
            f"{name}: claims source {source!r} but was signed by key {k.keyid[:16]}, "
            f"which is trusted for {k.source!r}, not {source!r}"
        )
    if not mine:
        return VerificationError(
            f"{name}: source {source!r} has no trusted keys; signature by key "
            f"{claimed[0][:16]} cannot be checked (run `prov trust add {source} KEY.pub`)"
        )
    return VerificationError(
        f"{name}: signature by key {claimed[0][:16]} does not verify under any key "
        f"trusted for {source!r} (trusted: {', '.join(k.keyid[:16] for k in mine)})"
    )
