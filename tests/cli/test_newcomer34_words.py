"""Newcomer review 34 (ggplot2's diamonds, two signing crowds): the words of a check that led nowhere.

Finding 3: a source that writes 'very good' for the base's 'Very Good' read as a new class flooding the delta, and the
steps suggested a stolen key; the class-mix reason and the first step now say it is the base's class spelled otherwise.
Finding 5: ``prov check --no-save`` advised ``prov findings V``, which then said no run is stored. Finding 7: a group
line "3 flagged records labelled 'Fair' look like 'Fair'" said nothing. Finding 4: "v6's parent is v3q, not v3q".
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from provenance.report.flagged import flagged_record, label_groups
from support import digits_table, words

NAMES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


def _named(table: pa.Table, respell: dict[str, str] | None = None) -> pa.Table:
    """``table`` with its digit labels as words ('7' -> 'Seven'), ``respell`` applied after."""
    labels = [NAMES[int(x)] for x in table.column("label").to_pylist()]
    labels = [(respell or {}).get(x, x) for x in labels]
    return table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))


def _respelled_world(prov) -> None:
    """v1: 800 digits labelled by name; v2: v1 and 300 more, whose 'Seven' is written 'seven '."""
    table = digits_table()
    keys.generate(Path("maintainer"))
    assert prov("init").exit_code == 0
    pq.write_table(_named(table.slice(0, 800)), "v1.parquet")
    added = _named(table.slice(800, 300), {"Seven": "seven "})
    pq.write_table(pa.concat_tables([_named(table.slice(0, 800)), added]), "v2.parquet")
    for tag in ("v1", "v2"):
        r = prov(
            "-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", "--signer", "maintainer.pub"
        )
        assert r.exit_code == 0, r.output


def _release_steps(stdout: str) -> str:
    return words(stdout.split("To release:", 1)[1].split("\nPolicy ", 1)[0])


def test_a_base_class_spelled_otherwise_is_said_once_in_the_reason_and_first_in_the_steps(prov, workdir):
    _respelled_world(prov)
    r = prov("check", "v2", "--base", "v1", "--no-save", "--signer", "maintainer.pub", "--format", "json")
    assert r.exit_code == 1, r.output
    rule = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "class_mix.min_p_value")
    assert rule["status"] == "block" and rule["statistic"]["spelled_as_base"] == {"seven ": "Seven"}
    said = "'seven ' is the base's 'Seven' spelled otherwise (labels compared after NFKC, case folding and stripping)"
    assert said in rule["reason"], rule["reason"]
    r = prov("check", "v2", "--base", "v1", "--no-save", "--signer", "maintainer.pub")
    steps = _release_steps(r.stdout)
    first = "- 'seven ' is the base's 'Seven' spelled otherwise: ask the source to keep the base's spelling, or map it"
    assert steps.startswith(first + " before adding -"), steps
    assert steps.count("ask the source to keep the base's spelling") == 1, steps
    assert steps.index("ask the source") < steps.index("prov waive")  # before the detectors' steps


def test_a_check_that_stored_no_run_advises_a_command_that_lists_the_flagged_records(prov, workdir):
    _respelled_world(prov)
    r = prov("check", "v2", "--base", "v1", "--no-save", "--signer", "maintainer.pub")
    assert r.exit_code == 1, r.output
    steps = _release_steps(r.stdout)
    assert "review the flagged records: prov findings v2" not in steps, steps  # which says no run is stored
    advised = (
        "review the flagged records (this check stored no detector run, so prov findings lists none): "
        "prov diff v1 v2 --detect (it stores one; then prov findings v2)"
    )
    assert advised in steps, steps
    r = prov("diff", "v1", "v2", "--detect", "--signer", "maintainer.pub")  # what the step says, then prov findings
    assert r.exit_code == 0, r.output
    listed = prov("findings", "v2", "--signer", "maintainer.pub")
    assert listed.exit_code == 0 and "No detector run stored" not in listed.stdout, listed.output
    saved = prov("check", "v2", "--base", "v1", "--signer", "maintainer.pub")  # a check that stores its run
    assert "review the flagged records: prov findings v2" in _release_steps(saved.stdout), saved.stdout


def _finding(digest: str, label: str, most: str) -> dict:
    vote = f"3 of 10 nearest base records are labelled {label!r}; most are {most!r} (4); a model fitted on the base"
    return {
        "digest": digest,
        "label": label,
        "source": "crowdA",
        "explanation": f"flagged: x; strongest evidence: knn_label (p = 0.001): {vote}",
        "detectors": [{"detector": "knn_label", "score": 3.0, "flagged": True}],
    }


def test_a_group_whose_neighbours_share_its_label_gets_no_line():
    same = [flagged_record(_finding(f"a{i}", "Fair", "Fair")) for i in range(3)]
    other = [flagged_record(_finding(f"b{i}", "Fair", "Ideal")) for i in range(3)]
    assert [r.looks_like for r in same + other] == ["'Fair'"] * 3 + ["'Ideal'"] * 3
    assert label_groups(same + other) == [
        "3 flagged records labelled 'Fair' look like 'Ideal' to their nearest base records (source crowdA)"
    ]
