"""Whether a check's base was released: the fact ``prov check`` states and ``--attest`` requires.

A check compares a candidate with the base it is given; nothing in the delta says whether that
base ever passed the gate. A daily pipeline that checks each version against the previous one
would otherwise take a version the gate blocked as the next day's trusted base, and release its
poison then (newcomer review 12, finding 8). A base stands as:

- ``released``: a release attestation kept in the store names it (tag and Merkle root) and
  verifies under the pinned ``attest`` role (``release_history.store_attestations``: a signed
  fact, never an ``attestations`` row alone), or one kept outside the store that names it and verifies
  the same way is given (``--base-attestation FILE``: a CI checkout keeps none in ``.prov/``);
- ``first``: it has no signed parent: the maintainer's choice of a starting point;
- ``unreleased``: neither. ``prov check --attest`` refuses such a base (exit 2) unless
  ``--base-unreleased`` says it is trusted anyway; the attestation records which
  (``base.standing``: ``released``, ``first`` or ``declared``).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, VerificationError
from provenance.gate.release_history import store_attestations
from provenance.version_facts import signed_ancestry

if TYPE_CHECKING:
    from provenance.store.store import Store

RELEASED, FIRST, UNRELEASED, DECLARED = "released", "first", "unreleased", "declared"


def base_release(store: Store, base: str, version: str, kept: Sequence[str] = ()) -> dict[str, Any]:
    """The base's standing: ``{"standing", "release", "attestation", "newest_released", "first_version"}``.

    ``kept``: release attestation files of the base kept outside the store (``--base-attestation``: a CI
    checkout keeps no attestation in ``.prov/``), each checked by :func:`kept_release`.

    ``release`` and ``attestation`` (object id) are the base's own highest release, when
    ``released``; ``newest_released`` (``{"version", "release"}`` or None) is the newest
    released signed ancestor of ``version``: the base a check of ``version`` should take;
    ``first_version`` the first version of its signed history; ``ancestor`` whether ``base`` is one of
    ``version``'s signed ``ancestors`` (newest first; an attestation's base must be one), both None when the
    chain does not verify. A chain that does not verify gives ``unreleased`` (the check's integrity rule
    names the break).
    """
    released: dict[str, tuple[int, str]] = {}
    for oid, facts in store_attestations(store):
        release = facts.get("release")
        if facts.get("decision") not in ("pass", "warned") or not isinstance(release, int) or release < 1:
            continue
        tag = str(facts.get("version"))
        if release > released.get(tag, (0, ""))[0]:
            released[tag] = (release, oid)
    for path in kept:
        release, digest = kept_release(store, base, path)
        if release > released.get(base, (0, ""))[0]:
            released[base] = (release, digest)
    try:
        first = len(signed_ancestry(store, base)) == 1
    except (InputError, VerificationError):
        first = False
    chain = ancestors_of(store, version)
    ancestors = chain or [base]
    newest = (
        max((released[t][0], t) for t in ancestors if t in released) if any(t in released for t in ancestors) else None
    )
    out: dict[str, Any] = {
        "standing": RELEASED if base in released else FIRST if first else UNRELEASED,
        "release": released[base][0] if base in released else None,
        "attestation": released[base][1] if base in released else None,
        "newest_released": {"version": newest[1], "release": newest[0]} if newest else None,
        "first_version": ancestors[-1],
        # None: the chain does not verify; False: an attestation against this base is impossible (review 16, #4)
        "ancestor": None if chain is None else base in chain or base == version,
        "ancestors": chain,
    }
    return out


def ancestors_of(store: Store, version: str) -> list[str] | None:
    """``version``'s signed ancestors, newest first (``version_facts.signed_ancestry``: each link verified),
    without ``version`` itself; None when its chain does not verify (the check's integrity rule names the break)."""
    try:
        return [row["tag"] for row, _ in signed_ancestry(store, version)][1:]
    except (InputError, VerificationError):
        return None


def not_ancestor(base: str, version: str, ancestors: Sequence[str]) -> str:
    """The words for a base that is not one of ``version``'s signed ``ancestors`` (newcomer review 16, finding 4):
    ``"v2b is not an ancestor of v4 (v4's ancestors: v3, v1b, v1)"``, names shell-quoted."""
    b, v = shlex.quote(base), shlex.quote(version)
    named = ", ".join(shlex.quote(a) for a in ancestors) if ancestors else "none: it is a first version"
    return f"{b} is not an ancestor of {v} ({v}'s ancestors: {named})"


def not_ancestor_refusal(store: Store, base: str, version: str) -> InputError | None:
    """The one-line refusal of ``--attest`` against a base that is not a signed ancestor of ``version``, naming the
    ancestors an attestation may take as its base (None when ``base`` is one, or the chain does not verify: the
    check then fails on it). Asked before the base's release standing, so no way out is offered that cannot work."""
    ancestors = ancestors_of(store, version)
    if ancestors is None or base in ancestors or base == version:
        return None
    return InputError(f"--attest: {not_ancestor(base, version, ancestors)}; an attestation's base must be one")


def kept_release(store: Store, base: str, path: str) -> tuple[int, str]:
    """``(release, SHA-256 of the file)`` of a release attestation of ``base`` kept outside the store.

    Raises VerificationError (exit 1) when its signature is not by a key pinned for ``attest`` or it is not a
    passing release attestation; InputError (exit 2) naming the file when it attests another version or
    another Merkle root than ``base``'s (an expired attestation still shows the base was released).
    """
    # read here, not with gate.attestation_verify (which reports import): judged as store_attestations judges
    from provenance import input_file, signing
    from provenance.gate.release_history import EXTENSION
    from provenance.trust.pins import pins_of
    from provenance.trust.roles import ATTEST

    data = input_file.read_bounded(path, signing.MAX_ENVELOPE_BYTES, "base attestation (--base-attestation)")
    stmt = pins_of(store).verify(signing.parse_envelope(data, path), ATTEST, path, store).statement
    facts = (stmt.get("predicate") or {}).get(EXTENSION)
    if not isinstance(facts, dict):
        raise VerificationError(f"{path}: not a release attestation")
    release = facts.get("release")
    if facts.get("decision") not in ("pass", "warned") or not isinstance(release, int) or release < 1:
        raise VerificationError(f"{path}: not a passing release attestation with a release counter")
    root = store.version(base)["merkle_root"]
    if facts.get("version") != base or signing.subject_root(stmt).hex() != root:
        raise InputError(
            f"{path}: attests {facts.get('version')!r} (Merkle root {signing.subject_root(stmt).hex()[:12]}), "
            f"not the base {base}; give the base's own release attestation"
        )
    return release, hashlib.sha256(data).hexdigest()


def unreleased_refusal(base: str, version: str, standing: dict[str, Any], option: str) -> InputError:
    """The one-line refusal of ``--attest`` against an ``unreleased`` base; ``option`` is how to say it is trusted."""
    newest = standing.get("newest_released")
    way = (
        f"check against the newest release before it, {newest['version']} (release {newest['release']}), "
        f"e.g. prov check {shlex.quote(version)} --base {shlex.quote(newest['version'])} --attest"
        if newest
        else f"no version before {version} was released: check against its first version, "
        f"prov check {shlex.quote(version)} --base {shlex.quote(str(standing.get('first_version')))} --attest"
    )
    return InputError(
        f"--attest: base {base} was never released (no release attestation under your pins names it, and it is "
        f"not a first version), so its records were never checked; {way}, give its release attestation kept "
        f"outside the store with --base-attestation FILE, or pass {option} if you trust {base} anyway"
    )


def standing_line(base: str, version: str, standing: dict[str, Any] | None) -> str | None:
    """The report's line on the base (text and Markdown); None when the check did not say."""
    if not standing:
        return None
    if standing.get("ancestor") is False:  # said up front: --attest against it cannot work (review 16, finding 4)
        line = standing_line(base, version, {**standing, "ancestor": None})
        return (
            f"{line}; {not_ancestor(base, version, standing.get('ancestors') or [])}, so no attestation can take "
            f"it as its base"
        )
    if standing["standing"] == RELEASED:
        return f"Base {base}: released (release {standing['release']}, attestation {str(standing['attestation'])[:12]})"
    if standing["standing"] == FIRST:
        return f"Base {base}: a first version (no parent), trusted as the starting point"
    newest = standing.get("newest_released")
    hint = (
        f"the newest release before {version} is {newest['version']} (release {newest['release']})"
        if newest
        else f"no version before {version} was released"
    )
    declared = " (--base-unreleased: trusted anyway)" if standing["standing"] == DECLARED else ""
    return f"Base {base}: never released{declared}; its own records were never checked by the gate; {hint}"
