"""What the verifier pinned: the one object every check takes its trust from.

Trust is pinned by whoever runs a check, never taken from the store (after Sigstore's
``cosign verify --key``, where the verifier names the signer). The CLI builds one
:class:`Pins` from its flags and environment and hands it to the library on the store
handle (``store.pins``); nothing in the library reads trust from ``.prov/`` on its own.

- **Signers** (``--signer KEY.pub``, repeatable; else ``PROV_SIGNERS``, paths joined by
  ``:``): without a root file, each holds the maintainer roles (commit, attest, waive),
  and a store trust entry for a source counts only when one of them signed it
  (``prov trust add --key``).
- **Root files** (``--root FILE``, repeatable, oldest first; else ``PROV_ROOT``, paths
  joined by ``:``): signed by root keys among the signers (``provenance.trust.root``);
  roles and source keys then come from the root alone.
- **The store id** (``--store-id ID``; else ``PROV_STORE_ID``; else the root file's
  ``store``): the id ``prov init`` made for the store (``provenance.store.identity``). The
  gate then expects every version and trust statement it counts to name that id, and every
  write that signs the id refuses a ``prov.db`` naming another (attack review 17b). Without
  it, the id of record read from the store's signed history decides.
- **Nothing pinned** (``Pins.unpinned()``): signatures are checked against the keys cached
  in the store, which whoever can write ``.prov/`` controls; every report says so.
  ``prov check`` and ``prov verify`` refuse to run this way (exit 2; ``verify --store-keys``
  asks for it explicitly and reports that it is no trust decision).

Revocations recorded in the store (``prov keys revoke``, ``prov trust revoke``) only ever
remove trust, so they are honoured in every mode; they cannot add any.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provenance import keys
from provenance.errors import InputError
from provenance.escaping import visible
from provenance.trust.revocations import (
    maintainer_revocations,
    retired_source_keys,
    revoked_maintainer_keys,
    revoked_source_keys,
    with_retirement,
    with_revocation,
)
from provenance.trust.roles import MAINTAINER_ROLES, PINNED, ROOT, RoleKeys, RoleSignature, not_trusted, verify_role
from provenance.trust.root import Root, load_chain_history

if TYPE_CHECKING:
    from provenance.store.checkpoints import CheckpointKey
    from provenance.store.store import Store
    from provenance.trust.source_keys import TrustedKey

# The store's trust entries (source_keys, statements) import the store's schema and
# sqlite-utils; they are imported where a store is read, so `prov sign` (no store) and
# every command's start-up do not pay for them.

SIGNERS_ENV = "PROV_SIGNERS"
ROOT_ENV = "PROV_ROOT"
ROOT_THRESHOLD_ENV = "PROV_ROOT_THRESHOLD"
STORE_ID_ENV = "PROV_STORE_ID"
STORE_ONLY = "keys found in the store; nothing pinned"
HOW_TO_PIN = "pass --signer KEY.pub (repeatable) or set PROV_SIGNERS=KEY.pub[:KEY2.pub]"
# why a report made with nothing pinned decides nothing (``trust_note`` of verify --store-keys and show)
STORE_KEYS_NOTE = (
    "not a trust decision: nothing was pinned, so signatures were checked only against keys found in .prov/, "
    "which whoever can write the store can plant"
)
# what verify --store-keys says of the signatures it checked, where "signature ok" would be
UNPINNED_SIGNATURE = "signature checked only against keys found in .prov/: NOT a trust decision"
# what a display (show, status) says of a version checked with nothing pinned, where "signature ok" would be
UNPINNED_VERSION = "NOT a trust decision: nothing pinned, so the version was checked only against keys found in .prov/"


class NothingPinned(InputError):
    """A check that decides trust, run with nothing pinned (exit 2): one short line; ``-v`` says why."""

    def __init__(self, what: str, store_keys: bool):
        escape = "; --store-keys checks the store's own keys instead (no trust decision)" if store_keys else ""
        super().__init__(
            f"{what}: nothing is pinned; pass --signer KEY.pub, set PROV_SIGNERS, or give --root FILE{escape}"
        )

    def diagnostics(self) -> str:
        """The message, then why a key found in ``.prov/`` is not enough (``prov -v``)."""
        return (
            f"{self}\na key found in .prov/ proves nothing: whoever can write the store can plant one, so a "
            "check that decides trusts only the keys you name (PROV_SIGNERS=A.pub:B.pub pins several)"
        )


@dataclass(frozen=True)
class PinnedKey:
    """One ``--signer`` key: its id (SHA-256 hex of the raw key), the key, and the file it came from."""

    keyid: str
    key: Ed25519PublicKey
    path: str


def split_paths(value: str | None) -> list[str]:
    """``a.pub:b.pub`` -> ``["a.pub", "b.pub"]`` (empty parts are left out)."""
    return [p for p in (value or "").split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class Pins:
    """The verifier's trust: pinned signer keys, optionally the root of trust in force, and the store id.

    Build one with :meth:`load` (flags and environment) or :meth:`unpinned`. ``store_pin`` is the id given
    by ``--store-id`` or ``PROV_STORE_ID`` (``store_pin_origin`` says which); :attr:`store_id` adds the root's.
    """

    signers: Mapping[str, PinnedKey] = field(default_factory=dict)
    root: Root | None = None
    earlier_roots: tuple[Root, ...] = ()
    store_pin: str | None = None
    store_pin_origin: str = ""
    # PROV_SIGNERS paths a --signer replaced (the flag replaces the variable, never adds to it: trust is never
    # widened silently); messages that a key is not pinned say so (newcomer review 31, finding 3)
    replaced_env: tuple[str, ...] = ()

    # --- building -------------------------------------------------------------------------

    @classmethod
    def unpinned(cls) -> Pins:
        """Nothing pinned: signatures are checked against the store's cached keys (reports say so)."""
        return cls()

    @classmethod
    def load(
        cls,
        signers: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
        roots: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
        root_threshold: int | None = None,
        environ: Mapping[str, str] | None = None,
        store_id: str | None = None,
    ) -> Pins:
        """Pins from flags, falling back to the environment for whatever a flag does not give.

        ``signers``: public key files (``--signer``; else ``PROV_SIGNERS``). ``roots``:
        root files oldest first (``--root``; else ``PROV_ROOT``). ``root_threshold``: how
        many pinned keys must sign the first root (``--root-threshold``; else
        ``PROV_ROOT_THRESHOLD``; default 1). ``store_id``: the store's id (``--store-id``;
        else ``PROV_STORE_ID``). Raises ``InputError`` (exit 2) naming the file and the
        problem: an unreadable or non-Ed25519 key file, a bad root file, a root with no
        pinned signer, a store id that is not 32 lowercase hex digits or differs from the
        root's ``store``.
        """
        env = os.environ if environ is None else environ
        signers = [signers] if isinstance(signers, str | os.PathLike) else signers  # one file, not its letters
        roots = [roots] if isinstance(roots, str | os.PathLike) else roots
        signer_paths = [os.fspath(p) for p in signers] or split_paths(env.get(SIGNERS_ENV))
        root_paths = [os.fspath(p) for p in roots] or split_paths(env.get(ROOT_ENV))
        threshold = root_threshold if root_threshold is not None else _env_threshold(env.get(ROOT_THRESHOLD_ENV))
        pinned: dict[str, PinnedKey] = {}
        from_env = not signers and bool(signer_paths)
        for path in signer_paths:
            try:
                public = keys.load_public(path)
            except InputError as exc:
                if not from_env:
                    raise
                # set perhaps an hour ago, in another folder: say where the path came from (newcomer 9, #11)
                where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
                raise InputError(f"{SIGNERS_ENV}: {exc}{where}") from exc
            kid = keys.key_id(public)
            pinned.setdefault(kid, PinnedKey(kid, public, path))
        if root_paths and not pinned:
            raise InputError(f"{root_paths[0]}: a root file needs its root keys pinned; {HOW_TO_PIN}")
        store_pin, store_origin = _store_pin(store_id, env)
        given = {os.path.abspath(p) for p in signer_paths}
        replaced = (
            () if from_env else tuple(p for p in split_paths(env.get(SIGNERS_ENV)) if os.path.abspath(p) not in given)
        )
        if not root_paths:
            return cls(pinned, store_pin=store_pin, store_pin_origin=store_origin, replaced_env=replaced)
        chain = load_chain_history(root_paths, {k: p.key for k, p in pinned.items()}, threshold)
        if store_pin is not None and chain[-1].store not in (None, store_pin):
            raise InputError(
                f"{store_origin}: store id {store_pin} differs from the one {chain[-1].path} pins ({chain[-1].store})"
            )
        return cls(pinned, chain[-1], tuple(chain[:-1]), store_pin, store_origin, replaced)

    # --- what is pinned -------------------------------------------------------------------

    @property
    def store_id(self) -> str | None:
        """The store id the verifier pinned (``--store-id``, ``PROV_STORE_ID``, else the root's ``store``), or None."""
        if self.store_pin is not None:
            return self.store_pin
        return self.root.store if self.root is not None else None

    @property
    def store_id_origin(self) -> str:
        """Where :attr:`store_id` came from, for messages (``"--store-id"``, ``"PROV_STORE_ID"``, the root file)."""
        if self.store_pin is not None:
            return self.store_pin_origin
        return f"root file {self.root.path}" if self.root is not None else ""

    @property
    def replaced_note(self) -> str:
        """For a message that a key is not pinned, when a ``--signer`` replaced a set ``PROV_SIGNERS``
        (:attr:`replaced_env`): ``" (--signer replaced PROV_SIGNERS=keys/maintainer.pub: ...)"``; else ``""``."""
        if not self.replaced_env:
            return ""
        named = ":".join(visible(p) for p in self.replaced_env)
        return (
            f" (--signer replaced {SIGNERS_ENV}={named}, whose keys are then not pinned: give every key you trust as "
            "--signer, or drop --signer to pin PROV_SIGNERS)"
        )

    @property
    def pinned(self) -> bool:
        """Whether the verifier pinned anything (signers, and maybe a root)."""
        return bool(self.signers)

    def require_trust_decision(self, what: str, store_keys: bool | None = None) -> None:
        """Raise ``InputError`` (exit 2) when nothing is pinned: a key found in ``.prov/`` proves nothing.

        ``what`` names the command and its target (``"prov verify v3"``). ``store_keys`` is None
        for a command that offers no way around the pins (``prov export``); otherwise whether its
        ``--store-keys`` asked for a check against the store's own keys, which is then allowed
        with nothing pinned and refused beside pins (which keys decided would be unclear).
        """
        if store_keys and self.pinned:
            raise InputError(
                f"{what}: --store-keys checks against the store's keys instead of pinned ones; "
                "drop it, or drop --signer/--root and unset PROV_SIGNERS/PROV_ROOT"
            )
        if not self.pinned and not store_keys:
            raise NothingPinned(what, store_keys is not None)

    def describe(self) -> str:
        """One line for people: what signatures were checked against."""
        if self.root is not None:
            return f"{self.root.describe()}, anchored by {len(self.signers)} pinned key(s)"
        if self.signers:
            return "pinned key(s) " + ", ".join(f"{p.keyid[:16]} ({p.path})" for p in self.signers.values())
        return "keys found in the store only (nothing pinned: pass --signer KEY.pub or set PROV_SIGNERS)"

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` outputs: ``{"pinned", "signers": [{"keyid", "path"}], "root": {...} | null, "checked_against",
        "store_id": the pinned store id | null}``."""
        return {
            "pinned": self.pinned,
            "signers": [{"keyid": p.keyid, "path": p.path} for p in self.signers.values()],
            "root": self.root.to_dict() if self.root is not None else None,
            "checked_against": "root" if self.root is not None else "pinned" if self.pinned else "store",
            "store_id": self.store_id,
        }

    # --- roles ----------------------------------------------------------------------------

    def role_keys(self, role: str, store: Store | None = None) -> RoleKeys:
        """The keys that may sign for ``role`` (``commit``, ``attest``, ``waive``, ``root``).

        From the root when there is one, else the pinned signers, else (nothing pinned)
        the unrevoked keys cached in ``store``. Keys revoked in ``store`` are left out in
        every mode (a revocation only removes trust).
        """
        if self.root is not None:
            found = self.root.role_keys(role)
        elif self.signers:
            found = RoleKeys(
                role,
                {k: p.key for k, p in self.signers.items()},
                1,
                PINNED,
                {k: Path(p.path).name for k, p in self.signers.items()},
                note=self.replaced_note,
            )
        else:
            cached = store.trusted_keys() if store is not None else {}
            found = RoleKeys(role, cached, 1, STORE_ONLY, {})
        revoked = revoked_maintainer_keys(store) if store is not None else set()
        if not revoked & set(found.keys):
            return found
        kept = {k: v for k, v in found.keys.items() if k not in revoked}
        how = maintainer_revocations(store) if store is not None else {}
        left_out = {k: (v, how.get(k, "revoked in this store")) for k, v in found.keys.items() if k in revoked}
        origin = f"{found.origin}; revoked in the store: excluded"
        return RoleKeys(role, kept, found.threshold, origin, found.names, left_out, found.note)

    def fact_role_keys(self, role: str, store: Store | None = None) -> tuple[RoleKeys, ...]:
        """The key sets under which a ``role`` signature is a *fact* the verifier vouches for, newest first.

        For reading what was signed (the store id a version names: ``provenance.store.identity``), never for
        what a signature grants: the role's keys in the root in force, then in each earlier root of the chain
        (rotated-out keys), else the pinned signers, in every case with store revocations *not* applied. A
        revocation row is the store's, which whoever writes ``.prov/`` can set, and it takes away what a key
        grants, not what the key signed before (attack review 19, F19-3; as :meth:`known_keys` keeps checking
        a revoked pinned key's checkpoints). Nothing pinned: every key registered in ``store``, revoked or not
        (as :meth:`role_keys` reads them, NOT a trust decision).

        Raises:
            InputError: nothing pinned and a ``keys`` row of ``store`` holds no Ed25519 public key.
        """
        if self.root is not None:
            return (self.root.role_keys(role), *(r.role_keys(role) for r in reversed(self.earlier_roots)))
        if self.signers:
            names = {k: Path(p.path).name for k, p in self.signers.items()}
            return (
                RoleKeys(role, {k: p.key for k, p in self.signers.items()}, 1, PINNED, names, note=self.replaced_note),
            )
        if store is None:
            return ()
        every = {
            r["keyid"]: keys.parse_public(r["public_pem"].encode(), f"store key {r['keyid'][:16]}")
            for r in store.db["keys"].rows
        }
        return (RoleKeys(role, every, 1, STORE_ONLY, {}),)

    def verify(self, env: Mapping, role: str, name: str, store: Store | None = None) -> RoleSignature:
        """Check ``env`` (a shape-checked DSSE envelope) against ``role``; see ``roles.verify_role``.

        Raises ``VerificationError`` (exit 1) for a forged, unpinned or wrong-role signature.
        """
        return verify_role(env, self.role_keys(role, store), name, _OtherRoles(lambda: self._other_roles(role, store)))

    def _other_roles(self, role: str, store: Store | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for other in (ROOT, *MAINTAINER_ROLES):
            if other != role:
                for kid in self.role_keys(other, store).keys:
                    out.setdefault(kid, f"a {other} key")
        return out

    def maintainer_keys(self, store: Store | None = None) -> dict[str, Ed25519PublicKey] | None:
        """Every key that holds commit, attest or waive (key id -> key); None when nothing is pinned."""
        if not self.pinned:
            return None
        out: dict[str, Ed25519PublicKey] = {}
        for role in MAINTAINER_ROLES:
            out.update(self.role_keys(role, store).keys)
        return out

    def known_keys(self, store: Store | None = None) -> dict[str, Ed25519PublicKey] | None:
        """Every key the verifier vouches for in some role, now or before a rotation; None when nothing is pinned.

        :meth:`maintainer_keys`, plus the keys an earlier root of the chain (``--root``
        files before the one in force) gave a maintainer role, plus the pinned signers
        themselves (root keys, with a root file). An audit checkpoint signed by one of these
        is checked against it (a forged or inconsistent one fails), while only
        :meth:`maintainer_keys` make one cover the log; a checkpoint by any other key is not
        relied on (``provenance.store.coverage``).

        A key the verifier pins (a signer, or a maintainer key of the root in force) stays here
        when the store revokes it: a store revocation takes away what the key's signature
        grants, never the check of what it signed before, so a ``.prov/`` writer's pending
        ``prov keys revoke`` cannot disarm a checkpoint it signed (attack review 14, A14-4).
        Keys of earlier roots that the store revokes are left out (rotated out, then revoked).
        """
        current = self.maintainer_keys(store)
        if current is None:
            return None
        earlier: dict[str, Ed25519PublicKey] = {}
        for root in self.earlier_roots:
            for role in MAINTAINER_ROLES:
                earlier.update(root.role_keys(role).keys)
        revoked = revoked_maintainer_keys(store) if store is not None else set()
        pinned = {k: p.key for k, p in self.signers.items()}
        if self.root is not None:
            for role in MAINTAINER_ROLES:
                pinned.update(self.root.role_keys(role).keys)
        return {k: v for k, v in earlier.items() if k not in revoked} | pinned | current

    def retired_keys(self, store: Store | None = None) -> dict[str, Ed25519PublicKey]:
        """Maintainer keys an earlier root of the chain trusted and the root in force no longer does (rotated out).

        Keys of earlier roots' maintainer roles, minus :meth:`maintainer_keys`, the pinned
        signers and keys revoked in the store. Their checkpoints are checked but a mismatch
        is only a warning (``provenance.store.coverage.verify_checkpoints``): whoever holds a
        rotated-out key can at most fail to add coverage. Empty without a root chain.
        """
        current = self.maintainer_keys(store) or {}
        out: dict[str, Ed25519PublicKey] = {}
        for root in self.earlier_roots:
            for role in MAINTAINER_ROLES:
                out.update(root.role_keys(role).keys)
        revoked = revoked_maintainer_keys(store) if store is not None else set()
        return {k: v for k, v in out.items() if k not in current and k not in self.signers and k not in revoked}

    # --- batch signing per source ---------------------------------------------------------

    def source_keys(self, store: Store, source: str | None = None) -> list[TrustedKey]:
        """The keys that may sign batches of ``source`` (or of every source), with status and window.

        With a root: the root's ``sources``. With pinned signers only: the store's trust
        entries whose signed statement verifies under a pinned key, with the signed
        validity window. Nothing pinned: every trust entry in the store. Revocations in
        the store (the ``trust`` row or a ``trust.revoke`` audit entry) and retirements
        (``trust.retire`` audit entries: ``prov trust retire`` ends a key's window) apply in
        every mode: both only take trust away.
        """
        from provenance.trust.source_keys import TrustedKey, entries
        from provenance.trust.statements import signed_entries

        revoked, retired = revoked_source_keys(store), retired_source_keys(store)
        if self.root is not None:
            found = []
            for name, delegation in sorted(self.root.sources.items()):
                if source is None or name == source:
                    for kid in delegation.keyids:
                        pem = keys.public_pem(self.root.keys[kid])
                        label = self.root.key_names.get(kid) or kid[:16]
                        found.append(TrustedKey(name, kid, label, pem, self.root.describe(), None, None, None, None))
        elif self.signers:
            role = self.role_keys("commit", store)
            found = [
                TrustedKey(
                    e.source,
                    e.keyid,
                    str(e.predicate.get("name") or e.keyid[:16]),
                    str(e.predicate["publicKey"]),
                    str(e.predicate.get("addedAt") or ""),
                    e.predicate.get("validFrom"),
                    e.predicate.get("validUntil"),
                    None,
                    None,
                )
                for e in signed_entries(store, source, role)
            ]
        else:
            found = [k for k in entries(store, source)]
        return [with_revocation(with_retirement(k, retired), revoked) for k in found]

    def trusted_sources(self, store: Store) -> set[str]:
        """Sources that have an active batch-signing key in what the verifier pinned."""
        return {k.source for k in self.source_keys(store) if k.status() == "active"}


class _OtherRoles(Mapping[str, str]):
    """``Pins._other_roles``, read only when ``verify_role`` names a wrong-role signature (a failure): reading
    the other roles' keys (the store's revocations for each) for every envelope that verifies was four of the
    five key-set reads of each verification, for a message never shown. Read once, when first asked."""

    def __init__(self, read: Callable[[], dict[str, str]]) -> None:
        self._read = read
        self._found: dict[str, str] | None = None

    def _roles(self) -> dict[str, str]:
        if self._found is None:
            self._found = self._read()
        return self._found

    def __getitem__(self, key: str) -> str:
        return self._roles()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._roles())

    def __len__(self) -> int:
        return len(self._roles())


def pins_of(store: Store) -> Pins:
    """The pins the store handle carries (``store.pins``), or :meth:`Pins.unpinned` when none were set."""
    pins = getattr(store, "pins", None)
    return pins if isinstance(pins, Pins) else Pins.unpinned()


def private_key_for_role(store: Store, key_path: str | Path, role: str, what: str) -> tuple[Any, str]:
    """``(Ed25519 private key, key id)`` of ``key_path``, refused unless the store's pins trust it for ``role``.

    For commands that sign a fact the gate honours only under that role (``prov waive``:
    ``waive``; ``prov withdraw``: ``commit``), so a key whose signature would be ignored is
    refused up front. ``what`` names the fact in the message ("waivers", "withdrawal").

    Raises:
        InputError: the key is not trusted for ``role`` (exit 2); ``KeyFileError`` (exit 2)
            for an unreadable key file.
    """
    private = keys.load_private(key_path)
    keyid = keys.key_id(private.public_key())
    trusted = pins_of(store).role_keys(role, store)
    if keyid not in trusted.keys:
        raise InputError(f"{key_path}: key {keyid[:16]} {not_trusted(trusted)}; its {what} would be ignored")
    return private, keyid


def _store_pin(flag: str | None, env: Mapping[str, str]) -> tuple[str | None, str]:
    """``(id, origin)`` of ``--store-id`` (``flag``), else ``PROV_STORE_ID``; ``(None, "")`` when neither is set.

    Raises ``InputError`` (exit 2) for a value that is not a store id."""
    value, origin = (flag, "--store-id") if flag else (env.get(STORE_ID_ENV) or None, STORE_ID_ENV)
    if value is None:
        return None, ""
    from provenance.store.identity import is_store_id  # the store package only when an id is pinned

    if not is_store_id(value):
        raise InputError(f"{origin} {value!r}: not a store id (32 lowercase hex digits, as prov init printed it)")
    return value, origin


def _env_threshold(value: str | None) -> int:
    if not value:
        return 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"{ROOT_THRESHOLD_ENV}={value!r}: expected a whole number from 1")
    return n


def refuse_unpinned_checkpoint(store: Store, pins: Pins, signer: CheckpointKey | None, path: str | None) -> None:
    """Exit 2, before anything is written, when keys are pinned and the checkpoint key ``signer`` (from
    ``path``) holds none of their maintainer roles (newcomer review 10, finding 13, for every command
    that signs a checkpoint): the checkpoint would be written, and every verifier would list it as not
    relied on, so the change it was to protect would stay pending unseen. Nothing pinned: not checked,
    as a store's first commit."""
    if signer is None:
        return
    trusted = pins.maintainer_keys(store)
    if trusted is None:
        return
    keyid = keys.key_id(signer.private.public_key())
    if keyid not in trusted:
        raise InputError(
            f"{path}: key {keyid[:16]} is not among the keys you pinned for commit, attest or waive; verifiers "
            "would not rely on the checkpoint it signs (pin it with --signer if it is a maintainer's key)"
        )
