"""The words `prov check` and `prov verify` print, on the demo's real store (newcomer review 6).

Each test reads what a user sees (the text report at a terminal's width, Markdown, SARIF,
JUnit, an error line) through the CLI runner and checks the exact words.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import store_fingerprint, validate_sarif


def words(text: str) -> str:
    """``text`` with every run of whitespace one space: wrapped lines read as one."""
    return " ".join(text.split())


def verdict_cell(text: str, detector: str) -> str:
    """The Detectors table's verdict cell of ``detector``, its wrapped lines joined."""
    first, *more = text.split(f"\n{detector} ", 1)[1].split("\n\n", 1)[0].split("\n")
    return words(" ".join([re.sub(r"(\s+\d+){3}\s*$", "", first), *more]))


def rules_of(prov, version: str, base: str) -> dict:
    r = prov("check", version, "--base", base, "--format", "json")
    return {x["rule"]: x for x in json.loads(r.stdout)["rules"]}


@pytest.fixture
def far_records(prov, store, keypair, monkeypatch) -> list[str]:
    """A store with ``base`` (1,200 digits in a fixed random order) and ``far`` (the base, the next
    500 digits and 15 images of uniform random pixels, labelled at random), and a policy running
    three detectors at FPR 0.3. Returns the ``prov check`` arguments (policy included).

    The high FPR gives the flag count room (a clean delta of 515 flags about 150, at most ~190),
    while the 15 noise images lie beyond every reference record where a clean delta puts at most
    ~8, and far beyond it (a thousandfold) where the base's own held-out batches put none: only the
    two "beyond" clauses block, by a wide margin on every count. ``duplicates`` and the
    gradient stay out: ``duplicates``' near-copy radius is the base's ``fpr`` quantile of
    first-neighbour distances, so at FPR 0.3 it counts clean records as near copies."""
    from provenance.demo.data import PIXELS, digits

    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    table = digits(shuffle_seed=1)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 17, (15, len(PIXELS)))
    far = pa.table(
        {name: noise[:, i].astype(np.int64) for i, name in enumerate(PIXELS)}
        | {"label": pa.array([str(v) for v in rng.integers(0, 10, 15)], pa.string())}
    )
    for tag, t in (("base", table.slice(0, 1200)), ("far", pa.concat_tables([table.slice(0, 1700), far]))):
        pq.write_table(t, f"{tag}.parquet")
        parent = ["--parent", "base"] if tag == "far" else []
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", str(keypair.private_path), *parent)
        assert r.exit_code == 0, r.output
    Path("three.toml").write_text('[detectors]\nfpr = 0.3\nrun = ["outlier", "knn_label", "spectral"]\n')
    return ["far", "--base", "base", "--policy", "three.toml"]


def test_a_check_blocked_by_the_beyond_clauses_says_so_in_every_format(prov, far_records):
    """Newcomer review 6, item 1: a delta that flags no more records than a clean delta but has more
    of them beyond every reference record than a clean delta has: the headline said only "a clean
    delta flags at most N" and the Detectors table "flagged within chance" beside BLOCKED. Now each
    names the clauses that blocked. (The case was the demo's clean v2 against v1, 16 beyond where 15
    were allowed: clean new writers on the clause's edge; now 15 planted noise images, which since
    session 11 also lie far beyond the reference, so the far clause blocks beside it.)"""
    check = far_records
    r = prov("check", *check, "--format", "json")
    combined = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}["detectors.combined"]
    st = combined["statistic"]
    # the case this test is about: only the two beyond clauses block, with room on the flag count
    assert combined["status"] == "block" and st["flagged"] + 10 <= st["allowed"], st
    beyond, most = st["beyond_reference"], st["beyond_allowed"]
    far, far_most = st["far_beyond_reference"], st["far_beyond_allowed"]
    assert beyond >= most + 5 and far >= far_most + 5
    assert st["blocked_by"] == ["beyond_reference", "far_beyond_reference"]
    said = (
        f"Blocked by detectors.combined: {beyond} of the flagged records lie beyond every reference record, "
        f"where a clean delta has at most {most}; {far} of the flagged records lie far beyond every reference "
        f"record (a thousandfold less likely than its least likely), where a clean delta has at most {far_most}."
    )

    text = prov("check", *check, env={"COLUMNS": "200"}).stdout
    head = text.split("\nPolicy ", 1)[0]
    assert said in words(head)
    combined_row = verdict_cell(text, "combined")
    assert f"blocked: {beyond} beyond the reference (at most {most})" in combined_row
    assert "within" not in combined_row and "chance" not in text

    md = prov("check", *check, "--format", "md").stdout
    assert f"{said}**" in md.replace("\\", "")
    assert f"**blocked: {beyond} beyond the reference (at most {most})" in md.replace("\\", "")
    sarif = json.loads(prov("check", *check, "--format", "sarif").stdout)
    assert said in sarif["runs"][0]["properties"]["detection"] + "."
    junit = ET.fromstring(prov("check", *check, "--format", "junit").stdout)
    decision = next(c for c in junit.iter("testcase") if c.get("name") == "prov.decision")
    assert said in decision.find("failure").text


def test_a_check_blocked_by_the_budget_and_the_extreme_rule_names_both(prov, demo):
    rules = rules_of(prov, "rc1", "r1")
    st, extreme = rules["detectors.combined"]["statistic"], rules["detectors.extreme"]
    assert st["flagged"] > st["allowed"] and extreme["status"] == "block"
    assert st["blocked_by"] == ["flag_budget", "beyond_reference", "far_beyond_reference"]
    text = words(prov("check", "rc1", "--base", "r1", env={"COLUMNS": "200"}).stdout)
    assert (
        f"Blocked by detectors.combined: {st['flagged']} flagged, more than the {st['allowed']} a clean delta flags"
        in text
    )
    n = extreme["count"]
    # the words say whose evidence made each record extreme: the demo's copies and its flips' label doubt, not
    # "far outside anything the base explains" for both (newcomer review 31); the counts are the rule's statistic
    evidence = extreme["statistic"]["evidence"]
    # one planted scraper record (row 1003: a '1' labelled '0', 3.8x closer to it) blocks on collision's copy evidence
    # since it calibrates on the base's distances to another class (A32e-4)
    assert evidence == {"collision": 1, "duplicates": 19, "knn_label": 11}, evidence
    said = (
        f"{n} records block on their own evidence (duplicates' copies: 19, knn_label's label doubt: 11, "
        "collision's copy under another label: 1)"
    )
    assert f"Blocked by detectors.extreme: {said}." in text
    assert (
        "blocked: over budget" in text
        and f"{n} blocking alone on copies, label doubt, copy under another label (detectors.extreme)" in text
    )
    leads = {r["explanation"].split(";")[0] for r in extreme["records"]}
    assert leads == {
        "blocks alone on duplicates' copies (an empty or constant record the base never holds, a tight cluster of "
        "copies, or extra exact copies)",
        "blocks alone on knn_label's label doubt (none of its nearest base records, nor any batch-mate whose label "
        "the base supports, carries its label)",
        "blocks alone on collision's copy under another label (a near-copy of a base record of another class: closer "
        "to it than base records come to their nearest record of another class, and far closer to it than to any base record of its "
        "own label)",
    }, leads


def test_a_check_over_the_policys_max_flagged_says_the_cap_not_a_clean_deltas_budget(prov, demo):
    """Session 7 notes: the report worked out which clause of detectors.combined blocked by comparing
    its counts again, and called every count over ``allowed`` "more than the N a clean delta flags",
    also when ``allowed`` was the policy's ``max_flagged`` cap. The rule now records the clauses."""
    Path("capped.toml").write_text("[detectors]\nmax_flagged = 0\n")
    report = json.loads(prov("check", "rc2", "--base", "r1", "--policy", "capped.toml", "--format", "json").stdout)
    st = next(r for r in report["rules"] if r["rule"] == "detectors.combined")["statistic"]
    assert st["flagged"] >= 1 and st["allowed"] == 0 and st["max_flagged"] == 0
    assert st["blocked_by"] == ["max_flagged"]
    text = words(prov("check", "rc2", "--base", "r1", "--policy", "capped.toml", env={"COLUMNS": "200"}).stdout)
    assert f"Blocked by detectors.combined: {st['flagged']} flagged, more than the policy's max_flagged of 0." in text
    assert "a clean delta flags," not in text and "blocked: more than max_flagged (0)" in text


def test_a_saved_report_names_the_clauses_its_rule_recorded(prov, demo):
    """The report reads the clauses from the rule's ``blocked_by`` and compares no counts itself: a
    saved rc1 report whose rule recorded only the beyond clause says only that one, and one saved
    before ``blocked_by`` existed gives the rule's own reason."""
    saved = json.loads(prov("check", "rc1", "--base", "r1", "--format", "json").stdout)
    rule = next(r for r in saved["rules"] if r["rule"] == "detectors.combined")
    st = rule["statistic"]
    assert st["flagged"] > st["allowed"]
    assert st["blocked_by"] == ["flag_budget", "beyond_reference", "far_beyond_reference"]
    st["blocked_by"] = ["beyond_reference"]
    Path("one.json").write_text(json.dumps(saved))
    head = words(prov("report", "one.json", env={"COLUMNS": "200"}).stdout.split("\nPolicy ", 1)[0])
    assert f"Blocked by detectors.combined: {st['beyond_reference']} of the flagged records lie beyond" in head
    assert "a clean delta flags;" not in head and "more than the" not in head
    del st["blocked_by"]
    Path("old.json").write_text(json.dumps(saved))
    head = words(prov("report", "old.json", env={"COLUMNS": "200"}).stdout.split("\nPolicy ", 1)[0])
    assert f"Blocked by detectors.combined: {words(rule['reason'])}" in head


def test_a_passing_check_says_passed(prov, demo):
    """Newcomer review 16, finding 6: the combined row said "flagged: within a clean delta" in a check that
    passed; it says what the gate did, and each detector its budget status, never "ran:"."""
    r = prov("check", "rc2", "--base", "r1", env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert verdict_cell(r.stdout, "combined") == "passed" and "Blocked" not in r.stdout
    assert re.search(r"\nknn_label\s+(over|within) budget \(does not decide\)\s+\d+", r.stdout), r.stdout
    assert "ran:" not in r.stdout and "clean delta flags at most" in r.stdout


def test_sarif_levels_a_record_error_only_when_a_rule_that_blocked_names_it(prov, demo):
    """Newcomer review 11, finding 10: a passing check wrote every flagged record as an ``error`` result
    under ``detectors.combined``, a rule that passed: error-level code-scanning alerts on a clean pull request."""
    r = prov("check", "rc2", "--base", "r1", "--format", "sarif")
    assert r.exit_code == 0, r.output
    sarif = json.loads(r.stdout)
    validate_sarif(sarif)
    flagged = [x for x in sarif["runs"][0]["results"] if "partialFingerprints" in x]  # a record's result
    assert flagged and {x["level"] for x in flagged} == {"note"}
    r = prov("check", "rc1", "--base", "r1", "--format", "sarif")  # blocked by detectors.combined
    assert r.exit_code == 1, r.output
    flagged = [x for x in json.loads(r.stdout)["runs"][0]["results"] if "partialFingerprints" in x]
    assert flagged and {x["level"] for x in flagged} == {"error"}


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [("json", "a 'prov check --format json' report"), ("sarif", "a SARIF report ('prov check --format sarif')")],
)
def test_verify_given_a_check_report_for_an_attestation_says_what_the_file_is(prov, demo, fmt, kind):
    """Newcomer review 6, item 3: the JSON check report given to --attestation failed with an
    envelope size-limit or field error; the message now says what the file is and how to get an
    attestation, in one line, exit 2, the store untouched."""
    assert prov("check", "rc1", "--base", "r1", "--format", fmt, "--out", "report").exit_code == 1
    before = store_fingerprint(demo / ".prov")
    r = prov("verify", "rc2", "--attestation", "report")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: report: {kind}, not a release attestation; write one with "
        "'prov check V --base B --attest --key K.key' (it writes V.attestation.json) and pass that file\n"
    )
    assert store_fingerprint(demo / ".prov") == before


def test_at_80_columns_the_sources_header_is_one_line_and_a_reason_that_is_the_whole_row_is_whole(prov, demo):
    """Newcomer review 6, item 5: at 80 columns "relabeled after source" wrapped into three header
    lines (even at 200), and lineage.unsigned_from_signing_sources' reason, the only thing its row
    says (it has no count and no bound), ended in "…" before "(not blocked by this rule)"."""
    reason = rules_of(prov, "v2", "v1")["lineage.unsigned_from_signing_sources"]["reason"]
    r = prov("check", "v2", "--base", "v1", env={"COLUMNS": "80"})
    lines = r.stdout.split("\n")
    assert max(len(line.rstrip()) for line in lines) <= 80
    at = next(i for i, line in enumerate(lines) if line.startswith("Sources "))
    at = next(i for i in range(at, len(lines)) if lines[i].startswith("source "))  # after the title and its note
    assert "not shown at 80 columns: base → new, relabeled, removed" in " ".join(" ".join(lines[: at + 1]).split())
    assert lines[at].split() == [
        "source",
        "added",
        "attested",
        "relabeled",
        "after",
        "source",
        "unattributed",
        "flagged",
    ]
    assert set(lines[at + 1]) == {"─"}  # the rule under the header: the header took one line
    assert words(reason) in words(r.stdout)
    assert "(not blocked by this rule)" in reason
    # a wide terminal shows every column, and no header wraps
    wide = prov("check", "v2", "--base", "v1", env={"COLUMNS": "200"}).stdout.split("\n")
    at = next(i for i, line in enumerate(wide) if line.startswith("Sources "))
    assert "relabeled after source" in wide[at + 1] and "flagged signals" in wide[at + 1]
    assert set(wide[at + 2].rstrip()) == {"─"}


def test_waivers_are_counted_once_per_record_the_same_way_in_text_markdown_and_json(prov, demo):
    """Newcomer review 6, item 4: the JSON counted waived records ("2 waived", detectors[combined].waived)
    and the text counted waivers ("3 reviewed waivers honoured: 2 took ...", then "waiver had nothing to
    waive ... already taken out"). Now both count waived records, once each, and each waiver that
    waived nothing says why in words. A waiver of a record only one detector flagged alone (the
    combined verdict did not) waives nothing: no rule counts that record."""
    found = json.loads(prov("findings", "rc1", "--all", "--json").stdout)["findings"]
    head = words(prov("findings", "rc1").stdout.split("\nDetectors", 1)[0])
    assert head.endswith("records flagged by the combined verdict at FPR 0.01 (its false-alarm rate on clean records)")
    flagged = [f for f in found if f["flagged"]]
    by_two = next(f for f in flagged if sum(d["flagged"] for d in f["detectors"]) >= 2)
    first, second = [d["detector"] for d in by_two["detectors"] if d["flagged"]][:2]
    other = next(f for f in flagged if f is not by_two)
    alone = next(f for f in found if not f["flagged"] and any(d["flagged"] for d in f["detectors"]))
    alone_by = next(d["detector"] for d in alone["detectors"] if d["flagged"])
    waive = ("--version", "rc1", "--reason", "reviewed", "--key", "maintainer.key")
    for digest, detector in (
        (by_two["digest"], first),
        (by_two["digest"], second),  # the same record again
        (other["digest"], "combined"),
    ):
        assert prov("waive", digest, "--detector", detector, *waive).exit_code == 0
    before = json.loads(prov("check", "rc1", "--base", "r1", "--format", "json").stdout)
    assert prov("waive", alone["digest"], "--detector", alone_by, *waive).exit_code == 0
    report = json.loads(prov("check", "rc1", "--base", "r1", "--format", "json").stdout)
    honoured = report["waivers"]["honoured"]
    assert [w["effect"] for w in honoured].count("waived") == 2
    combined = next(d for d in report["detectors"] if d["detector"] == "combined")
    assert combined["waived"] == 2 and "; 2 waived" in rule_reason(report, "detectors.combined")
    # the waiver of the record only one detector flagged alone changed no rule's count
    assert [(r["rule"], r["count"]) for r in report["rules"]] == [(r["rule"], r["count"]) for r in before["rules"]]
    idle = {(w["digest"], w["detector"]): w for w in honoured if w["effect"] == "nothing to waive"}
    origin = next(w["origin"] for w in honoured if w["digest"] == by_two["digest"] and w["effect"] == "waived")
    again = idle[(by_two["digest"], second)]
    assert again["why"] == f"record {by_two['digest'][:12]} was already waived by {origin}"
    assert idle[(alone["digest"], alone_by)]["why"].startswith(
        f"no detector rule counts record {alone['digest'][:12]}: "
    )

    text = words(prov("check", "rc1", "--base", "r1", env={"COLUMNS": "100"}).stdout)
    # newcomer review 9, finding 4: the line names the records it waived
    named = ", ".join(w["digest"][:12] for w in honoured if w["effect"] == "waived")
    waivers = f"Waivers: 2 flagged records waived by 4 honoured waivers ({named}); 2 of them waived nothing"
    assert waivers in text
    line = f"- {again['origin']} ({second}, record {by_two['digest'][:12]}) waived nothing: {again['why']}"
    assert line in text
    assert "reviewed waivers honoured" not in text and "had nothing to waive" not in text
    md = prov("check", "rc1", "--base", "r1", "--format", "md").stdout.replace("\\", "")
    assert f"{waivers}." in md
    assert line in md
    # newcomer review 9, finding 4: prov findings marks the records a reviewer waived, in text and JSON,
    # and check's cut flagged list points to it as diff's does
    from jsonschema import Draft202012Validator

    doc = json.loads(prov("findings", "rc1", "--json").stdout)
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "findings.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)
    marked = {f["digest"]: f["waived"] for f in doc["findings"] if f["waived"]}
    assert set(marked) == {by_two["digest"], other["digest"]}, marked
    assert marked[other["digest"]]["detector"] == "combined" and marked[other["digest"]]["reason"] == "reviewed"
    assert marked[by_two["digest"]]["waiver"] == origin
    listing = prov("findings", "rc1", env={"COLUMNS": "200"}).stdout
    assert f"{by_two['digest'][:12]} waived " in listing and f"{other['digest'][:12]} waived " in listing
    assert "; 2 waived by a reviewer (marked waived below)" in words(listing)
    assert f"waived {other['digest'][:12]} by {marked[other['digest']]['waiver']} (combined, key " in listing
    assert words(listing).endswith("): reviewed")
    assert "Flagged records (first 20 of " in text
    assert "all: prov findings rc1, or prov check rc1 --base r1 --format json" in text
    # newcomer review 7, item 4: the headline gives what the verdict flagged, then what was waived
    total = f"{combined['flagged']} of {combined['scored']} records flagged by the combined verdict"
    counted = f"; 2 waived, {combined['flagged'] - 2} count"
    assert total in text and counted in text and total in md and counted in md


def rule_reason(report: dict, rule: str) -> str:
    return next(r["reason"] for r in report["rules"] if r["rule"] == rule)


def test_a_check_of_an_empty_delta_says_there_was_nothing_to_score(prov, demo):
    """The tour's last check (v5, v3's records again, against v3) said "0 of 0 records flagged by the
    combined verdict of 7 detectors (a clean delta flags at most 0 ...)"."""
    r = prov("-q", "commit", "data/digits-v1.parquet", "--tag", "v1-again", "--parent", "v1", "--key", "maintainer.key")
    assert r.exit_code == 0, r.output
    r = prov("check", "v1-again", "--base", "v1", env={"COLUMNS": "200"})
    assert re.fullmatch(r"No record added or relabeled to score; \d+ detectors ran on none\.", r.stdout.split("\n")[1])
    assert "0 of 0" not in r.stdout
    # newcomer review 9, finding 3: prov findings said "0 of 0 records flagged" and "combined flagged 0 - 0"
    for text in (r.stdout, prov("findings", "v1-again", env={"COLUMNS": "200"}).stdout):
        row = next(line for line in text.split("\n") if line.startswith("combined "))
        assert row.split()[:4] == ["combined", "nothing", "to", "score"] and "0 of 0" not in text, text
    head = words(prov("findings", "v1-again").stdout.split("\nDetectors", 1)[0])
    assert re.search(r": nothing to score \(no record added or relabeled\); \d+ detectors ran on none$", head), head


def test_a_passing_class_mix_rule_does_not_say_the_mix_differs(prov, demo):
    """Newcomer review 6, item 6: rc2's passing class_mix.min_p_value said "all additions: class mix
    differs from the base (chi2=2.6, df=9, p=0.98, ...)"."""
    rule = rules_of(prov, "rc2", "r1")["class_mix.min_p_value"]
    assert rule["status"] == "pass"
    assert rule["reason"].startswith("all additions: class mix compared with the base (chi2=")
    blocked = rules_of(prov, "rc1", "r1")["class_mix.min_p_value"]
    assert blocked["status"] == "block" and "class mix differs from the base" in blocked["reason"]


def test_what_a_detector_alone_would_flag_is_said_one_way_in_check_findings_and_json(prov, demo):
    """Session 7 notes: "flags alone" (check's Detectors table), "would be flagged by it alone"
    (findings, the detector rules' reasons) and "alone it would flag" (the demo) named one thing."""
    report = json.loads(prov("check", "rc1", "--base", "r1", "--format", "json").stdout)
    knn = next(d for d in report["detectors"] if d["detector"] == "knn_label")
    rule = next(r for r in report["rules"] if r["rule"] == "detectors.knn_label")
    assert (
        rule["reason"] == f"scored {knn['scored']} records; flags alone {knn['flagged']} (the combined verdict decides)"
    )
    assert rule["expected"].startswith("flags alone at most ")
    text = prov("check", "rc1", "--base", "r1", env={"COLUMNS": "200"}).stdout
    assert "flags alone" in text.split("\nDetectors", 1)[1].split("\n")[1]
    found = prov("findings", "rc1", env={"COLUMNS": "200"}).stdout
    # newcomer review 8, finding 13: findings prints the Detectors table prov check and prov diff print
    assert re.search(r"\ndetector\s+verdict\s+flags alone\s+expected at most\s+scored\n", found), found
    row = re.search(
        rf"\nknn_label\s+(over|within) budget \(does not decide\)\s+{knn['flagged']}\s+(\d+)\s+{knn['scored']}\n", found
    )
    assert row and row[1] == ("over" if knn["flagged"] > int(row[2]) else "within"), found
    assert "would be flagged by it alone" not in found + text


def test_the_drift_warning_says_what_nx_is_once(prov, demo):
    """Session 7 notes: the drift row said "Nx the base's largest shift" after every signal, and the
    guide under the report said again that the batch differs more than the base's batches do. Now the
    reason says what N is once and gives each signal once; the guide says what N measures and what to do."""
    rule = rules_of(prov, "rc1", "r1")["detectors.drift"]
    assert rule["status"] == "warn"
    reason = rule["reason"]
    assert reason.startswith("the batch is shifted beyond the base's own batches, Nx the largest shift between them: ")
    assert reason.count("largest shift") == 1 and reason.count("base batches") == 0
    signals = [s["signal"] for s in rule["statistic"]["signals"] if s["shifted"]]
    assert signals and all(reason.count(f"{s} ") == 1 for s in signals)
    text = words(prov("check", "rc1", "--base", "r1", env={"COLUMNS": "200"}).stdout)
    assert text.count("shifted beyond the base's own batches") == 1 and "taken as one batch" not in text


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_a_deciding_rules_reason_is_whole_at_any_width(prov, demo, columns):
    """At 100 columns the Rules table came out wider than the terminal (the expected column took its
    widest cell before the reason got its narrowest) and every line was cropped at the edge, mid-word
    ("registered batch where sou"). Each blocked or warned rule's reason reads whole, within the width."""
    report = json.loads(prov("check", "rc1", "--base", "r1", "--format", "json").stdout)
    text = prov("check", "rc1", "--base", "r1", env={"COLUMNS": str(columns)}).stdout
    assert max(len(line) for line in text.split("\n")) <= columns
    rules = text.split("\nRules ", 1)[1].split("\n\n", 1)[0]
    shown = [r for r in report["rules"] if r["status"] in ("block", "warn")]
    shown = [r for r in shown if not r["rule"].startswith("detectors.") or r["rule"] == "detectors.drift"]
    assert len(shown) >= 4
    for rule in shown:  # the reason is the row's last column: its wrapped lines read on, word after word
        assert words(rule["reason"]) in words(rules), rule["rule"]


def test_the_signals_heading_is_a_sentence(prov, demo):
    """Newcomer review 9, finding 11: "Signals (2 flagged; 1 not flagged: --format json)" read as a fragment."""
    heads = {}
    for base, new in (("v1", "v2"), ("r1", "rc1")):
        text = prov("diff", base, new, env={"COLUMNS": "200"}).stdout
        heads[new] = next(line for line in text.split("\n") if line.startswith("Signals ("))
        signals = json.loads(prov("diff", base, new, "--format", "json").stdout)["signals"]
        rest = sum(1 for g in signals if not g["flagged"])
        ones = "the 1 unflagged one is" if rest == 1 else f"the {rest} unflagged ones are"
        assert heads[new] == f"Signals ({len(signals) - rest} flagged; {ones} in --format json)", heads[new]
        # no line padded with spaces to the width, and a short table as wide as its rows, not its title
        lines = text.split("\n")
        assert not [line for line in lines if line.endswith(" ")], [line for line in lines if line.endswith(" ")][:3]
        at = next(i for i, line in enumerate(lines) if line.startswith("Added records ("))
        assert lines[at + 1].split() == ["digest", "label", "source", "locator"], lines[at + 1]
        assert len(lines[at + 2]) < 60, lines[at + 2]  # its rule: 12-hex digest, label, source, locator
