"""`prov diff --detect` and `prov findings` through the CLI."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.store import Store
from support import Prov, build_template, crashing_detector, digits_table


def build_two_versions(prov: Prov, folder: Path) -> None:
    """v1: the first 1,000 digits; v2: 200 more, 8 of them with a wrong label; both by alice."""
    Store.init(folder).close()
    keys.generate(folder / "alice")
    full = digits_table()
    pq.write_table(full.slice(0, 1000), folder / "v1.parquet")
    new = full.slice(0, 1200)
    labels = new.column("label").to_pylist()
    for i in range(1000, 1008):
        labels[i] = str((int(labels[i]) + 3) % 10)
    pq.write_table(
        new.set_column(new.schema.get_field_index("label"), "label", pa.array(labels)), folder / "v2.parquet"
    )
    for tag in ("v1", "v2"):
        assert (
            prov("commit", f"{tag}.parquet", "--tag", tag, "--key", "alice.key", "--signer", "alice.pub").exit_code == 0
        )


@pytest.fixture(scope="session")
def template_two_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "two_versions", build_two_versions)


@pytest.fixture
def two_versions(template_two_versions, workdir) -> None:
    """v1 and v2 (built once per session, copied here)."""


def test_diff_detect_reports_findings_and_stores_them(prov, two_versions):
    r = prov("diff", "v1", "v2", "--detect", "--format", "json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["detect"] is True and report["summary"]["added"] == 200
    assert {d["status"] for d in report["detectors"]} == {"ran"}
    findings = report["findings"]  # DESIGN: one per scored record, the combined verdict
    assert len(findings) == 200 and {"digest", "score", "flagged", "explanation", "detectors"} <= set(findings[0])
    assert {d["detector"] for d in findings[0]["detectors"]} >= {"knn_label", "outlier", "gradient"}
    flagged = {f["digest"] for f in findings if f["flagged"]}
    assert len(flagged) >= 8
    assert report["detection"]["listed"] == "all"
    # --flagged-only lists the flagged records only, the same ones, and still counts every scored record
    compact = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json", "--flagged-only").stdout)
    assert compact["findings"] == [f for f in findings if f["flagged"]]
    assert (compact["detection"]["scored"], compact["detection"]["flagged"]) == (200, len(flagged))
    assert compact["detection"]["listed"] == "flagged" and compact["summary"] == report["summary"]
    alone = prov("diff", "v1", "v2", "--flagged-only")
    assert alone.exit_code == 2 and "give --detect with it" in alone.stderr
    stored = json.loads(prov("findings", "v2", "--json").stdout)
    assert stored["base"] == "v1"
    assert {f["digest"] for f in stored["findings"]} == flagged
    assert all(f["flagged"] and f["detectors"] for f in stored["findings"])
    # in words: a detector "ran" (not a verdict); a record is "flagged" by the combined verdict
    text = prov("findings", "v2")
    assert text.exit_code == 0, text.output
    assert f"{len(flagged)} of 200 records flagged by the combined verdict" in " ".join(text.stdout.split())
    # its budget status (newcomer review 16, finding 6: "ran:" read alike at seven times its budget)
    assert re.search(r"\nknn_label\s+(over|within) budget \(does not decide\)", text.stdout), text.stdout
    assert " ok" not in text.stdout and "ran:" not in text.stdout
    # one line per flagged record, worst first, naming the detectors that flag it
    rows = [line for line in text.stdout.splitlines() if line[:12] in {d[:12] for d in flagged}]
    assert len(rows) == len(flagged)  # the listing command lists them all (`| less`), not the first 20
    assert all(re.search(r"\b\d: [a-z_]+|combined only", r) for r in rows)
    assert f"Flagged records ({len(flagged)}, worst first" in text.stdout
    every = prov("findings", "v2", "--all").stdout
    assert "Scored records (flagged first) (200, worst first" in every and "not flagged" in every
    scored = {f["digest"][:12] for f in findings}
    assert len([line for line in every.splitlines() if line[:12] in scored]) == 200


def test_findings_lists_the_runs_object_not_its_rows(prov, two_versions):
    """A run keeps one row per flagged record (its combined verdict, for sqlite3 and quarantines) and
    every detector's score in the run's object; `prov findings` reads the object, re-hashed, so a
    `.prov/` writer who edits the rows changes nothing it lists, and an altered object is exit 1."""
    assert prov("diff", "v1", "v2", "--detect").exit_code == 0
    before = json.loads(prov("findings", "v2", "--json").stdout)
    db = sqlite3.connect(".prov/prov.db")
    counts = db.execute("select detector, count(*) from findings where run = ? group by detector", [before["run"]])
    assert counts.fetchall() == [("combined", len(before["findings"]))]  # no row per detector
    worst = before["findings"][0]["digest"]
    db.execute("update findings set score = 0.1, flagged = 0, explanation = 'fine' where digest = ?", [worst])
    db.commit()
    assert json.loads(prov("findings", "v2", "--json").stdout) == before
    oid = db.execute("select json_extract(detail, '$.findings') from audit where action = 'detect'").fetchone()[0]
    db.close()
    path = next(Path(".prov/objects").glob(f"{oid}*"))
    path.write_bytes(path.read_bytes().replace(b'"flagged":true', b'"flagged":false', 1))
    altered = prov("findings", "v2")
    assert altered.exit_code == 1 and oid[:16] in altered.stderr and "altered" in altered.stderr


def test_findings_lists_the_run_the_audit_log_names_not_a_planted_one(prov, two_versions):
    """Attack review 9, F1: a `.prov/` writer adds a newer run (detector_runs and findings rows, no audit
    entry) flagging one record with harmless evidence; `prov findings` listed it. It lists the run of the
    newest `detect` entry, from its object."""
    assert prov("diff", "v1", "v2", "--detect").exit_code == 0
    before = json.loads(prov("findings", "v2", "--json").stdout)
    assert len(before["findings"]) > 1
    db = sqlite3.connect(".prov/prov.db")
    db.row_factory = sqlite3.Row
    old = dict(
        db.execute("select * from detector_runs where run = ? and detector = 'combined'", [before["run"]]).fetchone()
    )
    db.execute(
        f"insert into detector_runs ({','.join(old)}) values ({','.join('?' * len(old))})",
        list({**old, "run": "feedfacefeedface", "flagged": 1, "created_at": "2099-01-01T00:00:00+00:00"}.values()),
    )
    x = before["findings"][0]
    db.execute(
        "insert into findings (run, version, base, position, digest, label, detector, score, flagged, explanation) "
        "values ('feedfacefeedface', 'v2', 'v1', 0, ?, ?, 'combined', 0.999, 1, 'a harmless rescan')",
        [x["digest"], x["label"]],
    )
    db.commit()
    db.close()
    after = prov("findings", "v2", "--json")
    assert after.exit_code == 0 and json.loads(after.stdout) == before
    assert "feedfacefeedface" not in prov("findings", "v2").stdout
    assert before["from_rows"] is False  # read from the run's object, not from rows
    # a run stored before findings objects (its entry names none) is read from its rows, and says so
    # (the entry re-chained: an entry edited in place breaks the chain, and prov findings then refuses)
    from provenance.store import audit

    db = sqlite3.connect(".prov/prov.db")
    detail = json.loads(db.execute("select detail from audit where action = 'detect'").fetchone()[0])
    with db:
        audit.append(db, "detect", "v2", {k: v for k, v in detail.items() if k != "findings"})
    db.close()
    old_run = json.loads(prov("findings", "v2", "--json").stdout)
    assert old_run["run"] == before["run"] and old_run["from_rows"] is True
    assert "Not verified" in prov("findings", "v2").stdout


def test_findings_says_a_run_is_unsigned_and_recompute_catches_a_planted_one(prov, two_versions):
    """Attack review 9b, F9b-1: a `.prov/` writer stores an edited copy of the findings object (nothing
    flagged) and appends a `detect` entry naming it, the chain re-made; `prov findings` listed "0 flagged"
    as if nothing were wrong. It now says the run is not signed, `--recompute` re-runs the detectors on the
    signed versions and fails on the planted run, a checkpoint by a pinned key does not make a run trusted
    (attack review 10, F10-1: it reads "Not checked", naming the checkpoint), and an
    entry edited in place breaks the chain (exit 1)."""
    from provenance.store import audit

    pin = ("--signer", "alice.pub")
    assert prov("diff", "v1", "v2", "--detect", *pin).exit_code == 0
    honest = json.loads(prov("findings", "v2", "--json", *pin).stdout)
    assert honest["signed_by"] is None and len(honest["findings"]) >= 8
    assert "Not signed:" in prov("findings", "v2", *pin).stdout
    checked = prov("findings", "v2", "--recompute", *pin)
    assert checked.exit_code == 0 and "Recomputed:" in checked.stdout, checked.output
    assert prov("audit", "checkpoint", "--key", "alice.key").exit_code == 0
    signed = prov("findings", "v2", *pin).stdout
    assert "Not checked:" in signed and "not who ran the detectors" in signed and "Not signed" not in signed
    assert "Not signed:" in prov("findings", "v2").stdout  # nothing pinned: keys in .prov/ prove nothing

    db = sqlite3.connect(".prov/prov.db")
    detail = json.loads(db.execute("select detail from audit where action = 'detect' order by seq desc").fetchone()[0])
    document = json.loads(Store.open().objects.get(detail["findings"], "findings"))
    for f in document["findings"]:
        f["flagged"] = False
    for d in document["detectors"]:
        d["flagged"] = 0
    data = json.dumps(document).encode()
    store = Store.open()
    with store.write():  # the attacker's copy, stored under its own hash as any object is
        planted = store.put_object(data, "json")
    store.close()
    with db:
        audit.append(db, "detect", "v2", detail | {"findings": planted})
    shown = json.loads(prov("findings", "v2", "--json", *pin).stdout)
    assert shown["findings"] == [] and shown["signed_by"] is None  # what .prov/ says, marked as such
    caught = prov("findings", "v2", "--recompute", *pin)
    assert caught.exit_code == 1 and "differs from the detectors re-run" in caught.stderr, caught.output
    with db:
        db.execute(
            "update audit set detail = json_set(detail, '$.flagged', 0) where seq = (select max(seq) from audit)"
        )
    db.close()
    edited = prov("findings", "v2", *pin)
    assert edited.exit_code == 1 and "audit log is broken" in edited.stderr


def test_findings_recompute_fails_on_a_run_that_keeps_flags_and_scores_but_rewrites_what_it_prints(prov, two_versions):
    """Attack review 10b, F10b-2: a `.prov/` writer kept every record's flag and score but rewrote the rest of the
    stored run (the Detectors rows to "0 flagged", every explanation to a harmless story), and --recompute, which
    compared flags and scores only, said "Recomputed: ... the same" under the planted text. It now compares what
    the listing prints too, and fails (exit 1) naming what differs."""
    from provenance.store import audit

    pin = ("--signer", "alice.pub")
    assert prov("diff", "v1", "v2", "--detect", *pin).exit_code == 0
    assert prov("findings", "v2", "--recompute", *pin).exit_code == 0  # the honest run agrees with itself
    db = sqlite3.connect(".prov/prov.db")
    detail = json.loads(db.execute("select detail from audit where action = 'detect' order by seq desc").fetchone()[0])
    honest = Store.open().objects.get(detail["findings"], "findings")

    def plant(edit):  # the attacker: an edited copy under its own hash, a detect entry naming it
        document = json.loads(honest)
        edit(document)
        store = Store.open()
        with store.write():
            planted = store.put_object(json.dumps(document).encode(), "json")
        store.close()
        with db:
            audit.append(db, "detect", "v2", detail | {"findings": planted})
        return prov("findings", "v2", "--recompute", *pin)

    def reword(document: dict) -> None:
        for f in document["findings"]:
            f["explanation"] = "an exact re-delivery of a base record the vendor re-signed"

    def zero_rows(document: dict) -> None:
        for d in document["detectors"]:
            d["flagged"] = 0

    reworded = plant(reword)
    assert reworded.exit_code == 1 and "the explanation of record" in reworded.stderr, reworded.output
    zeroed = plant(zero_rows)
    assert zeroed.exit_code == 1 and "the Detectors row of" in zeroed.stderr, zeroed.output
    db.close()


def test_findings_recompute_reruns_the_detectors_and_rate_the_run_names(prov, two_versions):
    """A run of some detectors at another rate (a check's policy may name them) is recomputed as it was run, not
    with every detector at 0.01 (which would call an honest run altered), and the listing names what it re-ran."""
    import provenance
    from provenance.trust.pins import Pins

    provenance.detect(".", "v1", "v2", detectors=["knn_label", "outlier"], fpr=0.05, pins=Pins.load(["alice.pub"]))
    r = prov("findings", "v2", "--recompute", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert "Recomputed: the 2 detectors it names, re-run on the signed versions v1 and v2 at FPR 0.05" in said, said


def test_findings_says_which_columns_a_narrow_terminal_leaves_out(prov, two_versions):
    assert prov("diff", "v1", "v2", "--detect").exit_code == 0
    narrow = prov("findings", "v2", env={"COLUMNS": "80"}).stdout
    title = " ".join(narrow.split("Flagged records", 1)[1].split("digest", 1)[0].split())
    # the hint says how to read what no width shows whole (newcomer review 16, finding 7)
    said = re.search(
        r"not shown at 80 columns: ([a-z, ]+); COLUMNS=(\d+) shows them; --wide shows each record whole\)", title
    )
    assert said, title
    # lineage goes first; the locator stays where "flagged by" wrapping makes room for it (newcomer review 30)
    assert "lineage" in said.group(1).split(", ")
    wide = prov("findings", "v2", env={"COLUMNS": said.group(2)}).stdout
    header = next(line for line in wide.splitlines() if line.startswith("digest"))
    assert all(f" {name} " in f"{header} " for name in said.group(1).split(", "))
    assert "not shown" not in wide
    headers = {"digest", "score", "label", "source", "lineage", "locator", "flagged by", "strongest evidence"}
    for columns in (50, 60, 80):  # narrower than the columns that never drop: no word of the title is lost
        text = prov("findings", "v2", env={"COLUMNS": str(columns)}).stdout
        title = " ".join(text.split("Flagged records", 1)[1].split("\ndigest", 1)[0].split())
        said = re.search(rf"not shown at {columns} columns: ([a-z, ]+); COLUMNS=(\d+) shows them; --wide shows", title)
        assert said and set(said.group(1).split(", ")) <= headers, title


def test_flagged_rows_are_whole_at_80_columns(prov, two_versions):
    """At 80 columns the columns that never drop needed ~86 (source, and "flagged by" up to 44
    characters), and the terminal cut each row at its edge: '3: gradient, knn_label, ou'. They now
    wrap between words there, and every detector that flags a record is named whole."""
    report = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json").stdout)
    alone = {
        f["digest"][:12]: {d["detector"] for d in f["detectors"] if d["flagged"]}
        for f in report["findings"]
        if f["flagged"]
    }
    assert any(len(names) >= 2 for names in alone.values())
    for columns in (60, 80):
        text = prov("findings", "v2", env={"COLUMNS": str(columns)}).stdout
        table = text.split("\nFlagged records", 1)[1].split("\n")
        assert all(len(line) <= columns for line in table), [line for line in table if len(line) > columns]
        rows: dict[str, str] = {}
        for line in table:
            if line[:12] in alone:
                rows[line[:12]] = line
            elif rows and line.startswith(" "):  # a wrapped cell's next line
                last = next(reversed(rows))
                rows[last] += " " + line
        assert set(rows) == set(alone)
        for digest, names in alone.items():
            shown = set(re.findall(r"[a-z_]+", rows[digest].split("  ", 1)[1]))
            assert names <= shown, (columns, rows[digest], names)


def test_a_crashing_detector_exits_3_after_printing_the_report(prov, two_versions):
    with crashing_detector("model file missing"):
        r = prov("diff", "v1", "v2", "--detect", "--format", "json")
    assert r.exit_code == 3
    report = json.loads(r.stdout)
    broken = next(d for d in report["detectors"] if d["detector"] == "broken")
    assert broken["status"] == "error" and "model file missing" in broken["error"]
    assert "detector(s) broken failed" in r.stderr
    text = prov("findings", "v2", env={"COLUMNS": "120"})
    assert "; 1 detector failed: broken (the gate fails closed)" in " ".join(
        text.stdout.split("\nDetectors")[0].split()
    )
    assert "\nbroken      error: RuntimeError: model file missing" in text.stdout  # as prov diff's table says it


def test_detect_against_a_base_without_features_is_an_input_error(prov, workdir, store, keypair):
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["x", "y"]}), workdir / "a.parquet")
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": ["x", "y", "y"]}), workdir / "b.parquet")
    prov("commit", "a.parquet", "--tag", "a", "--key", keypair.private_path, "--signer", keypair.public_path)
    prov("commit", "b.parquet", "--tag", "b", "--key", keypair.private_path, "--signer", keypair.public_path)
    r = prov("diff", "a", "b", "--detect")
    assert r.exit_code == 2 and "version a has no reference profile" in r.stderr


def test_exact_copies_of_a_base_record_or_a_new_one_are_scored_and_flagged(prov, workdir, store, keypair):
    full = digits_table()
    base = full.slice(0, 1000)
    pq.write_table(base, workdir / "v1.parquet")
    flood = pa.concat_tables([full.slice(1000, 200), *[base.slice(7, 1)] * 40, *[full.slice(1300, 1)] * 40])
    pq.write_table(pa.concat_tables([base, flood]), workdir / "v2.parquet")
    for tag in ("v1", "v2"):
        assert (
            prov(
                "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path
            ).exit_code
            == 0
        )
    report = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json").stdout)
    assert report["summary"]["added"] == 201  # the new record counts once; its 39 more rows are copies
    copied = [f for f in report["findings"] if "40 extra exact copies" in f["explanation"]]
    new_one = [f for f in report["findings"] if "39 extra exact copies" in f["explanation"]]
    assert len(report["findings"]) == 202 and len(copied) == 1 and len(new_one) == 1
    assert copied[0]["flagged"] and new_one[0]["flagged"]
    duplicates = next(d for d in copied[0]["detectors"] if d["detector"] == "duplicates")
    assert duplicates["flagged"] and duplicates["score"] > 0.999


def _schema(name: str) -> dict:
    return json.loads((Path(__file__).parents[2] / "schemas" / f"{name}.schema.json").read_text())


def test_flagged_records_are_named_and_located_in_the_data_file(prov, two_versions):
    """A reviewer goes from a flagged record to its row: label, source, lineage and the data file's row."""
    import jsonschema

    report = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json").stdout)
    jsonschema.validate(report, _schema("diff"), cls=jsonschema.Draft202012Validator)
    data = pq.read_table("v2.parquet").column("label").to_pylist()
    flagged = [f for f in report["findings"] if f["flagged"]]
    assert flagged
    for f in flagged:
        assert f["change"] == "added" and f["lineage"] == "unattributed" and f["source"] is None
        assert f["location"] == {"path": "v2.parquet", "row": int(f["locator"])}
        assert data[f["location"]["row"]] == f["label"]  # the row the report points at is this record's
    planted = {str((int(x) + 3) % 10) for x in digits_table().slice(1000, 8).column("label").to_pylist()}
    assert {f["label"] for f in flagged if 1000 <= f["location"]["row"] < 1008} <= planted
    # each detector and the combined verdict against what a clean delta of 200 records flags at FPR 1%
    assert report["detection"]["scored"] == 200 and report["detection"]["flagged"] == len(flagged)
    assert 2 <= report["detection"]["expected_at_most"] < 20
    from provenance.stats import binomial_upper_limit

    alone = binomial_upper_limit(200, report["detection"]["fpr"], 0.001)
    assert {d["expected_at_most"] for d in report["detectors"]} == {alone}
    assert report["detection"]["expected_at_most"] >= alone  # the combined budget allows for drift between batches
    assert sum(row["flagged"] for row in report["by_source"]) == len(flagged)


def test_check_names_its_records_and_the_data_file(prov, two_versions):
    import jsonschema

    r = prov("check", "v2", "--base", "v1", "--signer", "alice.pub", "--format", "json")
    report = json.loads(r.stdout)
    jsonschema.validate(report, _schema("check"), cls=jsonschema.Draft202012Validator)
    assert report["data"] == {"path": "v2.parquet", "kind": "table"}
    assert report["findings"], r.output
    data = pq.read_table("v2.parquet").column("label").to_pylist()
    for f in report["findings"]:
        assert data[f["location"]["row"]] == f["label"] and f["lineage"] == "unattributed"
    assert [(s["source"], s["flagged"]) for s in report["sources"]] == [(None, len(report["findings"]))]
    # diff and check judge the combined verdict against the same budget
    combined = next(d for d in report["detectors"] if d["detector"] == "combined")
    diff = json.loads(prov("diff", "v1", "v2", "--detect", "--format", "json").stdout)
    assert diff["detection"]["expected_at_most"] == combined["allowed"]


def test_ci_formats_lead_with_the_decision_and_give_one_sarif_result_per_flagged_record(prov, two_versions):
    import xml.etree.ElementTree as ET

    from support import validate_sarif

    check = ["check", "v2", "--base", "v1", "--signer", "alice.pub"]
    report = json.loads(prov(*check, "--format", "json").stdout)
    assert report["decision"] == "blocked" and report["findings"]
    blocking = {rec["digest"] for x in report["rules"] if x["rule"] == "detectors.extreme" for rec in x["records"]}
    flagged = {f["digest"] for f in report["findings"]} | blocking
    sarif = json.loads(prov(*check, "--format", "sarif").stdout)
    validate_sarif(sarif)
    run = sarif["runs"][0]
    assert run["properties"]["decision"] == "blocked" and run["invocations"][0]["exitCode"] == 1
    per_record = [x for x in run["results"] if "recordRow/v1" in x.get("partialFingerprints", {})]
    assert sorted(x["properties"]["digest"] for x in per_record) == sorted(flagged)
    assert all(  # a record's row: its digest and label (attack review 10b, S10b-1)
        x["partialFingerprints"]["recordRow/v1"] == f"{x['properties']['digest']}:{x['properties']['label']}"
        for x in per_record
    )
    rows = {f["digest"]: f["location"]["row"] for f in report["findings"]}
    for x in per_record:
        assert x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "v2.parquet"
        digest = x["properties"]["digest"]
        if digest in rows:
            assert f"row {rows[digest]}" in x["message"]["text"] and "flagged by" in x["message"]["text"]

    junit = ET.fromstring(prov(*check, "--format", "junit").stdout)
    first = junit.find(".//testcase")
    assert first is not None and first.get("name") == "prov.decision"
    failure = first.find("failure")
    assert failure is not None and failure.get("message", "").startswith("BLOCKED by ")
    assert "flagged by the combined verdict" in (failure.text or "")

    md = prov(*check, "--format", "md").stdout
    assert md.startswith("### ⛔ prov check v2 --base v1: BLOCKED by ")
    assert md.index("records flagged by the combined verdict") < md.index("#### Flagged records")
    assert md.index("#### Flagged records") < md.index("#### Sources") < md.index("#### Detectors")
    assert "expected at most" in md


def test_a_text_table_row_is_a_line_users_can_click():
    from provenance.report.sarif import region_of

    assert region_of({"path": "data/batch.csv", "row": 0}) == {"startLine": 2}  # after the header
    assert region_of({"path": "data/batch.jsonl", "row": 4}) == {"startLine": 5}
    assert region_of({"path": "data/v2.parquet", "row": 4}) is None  # a binary file: the file is the location
    assert region_of({"path": "images/cat/1.png"}) is None
