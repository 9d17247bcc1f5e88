"""Near copies of records a signed ``prov quarantine`` removed, back in the delta (attack review 7, finding 2).

``lineage.block_quarantined_sources`` matches removed records by content digest, so each
record nudged by one value (one pixel) is new content. Here every added record of the delta
is compared, in the base's reference profile's standardised feature space, with
the records the signed quarantines removed; one closer to a removed record than the closest
two records of the base's sample are to each other (``detectors.tight_cluster.tightest_pair``,
the radius of the ``duplicates`` tight-cluster rule) is a copy of it, and blocks like the
record itself. The removed records are the rows the quarantine kept in the store, each
re-hashed and matched with the digests recomputed from the signed manifests
(``lineage.removed_rows``); a quarantine made before it kept them is read, re-hashed, from where
its signed parent signed its data, and if that data changed or is gone the check cannot be
made, and says so (exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from provenance.gate.context import GateContext
    from provenance.gate.quarantine_history import SignedQuarantine
    from provenance.profiles.reference import ReferenceProfile

# NearCopies.note when there was nothing to compare (no quarantine, no added record), as opposed to
# a comparison that could not be made, which the rule's reason states
NO_QUARANTINE = "no signed quarantine"
NO_ADDITIONS = "no added records"
# Share of the base sample's median first-neighbour distance below which two records are exact feature
# twins: the float rounding of a distance 0 grows with the feature vector (1e-7 at 64 pixels, above 1e-6 at
# 1,000-3,000 features: attack review 8c, F1), so a fixed bound let twins pose as the tightest distinct pair.
TWIN_SHARE = 1e-3
# Share of the bulk's tight-pair distance (``bulk_radius``) below which a base record's nearest neighbour is too
# close to be the bulk's and is left out of the near-copy radius (attack review 8c, F2); as the tight-cluster
# rule's ``TIGHT_FLOOR_SHARE``
BULK_SHARE = 0.7


def near_radius(loo_dist: np.ndarray) -> float:
    """The radius within which an added record is a near copy of a removed one, from the base profile's
    leave-one-out distances ``loo_dist`` (m, K), standardised units; 0.0 without a pair.

    ``tightest_pair`` of the base's distinct records: exact feature twins (below ``TWIN_SHARE`` of the
    median positive first-neighbour distance) left out, and so are records whose nearest neighbour is
    closer than ``BULK_SHARE`` of :func:`bulk_radius`, where the bulk of the base puts its tightest pair, once
    there are enough of them (``TIGHT_ORDER``) to set ``tightest_pair`` on their own. Near-twins planted for a
    minority of the base sat there and put ``tightest_pair`` at their scale (attack review 8c, F2: near-twins for
    ~6% of the base, then one-pixel copies of removed records passed); the bulk radius does not move with
    them, so planting can lower the radius to ``BULK_SHARE`` of it at most. Fewer such records leave the radius
    the plain ``tightest_pair`` (a clean base may hold one such pair: the demo's r1, 1.46 apart with the bulk
    at 2.44), which they cannot set."""
    import numpy as np

    from provenance.detectors.tight_cluster import TIGHT_ORDER, tightest_pair

    first = loo_dist[:, 0] if loo_dist.size else np.zeros(0)
    positive = first[np.isfinite(first) & (first > 0)]
    if not len(positive):
        return 0.0
    twins = TWIN_SHARE * float(np.median(positive))
    distinct = np.where(loo_dist <= twins, 0.0, loo_dist)
    close = BULK_SHARE * bulk_radius(distinct)
    if int(np.count_nonzero((distinct[:, 0] > 0) & (distinct[:, 0] < close))) < TIGHT_ORDER:
        return tightest_pair(distinct)  # too few to set the tight pair (its TIGHT_ORDER-th smallest) on their own
    return tightest_pair(np.where(distinct < close, 0.0, distinct))


def bulk_radius(loo_dist: np.ndarray) -> float:
    """Where the ``TIGHT_ORDER``-th smallest first-neighbour distance of ``loo_dist`` (m, K) falls when the small
    distances follow the bulk of the base (``tight_cluster.expected_order_distance``'s model: the median M of the
    positive first-neighbour distances times ``(2 * order / m) ** (1 / d)``), with the intrinsic dimension d
    estimated (Levina-Bickel) from each record's second to K-th neighbours only: a planted near-twin makes its
    own and its original's first neighbour tiny, which pulls the usual estimate, and so the floor, down; it
    leaves the later neighbours and the median alone (moving M takes near-twins for about a third of the
    base). 0.0 without positive distances or with fewer than 3 neighbours."""
    import numpy as np

    from provenance.detectors.tight_cluster import TIGHT_ORDER

    if loo_dist.ndim != 2 or loo_dist.shape[1] < 3:
        return 0.0
    first = loo_dist[:, 0]
    positive = first[np.isfinite(first) & (first > 0)]
    later = loo_dist[np.isfinite(loo_dist).all(1) & (loo_dist[:, 1] > 0)].astype(np.float64)
    if not len(positive) or not len(later):
        return 0.0
    logs = np.log(later[:, -1:] / later[:, 1:-1]).mean(1)
    dimension = float(np.clip(np.mean(1.0 / np.maximum(logs, 1e-9)), 1.0, 1e3))
    share = min(1.0, 2.0 * TIGHT_ORDER / len(positive))
    return float(np.median(positive)) * share ** (1.0 / dimension)


@dataclass
class NearCopies:
    """Delta records closer than ``radius`` to a record a signed quarantine removed.

    ``digests``/``labels``: the delta records (one per digest); ``details``: for each, which
    removed record it is near and how near; ``radius``: the base's tight-pair distance, in
    standardised units; ``note``: why nothing was compared (None when it was); ``missing``: for each
    quarantine whose signed copy of its removed rows is missing from the store (read from its parent's data
    instead), what to restore (attack review 8b, B4).
    """

    digests: list[bytes]
    labels: list[str]
    details: list[str]
    radius: float
    note: str | None = None
    missing: list[str] = field(default_factory=list)


def near_returned(ctx: GateContext, exact: pa.Array | None) -> NearCopies:
    """The delta's near copies of removed records (see the module), leaving out the rows of the
    new version's lineage ``exact`` selects (records already blocked by their digest).

    Each quarantine is judged on its own (attack review 8, A4). A record it kept (in its own signed manifest)
    never left, and one with the digest of a record it removed is an exact copy, which ``quarantine_returns``
    judges. Any other near copy comes back only by a reviewer's waiver of its combined verdict on the
    candidate, never by a vouching batch: it is new content no quarantine saw, so none kept it, and a trusted
    signature on it says who signed it, not that it is clean (the signer may be the poisoner). A batch
    registered before a ``--source`` quarantine let such copies back as if the quarantine had kept them
    (attack review 8b, B2).

    Nothing is compared when the base has no reference profile (``note`` says so). Raises
    ``VerificationError`` when a removed record's data is not the signed content, and
    ``InputError``/``FeatureError`` when it cannot be read or featurised.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.errors import InputError
    from provenance.gate.quarantine_history import row_keys
    from provenance.gate.quarantine_returns import waived_combined

    steps = ctx.signed_quarantines
    if not steps:
        return NearCopies([], [], [], 0.0, NO_QUARANTINE)
    delta = ctx.diff.delta
    if not len(delta["added"]):  # the common case after a quarantine: read no rows
        return NearCopies([], [], [], 0.0, NO_ADDITIONS)
    rows = ctx.delta_rows
    # added records only: a relabeled record is the base's own content, and a quarantined source's near copy
    # of it says the source copied the base, not that the record came back
    wanted = [i for i, kind in enumerate(rows.kinds) if kind == "added"]
    if not wanted:
        return NearCopies([], [], [], 0.0, NO_ADDITIONS)
    try:
        profile = ctx.base_profile
    except InputError as exc:  # no profile: the detector rules report it; exact digests still block
        return NearCopies([], [], [], 0.0, str(exc))
    # The base's own exact twins (one image under several labels) do not switch this off, as they switch off
    # the duplicates detector's flood test (attack review 8b, B1): a copy of a record a signed quarantine
    # removed is no more likely clean because the base repeats (near_radius leaves the twins out).
    radius = near_radius(profile.loo_dist)
    if radius <= 0:
        return NearCopies(
            [], [], [], radius, "the base's sample has no two distinct records: no tight radius to judge by"
        )
    digests = [rows.digests[i] for i in wanted]
    asked = pa.array(digests, pa.binary(32))
    lineage = ctx.lineage.column("digest")

    def among(mask: pa.Array) -> np.ndarray:  # which of ``digests`` are rows of the lineage ``mask`` selects
        return pc.is_in(asked, value_set=lineage.filter(mask)).to_numpy(zero_copy_only=False)

    judged = among(exact) if exact is not None else np.zeros(len(wanted), dtype=bool)
    asked_rows = row_keys(pa.table({"digest": asked, "label": pa.array([rows.labels[i] for i in wanted], pa.string())}))
    waived = pc.is_in(asked_rows, value_set=waived_combined(ctx)).to_numpy(zero_copy_only=False)
    # featurised once for this check and the detectors (GateContext.delta_features), in the delta's row order
    Z = profile.standardize(ctx.delta_features[wanted])
    best = np.full(len(wanted), np.inf)
    near_what: list[str] = [""] * len(wanted)
    missing: list[str] = []
    for q in steps:
        removed_Z, removed_digests, gone = _removed_features(ctx, profile, q)
        missing += [gone] if gone else []
        if not len(removed_Z):
            continue
        from provenance.features.neighbors import nearest

        # judged against this quarantine alone (attack review 8, A4): a record with the digest of one it removed is
        # an exact copy, which quarantine_returns judges, and one it kept (in its own signed manifest) never left
        own = pa.chunked_array([q.removed, ctx.version_digests(ctx.store.version(q.tag))], pa.binary(32))
        judged_here = pc.is_in(asked, value_set=own).to_numpy(zero_copy_only=False)
        idx, dist = nearest(Z, removed_Z, 1)
        j, d = idx[:, 0], dist[:, 0]
        closer = (j >= 0) & (d < best) & (d < radius) & ~waived & ~judged_here
        best[closer] = d[closer]
        # worded as quarantine_returns names the quarantine of an exact copy
        what = f"source {q.source} from" if q.source is not None else "the records the detectors flagged in"
        for i in np.flatnonzero(closer):  # the copies only: a few, or the rule blocks anyway
            near_what[i] = (
                f"a near copy (distance {d[i]:.3g}, within the base's tight radius {radius:.3g}) of record "
                f"{removed_digests[j[i]].hex()[:12]}, removed by {q.tag}, the signed quarantine of {what} {q.parent}"
            )
    hit = np.isfinite(best) & ~judged
    chosen = np.flatnonzero(hit)
    return NearCopies(
        [digests[i] for i in chosen],
        [rows.labels[wanted[i]] for i in chosen],
        [near_what[i] for i in chosen],
        radius,
        missing=missing,
    )


def _removed_features(
    ctx: GateContext, profile: ReferenceProfile, q: SignedQuarantine
) -> tuple[np.ndarray, list[bytes], str | None]:
    """The standardised features of the records quarantine ``q`` removed, as its parent signed them, one per
    digest, their digests in that order, and what to restore when its signed copy of them is missing
    (``lineage.removed_rows.removed_records``: the rows the quarantine kept in the store, re-hashed, or its
    parent's data)."""
    import numpy as np

    from provenance.lineage.removed_rows import removed_records
    from provenance.profiles.featurize import delta_features
    from provenance.version_facts import verified_statement

    if not len(q.removed):
        return np.zeros((0, profile.dim), np.float32), [], None
    records, missing = removed_records(ctx.store, q.tag, q.parent, q.removed)
    row = ctx.store.version(q.parent)
    kind = verified_statement(ctx.store, row)["predicate"].get("schema", {}).get("kind", row["kind"])
    return profile.standardize(delta_features(profile, kind, records)), records.digests, missing
