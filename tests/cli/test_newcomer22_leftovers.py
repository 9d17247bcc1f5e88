"""Newcomer review 22's leftovers (items 6 to 10 of its report), each replayed through the CLI on real Parquet
files, keys, stores and DVC repositories.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from provenance.store import Store
from provenance.trust.pins import Pins
from provenance.version_facts import verified_statement
from support import Prov, doc_section, validate_output

PINNED = ("--signer", "k.pub")
KEY = ("--key", "k.key")


def _store_with_v1(prov: Prov, folder: Path) -> None:
    """``d.parquet`` (two sources) committed as v1 under ``k.key`` in a store in ``folder`` (made current)."""
    os.chdir(folder)
    assert prov("init").exit_code == 0
    keys.generate(folder / "k")
    pq.write_table(
        pa.table({"x": [float(i) for i in range(12)], "label": ["a", "b", "c"] * 4, "src": ["v", "c"] * 6}),
        "d.parquet",
    )
    r = prov("commit", "d.parquet", "--tag", "v1", *KEY, *PINNED, "--source-column", "src")
    assert r.exit_code == 0, r.output


def test_quarantine_in_a_folder_inside_another_dvc_repository_does_not_say_to_commit_there(prov, workdir):
    """Item 10: in the demo's folder (inside prov's own clone, which has a `.dvc/`) quarantine said the new file was
    "new in this DVC project" and to `dvc add` and `git commit` it: into prov's repository. A store that DVC does
    not share (its folder is not the repository's root, and no `.prov.dvc` tracks it) gets no such hint; the line
    names the repository above and says why."""
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "-q", "--no-scm"], cwd=workdir, check=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    inner = workdir / "prov-demo"
    inner.mkdir()
    _store_with_v1(prov, inner)
    r = prov("quarantine", "--from", "v1", "--source", "c", "--tag", "v2", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    assert "dvc add d.v2" not in r.stdout and "new in this DVC project" not in r.stdout, r.stdout
    assert (
        f"  d.v2.parquet is not shared through DVC: this folder is not a DVC repository, and the one above it "
        f"({workdir}) does not track this store (no .prov.dvc)"
    ) in r.stdout.splitlines(), r.stdout
    # once the store is tracked there (`dvc add prov-demo/.prov` writes prov-demo/.prov.dvc), the hint is given
    (inner / ".prov.dvc").write_text("outs:\n- path: .prov\n")
    r = prov("quarantine", "--from", "v1", "--source", "v", "--tag", "v3", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    assert "  d.v3.parquet is new in this DVC project: track it as you share the store: dvc add d.v3.parquet .prov" in (
        r.stdout
    ), r.stdout


def test_findings_lists_one_detectors_flags_with_its_score(prov: Prov, demo: Path):
    """Item 6: acting on the boundary-flip advice, a reviewer wants knn_label's evidence alone; `prov findings` listed
    the combined verdict's records only. `--detector NAME` lists every record NAME flags on its own, whatever the
    combined verdict, by NAME's score."""
    report = json.loads(prov("findings", "rc1", "--detector", "knn_label", "--json").stdout)
    validate_output("findings", report)
    everything = json.loads(prov("findings", "rc1", "--all", "--json").stdout)["findings"]

    def knn(finding: dict) -> dict:
        return next(d for d in finding["detectors"] if d["detector"] == "knn_label")

    flags = {f["digest"] for f in everything if knn(f)["flagged"]}
    ran = next(d for d in report["detectors"] if d["detector"] == "knn_label")
    assert report["detector"] == "knn_label" and {f["digest"] for f in report["findings"]} == flags
    assert len(flags) == ran["flagged"] > 0
    assert any(not f["flagged"] for f in report["findings"]), "knn_label flags records the combined verdict passes"
    scores = [knn(f)["score"] for f in report["findings"]]
    assert scores == sorted(scores, reverse=True)
    text = prov("findings", "rc1", "--detector", "knn_label", env={"COLUMNS": "200"}).stdout
    combined = sum(1 for f in report["findings"] if f["flagged"])
    assert (
        f"Records knn_label flags ({len(flags)}, by its score; score and evidence are knn_label's; the combined "
        in (" ".join(text.split()))
    ), text
    assert f"the combined verdict flags {combined} of them" in " ".join(text.split())
    vote = next(line for line in text.splitlines() if "knn_label: 0 of 10 nearest base records" in line)
    assert vote.split()[1] == f"{max(scores):.3f}"
    # --all: every record knn_label scored, its flags first
    every = json.loads(prov("findings", "rc1", "--detector", "knn_label", "--all", "--json").stdout)["findings"]
    assert len(every) == ran["scored"] and {f["digest"] for f in every[: len(flags)]} == flags


def test_findings_refuses_a_detector_the_run_did_not_run(prov: Prov, demo: Path):
    r = prov("findings", "rc1", "--detector", "knn_lable")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "--detector 'knn_lable': run " in r.stderr and "(did you mean 'knn_label'?); it ran collision, " in r.stderr


def test_findings_detector_that_flags_nothing_says_so_in_one_line(prov: Prov, demo: Path):
    """Attack review 23a (noticed): `--detector NAME` for a detector that flags no record printed no line saying so."""
    run = json.loads(prov("findings", "rc1", "--json").stdout)["detectors"]
    quiet = next(
        d["detector"] for d in run if d["detector"] != "combined" and d["status"] == "ran" and not d["flagged"]
    )
    r = prov("findings", "rc1", "--detector", quiet)
    assert r.exit_code == 0 and f"{quiet} flags no record on its own in this run" in r.stdout, r.output
    assert "Records " not in r.stdout, r.stdout


def test_the_boundary_flip_gaps_command_runs_as_written(prov: Prov, demo: Path):
    """The Known gaps advice for boundary label flips names `prov findings V --detector knn_label --all --wide`."""
    command = "prov findings V --detector knn_label --all --wide"
    assert f"`{command}`" in " ".join(doc_section("Known gaps").split())
    r = prov(*command.replace(" V ", " rc1 ").split()[1:])
    assert r.exit_code == 0 and "Records knn_label scored (" in r.stdout, r.output


def test_show_and_log_warn_under_a_release_whose_source_key_was_revoked(prov: Prov, demo: Path):
    """Item 9: after `prov trust revoke vendor`, `prov show rc2` and `prov log` still printed `released: release 8
    against r1 (passed)` with no caveat on that line. The release line now carries a warning, judged under the pins
    as `prov show --batches` and `prov sources` judge (the batches' signatures against the revocation), text and JSON."""

    def release_warnings() -> tuple[list[str], list[str], dict, dict]:
        show, log = prov("show", "rc2"), prov("log")
        assert show.exit_code == 0 and log.exit_code == 0, show.output + log.output
        shown, logged = json.loads(prov("show", "rc2", "--json").stdout), json.loads(prov("log", "--json").stdout)
        validate_output("show", shown)
        validate_output("log", logged)
        lines = [
            [ln.strip() for ln in r.stdout.splitlines() if ln.strip().startswith("warning: ")] for r in (show, log)
        ]
        return lines[0], lines[1], shown, next(v for v in logged["versions"] if v["tag"] == "rc2")

    show_lines, log_lines, shown, logged = release_warnings()
    assert show_lines == log_lines == [] and shown["attestations"][0]["warning"] is None
    assert logged["attestations"][0]["warning"] is None and shown["attestations"][0]["verified"]
    r = prov("trust", "revoke", "vendor", "--yes", "--reason", "leaked")
    assert r.exit_code == 0, r.output
    show_lines, log_lines, shown, logged = release_warnings()
    lost = sum(item["records"] for item in shown["lineage_not_trusted"])
    assert lost == shown["records"] == 1000
    expected = (
        f"warning: 1000 records of this release are no longer attested under your pins "
        f"({shown['lineage_not_trusted'][0]['reason']}); re-check before training (prov check rc2 --base r1)"
    )
    assert show_lines == log_lines == [expected]
    assert "signed by key " in expected and " of vendor, which was revoked at " in expected
    assert shown["attestations"][0]["warning"] == logged["attestations"][0]["warning"] == expected
    show_text = prov("show", "rc2").stdout.splitlines()
    at = next(i for i, ln in enumerate(show_text) if ln.startswith("  released: release "))
    assert show_text[at + 1] == f"    {expected}"  # on the release line's heels, not among the lineage lines


def test_diff_lists_a_sample_of_what_one_source_added_to_one_class(prov: Prov, demo: Path):
    """Item 7: sampling one source's added records of one class took the whole diff as JSON and a filter. `prov diff
    A B --class C --source S --sample N` lists them: how many, then the first N by SHA-256 of rc1's signed sample salt
    and the digest (attack review 23a, A23a-3: not by digest, which a source grinds), each with its row."""
    full = json.loads(prov("diff", "r1", "rc1", "--format", "json", "--limit", "0").stdout)["changes"]["added"]
    store = Store.open(demo, pins=Pins.load(str(demo / "maintainer.pub")))
    salt = bytes.fromhex(verified_statement(store, store.version("rc1"))["predicate"]["profile"]["sampleSalt"])
    store.close()

    def drawn(digest: str) -> bytes:
        return hashlib.sha256(b"prov diff added sample v1\x00" + salt + bytes.fromhex(digest)).digest()

    wanted = sorted((a["digest"] for a in full if a["label"] == "2" and a["source"] == "scraper"), key=drawn)
    assert wanted != sorted(wanted), "the salted order is not digest order"
    r = prov("diff", "r1", "rc1", "--class", "2", "--source", "scraper", "--sample", "5", "--json")
    assert r.exit_code == 0, r.output
    sample = json.loads(r.stdout)
    validate_output("diff-sample", sample)
    assert sample["added"] == len(wanted) == 22 and [a["digest"] for a in sample["sample"]] == wanted[:5]
    assert sample["order"] == "salted"
    text = prov("diff", "r1", "rc1", "--class", "2", "--source", "scraper", "--sample", "5").stdout.splitlines()
    assert (
        text[0]
        == "Added to rc1 since r1 of class '2' from source scraper: 22 records; a sample of 5 (--sample N for more)"
    )
    assert text[1].startswith("Drawn by rc1's signed sample salt, made at its commit after the records came")
    assert text[2].split() == ["digest", "label", "source", "copies", "locator"]
    assert [line.split()[0] for line in text[3:8]] == [d[:12] for d in wanted[:5]]
    assert text[8] == f"A locator that is a number is the record's row (0-based) in {sample['path']}."
    every_source = json.loads(prov("diff", "r1", "rc1", "--class", "2", "--sample", "1000", "--json").stdout)
    assert every_source["added"] == sum(1 for a in full if a["label"] == "2") > 22  # vendor added some too


def test_diff_sample_refuses_a_class_or_source_neither_side_has(prov: Prov, demo: Path):
    for args, message in (
        (("--class", "22"), "--class '22': neither r1 nor rc1 has that class (did you mean '2'?); classes: 0, 1, "),
        (("--class", "2", "--source", "scrapr"), "--source 'scrapr': no record of r1 or rc1 comes from that source "
         "(did you mean 'scraper'?); sources: scraper, vendor"),
        (("--class", "2", "--detect"), "--class and --source list a sample of added records, as text or JSON: drop "
         "--detect"),
        (("--class", "2", "--sample", "0"), "--sample 0: must be 1 or more"),
        (("--sample", "5"), "--sample 5 applies with --class C or --source S: give one, or drop --sample"),
    ):  # fmt: skip
        r = prov("diff", "r1", "rc1", *args)
        assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1, (args, r.output)
