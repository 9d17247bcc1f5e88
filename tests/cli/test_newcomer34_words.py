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
        "review the flagged records (this check stored no detector run for prov findings v2 to list; this stores "
        "one): prov diff v1 v2 --detect"
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


def test_a_delivery_checked_against_its_own_parent_gets_no_step_to_check_it_against_its_parent(prov, workdir):
    """v2 (clean) on v1, then v3 (v1, 200 records with 30 plausible flips, v2's records) committed with --parent v1
    while v2 was newest: ``prov check v3 --base v1`` judges v2's delivery beside v3's and v3's blocks; the step said
    "v3's parent is v1, not v1: prov check v3 --base v1", the check just run."""
    import numpy as np
    from test_check_steps import plausible_flips

    table = digits_table()
    table = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    flips = plausible_flips(table, 800, range(800, 1000), 30)
    labels = [flips.get(i, x) for i, x in enumerate(table.column("label").to_pylist())]
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    base, flipped, clean = table.slice(0, 800), table.slice(800, 200), table.slice(1000, 100)
    keys.generate(Path("maintainer"))
    assert prov("init").exit_code == 0
    datas = {"v1": [base], "v2": [base, clean], "v3": [base, flipped, clean]}
    for tag, parts in datas.items():
        pq.write_table(pa.concat_tables(parts), f"{tag}.parquet")
        parent = ("--parent", "v1") if tag == "v3" else ()
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, *parent, "--key", "maintainer.key",
                 "--signer", "maintainer.pub")  # fmt: skip
        assert r.exit_code == 0, r.output
    r = prov("check", "v3", "--base", "v1", "--no-save", "--signer", "maintainer.pub", "--format", "json")
    assert r.exit_code == 1, r.output
    combined = next(x for x in json.loads(r.stdout)["rules"] if x["rule"] == "detectors.combined")
    steps = combined["statistic"]["steps"]  # what the step was made from: v3 the first delivery that blocks
    assert [s["version"] for s in steps] == ["v2", "v3"], steps
    assert next(s for s in steps if s["blocked_by"])["version"] == "v3", steps
    text = _release_steps(prov("check", "v3", "--base", "v1", "--no-save", "--signer", "maintainer.pub").stdout)
    assert "parent is v1, not v1" not in text and "judges only what" not in text, text


def test_a_missing_label_column_suggests_a_column_that_could_hold_labels_and_names_them(prov, workdir):
    """Finding 9: diamonds without --label-column got "did you mean 'table'?" (a float column, close to 'label' by
    edit distance); the label was 'cut'. A float column is no suggestion, and the text columns are named."""
    table = pa.table(
        {
            "carat": [0.23, 0.31],
            "cut": ["Ideal", "Premium"],
            "color": ["E", "J"],
            "table": [55.0, 58.0],
            "price": [326, 335],
        }
    )
    pq.write_table(table, "batch.parquet")
    assert prov("keys", "generate", "crowd").exit_code == 0
    r = prov("sign", "batch.parquet", "--source", "crowd", "--key", "crowd.key")
    assert r.exit_code == 2, r.output
    assert words(r.stderr) == (
        "Error: batch.parquet: no label column 'label' (give --label-column NAME); columns: carat, cut, color, table, "
        "price; text or categorical columns: cut, color"
    ), r.stderr
    r = prov("sign", "batch.parquet", "--source", "crowd", "--key", "crowd.key", "--label-column", "cutt")
    assert "(give --label-column NAME; did you mean 'cut'?)" in words(r.stderr), r.stderr
