"""prov findings --recompute against a run another prov wrote: a stored run keeps the prov version that wrote it, so
explanations reworded between versions read as a wording change, while a changed verdict, score or flag, or a
reworded explanation of a run this prov wrote, still reads as an edit of .prov/ (sec32, task 4). The version is what
.prov/ says: the tests plant it as a .prov/ writer would (``support.plant_findings``)."""

from __future__ import annotations

import json

import pytest

import provenance
from support import plant_findings, succeeded, validate_output

PINNED = ("--signer", "maintainer.pub")
OLDER = "0.0.9"
EDITED = "look for who wrote .prov/"


def _reworded(version: str | None):
    """An edit of a stored findings document: its worst record's explanation reworded, its ``prov_version``
    ``version`` (None: the key removed, as a run from before prov kept it)."""

    def edit(doc: dict) -> None:
        doc["findings"][0]["explanation"] = "in an older prov's words: " + doc["findings"][0]["explanation"]
        if version is None:
            doc.pop("prov_version", None)
        else:
            doc["prov_version"] = version

    return edit


def test_a_stored_run_names_the_prov_that_wrote_it(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    doc = json.loads(succeeded(prov, "findings", "v2", "--json", *PINNED).stdout)
    assert doc["prov_version"] == provenance.__version__
    validate_output("findings", doc)


def test_explanations_reworded_by_another_prov_are_a_wording_change(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    plant_findings(workdir, "v2", _reworded(OLDER))
    r = prov("findings", "v2", "--recompute", *PINNED, env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert (
        f"Wording: written by prov {OLDER}; recomputed with {provenance.__version__}: 1 explanation(s) differ in "
        "wording" in said
    ), said
    assert "verdicts/scores equal" in said and EDITED not in said
    doc = json.loads(succeeded(prov, "findings", "v2", "--recompute", "--json", *PINNED).stdout)
    assert doc["recomputed"]["wording"]["written_by"] == OLDER
    assert doc["recomputed"]["wording"]["explanations_differ"] == 1
    validate_output("findings", doc)


def test_a_run_from_before_prov_kept_its_version_reads_as_an_older_prov(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    plant_findings(workdir, "v2", _reworded(None))
    r = prov("findings", "v2", "--recompute", *PINNED, env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "written by prov (an older one, no version kept)" in " ".join(r.stdout.split())


def test_control_explanations_reworded_under_this_prov_s_name_are_an_edit(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    plant_findings(workdir, "v2", _reworded(provenance.__version__))
    r = prov("findings", "v2", "--recompute", *PINNED)
    assert r.exit_code == 1, r.output
    assert "the explanation of record" in r.output and EDITED in r.output, r.output


def _flag_flipped(finding: dict) -> None:
    finding["flagged"] = not finding["flagged"]


def _detector_score_moved(finding: dict) -> None:
    finding["detectors"][0]["score"] = 0.5 if finding["detectors"][0]["score"] != 0.5 else 0.25


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_flag_flipped, "differs from the detectors re-run"),
        (_detector_score_moved, "the per-detector scores of record"),
    ],
)
def test_another_prov_s_name_does_not_hide_a_changed_verdict_or_score(prov, template_trust, workdir, change, named):
    # the version is what .prov/ says: a writer who also clears a flag (or moves a score) is still named an edit
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)

    def edit(doc: dict) -> None:
        _reworded(OLDER)(doc)
        change(doc["findings"][0])

    plant_findings(workdir, "v2", edit)
    r = prov("findings", "v2", "--recompute", *PINNED)
    assert r.exit_code == 1, r.output
    assert named in r.output and EDITED in r.output, r.output
