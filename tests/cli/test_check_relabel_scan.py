"""Issue 14 (session 14): a handful of relabels that each look only moderately wrong pass the flag budget;
``detectors.relabels`` judges them as a group and blocks.

Real breast-cancer records in file order: a base of 300, a candidate adding the next 150 and giving
RELABELS base records the other class. Before the rule (``[detectors] relabel_scan = false``) ``prov check``
passes: the combined verdict flags a few of them, within the budget its drift allows. With the default
policy the check blocks on ``detectors.relabels``, naming the scan's p-value, its bar and the relabels
that contribute most; the same candidate without the relabels passes, and a waiver of those relabels
lets the candidate through.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator
from sklearn.datasets import load_breast_cancer

BASE, BATCH, RELABELS = 300, 150, 8
RULE = "detectors.relabels"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "check.schema.json"


def _write(X, y, path):
    cols = {f"f{j:02d}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**cols, "label": [str(v) for v in y]}), path)


def _versions(prov, keypair, relabel: bool):
    """Commit the base ``b`` and the candidate ``n`` (the next BATCH rows, with RELABELS base records
    relabeled when ``relabel``); returns the relabeled rows."""
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X.astype(np.float32), y.copy()
    rows = borderline(X[:BASE], y[:BASE])
    _write(X[:BASE], y[:BASE], "base.parquet")
    y_new = y[: BASE + BATCH].copy()
    if relabel:
        y_new[rows] = 1 - y_new[rows]
    _write(X[: BASE + BATCH], y_new, "new.parquet")
    assert prov("init").exit_code == 0
    for path, tag, extra in (("base.parquet", "b", ()), ("new.parquet", "n", ("--parent", "b"))):
        r = prov("commit", path, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *extra)
        assert r.exit_code == 0, r.output
    return rows


def borderline(X, y, k: int = 10):
    """RELABELS base rows an evasive attacker would relabel: records whose k nearest base records (features
    standardised) are of both classes, a third to two thirds of them of the other one, so no single
    relabel looks far wrong (every row taken at random gives ``detectors.extreme`` a clear case)."""
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1, kind="stable")[:, :k]
    other = (y[near] != y[:, None]).mean(axis=1)
    candidates = np.flatnonzero((other >= LOW) & (other <= HIGH))
    return np.random.default_rng(SEED).choice(candidates, RELABELS, replace=False)


SEED, LOW, HIGH = 0, 0.3, 0.7


def _check(prov, keypair, *extra):
    r = prov("check", "n", "--base", "b", "--signer", keypair.public_path, "--format", "json", *extra)
    report = json.loads(r.stdout)
    return r, report, {rule["rule"]: rule for rule in report["rules"]}


def test_a_few_relabels_that_passed_the_budget_now_block_as_a_group(prov, workdir, keypair):
    _versions(prov, keypair, relabel=True)
    (workdir / "off.toml").write_text("[detectors]\nrelabel_scan = false\n")
    r, report, rules = _check(prov, keypair, "--policy", "off.toml")
    assert r.exit_code == 0, [(k, v["reason"]) for k, v in rules.items() if v["status"] == "block"]
    assert RULE not in rules  # turned off: not in the policy

    r, report, rules = _check(prov, keypair)
    assert r.exit_code == 1, r.stdout
    assert [k for k, v in rules.items() if v["status"] == "block"] == [RULE]
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    st = rules[RULE]["statistic"]
    assert st["p_value"] < st["bar"] == pytest.approx(0.001 / st["tests"]) and st["tests"] == 10
    assert st["n"] == RELABELS and st["count"] > st["expected"]
    named = [rec["digest"] for rec in rules[RULE]["records"]]
    assert named == st["contributors"] and 0 < len(named) <= RELABELS
    reason = rules[RULE]["reason"]
    assert (
        f"of {RELABELS} relabels at" in reason and f"bar {st['bar']:.2g}" in reason and "relabel_scan = false" in reason
    )

    text = prov("check", "n", "--base", "b", "--signer", keypair.public_path)
    assert text.exit_code == 1 and RULE in text.output
    words = " ".join(text.output.split())
    assert "relabels together contradict the base" in words
    assert "--detector combined" in words and "--detector relabels" not in words  # a waiver prov waive takes

    # the way through after review: waive the relabels the rule names (one row each, for "combined")
    for digest in named:
        w = prov(
            "waive",
            digest,
            "--version",
            "n",
            "--detector",
            "combined",
            "--reason",
            "reviewed: corrections",
            "--key",
            keypair.private_path,
            "--signer",
            keypair.public_path,
        )
        assert w.exit_code == 0, w.output
    r, report, rules = _check(prov, keypair)
    assert rules[RULE]["status"] == "pass" and rules[RULE]["statistic"]["n"] == RELABELS - len(named)
    assert r.exit_code == 0, [(k, v["reason"]) for k, v in rules.items() if v["status"] == "block"]
    # each waiver says it took its relabel out, under the rule that counted it (flagged: combined; else this one)
    honoured = report["waivers"]["honoured"]
    assert sorted(w["digest"] for w in honoured) == sorted(named)
    assert all(w["effect"] == "waived" for w in honoured), [w.get("why") for w in honoured]
    assert RULE in {w["rule"] for w in honoured} <= {RULE, "detectors.combined"}
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    sarif = json.loads(prov("check", "n", "--base", "b", "--signer", keypair.public_path, "--format", "sarif").stdout)
    suppressed = [x for x in sarif["runs"][0]["results"] if x.get("suppressions")]
    assert sorted(x["properties"]["digest"] for x in suppressed) == sorted(named)
    assert RULE in {x["ruleId"] for x in suppressed}


def test_the_same_batch_without_relabels_still_passes(prov, workdir, keypair):
    _versions(prov, keypair, relabel=False)
    r, report, rules = _check(prov, keypair)
    assert r.exit_code == 0, [(k, v["reason"]) for k, v in rules.items() if v["status"] == "block"]
    assert rules[RULE]["status"] == "pass" and rules[RULE]["statistic"]["tests"] == 0
    assert "no relabel" in rules[RULE]["reason"]
