"""`[class_mix] expected_new_classes` excuses a class's records from the detectors only while the base holds too
few of it to judge them (newcomer review 29, finding 1).

The newcomer's replay, on scikit-learn's wine set sorted by class: v2 brings class 2 (blocked; its "To release:"
advice says to list it; listed, v2 passes and is released). Then v4 added 15 class-0 wines labelled 2 and passed
with an attestation that verified ("15 of them in expected new classes (not judged against the base); 0 count"),
and 8 in-place relabels 0 -> 2 passed too: the key excused every record labelled 2 forever, although the base by
then held 48 of class 2. A listed class is now judged once the base's profile sample holds ``JUDGED_FROM`` (knn_label's
voters) of it, and the report says the policy lists a class the base already holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from support import validate_output

PINNED = ("--signer", "maintainer.pub")
POLICY = ("--policy", "policy.toml")
HELD_OUT = 15  # class-0 wines kept out of the base, later delivered labelled 2
IN_BASE_FROM_START = 5  # class-2 wines in v1: fewer than JUDGED_FROM, so the class still grows from almost nothing


def ok(prov, *args: str) -> str:
    r = prov(*args)
    assert r.exit_code == 0, (args, r.output)
    return r.stdout


def check_json(prov, new: str, base: str) -> tuple[int, dict]:
    r = prov("check", new, "--base", base, *POLICY, *PINNED, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    return r.exit_code, report


def rule(report: dict, name: str) -> dict:
    return next(x for x in report["rules"] if x["rule"] == name)


@pytest.fixture
def wine_store(prov, workdir) -> Path:
    """A store with v1 (class 0 less 15 wines, class 1, 5 of class 2) and v2 (all of class 2), v2 released under
    the policy listing class 2; v4 (v2 and the 15 class-0 wines labelled 2) and v5 (v2 with 8 class-0 wines
    relabeled 2 in place), both children of v2, committed by the same pinned key. CSV files, as the README's tour."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    wine = wine.sort_values("label", kind="stable").reset_index(drop=True)
    zero, one, two = (wine[wine.label == k] for k in range(3))
    v1 = pd.concat([zero.iloc[:-HELD_OUT], one, two.iloc[:IN_BASE_FROM_START]])
    v2 = pd.concat([zero.iloc[:-HELD_OUT], one, two])
    v4 = pd.concat([v2, zero.iloc[-HELD_OUT:].assign(label=2)])
    v5 = v2.copy()
    v5.loc[v5.index[v5.label == 0][:8], "label"] = 2
    for tag, frame in (("v1", v1), ("v2", v2), ("v4", v4), ("v5", v5)):
        frame.to_csv(f"{tag}.csv", index=False)
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")
    for tag in ("v1", "v2"):
        ok(prov, "-q", "commit", f"{tag}.csv", "--tag", tag, "--key", "maintainer.key", *PINNED)
    for tag in ("v4", "v5"):
        ok(prov, "-q", "commit", f"{tag}.csv", "--tag", tag, "--parent", "v2", "--key", "maintainer.key", *PINNED)
    Path("policy.toml").write_text('[class_mix]\nexpected_new_classes = ["2"]\n')
    return workdir


def test_a_listed_class_the_base_holds_few_of_is_judged_on_class_free_evidence_and_v2_is_released(prov, wine_store):
    """v1 holds 5 wines of class 2 (fewer than knn_label's 10 voters); most of the 43 v2 adds have base class 1's or 0's
    wines for most of their nearest base records (fix32i judged them in full for it), but none is a copy of a base
    record under one scale and shift per column (gate.class_inside since fix33c): real wines of their own class, judged
    on class-free evidence, and v2 is released."""
    blocked = prov("check", "v2", "--base", "v1", *PINNED, "--no-save", env={"COLUMNS": "200"})
    assert blocked.exit_code == 1 and 'expected_new_classes = ["2"]' in blocked.stdout, blocked.output
    code, report = check_json(prov, "v2", "v1")
    statistic = rule(report, "detectors.combined")["statistic"]
    assert code == 0 and statistic["n"] == 43 and statistic["class_free_judged"] == 43, statistic
    assert statistic["listed_in_full"]["records"] == 0 and statistic["listed_in_full"]["inside"] == {}
    assert statistic["expected_classes_judged"] == {}
    ok(prov, "check", "v2", "--base", "v1", *POLICY, *PINNED, "--attest", "--key", "maintainer.key")
    assert Path("v2.attestation.json").is_file()


@pytest.mark.parametrize(
    ("candidate", "attack"),
    [("v4", f"{HELD_OUT} class-0 wines added labelled 2"), ("v5", "8 class-0 wines relabeled 2 in place")],
)
def test_records_labelled_into_a_listed_class_the_base_holds_are_judged_and_block(prov, wine_store, candidate, attack):
    """Replay of the attack: with class 2 listed and the released base holding 48 of it, the poisoned version is
    judged like any other, blocks, and is not attested; the report names the listed class the base holds."""
    from provenance.detectors.knn_label import VOTERS
    from provenance.gate.detection import JUDGED_FROM

    assert JUDGED_FROM == VOTERS  # the bound is what knn_label needs to judge a record by its own class
    ok(prov, "check", "v2", "--base", "v1", *POLICY, *PINNED, "--attest", "--key", "maintainer.key")
    code, report = check_json(prov, candidate, "v2")
    combined = rule(report, "detectors.combined")
    blocking = {x["rule"] for x in report["rules"] if x["status"] == "block"}
    assert code == 1 and blocking & {"detectors.combined", "detectors.relabels", "detectors.extreme"}, (
        attack,
        blocking,
    )
    assert combined["statistic"]["expected_classes_judged"] == {"2": 48}
    said = "[class_mix] expected_new_classes lists class '2' (48 records) the base already holds"
    assert said in combined["reason"]
    assert "not judged against the base" not in json.dumps(report["rules"]), attack
    r = prov("check", candidate, "--base", "v2", *POLICY, *PINNED, "--attest", "--key", "maintainer.key")
    assert r.exit_code == 1, r.output
    assert not Path(f"{candidate}.attestation.json").exists()
    text = " ".join(prov("check", candidate, "--base", "v2", *POLICY, *PINNED, "--no-save").stdout.split())
    assert "in expected new classes, not judged" not in text and said in text
