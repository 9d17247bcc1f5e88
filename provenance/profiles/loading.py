"""A version's reference profile as detection reads it: the object its signed statement names, checked.

Apart from ``profiles.stage`` (which builds profiles at commit): reading one needs none of the
readers of data a commit brings (trees, sample capture, spilling sorts), and ``prov diff --detect``
and ``prov check`` only read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.errors import InputError, VerificationError
from provenance.profiles.reference import ReferenceProfile
from provenance.version_facts import verified_statement

if TYPE_CHECKING:
    from provenance.store.store import Store


def load_profile(store: Store, tag: str) -> ReferenceProfile:
    """The version's reference profile, checked against the digest its signed statement names.

    Raises ``InputError`` if the version has no profile (with the signed reason),
    ``VerificationError`` if the object differs from the signed digest, or if its within-pseudo-batch arrays
    are not sound (``ReferenceProfile.batch_copies_problem``: signed, but wrong).
    """
    row = store.version(tag)
    stmt = verified_statement(store, row)
    info = stmt["predicate"].get("profile") or {}
    if info.get("status") != "ok":
        reason = info.get("reason", "it was committed without the profile stage")
        # a base committed before such values were refused at commit (profiles.non_finite): the way on, not only why
        todo = (
            f": commit {tag}'s data again with them filled or dropped, as a new version, and check against that"
            if "null, NaN or infinite" in str(reason)
            else ""
        )
        raise InputError(f"version {tag} has no reference profile, so detectors cannot run against it ({reason}){todo}")
    data = store.objects.get(info["sha256"], f"profile of {tag}")
    profile = ReferenceProfile.from_bytes(data)
    problem = profile.batch_copies_problem()
    if problem:
        raise VerificationError(f"profile of {tag} (object {info['sha256'][:16]}): {problem}")
    return profile
