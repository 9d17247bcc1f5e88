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
under the verifier's pins, each parent's Merkle root the signed one; never a writable ``parent`` column) that holds
``MIN_ANCHOR_ROWS`` rows and whose rows since it *up to the base* (the base's less its own, both as signed) are at
most ``MAX_ROWS_SINCE`` times its own (attack review 26d: an empty first version anchored nothing, A26d-1; a
100-row pilot's rates, taken as exact over twenty times its rows, blocked clean releases, A26d-2). The choice reads
the signed chain alone, never the candidate: the candidate is the pull request's, and sized by its rows one big
clean delivery beside a flood made every ancestor "too small" and turned the anchor test off for that flood
(attack review 26h, A26h-1). A candidate that adds more than ``MAX_ROWS_SINCE`` times the anchor's rows is still
judged at the anchor, its ``reason`` "small anchor: ..." (its rates are loose over that many rows). None but the
base: no anchor test, and the statistic's ``reason`` says why; a smaller named anchor is used, its ``reason``
"small anchor: ...". So the ratchet is bounded, not closed: the default anchor moves forward as accepted releases
grow the data, and a flood accepted once counts until the accepted data has about tripled. It must be the base or
one of its signed ancestors.
A chain that does not hold (a parent row deleted or altered by a ``.prov/`` writer), or a named anchor outside it,
fails closed: the rule blocks (warns in ``"warn"`` mode) and says why (for ``.prov/`` altered: restore it, A26d-3);
a base with no signed parent and no named anchor has no anchor test. Both manifests are read as the
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
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from provenance.errors import InputError, VerificationError
from provenance.gate.base import Setting

if TYPE_CHECKING:
    from provenance.profiles.batch_copies import BatchCopies
    from provenance.store import Store

ANCHOR = Setting(
    "copies",
    "anchor",
    {"type": "string", "minLength": 1},
    None,
    "the version whose repetition every copy added since it is judged against, all together (the anchor test); "
    "unset: the oldest version in the base's chain of signed parents holding 1,000 rows and a third of the "
    "base's; the base itself: no anchor test",
    expects="a version name",
)

POLICY, OLDEST = "policy", "oldest signed ancestor"
# an anchor's rates are estimated from its rows and taken as exact over the rows since it: at least this many rows
# (A26d-1: an empty first version counted no copy; A26d-2: a 100-row pilot's rates blocked clean releases) ...
MIN_ANCHOR_ROWS = 1000
# ... and at most this many times its rows added since it up to the base (Good and Turing's rate for records held once
# drifts as the history grows: bench/results/anchor26-*.md), so the default anchor moves forward as the data grows;
# the base's rows, never the candidate's (A26h-1: the candidate is the pull request's, and its size slid the anchor)
MAX_ROWS_SINCE = 2


@dataclass(frozen=True)
class Anchor:
    """The anchor of one check: ``version`` (None: no anchor test, the base is the oldest signed version or the
    one named, or no signed ancestor is large enough), ``chosen_by`` (``"policy"`` or ``"oldest signed
    ancestor"``), ``problem`` (why it cannot be reached: the rule fails closed), ``named`` (the version the policy
    names, if any), ``reason`` (why there is no anchor test, or why the anchor's rates are loose: ``loose``), ``altered``
    (the problem is ``.prov/``'s: restore it, A26d-3; else the policy names an anchor outside the chain)."""

    version: str | None
    chosen_by: str
    problem: str | None = None
    named: str | None = None
    reason: str | None = None
    altered: bool = False  # the problem is in .prov/ (a chain or a manifest that does not verify), not the policy


def large_enough(rows: int, base_rows: int) -> bool:
    """Whether a version of ``rows`` rows can anchor a check against a base of ``base_rows`` (both signed counts):
    ``MIN_ANCHOR_ROWS`` rows at least, and at most ``MAX_ROWS_SINCE`` times its rows added since it up to the base."""
    return rows >= MIN_ANCHOR_ROWS and base_rows - rows <= MAX_ROWS_SINCE * rows


def signed_rows(row: dict, stmt: dict) -> int:
    """A version's record count as its statement signed it (the ``records`` column only for a statement without)."""
    return int(stmt["predicate"].get("records", row["records"]))


def loose(tag: str, rows: int, candidate_rows: int | None) -> str | None:
    """``"small anchor: ..."`` when ``tag``'s ``rows`` are under ``MIN_ANCHOR_ROWS`` or under a third of the
    ``candidate_rows`` its rates are taken as exact over (None: not known), else None: what the statistic says
    about an anchor whose rates are loose (the test runs at it all the same)."""
    since = max((candidate_rows or 0) - rows, 0)
    if rows >= MIN_ANCHOR_ROWS and since <= MAX_ROWS_SINCE * rows:
        return None
    return (
        f"small anchor: {tag} holds {rows:,} rows, and its rates, taken as exact over the {since:,} rows since it, "
        f"are loose (the default anchor holds at least {MIN_ANCHOR_ROWS:,} rows and a third of the base's)"
    )


def find_anchor(store: Store, base: str, named: str | None, candidate_rows: int | None = None) -> Anchor:
    """The anchor of a check against ``base`` (module docstring): the policy's ``named`` version, which must be
    ``base`` or a signed ancestor of it, else the oldest signed version ``large_enough`` for the base's signed rows
    (none, or only the base: no anchor test, and a ``reason``); a ``problem`` when the chain does not hold or
    ``named`` is not in it. ``candidate_rows`` (the candidate's) chooses nothing: it only words the ``reason`` of an
    anchor whose rates are loose over the rows since it (``loose``)."""
    chosen_by = POLICY if named is not None else OLDEST
    try:
        ancestry = signed_ancestry(store, base)
    except (InputError, VerificationError) as exc:
        return Anchor(
            named,
            chosen_by,
            f"the chain of signed parents of {base} does not hold ({exc}), so the anchor cannot be found",
            named,
            altered=True,
        )
    rows = {row["tag"]: signed_rows(row, stmt) for row, stmt in ancestry}
    chain = [row["tag"] for row, _ in ancestry]
    if named is None:
        if len(chain) == 1:  # the base is the oldest signed version: no anchor test, as ever
            return Anchor(None, OLDEST)
        # A26h-1: by the base's signed rows, which the candidate's author cannot move
        first = next((tag for tag in reversed(chain) if large_enough(rows[tag], rows[base])), None)
        if first is None or first == base:
            return Anchor(
                None,
                OLDEST,
                reason=f"no signed ancestor of {base} holds {MIN_ANCHOR_ROWS:,} rows and a third of the base's "
                f"{rows[base]:,}: only the test against the base applies",
            )
        return Anchor(first, OLDEST, reason=loose(first, rows[first], candidate_rows))
    if named not in chain:
        return Anchor(
            named,
            POLICY,
            f"copies.anchor names {named!r}, which is not {base} or one of its signed ancestors "
            f"({', '.join(chain[1:6]) or 'none'}{', ...' if len(chain) > 6 else ''})",
            named,
        )
    if named == base:
        return Anchor(None, POLICY, None, named)
    return Anchor(named, POLICY, None, named, loose(named, rows[named], candidate_rows))


def signed_ancestry(store: Store, tag: str) -> list:
    """``version_facts.signed_ancestry`` (imported late: the gate's modules load before the store's)."""
    from provenance.version_facts import signed_ancestry as ancestry

    return ancestry(store, tag)


class SinceAnchor(NamedTuple):
    """What ``copies_since`` counts, in the order of ``gate.copies.Copies``'s fields (``Copies(*since)`` judges it;
    this module does not import that one, which imports it)."""

    extra: np.ndarray
    held: np.ndarray
    rows_added: int
    anchor_rows: int
    repeated: np.ndarray
    clumping: BatchCopies | None


def copies_since(store: Store, anchor: str, new: str) -> SinceAnchor:
    """The copies ``new`` holds of records ``anchor`` holds, beyond ``anchor``'s rows of each, as the copies rule
    judges them (``gate.copies.Copies(*copies_since(...))``): the rows added since ``anchor`` are its new records
    (one row each) and those copies; ``anchor``'s repetition and file-order clumping are the rates. Both manifests
    are hashed against their signed digests as they stream; raises ``VerificationError`` when a statement or
    manifest does not verify."""
    from provenance.delta.merge import merge_manifests
    from provenance.delta.signed_objects import ManifestObject
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
    return SinceAnchor(
        extra[kept].astype(np.int64),
        held[kept].astype(np.int64),
        changes.count("added") + int(extra[kept].sum()),
        changes.rows["base"],
        changes.array("repeated_base", "rows").astype(np.int64),
        version_clumping(store, anchor),
    )
