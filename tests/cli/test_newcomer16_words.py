"""Newcomer review 16, findings 5, 6 and 7: one locator, one verdict vocabulary, and the whole evidence in text.

The world: scikit-learn's digits as CSV files, as the reviewer's wine set was. ``v1.csv`` holds 500
records; ``v2.csv`` adds 60, half of them with flipped labels, so the check blocks and the detectors
flag records whose row and line differ (a CSV's header takes line 1).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from support import Prov, build_template, digits_table, doc_section

PIN = ("--signer", "alice.pub")
WIDE = {"COLUMNS": "200"}
LOCATED = re.compile(r"^([0-9a-f]{12})\b.*?\brow (\d+) \(line (\d+)\)")


def build_csv_versions(prov: Prov, folder: Path) -> None:
    from provenance import keys

    t = digits_table(560)
    added = t.slice(500)
    labels = added.column("label").to_pylist()
    labels[:30] = [str((int(x) + 3) % 10) for x in labels[:30]]
    added = added.set_column(added.schema.get_field_index("label"), "label", pa.array(labels))
    pacsv.write_csv(t.slice(0, 500), folder / "v1.csv")
    pacsv.write_csv(pa.concat_tables([t.slice(0, 500), added]), folder / "v2.csv")
    keys.generate(folder / "alice")
    assert prov("init").exit_code == 0
    for tag in ("v1", "v2"):
        r = prov("-q", "commit", f"{tag}.csv", "--tag", tag, "--key", "alice.key", *PIN)
        assert r.exit_code == 0, r.output


@pytest.fixture(scope="session")
def template_csv_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "csv_versions", build_csv_versions)


@pytest.fixture
def csv_versions(template_csv_versions, workdir) -> Path:
    return workdir


def words(text: str) -> str:
    """``text`` with rich's line wrapping undone: every run of spaces and newlines one space."""
    return " ".join(text.split())


def located(text: str) -> dict[str, tuple[int, int]]:
    """``{short digest: (row, line)}`` of the table rows of ``text`` that name a record ``row N (line M)``."""
    return {m[1]: (int(m[2]), int(m[3])) for m in map(LOCATED.match, text.splitlines()) if m}


def test_a_csv_record_is_named_by_its_row_and_its_line_in_diff_check_and_findings(prov, csv_versions):
    """Finding 5: `prov diff` said "row 176" and `prov check` / `prov findings` "line 178" of one record. Each
    now says "row N (line M)": N as the JSON's ``location.row`` counts (0-based over the data rows), M the line an
    editor shows, which holds the record."""
    lines = Path("v2.csv").read_text().splitlines()
    diff = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json", *PIN).stdout)
    added = {c["digest"][:12]: c for c in diff["changes"]["added"]}
    rows = {f["digest"][:12]: f["location"]["row"] for f in diff["findings"] if f.get("location")}
    assert rows and all(f["location"]["path"] == "v2.csv" for f in diff["findings"] if f.get("location"))

    shown = located(prov("diff", "v1", "v2", "--detect", *PIN, env=WIDE).stdout)
    listed = {d: place for d, place in shown.items() if d in added}
    assert len(listed) >= 10, shown  # the Added records table, each at its row and line
    for digest, (row, line) in listed.items():
        assert row == int(added[digest]["locator"]) and line == row + 2
        assert lines[line - 1].split(",")[-1].strip('"') == added[digest]["label"]  # that line is the record

    r = prov("check", "v2", "--base", "v1", *PIN, env=WIDE)
    assert r.exit_code == 1, r.output
    found = prov("findings", "v2", *PIN, env=WIDE).stdout
    for text in (r.stdout, found):
        places = located(text)
        assert len(places) >= 10, text
        assert all(rows[d] == row and line == row + 2 for d, (row, line) in places.items() if d in rows)
        bare = re.sub(r"row \d+ \(line \d+\)|row \d+, line \d+", "", text)
        assert not re.search(r"\bline \d+", bare), text  # never a line without its row
    # the records detectors.extreme blocks on, named the same way
    assert re.search(r"detectors\.extreme blocks on [0-9a-f]{12} \(row \d+, line \d+\)", words(r.stdout)), r.stdout


def test_one_verdict_vocabulary_in_diff_check_and_findings(prov, csv_versions):
    """Finding 6: "ran: more than a clean delta" (check), "flagged: ..." (diff), "flagged" (findings) and
    "ran: flags alone" (demo) for one run. Each detector now says its budget status, which does not decide;
    the combined row says what the gate did (check), or where it stands against its budget (diff)."""
    diff_json = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json", *PIN).stdout)
    budget = {d["detector"]: (d["flagged"], d["expected_at_most"]) for d in diff_json["detectors"]}
    assert any(k > most for k, most in budget.values()) and any(k <= most for k, most in budget.values())
    diff = prov("diff", "v1", "v2", "--detect", *PIN, env=WIDE).stdout
    check = prov("check", "v2", "--base", "v1", *PIN, env=WIDE).stdout
    found = prov("findings", "v2", *PIN, env=WIDE).stdout
    for text in (diff, check, found):
        table = text.split("\nDetectors (", 1)[1].split("\n\n", 1)[0]
        for name, (k, most) in budget.items():
            status = "over" if k > most else "within"
            assert re.search(rf"\n{name}\s+{status} budget \(does not decide\)\s+{k}\s+{most}\s", table), table
        assert "ran:" not in table and "flagged:" not in table and "clean delta" not in table.split("\n", 1)[1]
    combined = {
        "diff": words(diff.split("\ncombined ", 1)[1].split("\n\n", 1)[0]),
        "check": words(check.split("\ncombined ", 1)[1].split("\n\n", 1)[0]),
        "findings": words(found.split("\ncombined ", 1)[1].split("\n\n", 1)[0]),
    }
    assert combined["diff"].startswith("over budget ") and diff_json["detection"]["flagged"] > 7
    assert combined["check"].startswith("blocked: over budget, ")
    assert combined["findings"].startswith("no budget stored ")
    assert prov("findings", "v2", "--recompute", *PIN, env=WIDE).stdout.count("\ncombined    over budget ") == 1


def test_findings_says_under_the_table_where_the_combined_budget_is(prov, csv_versions):
    """Newcomer review 24: `combined  no budget stored` with `-` as expected was explained only in the README."""
    prov("diff", "v1", "v2", "--detect", *PIN)
    found = prov("findings", "v2", *PIN, env=WIDE).stdout
    line = (
        "combined: a stored run keeps no budget (what a clean delta flags); prov findings v2 --base v1 --recompute "
        "or prov check v2 --base v1 shows it\n"
    )
    assert found.split("\nDetectors (", 1)[1].split("\n\n", 1)[1].startswith(line), found
    recomputed = prov("findings", "v2", "--base", "v1", "--recompute", *PIN, env=WIDE).stdout
    assert "\ncombined    over budget " in recomputed and "keeps no budget" not in recomputed


def test_wide_prints_every_records_whole_evidence_in_findings_and_check(prov, csv_versions):
    """Finding 7: the tables cut "strongest evidence" and "flagged by" even at 250 columns, and the hint named
    only COLUMNS. The hint now names --wide, which prints each record whole under the table: every detector
    that flags it and each detector's whole evidence, wrapped at the width, never cut."""
    report = json.loads(prov("check", "v2", "--base", "v1", "--format", "json", *PIN).stdout)
    flagged = [f for f in report["findings"] if f.get("flagged", True)]
    assert len(flagged) >= 10
    narrow = prov("findings", "v2", *PIN).stdout  # 120 columns
    title = words(narrow.split("Flagged records", 1)[1].split("\ndigest", 1)[0])
    assert title.endswith("--wide shows each record whole)"), title
    evidence = {f["digest"][:12]: f["explanation"].split("strongest evidence: ", 1)[1] for f in flagged}
    assert not all(words(e) in words(narrow) for e in evidence.values())  # the table alone cuts them

    for args in (("findings", "v2"), ("check", "v2", "--base", "v1")):
        text = prov(*args, "--wide", *PIN).stdout
        assert max(map(len, text.splitlines())) <= 120
        blocks = text.split("\nFlagged records, each whole (", 1)[1]
        assert "--wide shows" not in text.split("\nFlagged records, each whole (", 1)[0]
        shown = words(blocks)
        listed = 0
        for f in flagged:
            by = [d["detector"] for d in f["detectors"] if d["flagged"]]
            head = (
                f"{f['digest'][:12]}{' extreme' if args[0] == 'check' and f['digest'][:12] in blocked(report) else ''}"
            )
            if f" {head} score " not in shown:
                continue  # a check lists the first 20, as its table does
            listed += 1
            block = shown.split(f" {head} score ", 1)[1].split(" score ")[0]
            assert f"flagged by {len(by)} detector{'s' if len(by) > 1 else ''}: {', '.join(by)}" in block
            row = f["location"]["row"]
            assert f"row {row} (line {row + 2})" in block
            for part in re.split(r"; (?=[a-z_]+ \(p = )", evidence[f["digest"][:12]]):
                assert words(part) in shown, part  # each detector's evidence, whole
        assert listed == (len(flagged) if args[0] == "findings" else 20)


def blocked(report: dict) -> set[str]:
    """The short digests ``detectors.extreme`` blocks on."""
    rule = next(r for r in report["rules"] if r["rule"] == "detectors.extreme")
    return {rec["digest"][:12] for rec in rule["records"]} if rule["status"] == "block" else set()


def test_verify_help_and_the_tour_say_what_an_attestation_needs_and_how_long_it_lasts(prov, demo, monkeypatch):
    """Finding 10: `--attestation ... (needs --signer)`, though PROV_SIGNERS pins a key as well, and the tour did
    not say that an attestation expires after a week, so a training job a week later refuses it."""
    shown = words(prov("verify", "--help", env=WIDE).stdout.replace("│", " "))
    assert "(needs a pinned key: --signer, PROV_SIGNERS or --root)" in shown, shown
    attestation = ("verify", "rc2", "--attestation", "rc2.attestation.json")
    assert prov(*attestation).exit_code == 0  # PROV_SIGNERS alone (the demo fixture sets it)
    monkeypatch.delenv("PROV_SIGNERS")
    assert prov(*attestation).exit_code == 2  # nothing pinned: refused
    assert prov(*attestation, "--signer", "maintainer.pub").exit_code == 0
    policy = prov("check", "--print-default-policy").stdout
    days = int(re.search(r"^valid_for_days = (\d+)", policy, re.M)[1])
    tour = words(doc_section("A tour"))
    assert f"An attestation is valid for {days} days by default (`[attestation] valid_for_days` in the policy)" in tour
    assert "a training job run after that refuses it" in tour
