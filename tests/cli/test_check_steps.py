"""A check over several signed versions judges each version's delivery on its own (``detectors.combined``'s
``step_budget``, ``provenance.gate.steps``).

Attack review 13, G13-1, replayed: a daily pipeline commits v1 (800 clean digits), v2 (a delivery of 200
with 30 flipped labels, which ``prov check v2 --base v1`` blocks), then v3 and v4 (clean deliveries of 380
and 417) on top of it. ``prov check v4 --base v1 --attest`` judged the whole delta with one flag budget,
which the clean deliveries widened, and released v2's flips. Real Parquet files, a real key, a real store.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import keys
from support import build_template, digits_table

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SIZES = {"v1": 800, "v2": 200, "v3": 380, "v4": 417}  # v1's records, then each delivery's


def plausible_flips(table: pa.Table, n_base: int, delivery: range, count: int) -> dict[int, str]:
    """``count`` label flips in ``delivery`` (row numbers) that a reviewer would not spot at a glance: each
    record's 40 nearest base records (squared distance in pixels) hold another label, and the flip is to
    the most common such label (ties to the smallest). Records ranked by how many of those neighbours
    disagree; ranks 80 to 80 + count are taken: flagged often enough to block on their own, never so
    plainly that ``detectors.extreme`` blocks them whatever the budget."""
    pixels = np.stack([table.column(c).to_numpy() for c in table.column_names if c.startswith("px")], 1)
    labels = table.column("label").to_pylist()
    base = pixels[:n_base].astype(np.float64)
    ranked = []
    for i in delivery:
        nearest = np.argsort(((base - pixels[i]) ** 2).sum(1), kind="stable")[:40]
        other = Counter(labels[j] for j in nearest if labels[j] != labels[i])
        if other:
            most = max(other.values())
            ranked.append((sum(other.values()), i, min(lab for lab, c in other.items() if c == most)))
    ranked.sort(key=lambda x: (-x[0], -x[1]))
    return {i: label for _, i, label in ranked[80 : 80 + count]}


def build_daily(prov, folder: Path) -> dict:
    """v1..v4 as the module says, each version's data in its own folder, committed by maintainer.key."""
    table = digits_table()
    table = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    start = SIZES["v1"]
    flips = plausible_flips(table, start, range(start, start + SIZES["v2"]), 30)
    labels = table.column("label").to_pylist()
    labels = [flips.get(i, label) for i, label in enumerate(labels)]
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    keys.generate(folder / "maintainer")
    assert prov("init").exit_code == 0
    end = 0
    for tag, size in SIZES.items():
        end += size
        (folder / tag).mkdir()
        pq.write_table(table.slice(0, end), folder / tag / "digits.parquet")
        r = prov("-q", "commit", f"{tag}/digits.parquet", "--tag", tag, "--key", "maintainer.key",
                 "--signer", "maintainer.pub")  # fmt: skip
        assert r.exit_code == 0, r.output
    return {"flipped_rows": sorted(flips)}


@pytest.fixture(scope="session")
def template_daily(tmp_path_factory):
    return build_template(tmp_path_factory, "daily", build_daily, PROV_WORKERS="1")


@pytest.fixture
def daily(template_daily, workdir, monkeypatch) -> dict:
    monkeypatch.setenv("PROV_SIGNERS", str(workdir / "maintainer.pub"))
    monkeypatch.setenv("PROV_WORKERS", "1")
    return dict(template_daily.facts)


def check(prov, *args: str) -> tuple[int, dict[str, dict], dict]:
    """``prov check ... --format json``, valid under ``schemas/check.schema.json``: (exit code, rule name -> result,
    the report)."""
    r = prov("check", *args, "--format", "json")
    report = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "check.schema.json").read_text())).validate(report)
    return r.exit_code, {rule["rule"]: rule for rule in report["rules"]}, report


def test_a_delivery_blocked_on_its_own_is_not_released_by_a_check_over_several_versions(prov, daily, workdir):
    code, rules, _ = check(prov, "v2", "--base", "v1", "--no-save")
    assert code == 1 and rules["detectors.combined"]["status"] == "block"  # day 2: the delivery blocks

    code, rules, report = check(prov, "v4", "--base", "v1", "--attest", "--key", "maintainer.key")
    assert code == 1 and report["decision"] == "blocked" and not (workdir / "v4.attestation.json").exists()
    combined = rules["detectors.combined"]
    # the whole delta is within the budget the clean deliveries widened: that alone released v2 (G13-1)
    assert combined["status"] == "block" and combined["statistic"]["blocked_by"] == ["step_budget"]
    assert combined["statistic"]["flagged"] <= combined["statistic"]["allowed"]
    assert combined["reason"].startswith("added in v2: ")
    steps = combined
    judged = {s["version"]: s for s in steps["statistic"]["steps"]}
    assert list(judged) == ["v2", "v3", "v4"]
    assert [judged[t]["parent"] for t in judged] == ["v1", "v2", "v3"]
    assert judged["v2"]["blocked_by"] and not judged["v3"]["blocked_by"] and not judged["v4"]["blocked_by"]
    assert judged["v2"]["n"] == SIZES["v2"] and judged["v2"]["flagged"] > judged["v2"]["allowed"]
    # the records it names are v2's delivery, each said to be added in v2, and its flips alone break the allowance
    assert steps["records"] and {r["added_in"] for r in steps["records"]} == {"v2"}
    rows = {f["digest"]: f["location"]["row"] for f in report["findings"]}  # v4's data: v1's rows, then each delivery's
    named = {rows[r["digest"]] for r in steps["records"]}
    assert named <= set(range(SIZES["v1"], SIZES["v1"] + SIZES["v2"]))
    assert len(named & set(daily["flipped_rows"])) > judged["v2"]["allowed"]

    text = " ".join(prov("check", "v4", "--base", "v1", "--no-save").stdout.split())  # as wrapped at any width
    assert "Blocked by detectors.combined: " in text and " records added in v2 flagged, more than the " in text
    assert "prov check v2 --base v1" in text  # the delivery's own check, to see it judged on its own
    assert "--detector combined" in text  # a waiver of the combined verdict is the way through


def test_a_check_against_the_parent_is_one_step_and_reports_as_before(prov, daily):
    for new, base in (("v2", "v1"), ("v3", "v2")):
        code, rules, report = check(prov, new, "--base", base, "--no-save")
        statistic = rules["detectors.combined"]["statistic"]
        assert "steps" not in statistic and "step_budget" not in statistic["blocked_by"]
        assert "added_in" not in json.dumps(report)  # nothing of the per-step judgement in a one-step report
    assert code == 0 and report["decision"] in ("pass", "warned")


def test_clean_steps_pass_each_within_its_own_allowance(prov, daily):
    code, rules, _ = check(prov, "v4", "--base", "v2", "--no-save")
    assert code == 0, rules
    combined = rules["detectors.combined"]
    assert combined["status"] == "pass" and combined["records"] == []
    assert [s["version"] for s in combined["statistic"]["steps"]] == ["v3", "v4"]
    assert not any(s["blocked_by"] for s in combined["statistic"]["steps"])
