"""Attack review 33d: replays against fix33a (the profile's copy index: a relabelled near copy of an unsampled base
record) and det33b (a column that grows with the base's file order taken as the batch's own time in ``spectral``).
A strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup is otherwise
right. Every replay picks its records from the committed profile's sample, so no outcome rests on the random
sample salt."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import Store
from provenance.encoding.columns import table_digests
from provenance.profiles.stage import load_profile
from provenance.version_facts import verified_statement
from support import commit_signed, validate_output

# --- fix33a: the copy index searches within a radius capped at a tenth of the median other-class distance ----------

PER_CLASS = 2_600  # three classes of 2,600: 600 of each are not in the profile's 2,000-record sample
FEATURES = [f"f{j:02d}" for j in range(16)]


def _blobs(n: int, seed: int, extra: bool = False) -> pa.Table:
    """``n`` records of 16 unrounded standard Gaussian features, labels a, b, c in turn (as review 32e's penguins, the
    features say nothing of the label, so only the copy evidence can tell a relabelled copy): an embedding-like table
    whose records sit far from one another (median other-class distance ~2.7 standard units); ``extra``: a 17th
    feature column, ``extra``, after them."""
    X = np.random.default_rng(seed).normal(0, 1, (n, len(FEATURES) + 1))
    columns: dict[str, object] = {name: X[:, j] for j, name in enumerate(FEATURES)}
    if extra:
        columns["extra"] = X[:, -1]
    columns["label"] = np.array(["a", "b", "c"])[np.arange(n) % 3]
    return pa.table(columns)


def _nudged_copy_check(prov, keypair, sampled: bool, radii: float) -> tuple[int, list[str], float]:
    """v1: ``3 x PER_CLASS`` ``_blobs``; v2: v1, 300 new clean records (the copy's cover: one flagged record among
    them is what the rate allows) and a copy of one ``b`` record (the first in (``sampled``) or out of v1's profile
    sample) with f00 moved by ``radii`` times the copy index's search radius (standardised units), labelled ``a``.
    ``(prov check v2 --base v1's exit code, its blocking rules, the radius as a share of the sample's median
    other-class distance)``."""
    v1 = _blobs(3 * PER_CLASS, 3304)
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    profile = load_profile(Store(".prov"), "v1")
    index = profile.copy_index
    assert index is not None and len(index.keys) == len(v1)
    across = np.asarray(profile.other_class_nn_dist)
    share = index.radius / float(np.median(across[np.isfinite(across)]))
    in_sample = {bytes(d) for d in profile.sample_digests}
    labels = v1.column("label").to_pylist()
    row = next(
        i for i, d in enumerate(table_digests(v1, tuple(FEATURES))) if labels[i] == "b" and (d in in_sample) == sampled
    )
    one = v1.slice(row, 1)
    moved = one.column("f00")[0].as_py() + radii * index.radius * float(profile.scale[0])
    copy = one.set_column(0, "f00", pa.array([moved])).set_column(len(FEATURES), "label", pa.array(["a"]))
    pq.write_table(pa.concat_tables([v1, _blobs(300, 3305), copy]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    blocking = [x["rule"] for x in json.loads(r.stdout)["rules"] if x["status"] == "block"]
    return r.exit_code, blocking, share


def test_control_a_relabelled_copy_of_a_sampled_record_one_and_a_half_radii_away_blocks(prov, keypair, store):
    code, blocking, share = _nudged_copy_check(prov, keypair, sampled=True, radii=1.5)
    assert share == pytest.approx(0.1, rel=1e-6)  # the radius is the cap: a tenth of the median other-class distance
    assert code == 1 and "detectors.extreme" in blocking, blocking


def test_control_a_relabelled_copy_of_an_unsampled_record_half_a_radius_away_blocks(prov, keypair, store):
    code, blocking, _ = _nudged_copy_check(prov, keypair, sampled=False, radii=0.5)
    assert code == 1 and "detectors.extreme" in blocking, blocking


# A33d-1 (medium): profiles.copy_index searches within extreme.copy_search_radius, which is capped at
# COPY_RADIUS_SHARE (0.1) of the sample's median other-class distance. On an embedding-like base (16 unrounded
# features, classes 2,600 strong) the cap binds (0.27 standard units, 0.1 x 2.7), while the sample's own calibration
# still blocks a relabelled copy well past it (docs/detection.md says the radius is where the evidence stops being
# able to block: not when the cap binds): a copy moved 1.5 radii (0.4 units in one feature) off a *sampled* base
# record, among 300 clean new records, blocks on detectors.extreme (collision's p ~1e-13); the same copy of an
# *unsampled* record passes, exit 0, no rule blocking. A32e-1 stays open past the radius: a poisoner nudges its copy
# just past a tenth of the typical gap, and most twins of a large class are unsampled (nine in ten at 20,000). Fix:
# search the index out to the bisection's radius (where density x closeness p reaches the default bar) and bound the
# cell cost another way (a k-d tree, fewer and wider probes), or say in the check that copies past it are judged on
# the sample. Fixed in session 34 (fix34a): a check searches the index exactly out to where the evidence can still
# block this delta at the default level (extreme.copy_search_radius uncapped, for its n records), re-keying the grid
# for that radius when it is past the commit's.
def test_a_relabelled_copy_of_an_unsampled_record_one_and_a_half_radii_away_blocks(prov, keypair, store):
    code, blocking, _ = _nudged_copy_check(prov, keypair, sampled=False, radii=1.5)
    assert code == 1 and "detectors.extreme" in blocking, blocking


# --- fix33a: a candidate that drops a column is scored on a narrowed profile, which leaves the copy index out --------


def _dropped_column_copy_check(prov, keypair, drop: bool) -> tuple[int, dict]:
    """v1: ``3 x PER_CLASS`` ``_blobs`` with the ``extra`` column; v2: v1, 300 new clean records and a copy of the
    first ``b`` record out of v1's profile sample with f00 moved by 0.3 of the copy index's radius, labelled ``a``;
    ``drop``: v2 without the ``extra`` column. ``(prov check v2 --base v1's exit code, its JSON report)``."""
    v1 = _blobs(3 * PER_CLASS, 3304, extra=True)
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    profile = load_profile(Store(".prov"), "v1")
    assert profile.copy_index is not None and profile.dim == len(FEATURES) + 1
    in_sample = {bytes(d) for d in profile.sample_digests}
    labels = v1.column("label").to_pylist()
    content = (*FEATURES, "extra")
    row = next(i for i, d in enumerate(table_digests(v1, content)) if labels[i] == "b" and d not in in_sample)
    one = v1.slice(row, 1)
    moved = one.column("f00")[0].as_py() + 0.3 * profile.copy_index.radius * float(profile.scale[0])
    copy = one.set_column(0, "f00", pa.array([moved])).set_column(v1.num_columns - 1, "label", pa.array(["a"]))
    v2 = pa.concat_tables([v1, _blobs(300, 3305, extra=True), copy])
    pq.write_table(v2.drop(["extra"]) if drop else v2, "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)


def test_control_a_relabelled_copy_of_an_unsampled_record_blocks_when_the_candidate_keeps_every_column(
    prov, keypair, store
):
    code, report = _dropped_column_copy_check(prov, keypair, drop=False)
    assert code == 1 and [x["rule"] for x in report["rules"] if x["status"] == "block"] == ["detectors.extreme"]


# A33d-2 (medium): a candidate that lacks one of the base's feature columns is scored on the base profile narrowed to
# the shared columns (profiles.shared_columns: columns_left_out), and collision.whole_index then returns None: the
# copy index is not used, and the copy evidence is the sample's again. Dropping one irrelevant column from the
# candidate (here ``extra``) reopens A32e-1 whole: a relabelled copy of an unsampled record 0.3 radii from its twin
# (inside the index's radius; it blocks on detectors.extreme when the column is kept) passes, exit 0; detectors.run
# only warns that "a dropped column adds nothing to train on", with no word that the copy index was left out. Fix:
# keep the index usable on a narrowed profile (store it unstandardised or per column, and search on the shared columns:
# a distance over fewer columns is no larger, so a twin inside the radius stays inside it), or block/say so when it
# cannot be used. Fixed in session 34 (fix34a): the narrowed profile carries the index projected onto the shared
# columns, on its own centre and scale (profiles.copy_index.carried_copy_index).
def test_a_relabelled_copy_of_an_unsampled_record_blocks_when_the_candidate_drops_a_column(prov, keypair, store):
    code, report = _dropped_column_copy_check(prov, keypair, drop=True)
    assert code == 1 and "detectors.extreme" in [x["rule"] for x in report["rules"] if x["status"] == "block"]


# --- fix33a: a base whose sample holds a waived record is judged by a rebuilt profile, which keeps no copy index -----


def _waived_glitch_then_copy_check(prov, keypair, waive: bool) -> tuple[int, dict]:
    """v1: ``3 x PER_CLASS`` ``_blobs`` and 40 records of a small class ``d`` (wholly in the profile sample); v2: v1 and
    one ``d`` record with f00 at 1e6 (a sensor glitch: prov check v2 --base v1 blocks on it), which the pinned key
    waives when ``waive``; v3: v2, 300 new clean records and a copy of the first ``b`` record out of v2's profile
    sample with f00 moved by 0.3 of the copy index's radius, labelled ``a``. ``(prov check v3 --base v2's exit code,
    its JSON report)``."""
    blobs = _blobs(3 * PER_CLASS + 40, 3304)
    small = blobs.slice(3 * PER_CLASS).set_column(len(FEATURES), "label", pa.array(["d"] * 40))
    v1 = pa.concat_tables([blobs.slice(0, 3 * PER_CLASS), small])
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    glitch = small.slice(0, 1).set_column(0, "f00", pa.array([1e6]))
    v2 = pa.concat_tables([v1, glitch])
    pq.write_table(v2, "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--format", "json")
    flagged = [x for x in json.loads(r.stdout)["rules"] if x["rule"] == "detectors.extreme"][0]["records"]
    assert r.exit_code == 1 and len(flagged) == 1, r.output
    if waive:
        w = prov("waive", flagged[0]["digest"], "--version", "v2", "--detector", "combined", "--reason",
                 "reviewed: a sensor glitch, harmless", "--key", keypair.private_path)  # fmt: skip
        assert w.exit_code == 0, w.output
    profile = load_profile(Store(".prov"), "v2")
    assert profile.copy_index is not None
    in_sample = {bytes(d) for d in profile.sample_digests}
    assert table_digests(glitch, tuple(FEATURES))[0] in in_sample  # the waived record is in v2's sample
    labels = v2.column("label").to_pylist()
    row = next(i for i, d in enumerate(table_digests(v2, tuple(FEATURES))) if labels[i] == "b" and d not in in_sample)
    one = v2.slice(row, 1)
    moved = one.column("f00")[0].as_py() + 0.3 * profile.copy_index.radius * float(profile.scale[0])
    copy = one.set_column(0, "f00", pa.array([moved])).set_column(len(FEATURES), "label", pa.array(["a"]))
    pq.write_table(pa.concat_tables([v2, _blobs(300, 3305), copy]), "v3.parquet")
    commit_signed(prov, keypair, "v3", "v3.parquet")
    r = prov("check", "v3", "--base", "v2", "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)


def test_control_a_relabelled_copy_of_an_unsampled_record_blocks_on_a_base_with_no_waiver(prov, keypair, store):
    code, report = _waived_glitch_then_copy_check(prov, keypair, waive=False)
    assert code == 1 and "detectors.extreme" in [x["rule"] for x in report["rules"] if x["status"] == "block"]


# A33d-3 (medium): a waived record in the base's sample had its profile rebuilt without it (profiles.waived), on
# another centre and scale, which left the copy index out: the copy passed. Fixed in session 34 (fix34a): the rebuilt
# profile carries the index on its own centre and scale, the waived records left out of it.
def test_a_relabelled_copy_of_an_unsampled_record_blocks_on_a_base_with_one_waived_glitch(prov, keypair, store):
    code, report = _waived_glitch_then_copy_check(prov, keypair, waive=True)
    assert code == 1 and "detectors.extreme" in [x["rule"] for x in report["rules"] if x["status"] == "block"]


# --- fix33a: past the index's cap the copy evidence is the sample's, and neither commit nor check says so ----------

CAP_FEATURES = [f"g{j}" for j in range(8)]


def _capped_copy_check(prov, keypair, rows: int) -> tuple[int, str, str, dict]:
    """v1: ``rows`` records of 8 standard Gaussian features, labels a and b in turn; v2: v1, 300 new clean records and
    a copy of the first ``b`` record out of v1's profile sample with g0 moved by 1e-4 standard units, labelled ``a``.
    ``(prov check v2 --base v1's exit code, commit v1's text output, the check's JSON report, v1's signed copyIndex
    facts)``."""
    rng = np.random.default_rng(3306)
    X = rng.normal(0, 1, (rows + 300, len(CAP_FEATURES)))
    columns: dict[str, object] = {name: X[:, j] for j, name in enumerate(CAP_FEATURES)}
    columns["label"] = np.array(["a", "b"])[np.arange(rows + 300) % 2]
    both = pa.table(columns)
    v1, clean = both.slice(0, rows), both.slice(rows)
    pq.write_table(v1, "v1.parquet")
    committed = prov("commit", "v1.parquet", "--tag", "v1", "--key", keypair.private_path, "--signer",
                     keypair.public_path)  # fmt: skip
    assert committed.exit_code == 0, committed.output
    s = Store(".prov")
    facts = verified_statement(s, s.version("v1"))["predicate"]["profile"]["copyIndex"]
    profile = load_profile(s, "v1")
    in_sample = {bytes(d) for d in profile.sample_digests}
    labels = v1.column("label").to_pylist()
    digests = table_digests(v1, tuple(CAP_FEATURES))
    row = next(i for i in range(rows) if labels[i] == "b" and digests[i] not in in_sample)
    one = v1.slice(row, 1)
    moved = one.column("g0")[0].as_py() + 1e-4 * float(profile.scale[0])
    copy = one.set_column(0, "g0", pa.array([moved])).set_column(len(CAP_FEATURES), "label", pa.array(["a"]))
    pq.write_table(pa.concat_tables([v1, clean, copy]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    validate_output("check", json.loads(r.stdout))  # statistic.copy_index included
    return r.exit_code, committed.output, json.loads(r.stdout), facts


def _extreme(report: dict) -> dict:
    return next(x for x in report["rules"] if x["rule"] == "detectors.extreme")


def test_control_a_relabelled_copy_of_an_unsampled_record_of_a_base_at_the_cap_blocks(prov, keypair, store):
    code, committed, report, facts = _capped_copy_check(prov, keypair, 500_000)
    assert facts["rows"] == 500_000 and code == 1 and _extreme(report)["status"] == "block", report["rules"]
    lookup = _extreme(report)["statistic"]["copy_index"]
    assert lookup["index"] and lookup["records"] == 500_000 and lookup["reason"] is None and lookup["radius"] > 0
    assert "copy index" not in committed


# A33d-4 (low): a table past profiles.copy_index.INDEX_MAX_ROWS (250,000 records then; 500,000 since fix34a) or
# INDEX_MAX_VALUES keeps no copy index; the reason is signed (predicate.profile.copyIndex.reason) but nothing read it:
# prov commit printed no word of it, and prov check, whose copy evidence is then the sample's (A32e-1 open: README
# Known gaps), said nothing either. One record past the cap (250,001), a relabelled copy of an unsampled record moved
# 1e-4 units passed, exit 0, while at 250,000 it blocked (the replay now runs at 500,000 and 500,001). Fixed in
# session 34 (fix34a): commit prints the signed reason, and the check's detectors.extreme says in its reason and its
# statistic (copy_index) that copies were looked up among the sample only, and why.
def test_a_relabelled_copy_of_an_unsampled_record_past_the_cap_blocks_or_the_check_says_why_not(prov, keypair, store):
    code, committed, report, facts = _capped_copy_check(prov, keypair, 500_001)
    assert "past the index's 500,000 records" in facts["reason"]
    assert f"no copy index ({facts['reason']})" in committed, committed
    lookup = _extreme(report)["statistic"]["copy_index"]
    assert lookup == {"index": False, "records": 4000, "radius": None, "alpha": None, "reason": facts["reason"]}, lookup
    assert code == 1 or "looked up among its 4,000 sampled records only" in _extreme(report)["reason"], report["rules"]
