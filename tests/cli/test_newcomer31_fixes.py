"""Newcomer review 30's low findings (session 31): reports that misled or left the user without a next step."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from provenance.demo.data import digits
from support import build_template, flip_label, ok, tour_with_a_scrape, words

PINNED = ("--signer", "maintainer.pub")


def _build(prov, folder) -> None:
    """The tour (v3, v4 with the scrape), ``cv`` (a clean vendor batch on v3) and ``sv`` (the scrape, signed by the
    vendor, on v3: every added record attested)."""
    pinned = tour_with_a_scrape(prov)
    _clean_vendor_batch(prov, pinned)
    pq.write_table(pq.read_table("scraped.parquet"), "vendor-scrape.parquet")
    _vendor_batch_on_v3(prov, "vendor-scrape.parquet", "train-new.parquet", "sv", pinned)


@pytest.fixture(scope="session")
def template_newcomer31(tmp_path_factory):
    return build_template(tmp_path_factory, "newcomer31", _build)


def _clean_vendor_batch(prov, pinned: tuple[str, ...], zeros: int = 22) -> None:
    """The tour, then 70 real digits the vendor signs, ``zeros`` of them 0s (a class mix p near 1e-5 against v3:
    flagged by the signal, passed by the gate's class_mix.min_p_value), committed as ``cv`` on v3."""
    pool = digits(shuffle_seed=0).slice(700)
    is_zero = pc.equal(pool.column("label"), "0")
    batch = pa.concat_tables(
        [pool.filter(is_zero).slice(0, zeros), pool.filter(pc.invert(is_zero)).slice(0, 70 - zeros)]
    )
    pq.write_table(batch, "clean.parquet")
    pq.write_table(pa.concat_tables([pq.read_table("train.parquet"), batch]), "train-clean.parquet")
    _vendor_batch_on_v3(prov, "clean.parquet", "train-clean.parquet", "cv", pinned)


def _vendor_batch_on_v3(prov, batch: str, train: str, tag: str, pinned: tuple[str, ...]) -> None:
    """``batch`` signed by the vendor and added, then ``train`` committed as ``tag`` on v3 under the maintainer's key,
    each exit 0."""
    for args in (
        ("sign", batch, "--source", "vendor", "--key", "vendor.key"),
        ("add", batch, "--source", "vendor", *pinned),
        ("-q", "commit", train, "--tag", tag, "--parent", "v3", "--key", "maintainer.key", *pinned),
    ):
        ok(prov, *args)


def test_a_class_mix_the_gate_passes_reads_as_a_warning_in_the_diff_headline(prov, template_newcomer31, workdir):
    """Finding 1: `prov diff --detect` said FLAGGED on a clean, vendor-signed batch for a class-mix signal that `prov
    check` passes (it blocks below p 1e-06). The headline now says what the gate would do: a warning."""
    pinned = PINNED
    check = prov("check", "cv", "--base", "v3", *pinned)
    assert check.exit_code == 0, check.output
    r = prov("diff", "v3", "cv", "--detect", *pinned)
    assert r.exit_code == 0, r.output
    verdict = r.stdout.splitlines()[1]
    head = words(r.stdout.split("audit log:")[0])
    assert verdict.startswith("WARNING:") and "FLAGGED" not in head, head
    assert (
        "1 class-mix signal flagged (p=6.5e-06): a warning, as prov check blocks a class mix only below p 1e-06" in head
    )


def test_no_step_leaves_out_a_signing_source_s_unattested_records_when_it_has_none(prov, template_newcomer31, workdir):
    """Finding 2: a blocked check of a batch the vendor signed whole (60 of 60 added records attested) offered "or
    leave out vendor's records no signature of it attests": nothing to leave out. The step is gone; the others stay."""
    r = prov("check", "sv", "--base", "v3", *PINNED)
    assert r.exit_code == 1, r.output
    text = words(r.stdout)
    assert "To release: - review the flagged records: prov findings sv" in text, text
    assert "no signature of it attests" not in text, text


def test_findings_of_the_user_s_own_diff_say_a_local_run_is_unsigned_not_tampered(prov, template_newcomer31, workdir):
    """Finding 3: right after `prov diff --detect`, `prov findings` raised a "Not signed" alarm that read like
    tampering. It now says the run is local, unsigned as usual, what signs it, and still how to re-check it."""
    assert prov("diff", "v3", "cv", "--detect", *PINNED).exit_code == 0
    r = prov("findings", "cv", *PINNED)
    assert r.exit_code == 0, r.output
    text = words(r.stdout)
    assert "Not signed: a local run (its audit entry #" in text, text
    assert "stores its findings unsigned, so right after your own run this is usual" in text
    assert "(prov check ... --attest --key K, the next commit, or prov audit checkpoint --key K)" in text
    assert "prov findings cv --recompute re-runs the detectors" in text
    # what it names signs it: after a checkpoint, the run is covered
    assert prov("audit", "checkpoint", "--key", "maintainer.key", *PINNED).exit_code == 0
    assert "Not signed:" not in prov("findings", "cv", *PINNED).stdout


def test_a_batch_edited_after_its_source_signed_it_ends_with_what_to_do(prov, template_newcomer31, workdir):
    """Finding 5: `prov verify` (exit 1) and `prov add` of a batch edited after the vendor signed it named the record
    and stopped. Both now end with the way on: the source signs again, or the signed file is restored, and the
    command that lists every changed record (which does list it)."""
    pq.write_table(flip_label(pq.read_table("clean.parquet"), 3), "clean.parquet")
    step = (
        "next: if source 'vendor' made this change, ask it to sign the file again (prov sign clean.parquet --source "
        "vendor --key ITS.key); if not, the file was edited after signing: restore the file it signed; every record "
        "that changed: prov verify clean.parquet --envelope clean.parquet.prov.json --json"
    )
    for args in (("verify", "clean.parquet"), ("add", "clean.parquet", "--source", "vendor")):
        r = prov(*args, *PINNED)
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith("Error: clean.parquet: does not match the batch 'vendor' signed"), r.stderr
        assert step in words(r.stderr), r.stderr
    listed = json.loads(
        prov("verify", "clean.parquet", "--envelope", "clean.parquet.prov.json", "--json", *PINNED).stdout
    )
    assert [c["locator"] for c in listed["changes"]["relabeled"]] == ["3"]


def test_a_version_whose_data_changed_ends_with_what_to_do(prov, template_newcomer31, workdir):
    """Finding 5: `prov verify V` exit 1 on data edited since V was signed now says: restore it, or commit and
    review the edit, and where every changed record is listed; the --json document is unchanged."""
    pq.write_table(flip_label(pq.read_table("train-clean.parquet"), 5), "train-clean.parquet")
    r = prov("verify", "cv", *PINNED)
    assert r.exit_code == 1, r.output
    assert (
        "next: restore the data cv signed (from git, DVC or a backup); if the edit is wanted, commit it as a new "
        "version and review it: prov commit DATA --parent cv --tag NEW --key K, then prov diff cv NEW --detect; every "
        "record that changed: prov verify cv --json"
    ) in words(r.stderr), r.stderr
    document = json.loads(prov("verify", "cv", "--json", *PINNED).stdout)
    assert document["status"] == "failed" and not any("next:" in d for d in document["details"])
    assert [c["locator"] for c in document["changes"]] == ["5"]


def test_a_check_of_a_findings_quarantine_says_once_what_it_left_in(prov, template_newcomer31, workdir):
    """Finding 8: `prov check` of a version `prov quarantine --findings` made said nothing of the records the
    verdict missed, which the cut kept. It now says so once, with the stronger option; other versions get no such
    notice."""
    assert prov("check", "v4", "--base", "v3", "--format", "json", "--out", "F.json", *PINNED).exit_code == 1
    quarantine = ("quarantine", "--from", "v4", "--findings", "F.json", "--tag", "vf", "--key", "maintainer.key")
    assert prov(*quarantine, *PINNED).exit_code == 0
    r = prov("check", "vf", "--base", "v3", *PINNED)
    notice = (
        "Note: vf is a quarantine of v4 that cut only the records flagged in F.json (60 removed): the records the "
        "verdict missed stay (this check judges them with the same detectors that missed them); the stronger option "
        "cuts the source that delivered them: prov quarantine --from v4 --source S --tag NEW --key K"
    )
    assert words(r.stderr).count(notice) == 1, r.stderr
    assert "quarantine of" not in words(r.stdout)
    assert "cut only the records flagged" not in prov("check", "v4", "--base", "v3", *PINNED).stderr


def test_near_copy_evidence_names_one_radius(prov, template_newcomer31, workdir):
    """Finding 6: one finding's duplicates evidence said "near copies within 2.06" and "(near-copy radius 2.06)", and
    the first could be another of its counting radii: two distances, each "the radius". It now names the one it
    counted at, once."""
    report = json.loads(prov("diff", "v3", "v4", "--detect", "--format", "json", *PINNED).stdout)
    counted = [f["explanation"] for f in report["findings"] if "near copies within" in f["explanation"]]
    assert len(counted) >= 10, counted  # the tour's near-copy flood
    for explanation in counted:
        assert re.search(r"near copies within (the near-copy radius|counting radius) \d", explanation), explanation
        assert len(re.findall(r"radius \d", explanation)) == 1, explanation


def _image_tree(root: str, rows: range, flip: bool = False) -> None:
    """Real digits as 16x16 PNGs in ``root/<label>/``, under long scanner file names."""
    data = digits(shuffle_seed=0)
    labels, pixels = data.column("label").to_pylist(), data.drop(["label"]).to_pandas().to_numpy()
    for i in rows:
        label = str((int(labels[i]) + 1) % 10) if flip else labels[i]
        path = Path(root) / label / f"scanner-station-04-batch-2026-12-05-img-{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = (pixels[i].reshape(8, 8) * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).resize((16, 16)).save(path)


def test_an_image_report_keeps_the_file_path_at_120_columns(prov, workdir, store, keypair):
    """Finding 4: at 120 columns (a pipe, a file, a CI log) the Flagged records table of an image tree left out the
    locator, the path a reviewer opens. It stays now, cut in the middle (its class folder and file name kept);
    lineage goes first and "flagged by" wraps."""
    _image_tree("v1", range(0, 300))
    _image_tree("v2", range(0, 300))
    _image_tree("v2", range(300, 330), flip=True)
    key = ("--key", keypair.private_path, "--signer", keypair.public_path)
    assert prov("-q", "commit", "v1", "--tag", "v1", *key).exit_code == 0
    assert prov("-q", "commit", "v2", "--tag", "v2", "--parent", "v1", *key).exit_code == 0
    r = prov("diff", "v1", "v2", "--detect", "--signer", keypair.public_path)
    assert r.exit_code == 0, r.output
    table = r.stdout.split("Flagged records", 1)[1]
    assert "not shown at 120 columns: lineage;" in words(table), table[:400]
    header = next(line for line in table.splitlines() if line.startswith("digest"))
    assert "locator" in header, table[:400]
    cells = re.findall(r"\d/scanner-s…05-img-003\d\d\.png", table)
    assert len(cells) >= 10, table[:2000]
    assert all(len(line) <= 120 for line in table.splitlines()), table


def test_the_html_diff_says_first_what_the_text_and_markdown_say_first(prov, template_newcomer31, workdir):
    """Finding 7: the text and Markdown reports lead the flagged records with what they have in common ("N flagged
    records labelled '1' look like '7' ..."); the HTML page (the one HTML report: `prov check` has none) went
    straight to the table. It now says the same lines first, in the same order, and the same "flagged by" words."""
    said_first = words(prov("diff", "v3", "v4", "--detect", *PINNED).stdout.split("Flagged records", 1)[0])
    assert prov("diff", "v3", "v4", "--detect", "--format", "html", "--out", "diff.html", *PINNED).exit_code == 0
    page = Path("diff.html").read_text()
    listed = re.search(r'<ul class="groups">(.*?)</ul>', page)
    assert listed, page[:3000]
    groups = [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>", listed.group(1))]
    assert groups and all(" flagged records labelled " in g for g in groups), groups
    at = [said_first.find(g) for g in groups]
    assert -1 not in at and at == sorted(at), (groups, said_first)
    assert page.index('class="groups"') < page.index('class="records"')
