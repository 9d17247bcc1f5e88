"""Issue 14 (session 19): ``detectors.counts`` in ``prov check``: per detector, the delta's records at that
detector's own p-value <= 0.005 against the base's later pseudo-batches (the case where only this rule
blocks is in tests/unit/detectors/test_count_scan.py, through the library: the gate bench's featuriser;
waivers' effects in tests/unit/gate/test_waiver_effects_counts.py).

scikit-learn's digits in the gate bench's fixed random order (seed 7): a base of the first 1,527 rows and
a candidate adding the next 213 (9 of them replaced by the demo's clean-label blend backdoor).
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator
from sklearn.datasets import load_digits

from provenance.demo.attacks import CATALOGUE

BASE, BATCH, POISON = 1527, 213, 9
RULE = "detectors.counts"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "check.schema.json"


def _write(X, y, path):
    cols = {f"p{j:02d}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**cols, "label": [str(v) for v in y]}), path)


def _versions(prov, keypair, poisoned: bool):
    """Commit the base ``b`` and the candidate ``n`` (base plus the next BATCH rows, POISON of them
    replaced by the clean-label blend when ``poisoned``)."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(7).permutation(len(X))
    X, y = X[order].astype(np.float32), y[order].astype(str)
    Xb, yb, Xd, yd = X[:BASE], y[:BASE], X[BASE : BASE + BATCH], y[BASE : BASE + BATCH]
    if poisoned:
        attack = next(a for a in CATALOGUE if a.name == "backdoor_blend_clean")
        planted = attack.plant(Xb, yb, Xd, yd, POISON, np.random.default_rng(0))
        Xd = np.vstack([Xd[: BATCH - POISON], planted.X]).astype(np.float32)
        yd = np.concatenate([yd[: BATCH - POISON], np.asarray(planted.labels).astype(str)])
    _write(Xb, yb, "base.parquet")
    _write(np.vstack([Xb, Xd]), np.concatenate([yb, yd]), "new.parquet")
    assert prov("init").exit_code == 0
    for path, tag, extra in (("base.parquet", "b", ()), ("new.parquet", "n", ("--parent", "b"))):
        r = prov("commit", path, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *extra)
        assert r.exit_code == 0, r.output


def _check(prov, keypair, *extra):
    r = prov("check", "n", "--base", "b", "--signer", keypair.public_path, "--format", "json", *extra)
    report = json.loads(r.stdout)
    return r, report, {rule["rule"]: rule for rule in report["rules"]}


def _blocking(rules):
    return [(k, v["reason"]) for k, v in rules.items() if v["status"] == "block"]


def test_the_rule_judges_a_clean_batch_and_passes_and_the_policy_can_leave_it_out(prov, workdir, keypair):
    _versions(prov, keypair, poisoned=False)
    r, report, rules = _check(prov, keypair)
    assert r.exit_code == 0, _blocking(rules)
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    assert rules[RULE]["status"] == "pass" and rules[RULE]["statistic"]["tests"] == 6
    assert "no detector finds more records unusual than the base's later batches" in rules[RULE]["reason"]
    st = rules[RULE]["statistic"]
    assert st["p_value"] >= st["bar"] == pytest.approx(0.001 / 6) and st["level"] == 0.005
    (workdir / "off.toml").write_text("[detectors]\ncount_scan = false\n")
    r, report, rules = _check(prov, keypair, "--policy", "off.toml")
    assert r.exit_code == 0 and RULE not in rules  # turned off: not in the policy


def test_a_blend_is_counted_and_named(prov, workdir, keypair):
    """Through the CLI's featuriser the blend lies far beyond the reference (``detectors.combined``
    blocks); the count names spectral and the planted records as its largest excess."""
    _versions(prov, keypair, poisoned=True)
    r, report, rules = _check(prov, keypair)
    assert r.exit_code == 1 and "detectors.combined" in [k for k, _ in _blocking(rules)]
    st = rules[RULE]["statistic"]
    assert st["detector"] == "spectral" and st["count"] > 5 * st["expected"]
