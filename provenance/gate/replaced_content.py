"""An added record paired with the base record it replaced by content, when their rows differ (attack review 32a,
A32a-4: a Chinstrap nudged 1 g, relabelled Adelie and written at the end of the file was "1 added record from no
registered batch" with no word of an edit or of its label, because ``gate.replaced`` paired by row number only).

A record added and a base record the candidate lacks are one edit when their features are equal in all but at most
``EDITED_COLUMNS`` of them (and in at least ``SAME_COLUMNS``, more than differ), and neither matches any other record so: one pair
each, never a guess between two. The base record's features come from the base's signed reference profile's sample
(every record of a class up to the profile's sample size), the added record's from the check's own featurisation of
the delta (``GateContext.delta_features``, read from the data the candidate signed and re-hashed). Advice only: no
rule relies on the pairing, and a base without a profile, a removed record outside its sample, or a delta that
cannot be featurised pairs nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

EDITED_COLUMNS = 2  # an edit changes at most this many feature columns ...
SAME_COLUMNS = 2  # ... and leaves at least this many equal, and more than it changed (else it says too little)


def paired_by_content(
    ctx: GateContext, added: list[tuple[str, bytes, str]], gone: list[tuple[str, bytes, str]]
) -> dict[bytes, tuple[str, bytes, str]]:
    """``{added digest: (base locator, base digest, base label)}`` for those of ``added`` (``(locator, digest,
    label)`` each, records no row pairing matched) that equal exactly one of ``gone`` (the same, base records the
    candidate lacks) in all but ``EDITED_COLUMNS`` feature columns, that one equal to no other of ``added`` so.
    Empty when either is empty, or the base has no profile or the delta no features (advice only: never raises for
    them)."""
    if not added or not gone:
        return {}
    import numpy as np

    from provenance.errors import ProvError

    try:
        profile = ctx.base_profile
        features = ctx.delta_features
    except ProvError:  # no profile, records that cannot be featurised: the detectors' rules say so
        return {}
    if profile.dim <= SAME_COLUMNS:
        return {}
    sampled = {bytes(d): i for i, d in enumerate(profile.sample_digests)}
    base = [(g, sampled[g[1]]) for g in gone if g[1] in sampled]
    where = {d: i for i, d in enumerate(ctx.delta_rows.digests)}
    new = [(a, where[a[1]]) for a in added if a[1] in where]
    if not base or not new:
        return {}
    X = np.asarray(features[[i for _, i in new]], dtype=np.float64)
    B = np.asarray(profile.sample_X[[i for _, i in base]], dtype=np.float64)
    # close[i, j]: added record i and base record j differ in at most EDITED_COLUMNS columns, equal in the rest
    differing = (~np.isclose(X[:, None, :], B[None, :, :], rtol=1e-6, atol=0.0)).sum(axis=2)
    same = profile.dim - differing
    close = (differing <= EDITED_COLUMNS) & (same >= SAME_COLUMNS) & (same > differing)
    pairs = {}
    for i, j in zip(*np.nonzero(close)):
        if close[i].sum() == 1 and close[:, j].sum() == 1:
            g = base[j][0]
            pairs[new[i][0][1]] = (g[0], g[1], g[2])
    return pairs
