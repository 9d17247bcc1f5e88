"""`[class_mix] expected_new_classes` leaves only the listed classes out of the class-mix rule (attack review 30a).

Two gaps, replayed through `prov check` on real digits, keys and stores: (1) listing any class replaced every class-mix
test (all additions and each source's own) by one test of all additions without the listed classes, so a source
flooding an ordinary class passed once the policy listed another; (2) a listed class was left out of the test however
many of it the base held, while the detectors judge a listed class once the base's profile sample holds
``JUDGED_FROM`` (knn_label's voters) of it. Each source's test is now recomputed without the listed classes, and a
listed class the base holds in number stays in the test, the rule's reason saying so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from support import commit_table, digits_table, validate_output

RULE = "class_mix.min_p_value"
PER_CLASS_BASE = 80  # digits of each class in the base


def _digits_by_class() -> dict[str, list[int]]:
    labels = digits_table().column("label").to_pylist()
    rows: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        rows.setdefault(label, []).append(i)
    return rows


def _rows(counts: dict[str, int], taken: dict[str, int], source: str) -> pa.Table:
    """``counts[label]`` digits of each label not taken yet (``taken`` counts them), with ``source`` on every row."""
    by_class, picked = _digits_by_class(), []
    for label, n in counts.items():
        start = taken.get(label, 0)
        picked += by_class[label][start : start + n]
        taken[label] = start + n
    t = digits_table().take(picked)
    return t.append_column("source", pa.array([source] * t.num_rows))


def _class_mix(prov, keypair, base: dict[str, int], additions: dict[str, dict[str, int]], listed: list[str]) -> dict:
    """Commit v1 (``base`` digits per class, from vendor_a) and v2 = v1 + ``additions`` (per source, digits per class);
    check v2 against v1 without a policy and with ``expected_new_classes = listed``: the class-mix rule's results
    ``{"default": ..., "listed": ...}``, the reports validated against the schema."""
    taken: dict[str, int] = {}
    v1 = _rows(base, taken, "vendor_a")
    v2 = pa.concat_tables([v1, *(_rows(counts, taken, source) for source, counts in additions.items())])
    for tag, table in (("v1", v1), ("v2", v2)):
        commit_table(prov, keypair, tag, table, "--source-column", "source", "--signer", keypair.public_path)
    Path("policy.toml").write_text(f"[class_mix]\nexpected_new_classes = {json.dumps(listed)}\n")
    return {
        name: _class_mix_rule(prov, keypair, *policy)
        for name, policy in (("default", ()), ("listed", ("--policy", "policy.toml")))
    }


def _class_mix_rule(prov, keypair, *policy: str) -> dict:
    """The class-mix rule's result of ``prov check v2 --base v1 POLICY --format json``, the report validated."""
    r = prov("check", "v2", "--base", "v1", *policy, "--signer", keypair.public_path, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    return next(x for x in report["rules"] if x["rule"] == RULE)


NO_NINES = {str(k): PER_CLASS_BASE for k in range(9)}  # a base of the digits 0-8: 9 is a new class
CLEAN = {str(k): 70 for k in range(9)}  # vendor_a's clean delivery, in the base's mix
FLOOD = {"3": 30}  # vendor_b: 30 threes, lost among all the additions, plain in vendor_b's own mix
NEW_NINES = {"9": 150}  # vendor_c: the genuinely new class


@pytest.mark.parametrize("with_nines", [False, True], ids=["flood", "flood-beside-new-nines"])
def test_a_source_flooding_a_class_blocks_though_the_policy_lists_another(prov, workdir, store, keypair, with_nines):
    """Gap 1: vendor_b's 30 threes are plain in its own mix (the diff's per-source test), not among 730 additions.
    Listing class 9 (new: none in the base) used to drop vendor_b's own test, and the flood passed."""
    additions = {"vendor_a": CLEAN, "vendor_b": FLOOD} | ({"vendor_c": NEW_NINES} if with_nines else {})
    rules = _class_mix(prov, keypair, NO_NINES, additions, ["9"])
    assert rules["default"]["status"] == "block", rules["default"]
    assert with_nines or "additions from 'vendor_b'" in rules["default"]["reason"]  # else vendor_c's nines are worst
    listed = rules["listed"]
    assert listed["status"] == "block", listed
    assert "additions from 'vendor_b' outside the expected new classes (9)" in listed["reason"]
    assert listed["statistic"]["cells"][0]["class"] == "3" and listed["statistic"]["n"] == 30


def test_a_genuinely_new_class_from_one_source_passes_with_the_key(prov, workdir, store, keypair):
    """The key's use: vendor_c brings a new class 9, vendor_a a clean delivery. Blocked without the key, it passes
    with it (vendor_c has nothing left to test, vendor_a and all additions keep the base's mix)."""
    rules = _class_mix(prov, keypair, NO_NINES, {"vendor_a": CLEAN, "vendor_c": NEW_NINES}, ["9"])
    assert rules["default"]["status"] == "block" and "class '9' (150 added) is new" in rules["default"]["reason"]
    assert rules["listed"]["status"] == "pass", rules["listed"]
    assert "outside the expected new classes (9)" in rules["listed"]["reason"]
    assert rules["listed"]["statistic"]["expected_classes_judged"] == {}


def test_a_listed_class_the_base_holds_50_of_stays_in_the_test_and_its_flood_blocks(prov, workdir, store, keypair):
    """Gap 2: the base's profile sample holds 50 threes (at least knn_label's 10 voters), so listing 3 does not take
    a flood of 120 threes out of the test, as it does not take them out of the detectors."""
    base = {str(k): PER_CLASS_BASE for k in range(10)} | {"3": 50}
    flood = {str(k): 30 for k in range(10) if k != 3} | {"3": 120}
    rules = _class_mix(prov, keypair, base, {"vendor_a": flood}, ["3"])
    assert rules["default"]["status"] == "block", rules["default"]
    listed = rules["listed"]
    assert listed["status"] == "block", listed
    said = "[class_mix] expected_new_classes lists class '3' (50 records) the base already holds (at least 10 in"
    assert said in listed["reason"] and "so its records stay in the class-mix test" in listed["reason"]
    assert listed["statistic"]["expected_classes_judged"] == {"3": 50}
    assert listed["statistic"]["cells"][0]["class"] == "3"


def test_a_base_without_a_profile_counts_a_listed_class_in_its_signed_manifest(prov, workdir, store, keypair):
    """A base with no reference profile (no numeric column to featurise) has no sample to count: the listed class's
    records in the base's verified manifest count instead, which hold at least as many as a sample would."""
    base = pa.table({"text": [f"word {i}" for i in range(200)], "label": ["a", "b", "c", "d"] * 50})
    flood = pa.table({"text": [f"more {i}" for i in range(150)], "label": ["a"] * 120 + ["b", "c", "d"] * 10})
    for tag, table in (("v1", base), ("v2", pa.concat_tables([base, flood]))):
        commit_table(prov, keypair, tag, table, "--signer", keypair.public_path)
    Path("policy.toml").write_text('[class_mix]\nexpected_new_classes = ["a"]\n[detectors]\nenabled = false\n')
    rule = _class_mix_rule(prov, keypair, "--policy", "policy.toml")
    assert rule["status"] == "block", rule
    assert "lists class 'a' (50 records) the base already holds (at least 10 in its signed manifest" in rule["reason"]
