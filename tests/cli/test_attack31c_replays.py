"""Attack review 31c: replays against session 31's copies rule change (fpr31: every class's rate, and the total's odds,
raised by the base's clumping ratio, ``provenance/gate/copies_ratio.py``, reverted in
session 31 after A31c-1) and report changes (ux31). A strict xfail is
a finding, named in its reason; the plain test beside it shows the attack's setup is otherwise right."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from support import commit_and_check, plant_findings, succeeded, words

# --- A31c-1: the clumping ratio lifts classes the base's pseudo-batches never showed clumped -----------------------

HELD = 6  # the base holds each of its 40 repeated records 6 times (class "5-8"), spread through the file at random
PAIRS = 300  # a source's delivery in the base: 300 records sent twice each
FLOODS = {"held_six_times": 120, "held_once": 400}  # copies of records the base holds 6 times / once, on 200 new rows


def _rows(seed: int, n: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(n, 4)), 6)
    labels = rng.choice(["a", "b"], size=n)
    return [(*map(float, x[i]), str(labels[i])) for i in range(n)]


def _table(rows: list[tuple]) -> pa.Table:
    return pa.table({**{f"x{j}": [r[j] for r in rows] for j in range(4)}, "label": [r[4] for r in rows]})


def _base_and_candidate(delivery_first: bool, flood: str) -> tuple[pa.Table, pa.Table]:
    """A base of 2,840 rows: 2,000 records held once and 40 held 6 times in random order, and a source's delivery of
    300 records sent twice each; with ``delivery_first`` the delivery's 600 rows open the file as the source wrote
    them (each record's two rows together: its file sorts first), otherwise the same rows are spread at random
    through the whole file. The candidate: the base, 200 new rows and ``FLOODS[flood]`` copies, of the 40 records
    held 6 times (three each) or of 400 of the records held once (one each)."""
    rng = np.random.default_rng(1)
    pool = _rows(7, 2000 + 40 + PAIRS + 200)
    singles, repeated, paired, new = pool[:2000], pool[2000:2040], pool[2040 : 2040 + PAIRS], pool[2040 + PAIRS :]
    spread = [singles[i] if i < 2000 else repeated[(i - 2000) // HELD] for i in rng.permutation(2000 + 40 * HELD)]
    order = [r for r in paired for _ in range(2)] + spread
    if not delivery_first:
        order = [order[i] for i in rng.permutation(len(order))]
    copied = repeated if flood == "held_six_times" else singles
    copies = [copied[i % len(copied)] for i in range(FLOODS[flood])]
    return _table(order), _table(order + new + copies)


def _copies(report: dict) -> dict:
    return next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")


def _blocking(report: dict) -> list[str]:
    return [r["rule"] for r in report["rules"] if r["status"] == "block"]


@pytest.fixture
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


@pytest.mark.parametrize("flood", sorted(FLOODS))
def test_control_a_flood_of_copies_blocks_on_a_base_whose_repeats_are_spread(
    prov, workdir, store, keypair, pinned, flood
):
    # A31c-1's control: the source's delivery spread through the base (fpr31's clumping ratio was about 1), and
    # both floods block on the copies rule alone (120 copies of records held 6 times: about 36 pass; 400 copies of
    # records held once: about 96 pass)
    base, candidate = _base_and_candidate(False, flood)
    code, report = commit_and_check(prov, keypair, base, candidate)
    assert code == 1 and _blocking(report) == ["copies.max_copies_rate"], _blocking(report)


# A31c-1 (medium): the clumping ratio (gate.copies_ratio.clumping_ratio) is read from every class of the base's
# pseudo-batches together and raises every class's rate (Copies.clumped_rates) and the total's odds
# (Copies.clumped_total_rate). A source whose delivery of 300 records sent twice each opens the base's file, each
# record's two rows side by side (copies of records new to the rows before, in the class "held once"), gives the base
# a ratio of 6 (so every class sits at the 4x cap), and on that base prov check passes (exit 0) a flood of 120 copies
# of the 40 records the base holds 6 times (about 27 expected; quantile 138 at the capped rate), a class its
# pseudo-batches never showed clumped, and a re-delivery of 400 records held once with 200 new rows (the total's
# quantile: 660 copies on 200 unique rows). The same rows spread block both (the controls), and so did lead31 before
# the fpr31 merge (its first parent e376cbaf, replayed through its prov CLI), which raised a class only by that class's
# own clumping. Library counts on this base: 150 copies of records held 6 times pass (36 before), and 598 re-deliveries
# with 200 new rows (254 before). What passes is set by the order of a source's own rows in the trusted base; a later
# release cannot plant such a block (a delivery dense enough in its own repeats blocks at its own check). Fixed in
# session 31 by reverting fpr31's ratio: a ratio per class (fix31d) closed it but lost all of spam7's gain.
@pytest.mark.parametrize("flood", sorted(FLOODS))
def test_a31c_1_clumped_repeats_of_new_records_do_not_widen_other_classes_or_the_total(
    prov, workdir, store, keypair, pinned, flood
):
    base, candidate = _base_and_candidate(True, flood)
    code, report = commit_and_check(prov, keypair, base, candidate)
    assert code == 1 and _blocking(report) == ["copies.max_copies_rate"], (
        _blocking(report),
        json.dumps(_copies(report)["statistic"]),
    )


# --- A31c-2: the findings' "Not signed" note vouches for a run it cannot tell from a planted one --------------------

TRUST_PINNED = ("--signer", "maintainer.pub")


def _cleared(doc: dict) -> None:
    """A ``.prov/`` writer's edit of a stored run: every record unflagged, scores 0."""
    for summary in doc["detectors"]:
        summary["flagged"] = 0
    for finding in doc["findings"]:
        finding.update(flagged=False, score=0.0)
        for detector in finding.get("detectors") or []:
            detector.update(flagged=False, score=0.0)


def test_control_a_planted_run_is_still_named_unsigned(prov, template_trust, workdir):
    # A31c-2's control: a .prov/ writer (no key) plants a run of v2 that flags nothing after the user's own diff
    # --detect; prov findings v2 shows the planted run (nothing flagged) under the "Not signed" note
    succeeded(prov, "diff", "v1", "v2", "--detect", *TRUST_PINNED)
    plant_findings(workdir, "v2", _cleared)
    text = words(succeeded(prov, "findings", "v2", *TRUST_PINNED).stdout)
    assert "0 of 600 records flagged" in text, text[:300]
    assert "Not signed: a local run" in text and "--recompute" in text, text


# A31c-2 (low, fixed in session 31): report/text._trust_lines says of every unsigned run "a local run ...: a prov diff --detect or prov
# check stores its findings unsigned, which is usual and not a sign of tampering" (ux31, newcomer 30 low 3). prov
# cannot tell the user's own run from one a .prov/ writer planted (the control: a planted run that clears every
# record gets the same words), so the note vouches for what it does not know: "not a sign of tampering" is said of a
# planted run. Its later sentence (whoever can write .prov/ can plant a run) contradicts the first; say the first
# conditionally ("after your own prov diff --detect this is usual; prov cannot tell it from a planted run").
def test_a31c_2_the_note_on_an_unsigned_run_does_not_say_it_is_no_tampering(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *TRUST_PINNED)
    plant_findings(workdir, "v2", _cleared)
    text = words(succeeded(prov, "findings", "v2", *TRUST_PINNED).stdout)
    assert "Not signed:" in text and "not a sign of tampering" not in text, text
