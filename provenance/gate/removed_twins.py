"""Relabels paired across a removal: an added record that is a near twin of a removed record of another label.

A relabel keeps the record's digest, so the relabel rules saw none when the record was removed and delivered again
changed a little under another label: the team's penguin removed and re-added 100 g heavier (2.2% of its mass) as
another species by the vendor in the same release (attack review 33c, A33c-3), or removed in one release and
delivered a gram apart under another label in the next, where the check's base no longer holds it (attack review
33a, A33a-1). Here each added record of the delta is compared with the records removed: those of the base the
candidate lacks, and those of the base's last ``ANCESTORS`` signed ancestors that neither the base nor the candidate
holds. An added record under another label is the removed record relabelled (:func:`near_twins`) when it is

- *a near copy*: within ``copy radius`` of it in the base profile's standardised space, the larger of the copy
  evidence's radius (``detectors.extreme.copy_search_radius``) and half the distance of the tightest pair of records
  of two classes the base's sample holds (no honest base record sits that near another class's); or the removed
  record is the added record's nearest *rival* (every removed record and every base sample record kept) and lies
  within ``NEAR_SHARE`` (0.1) of the removed record's spacing (its nearest other record in its version's sample); or
- *a ranked edit*: equal to it in all but ``EDITED_COLUMNS`` feature columns (and in at least ``SAME_COLUMNS``, more
  than differ: ``gate.replaced_content``'s edit), each changed column moved by at most ``EDIT_SHARE`` (5%) of its
  value or ``EDIT_SCALES`` (half) of its column's scale, the larger, where the removed record is the added record's
  nearest rival (attack review 34b, A34b-3: a 6% swap in one column, 0.26 of its scale), whatever other rivals it also
  edits (a same-label decoy planted within half a column's scale no longer unpairs it: A35a-2). Edits pair on a base
  where at most ``EDIT_RATE`` (1%) of its sample, or ``EDIT_FLOOR`` (5) records, makes such an edit of a record of
  another class (:func:`two_class_edit_share`): rounded readings of a few columns make them honestly (Seattle's
  weather: 2.3-4.1% of the sample), and there only near copies pair. A share, not a pair: two records a vendor plants
  40 g apart under two labels no longer switch edits off (A34b-2).

On the gate bench's clean deliveries, with every record of the base's sample taken as removed (the worst case), no
added record pairs (bench/results/fix35a-removed-twins.md). A pair counts against the source that added the record
whatever its lineage status (signed, ``prov add --unsigned``, or none: A34b-4): as a relabel of another's record
when that source did not deliver the removed one, else in its own relabel rate (``relabels.max_relabel_rate_per_
source``, ``RelabelsAcrossRemovals.own``: A34b-5).

The removed records' features are read from signed profiles only (the base's and each ancestor's, ``load_profile``:
re-hashed against the digest each version signed), their samples' records: a removed record its version's profile
did not sample (a class past the sample's size) is not looked up. Only likely pairs are measured (a k-d tree of the
rivals: each added record's nearest and those within the copy radius; no column-group matches since A35a-6):
100,000 added records against 4,000 removed cost 5.9 s of CPU (16 features; a k-d tree's nearest query of the same records,
4.2 s), and at most ``ANCESTORS`` profiles are read.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from provenance.gate.replaced_content import EDITED_COLUMNS, SAME_COLUMNS

if TYPE_CHECKING:
    from provenance.gate.context import GateContext
    from provenance.profiles.reference import ReferenceProfile

ANCESTORS = 3  # signed versions before the base whose removed records are looked up (a profile read each)
EDIT_SHARE = 0.05  # an edit's changed column moves by at most this share of its value ...
EDIT_SCALES = 0.5  # ... or this many of the column's scale, where that is larger (A34b-3's 6% swap: 0.26)
TIGHTEST_SHARE = 0.5  # of the base sample's tightest pair of two classes: a floor of the near-copy radius
NEAR_SHARE = 0.1  # a ranked near copy lies within this share of the removed record's spacing (fix35a's bench)
EDIT_RATE = 0.01  # edits are evidence where at most this share of the base's sample makes a two-class edit ...
EDIT_FLOOR = (
    5  # ... or this many of its records, where more (the bench: 0% on 3 datasets; Seattle 2.3-4.1%, 10+ records)
)


@dataclass(frozen=True)
class RemovedTwin:
    """The removed record an added record is paired with: its ``digest``, ``label``, the version that last held it
    (``held_in``: the check's base, or one of its signed ancestors), ``how`` (``near copy`` or ``edit``) and the
    standardised ``distance`` between the two."""

    digest: bytes
    label: str
    held_in: str
    how: str
    distance: float

    def as_json(self) -> dict:
        """``{"base_digest": hex, "base_label", "held_in", "how", "distance"}`` (schemas/check.schema.json)."""
        return {
            "base_digest": self.digest.hex(),
            "base_label": self.label,
            "held_in": self.held_in,
            "how": self.how,
            "distance": round(self.distance, 6),
        }


@dataclass(frozen=True)
class RemovedPool:
    """Removed records with features: raw ``X`` (m, d), ``labels`` (m,), ``digests`` (m,), ``held_in`` (m,) and
    ``spacing`` (m,): each one's distance to the nearest other record of its version's profile sample (standardised,
    ``ReferenceProfile.loo_dist``; None: unknown, so no ranked near copy pairs)."""

    X: np.ndarray
    labels: list[str]
    digests: list[bytes]
    held_in: list[str]
    spacing: np.ndarray | None = None


def copy_radius(profile: ReferenceProfile) -> float:
    """The near-copy radius (standardised units): the larger of the copy evidence's search radius and
    ``TIGHTEST_SHARE`` of the distance of the base sample's tightest pair of records of two classes; 0.0 when the
    base has one class."""
    from provenance.detectors.extreme import copy_search_radius

    across = np.asarray(profile.other_class_nn_dist, dtype=np.float64)
    across = across[np.isfinite(across)]
    tightest = float(across.min()) if across.size else 0.0
    return max(copy_search_radius(profile) or 0.0, TIGHTEST_SHARE * tightest)


def near_twins(
    profile: ReferenceProfile,
    X: np.ndarray,
    labels: list[str],
    pool: RemovedPool,
    same_label: bool = False,
    counted: np.ndarray | None = None,
) -> list[tuple[int, str, float]]:
    """For each added record (raw features ``X`` (n, d), ``labels`` (n,)), its removed twin under another label
    (``same_label``: under the same label, ``gate.twin_owners``' question). ``counted``: (sample,) bool, the base
    sample's records whose two-class edits may switch edits off (:func:`two_class_edit_share`; None: all).

    Pairs are ranked against every record the pairing could have chosen (:func:`_rivals`: the removed records and the
    base sample's records kept), so no fact of the base's data switches a kind of pairing off (attack review 34b,
    A34b-2, A34b-7): a *near copy* is within :func:`copy_radius` of the removed record, or the added record's nearest
    rival and within ``NEAR_SHARE`` of the removed record's spacing; an *edit* (:func:`_pair_edits`) of the added
    record's nearest rival (however many other rivals it edits: A35a-2). Only likely pairs are measured
    (:func:`_candidates`: a k-d tree's nearest and ball queries), so the cost grows with the records, not with
    added x removed (a binary column no longer makes it quadratic: A35a-6).

    Returns:
        (n,) of ``(index into pool, how, distance)``: ``how`` is ``near copy`` or ``edit`` (the module docstring),
        the nearest such removed record; ``(-1, "", inf)`` where none is.
    """
    out: list[tuple[int, str, float]] = [(-1, "", float("inf"))] * len(X)
    if not len(X) or not len(pool.X):
        return out
    from scipy.spatial import cKDTree

    radius = copy_radius(profile)
    A = np.asarray(X, dtype=np.float32).astype(np.float64) + 0.0  # + 0.0: -0.0 keys as 0.0
    B = _rivals(profile, pool)  # the pool's records first, then the base sample's records kept
    ZA, ZB = profile.standardize(A).astype(np.float64), profile.standardize(B).astype(np.float64)
    removed = len(pool.X)
    tree = cKDTree(ZB)
    nearest = np.asarray(tree.query(ZA, k=1)[1], dtype=np.int64).reshape(len(A))
    ia, jb = _candidates(A, B, ZA, tree, nearest, radius)
    edit = _ranked_edits(A, B, ia, jb, nearest, profile.scale)
    spacing = np.zeros(removed) if pool.spacing is None else np.asarray(pool.spacing, dtype=np.float64)
    keep = jb < removed
    keep[keep] = (
        np.asarray(labels, dtype=object)[ia[keep]] == np.asarray(pool.labels, dtype=object)[jb[keep]]
    ) == same_label
    ia, jb, edit = ia[keep], jb[keep], edit[keep]
    dist = np.sqrt(((ZA[ia] - ZB[jb]) ** 2).sum(axis=1))
    near = (dist <= radius) | ((nearest[ia] == jb) & (dist <= NEAR_SHARE * spacing[jb]))
    edit = ~near & edit
    if edit.any() and not _edits_tell(profile, counted):
        edit[:] = False
    paired = np.flatnonzero(near | edit)
    for k in paired[np.lexsort((dist[paired], ia[paired]))].tolist():  # each added record's nearest twin first
        i = int(ia[k])
        if out[i][0] < 0:
            out[i] = (int(jb[k]), "near copy" if near[k] else "edit", float(dist[k]))
    return out


def _candidates(
    A: np.ndarray, B: np.ndarray, ZA: np.ndarray, tree, nearest: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (added, rival) index pairs that may be twins: each added record and its ``nearest`` rival (the only
    rival a ranked edit or a ranked near copy pairs with), and those within ``radius`` in standardised space
    (``tree``: a k-d tree of the rivals' ``ZB``; a ball query). No pair is matched on a column group: a binary column
    made that added x rivals / 2 (attack review 35a, A35a-6), and an edit of any rival but the nearest pairs with
    nothing since fix35a2 (A35a-2). ``B`` is unused (kept for the callers' shape)."""
    ia, jb = [np.arange(len(A), dtype=np.int64)], [np.asarray(nearest, dtype=np.int64).reshape(len(A))]
    if radius > 0:
        hits = tree.query_ball_point(ZA, r=radius)
        counts = np.array([len(h) for h in hits], dtype=np.int64)
        ia.append(np.repeat(np.arange(len(A)), counts))
        jb.append(np.concatenate([np.asarray(h, np.int64) for h in hits]) if counts.sum() else np.zeros(0, np.int64))
    pairs = np.unique(np.column_stack([np.concatenate(ia), np.concatenate(jb)]), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _rivals(profile: ReferenceProfile, pool: RemovedPool) -> np.ndarray:
    """(m + k, d) raw features of every record an added record could be paired with: the pool's removed records,
    then the base sample's records the pool does not hold (kept, or sampled nowhere else)."""
    removed = set(pool.digests)
    digests = np.asarray(profile.sample_digests, dtype=np.uint8)
    kept = [i for i in range(len(digests)) if bytes(digests[i]) not in removed]
    S = np.asarray(profile.sample_X, dtype=np.float32)[np.asarray(kept, dtype=np.int64)]
    return np.vstack([np.asarray(pool.X, dtype=np.float32), S]).astype(np.float64) + 0.0


def _ranked_edits(
    A: np.ndarray, B: np.ndarray, ia: np.ndarray, jb: np.ndarray, nearest: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """(p,) bool: candidate pair ``(A[ia[k]], B[jb[k]])`` is a ranked edit: an edit (:func:`_pair_edits`, each
    changed column within ``EDIT_SHARE`` of its value or ``EDIT_SCALES`` of its column's ``scale``, the larger) of
    the added record's nearest rival (``nearest``), whatever other rivals it edits (A35a-2)."""
    bound = np.maximum(EDIT_SHARE * np.abs(B[jb]), EDIT_SCALES * np.asarray(scale, dtype=np.float64))
    return _pair_edits(A[ia], B[jb], bound) & (nearest[ia] == jb)


def _edits_tell(profile: ReferenceProfile, counted: np.ndarray | None = None) -> bool:
    """Whether an edit is evidence on this base: at most ``EDIT_RATE`` of its sample's records make a ranked edit
    (:func:`_ranked_edits`) of another sample record of another class. Rounded readings of a few columns (Seattle's
    weather: rain and sun days 0.5 degrees apart, equal in the rest) make such pairs honestly, and there only near
    copies pair. A share, not one pair: a delivery that plants a two-class edit pair no longer switches edits off
    (attack review 34b, A34b-2); it takes more than ``EDIT_RATE`` of the sample's records and ``EDIT_FLOOR``."""
    share = two_class_edit_share(profile, counted)
    return share <= max(EDIT_RATE, EDIT_FLOOR / max(1, len(profile.sample_X)))


def two_class_edit_share(profile: ReferenceProfile, counted: np.ndarray | None = None) -> float:
    """The share (0-1, of the whole sample) of ``profile``'s sample records that make a ranked edit
    (:func:`_ranked_edits`, leaving the record itself out) of a sample record of another class, both among
    ``counted`` ((sample,) bool; None: all): the records the adding source did not deliver, so its own planted pairs
    never switch edits off (attack review 35a, A35a-3). 0.0 for a sample of fewer than 2 records."""
    from scipy.spatial import cKDTree

    S = np.asarray(profile.sample_X, dtype=np.float32).astype(np.float64) + 0.0
    if len(S) < 2:
        return 0.0
    Z = profile.standardize(S).astype(np.float64)
    tree = cKDTree(Z)
    idx = np.asarray(tree.query(Z, k=2)[1], dtype=np.int64)
    own = np.arange(len(S))
    nearest = np.where(idx[:, 0] == own, idx[:, 1], idx[:, 0])  # leave one out (a duplicate may come first)
    ia, jb = _candidates(S, S, Z, tree, nearest, 0.0)
    other = ia != jb
    ia, jb = ia[other], jb[other]
    edit = _ranked_edits(S, S, ia, jb, nearest, profile.scale)
    labels = np.asarray(profile.sample_labels, dtype=np.int64)
    two_class = edit & (labels[ia] != labels[jb])
    if counted is not None:
        two_class &= np.asarray(counted, dtype=bool)[ia] & np.asarray(counted, dtype=bool)[jb]
    return len(np.unique(ia[two_class])) / len(S)


def _pair_edits(A: np.ndarray, B: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """(p,) bool: ``A[k]`` is an edit of ``B[k]`` (raw features, row for row): equal in all but ``EDITED_COLUMNS``
    columns, in at least ``SAME_COLUMNS`` and more than differ, each changed column within ``bound[k]``."""
    differing = ~np.isclose(A, B, rtol=1e-6, atol=0.0)
    n_diff = differing.sum(axis=1)
    same = A.shape[1] - n_diff
    small = np.where(differing, np.abs(A - B) <= bound, True).all(axis=1)
    return (n_diff <= EDITED_COLUMNS) & (same >= SAME_COLUMNS) & (same > n_diff) & small


def removed_pool(ctx: GateContext) -> RemovedPool:
    """The sampled records of the base's and its last ``ANCESTORS`` signed ancestors' profiles that the candidate
    lacks (``gate.removals.lacked``), each once (the newest version holding it), with raw features comparable to the
    base profile's (an ancestor whose profile has another featuriser or width, or none, adds nothing). Raises
    ``VerificationError`` when the ancestry or a profile does not verify (the gate fails closed)."""
    import pyarrow as pa

    from provenance.errors import InputError
    from provenance.gate.removals import lacked
    from provenance.profiles.loading import load_profile
    from provenance.version_facts import signed_ancestry

    base = ctx.base_profile
    profiles: list[tuple[str, ReferenceProfile]] = [(ctx.base, base)]
    for row, _ in signed_ancestry(ctx.store, ctx.base, ANCESTORS + 1)[1:]:
        try:
            older = load_profile(ctx.store, str(row["tag"]))
        except InputError:  # committed without a profile: nothing of it to compare
            continue
        if older.featurizer == base.featurizer and older.dim == base.dim:
            profiles.append((str(row["tag"]), older))
    seen: set[bytes] = set()
    X, labels, digests, held, spacing = [], [], [], [], []
    for tag, profile in profiles:
        sampled = [bytes(d) for d in np.asarray(profile.sample_digests, dtype=np.uint8)]
        if not sampled:
            continue
        gone = lacked(ctx, pa.array(sampled, pa.binary(32))).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(gone).tolist():
            if sampled[i] in seen:
                continue
            seen.add(sampled[i])
            X.append(np.asarray(profile.sample_X[i], dtype=np.float32))
            labels.append(str(profile.classes[int(profile.sample_labels[i])]))
            digests.append(sampled[i])
            held.append(tag)
            spacing.append(float(np.asarray(profile.loo_dist)[i, 0]) if np.size(profile.loo_dist) else 0.0)
    matrix = np.vstack(X) if X else np.zeros((0, base.dim), dtype=np.float32)
    return RemovedPool(matrix, labels, digests, held, np.asarray(spacing, dtype=np.float64))


@dataclass
class RelabelsAcrossRemovals:
    """The candidate's added records that pair with a removed record of another label, by the source that added
    them (whatever their lineage status: signed, ``prov add --unsigned``, or none; attack review 34b, A34b-4).

    Attributes:
        rows: row of the candidate's lineage -> (digest, label) of each such added record whose adding source is
            not among the removed record's owners (a relabel of another's record).
        twins: added digest -> its removed twin.
        owners: removed digest -> the sources the lineage of the version that held it gives it to (empty: none).
        signed_by: row -> the source that added the record (the candidate's signed lineage; "" for none).
        own: row -> the source, for an added record paired with a removed record that source owns (a relabel of its
            own record: ``relabels.max_relabel_rate_per_source`` counts it, A34b-5).
    """

    rows: dict[int, tuple[bytes, str]]
    twins: dict[bytes, RemovedTwin]
    owners: dict[bytes, frozenset[str]]
    signed_by: dict[int, str] = field(default_factory=dict)
    own: dict[int, str] = field(default_factory=dict)

    def own_by_source(self) -> dict[str, int]:
        """source -> how many of its own removed records it re-added under another label (:attr:`own`)."""
        from collections import Counter

        return dict(Counter(self.own.values()))

    def detail(self, digest: bytes) -> str:
        """``paired across a removal: a near copy (d=0.001) of base record 1a2b3c4d5e6f, label 'Chinstrap', last
        held in v2; that version's lineage gives it to no source`` (or ``to source 'clinic'``; ``an edit`` for an edit)."""
        from provenance.escaping import visible

        twin = self.twins[digest]
        owners = sorted(self.owners.get(twin.digest, frozenset()))
        given = f"source {', '.join(repr(s) for s in owners)}" if owners else "no source"
        how = "a near copy" if twin.how == "near copy" else "an edit"
        return (
            f"paired across a removal: {how} (d={twin.distance:.3g}) of base record {twin.digest.hex()[:12]}, label "
            f"{visible(twin.label)!r}, last held in {visible(twin.held_in)}; that version's lineage gives it to {given}"
        )


def _pairs_by_source(
    ctx: GateContext, base: ReferenceProfile, signed, features: np.ndarray, added: list[int], pool: RemovedPool
) -> list[tuple[int, str, float]]:
    """:func:`near_twins` of the delta's ``added`` rows, one call per adding source (the candidate's ``signed``
    lineage, its first row for the digest; "" for none), each counting two-class edits only among the base sample's
    records whose base-lineage rows (any status) never name that source, a record on no row counting as source "":
    its own planted pairs never switch edits off (A35a-3). Returns ``near_twins``' tuples in ``added`` order."""
    rows = ctx.delta_rows
    by_digest: dict[bytes, str] = {}
    for digest, source in zip(signed.column("digest").to_pylist(), signed.column("source").to_pylist()):
        by_digest.setdefault(digest, source or "")
    sampled = [bytes(d) for d in np.asarray(base.sample_digests, dtype=np.uint8)]
    named: dict[bytes, set[str]] = {d: set() for d in sampled}
    lineage = ctx.base_lineage
    for digest, source in zip(lineage.column("digest").to_pylist(), lineage.column("source").to_pylist()):
        if digest in named:
            named[digest].add(source or "")
    sources = [by_digest.get(rows.digests[i], "") for i in added]
    out: list[tuple[int, str, float]] = [(-1, "", float("inf"))] * len(added)
    for source in sorted(set(sources)):
        mine = [k for k, s in enumerate(sources) if s == source]
        counted = np.array([source not in (named[d] or {""}) for d in sampled], dtype=bool)
        found = near_twins(
            base, features[[added[k] for k in mine]], [rows.labels[added[k]] for k in mine], pool, counted=counted
        )
        for k, pair in zip(mine, found):
            out[k] = pair
    return out


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one pairing per check (two rules ask)


def relabels_across_removals(ctx: GateContext) -> RelabelsAcrossRemovals:
    """:func:`find_relabels_across_removals` of ``ctx``, found once per check."""
    if ctx not in _FOUND:
        _FOUND[ctx] = find_relabels_across_removals(ctx)
    return _FOUND[ctx]


def find_relabels_across_removals(ctx: GateContext) -> RelabelsAcrossRemovals:
    """The delta's added records (``GateContext.delta_rows``, features ``delta_features``) paired by
    :func:`near_twins` with a removed record (:func:`removed_pool`) of another label, each by the source that added it
    in the candidate's signed lineage (``classify.version_lineage``), whatever its status there (attested, relabeled
    after source, an unsigned batch's, or none: ""): in ``rows`` when the lineage of the version that held the
    removed record (re-judged under the pins: ``trusted_lineage``) does not give it to that source, as
    ``gate.relabel_owners`` counts a relabel of another's record; in ``own`` when it does. Empty when the delta adds
    nothing, or the base has no profile or the records cannot be featurised (the detectors' rules say so). Raises
    ``VerificationError`` when the ancestry, a profile or a lineage does not verify."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.errors import ProvError
    from provenance.lineage.classify import trusted_lineage, version_lineage
    from provenance.lineage.deliverers import delivering_sources

    empty = RelabelsAcrossRemovals({}, {}, {})
    rows = ctx.delta_rows
    added = [i for i, kind in enumerate(rows.kinds) if kind == "added"]
    if not added:
        return empty
    try:
        profile, features = ctx.base_profile, ctx.delta_features
    except ProvError:  # no profile, records that cannot be featurised: the detectors' rules say so
        return empty
    pool = removed_pool(ctx)
    signed = version_lineage(ctx.store, ctx.new)
    pairs = _pairs_by_source(ctx, profile, signed, features, added, pool)
    twins: dict[tuple[bytes, str], RemovedTwin] = {}
    for i, (j, how, distance) in zip(added, pairs):
        if j >= 0:
            twin = RemovedTwin(pool.digests[j], pool.labels[j], pool.held_in[j], how, distance)
            twins[(rows.digests[i], rows.labels[i])] = twin
    if not twins:
        return empty
    owners: dict[bytes, frozenset[str]] = {}
    for tag in sorted({t.held_in for t in twins.values()}):
        held = pa.array([t.digest for t in twins.values() if t.held_in == tag], pa.binary(32))
        lineage = ctx.base_lineage if tag == ctx.base else trusted_lineage(ctx.store, tag)
        owners.update(delivering_sources(lineage.filter(pc.is_in(lineage.column("digest"), value_set=held)), held))
    wanted = pa.array(sorted({d for d, _ in twins}), pa.binary(32))
    candidates = pc.is_in(signed.column("digest"), value_set=wanted)
    found = RelabelsAcrossRemovals({}, {}, owners)
    for row in np.flatnonzero(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False)).tolist():
        digest, label = signed.column("digest")[row].as_py(), signed.column("label")[row].as_py()
        source, paired = signed.column("source")[row].as_py() or "", twins.get((digest, label))
        if paired is None:
            continue
        found.twins[digest] = paired
        if source and source in owners.get(paired.digest, frozenset()):
            found.own[row] = source
        else:
            found.rows[row] = (digest, label)
            found.signed_by[row] = source
    return found
