"""Newcomer review 17, replayed on the README tour (real digits, a vendor's signed batch, the crowd's and a scraper's
unsigned ones, v3 then v4 with the scrape; ``support.tour_with_a_scrape``) in a real store.

F1: ``prov quarantine`` signs a version as ``prov commit`` does, but had none of its kept-state flags: it could
sign onto a log a ``.prov/`` writer had cut back, and kept no state of its own. F11: ``--checkpoint PREV`` said
nothing when it passed, so a user could not tell it was checked.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance
from provenance.errors import VerificationError
from support import build_template, one_line, set_column, store_fingerprint, tour_with_a_scrape, validate_output

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")


def build_tour(prov, folder: Path) -> None:
    """The tour up to release day: v3, v4 with the scrape, the diff's findings kept as ``v4-findings.json``, and the
    log state after it kept outside the store as ``kept.cp`` (``prov audit checkpoint --out``, as CI keeps one)."""
    tour_with_a_scrape(prov, source="scraper")
    r = prov("diff", "v3", "v4", "--detect", "--format", "json", *PINNED)
    assert r.exit_code == 0, r.output
    Path("v4-findings.json").write_text(r.stdout)
    r = prov("audit", "checkpoint", *KEY, "--out", "kept.cp", *PINNED)
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="session")
def template_tour17(tmp_path_factory):
    return build_template(tmp_path_factory, "tour17", build_tour, PROV_WORKERS="1")


@pytest.fixture
def tour(template_tour17, workdir) -> Path:
    return workdir


def _entries() -> int:
    with sqlite3.connect(".prov/prov.db") as db:
        return db.execute("select count(*) from audit").fetchone()[0]


def _cut_the_log_back(kept_entries: int) -> None:
    """A ``.prov/`` writer (sqlite3, no key) deletes every audit entry after the first ``kept_entries`` - 1 and the
    checkpoints over them: the log stays consistent, and shorter than the state kept outside the store."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from audit where seq >= ?", [kept_entries])
        db.execute("delete from checkpoints where size >= ?", [kept_entries])


def test_quarantine_checks_the_kept_log_state_and_keeps_its_own(prov, tour):
    """F1 and F11: ``prov quarantine --checkpoint PREV --checkpoint-out FILE`` checks PREV and says so, writes the
    new log state outside .prov/, and the next commit checks that one; JSON names both (schemas/)."""
    r = prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v5", *KEY, *PINNED,
             "--checkpoint", "kept.cp", "--checkpoint-out", "v5.cp")  # fmt: skip
    assert r.exit_code == 0, r.output
    kept_size = _entries()  # v5.cp signs the whole log, v5's commit included
    said = " ".join(r.stdout.split())
    assert "the audit log extends kept.cp (" in said and "no entry was deleted or rewritten since it was kept" in said
    assert f"wrote the signed log state ({_entries()} entries, key " in said and "to v5.cp" in said
    assert prov("audit", "verify", "--checkpoint", "v5.cp", *PINNED).exit_code == 0

    # F11 for prov commit: the state the quarantine kept is checked, and the success says so
    r = prov("commit", "train.parquet", "--tag", "v6", *KEY, *PINNED, "--checkpoint", "v5.cp", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    validate_output("commit", result)
    assert result["extends"] == [{"path": "v5.cp", "treeSize": kept_size}]
    r = prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v7", *KEY, *PINNED,
             "--checkpoint", "v5.cp", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    validate_output("quarantine", result)
    validate_output("commit", result["commit"])
    assert result["commit"]["extends"] == [{"path": "v5.cp", "treeSize": kept_size}]
    assert result["commit"]["checkpoint_out"] is None


def test_quarantine_onto_a_log_that_lost_a_kept_state_is_refused_with_nothing_written(prov, tour):
    """F1: a .prov/ writer cut the log back below the state kept outside the store (the diff's detection run
    erased); the quarantine would sign the cut and keep a state that hides it, so it is refused before any work."""
    _cut_the_log_back(_entries())
    before = store_fingerprint(Path(".prov"))
    r = prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v5", *KEY, *PINNED,
             "--checkpoint", "kept.cp", "--checkpoint-out", "v5.cp")  # fmt: skip
    assert r.exit_code == 1, r.output
    said = one_line(r)
    assert "log state kept in kept.cp" in said and "nothing was committed" in said, said
    assert "prov audit verify --checkpoint kept.cp" in said
    assert store_fingerprint(Path(".prov")) == before
    assert not Path("v5.cp").exists() and not Path("train-new.v5.parquet").exists()
    with pytest.raises(VerificationError, match="log state kept in kept.cp"):  # the Python API checks it too
        provenance.quarantine(None, from_version="v4", source="scraper", tag="v5", key="maintainer.key",
                              kept_log_state="kept.cp", pins=["maintainer.pub"])  # fmt: skip
    assert store_fingerprint(Path(".prov")) == before and not Path("train-new.v5.parquet").exists()


def test_quarantine_refuses_a_bad_checkpoint_out_before_any_work(prov, tour):
    """F1: the path and key of --checkpoint-out are checked as prov commit checks them, before anything is written."""
    before = store_fingerprint(Path(".prov"))
    for args, said in {
        ("--checkpoint-out", ".prov/v5.cp"): "--checkpoint-out .prov/v5.cp: is inside the store",
        ("--checkpoint-key", "maintainer.key"): "--checkpoint-key signs the checkpoint --checkpoint-out writes",
    }.items():
        r = prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v5", *KEY, *PINNED, *args)
        assert r.exit_code == 2 and said in one_line(r), r.output
    assert store_fingerprint(Path(".prov")) == before and not Path("train-new.v5.parquet").exists()


def test_commit_and_quarantine_share_one_definition_of_the_kept_state_flags(prov):
    """F1: one definition, so the two commands' help for the three flags reads alike."""

    def flags(command: str) -> str:
        text = " ".join(prov(command, "--help", env={"COLUMNS": "400"}).stdout.split())
        return text[text.index("--checkpoint-out") : text.index("maintainer's key that signs it")]

    assert flags("commit") == flags("quarantine")


def test_a_file_that_is_no_log_state_is_one_clear_line_on_check_commit_and_quarantine(prov, tour):
    """F6: a report, a policy, the release state ``prov verify`` keeps, the JSON ``prov audit checkpoint --json``
    prints, a batch envelope or a data file given as ``--checkpoint`` each said something else (``not a release
    attestation``, ``envelope field 'payloadType' is missing``); now one line names what the file looks like, exit 2,
    the store as it was. A real log state and a release attestation are still taken."""
    assert prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v5", *KEY, *PINNED).exit_code == 0
    r = prov("check", "v5", "--base", "v3", "--attest", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    r = prov("verify", "v5", "--no-data", "--attestation", "v5.attestation.json", "--release-state", "rs.json", *PINNED)
    assert r.exit_code == 0, r.output
    Path("check.json").write_text(prov("check", "v5", "--base", "v3", "--no-save", "--format", "json", *PINNED).stdout)
    Path("policy.toml").write_text("[detectors]\nfpr = 0.01\n")
    Path("checkpoint.json").write_text(prov("audit", "checkpoint", *KEY, "--json", *PINNED).stdout)
    Path("other.json").write_text('{"release": 3, "note": "kept by hand"}')
    looks = {
        "v4-findings.json": "a 'prov diff --format json' report",
        "check.json": "a 'prov check --format json' report",
        "policy.toml": "a policy file (prov check --policy)",
        "rs.json": "the release state prov verify --release-state keeps, not a log state",
        "checkpoint.json": "what prov audit checkpoint --json prints; pass the file its --out writes",
        "batch.parquet.prov.json": "a signed batch envelope (prov sign)",
        "other.json": "a JSON object with keys release, note",
        "train.parquet": "a Parquet file",
    }
    before = store_fingerprint(Path(".prov"))
    for name, like in looks.items():
        line = (
            f"Error: {name}: not a log state kept by prov commit --checkpoint-out / prov audit checkpoint "
            f"(it looks like {like})"
        )
        for command in (
            ("check", "v5", "--base", "v3", "--no-save"),
            ("commit", "train.parquet", "--tag", "v6", *KEY),
            ("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v6", *KEY),
        ):
            r = prov(*command, *PINNED, "--checkpoint", name)
            assert (r.exit_code, one_line(r)) == (2, line), r.output
    assert store_fingerprint(Path(".prov")) == before
    for kept in ("kept.cp", "v5.attestation.json"):
        assert prov("check", "v5", "--base", "v3", "--no-save", *PINNED, "--checkpoint", kept).exit_code == 0


def _steps(prov, version: str) -> list[str]:
    """The "To release:" lines of a blocked ``prov check VERSION --base v3``, one string each."""
    r = prov("check", version, "--base", "v3", "--no-save", *PINNED, env={"COLUMNS": "400"})
    assert r.exit_code == 1, r.output
    block = r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ", 1)[0]
    return [" ".join(line.split()).removeprefix("- ") for line in block.split("\n  - ")]


def _lineage_rule(prov, version: str) -> str:
    r = prov("check", version, "--base", "v3", "--no-save", "--format", "json", *PINNED)
    return next(x["status"] for x in json.loads(r.stdout)["rules"] if x["rule"] == "lineage.unattributed_beside_signed")


def test_register_the_batch_says_to_commit_again_and_withdraw_is_offered_only_where_it_applies(prov, tour):
    """F3: "register the added records' batch: prov add DATA --source S" read as if registering fixed the version
    checked, but its lineage was signed when it was committed: the step now commits again, and followed as printed
    the rule passes. "a signed batch not shipped on purpose: prov withdraw" was offered whenever
    lineage.unattributed_beside_signed blocked, also with no signed record missing, where a withdrawal changes nothing."""
    train, batch = pq.read_table("train.parquet"), pq.read_table("batch.parquet")
    extra = pq.read_table("scraped.parquet").slice(0, 20)
    extra = set_column(extra, "px10", [v + 1 for v in extra.column("px10").to_pylist()])  # content no batch carries
    pq.write_table(extra, "extra.parquet")
    pq.write_table(pa.concat_tables([train, extra]), "grown.parquet")
    vendor_rows = {tuple(r.values()) for r in batch.to_pylist()[:10]}
    kept = [i for i, r in enumerate(train.to_pylist()) if tuple(r.values()) not in vendor_rows]
    pq.write_table(pa.concat_tables([train.take(kept), extra]), "edited.parquet")
    for data, tag in (("grown.parquet", "g1"), ("edited.parquet", "e1")):
        assert prov("-q", "commit", data, "--tag", tag, "--parent", "v3", *KEY, *PINNED).exit_code == 0

    steps = _steps(prov, "g1")  # added records of no batch, no signed record missing: nothing to withdraw
    register = (  # the envelope form, --unsigned in words only (attack review 33a, A33a-2)
        "register the added records' batch with the envelope its source signed, then commit again (lineage is signed "
        "at commit): prov add BATCH --source S && prov commit DATA --parent g1 --tag NEW --key K (prov add reads "
        "BATCH.prov.json, or --envelope E; only records of your own that no source signed go in with --unsigned "
        "instead)"
    )
    assert register in steps, steps
    assert not [s for s in steps if "prov withdraw" in s], steps
    withdraw = (
        "a signed batch not shipped on purpose: prov withdraw BATCH --reason R --key K (prov sources lists the batches)"
    )
    assert withdraw in _steps(prov, "e1")  # 10 of the vendor's signed records missing: a withdrawal applies

    # followed as printed for records of one's own (content no source signed: --unsigned, as the words say):
    # registering alone leaves g1 blocked (its lineage is signed); the commit after it passes
    assert prov("add", "extra.parquet", "--source", "extra", "--unsigned", *PINNED).exit_code == 0
    assert _lineage_rule(prov, "g1") == "block"
    command = register.split(" && ", 1)[1].split(" (", 1)[0].replace("DATA", "grown.parquet").replace("NEW", "g2")
    assert prov(*command.replace("--key K", "--key maintainer.key").split()[1:], *PINNED).exit_code == 0
    assert _lineage_rule(prov, "g2") == "pass"


def test_findings_picks_the_run_against_a_base_and_says_which_base_it_shows(prov, tour):
    """F4: `prov findings V` showed the newest stored run whatever its base, and the reader could not ask for the run
    against another base. --base B shows the newest run against B (exit 2 naming the bases stored when there is
    none); without it, the header says the run shown is the newest and which other bases have runs."""
    assert prov("-q", "commit", "train.parquet", "--tag", "v2x", "--parent", "v3", *KEY, *PINNED).exit_code == 0
    assert prov("diff", "v2x", "v4", "--detect", *PINNED).exit_code == 0  # the newest run of v4: against v2x

    def header(*args: str) -> str:
        r = prov("findings", "v4", *args, *PINNED)
        assert r.exit_code == 0, r.output
        return " ".join(r.stdout.split("\nDetectors ", 1)[0].split())

    newest = header()
    assert newest.startswith("Findings for v4 against base v2x (run "), newest
    assert ", the newest stored; runs against v3 too: --base B shows one): 60 of 60 records flagged" in newest
    r = prov("findings", "v4", "--base", "v3", "--json", *PINNED)
    chosen = json.loads(r.stdout)
    validate_output("findings", chosen)
    assert (chosen["base"], chosen["bases"]) == ("v3", ["v2x", "v3"])
    assert header("--base", "v3") == (
        f"Findings for v4 against base v3 (run {chosen['run']}): 60 of 60 records flagged by the combined verdict at "
        "FPR 0.01 (its false-alarm rate on clean records)"
    )
    assert f"(run {chosen['run']})" in header("--base", "v3", "--recompute")  # the re-run is against v3 too
    r = prov("findings", "v4", "--base", "v9", *PINNED)
    assert (r.exit_code, one_line(r)) == (
        2,
        "Error: no detector run of v4 against v9 is stored; runs of v4 are stored against v2x, v3 "
        "(prov findings v4 --base v2x)",
    )


def test_a_findings_quarantine_names_a_source_whose_delivery_it_cut_only_mostly(prov, tour):
    """F2: the detectors flagged 59 of the scraper's 60 added records; `--findings` cut the 59 and let the 60th through
    in silence. A note now names the source, its counts and the `--source` that cuts it all (JSON: partly_cut), and
    for records of no source (a delivery no registered batch carries), that no --source names them. Since session
    30's winsorised column scale the detectors flag all 60, so the report given leaves one out, as a check JSON
    leaves out a record a reviewer waived."""
    report = json.loads(Path("v4-findings.json").read_text())
    assert sum(f["flagged"] for f in report["findings"]) == 60
    next(f for f in report["findings"] if f["flagged"])["flagged"] = False
    Path("v4-findings-59.json").write_text(json.dumps(report))
    r = prov("quarantine", "--from", "v4", "--findings", "v4-findings-59.json", "--tag", "v5", *KEY, *PINNED, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    validate_output("quarantine", result)
    assert result["partly_cut"] == [{"source": "scraper", "added": 60, "cut": 59, "kept": 1, "records": 60}]
    assert (
        "Note: source scraper: 60 records added to v4 since v3, 59 flagged and cut, 1 is kept though most of its "
        "delivery was flagged; to cut it all: prov quarantine --from v4 --source scraper --tag NEW --key K (it cuts "
        "every one of scraper's 60 records in v4)"
    ) in " ".join(r.stderr.split())
    r = prov("quarantine", "--from", "v4", "--source", "scraper", "--tag", "v6", *KEY, *PINNED, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["partly_cut"] == [] and "most of" not in r.stderr

    # the same delivery, each record changed by one pixel, committed with no batch registered for it: no source
    scraped = pq.read_table("scraped.parquet")
    moved = set_column(scraped, "px10", [v + 1 for v in scraped.column("px10").to_pylist()])
    pq.write_table(pa.concat_tables([pq.read_table("train.parquet"), moved]), "unbatched.parquet")
    assert prov("-q", "commit", "unbatched.parquet", "--tag", "u1", "--parent", "v3", *KEY, *PINNED).exit_code == 0
    report = json.loads(prov("diff", "v3", "u1", "--detect", "--format", "json", *PINNED).stdout)
    next(f for f in report["findings"] if f["flagged"])["flagged"] = False  # one left out, as above
    Path("u1.json").write_text(json.dumps(report))
    r = prov("quarantine", "--from", "u1", "--findings", "u1.json", "--tag", "u2", *KEY, *PINNED, "--json")
    assert r.exit_code == 0, r.output
    (part,) = json.loads(r.stdout)["partly_cut"]
    assert part["source"] is None and part["added"] == 60 and part["cut"] > 30 and part["kept"] >= 1, part
    assert (
        f"Note: records of no source: 60 added to u1 since v3, {part['cut']} flagged and cut, {part['kept']} "
    ) in " ".join(r.stderr.split())
    assert "no --source names them: leave them out of the data and commit again" in " ".join(r.stderr.split())
