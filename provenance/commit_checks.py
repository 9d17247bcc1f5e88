"""What a commit refuses, before its work and again inside its write: a version name or message that
cannot be signed, a name in use, a parent that does not verify, a revoked or unpinned key, a version's audit
entry that no trusted head signed (its checkpoint would sign it).

``versions.commit`` calls these; ``prov commit`` also calls :func:`refuse_nothing_pinned`, and
``prov quarantine`` the name checks. Each raises ``InputError`` (exit 2) or ``VerificationError``
(exit 1) naming the tag, the key file or the version.
"""

from __future__ import annotations

from pathlib import Path

from provenance.errors import InputError, VerificationError
from provenance.store import vouched
from provenance.store.store import Store
from provenance.trust.pins import pins_of
from provenance.trust.roles import COMMIT, not_trusted
from provenance.version_facts import newest_commit_entry, verified_statement

MAX_TAG_LENGTH = 128  # characters in a version name
MAX_MESSAGE_LENGTH = 4096


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it can name a version, else raise ``InputError`` saying why.

    A version name is 1-128 characters with no whitespace, control characters, slashes
    or backslashes, does not start with ``-`` and is not ``.`` or ``..``: it appears in
    file names (``V.attestation.json``, a quarantined copy ``data.V.parquet``) and on
    command lines.
    """
    rule = (
        f"a version name is 1-{MAX_TAG_LENGTH} characters without spaces, control characters or slashes, "
        "not starting with '-'"
    )
    if not isinstance(tag, str) or not tag:
        raise InputError(f"tag {tag!r}: {rule}")
    if (
        len(tag) > MAX_TAG_LENGTH
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in tag)
        or tag.startswith("-")
        or tag in (".", "..")
    ):
        raise InputError(f"tag {tag[:40]!r}: {rule}")
    return tag


def validate_message(message: str | None) -> str | None:
    """Return a commit message (``prov commit -m``) if it may be signed, else raise ``InputError``.

    A message is 1-4096 characters of text without NUL; newlines and tabs are kept (it is
    shown escaped). ``None`` means no message.
    """
    if message is None:
        return None
    if not message.strip() or len(message) > MAX_MESSAGE_LENGTH or "\x00" in message:
        raise InputError(f"commit message: 1-{MAX_MESSAGE_LENGTH} characters of text, not blank, without NUL")
    return message


def refuse_existing(store: Store, tag: str) -> None:
    """Raise ``InputError`` if the store already has a version called ``tag``."""
    if store.db.execute("select 1 from versions where tag = ?", [tag]).fetchone():
        raise InputError(f"{tag}: a version of that name already exists; choose another name")


def refuse_revoked_key(store: Store, keyid: str, key_path: str | Path) -> None:
    """Raise ``VerificationError`` if the store records key ``keyid`` (read from ``key_path``) as revoked."""
    revoked = store.db.execute(
        "select revoked_at from keys where keyid = ? and revoked_at is not null", [keyid]
    ).fetchone()
    if revoked:
        raise VerificationError(f"{key_path}: key {keyid[:16]} was revoked at {revoked[0]}; it cannot sign versions")


def verified_parent(store: Store, parent: str) -> dict:
    """The ``versions`` row of the parent a commit signs, after its statement verified under the pins.

    The new version signs the parent's name and Merkle root as the row holds it, so a row a ``.prov/``
    writer altered, or a version no pinned key signed, would be chained to silently. Raises
    ``InputError`` for an unknown version, ``VerificationError`` naming it otherwise.
    """
    row = store.version(parent)
    try:
        verified_statement(store, row)
    except VerificationError as exc:
        reason = str(exc).removeprefix(f"version {parent}: ")
        raise VerificationError(f"version {parent}: the parent does not verify: {reason}") from exc
    return row


def refuse_unvouched(store: Store) -> None:
    """Raise ``VerificationError`` (exit 1) when a version's commit or quarantine entry in the audit log is under no
    head signed by a key the pins trust (``store.vouched``): the commit's checkpoint would sign it (attack review
    26e, A26e-5). Before any data is read; ``Store.write`` refuses it again under the lock."""
    vouched.refuse(store)


def refuse_nothing_pinned(store: Store, tag: str) -> None:
    """``prov commit`` onto a store that already holds a version needs pins (exit 2): with nothing pinned,
    any key would sign it, and every later pinned ``commit`` and ``status`` would then refuse the store's
    newest version (newcomer review 9, finding 1). A store's first commit may run unpinned. The CLI
    calls it; :func:`commit` itself leaves the choice to its Python caller (``store.pins``)."""
    if pins_of(store).pinned:
        return
    if newest_commit_entry(store) is not None or store.db.execute("select 1 from versions limit 1").fetchone():
        pins_of(store).require_trust_decision(f"prov commit {tag}")


def refuse_unpinned_key(store: Store, keyid: str, key_path: str | Path) -> None:
    """Raise ``InputError`` if the store's pins pin keys and ``keyid`` (read from ``key_path``) is not one the
    commit role trusts: verifiers would reject the version it signs. Nothing pinned: nothing to refuse."""
    pins = pins_of(store)
    if not pins.pinned:
        return
    role = pins.role_keys(COMMIT, store)
    if keyid not in role.keys:
        raise InputError(
            f"{key_path}: key {keyid[:16]} {not_trusted(role)}; verifiers would reject the version it signs"
        )
