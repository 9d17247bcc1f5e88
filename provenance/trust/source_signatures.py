"""Checking a batch's signature against the keys the verifier trusts for its source.

A signature counts only under a key that holds the batch-signing role *for the source the
signed statement names* in what the verifier pinned (``Pins.source_keys``: the root's
``sources``, or store trust entries signed by a pinned key, or, with nothing pinned, the
store's cached entries), is not revoked, and is inside its validity window both now and
at the signed capture time. Everything else fails closed, and the error says which key
and why, so a reviewer can act on it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provenance import clock, keys, signing
from provenance.errors import VerificationError
from provenance.trust.pins import Pins, pins_of
from provenance.trust.roles import RoleKeys, signers_among, verify_role
from provenance.trust.source_keys import TrustedKey

if TYPE_CHECKING:
    from provenance.store.store import Store

# What a batch checked with no store was checked against, for its report and its line
NO_STORE = "no store here: checked against the keys you pinned only, with no trust list, revocation or validity window"


class SourceKeyPinnedInStore(VerificationError):
    """A batch signed by a key the verifier pinned (``--signer vendor.pub``) that no trust entry signed by a
    pinned key makes a key of its source: inside a store ``--signer`` pins maintainer keys, and a source's
    keys come from the trust list (newcomer review 16, finding 3). A ``VerificationError`` for lineage (the
    records are not attested under these pins); ``prov verify`` and ``prov add`` of a batch report it as
    the configuration problem it is (``InputError``, exit 2)."""


@dataclass(frozen=True)
class TrustedSignature:
    """A batch envelope that verified: its signed Statement and the source key that signed it."""

    statement: dict
    key: TrustedKey


def verify_for_source(
    store: Store, env: Mapping, source: str, name: str, *, at_capture_only: bool = False
) -> TrustedSignature:
    """Check ``env`` was signed by a key trusted for ``source`` and valid now and at capture.

    ``store`` carries the verifier's pins (``store.pins``). With ``at_capture_only`` (for
    evidence already registered: lineage) the key must be unrevoked and valid at the
    signed capture time, but may have expired since. Raises ``VerificationError`` (exit
    1); the first failure wins and is explained: a changed payloadType, a lying keyid, a
    revoked or expired key, a key trusted only for another source, or an unknown key.
    """
    pins = pins_of(store)
    mine = pins.source_keys(store, source)
    usable = (lambda k: not k.revoked_at) if at_capture_only else (lambda k: k.status() == "active")
    active = {k.keyid: k for k in mine if usable(k)}
    threshold = pins.root.source_keys(source).threshold if pins.root is not None else 1
    origin = pins.root.describe() if pins.root is not None else "pinned" if pins.pinned else "the store's trust list"
    role = RoleKeys(f"source {source}", {kid: k.public_key() for kid, k in active.items()}, threshold, origin)
    try:
        verified = verify_role(env, role, name) if active else None
    except VerificationError as exc:
        if env.get("payloadType") != signing.PAYLOAD_TYPE or signers_among(env, role.keys):
            raise  # a changed payloadType, a lying keyid, or too few trusted signatures: say exactly that
        raise _explain(store, env, source, mine, name, pins) from exc
    if verified is None:
        if env.get("payloadType") != signing.PAYLOAD_TYPE:
            raise VerificationError(
                f"{name}: payloadType is {env.get('payloadType')!r}, expected {signing.PAYLOAD_TYPE}"
            )
        raise _explain(store, env, source, mine, name, pins)
    key = active[verified.keyid]
    pred = verified.statement.get("predicate") or {}
    captured = pred.get("capturedAt")
    if not isinstance(captured, str) and (key.valid_from or key.valid_until):
        raise VerificationError(
            f"{name}: signed by key {key.keyid[:16]} of {source}, whose trust has a validity window, "
            "but names no capturedAt to check it against"
        )
    if isinstance(captured, str):
        at = clock.parse(captured, f"{name}: capturedAt")
        if key.status(at) != "active":
            raise VerificationError(
                f"{name}: signed at {captured} by key {key.keyid[:16]} of {source}, "
                f"outside that key's validity window ({key.valid_from or '-'} .. {key.valid_until or '-'})"
            )
    return TrustedSignature(verified.statement, key)


def verify_without_store(pins: Pins, env: Mapping, source: str, name: str) -> TrustedSignature:
    """Check ``env`` with no store (a vendor checking its own batch before shipping it).

    The signature must verify under a key the verifier pinned for ``source``: with a root
    file, the keys its ``sources`` give ``source`` (and their threshold); else any pinned
    signer key (``--signer vendor.pub``). There is no trust list, revocation or validity
    window to consult; the report says so (``NO_STORE``), and ``prov add`` checks all of
    them against the receiving store. Raises ``VerificationError`` (exit 1) as ``verify_role``.
    """
    if pins.root is not None:
        role = pins.root.source_keys(source)
    else:
        found = {kid: p.key for kid, p in pins.signers.items()}
        names = {kid: Path(p.path).name for kid, p in pins.signers.items()}
        role = RoleKeys(f"source {source}", found, 1, "the keys you pinned", names)
    verified = verify_role(env, role, name)
    kid = verified.keyid
    label = role.names.get(kid) or kid[:16]
    key = TrustedKey(source, kid, label, keys.public_pem(role.keys[kid]), role.origin, None, None, None, None)
    return TrustedSignature(verified.statement, key)


def _explain(
    store: Store, env: Mapping, source: str, mine: list[TrustedKey], name: str, pins: Pins
) -> VerificationError:
    claimed = [s.get("keyid") or "(none)" for s in env["signatures"]]
    inactive = {k.keyid: k for k in mine if k.status() != "active" or k.revoked_at}
    for kid in signers_among(env, {k.keyid: k.public_key() for k in inactive.values()}):
        k = inactive[kid]
        if k.revoked_at:
            return VerificationError(
                f"{name}: signed by key {k.keyid[:16]} of {source}, which was revoked at {_when(store, k)}"
            )
        return VerificationError(
            f"{name}: signed by key {k.keyid[:16]} of {source}, which is {k.status()} "
            f"(valid {k.valid_from or '-'} .. {k.valid_until or '-'})"
        )
    others = {k.keyid: k for k in pins_of(store).source_keys(store) if k.source != source}
    for kid in signers_among(env, {k.keyid: k.public_key() for k in others.values()}):
        k = others[kid]
        return VerificationError(
            f"{name}: claims source {source!r} but was signed by key {k.keyid[:16]}, "
            f"which is trusted for {k.source!r}, not {source!r}"
        )
    if pins.pinned and pins.root is None:  # its key's entry a pinned key signed for another store (C16-2)
        from provenance.trust.statements import foreign_entries

        for f in foreign_entries(store, pins.role_keys("commit", store)):
            if f.source == source and f.keyid in claimed:
                return VerificationError(
                    f"{name}: signed by key {f.keyid[:16]}, which is no key of {source!r} here: {f.line()}"
                )
    if not mine:
        return _no_trusted_key(store, env, source, name, pins, claimed[0])
    how = f"prov trust add {shlex.quote(source)} KEY.pub --key MAINTAINER.key"
    return VerificationError(
        f"{name}: signature by key {claimed[0][:16]} does not verify under any key "
        f"trusted for {source!r} (trusted: {', '.join(k.keyid[:16] for k in mine)}; a new key of the source is "
        f"trusted with {how})"
    )


def _when(store: Store, key: TrustedKey) -> str:
    """When and why revoked ``key`` was, for a refusal of a batch it signed, after ``which was revoked at`` (words the
    gate reads: ``gate.results.REVOKED``). When the audit log holds a ``trust.revoke`` entry for it, its time and
    reason as ``key`` carries them (``revocations.with_revocation``: the log's first), marked pending when no head a
    key you pin signed covers it (``revocations.PENDING``), and with several, every entry's (``revocations.entries_text``). When only its ``trust`` row says
    revoked (``logged_revocations``): a log rolled back past the revocation or a row a ``.prov/`` writer edited; the
    refusal stands (fail closed), the row's time and reason are given as the row's words, escaped and quoted
    (``escaping.visible``, ``revocations.shown_reason``: attack review 22a, finding 6), and both readings are said, as
    ``prov trust list`` marks the key (``revocations.ROW_ONLY``)."""
    from provenance.escaping import visible
    from provenance.trust.logged_revocations import logged_source_revocations, signed_through
    from provenance.trust.revocations import (
        PENDING,
        ROW_ONLY,
        entries_text,
        revocation_entries,
        shown_reason,
        shown_text,
        shown_time,
    )

    logged = logged_source_revocations(store).get((key.source, key.keyid))
    if logged is not None:
        pins = getattr(store, "pins", None)
        pinned = bool(pins is not None and pins.pinned)
        entries = revocation_entries(logged, signed_through(store) if pinned else None, pinned)
        # a pending entry is marked, as prov trust list marks it, not stated as fact (attack review 23a); several
        # are all given, none picked as the maintainer's (A23a-2)
        pending = f"; {PENDING}" if len(entries) == 1 and entries[0]["pending"] else ""
        return (
            f"{shown_time(key.revoked_at)}"
            + (f" ({shown_text(key.revoked_reason)})" if key.revoked_reason else "")
            + pending
            + (entries_text(entries))
        )
    reason = shown_reason(key.revoked_reason)
    again = f"prov trust revoke {shlex.quote(key.source)} --key-id {key.keyid[:16]} --reason R"
    return (
        f"a time only its trust row gives: its trust row says revoked at {shown_time(key.revoked_at)}"
        + (f" (reason {reason})" if reason else "")
        + f"; the audit log holds no revocation of it (prov trust list marks it '{ROW_ONLY}'): if you revoked it, the "
        f"log was rolled back: revoke it again ({visible(again)}); if you did not, the row was edited: restore .prov/ "
        "from a copy you trust"
    )


def _no_trusted_key(store: Store, env: Mapping, source: str, name: str, pins: Pins, claimed: str) -> VerificationError:
    """Why no key of ``source`` is trusted under ``pins`` (newcomer review 16, finding 3): no trust entry at
    all, or entries none of which a pinned key signed (naming the key each claims as its signer, which
    is unverified and only named), and, when the batch's own signer is a pinned key, that inside a
    store ``--signer`` pins maintainer keys (``SourceKeyPinnedInStore``)."""
    from provenance.store.opening import STORE_ENV
    from provenance.trust.source_keys import entries
    from provenance.trust.statements import claimed_signers

    # quoted for the shell (attack review 15b, A15b-5); `prov trust add` without --key is refused
    add = f"`prov trust add {shlex.quote(source)} KEY.pub --key MAINTAINER.key`"
    if not pins.pinned or pins.root is not None:  # nothing pinned: every entry counts; a root: its sources do
        how = f"sign its trust entry with a pinned key: {add}" if pins.pinned else f"run {add}"
        return VerificationError(
            f"{name}: source {source!r} has no trusted keys; signature by key {claimed[:16]} cannot be checked ({how})"
        )
    rows = entries(store, source)
    signers = claimed_signers(store, source)
    if not rows:
        why = f"it has no trust entry in this store (sign one with a pinned key: {add})"
        short = f"no trust entry: {add}"
    elif signers:
        named = ", ".join(k[:16] for k in signers)
        why = (
            f"its trust entries are signed by key {named}, which you did not pin{pins.replaced_note} "
            f"(pin it with --signer if it is your maintainer's key, or re-sign the entry with a pinned key: {add})"
        )
        short = f"its trust entries are signed by key {named}, which you did not pin{pins.replaced_note}: pin it"
    else:  # `prov trust add --unsigned` only: verifiers who pin keys ignore such entries
        why = f"its trust entries are unsigned (prov trust add --unsigned), which pinned verifiers ignore ({add})"
        short = f"its trust entries are unsigned, which pinned verifiers ignore: {add}"
    own = signers_among(env, {kid: p.key for kid, p in pins.signers.items()})
    if own:
        kid = next(iter(own))
        revoked = _revoked_here(store, rows, source, kid)
        if revoked is not None:  # advice to leave the store led around a revocation it could see (A25b-2)
            return VerificationError(
                f"{name}: signed by key {kid[:16]}, which you pinned, but this store revokes that key of {source!r}: "
                f"{revoked}; checking the batch outside this store would only skip the revocation: have its source "
                "sign the records again with a new key (docs/security-model.md, A stolen key)"
            )
        # with $PROV_STORE set, a folder with no .prov/ still finds the store (A25b-7)
        unset = f"unset {STORE_ENV} and " if os.environ.get(STORE_ENV) else ""
        # the gist first, in one short line (newcomer review 32: a 600-character line buried it); "outside the
        # store" said not how (newcomer review 25): prov finds the store from the working folder
        return SourceKeyPinnedInStore(
            f"{name}: in a store --signer pins maintainer keys, not a source's (you pinned this batch's signer, key "
            f"{kid[:16]}); source {source!r} has no trusted key here ({short}); or check it as its vendor does: "
            f"{unset}run this prov verify from a folder with no .prov/ in it or above"
        )
    return VerificationError(
        f"{name}: source {source!r} has no trusted keys under your pins; signature by key {claimed[:16]} "
        f"cannot be checked: {why}"
    )


def _revoked_here(store: Store, rows: list[TrustedKey], source: str, kid: str) -> str | None:
    """When and why the store revokes ``source``'s key ``kid``, by its ``trust`` row or a ``trust.revoke`` entry of
    its audit log (either: fail closed), in :func:`_when`'s words; None when neither does."""
    from provenance.trust.logged_revocations import logged_source_revocations
    from provenance.trust.revocations import shown_reason, shown_time

    for key in rows:
        if key.keyid == kid and key.revoked_at:
            return f"revoked at {_when(store, key)}"
    logged = logged_source_revocations(store).get((source, kid))
    if logged is None:
        return None
    reason = shown_reason(logged.get("reason"))
    return (
        f"its audit log revokes it (entry {logged.get('seq')}: at {shown_time(logged.get('revoked_at'))}"
        + (f", reason {reason}" if reason else "")
        + "), though its trust row does not say so"
    )
