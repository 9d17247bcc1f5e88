"""Freshness of releases on the training job's side: the newest release it has accepted.

After TUF's client (the TUF specification, section 5: a client keeps the newest trusted
metadata and refuses a version number lower than the one it has; section 5.4 and 5.5:
the timestamp and snapshot roles give each release a version number and a short expiry).
Every release attestation carries a monotonic release counter and an expiry; the
training job keeps a small state file outside the store (``--release-state FILE``, or
``PROV_RELEASE_STATE``):

    {"format": "prov.release-state/v1", "release": 5, "version": "v4",
     "merkleRoot": "...", "attestation": "<sha256 of the attestation file>",
     "acceptedAt": "...", "rootVersion": 3, "attestKey": "<key id>",
     "auditLog": {"treeSize": 41, "rootHash": "...", "headHash": "..."}}

``auditLog`` (``{"treeSize", "rootHash", "headHash"}``) is the audit log's state the
newest accepted release signed: the next release's log must extend it (an RFC 9162
consistency proof, ``provenance.store.log_state``), so a store whose log lost entries
since (a revocation rolled back) is refused.

``rootVersion`` is the version of the root of trust in force when the job verified (with
``--root``): a later verification under an older root, or with no root, is refused (TUF
specification, section 5.3: the client never accepts a root version lower than the one it
trusts), so a root that rotated a stolen key out cannot be rolled back by serving the
previous root file.

``attestKey`` is the key id that signed the newest accepted release. When the keys the job pins (its root in force,
or its ``--signer`` keys) no longer trust that key for ``attest`` (rotated out), the release counter it signed is not
a floor any more (:func:`after_rotation`; TUF specification, section 5.3.11: a client deletes its timestamp and
snapshot metadata when those keys rotate, the recovery from a fast-forward attack): a stolen attest key that signed
release 1,000,000 does not freeze the job once a new root removes it. The log-state floor (``auditLog``) and the root
version stay.

``prov verify V --attestation A --release-state FILE`` refuses a release whose counter is
lower than the one recorded (rollback to an older release), or equal to it but another
version (two releases under one number; a refreshed attestation of the same version is
fine), and after every other check has passed records the new release. A job without state can pass ``--min-release N``. The
attestation's expiry is checked in every case (freeze: an attacker who keeps serving an
old, once-valid release is refused once it expires).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provenance import clock
from provenance.errors import InputError, VerificationError
from provenance.store.log_state import LogState
from provenance.store.objects import atomic_write

FORMAT = "prov.release-state/v1"


@dataclass(frozen=True)
class AcceptedRelease:
    """A release a training job accepted: its counter, version, Merkle root and attestation digest (hex)."""

    release: int
    version: str
    merkle_root: str
    attestation: str
    accepted_at: str = ""
    root_version: int | None = None
    audit_log: LogState | None = None
    attest_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The state file's JSON (``schemas/release-state.schema.json``)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "release": self.release,
            "version": self.version,
            "merkleRoot": self.merkle_root,
            "attestation": self.attestation,
            "acceptedAt": self.accepted_at,
        }
        if self.root_version is not None:
            out["rootVersion"] = self.root_version
        if self.audit_log is not None:
            out["auditLog"] = self.audit_log.to_dict()
        if self.attest_key is not None:
            out["attestKey"] = self.attest_key
        return out


def read_state(path: str | Path) -> AcceptedRelease | None:
    """The release recorded in ``path``, or None when the file does not exist yet.

    Raises ``InputError`` (exit 2) naming the file if it cannot be read or is not a state file.
    """
    p = Path(path)
    if not p.exists():
        return None
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read release state ({exc.strerror})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: release state is not JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"{path}: not a prov release state (format {FORMAT})")
    release = raw.get("release")
    if not isinstance(release, int) or isinstance(release, bool) or release < 1:
        raise InputError(f"{path}: release must be an integer from 1")
    fields = [raw.get(k) for k in ("version", "merkleRoot", "attestation")]
    if not all(isinstance(f, str) for f in fields):
        raise InputError(f"{path}: version, merkleRoot and attestation must be strings")
    version, root, attestation = (str(f) for f in fields)
    root_version = raw.get("rootVersion")
    if root_version is not None and (
        not isinstance(root_version, int) or isinstance(root_version, bool) or root_version < 1
    ):
        raise InputError(f"{path}: rootVersion must be an integer from 1")
    log = LogState.from_dict(raw.get("auditLog"), str(path), InputError)
    attest_key = raw.get("attestKey")
    if attest_key is not None and not isinstance(attest_key, str):
        raise InputError(f"{path}: attestKey must be a string (a key id)")
    accepted = str(raw.get("acceptedAt") or "")
    return AcceptedRelease(release, version, root, attestation, accepted, root_version, log, attest_key)


def after_rotation(known: AcceptedRelease | None, attest_keys: Collection[str] | None) -> AcceptedRelease | None:
    """``known`` as the floor :func:`check_fresh` judges a new release against: unchanged, or, when the key that
    signed it (``attest_key``) is not among ``attest_keys`` (the key ids the job's pins trust for ``attest`` now;
    None: nothing pinned, nothing judged), with its release counter reset to 0 (TUF 5.3.11's fast-forward
    recovery: that key was rotated out, so the counter it signed may be a thief's). Its root version and audit-log
    state stay floors. A state written before ``attestKey`` is kept whole."""
    if known is None or known.attest_key is None or attest_keys is None or known.attest_key in attest_keys:
        return known
    return replace(known, release=0, version="", merkle_root="")


def check_fresh(candidate: AcceptedRelease, known: AcceptedRelease | None, min_release: int | None, where: str) -> None:
    """Refuse ``candidate`` if it is older than the newest release the job knows (``known`` or ``min_release``),
    or was verified under an older root of trust than ``known`` records (``root_version``).

    ``where`` names the attestation in messages. Raises ``VerificationError`` (exit 1).
    """
    if min_release is not None and candidate.release < min_release:
        raise VerificationError(
            f"{where}: release {candidate.release} is older than --min-release {min_release} (rollback refused)"
        )
    if known is None:
        return
    if known.root_version is not None and (candidate.root_version or 0) < known.root_version:
        now = f"root v{candidate.root_version}" if candidate.root_version else "no root file"
        raise VerificationError(
            f"{where}: verified under {now}, but this job already trusted root v{known.root_version} "
            "(root rollback refused; pass the newest root files with --root)"
        )
    if candidate.release < known.release:
        raise VerificationError(
            f"{where}: release {candidate.release} ({candidate.version}) is older than release {known.release} "
            f"({known.version}) this job already accepted (rollback refused)"
        )
    same_release = (candidate.version, candidate.merkle_root) == (known.version, known.merkle_root)
    if candidate.release == known.release and not same_release:
        raise VerificationError(
            f"{where}: release {candidate.release} is {candidate.version}, but this job already accepted "
            f"{known.version} as release {known.release}; two releases under one number are refused"
        )


def record(path: str | Path, accepted: AcceptedRelease) -> AcceptedRelease:
    """Write ``accepted`` to the state file ``path`` (atomically), stamped with the time; return what was written."""
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{path}: folder {target.parent} does not exist")
    stamped = AcceptedRelease(
        accepted.release,
        accepted.version,
        accepted.merkle_root,
        accepted.attestation,
        clock.now_iso(),
        accepted.root_version,
        accepted.audit_log,
        accepted.attest_key,
    )
    atomic_write(target, (json.dumps(stamped.to_dict(), indent=2) + "\n").encode())
    return stamped
