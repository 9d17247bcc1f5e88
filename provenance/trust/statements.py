"""Signed trust entries: ``prov trust add SOURCE KEY.pub --key MAINTAINER.key``.

The store's ``trust`` table is a cache that whoever can write ``.prov/`` can edit. When the
verifier pins maintainer keys with ``--signer`` (and no root file), a store trust entry
counts only if a pinned key signed it: a DSSE envelope around an in-toto Statement
(``predicateType`` ``https://prov.dev/trust-entry/v1``) whose subject is the source's
public key (digest ``sha256`` = its key id) and whose predicate names the source, the
public key (PEM), its validity window and when it was added. The envelope is a store
object, named in the ``trust_statements`` table. The window a check uses is the signed
one, never the row's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance import keys, signing
from provenance.errors import InputError, VerificationError
from provenance.trust.roles import RoleKeys, verify_role

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
) -> dict:
    """The in-toto Statement of one trust entry (``schemas/trust-entry.schema.json`` is its envelope's payload)."""
    kid = keys.key_id(public)
    return {
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


def sign_entry(stmt: dict, signer: Ed25519PrivateKey) -> bytes:
    """The entry's DSSE envelope, canonical JSON bytes (what the store keeps)."""
    return signing.canonical_json(signing.sign(stmt, signer))


@dataclass(frozen=True)
class SignedEntry:
    """A trust entry whose signature verified: the signed predicate and the key that signed it."""

    source: str
    keyid: str
    predicate: dict
    signer: str


def signed_entries(store: Store, source: str | None, role: RoleKeys) -> list[SignedEntry]:
    """The trust entries (of ``source``, or all) whose signed statement verifies under ``role``.

    An entry whose envelope is missing, damaged, signed by another key, or names another
    source or key than its row is left out (it does not count); the store is never
    trusted for what the signature does not say.
    """
    if TABLE not in store.db.table_names():
        return []
    where, args = ("source = ?", [source]) if source is not None else (None, None)
    out = []
    for row in store.db[TABLE].rows_where(where, args):
        try:
            data = store.objects.get(row["object"], f"trust entry of {row['source']}")
            env = signing.parse_envelope(data, f"trust entry {row['keyid'][:16]} of {row['source']}")
            stmt = verify_role(env, role, f"trust entry {row['keyid'][:16]} of {row['source']}").statement
        except (InputError, VerificationError):
            continue
        pred = stmt.get("predicate") or {}
        if (
            stmt.get("predicateType") != PREDICATE_TYPE
            or pred.get("source") != row["source"]
            or pred.get("keyid") != row["keyid"]
        ):
            continue
        try:
            if keys.key_id(keys.parse_public(str(pred.get("publicKey", "")).encode(), "trust entry")) != row["keyid"]:
                continue
        except InputError:
            continue
        out.append(SignedEntry(row["source"], row["keyid"], pred, row["signer"]))
    return out
