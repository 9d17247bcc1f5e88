"""The verifier's side of the keyed profile sample (attack review 10, G10-1).

A commit keys its profile sample by a salt drawn by the committer's deterministic signature
(``profiles.sample``) and signs the signature, its parent root and the salt into the profile
facts. Only a test used to check them. ``prov verify V`` and ``prov check`` (through
``version_verify.verify_version``) now check the salt's signature under the committer's key as
the verifier's pins give it, whenever a version is verified; ``prov verify V`` also draws the sample
again from the manifest under that salt and compares it with the profile's. A version committed
before samples were salted signs no salt facts: its sample is reported ``not salted`` (it was the
smallest digests of each class, which a source could grind into: attack review 9, G1).
"""

from __future__ import annotations

from typing import Literal

from provenance.errors import VerificationError
from provenance.manifest import Manifest
from provenance.profiles.sample import sample_manifest, verified_salt
from provenance.store.store import Store
from provenance.trust.pins import pins_of
from provenance.trust.roles import COMMIT

SALT_FACTS = ("sampleSalt", "sampleSaltSignature", "sampleSaltParent")
SampleCheck = Literal["ok", "not recomputed", "not salted", "no profile"]


def signed_salt(store: Store, row: dict, predicate: dict) -> bytes | None:
    """The salt version ``row``'s signed profile facts (``predicate["profile"]``) name, its signature
    checked under the committer's key (``row["keyid"]``, which the caller's ``verified_statement``
    found among the keys the pins trust for ``commit``). None when the version has no profile or
    signs no salt facts (committed before samples were salted).

    Raises:
        VerificationError: (exit 1) naming the version: a salt signature that does not verify under
            the committer's key, over another parent or tag, or a salt that is not its hash.
    """
    facts = predicate.get("profile") or {}
    if not isinstance(facts, dict) or facts.get("status") != "ok":
        return None
    if all(facts.get(k) is None for k in SALT_FACTS):
        return None
    key = pins_of(store).role_keys(COMMIT, store).keys.get(row["keyid"])
    if key is None:  # verified_statement let it sign, so this is a key the pins no longer hold
        raise VerificationError(
            f"version {row['tag']}: its committer's key {row['keyid'][:16]} is not among the keys you pinned, "
            "so the profile sample's salt cannot be checked"
        )
    return verified_salt(key, facts, row["tag"])


def check_sample(store: Store, row: dict, predicate: dict, manifest: Manifest, recompute: bool) -> SampleCheck:
    """Check version ``row``'s profile sample: its salt always (:func:`signed_salt`), and with
    ``recompute`` the sample itself, drawn again from the verified ``manifest`` under that salt (per
    class the profile's ``max_per_class`` records with the smallest keys, as many in all as the
    profile keeps) and compared row by row (digest and label) with the profile's.

    Returns ``"ok"`` (recomputed and equal), ``"not recomputed"`` (salt checked only), ``"not
    salted"`` or ``"no profile"``. Raises ``VerificationError`` (exit 1) naming the version when the
    salt does not verify or the profile's sample is not the one its salt draws.
    """
    facts = predicate.get("profile") or {}
    if not isinstance(facts, dict) or facts.get("status") != "ok":
        return "no profile"
    salt = signed_salt(store, row, predicate)
    if salt is None:
        return "not salted"
    if not recompute:
        return "not recomputed"
    from provenance.profiles.reference import ReferenceProfile

    tag = row["tag"]
    profile = ReferenceProfile.from_bytes(store.objects.get(facts["sha256"], f"profile of {tag}"))
    kept = sorted((bytes(d), profile.classes[int(c)]) for d, c in zip(profile.sample_digests, profile.sample_labels))
    table = sample_manifest(manifest, profile.max_per_class, len(kept), salt).table
    drawn = sorted(zip(table.column("digest").to_pylist(), table.column("label").to_pylist()))
    if kept != drawn:
        differ = len(set(kept) ^ set(drawn))
        raise VerificationError(
            f"version {tag}: its profile's sample is not the one its signed salt draws from its manifest "
            f"({differ} records differ of {len(kept)}); the detectors would judge deltas against records "
            "the committer chose"
        )
    return "ok"
