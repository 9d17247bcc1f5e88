"""Newcomer review 19: the previous review's leftovers (F5, F7 to F10, F12) and what a newcomer met running the tour,
each replayed through the CLI on real Parquet files, keys and stores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import validate_output

PINNED = ("--signer", "k.pub")
KEY = ("--key", "k.key")


def _table(path: str, labels: list, sources: list[str] | None = None) -> None:
    columns = {"x": [float(i) for i in range(len(labels))], "label": labels}
    if sources is not None:
        columns["src"] = sources
    pq.write_table(pa.table(columns), path)


def _store_with_v1(prov, workdir: Path, labels: list, sources: list[str] | None = None) -> None:
    """A store with ``d.parquet`` committed as v1 under ``k.key`` (``k.pub`` pinned by the tests)."""
    assert prov("init").exit_code == 0
    keys.generate(workdir / "k")
    _table("d.parquet", labels, sources)
    read = ("--source-column", "src") if sources is not None else ()
    r = prov("commit", "d.parquet", "--tag", "v1", *KEY, *PINNED, *read)
    assert r.exit_code == 0, r.output


def test_status_names_a_label_type_change_not_other_sources(prov, workdir):
    """F8: the same records and labels written with a string label column where v1 read integers move the Merkle
    root (its entries type the label); status said "same records, other sources", verify "different sources"."""
    _store_with_v1(prov, workdir, [0, 1, 0, 1])
    _table("d.parquet", ["0", "1", "0", "1"])
    r = prov("status", *PINNED)
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first == (
        "d.parquet: not v1's data (4 records): same records and labels; label type int -> string "
        "(the Merkle root types labels)"
    )
    assert "source" not in r.stdout
    r = prov("status", *PINNED, "--json")
    report = json.loads(r.stdout)
    validate_output("status", report)
    assert report["clean"] is False and not any(report["counts"].values())
    assert report["same_records"].startswith("same records and labels; label type int -> string")
    r = prov("verify", "v1", *PINNED)
    assert r.exit_code == 1
    assert "(same records and labels; label type int -> string" in r.stderr and "sources" not in r.stderr


def test_status_counts_records_under_another_source(prov, workdir):
    """F8: where only the source column changed, status says how many records moved to another source."""
    sources = ["vendor", "crowd"] * 3
    _store_with_v1(prov, workdir, ["a", "b"] * 3, sources)
    _table("d.parquet", ["a", "b"] * 3, ["vendor", "crowd", "scraper", "crowd", "scraper", "crowd"])
    r = prov("status", *PINNED)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        "d.parquet: not v1's data (6 records): same records and labels; 2 records under another source"
    )
    report = json.loads(prov("status", *PINNED, "--json").stdout)
    assert report["same_records"] == "same records and labels; 2 records under another source"
    _table("d.parquet", ["a", "b"] * 3, sources)
    report = json.loads(prov("status", *PINNED, "--json").stdout)
    assert report["clean"] is True and report["same_records"] is None


VENDOR, CROWD, SCRAPER = (
    "vendor-acme-imaging-2026-q3-batch-A",
    "crowd-platform-eu-west-annotators",
    "scraper-common-crawl-subset-2026-11-30",
)


def _long_named_sources(prov, workdir: Path) -> None:
    """v1: 20 records of two sources with long names; v2: those, two more copies of a crowd record, and 3 records
    of a third long-named source (the vendor's 10 unchanged)."""
    _store_with_v1(prov, workdir, [str(i % 3) for i in range(20)], [VENDOR, CROWD] * 10)
    _commit_v1_and(
        "v2", prov, [(CROWD, 1.0, "1"), (CROWD, 1.0, "1")] + [(SCRAPER, 100.0 + i, str(i)) for i in range(3)]
    )


def _commit_v1_and(tag: str, prov, more: list[tuple[str, float, str]]) -> None:
    """Commit as ``tag`` v1's records and ``more`` (source, x, label) after them."""
    xs = [float(i) for i in range(20)] + [x for _, x, _ in more]
    labels = [str(i % 3) for i in range(20)] + [label for _, _, label in more]
    sources = [VENDOR, CROWD] * 10 + [source for source, _, _ in more]
    pq.write_table(pa.table({"x": xs, "label": labels, "src": sources}), "d.parquet")
    r = prov("commit", "d.parquet", "--tag", tag, *KEY, *PINNED)
    assert r.exit_code == 0, r.output


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_diff_tables_show_whole_source_names(prov, workdir):
    """F7: the Sources table and the record lists cut a source to 26 characters ('vendor-acme-imaging-2026-…'),
    naming none of them; now the name is whole, broken across lines only where the terminal has no room, and the
    columns after it stay on screen."""
    _long_named_sources(prov, workdir)
    r = prov("diff", "v1", "v2", *PINNED, env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    assert "…" not in "\n".join(_section(r.stdout, "Sources") + _section(r.stdout, "Added records"))
    sources = _section(r.stdout, "Sources")
    for name in (VENDOR, CROWD, SCRAPER):
        assert any(line.startswith(name + " ") for line in sources), sources
    assert sum(SCRAPER in line for line in _section(r.stdout, "Added records")) == 3
    r = prov("diff", "v1", "v2", *PINNED, env={"COLUMNS": "80"})
    sources = _section(r.stdout, "Sources")
    assert "…" not in "\n".join(sources) and all(len(line) <= 80 for line in sources)
    # each name folded at the column's edge reads whole again, and the last column is still there
    rows = sources[sources.index(next(line for line in sources if line.startswith("─"))) + 1 :]
    width = max(len(line.split()[0]) for line in rows if line[:1] != " ")
    names, name = [], ""
    for line in rows:
        cell = line[:width].strip()
        if line[width:].strip():  # a row's first line carries its numbers
            if name:
                names.append(name)
            name = cell
        else:
            name += cell
    names.append(name)
    assert sorted(names) == sorted([VENDOR, CROWD, SCRAPER]), sources
    assert [line.split()[-1] for line in rows if line[width:].strip()][0].isdigit()


def test_diff_counts_a_copy_once_and_an_unchanged_source_without_an_arrow(prov, workdir):
    """F10: the Duplicated records list noted 'first 1 of 2' when it held every record (it counted copies, one
    row per record), an unchanged source read '10 → 10', and one copy was '1 duplicate copies added'."""
    _long_named_sources(prov, workdir)
    r = prov("diff", "v1", "v2", *PINNED, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "Changes: 3 added; 2 duplicate copies added; " in r.stdout
    duplicated = _section(r.stdout, "Duplicated records")
    assert duplicated[0] == "Duplicated records" and len(duplicated) == 4  # title, header, rule, the one record
    assert "3 copies (base 1)" in duplicated[3]
    vendor = next(line for line in _section(r.stdout, "Sources") if line.startswith(VENDOR))
    assert "10 (same)" in vendor and "→" not in vendor
    scraper = next(line for line in _section(r.stdout, "Sources") if line.startswith(SCRAPER))
    assert "0 → 3" in scraper
    report = json.loads(prov("diff", "v1", "v2", *PINNED, "--format", "json").stdout)
    validate_output("diff", report)
    assert report["summary"]["duplicates_added"] == 2 and report["summary"]["duplicated_records"] == 1
    assert "| 10 (same) |" in prov("diff", "v1", "v2", *PINNED, "--format", "md").stdout
    _commit_v1_and("v3", prov, [(CROWD, 1.0, "1")])
    assert "Changes: 1 duplicate copy added; 20 unchanged" in prov("diff", "v1", "v3", *PINNED).stdout
    assert "1 duplicate copy added" in prov("diff", "v1", "v3", *PINNED, "--format", "md").stdout


def test_a_log_state_kept_for_another_store_is_said_as_that_and_still_blocks(prov, workdir, monkeypatch):
    """F5: a checkpoint CI kept for another project (the same maintainer key signs for both) was said as this
    store's log rolled back ('audit log is broken ... is key K stolen? revoke it'); a checkpoint names no store, so
    that reading is said beside the others, naming the file; a release attestation names its store and is refused as another
    store's. Every command still refuses (exit 1) and the store is left as it was."""
    from support import one_line, store_fingerprint

    keys.generate(workdir / "k")
    (workdir / "other").mkdir()
    monkeypatch.chdir(workdir / "other")
    assert prov("init").exit_code == 0
    _table("d.parquet", ["a", "b", "c"] * 20)  # a profile spectral can calibrate on
    signed = ("--key", "../k.key", "--signer", "../k.pub")
    assert prov("commit", "d.parquet", "--tag", "v1", *signed, "--checkpoint-out", "../other.cp").exit_code == 0
    assert prov("commit", "d.parquet", "--tag", "v2", *signed).exit_code == 0
    r = prov("check", "v2", "--base", "v1", "--attest", "--base-unreleased", *signed, "--attest-out", "../other.att")
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(workdir)
    assert prov("init").exit_code == 0
    _table("d.parquet", ["a", "b", "c"] * 3)
    for tag in ("v1", "v2"):
        assert prov("commit", "d.parquet", "--tag", tag, *KEY, *PINNED).exit_code == 0
    before = store_fingerprint(workdir / ".prov")

    r = prov("audit", "verify", "--checkpoint", "other.cp", *PINNED)
    assert r.exit_code == 1
    line = one_line(r)
    assert "checkpoint kept in other.cp (signed by key " in line  # the file, not a digest of it
    assert line.endswith("or other.cp is another store's log state (a checkpoint names no store: give the one kept "
                         "for this store)")  # fmt: skip
    r = prov("commit", "d.parquet", "--tag", "v3", *KEY, *PINNED, "--checkpoint", "other.cp")
    assert r.exit_code == 1 and "or it is another store's log state" in one_line(r)
    r = prov("check", "v2", "--base", "v1", *PINNED, "--checkpoint", "other.cp", "--no-save")
    assert r.exit_code == 1  # the block stays: only the words changed
    assert "BLOCKED by 1 of 1 rule: integrity.kept_log_state" in r.stdout
    advice = " ".join(r.stdout.split())
    # restore comes first, and re-signing the cut log is never the way past (attack review 19b, F19b-4)
    assert "entries deleted or rewritten: restore .prov/ from a copy you trust, run prov audit verify" in advice
    assert "never sign the log as it is now (prov audit checkpoint --out) to get past this rule" in advice
    assert advice.index("restore .prov/") < advice.index("a state kept for another store"), advice
    # a step wrapped under its own text, not back under the dash, where it read as the next step's start
    step = r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ", 1)[0].splitlines()
    assert len(step) > 1 and step[0].startswith("  - ") and all(line.startswith("    ") for line in step[1:]), step
    for command in (("audit", "verify"), ("commit", "d.parquet", "--tag", "v3", *KEY), ("check", "v2", "--base", "v1")):
        r = prov(*command, *PINNED, "--checkpoint", "other.att")
        assert r.exit_code == 1, r.output
        assert "other.att: the log state of another store: a release attestation of store " in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before


def test_the_quarantine_hint_shares_its_file_and_the_store_as_shown(prov, workdir):
    """F9: in a git + DVC project whose store DVC tracks, prov quarantine's hint was 'dvc add /abs/path/train.v2.parquet'
    alone: the pointer, the .gitignore and the changed store were left uncommitted and unpushed, so a clone could not
    read the new version. The line it prints now runs as shown and a clone verifies the quarantine."""
    import os
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env |= {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}

    def sh(line: str, cwd: Path = workdir) -> subprocess.CompletedProcess:
        r = subprocess.run(["bash", "-e", "-c", line], cwd=cwd, env=env, capture_output=True, text=True)
        assert r.returncode == 0, (line, r.stdout, r.stderr)
        return r

    _store_with_v1(prov, workdir, ["a", "b", "c"] * 4, ["vendor", "crowd"] * 6)
    sh(
        f"git init -q && dvc init -q && dvc remote add -d storage {workdir.parent / 'remote'} && echo '*.key' > .gitignore"
    )
    sh("dvc add -q .prov d.parquet && git add .dvc .prov.dvc d.parquet.dvc .gitignore k.pub && git commit -qm v1")
    r = prov("quarantine", "--from", "v1", "--source", "crowd", "--tag", "v2", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    assert "  wrote d.v2.parquet as Parquet; committed v2 (parent v1)" in r.stdout  # as typed here, not /tmp/...
    hint = next(line for line in r.stdout.splitlines() if "is new in this DVC project" in line)
    assert hint.startswith("  d.v2.parquet is new in this DVC project: track it as you share the store: dvc add ")
    sh(hint.split("as you share the store: ", 1)[1])
    clone = workdir.parent / "clone"
    sh(f"git clone -q {workdir} {clone}")
    r = sh("dvc pull -q && prov verify v2 --signer k.pub", clone)
    assert "data ok (6 records)" in r.stdout


def test_drift_against_a_base_whose_batches_do_not_vary_gives_no_ratio(prov, workdir):
    """F12: a base whose pseudo-batches agree exactly in a drift signal made its ratio a division by 1e-12:
    'class_mix 0.973 (base batches up to 0, 973169473180.0x)'; it is said as what it is."""
    _store_with_v1(prov, workdir, [str(i % 3) for i in range(40)], [VENDOR, CROWD] * 20)
    _table("d.parquet", [str(i % 3) for i in range(40)] + ["1"] * 10, [VENDOR, CROWD] * 20 + [SCRAPER] * 10)
    assert prov("commit", "d.parquet", "--tag", "v2", *KEY, *PINNED).exit_code == 0
    r = prov("diff", "v1", "v2", "--detect", "--no-save", *PINNED, env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    drift = next(line for line in r.stdout.splitlines() if line.startswith("batch drift:"))
    assert "class_mix 0.973 (the base's batches do not vary in it)" in drift and "base batches up to 0," not in drift
    r = prov("check", "v2", "--base", "v1", "--no-save", "--format", "json", *PINNED)
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "detectors.drift")
    assert "class_mix 0.973 (the base's batches do not vary in it: no N)" in rule["reason"]
    assert "973169473180" not in rule["reason"]


def test_sources_without_batches_names_the_records_as_a_row(prov, workdir):
    """F12: with a version but no registered batch, prov sources said 'No sources yet.' and then listed a lineage
    table anyway, its records on a line of their own ('(no batch) 50 unattributed records') beside the columns."""
    assert prov("init").exit_code == 0
    assert prov("sources").stdout.splitlines() == ["No batch registered yet (prov add DATA --source S registers one)."]
    _store_with_v1_in_store(prov, workdir)
    lines = prov("sources", *PINNED).stdout.splitlines()
    assert lines[0].startswith("No batch registered yet (")
    assert lines[2].split() == ["source", "batches", "records", "signed", "lineage"]
    assert lines[3].split() == ["(no", "batch)", "-", "6", "0%", "0", "/", "0", "/", "6"]
    assert lines[3].index("6") == lines[2].index("records") + len("records") - 1  # under its column


def _store_with_v1_in_store(prov, workdir: Path) -> None:
    keys.generate(workdir / "k")
    _table("d.parquet", ["a", "b"] * 3)
    assert prov("commit", "d.parquet", "--tag", "v1", *KEY, *PINNED).exit_code == 0


def test_status_says_which_added_records_are_copies(prov, workdir):
    """F10: status counted two more copies of a record v1 holds as '2 added' with no word, where prov diff of the
    same data says '2 duplicate copies added' and 0 added: the two counts read as different data."""
    _store_with_v1(prov, workdir, ["a", "b"] * 3)
    pq.write_table(pa.table({"x": [float(i) for i in range(6)] + [0.0, 0.0, 9.0], "label": ["a", "b"] * 3 + ["a"] * 3}),
                   "d.parquet")  # fmt: skip
    r = prov("status", *PINNED)
    assert r.stdout.splitlines()[0] == (
        "d.parquet: 3 added since v1 (9 records now; 2 of the added are copies of records already there)"
    )
    report = json.loads(prov("status", *PINNED, "--json").stdout)
    validate_output("status", report)
    assert report["copies_added"] == 2 and report["counts"]["added"] == 3
