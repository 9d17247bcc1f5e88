"""The copies rule's anchor test: the copies since an anchor version, judged together (issue 14, the ratchet).

``copies.max_copies_rate`` judges a candidate's copies against the base's repetition, so copies an earlier
release accepted (each flood one under every quantile) raise the next base's rates, and release after release
the allowance grows with what it let in (attack review 12, C12-1; 22b, H2). The anchor test judges, besides,
every copy added since an anchor version ``A`` as one delivery: the copies of records ``A`` holds, in the
candidate's manifest beyond ``A``'s rows of each, against ``A``'s own rates and file-order clumping, on the rows
added since ``A`` (``Copies`` with the same classes, quantiles and slack). A flood accepted in release k still
counts in release k+1's test, and ``A``'s rates hold no copy let in since.

Only copies of records ``A`` holds are counted. Copies of records new since ``A`` (a record delivered, then
delivered again) are left to the test against the base: their clean count grows faster than the rows added
(Good and Turing's rate for records held once rises as records added since ``A`` become held once), so counted
at ``A``'s rate they blocked clean random batches of DoctorAUS once the rows since ``A`` passed 1.5 times
``A``'s (bench/results/anchor26-*.md), where a fixed rate per record of ``A`` stays right however long the
history. What this leaves open: a ratchet on records added since ``A`` (a flood of copies of a record new in
release k, accepted, raises the next base's rates for its class); moving the anchor forward moves it too.

Which version is ``A``: the policy's ``copies.anchor`` (a version name: the policy is the verifier's), else the
oldest version in the base's chain of signed parents (``version_facts.signed_ancestry``: each signature verified
under the verifier's pins, each parent's Merkle root the signed one; never a writable ``parent`` column). It must
be the base or one of its signed ancestors. A chain that does not hold (a parent row deleted or altered by a
``.prov/`` writer), or a named anchor outside it, fails closed: the rule blocks (warns in ``"warn"`` mode) and
says why; a base with no signed parent and no named anchor has no anchor test. Both manifests are read as the
diff reads them: hashed against their signed digests as they stream (``delta.signed_objects.ManifestObject``).
A stolen commit key can sign a chain (or re-sign the base without a parent, which ends the chain at the base):
the anchor is then the key holder's choice, as the base's content is.

The test reads ``A``'s manifest and the candidate's once more (a merge of the two, as the diff merges the base
and the candidate) and counts ``A``'s clumping, only when the release adds at least ``copies.min_copies``
copies: a check of a delta without copies stays O(change). So a release of fewer copies than that is never
blocked by the copies an earlier one accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from provenance.errors import InputError, VerificationError
from provenance.gate.base import Setting

if TYPE_CHECKING:
    from provenance.gate.copies import Copies
    from provenance.store import Store

ANCHOR = Setting(
    "copies",
    "anchor",
    {"type": "string", "minLength": 1},
    None,
    "the version whose repetition every copy added since it is judged against, all together (the anchor test); "
    "unset: the oldest version in the base's chain of signed parents; the base itself: no anchor test",
    expects="a version name",
)

POLICY, OLDEST = "policy", "oldest signed ancestor"


@dataclass(frozen=True)
class Anchor:
    """The anchor of one check: ``version`` (None: no anchor test, the base is the oldest signed version or the
    one named), ``chosen_by`` (``"policy"`` or ``"oldest signed ancestor"``), ``problem`` (why it cannot be
    reached: the rule fails closed), ``named`` (the version the policy names, if any)."""

    version: str | None
    chosen_by: str
    problem: str | None = None
    named: str | None = None


def find_anchor(store: Store, base: str, named: str | None) -> Anchor:
    """The anchor of a check against ``base`` (module docstring): the policy's ``named`` version, which must be
    ``base`` or a signed ancestor of it, else the oldest signed ancestor; a ``problem`` when the chain does not
    hold or ``named`` is not in it."""
    chosen_by = POLICY if named is not None else OLDEST
    try:
        chain = [row["tag"] for row, _ in signed_ancestry(store, base)]
    except (InputError, VerificationError) as exc:
        return Anchor(
            named,
            chosen_by,
            f"the chain of signed parents of {base} does not hold ({exc}), so the anchor cannot be found",
            named,
        )
    if named is None:
        return Anchor(None if chain[-1] == base else chain[-1], OLDEST)
    if named not in chain:
        return Anchor(
            named,
            POLICY,
            f"copies.anchor names {named!r}, which is not {base} or one of its signed ancestors "
            f"({', '.join(chain[1:6]) or 'none'}{', ...' if len(chain) > 6 else ''})",
            named,
        )
    return Anchor(None if named == base else named, POLICY, None, named)


def signed_ancestry(store: Store, tag: str) -> list:
    """``version_facts.signed_ancestry`` (imported late: the gate's modules load before the store's)."""
    from provenance.version_facts import signed_ancestry as ancestry

    return ancestry(store, tag)


def copies_since(store: Store, anchor: str, new: str) -> Copies:
    """The copies ``new`` holds of records ``anchor`` holds, beyond ``anchor``'s rows of each, as the copies rule
    judges them (``gate.copies.Copies``): the rows added since ``anchor`` are its new records (one row each) and
    those copies; ``anchor``'s repetition and file-order clumping are the rates. Both manifests are hashed against
    their signed digests as they stream; raises ``VerificationError`` when a statement or manifest does not
    verify."""
    from provenance.delta.merge import merge_manifests
    from provenance.delta.signed_objects import ManifestObject
    from provenance.gate.copies import Copies
    from provenance.profiles.base_clumping import version_clumping
    from provenance.version_facts import verified_statement

    rows = [store.version(tag) for tag in (anchor, new)]
    for row in rows:
        verified_statement(store, row)  # each row's manifest object is the one its version signed
    sides = [ManifestObject(store, row) for row in rows]
    try:
        changes = merge_manifests(sides[0].batches(), sides[1].batches(), sides[0].name, sides[1].name, 1)
    finally:
        for side in sides:
            side.close()
    for which, row in zip(("base", "new"), rows, strict=True):
        if changes.rows[which] != int(row["records"]):
            raise VerificationError(
                f"manifest of {row['tag']}: {changes.rows[which]} rows, not the {row['records']} signed"
            )
    held = changes.array("duplicates", "base_rows")
    extra = changes.array("duplicates", "rows")
    kept = held > 0  # copies of records new since the anchor: the test against the base's (module docstring)
    return Copies(
        extra[kept].astype(np.int64),
        held[kept].astype(np.int64),
        changes.count("added") + int(extra[kept].sum()),
        changes.rows["base"],
        changes.array("repeated_base", "rows").astype(np.int64),
        version_clumping(store, anchor),
    )
