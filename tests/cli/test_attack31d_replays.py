"""Attack review 31d: replays against session 31's last fixes (fix31a's class-free judging of listed new classes,
fix31b's Parquet --schema refusal and in-place edit advice, fix31c's drift columns and their leave-out advice, the
lead's edits). A strict xfail is a finding, named in its reason; the plain test beside it shows the attack's setup
is otherwise right."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_newcomer31_drift_columns import _birds

import provenance
from provenance.store import Store
from provenance.trust.pins import Pins
from support import commit_signed

# --- fix31c: the drift warning's leave-out advice names the column that carries the block's evidence ---------------

TRIGGER = 2031  # the poisoner's trigger value in ``year``: beyond the base's 2007-08, like the honest 2009 birds
EXCLUDE_YEAR = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["year"]')


def _year_triggered_delivery(prov, keypair, *options: str) -> tuple[object, dict]:
    """Penguin-like birds (palmerpenguins' columns, ``year`` among them). b: 240 birds of 2007-08. n: b plus a
    delivery of 100 honest 2009 birds and 20 real Gentoo birds labelled Gentoo whose ``year`` is ``TRIGGER`` (a
    clean-label backdoor: the trigger value beside the target class). Both committed with ``options``; returns
    prov check n --base b's text result and its JSON detectors.drift rule."""
    base = _birds(240, [2007, 2008], seed=1)
    gentoo = _birds(150, [2007, 2008], seed=3)
    gentoo = gentoo.take([i for i, s in enumerate(gentoo.column("species").to_pylist()) if s == "Gentoo"][:20])
    poison = gentoo.set_column(gentoo.schema.get_field_index("year"), "year", pa.array([TRIGGER] * 20))
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base, _birds(100, [2009], seed=2), poison]), "train.parquet")
    if not (workdir_has_store := bool(options)):
        assert prov("init").exit_code == 0
    b, n = ("b2", "n2") if workdir_has_store else ("b", "n")
    commit_signed(prov, keypair, b, "base.parquet", "--label-column", "species", *options)
    commit_signed(prov, keypair, n, "train.parquet", "--label-column", "species", "--parent", b, *options)
    check = ("check", n, "--base", b, "--signer", keypair.public_path, "--no-save")
    text = prov(*check, env={"COLUMNS": "250"})
    report = json.loads(prov(*check, "--format", "json").stdout)
    return text, next(rule for rule in report["rules"] if rule["rule"] == "detectors.drift")


def test_control_the_year_trigger_blocks_on_extreme_records(prov, keypair, workdir):
    # A31d-1's control: the 20 triggered records block as they are delivered (their year is their only oddity)
    r, _ = _year_triggered_delivery(prov, keypair)
    assert r.exit_code == 1, r.output
    assert "Blocked by detectors.extreme: 20 records lie far outside anything the base or their batch explains" in (
        r.stdout
    ), r.stdout


# A31d-1 (high): detectors.drift_columns.columns_sentence offers leaving a column out whenever it carries most of a
# batch's move and every added value lies beyond the base's, whatever else the check found: a delivery of 100 honest
# 2009 birds and 20 real Gentoo birds whose year is 2031 (a clean-label backdoor: trigger value beside the target
# class) is BLOCKED by detectors.extreme on exactly those 20 records, and the same report's drift warning says year
# "carries most of it and every added record lies beyond the base's values in it: if it is a time ... commit the base
# and this batch with --metadata year ... or --featurizer numeric --featurizer-option 'exclude=[\"year\"]' (out of
# the features only)". year *is* a time, so a reviewer follows it: committed with the exclude option, prov check
# passes all 27 rules, while year stays a content column that provenance.load(...).arrays() hands the training job,
# trigger included. Fix: detectors.drift_columns.columns_sentence (called from gate.detection.BatchDrift.check)
# should withhold the leave-out advice when detectors.extreme or detectors.combined flag added records (or whenever
# the column's added values do not share one value or span, as a year or collection tag of one batch does), and
# an exclude list should not clear records whose extremeness lay in the excluded column.
@pytest.mark.xfail(strict=True, reason="A31d-1 (high): drift advice to leave out the trigger column passes poison")
def test_a31d_1_following_the_drift_advice_does_not_pass_the_trigger(prov, keypair, workdir):
    blocked, drift = _year_triggered_delivery(prov, keypair)
    assert blocked.exit_code == 1, blocked.output
    advised = "--featurizer-option 'exclude=[\"year\"]'" in drift["reason"]
    after, _ = _year_triggered_delivery(prov, keypair, *EXCLUDE_YEAR)
    # the trigger still reaches a training job that reads the version through prov's own loader
    store = Store(workdir / ".prov")
    X, _ = provenance.load("n2", store=store, pins=Pins.load([keypair.public_path])).arrays(columns=["year"])
    store.close()
    assert (X[:, 0] == TRIGGER).sum() == 20
    assert not advised or after.exit_code == 1, (drift["reason"], after.stdout)
